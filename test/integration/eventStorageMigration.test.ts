import pino from 'pino';
import { migrateLatest } from '../../src/db/database';
import { ManualClock } from '../../src/domain/clock';
import { EventService, recordEvent } from '../../src/services/events';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newRecipient, paymentSucceededData } from '../helpers/eventFixtures';

/**
 * Migration 20261202005000 (contracts/decisions/0120-event-storage.md) carries the events of the
 * old one-row-per-recipient table forward: numbered rows keep their id and sequence (and so their
 * deliveries and every reader's `after`), unnumbered ones wait in the inbox in their old order and
 * are numbered next, each payload stored once.
 */
const STORAGE_MIGRATION = '20261202005000_event_storage.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

it('keeps every numbered event\'s id, sequence and delivery, and numbers the waiting ones next, in their old order', async () => {
  const db = database.db;
  const agency = await newRecipient(db, 'agency', { callbackUrl: 'https://agency.example.test/callbacks' });
  const unit = await newRecipient(db, 'unit');

  // The state before the migration: the old table (migration 20261127000020) and its delivery FK.
  await db.raw(`
    DROP VIEW events;
    ALTER TABLE callback_deliveries DROP CONSTRAINT callback_deliveries_event_row_id_fkey;
    DROP TABLE event_log, event_inbox, event_bodies;
    CREATE TABLE events (
      id                 bigserial PRIMARY KEY,
      event_id           text NOT NULL CHECK (event_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      type               text NOT NULL,
      recipient_party_id bigint NOT NULL REFERENCES parties (id),
      sequence           bigint CHECK (sequence >= 1),
      occurred_at        timestamptz NOT NULL,
      data               json NOT NULL,
      recorded_at        timestamptz NOT NULL DEFAULT now(),
      UNIQUE (event_id, recipient_party_id),
      UNIQUE (recipient_party_id, sequence)
    );
    CREATE INDEX events_unnumbered ON events (id) WHERE sequence IS NULL;
    ALTER TABLE callback_deliveries ADD CONSTRAINT callback_deliveries_event_row_id_fkey FOREIGN KEY (event_row_id) REFERENCES events (id);
  `);
  await db('knex_migrations').where({ name: STORAGE_MIGRATION }).delete();

  // E1 to both, numbered; E2 to the agency, committed but unnumbered; E3 to the unit, numbered;
  // E4 to the agency, unnumbered, inserted after E2. Its text keeps an odd spacing: kept byte for byte.
  const dataText = (n: number) => `{"payment": {"paymentId": "P${n}"},  "n": ${n}}`;
  const at = new Date('2026-12-01T02:00:00Z');
  const insert = (id: number, eventId: string, partyId: string, sequence: number | null, n: number) =>
    db.raw('INSERT INTO events (id, event_id, type, recipient_party_id, sequence, occurred_at, data) VALUES (?, ?, ?, ?, ?, ?, CAST(? AS json))', [id, eventId, 'payment.succeeded', partyId, sequence, at, dataText(n)]);
  await insert(101, 'EMIGRATION1', agency.partyId, 1, 1);
  await insert(102, 'EMIGRATION1', unit.partyId, 1, 1);
  await insert(103, 'EMIGRATION4', agency.partyId, null, 4);
  await insert(104, 'EMIGRATION2', agency.partyId, null, 2);
  await insert(105, 'EMIGRATION3', unit.partyId, 2, 3);
  // Inserted out of event-id order on purpose: E4's row (103) is older than E2's (104).
  await db('event_sequences').insert([{ recipient_party_id: agency.partyId, last_sequence: 1 }, { recipient_party_id: unit.partyId, last_sequence: 2 }]);
  const [delivery] = await db('callback_deliveries').insert({ event_row_id: 101, recipient_party_id: agency.partyId, status: 'PENDING', next_attempt_at: at, created_at: at, updated_at: at }).returning('id');

  expect(await migrateLatest(db)).toEqual([STORAGE_MIGRATION]);

  expect(await db('event_bodies').whereIn('event_id', ['EMIGRATION1', 'EMIGRATION2', 'EMIGRATION3', 'EMIGRATION4']).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '4' }]);
  const numbered = await db.raw<{ rows: Array<{ id: string; event_id: string; recipient_party_id: string; sequence: string; data: string }> }>(
    'SELECT l.id, b.event_id, l.recipient_party_id, l.sequence, b.data::text AS data FROM event_log l JOIN event_bodies b ON b.id = l.body_id WHERE l.recipient_party_id IN (?, ?) ORDER BY l.id',
    [agency.partyId, unit.partyId],
  );
  expect(numbered.rows).toEqual([
    { id: '101', event_id: 'EMIGRATION1', recipient_party_id: agency.partyId, sequence: '1', data: dataText(1) },
    { id: '102', event_id: 'EMIGRATION1', recipient_party_id: unit.partyId, sequence: '1', data: dataText(1) },
    { id: '105', event_id: 'EMIGRATION3', recipient_party_id: unit.partyId, sequence: '2', data: dataText(3) },
  ]);
  const stillDelivering = await db('callback_deliveries as d').join('event_log as l', 'l.id', 'd.event_row_id').join('event_bodies as b', 'b.id', 'l.body_id').where('d.id', delivery.id).first('b.event_id', 'l.sequence');
  expect(stillDelivering).toEqual({ event_id: 'EMIGRATION1', sequence: '1' });

  // The waiting ones are numbered next, in their old insertion order (E4 before E2), above E1.
  const clock = new ManualClock(at);
  const events = new EventService({ db, clocks: { business: clock, real: clock }, log: pino({ level: 'silent' }) });
  const page = await events.pull(agency.partyId, 0, 10);
  expect(page.data.map((event) => [event.eventId, event.sequence])).toEqual([
    ['EMIGRATION1', 1],
    ['EMIGRATION4', 2],
    ['EMIGRATION2', 3],
  ]);
  const newIds = await db('event_log').where({ recipient_party_id: agency.partyId }).where('sequence', '>', 1).pluck('id');
  expect(newIds.every((id: string) => BigInt(id) > 105n)).toBe(true);

  // And the store goes on: a new event is numbered 4 for the agency, 3 for the unit.
  await db.transaction((trx) => recordEvent(trx, { type: 'payment.succeeded', recipients: [{ partyId: agency.partyId }, { partyId: unit.partyId }], data: paymentSucceededData(), occurredAt: at }));
  expect((await events.pull(agency.partyId, 3, 10)).data.map((event) => event.sequence)).toEqual([4]);
  expect((await events.pull(unit.partyId, 2, 10)).data.map((event) => event.sequence)).toEqual([3]);
});
