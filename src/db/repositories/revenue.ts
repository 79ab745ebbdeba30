import type { Knex } from 'knex';

/**
 * Settled revenue by budget level (migration 20261203000200, docs/settlement.md §4): the shares a
 * confirmed settlement stored per payment item.
 */

export interface NewSettledRevenueShare {
  paymentId: string;
  linePosition: number;
  sharePosition: number;
  budgetLevel: number;
  /** Money as a decimal string. */
  amount: string;
}

/** Rows per INSERT: a settlement of many thousand items is written in a few statements, not one per row. */
const SHARES_PER_INSERT = 10_000;

/** Stores a confirmed settlement's shares, in the confirmation's transaction. */
export async function insertSettledRevenueShares(
  trx: Knex.Transaction,
  input: { instructionId: string; businessDate: string; recognisedAt: Date; shares: readonly NewSettledRevenueShare[] },
): Promise<void> {
  for (let start = 0; start < input.shares.length; start += SHARES_PER_INSERT) {
    const chunk = input.shares.slice(start, start + SHARES_PER_INSERT);
    await trx.raw(
      `INSERT INTO settled_revenue_shares (instruction_id, payment_id, line_position, share_position, budget_level, amount, business_date, recognised_at)
       SELECT ?::bigint, s.payment_id, s.line_position, s.share_position, s.budget_level, s.amount, ?::date, ?::timestamptz
         FROM unnest(?::bigint[], ?::smallint[], ?::smallint[], ?::smallint[], ?::numeric[]) AS s (payment_id, line_position, share_position, budget_level, amount)`,
      [
        input.instructionId,
        input.businessDate,
        input.recognisedAt,
        chunk.map((share) => share.paymentId),
        chunk.map((share) => share.linePosition),
        chunk.map((share) => share.sharePosition),
        chunk.map((share) => share.budgetLevel),
        chunk.map((share) => share.amount),
      ],
    );
  }
}
