import type { Knex } from 'knex';

/**
 * E-receipts (电子票据, docs/lifecycle.md §6), issued in the transaction that pays a notice.
 *
 * `content` holds the exact bytes the platform signed — the UTF-8 of the RFC 8785 canonical JSON
 * of the receipt — and `signature` the DER SM2 signature over them, with the `key_id` that made
 * it. The receipt endpoints answer from these bytes and never rebuild the receipt from other rows,
 * so a later change to a notice, a unit's name or the serialisation code can never break a
 * signature that was already handed out. The few columns beside it (notice, payCode, agency and
 * agencyTxnId, paid amount, issue time) exist to find a receipt and to derive its status; they
 * repeat what the content says and are written from the same values.
 *
 * A receipt is a financial record: it is never updated or deleted (a trigger refuses both, and
 * TRUNCATE). A refund's reversal (冲红) is a new row in receipt_reversals, beside the receipt and
 * outside what was signed.
 *
 * One payment issues at most one receipt: (agency_code, agency_txn_id) is the payment's key
 * (docs/interface.md §4). A notice can have more than one over time — a payment reversed by
 * reconciliation reopens its notice, and a later payment issues a new receipt — so notice_id is
 * indexed, not unique.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE receipts (
      receipt_no    text PRIMARY KEY CHECK (receipt_no ~ '^[0-9]{18}$'),
      check_code    text NOT NULL CHECK (check_code ~ '^[0-9A-Z]{6}$'),
      notice_id     bigint NOT NULL REFERENCES notices (id),
      pay_code      text NOT NULL CHECK (pay_code ~ '^[0-9]{20}$'),
      agency_code   text NOT NULL,
      agency_txn_id text NOT NULL,
      paid_amount   numeric(18, 2) NOT NULL CHECK (paid_amount >= 0),
      issued_at     timestamptz NOT NULL,
      content       bytea NOT NULL CHECK (octet_length(content) BETWEEN 2 AND 65536),
      signature     bytea NOT NULL CHECK (octet_length(signature) BETWEEN 8 AND 80),
      key_id        text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      CONSTRAINT receipts_payment_key UNIQUE (agency_code, agency_txn_id)
    );
    -- The unit's GET /v1/unit/receipts/{payCode} finds the notice, then its latest receipt.
    CREATE INDEX receipts_notice_id_issued_at ON receipts (notice_id, issued_at);

    CREATE FUNCTION receipt_records_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'a receipt is corrected by a reversal row in receipt_reversals, never edited';
    END
    $$;
    CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE ON receipts
      FOR EACH ROW EXECUTE FUNCTION receipt_records_are_append_only();
    CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts
      FOR EACH STATEMENT EXECUTE FUNCTION receipt_records_are_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
