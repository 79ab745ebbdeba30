import type { Knex } from 'knex';

/**
 * Revenue sharing (分成, docs/settlement.md §4, contracts/decisions/0155-settled-revenue-shares.md):
 * when a settlement is confirmed, each payment item it settled is stored per budget level — one
 * row for an item of levels 1–5, one row per snapshotted share (notice_item_shares, in its order)
 * for an item of level 0, split half-up with the remainder on the last share. Written in the
 * confirmation's own transaction, beside the SETTLEMENT_CONFIRMED journal entry whose revenue
 * lines they add up to (`ledger verify`: settledShares).
 *
 * `share_position` is the share's place in the item's split (0 for an unshared item). `amount` may
 * be zero or, for the remainder of a split of a few fen, negative: that is the rule as written
 * (src/domain/ledger.ts splitByRatios). `business_date` is the settlement's business date — the
 * date of every payment it settles —, which the revenue report filters on.
 *
 * Append-only, like the ledger: the database refuses UPDATE, DELETE and TRUNCATE; each settled
 * item's shares are keyed by (instruction, payment, line, share), so nothing is stored twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE settled_revenue_shares (
      instruction_id bigint NOT NULL,
      payment_id     bigint NOT NULL,
      line_position  smallint NOT NULL,
      share_position smallint NOT NULL CHECK (share_position BETWEEN 0 AND 4),
      budget_level   smallint NOT NULL CHECK (budget_level BETWEEN 1 AND 5),
      amount         numeric(18, 2) NOT NULL,
      business_date  date NOT NULL,
      recognised_at  timestamptz NOT NULL,
      PRIMARY KEY (instruction_id, payment_id, line_position, share_position),
      FOREIGN KEY (instruction_id, payment_id, line_position) REFERENCES instruction_payment_items (instruction_id, payment_id, line_position)
    );
    -- The revenue report reads a range of business dates.
    CREATE INDEX settled_revenue_shares_business_date ON settled_revenue_shares (business_date);
    CREATE TRIGGER settled_revenue_shares_append_only BEFORE UPDATE OR DELETE ON settled_revenue_shares
      FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
    CREATE TRIGGER settled_revenue_shares_no_truncate BEFORE TRUNCATE ON settled_revenue_shares
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
