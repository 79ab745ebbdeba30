import { randomBase64Url } from '../crypto/randomIds';
import type { Knex } from 'knex';
import type { Db } from '../db/database';
import type { PageRequest } from '../db/pagination';
import { type PreparedWrite, runWrites } from '../db/preparedWrites';
import * as deliveriesRepo from '../db/repositories/callbackDeliveries';
import * as repo from '../db/repositories/events';
import { formatInstant } from '../domain/businessDate';
import type { DeliveryStatus } from '../domain/callbacks';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import type { Logger } from '../logger';
import { recordAudit } from './audit';

/**
 * Events and their feedback to parties (docs/lifecycle.md §5): the transactional outbox
 * (`recordEvent`), the sequencer that numbers committed events per recipient, the pull API's
 * reads, and finance's view of callback deliveries. The delivery worker itself is
 * src/workers/callbackDelivery.ts.
 *
 * ## Why sequences are assigned after commit
 *
 * `GET …/events?after=` must never skip an event. Numbering inside the recording transaction
 * would need a per-recipient counter row locked until commit — every payment of a busy agency
 * would queue on it. Numbering by insertion order (a bigserial) would let a reader skip: ids are
 * taken when rows are inserted, but rows become visible when their transactions commit, in
 * another order. So events are inserted unnumbered (the payload once in `event_bodies`, a narrow
 * `event_inbox` row per recipient), and the sequencer numbers only rows that are already committed,
 * in one transaction at a time (an advisory lock), continuing each recipient's counter, by moving
 * them into the append-only `event_log` (contracts/decisions/0120-event-storage.md). A reader sees numbered rows only; every numbering commits after all earlier ones, so a
 * reader always sees a gap-free prefix of each recipient's sequence, and an event that commits
 * late is numbered late, above everything already shown. Sequences follow the order in which
 * events become visible to the sequencer; events that become visible in the same pass are
 * numbered in insertion order.
 *
 * ## Why there is no NOTIFY in the recording transaction
 *
 * PostgreSQL serialises the commits of all transactions that issued a NOTIFY behind one global
 * lock, held through the commit's WAL flush, to keep the notification queue in commit order. A
 * `pg_notify` in every posting would bring back exactly the serialisation the after-commit
 * sequencer avoids. The sequencer polls instead: a probe of the small inbox table, every
 * SEQUENCER_INTERVAL_MS, which is cheap enough to run often (see
 * contracts/decisions/0010-event-sequencing.md).
 */

/**
 * Every event type, one line each, with the contract schema (contracts/openapi/60-events.yaml)
 * its `data` follows. Recipients and payloads are the recording use case's to decide
 * (docs/lifecycle.md §5's table).
 */
export const EVENT_TYPES = {
  'payment.succeeded': 'PaymentSucceededEventData',
  'payment.unapplied': 'PaymentUnappliedEventData',
  'notice.voided': 'NoticeVoidedEventData',
  'notice.expired': 'NoticeExpiredEventData',
  'payment.reversed': 'PaymentReversedEventData',
  'discrepancy.resolved': 'DiscrepancyResolvedEventData',
  'reconciliation.completed': 'ReconciliationCompletedEventData',
  'instruction.created': 'InstructionEventData',
  'instruction.confirmed': 'InstructionEventData',
  'instruction.failed': 'InstructionEventData',
  'instruction.mismatched': 'InstructionEventData',
  'instruction.cancelled': 'InstructionEventData',
  'instruction.reopened': 'InstructionEventData',
  'bankPosting.unidentified': 'BankPostingUnidentifiedEventData',
  'refund.succeeded': 'RefundSucceededEventData',
  'refund.rejected': 'RefundStoppedEventData',
  'refund.failed': 'RefundStoppedEventData',
  'party.keyAdded': 'PartyKeyEventData',
  'party.keyRetired': 'PartyKeyEventData',
} as const;

export type EventType = keyof typeof EVENT_TYPES;

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(EVENT_TYPES, value);
}

/** One recipient of an event: a party, by its internal id (`AuthenticatedParty.partyId`, `PartyRecord.partyId`). */
export interface EventRecipient {
  partyId: string;
}

/** A JSON object: the event's `data`, already in its wire shape (money as strings, instants +08:00). */
export type EventData = Record<string, unknown>;

export interface NewEvent {
  type: EventType;
  /** Each party once; duplicates are dropped. An event with no recipient records nothing. */
  recipients: readonly EventRecipient[];
  data: EventData;
  /** When the change happened (the use case's clock); written as `occurredAt`, +08:00. */
  occurredAt: Date;
}

export interface RecordedEvent {
  /** The platform's id of the event, the same for every recipient: receivers deduplicate by it. */
  eventId: string;
  /** Recipients recorded (after dropping duplicates). */
  recipientCount: number;
}

/** The largest `data` an event may carry, as JSON text: events are notifications, not documents. */
export const EVENT_DATA_BYTES_MAX = 64 * 1024;
/** Recipients of one event at most (every finance party is the widest audience). */
export const EVENT_RECIPIENTS_MAX = 1_000;

const PARTY_ID_PATTERN = /^[1-9][0-9]{0,18}$/;

/** A fresh eventId: 'E' and 26 base64url characters (156 random bits). */
export function newEventId(): string {
  return `E${randomBase64Url(20).slice(0, 26)}`;
}

/**
 * Records an event for each recipient inside the caller's transaction (the transactional
 * outbox): the rows commit or roll back with the change they report. They are unnumbered until
 * the sequencer numbers them after the commit; only then are they pulled or delivered.
 *
 * One statement (the body and its inbox rows), no lock and no counter: it adds one round trip to
 * the caller's transaction. Throws (a bug, never a caller's input) when not given a transaction, for an
 * unknown type, or for data that is not a JSON object within EVENT_DATA_BYTES_MAX.
 */
export async function recordEvent(trx: Knex.Transaction, event: NewEvent): Promise<RecordedEvent> {
  const [recorded] = await recordEvents(trx, [event]);
  assert(recorded !== undefined, 'one event recorded');
  return recorded;
}

/** Events one INSERT of recordEvents carries at most (arrays as parameters: a bound on one statement's size). */
const EVENTS_PER_INSERT_MAX = 10_000;

/**
 * Records several events in the caller's transaction with as few INSERTs as they need (one per
 * EVENTS_PER_INSERT_MAX events): the set-based form that a batch (reconciliation's backfill,
 * settlement) uses instead of a round trip per event. Each event is checked as recordEvent checks
 * it; the answers are in the events' order. Each event's payload is stored once, each recipient
 * as a narrow inbox row (contracts/decisions/0120-event-storage.md).
 */
export async function recordEvents(trx: Knex.Transaction, events: readonly NewEvent[]): Promise<RecordedEvent[]> {
  assert(trx.isTransaction === true, 'recordEvents runs inside the transaction of the change it reports');
  const { writes, recorded } = prepareEvents(events);
  await runWrites(trx, writes);
  return recorded;
}

/**
 * recordEvents without the database: each event checked and given its id, and the statements
 * that record them (one per EVENTS_PER_INSERT_MAX events), for a batch to send in its own
 * transaction when it is ready to (contracts/decisions/0236-backfill-writes-prepared-ahead.md).
 */
export function prepareEvents(events: readonly NewEvent[]): { writes: PreparedWrite[]; recorded: RecordedEvent[] } {
  const rows: repo.NewEventRow[] = [];
  const recorded: RecordedEvent[] = [];
  for (const event of events) {
    assert(isEventType(event.type), `unknown event type ${String(event.type)}: add it to EVENT_TYPES`);
    assert(event.occurredAt instanceof Date && Number.isFinite(event.occurredAt.getTime()), 'occurredAt is a valid Date');
    assert(typeof event.data === 'object' && event.data !== null && !Array.isArray(event.data), 'event data is a JSON object');
    const dataJson = JSON.stringify(event.data);
    assert(Buffer.byteLength(dataJson, 'utf8') <= EVENT_DATA_BYTES_MAX, `event data is at most ${EVENT_DATA_BYTES_MAX} bytes of JSON`);
    const partyIds = [...new Set(event.recipients.map((recipient) => recipient.partyId))];
    assert(partyIds.length <= EVENT_RECIPIENTS_MAX, `an event has at most ${EVENT_RECIPIENTS_MAX} recipients`);
    for (const partyId of partyIds) assert(PARTY_ID_PATTERN.test(partyId), `recipient partyId ${partyId} is a party's id`);
    const eventId = newEventId();
    // An event with no recipient records nothing (NewEvent.recipients).
    if (partyIds.length > 0) rows.push({ event_id: eventId, type: event.type, recipient_party_ids: partyIds, occurred_at: event.occurredAt, data_json: dataJson });
    recorded.push({ eventId, recipientCount: partyIds.length });
  }
  const writes: PreparedWrite[] = [];
  for (let start = 0; start < rows.length; start += EVENTS_PER_INSERT_MAX) writes.push(repo.eventsWrite(rows.slice(start, start + EVENTS_PER_INSERT_MAX)));
  return { writes, recorded };
}

/**
 * Every finance party as recipients (`payment.unapplied` goes to all of them), disabled ones
 * included: a disabled party's deliveries wait, and its events stay there to pull when it is
 * enabled again.
 */
export async function financeRecipients(db: Db | Knex.Transaction): Promise<EventRecipient[]> {
  return (await repo.partyIdsWithRole(db, 'finance')).map((partyId) => ({ partyId }));
}

/** The wire shape of an event (docs/interface.md §6.5), for the pull API and the callback body alike. */
export interface EventMessage {
  eventId: string;
  type: string;
  sequence: number;
  occurredAt: string;
  data: EventData;
}

export function eventMessage(row: { event_id: string; type: string; sequence: string | null; occurred_at: Date; data: EventData }): EventMessage {
  assert(row.sequence !== null, `event ${row.event_id} is shown or delivered only once numbered`);
  const sequence = Number(row.sequence);
  assert(Number.isSafeInteger(sequence) && sequence >= 1, `sequence ${row.sequence} is a positive safe integer`);
  return { eventId: row.event_id, type: row.type, sequence, occurredAt: formatInstant(row.occurred_at), data: row.data };
}

/** Unnumbered events one sequencer statement numbers at most. */
export const SEQUENCER_BATCH_SIZE_MAX = 5_000;
/** Batches one sequencer pass runs at most (250,000 events); the rest waits for the next pass. */
export const SEQUENCER_BATCHES_PER_PASS_MAX = 50;
/** Events one pull answers at most (docs/interface.md §5's page limit). */
export const EVENTS_PAGE_LIMIT_MAX = 500;
export const EVENTS_PAGE_LIMIT_DEFAULT = 100;
/** Attempts shown per delivery in finance's list: the most recent ones. */
export const DELIVERY_ATTEMPTS_SHOWN_MAX = 50;

export interface SequencingResult {
  numbered: number;
  deliveriesCreated: number;
  /** False when another sequencer held the lock and `wait` was false: it numbers instead. */
  ran: boolean;
  /** True when the pass stopped at SEQUENCER_BATCHES_PER_PASS_MAX with work left. */
  more: boolean;
}

export interface EventsPage {
  data: EventMessage[];
  nextAfter: number;
}

export interface DeliveryAttempt {
  attemptedAt: Date;
  url: string;
  outcome: 'DELIVERED' | 'FAILED';
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

export interface Delivery {
  eventId: string;
  type: string;
  sequence: number;
  recipient: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  redeliveryCount: number;
  createdAt: Date;
  updatedAt: Date;
  attempts: DeliveryAttempt[];
}

export interface DeliveriesPage {
  data: Delivery[];
  nextCursor: string | null;
}

export interface EventServiceDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  /** Called when deliveries became due (numbering, redelivery), to wake this instance's worker. */
  onDeliveriesDue?: () => void;
}

export class EventService {
  constructor(private readonly deps: EventServiceDependencies) {}

  /**
   * One sequencer pass: numbers every committed, unnumbered event (up to the pass's limit) in
   * batches, each its own short transaction under the sequencer's advisory lock. With `wait`
   * false (the background loop) a pass that finds the lock taken returns at once — the holder is
   * numbering; with `wait` true (a pull, a redelivery) it waits, so the caller then sees every
   * event committed before it asked.
   */
  async sequence(options: { wait: boolean; recipientPartyId?: string }): Promise<SequencingResult> {
    const { db, clocks, log } = this.deps;
    const outcome: SequencingResult = { numbered: 0, deliveriesCreated: 0, ran: true, more: false };
    if (!(await repo.hasUnnumberedEvents(db, options.recipientPartyId))) return outcome;
    for (let batch = 0; batch < SEQUENCER_BATCHES_PER_PASS_MAX; batch += 1) {
      const result = await db.transaction(async (trx) => {
        if (options.wait) {
          await repo.lockSequencer(trx);
        } else if (!(await repo.tryLockSequencer(trx))) {
          return undefined;
        }
        const numbered = await repo.numberEvents(trx, SEQUENCER_BATCH_SIZE_MAX, clocks.real.now());
        // Each row selected must be numbered; anything else means a second numbering raced
        // this one, which the lock forbids: roll back rather than risk a gap or a duplicate.
        assert(numbered.numbered === numbered.selected, `the sequencer numbered ${numbered.numbered} of ${numbered.selected} events it selected`);
        return numbered;
      });
      if (result === undefined) {
        outcome.ran = batch > 0;
        break;
      }
      outcome.numbered += result.numbered;
      outcome.deliveriesCreated += result.deliveriesCreated;
      if (result.selected < SEQUENCER_BATCH_SIZE_MAX) break;
      if (batch === SEQUENCER_BATCHES_PER_PASS_MAX - 1) outcome.more = true;
    }
    if (outcome.numbered > 0) log.debug({ numbered: outcome.numbered, deliveriesCreated: outcome.deliveriesCreated }, 'events numbered');
    if (outcome.deliveriesCreated > 0) this.deps.onDeliveriesDue?.();
    return outcome;
  }

  /**
   * `GET /v1/{role}/events?after=&limit=` for the calling party: its numbered events above
   * `after`, in sequence order. Its own committed-but-unnumbered events are numbered first, so a
   * party always sees what committed before it asked, with or without a background sequencer.
   */
  async pull(recipientPartyId: string, after: number, limit: number): Promise<EventsPage> {
    assert(Number.isSafeInteger(after) && after >= 0, 'after is a non-negative integer');
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= EVENTS_PAGE_LIMIT_MAX, `limit is 1–${EVENTS_PAGE_LIMIT_MAX}`);
    await this.sequence({ wait: true, recipientPartyId });
    const rows = await repo.listEventsAfter(this.deps.db, recipientPartyId, after, limit);
    const data = rows.map(eventMessage);
    const last = data[data.length - 1];
    return { data, nextAfter: last ? last.sequence : after };
  }

  /** `GET /v1/finance/deliveries`: deliveries in creation order, each with its latest attempts. */
  async listDeliveries(filter: deliveriesRepo.DeliveryFilter, page: PageRequest): Promise<DeliveriesPage> {
    const { db } = this.deps;
    const result = await deliveriesRepo.listDeliveries(db, filter, page);
    const attempts = await deliveriesRepo.latestAttempts(db, result.rows.map((row) => row.id), DELIVERY_ATTEMPTS_SHOWN_MAX);
    const byDelivery = new Map<string, DeliveryAttempt[]>();
    for (const attempt of attempts) {
      const list = byDelivery.get(attempt.delivery_id) ?? [];
      list.push({ attemptedAt: attempt.attempted_at, url: attempt.url, outcome: attempt.outcome, statusCode: attempt.status_code, latencyMs: attempt.latency_ms, error: attempt.error });
      byDelivery.set(attempt.delivery_id, list);
    }
    return {
      data: result.rows.map((row) => ({
        eventId: row.event_id,
        type: row.type,
        sequence: Number(row.sequence),
        recipient: row.recipient_app_id,
        status: row.status,
        attemptCount: row.attempt_count,
        nextAttemptAt: row.next_attempt_at,
        deliveredAt: row.delivered_at,
        redeliveryCount: row.redelivery_count,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        attempts: byDelivery.get(row.id) ?? [],
      })),
      nextCursor: result.nextCursor,
    };
  }

  /**
   * `POST /v1/finance/events/{eventId}/redeliver`: delivers the event again to every recipient
   * that has a callback URL (or a delivery already), due now, the retry schedule from its start.
   * A disabled recipient's delivery waits as usual. Errors: NOT_FOUND (no such event).
   * Recorded in the finance audit log with `requestedBy` (the finance party's appId) as actor.
   */
  async redeliver(eventId: string, requestedBy: string): Promise<{ eventId: string; status: 'PENDING'; deliveries: number }> {
    const { db, clocks, log } = this.deps;
    const rows = await repo.findEventRows(db, eventId);
    if (rows.length === 0) throw new TongfuError('NOT_FOUND', `no event ${eventId}`, { eventId });
    // Numbered first, so that the new round covers every recipient (the sequencer creates the
    // first deliveries of rows it numbers; the redelivery resets them).
    if (rows.some((row) => row.sequence === null)) await this.sequence({ wait: true });
    const now = clocks.real.now();
    const deliveries = await db.transaction(async (trx) => {
      const reset = await deliveriesRepo.redeliverEvent(trx, eventId, now);
      await recordAudit(trx, { actor: requestedBy, action: 'event.redelivered', target: `event:${eventId}`, before: null, after: { eventId, deliveries: reset }, at: now });
      return reset;
    });
    log.info({ eventId, requestedBy, deliveries }, 'event redelivery requested');
    if (deliveries > 0) this.deps.onDeliveriesDue?.();
    return { eventId, status: 'PENDING', deliveries };
  }
}
