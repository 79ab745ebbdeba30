import type { Knex } from 'knex';

/**
 * Payment notices (缴款通知书, docs/interface.md §6.2) and the snapshot of the items they charge.
 *
 * The notice row carries everything the payment posting (docs/lifecycle.md §3) reads and writes while
 * it holds the row `FOR UPDATE`: the status, the dates that decide payability and late fees, the
 * total, the unit it pays (code and name for events and receipts), the payer's name for the
 * receipt, and the columns a payment fills in (`paid_at`, `paid_amount`, `late_fee_paid`,
 * `receipt_no`). `notice_items` holds, per line, the catalogue entry as it was when the notice was
 * issued — name, revenue classification, budget level, sharing rule, receiving account, pricing,
 * late-fee rule and the item's version — so a later catalogue change never alters an issued
 * notice, and the ledger can credit each line's receiving account without reading the catalogue.
 * `notice_items.late_fee_paid` is the late fee each line earned at payment (a line's late fee is
 * revenue of that line's item, docs/lifecycle.md §2).
 *
 * `status` is written only with a value the notice state machine's `transition` returned
 * (src/domain/stateMachines.ts); the CHECKs below keep the columns that depend on it consistent.
 *
 * Payer id numbers and mobiles are stored only encrypted (SM4-CBC + HMAC-SM3, src/crypto/
 * fieldCipher.ts) beside their masked forms, which are what every response shows, so reads never
 * decrypt.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE notices (
      id                        bigserial PRIMARY KEY,
      pay_code                  text NOT NULL CHECK (pay_code ~ '^[0-9]{20}$'),
      unit_party_id             bigint NOT NULL REFERENCES parties (id),
      -- The unit's code, name and region when the notice was issued. Parties never change them,
      -- and keeping them here spares the posting and the lookups a join.
      unit_code                 text NOT NULL,
      unit_name                 text NOT NULL,
      region_code               text NOT NULL CHECK (region_code ~ '^[0-9]{6}$'),
      biz_ref                   text NOT NULL,
      notice_type               smallint NOT NULL CHECK (notice_type IN (1, 2, 9)),
      status                    text NOT NULL CHECK (status IN ('ISSUED', 'PAID', 'VOIDED', 'EXPIRED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
      payer_name                text NOT NULL,
      payer_id_number_encrypted text,
      payer_id_number_masked    text,
      payer_mobile_encrypted    text,
      payer_mobile_masked       text,
      total_amount              numeric(18, 2) NOT NULL CHECK (total_amount >= 0),
      due_date                  date NOT NULL,
      expire_date               date,
      remark                    text,
      paid_at                   timestamptz,
      paid_amount               numeric(18, 2) CHECK (paid_amount >= 0),
      late_fee_paid             numeric(18, 2) CHECK (late_fee_paid >= 0),
      receipt_no                text,
      voided_at                 timestamptz,
      void_reason               text,
      created_at                timestamptz NOT NULL,
      updated_at                timestamptz NOT NULL,
      CHECK (expire_date IS NULL OR expire_date >= due_date),
      CHECK ((payer_id_number_encrypted IS NULL) = (payer_id_number_masked IS NULL)),
      CHECK ((payer_mobile_encrypted IS NULL) = (payer_mobile_masked IS NULL)),
      -- A paid notice (and one refunded after payment) has its payment's figures; no other has.
      CHECK ((status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')) = (paid_at IS NOT NULL)),
      CHECK ((paid_at IS NULL) = (paid_amount IS NULL) AND (paid_at IS NULL) = (late_fee_paid IS NULL)),
      CHECK (receipt_no IS NULL OR paid_at IS NOT NULL),
      CHECK ((status = 'VOIDED') = (voided_at IS NOT NULL)),
      CHECK ((voided_at IS NULL) = (void_reason IS NULL))
    );
    -- Verification and the posting find a notice by its code.
    CREATE UNIQUE INDEX notices_pay_code ON notices (pay_code);
    -- A unit's list, in id order (docs/interface.md §5).
    CREATE INDEX notices_unit_party_id_id ON notices (unit_party_id, id);
    -- The expire-notices job reads only ISSUED notices that can expire.
    CREATE INDEX notices_issued_expire_date ON notices (expire_date) WHERE status = 'ISSUED' AND expire_date IS NOT NULL;

    CREATE TABLE notice_items (
      notice_id            bigint NOT NULL REFERENCES notices (id),
      position             smallint NOT NULL CHECK (position BETWEEN 0 AND 49),
      item_id              bigint NOT NULL REFERENCES items (id),
      item_version         integer NOT NULL CHECK (item_version >= 1),
      item_code            text NOT NULL,
      item_name            text NOT NULL,
      income_sort_code     text NOT NULL,
      budget_level         smallint NOT NULL CHECK (budget_level BETWEEN 0 AND 5),
      sharing_rule_code    text,
      receiving_account_no text NOT NULL,
      quantity             integer NOT NULL CHECK (quantity BETWEEN 1 AND 9999),
      amount               numeric(18, 2) NOT NULL CHECK (amount >= 0),
      pricing_type         text NOT NULL CHECK (pricing_type IN ('FIXED', 'RANGE')),
      fixed_amount         numeric(18, 2),
      min_amount           numeric(18, 2),
      max_amount           numeric(18, 2),
      late_fee_type        text NOT NULL CHECK (late_fee_type IN ('NONE', 'DAILY_RATE')),
      rate_per_day         numeric(12, 6),
      cap_ratio            numeric(9, 4),
      late_fee_paid        numeric(18, 2) CHECK (late_fee_paid >= 0),
      PRIMARY KEY (notice_id, position),
      CHECK ((budget_level = 0) = (sharing_rule_code IS NOT NULL)),
      CHECK (
        (pricing_type = 'FIXED' AND fixed_amount IS NOT NULL AND min_amount IS NULL AND max_amount IS NULL)
        OR (pricing_type = 'RANGE' AND fixed_amount IS NULL AND min_amount IS NOT NULL AND max_amount IS NOT NULL)
      ),
      CHECK (
        (late_fee_type = 'NONE' AND rate_per_day IS NULL AND cap_ratio IS NULL)
        OR (late_fee_type = 'DAILY_RATE' AND rate_per_day IS NOT NULL AND cap_ratio IS NOT NULL)
      )
    );
    CREATE INDEX notice_items_item_id ON notice_items (item_id);

    -- The idempotency key of notice creation (docs/interface.md §4): (unit, bizRef), kept forever, with
    -- the fingerprint of the request that bound it. It lives apart from notices so that it stays a
    -- plain unique key however the notices table is partitioned later (a unique index on a
    -- partitioned table must contain the partition key). Not a foreign key to notices for the same
    -- reason; both rows are written by one statement.
    CREATE TABLE notice_keys (
      unit_party_id bigint NOT NULL REFERENCES parties (id),
      biz_ref       text NOT NULL,
      request_hash  text NOT NULL CHECK (request_hash ~ '^[0-9a-f]{64}$'),
      notice_id     bigint NOT NULL UNIQUE,
      created_at    timestamptz NOT NULL,
      PRIMARY KEY (unit_party_id, biz_ref)
    );
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
