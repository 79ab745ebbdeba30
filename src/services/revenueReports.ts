import type { Db } from '../db/database';
import { collectedByGroup, refundedItems, refundedSharesByGroup, settledByGroup, writtenOffItems } from '../db/repositories/revenue';
import { spreadInProportion } from '../domain/ledger';
import { Decimal } from '../domain/money';
import {
  assembleRevenueRows,
  type CollectedFact,
  GROUP_COLUMNS,
  type GroupValues,
  type RefundedFact,
  type RefundedShareFact,
  type RevenueReportQuery,
  type RevenueReportRow,
  revenueReportCsv,
  type SettledFact,
  type WrittenOffFact,
} from '../domain/revenueReport';

export interface RevenueReportDependencies {
  db: Db;
}

/**
 * The revenue report (docs/settlement.md §4, contracts/decisions/0156-revenue-report.md) for
 * finance, by any grouping, on the payments' business dates: `collected` from the standing applied
 * payments' items, `refunded` from SUCCEEDED refunds exactly as their entries took them from the
 * items — a bank refund's stored shares (refunded_revenue_shares), the agency's refunds of a
 * payment spread over its earning items (half-up, the remainder on the last) —, `writtenOff` from the
 * WRITE_OFF entries' debits of pending revenue, each spread over the payment's items of its
 * receiving account (decision 0211), `settled` from the shares
 * confirmed settlements stored (settled_revenue_shares, decision 0155), `refundedByLevel` from the
 * shares bank refunds stored (refunded_revenue_shares, decision 0215) and `byLevel` the one less
 * the other — what the ledger's revenue accounts hold. One read-only
 * REPEATABLE READ snapshot, so the three figures of a row always describe the same moment.
 */
export class RevenueReportService {
  constructor(private readonly deps: RevenueReportDependencies) {}

  async rows(query: Pick<RevenueReportQuery, 'from' | 'to' | 'groupBy'>): Promise<RevenueReportRow[]> {
    const keys = query.groupBy.map((key) => (GROUP_COLUMNS[key] as readonly string[])[0] as string);
    const names = query.groupBy.flatMap((key) => GROUP_COLUMNS[key].slice(1));
    return this.deps.db.transaction(
      async (trx) => {
        const collected: CollectedFact[] = (await collectedByGroup(trx, { keys, names, from: query.from, to: query.to })).map((row) => ({
          group: groupValues(row, [...keys, ...names]),
          paymentCount: row.payment_count,
          collected: row.collected,
        }));
        const settled: SettledFact[] = (await settledByGroup(trx, { keys, from: query.from, to: query.to })).map((row) => ({ group: groupValues(row, keys), budgetLevel: row.share_level, settled: row.settled }));
        const refundedShares: RefundedShareFact[] = (await refundedSharesByGroup(trx, { keys, from: query.from, to: query.to })).map((row) => ({ group: groupValues(row, keys), budgetLevel: row.share_level, refunded: row.refunded }));
        const refunded = spreadRefunds(await refundedItems(trx, { keys, from: query.from, to: query.to }), keys);
        const writtenOff = spreadWriteOffs(await writtenOffItems(trx, { keys, from: query.from, to: query.to }), keys);
        return assembleRevenueRows(query.groupBy, { collected, settled, refunded, refundedShares, writtenOff });
      },
      { isolationLevel: 'repeatable read', readOnly: true },
    );
  }

  async csv(query: Pick<RevenueReportQuery, 'from' | 'to' | 'groupBy'>): Promise<string> {
    return revenueReportCsv(query.groupBy, await this.rows(query));
  }
}

function groupValues(row: Record<string, unknown>, columns: readonly string[]): GroupValues {
  return Object.fromEntries(columns.map((column) => [column, (row[column] ?? null) as string | number | null]));
}

/**
 * Each payment's agency refunds spread over its earning items in proportion to what they earned
 * (spreadInProportion: ROUND_HALF_UP to the fen, the last item the remainder), each part to its
 * item's group — what their AGENCY_REFUND_CONFIRMED entries took from each item, in total.
 */
function spreadRefunds(rows: ReadonlyArray<Record<string, unknown> & { payment_id: string; refund_amount: string; earned: string }>, keys: readonly string[]): RefundedFact[] {
  const facts: RefundedFact[] = [];
  let start = 0;
  while (start < rows.length) {
    let end = start;
    while (end < rows.length && rows[end]?.payment_id === rows[start]?.payment_id) end += 1;
    const items = rows.slice(start, end);
    const parts = spreadInProportion(new Decimal((items[0] as { refund_amount: string }).refund_amount), items.map((item) => new Decimal(item.earned)));
    items.forEach((item, index) => facts.push({ group: groupValues(item, keys), refunded: parts[index] as Decimal }));
    start = end;
  }
  return facts;
}

/**
 * Each WRITE_OFF entry's debit of a receiving account's pending revenue spread over the payment's
 * earning items of that account in proportion to what they earned (spreadInProportion: ROUND_HALF_UP
 * to the fen, the last item the remainder), each part to its item's group — so per receiving account
 * the parts add up to what the entries booked (decision 0211).
 */
function spreadWriteOffs(rows: ReadonlyArray<Record<string, unknown> & { entry_id: string; account: string; part: string; earned: string }>, keys: readonly string[]): WrittenOffFact[] {
  const facts: WrittenOffFact[] = [];
  let start = 0;
  while (start < rows.length) {
    let end = start;
    while (end < rows.length && rows[end]?.entry_id === rows[start]?.entry_id && rows[end]?.account === rows[start]?.account) end += 1;
    const items = rows.slice(start, end);
    const parts = spreadInProportion(new Decimal((items[0] as { part: string }).part), items.map((item) => new Decimal(item.earned)));
    items.forEach((item, index) => facts.push({ group: groupValues(item, keys), writtenOff: parts[index] as Decimal }));
    start = end;
  }
  return facts;
}
