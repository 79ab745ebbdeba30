import type { Knex } from 'knex';

/**
 * Refunds (退付, docs/settlement.md §3). This migration creates the table with what the first refunds
 * need: the refund obligation an UNAPPLIED payment creates with it (docs/lifecycle.md §3) — amount the
 * payment's, reason its `unapplied_reason`, payee the `payerAccount` when the agency gave one,
 * `APPROVED` by policy (`approval = 'AUTO_POLICY'`). Unit-requested refunds use the same table:
 * `refund_no` is then the unit's idempotency key and `requested_by_party_id` the unit; the refunds
 * capability adds its instruction columns when it lands.
 *
 * The payee is nullable as a whole: an agency that captured money without telling whose it was
 * leaves finance to find the payer before the refund can be instructed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE refunds (
      id                    bigserial PRIMARY KEY,
      refund_id             text NOT NULL UNIQUE CHECK (refund_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      refund_no             text CHECK (refund_no ~ '^[A-Za-z0-9_-]{1,64}$'),
      requested_by_party_id bigint REFERENCES parties (id),
      payment_id            bigint NOT NULL REFERENCES payments (id),
      pay_code              text NOT NULL,
      amount                numeric(18, 2) NOT NULL CHECK (amount > 0),
      reason                text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      payee_name            text,
      payee_account_no      text,
      payee_bank_name       text,
      status                text NOT NULL CHECK (status IN ('REQUESTED', 'APPROVED', 'REJECTED', 'INSTRUCTED', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
      approval              text CHECK (approval IN ('AUTO_POLICY', 'FINANCE')),
      approved_by_party_id  bigint REFERENCES parties (id),
      approved_at           timestamptz,
      created_at            timestamptz NOT NULL,
      updated_at            timestamptz NOT NULL,
      succeeded_at          timestamptz,
      CHECK ((payee_name IS NULL) = (payee_account_no IS NULL) AND (payee_account_no IS NULL) = (payee_bank_name IS NULL)),
      CHECK ((refund_no IS NULL) = (requested_by_party_id IS NULL)),
      CHECK ((approval IS NULL) = (approved_at IS NULL)),
      CHECK ((approval = 'FINANCE') = (approved_by_party_id IS NOT NULL)),
      -- The obligation of unapplied money is approved by policy at creation.
      CHECK (refund_no IS NOT NULL OR approval = 'AUTO_POLICY'),
      CHECK ((status = 'SUCCEEDED') = (succeeded_at IS NOT NULL)),
      UNIQUE (requested_by_party_id, refund_no)
    );
    -- One obligation per unapplied payment; refunds of a payment are summed under its lock.
    CREATE UNIQUE INDEX refunds_unapplied_obligation ON refunds (payment_id) WHERE refund_no IS NULL;
    CREATE INDEX refunds_payment_id ON refunds (payment_id);
    CREATE INDEX refunds_status_id ON refunds (status, id);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
