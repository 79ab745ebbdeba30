import type { Knex } from 'knex';

/**
 * Reversals (冲红) of receipts: each succeeded refund of a paid notice (docs/settlement.md §3), or the
 * reversal of the whole payment by reconciliation (REVERSE_PAYMENT, docs/reconciliation.md), adds one
 * row here. They sit beside the signed receipt, never inside it, and the receipt's status —
 * VALID, PARTIALLY_REVERSED or REVERSED — is derived from their sum against the paid amount
 * rather than stored, so there is no second copy of the truth to keep in step.
 *
 * `refund_id` names the refund that caused the reversal; it is null for the reversal of the
 * payment itself. Each refund reverses a receipt at most once, and a payment is reversed at most
 * once, so recording is idempotent under the unique keys below. Rows are never updated or deleted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE receipt_reversals (
      id          bigserial PRIMARY KEY,
      receipt_no  text NOT NULL REFERENCES receipts (receipt_no),
      refund_id   text CHECK (refund_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      amount      numeric(18, 2) NOT NULL CHECK (amount > 0),
      reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      reversed_at timestamptz NOT NULL,
      CONSTRAINT receipt_reversals_refund UNIQUE (receipt_no, refund_id)
    );
    -- UNIQUE treats nulls as distinct, so the one reversal of the payment itself needs its own key.
    CREATE UNIQUE INDEX receipt_reversals_payment_reversal ON receipt_reversals (receipt_no) WHERE refund_id IS NULL;

    CREATE TRIGGER receipt_reversals_append_only BEFORE UPDATE OR DELETE ON receipt_reversals
      FOR EACH ROW EXECUTE FUNCTION receipt_records_are_append_only();
    CREATE TRIGGER receipt_reversals_no_truncate BEFORE TRUNCATE ON receipt_reversals
      FOR EACH STATEMENT EXECUTE FUNCTION receipt_records_are_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
