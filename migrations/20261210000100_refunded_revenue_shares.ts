import type { Knex } from 'knex';

/**
 * Revenue taken back by bank refunds, per payment item and budget level (docs/settlement.md §4,
 * contracts/decisions/0215-refunded-revenue-shares.md): when a refund paid out of a receiving
 * account succeeds, the per item shares its BANK_REFUND_CONFIRMED entry debited from the
 * `revenue:{acct}:{level}:{code}` accounts are stored here, beside the entry, in the same
 * transaction — the counterpart of settled_revenue_shares (migration 20261203000200). The
 * revenue report's `byLevel` is the settled shares less these, so it holds what the revenue
 * accounts hold.
 *
 * One row per (refund, notice line, share): `instruction_id` is the confirmed refund instruction
 * that debited the line's receiving account (one per account, decision 0170); `share_position` is
 * the share's place in the line's split (0 for an unshared item). `amount` may be zero or, for
 * the remainder of a split of a few fen, negative (src/domain/ledger.ts splitByRatios).
 * Append-only, like the ledger.
 *
 * Bank refunds that succeeded before this table existed get their shares here, recomputed in SQL
 * with the rule their entry was built by (BACKFILL_REFUNDED_SHARES); `ledger verify`
 * (`refundedShares`) then ties them to those entries per revenue account.
 */

/**
 * The shares of every SUCCEEDED refund with a BANK_REFUND_CONFIRMED entry, as refundSucceeded
 * (src/services/refunds.ts) computes them: per CONFIRMED instruction of the refund, its amount
 * spread over the payment's earning items of its account in proportion to what each earned (every
 * item but the last ROUND_HALF_UP to the fen, the last the remainder: spreadInProportion; a part
 * of 0.00 dropped), then a level 0 item's part split by the shares the notice kept (every share but
 * the last ROUND_HALF_UP, the last the remainder: splitByRatios). PostgreSQL's round(numeric, 2)
 * rounds half away from zero, which is ROUND_HALF_UP for these non-negative amounts; the quotient is
 * taken at scale 30, finer than any distance between a quotient of money and a half fen.
 * Exported so that a test compares it with what the service stores.
 */
export const BACKFILL_REFUNDED_SHARES = `
  WITH refunds_booked AS (
    SELECT r.id AS refund_id, r.payment_id, r.succeeded_at
      FROM refunds r
     WHERE r.status = 'SUCCEEDED'
       AND EXISTS (SELECT 1 FROM journal_entries e WHERE e.refund_id = r.id AND e.kind = 'BANK_REFUND_CONFIRMED')
  ), items AS (
    SELECT b.refund_id, b.payment_id, b.succeeded_at, i.id AS instruction_id, i.amount AS refunded,
           n.notice_id, n.position AS line_position, n.budget_level,
           n.amount + COALESCE(n.late_fee_paid, 0) AS earned,
           sum(n.amount + COALESCE(n.late_fee_paid, 0)) OVER account_items AS earned_total,
           row_number() OVER account_items_ordered AS k,
           count(*) OVER account_items AS items
      FROM refunds_booked b
      JOIN instructions i ON i.refund_id = b.refund_id AND i.type = 'REFUND' AND i.status = 'CONFIRMED'
      JOIN payments p ON p.id = b.payment_id
      JOIN notice_items n ON n.notice_id = p.notice_id AND n.receiving_account_no = i.debit_account_no
     WHERE n.amount + COALESCE(n.late_fee_paid, 0) > 0
    WINDOW account_items AS (PARTITION BY b.refund_id, i.id),
           account_items_ordered AS (PARTITION BY b.refund_id, i.id ORDER BY n.position)
  ), rounded AS (
    SELECT x.*, round((x.refunded * x.earned)::numeric(60, 30) / x.earned_total, 2) AS rounded_part FROM items x
  ), parts AS (
    SELECT r.*,
           CASE WHEN r.k < r.items THEN r.rounded_part
                ELSE r.refunded - COALESCE(sum(r.rounded_part) FILTER (WHERE r.k < r.items) OVER (PARTITION BY r.refund_id, r.instruction_id), 0) END AS part
      FROM rounded r
  ), shared AS (
    SELECT p.refund_id, p.instruction_id, p.payment_id, p.line_position, p.succeeded_at, p.part,
           s.position AS share_position, s.budget_level, s.ratio,
           round(p.part * s.ratio, 2) AS rounded_share,
           row_number() OVER (PARTITION BY p.refund_id, p.line_position ORDER BY s.position) AS j,
           count(*) OVER (PARTITION BY p.refund_id, p.line_position) AS shares
      FROM parts p
      JOIN notice_item_shares s ON s.notice_id = p.notice_id AND s.line_position = p.line_position
     WHERE p.budget_level = 0 AND p.part > 0
  )
  SELECT refund_id, instruction_id, payment_id, line_position, 0::smallint AS share_position, budget_level, part AS amount, succeeded_at AS refunded_at
    FROM parts WHERE budget_level <> 0 AND part > 0
  UNION ALL
  SELECT refund_id, instruction_id, payment_id, line_position, (j - 1)::smallint AS share_position, budget_level,
         CASE WHEN j < shares THEN rounded_share
              ELSE part - COALESCE(sum(rounded_share) FILTER (WHERE j < shares) OVER (PARTITION BY refund_id, line_position), 0) END AS amount,
         succeeded_at AS refunded_at
    FROM shared`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE refunded_revenue_shares (
      refund_id      bigint NOT NULL REFERENCES refunds (id),
      instruction_id bigint NOT NULL REFERENCES instructions (id),
      payment_id     bigint NOT NULL,
      line_position  smallint NOT NULL,
      share_position smallint NOT NULL CHECK (share_position BETWEEN 0 AND 4),
      budget_level   smallint NOT NULL CHECK (budget_level BETWEEN 1 AND 5),
      amount         numeric(18, 2) NOT NULL,
      refunded_at    timestamptz NOT NULL,
      PRIMARY KEY (refund_id, line_position, share_position)
    );
    -- The revenue report reads them by payment.
    CREATE INDEX refunded_revenue_shares_payment ON refunded_revenue_shares (payment_id);
    CREATE TRIGGER refunded_revenue_shares_append_only BEFORE UPDATE OR DELETE ON refunded_revenue_shares
      FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
    CREATE TRIGGER refunded_revenue_shares_no_truncate BEFORE TRUNCATE ON refunded_revenue_shares
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
  `);
  await knex.raw(`
    INSERT INTO refunded_revenue_shares (refund_id, instruction_id, payment_id, line_position, share_position, budget_level, amount, refunded_at)
    SELECT refund_id, instruction_id, payment_id, line_position, share_position, budget_level, amount, refunded_at FROM (${BACKFILL_REFUNDED_SHARES}) b`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
