import pino from 'pino';
import { Clocks, ManualClock } from '../../src/domain/clock';
import { EVENT_TYPES, EventMessage, EventService, financeRecipients, recordEvent, recordEvents } from '../../src/services/events';
import { EventSequencerLoop } from '../../src/workers/eventSequencer';
import { loadContractDocument } from '../../src/http/contract';
import { schemaErrors } from '../helpers/contract';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newRecipient, paymentSucceededData, recordTestEvent } from '../helpers/eventFixtures';

// The outbox and the sequencer (docs/lifecycle.md §5) on real PostgreSQL with real concurrent
// transactions: events are numbered per recipient from 1 without gaps, only once committed, and
// a reader that follows `nextAfter` never skips one — even one that commits after a later one.

const log = pino({ level: 'silent' });

describe('events: the outbox and the sequencer', () => {
  let database: TestDatabase;
  let clocks: Clocks;
  let events: EventService;

  beforeAll(async () => {
    database = await createTestDatabase(30);
    clocks = { business: new ManualClock(new Date('2026-11-23T02:00:00Z')), real: new ManualClock(new Date('2026-11-23T02:00:00Z')) };
    events = new EventService({ db: database.db, clocks, log });
  });
  afterAll(async () => {
    await database.drop();
  });

  const rowsOf = (partyId: string) => database.db('events').where({ recipient_party_id: partyId }).orderBy('id').select('event_id', 'sequence', 'type');

  it('records one unnumbered row per recipient inside the caller\'s transaction, and nothing if it rolls back', async () => {
    const unit = await newRecipient(database.db, 'unit');
    const agency = await newRecipient(database.db, 'agency');

    await expect(
      database.db.transaction(async (trx) => {
        await recordEvent(trx, { type: 'payment.succeeded', recipients: [{ partyId: unit.partyId }], data: paymentSucceededData(), occurredAt: new Date() });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await rowsOf(unit.partyId)).toHaveLength(0);

    const recorded = await database.db.transaction((trx) =>
      recordEvent(trx, {
        type: 'payment.succeeded',
        // The same party twice is one recipient.
        recipients: [{ partyId: unit.partyId }, { partyId: agency.partyId }, { partyId: unit.partyId }],
        data: paymentSucceededData(),
        occurredAt: new Date('2026-11-23T02:00:01.250Z'),
      }),
    );
    expect(recorded.recipientCount).toBe(2);
    expect(recorded.eventId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    const rows = await database.db('events').where({ event_id: recorded.eventId }).select('recipient_party_id', 'sequence');
    expect(rows.map((row) => row.recipient_party_id).sort()).toEqual([unit.partyId, agency.partyId].sort());
    expect(rows.every((row) => row.sequence === null)).toBe(true);
  });

  it('refuses to record outside a transaction, an unknown type, or data that is not an object', async () => {
    const unit = await newRecipient(database.db, 'unit');
    const base = { type: 'payment.succeeded' as const, recipients: [{ partyId: unit.partyId }], data: paymentSucceededData(), occurredAt: new Date() };
    await expect(recordEvent(database.db as never, base)).rejects.toThrow(/inside the transaction/);
    await expect(database.db.transaction((trx) => recordEvent(trx, { ...base, type: 'payment.teleported' as never }))).rejects.toThrow(/unknown event type/);
    await expect(database.db.transaction((trx) => recordEvent(trx, { ...base, data: [] as never }))).rejects.toThrow(/JSON object/);
    await expect(database.db.transaction((trx) => recordEvent(trx, { ...base, data: { blob: 'x'.repeat(70_000) } }))).rejects.toThrow(/at most/);
  });

  it('numbers each recipient\'s events from 1 without gaps, and shows each party only its own', async () => {
    const unit = await newRecipient(database.db, 'unit');
    const agency = await newRecipient(database.db, 'agency');
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await recordTestEvent(database.db, i % 2 === 0 ? [unit.partyId, agency.partyId] : [unit.partyId]));

    const unitPage = await events.pull(unit.partyId, 0, 100);
    expect(unitPage.data.map((event) => event.sequence)).toEqual([1, 2, 3, 4, 5]);
    expect(unitPage.data.map((event) => event.eventId)).toEqual(ids);
    expect(unitPage.nextAfter).toBe(5);
    const agencyPage = await events.pull(agency.partyId, 0, 100);
    expect(agencyPage.data.map((event) => [event.sequence, event.eventId])).toEqual([
      [1, ids[0]],
      [2, ids[2]],
      [3, ids[4]],
    ]);
    // The same event has the same id for every recipient, each with its own sequence.
    expect(agencyPage.data[1]?.eventId).toBe(unitPage.data[2]?.eventId);

    // `after` is exclusive; `limit` bounds the page; nextAfter is the last sequence returned, or
    // `after` itself when there is nothing more.
    const page = await events.pull(unit.partyId, 2, 2);
    expect(page.data.map((event) => event.sequence)).toEqual([3, 4]);
    expect(page.nextAfter).toBe(4);
    expect(await events.pull(unit.partyId, 5, 100)).toEqual({ data: [], nextAfter: 5 });
    expect(await events.pull(unit.partyId, 99, 100)).toEqual({ data: [], nextAfter: 99 });
  });

  it('writes the event as the wire shape: occurredAt in +08:00, data as recorded', async () => {
    const unit = await newRecipient(database.db, 'unit');
    const data = paymentSucceededData();
    const eventId = await recordTestEvent(database.db, [unit.partyId], { data, occurredAt: new Date('2026-11-23T02:00:01.750Z') });
    const [event] = (await events.pull(unit.partyId, 0, 1)).data as [EventMessage];
    expect(event).toEqual({ eventId, type: 'payment.succeeded', sequence: 1, occurredAt: '2026-11-23T10:00:01+08:00', data });
    expect(Object.keys(event.data)).toEqual(Object.keys(data));
    expect(schemaErrors('Event', event)).toEqual([]);
  });

  it('never lets a reader skip an event that commits after a later one', async () => {
    const agency = await newRecipient(database.db, 'agency');
    // A inserts first, B second; B commits first, then A.
    const trxA = await database.db.transaction();
    const a = await recordEvent(trxA, { type: 'payment.succeeded', recipients: [{ partyId: agency.partyId }], data: paymentSucceededData(), occurredAt: new Date() });
    const trxB = await database.db.transaction();
    const b = await recordEvent(trxB, { type: 'payment.succeeded', recipients: [{ partyId: agency.partyId }], data: paymentSucceededData(), occurredAt: new Date() });
    await trxB.commit();

    const first = await events.pull(agency.partyId, 0, 100);
    expect(first.data.map((event) => event.eventId)).toEqual([b.eventId]);
    expect(first.data[0]?.sequence).toBe(1);

    await trxA.commit();
    const second = await events.pull(agency.partyId, first.nextAfter, 100);
    expect(second.data.map((event) => [event.eventId, event.sequence])).toEqual([[a.eventId, 2]]);

    // The scenario really was out of order: A's row was inserted first, so a reader paging by
    // insertion order would have passed A's position before A was visible — and skipped it.
    const [rowA, rowB] = await Promise.all([a.eventId, b.eventId].map((id) => database.db('event_bodies').where({ event_id: id }).first('id')));
    expect(BigInt(rowA.id)).toBeLessThan(BigInt(rowB.id));
  });

  it('under concurrent writers, several sequencers and a polling reader, the reader sees every event once, in a gap-free sequence', async () => {
    const agency = await newRecipient(database.db, 'agency');
    const writers = 8;
    const transactionsPerWriter = 20;
    const total = writers * transactionsPerWriter;
    // Two more "instances" number in the background besides the reader's own on-demand passes.
    const loops = [1, 2].map(() => new EventSequencerLoop({ events: new EventService({ db: database.db, clocks, log }), log }, { intervalMs: 3 }));
    loops.forEach((loop) => loop.start());

    const recorded = new Set<string>();
    let writing = true;
    const write = async (): Promise<void> => {
      for (let i = 0; i < transactionsPerWriter; i += 1) {
        const trx = await database.db.transaction();
        const { eventId } = await recordEvent(trx, { type: 'payment.succeeded', recipients: [{ partyId: agency.partyId }], data: paymentSucceededData(), occurredAt: new Date() });
        // Hold the transaction open a random while, so commits overtake each other.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 15)));
        await trx.commit();
        recorded.add(eventId);
      }
    };
    const seen: EventMessage[] = [];
    const read = async (): Promise<void> => {
      let after = 0;
      for (let poll = 0; poll < 10_000; poll += 1) {
        // Whether every writer had committed *before* this pull began: an empty page from a pull
        // that started while the last commit was still in flight proves nothing.
        const allCommitted = !writing;
        const page = await events.pull(agency.partyId, after, 7);
        seen.push(...page.data);
        after = page.nextAfter;
        if (allCommitted && page.data.length === 0) return;
      }
      throw new Error('the reader did not catch up');
    };

    const reading = read();
    await Promise.all(Array.from({ length: writers }, write));
    writing = false;
    await reading;
    await Promise.all(loops.map((loop) => loop.stop(1000)));

    expect(seen).toHaveLength(total);
    expect(seen.map((event) => event.sequence)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(new Set(seen.map((event) => event.eventId))).toEqual(recorded);
    const counter = await database.db('event_sequences').where({ recipient_party_id: agency.partyId }).first('last_sequence');
    expect(Number(counter.last_sequence)).toBe(total);
  });

  it('stores each payload once and each recipient as a narrow row; numbering only inserts into the log, and under concurrent batch writers every recipient\'s reader sees each of its events once, gap-free', async () => {
    const recipients = await Promise.all([newRecipient(database.db, 'agency'), newRecipient(database.db, 'unit'), newRecipient(database.db, 'unit')]);
    // contracts/decisions/0120-event-storage.md: one body per event, one inbox row per recipient.
    const probe = await database.db.transaction((trx) => recordEvents(trx, [{ type: 'payment.succeeded', recipients: recipients.map((r) => ({ partyId: r.partyId })), data: paymentSucceededData(), occurredAt: new Date() }]));
    const body = await database.db('event_bodies').where({ event_id: probe[0]?.eventId }).first('id');
    expect(await database.db('event_bodies').where({ event_id: probe[0]?.eventId }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '1' }]);
    expect(await database.db('event_inbox').where({ body_id: body.id }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: String(recipients.length) }]);
    const logBefore = await database.db('event_log').count<{ count: string }[]>({ count: '*' });
    await events.sequence({ wait: true });
    // Numbered: moved out of the inbox into the log, one row per recipient; the body untouched.
    expect(await database.db('event_inbox').where({ body_id: body.id })).toEqual([]);
    expect((await database.db('event_log').where({ body_id: body.id }).select('recipient_party_id')).map((row) => row.recipient_party_id).sort()).toEqual(recipients.map((r) => r.partyId).sort());
    expect(Number((await database.db('event_log').count<{ count: string }[]>({ count: '*' }))[0]?.count)).toBe(Number(logBefore[0]?.count) + recipients.length);

    const loops = [1, 2].map(() => new EventSequencerLoop({ events: new EventService({ db: database.db, clocks, log }), log }, { intervalMs: 2 }));
    loops.forEach((loop) => loop.start());
    const writers = 6;
    const batchesPerWriter = 12;
    const recordedFor = new Map(recipients.map((r) => [r.partyId, new Set<string>([probe[0]?.eventId as string])]));
    let writing = true;
    const write = async (writer: number): Promise<void> => {
      for (let batch = 0; batch < batchesPerWriter; batch += 1) {
        const trx = await database.db.transaction();
        // Each batch: 1–3 events, each to a different subset of the recipients.
        const planned = Array.from({ length: 1 + ((writer + batch) % 3) }, (_, index) => recipients.filter((_r, position) => (writer + batch + index + position) % 3 !== 0));
        const recorded = await recordEvents(trx, planned.map((to) => ({ type: 'payment.succeeded' as const, recipients: to.map((r) => ({ partyId: r.partyId })), data: paymentSucceededData(), occurredAt: new Date() })));
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 12)));
        await trx.commit();
        planned.forEach((to, index) => to.forEach((r) => recordedFor.get(r.partyId)?.add(recorded[index]?.eventId as string)));
      }
    };
    const read = async (partyId: string): Promise<EventMessage[]> => {
      const seen: EventMessage[] = [];
      let after = 0;
      for (let poll = 0; poll < 10_000; poll += 1) {
        const allCommitted = !writing;
        const page = await events.pull(partyId, after, 5);
        seen.push(...page.data);
        after = page.nextAfter;
        if (allCommitted && page.data.length === 0) return seen;
      }
      throw new Error('the reader did not catch up');
    };
    const reading = recipients.map((r) => read(r.partyId));
    await Promise.all(Array.from({ length: writers }, (_, writer) => write(writer)));
    writing = false;
    const seenBy = await Promise.all(reading);
    await Promise.all(loops.map((loop) => loop.stop(1000)));

    recipients.forEach((recipient, index) => {
      const seen = seenBy[index] as EventMessage[];
      const expected = recordedFor.get(recipient.partyId) as Set<string>;
      expect(seen.map((event) => event.sequence)).toEqual(Array.from({ length: expected.size }, (_, i) => i + 1));
      expect(new Set(seen.map((event) => event.eventId))).toEqual(expected);
    });
    expect(await database.db('event_inbox').whereIn('recipient_party_id', recipients.map((r) => r.partyId))).toEqual([]);
  });

  it('resolves every finance party as recipients, disabled ones included, and no one else', async () => {
    const before = (await financeRecipients(database.db)).map((recipient) => recipient.partyId);
    const active = await newRecipient(database.db, 'finance');
    const disabled = await newRecipient(database.db, 'finance', { status: 'DISABLED' });
    await newRecipient(database.db, 'unit');
    const after = (await financeRecipients(database.db)).map((recipient) => recipient.partyId);
    expect(after).toEqual([...before, active.partyId, disabled.partyId]);
  });

  it('keeps one registry of event types, each with its payload schema in contracts/', () => {
    const document = loadContractDocument();
    const schemas = document.components.schemas as Record<string, { enum?: string[] }>;
    expect(schemas.EventType?.enum?.slice().sort()).toEqual(Object.keys(EVENT_TYPES).sort());
    for (const schemaName of Object.values(EVENT_TYPES)) expect(schemas[schemaName]).toBeDefined();
  });
});
