import type { Knex } from 'knex';

/**
 * Payments (支付, docs/lifecycle.md §3) and their idempotency keys (docs/interface.md §4).
 *
 * A payment is one collection of money by one agency, identified by the agency's `agencyTxnId`.
 * It is `SUCCEEDED` when it paid its notice and `UNAPPLIED` when the money was captured but could
 * not apply (`unapplied_reason` says why); both are recorded with a journal entry in the same
 * statement. `pay_code` is kept exactly as the agency sent it — with captured funds even a code
 * failing its check digits is recorded (contracts/decisions/0032) — and `notice_id` names the
 * notice the code found, applied to or not.
 *
 * The key (agency, agencyTxnId) lives in `payment_keys`, apart from the payments, for the reason
 * notice_keys does: it must stay a plain unique key however `payments` is partitioned later (by
 * business date), and it is kept forever. `request_hash` is the SHA-256 of the canonical JSON of
 * the posting's parsed body; it is NULL for a key bound by reconciliation's backfill of a
 * statement line, which has no request body and is compared on payCode, amount and paidAt
 * instead (docs/reconciliation.md §2).
 *
 * At most one live applied payment per notice: the partial unique index
 * `payments_applied_notice` makes "never two successes" a property of the database, not only of
 * the posting's lock (a reversed payment leaves it, so the reopened notice can be paid again).
 *
 * Nothing financial is edited in place: a trigger lets an UPDATE change only `status` and
 * `updated_at` (refunds and reversals move the status), and refuses DELETE and TRUNCATE; keys are
 * never changed at all.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE payments (
      id                 bigserial PRIMARY KEY,
      payment_id         text NOT NULL UNIQUE CHECK (payment_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      agency_party_id    bigint NOT NULL REFERENCES parties (id),
      agency_code        text NOT NULL,
      agency_txn_id      text NOT NULL CHECK (agency_txn_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      pay_code           text NOT NULL CHECK (pay_code ~ '^[A-Za-z0-9_-]{1,64}$'),
      notice_id          bigint REFERENCES notices (id),
      amount             numeric(18, 2) NOT NULL CHECK (amount > 0),
      paid_at            timestamptz NOT NULL,
      business_date      date NOT NULL,
      channel            text NOT NULL CHECK (channel IN ('COUNTER', 'ONLINE_BANKING', 'MOBILE', 'QR', 'POS', 'OTHER')),
      funds_captured     boolean NOT NULL,
      payer_account_name text,
      payer_account_no   text,
      payer_bank_name    text,
      status             text NOT NULL CHECK (status IN ('SUCCEEDED', 'UNAPPLIED', 'REVERSED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
      unapplied_reason   text CHECK (unapplied_reason IN ('PAY_CODE_INVALID', 'NOTICE_NOT_FOUND', 'NOTICE_ALREADY_PAID', 'NOTICE_VOIDED', 'NOTICE_EXPIRED', 'AMOUNT_MISMATCH')),
      receipt_no         text CHECK (receipt_no ~ '^[0-9]{18}$'),
      created_at         timestamptz NOT NULL,
      updated_at         timestamptz NOT NULL,
      -- An applied payment paid a notice; an unapplied one was captured money (a posting whose
      -- funds are not captured and does not apply is refused and never recorded).
      CHECK (status <> 'SUCCEEDED' OR unapplied_reason IS NULL),
      CHECK (status <> 'UNAPPLIED' OR unapplied_reason IS NOT NULL),
      CHECK (unapplied_reason IS NOT NULL OR notice_id IS NOT NULL),
      CHECK (unapplied_reason IS NULL OR funds_captured),
      CHECK (unapplied_reason IS NULL OR receipt_no IS NULL),
      CHECK ((payer_account_name IS NULL) = (payer_account_no IS NULL) AND (payer_account_no IS NULL) = (payer_bank_name IS NULL))
    );
    CREATE UNIQUE INDEX payments_applied_notice ON payments (notice_id) WHERE unapplied_reason IS NULL AND status <> 'REVERSED';
    -- Reconciliation reads an agency's payments of a business date.
    CREATE INDEX payments_agency_business_date ON payments (agency_party_id, business_date);

    CREATE TABLE payment_keys (
      agency_party_id bigint NOT NULL,
      agency_txn_id   text NOT NULL,
      request_hash    text CHECK (request_hash ~ '^[0-9a-f]{64}$'),
      -- Not a foreign key, for the partitioning reason above; both rows are written by one statement.
      payment_id      bigint NOT NULL,
      created_at      timestamptz NOT NULL,
      PRIMARY KEY (agency_party_id, agency_txn_id)
    );

    CREATE FUNCTION payment_records_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'payments'
         AND (to_jsonb(NEW) - 'status' - 'updated_at') = (to_jsonb(OLD) - 'status' - 'updated_at') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'a payment changes only its status; a correction is a new record that points at it';
    END
    $$;
    CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
      FOR EACH ROW EXECUTE FUNCTION payment_records_are_append_only();
    CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments
      FOR EACH STATEMENT EXECUTE FUNCTION payment_records_are_append_only();
    CREATE TRIGGER payment_keys_append_only BEFORE UPDATE OR DELETE ON payment_keys
      FOR EACH ROW EXECUTE FUNCTION payment_records_are_append_only();
    CREATE TRIGGER payment_keys_no_truncate BEFORE TRUNCATE ON payment_keys
      FOR EACH STATEMENT EXECUTE FUNCTION payment_records_are_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
