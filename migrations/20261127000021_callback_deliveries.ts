import type { Knex } from 'knex';

/**
 * Callback deliveries and their attempts (docs/lifecycle.md §5). A delivery is one numbered event on
 * its way to one recipient; it is created by the sequencer when it numbers the event, if the
 * recipient has a callback URL then. `attempt_count` counts the failed attempts of the current
 * round (a redelivery starts a new round); every attempt of every round stays in
 * `callback_attempts`.
 *
 * A worker claims a due delivery by setting a lease (`lease_until`, `lease_token`) in a short
 * transaction of its own and commits before it calls the recipient; its result counts only while
 * the token is still the delivery's. A crashed worker's lease simply runs out.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE callback_deliveries (
      id                 bigserial PRIMARY KEY,
      event_row_id       bigint NOT NULL UNIQUE REFERENCES events (id),
      recipient_party_id bigint NOT NULL REFERENCES parties (id),
      status             text NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'DEAD')),
      attempt_count      integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
      next_attempt_at    timestamptz,
      lease_until        timestamptz,
      lease_token        uuid,
      delivered_at       timestamptz,
      redelivery_count   integer NOT NULL DEFAULT 0 CHECK (redelivery_count >= 0),
      created_at         timestamptz NOT NULL,
      updated_at         timestamptz NOT NULL,
      CHECK ((status = 'PENDING') = (next_attempt_at IS NOT NULL)),
      CHECK ((status = 'DELIVERED') = (delivered_at IS NOT NULL)),
      CHECK ((lease_until IS NULL) = (lease_token IS NULL))
    );
    -- The workers' claim: recipients with pending work (a loose index scan over the first
    -- column), then each one's earliest due deliveries.
    CREATE INDEX callback_deliveries_pending ON callback_deliveries (recipient_party_id, next_attempt_at, id) WHERE status = 'PENDING';
    -- Finance's list, filtered by status or recipient, in id order.
    CREATE INDEX callback_deliveries_status_id ON callback_deliveries (status, id);
    CREATE INDEX callback_deliveries_recipient_id ON callback_deliveries (recipient_party_id, id);

    CREATE TABLE callback_attempts (
      id           bigserial PRIMARY KEY,
      delivery_id  bigint NOT NULL REFERENCES callback_deliveries (id),
      attempted_at timestamptz NOT NULL,
      url          text NOT NULL,
      outcome      text NOT NULL CHECK (outcome IN ('DELIVERED', 'FAILED')),
      status_code  integer CHECK (status_code BETWEEN 100 AND 999),
      latency_ms   integer NOT NULL CHECK (latency_ms >= 0),
      error        text,
      CHECK (outcome = 'FAILED' OR (status_code BETWEEN 200 AND 299 AND error IS NULL)),
      CHECK (outcome = 'DELIVERED' OR error IS NOT NULL)
    );
    CREATE INDEX callback_attempts_delivery_id ON callback_attempts (delivery_id, id);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
