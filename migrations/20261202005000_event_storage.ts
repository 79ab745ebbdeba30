import type { Knex } from 'knex';

/**
 * Events stored once, recipients as narrow rows, numbers assigned by inserts
 * (contracts/decisions/0120-event-storage.md, revising 0010's storage; its guarantee is unchanged).
 *
 * - `event_bodies`: one row per event, the payload (`json`, its text kept byte for byte) written
 *   once however many recipients it has.
 * - `event_inbox`: one narrow row per (event, recipient) not yet numbered — what the posting
 *   writes besides the body. The sequencer moves rows out of it (DELETE … RETURNING) in the same
 *   statement that numbers them.
 * - `event_log`: append-only, one narrow row per numbered (recipient, sequence); never updated.
 *   `id` keeps the old `events.id` of every row numbered before this migration, so that
 *   `callback_deliveries.event_row_id` keeps pointing at the same delivery's event.
 * - `events`: a read-only view with the old table's columns (id NULL and sequence NULL while a row
 *   is in the inbox), for operators' queries and tests; the service reads the tables.
 *
 * Every row of `events` is carried forward: numbered rows keep their id and sequence (so their
 * deliveries and every reader's `after` stay valid), unnumbered rows go to the inbox in their old
 * insertion order (body ids are drawn in the order of each event's first row). `event_sequences`
 * is unchanged.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE event_bodies (
      id          bigserial PRIMARY KEY,
      event_id    text NOT NULL UNIQUE CHECK (event_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      type        text NOT NULL,
      occurred_at timestamptz NOT NULL,
      data        json NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now()
    );

    -- The primary key is the sequencer's work order (insertion order of events, then recipient)
    -- and makes each recipient once per event.
    CREATE TABLE event_inbox (
      body_id            bigint NOT NULL REFERENCES event_bodies (id),
      recipient_party_id bigint NOT NULL REFERENCES parties (id),
      PRIMARY KEY (body_id, recipient_party_id)
    );

    CREATE SEQUENCE event_log_id_seq;
    CREATE TABLE event_log (
      id                 bigint PRIMARY KEY DEFAULT nextval('event_log_id_seq'),
      recipient_party_id bigint NOT NULL REFERENCES parties (id),
      sequence           bigint NOT NULL CHECK (sequence >= 1),
      body_id            bigint NOT NULL REFERENCES event_bodies (id),
      -- The pull: a recipient's events above a sequence, in order.
      UNIQUE (recipient_party_id, sequence),
      -- Redelivery and finance's lookups by eventId; each recipient numbered once per event.
      UNIQUE (body_id, recipient_party_id)
    );
    ALTER SEQUENCE event_log_id_seq OWNED BY event_log.id;

    INSERT INTO event_bodies (event_id, type, occurred_at, data, recorded_at)
    SELECT event_id, type, occurred_at, data, recorded_at
      FROM (SELECT DISTINCT ON (event_id) id, event_id, type, occurred_at, data, recorded_at FROM events ORDER BY event_id, id) AS first_rows
     ORDER BY id;

    INSERT INTO event_log (id, recipient_party_id, sequence, body_id)
    SELECT e.id, e.recipient_party_id, e.sequence, b.id
      FROM events e JOIN event_bodies b ON b.event_id = e.event_id
     WHERE e.sequence IS NOT NULL;

    INSERT INTO event_inbox (body_id, recipient_party_id)
    SELECT b.id, e.recipient_party_id
      FROM events e JOIN event_bodies b ON b.event_id = e.event_id
     WHERE e.sequence IS NULL;

    -- New log ids continue above every id the old table gave (numbered or not).
    SELECT setval('event_log_id_seq', GREATEST((SELECT max(id) FROM events), 1), (SELECT max(id) FROM events) IS NOT NULL);

    ALTER TABLE callback_deliveries DROP CONSTRAINT callback_deliveries_event_row_id_fkey;
    ALTER TABLE callback_deliveries ADD CONSTRAINT callback_deliveries_event_row_id_fkey FOREIGN KEY (event_row_id) REFERENCES event_log (id);

    DROP TABLE events;

    CREATE VIEW events AS
      SELECT l.id, b.event_id, b.type, l.recipient_party_id, l.sequence, b.occurred_at, b.data, b.recorded_at
        FROM event_log l JOIN event_bodies b ON b.id = l.body_id
      UNION ALL
      SELECT NULL::bigint, b.event_id, b.type, i.recipient_party_id, NULL::bigint, b.occurred_at, b.data, b.recorded_at
        FROM event_inbox i JOIN event_bodies b ON b.id = i.body_id;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
