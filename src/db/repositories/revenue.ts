import type { Knex } from 'knex';
import type { Queryable } from '../database';

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

export interface NewRefundedRevenueShare {
  /** The confirmed refund instruction that debited the line's receiving account. */
  instructionId: string;
  linePosition: number;
  sharePosition: number;
  budgetLevel: number;
  /** Money as a decimal string. */
  amount: string;
}

/**
 * Stores what a bank refund took back from the revenue accounts, per notice line and share
 * (migration 20261210000100), in the refund's success transaction. A refund has at most a notice's
 * lines times five shares: one statement.
 */
export async function insertRefundedRevenueShares(trx: Knex.Transaction, input: { refundId: string; paymentId: string; refundedAt: Date; shares: readonly NewRefundedRevenueShare[] }): Promise<void> {
  if (input.shares.length === 0) return;
  await trx.raw(
    `INSERT INTO refunded_revenue_shares (refund_id, instruction_id, payment_id, line_position, share_position, budget_level, amount, refunded_at)
     SELECT ?::bigint, s.instruction_id, ?::bigint, s.line_position, s.share_position, s.budget_level, s.amount, ?::timestamptz
       FROM unnest(?::bigint[], ?::smallint[], ?::smallint[], ?::smallint[], ?::numeric[]) AS s (instruction_id, line_position, share_position, budget_level, amount)`,
    [
      input.refundId,
      input.paymentId,
      input.refundedAt,
      input.shares.map((share) => share.instructionId),
      input.shares.map((share) => share.linePosition),
      input.shares.map((share) => share.sharePosition),
      input.shares.map((share) => share.budgetLevel),
      input.shares.map((share) => share.amount),
    ],
  );
}

// ---- the revenue report (docs/settlement.md §4) -----------------------------------------------

/**
 * The SQL of each key column, over `p` (payments), `t` (notices) and `n` (notice_items). Names
 * (itemName, unitName) are not keys: they are read beside the codes — for an item its latest
 * version's name, from the catalogue, whatever version the range's notices were issued under, so
 * every report names a code alike (a notice line keeps the name it was issued under; the
 * catalogue has every item a notice names).
 */
const KEY_SQL: Record<string, string> = {
  itemCode: 'n.item_code',
  incomeSortCode: 'n.income_sort_code',
  budgetLevel: 'n.budget_level::int',
  unitCode: 't.unit_code',
  regionCode: 't.region_code',
  agencyCode: 'p.agency_code',
  receivingAccountNo: 'n.receiving_account_no',
  businessDate: "to_char(p.business_date, 'YYYY-MM-DD')",
};
const NAME_SQL: Record<string, string> = {
  itemName: '(SELECT i.name FROM items i WHERE i.code = n.item_code)',
  unitName: 'min(t.unit_name)',
};

/** An applied payment that still stands (backfills included, UNAPPLIED and REVERSED excluded). */
const APPLIED_PAYMENT = "p.unapplied_reason IS NULL AND p.status <> 'REVERSED'";

function keySelect(keys: readonly string[]): { select: string; groupBy: string } {
  for (const key of keys) if (KEY_SQL[key] === undefined) throw new Error(`invariant broken: unknown report key ${key}`);
  return {
    select: keys.map((key) => `${KEY_SQL[key]} AS "${key}"`).join(', '),
    groupBy: keys.map((key) => KEY_SQL[key]).join(', '),
  };
}

export type ReportGroupRow = Record<string, string | number | null>;

/**
 * Collected money per group: the items (amount and late fee) of the standing applied payments
 * whose business date is in [from, to], and how many payments. `keys` are the identifying columns
 * (codes), `names` the names read beside them.
 */
export async function collectedByGroup(db: Queryable, input: { keys: readonly string[]; names: readonly string[]; from: string; to: string }): Promise<Array<ReportGroupRow & { payment_count: number; collected: string }>> {
  const { select, groupBy } = keySelect(input.keys);
  const names = input.names.map((name) => `${NAME_SQL[name] as string} AS "${name}"`);
  const result = await db.raw<{ rows: Array<ReportGroupRow & { payment_count: number; collected: string }> }>(
    `SELECT ${[select, ...names].filter((part) => part !== '').join(', ')}${select === '' && names.length === 0 ? '' : ','}
            count(DISTINCT p.id)::int AS payment_count, sum(n.amount + COALESCE(n.late_fee_paid, 0))::text AS collected
       FROM payments p
       JOIN notices t ON t.id = p.notice_id
       JOIN notice_items n ON n.notice_id = p.notice_id
      WHERE ${APPLIED_PAYMENT} AND p.business_date BETWEEN ?::date AND ?::date
      ${groupBy === '' ? '' : `GROUP BY ${groupBy}`}`,
    [input.from, input.to],
  );
  return result.rows.filter((row) => row.collected !== null);
}

/**
 * Money per group and budget level from a table of shares (one row per payment line and share):
 * `settled_revenue_shares`, what confirmed settlements recognised, or `refunded_revenue_shares`,
 * what bank refunds took back (decision 0215) — of payments whose business date is in [from, to].
 * A settled share carries its payments' business date (its settlement's), indexed: the range is
 * named on the share too, so the report reads the shares of its dates, not every share ever stored
 * (contracts/decisions/0217-index-audit.md). A refunded share is found through its payment.
 */
async function sharesByGroup(db: Queryable, table: 'settled_revenue_shares' | 'refunded_revenue_shares', input: { keys: readonly string[]; from: string; to: string }): Promise<Array<ReportGroupRow & { share_level: number; amount: string }>> {
  const { select, groupBy } = keySelect(input.keys);
  const sharesOfDates = table === 'settled_revenue_shares' ? ' AND r.business_date BETWEEN ?::date AND ?::date' : '';
  const result = await db.raw<{ rows: Array<ReportGroupRow & { share_level: number; amount: string }> }>(
    `SELECT ${select}${select === '' ? '' : ','} r.budget_level::int AS share_level, sum(r.amount)::text AS amount
       FROM ${table} r
       JOIN payments p ON p.id = r.payment_id
       JOIN notices t ON t.id = p.notice_id
       JOIN notice_items n ON n.notice_id = p.notice_id AND n.position = r.line_position
      WHERE p.business_date BETWEEN ?::date AND ?::date${sharesOfDates}
      GROUP BY ${groupBy === '' ? '' : `${groupBy}, `}r.budget_level`,
    sharesOfDates === '' ? [input.from, input.to] : [input.from, input.to, input.from, input.to],
  );
  return result.rows;
}

/** Settled money per group and recognised budget level: the stored shares of payments whose business date is in [from, to]. */
export async function settledByGroup(db: Queryable, input: { keys: readonly string[]; from: string; to: string }): Promise<Array<ReportGroupRow & { share_level: number; settled: string }>> {
  return (await sharesByGroup(db, 'settled_revenue_shares', input)).map(({ amount, ...row }) => ({ ...row, settled: amount }));
}

/**
 * Revenue taken back per group and budget level: the shares bank refunds stored of payments whose
 * business date is in [from, to] — the same money, per line and share, that their
 * BANK_REFUND_CONFIRMED entries debited from the revenue accounts.
 */
export async function refundedSharesByGroup(db: Queryable, input: { keys: readonly string[]; from: string; to: string }): Promise<Array<ReportGroupRow & { share_level: number; refunded: string }>> {
  return (await sharesByGroup(db, 'refunded_revenue_shares', input)).map(({ amount, ...row }) => ({ ...row, refunded: amount }));
}

/**
 * The refunds not paid out of a receiving account — SUCCEEDED refunds without refunded shares: the
 * agency's, paid before the money settled — of standing applied payments whose business date is in
 * [from, to]: one row per payment and earning item (amount and late fee above zero), in item
 * order, with the payment's total of such refunds and what the item earned. The caller spreads
 * each payment's total over its items; the parts of successive agency refunds telescope
 * (src/services/refunds.ts agencyRefundParts), so this is exactly what their entries took from
 * each item. Bank refunds are counted from their stored shares (refundedSharesByGroup). The
 * refunds are summed of the range's payments only: summed first over every SUCCEEDED refund, the
 * report read all of them whatever its dates (contracts/decisions/0217-index-audit.md).
 */
export async function refundedItems(db: Queryable, input: { keys: readonly string[]; from: string; to: string }): Promise<Array<ReportGroupRow & { payment_id: string; refund_amount: string; earned: string }>> {
  const { select } = keySelect(input.keys);
  const result = await db.raw<{ rows: Array<ReportGroupRow & { payment_id: string; refund_amount: string; earned: string }> }>(
    `SELECT ${select}${select === '' ? '' : ','} p.id::text AS payment_id, f.amount::text AS refund_amount, (n.amount + COALESCE(n.late_fee_paid, 0))::text AS earned
       FROM (SELECT r.payment_id, sum(r.amount) AS amount
               FROM payments q JOIN refunds r ON r.payment_id = q.id
              WHERE q.business_date BETWEEN ?::date AND ?::date
                AND r.status = 'SUCCEEDED' AND NOT EXISTS (SELECT 1 FROM refunded_revenue_shares s WHERE s.refund_id = r.id)
              GROUP BY r.payment_id) f
       JOIN payments p ON p.id = f.payment_id
       JOIN notices t ON t.id = p.notice_id
       JOIN notice_items n ON n.notice_id = p.notice_id
      WHERE ${APPLIED_PAYMENT} AND p.business_date BETWEEN ?::date AND ?::date AND n.amount + COALESCE(n.late_fee_paid, 0) > 0
      ORDER BY p.id, n.position`,
    [input.from, input.to, input.from, input.to],
  );
  return result.rows;
}

/**
 * What write-offs took from pending revenue (decision 0211), of standing applied payments whose
 * business date is in [from, to]: one row per WRITE_OFF entry's debit of a receiving account's
 * `revenue_pending` and per earning item of the payment in that account (amount and late fee above
 * zero), in entry, account and item order, with the debit and what the item earned. The caller
 * spreads each debit over its items, so per receiving account the figures are exactly what the
 * entries booked. A write-off of unapplied money (its suspense) is no revenue's and is not here.
 * Read from the discrepancies resolved by WRITE_OFF, each entry by journal_entries_once_per_discrepancy,
 * never by a scan of the journal.
 */
export async function writtenOffItems(db: Queryable, input: { keys: readonly string[]; from: string; to: string }): Promise<Array<ReportGroupRow & { entry_id: string; account: string; part: string; earned: string }>> {
  const { select } = keySelect(input.keys);
  const result = await db.raw<{ rows: Array<ReportGroupRow & { entry_id: string; account: string; part: string; earned: string }> }>(
    `SELECT ${select}${select === '' ? '' : ','} e.id::text AS entry_id, l.account, l.amount::text AS part, (n.amount + COALESCE(n.late_fee_paid, 0))::text AS earned
       FROM reconciliation_discrepancies d
       JOIN journal_entries e ON e.discrepancy_id = d.id AND e.kind = 'WRITE_OFF'
       JOIN payments p ON p.id = d.payment_id
       JOIN notices t ON t.id = p.notice_id
       JOIN notice_items n ON n.notice_id = p.notice_id
       JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'DEBIT' AND l.account = 'revenue_pending:' || n.receiving_account_no
      WHERE d.resolution_action = 'WRITE_OFF' AND ${APPLIED_PAYMENT} AND p.business_date BETWEEN ?::date AND ?::date AND n.amount + COALESCE(n.late_fee_paid, 0) > 0
      ORDER BY e.id, l.account, n.position`,
    [input.from, input.to],
  );
  return result.rows;
}
