import type { Knex } from 'knex';
import type { Queryable } from '../database';
import type { PreparedWrite } from '../preparedWrites';

/**
 * The events outbox and its sequencer (migrations 20261127000020, 20261202005000;
 * contracts/decisions/0120-event-storage.md): an event's payload once in `event_bodies`, one
 * narrow `event_inbox` row per recipient until the sequencer moves it, numbered, into the
 * append-only `event_log`. Every function takes the connection or transaction to run on.
 */

export interface NewEventRow {
  event_id: string;
  type: string;
  /** Each recipient once. */
  recipient_party_ids: readonly string[];
  occurred_at: Date;
  /** The payload's JSON text, stored as it is. */
  data_json: string;
}

export interface EventRow {
  /** The log row's id; null while the row waits in the inbox. */
  id: string | null;
  event_id: string;
  type: string;
  recipient_party_id: string;
  /** bigint as the string pg returns; null until the sequencer numbers the row. */
  sequence: string | null;
  occurred_at: Date;
  data: Record<string, unknown>;
}

/**
 * The first key of the sequencer's advisory lock (two-int form, so it never collides with the
 * single-bigint keys or with the job runner's namespace); the second is hashtext of a name.
 */
const SEQUENCER_LOCK_NAMESPACE = 0x7f_0b_20;
const SEQUENCER_LOCK_NAME = 'event-sequencer';

/**
 * The events' bodies and their inbox rows, in one statement: bodies draw their ids in the rows'
 * order (the sequencer's insertion order), each recipient an inbox row of two bigints. It answers
 * the inbox rows written as `inbox`, which must be one per recipient. Built without the database,
 * so that a batch builds it while its previous statements execute
 * (contracts/decisions/0236-backfill-writes-prepared-ahead.md).
 */
export function eventsWrite(rows: readonly NewEventRow[]): PreparedWrite {
  const recipientEventIds: string[] = [];
  const recipientPartyIds: string[] = [];
  for (const row of rows) {
    for (const partyId of row.recipient_party_ids) {
      recipientEventIds.push(row.event_id);
      recipientPartyIds.push(partyId);
    }
  }
  return {
    what: 'events',
    sql: `WITH body AS (
       INSERT INTO event_bodies (event_id, type, occurred_at, data)
       SELECT e.event_id, e.type, e.occurred_at, e.data::json
         FROM unnest(CAST(? AS text[]), CAST(? AS text[]), CAST(? AS timestamptz[]), CAST(? AS text[])) WITH ORDINALITY AS e(event_id, type, occurred_at, data, position)
        ORDER BY e.position
       RETURNING id, event_id
     ),
     inbox AS (
       INSERT INTO event_inbox (body_id, recipient_party_id)
       SELECT body.id, r.party_id
         FROM unnest(CAST(? AS text[]), CAST(? AS bigint[])) AS r(event_id, party_id)
         JOIN body USING (event_id)
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM inbox)::int AS inbox`,
    bindings: [rows.map((row) => row.event_id), rows.map((row) => row.type), rows.map((row) => row.occurred_at), rows.map((row) => row.data_json), recipientEventIds, recipientPartyIds],
    expect: { inbox: recipientPartyIds.length },
  };
}

/** Ids of every party of a role, in registration order, whatever their status. */
export async function partyIdsWithRole(db: Queryable, role: string): Promise<string[]> {
  const rows = (await db('parties').where({ role }).orderBy('id').select('id')) as Array<{ id: string }>;
  return rows.map((row) => row.id);
}

/** Whether any committed event (of this recipient, when given) still waits for its number. */
export async function hasUnnumberedEvents(db: Queryable, recipientPartyId?: string): Promise<boolean> {
  const query = db('event_inbox').select(db.raw('1')).first();
  if (recipientPartyId !== undefined) void query.where({ recipient_party_id: recipientPartyId });
  return (await query) !== undefined;
}

/** Takes the sequencer's lock for the rest of the transaction, waiting for another holder. */
export async function lockSequencer(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [SEQUENCER_LOCK_NAMESPACE, SEQUENCER_LOCK_NAME]);
}

/** Takes the sequencer's lock for the rest of the transaction if it is free; false if not. */
export async function tryLockSequencer(trx: Knex.Transaction): Promise<boolean> {
  const result = await trx.raw<{ rows: Array<{ locked: boolean }> }>('SELECT pg_try_advisory_xact_lock(?, hashtext(?)) AS locked', [SEQUENCER_LOCK_NAMESPACE, SEQUENCER_LOCK_NAME]);
  return result.rows[0]?.locked === true;
}

export interface NumberingResult {
  /** Unnumbered rows the batch found. */
  selected: number;
  /** Rows it numbered: always equal to `selected` (checked by the caller). */
  numbered: number;
  /** Deliveries it created, for recipients with a callback URL. */
  deliveriesCreated: number;
}

/**
 * Numbers up to `batchSizeMax` committed, unnumbered events: moves them out of the inbox (in
 * insertion order: event, then recipient) into the append-only log, continuing each recipient's
 * counter, and creates a PENDING delivery due at `realNow` for each numbered row whose recipient
 * has a callback URL. One statement, run under the sequencer's lock and in a statement after the
 * one that took it, so that its snapshot includes every earlier numbering (READ COMMITTED takes a
 * snapshot per statement). Only the sequencer deletes from the inbox, under that lock, so every
 * row the batch selects is deleted by it.
 */
export async function numberEvents(trx: Knex.Transaction, batchSizeMax: number, realNow: Date): Promise<NumberingResult> {
  const result = await trx.raw<{ rows: Array<{ selected: string; numbered: string; deliveries: string }> }>(
    `WITH picked AS (
       SELECT body_id, recipient_party_id FROM event_inbox ORDER BY body_id, recipient_party_id LIMIT ?
     ),
     batch AS (
       DELETE FROM event_inbox i USING picked p
        WHERE i.body_id = p.body_id AND i.recipient_party_id = p.recipient_party_id
       RETURNING i.body_id, i.recipient_party_id
     ),
     counts AS (
       SELECT recipient_party_id, count(*) AS n FROM batch GROUP BY recipient_party_id
     ),
     counters AS (
       INSERT INTO event_sequences AS s (recipient_party_id, last_sequence)
       SELECT recipient_party_id, n FROM counts
       ON CONFLICT (recipient_party_id) DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
       RETURNING s.recipient_party_id, s.last_sequence
     ),
     ranked AS (
       SELECT b.body_id, b.recipient_party_id,
              c.last_sequence - k.n + row_number() OVER (PARTITION BY b.recipient_party_id ORDER BY b.body_id) AS sequence
         FROM batch b
         JOIN counts k USING (recipient_party_id)
         JOIN counters c USING (recipient_party_id)
     ),
     numbered AS (
       INSERT INTO event_log (recipient_party_id, sequence, body_id)
       SELECT recipient_party_id, sequence, body_id FROM ranked ORDER BY body_id, recipient_party_id
       RETURNING id, recipient_party_id
     ),
     deliveries AS (
       INSERT INTO callback_deliveries (event_row_id, recipient_party_id, status, next_attempt_at, created_at, updated_at)
       SELECT n.id, n.recipient_party_id, 'PENDING', ?, ?, ?
         FROM numbered n
         JOIN parties p ON p.id = n.recipient_party_id
        WHERE p.callback_url IS NOT NULL
       RETURNING id
     )
     SELECT (SELECT count(*) FROM picked) AS selected,
            (SELECT count(*) FROM numbered) AS numbered,
            (SELECT count(*) FROM deliveries) AS deliveries`,
    [batchSizeMax, realNow, realNow, realNow],
  );
  const row = result.rows[0];
  return { selected: Number(row?.selected ?? 0), numbered: Number(row?.numbered ?? 0), deliveriesCreated: Number(row?.deliveries ?? 0) };
}

/** A recipient's numbered events with a sequence above `after`, in sequence order. */
export async function listEventsAfter(db: Queryable, recipientPartyId: string, after: number, limit: number): Promise<EventRow[]> {
  return (await db('event_log as l')
    .join('event_bodies as b', 'b.id', 'l.body_id')
    .where('l.recipient_party_id', recipientPartyId)
    .where('l.sequence', '>', after)
    .orderBy('l.sequence', 'asc')
    .limit(limit)
    .select('l.id', 'b.event_id', 'b.type', 'l.recipient_party_id', 'l.sequence', 'b.occurred_at', 'b.data')) as EventRow[];
}

/** Every recipient's row of one event, numbered (`id` and `sequence` set) or still in the inbox (both null). */
export async function findEventRows(db: Queryable, eventId: string): Promise<EventRow[]> {
  const result = await db.raw<{ rows: EventRow[] }>(
    `SELECT l.id, b.event_id, b.type, l.recipient_party_id, l.sequence, b.occurred_at, b.data
       FROM event_bodies b JOIN event_log l ON l.body_id = b.id
      WHERE b.event_id = ?
     UNION ALL
     SELECT NULL, b.event_id, b.type, i.recipient_party_id, NULL, b.occurred_at, b.data
       FROM event_bodies b JOIN event_inbox i ON i.body_id = b.id
      WHERE b.event_id = ?
     ORDER BY recipient_party_id`,
    [eventId, eventId],
  );
  return result.rows;
}
