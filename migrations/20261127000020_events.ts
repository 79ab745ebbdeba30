import type { Knex } from 'knex';

/**
 * The transactional outbox of events (docs/lifecycle.md §5). A use case inserts one row per recipient
 * in the same transaction as the change it reports, with `sequence` NULL. The sequencer
 * (src/services/events.ts) numbers rows only after they have committed, per recipient, from 1
 * without gaps, keeping each recipient's last number in `event_sequences` — a row that only the
 * sequencer touches, under its advisory lock, so no posting transaction ever waits on a counter.
 *
 * `data` is `json`, not `jsonb`: it is never queried, and `json` keeps the payload's text (and so
 * its key order) exactly as written, which makes every delivery of an event byte-identical.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
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
    -- The sequencer's work list: only rows still waiting for a number, so it stays tiny.
    CREATE INDEX events_unnumbered ON events (id) WHERE sequence IS NULL;

    CREATE TABLE event_sequences (
      recipient_party_id bigint PRIMARY KEY REFERENCES parties (id),
      last_sequence      bigint NOT NULL CHECK (last_sequence >= 1)
    );
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
