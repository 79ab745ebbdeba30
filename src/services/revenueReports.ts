import type { Db } from '../db/database';
import { collectedByGroup, refundedItems, settledByGroup } from '../db/repositories/revenue';
import { spreadInProportion } from '../domain/ledger';
import { Decimal } from '../domain/money';
import {
  assembleRevenueRows,
  type CollectedFact,
  GROUP_COLUMNS,
  type GroupValues,
  type RefundedFact,
  type RevenueReportQuery,
  type RevenueReportRow,
  revenueReportCsv,
  type SettledFact,
} from '../domain/revenueReport';

export interface RevenueReportDependencies {
  db: Db;
}

/**
 * The revenue report (docs/settlement.md §4, contracts/decisions/0156-revenue-report.md) for
 * finance, by any grouping, on the payments' business dates: `collected` from the standing applied
 * payments' items, `refunded` from SUCCEEDED refunds spread over their payment's items (half-up,
 * the remainder on the last item, like the ledger's refund entries), `settled` and `byLevel` from
 * the shares confirmed settlements stored (settled_revenue_shares, decision 0155). One read-only
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
        const refunded = spreadRefunds(await refundedItems(trx, { keys, from: query.from, to: query.to }), keys);
        return assembleRevenueRows(query.groupBy, { collected, settled, refunded });
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

/** Each refund spread over its payment's items in proportion to what they earned (spreadInProportion), each part to its item's group. */
function spreadRefunds(rows: ReadonlyArray<Record<string, unknown> & { refund_id: string; refund_amount: string; earned: string }>, keys: readonly string[]): RefundedFact[] {
  const facts: RefundedFact[] = [];
  let start = 0;
  while (start < rows.length) {
    let end = start;
    while (end < rows.length && rows[end]?.refund_id === rows[start]?.refund_id) end += 1;
    const items = rows.slice(start, end);
    const parts = spreadInProportion(new Decimal((items[0] as { refund_amount: string }).refund_amount), items.map((item) => new Decimal(item.earned)));
    items.forEach((item, index) => facts.push({ group: groupValues(item, keys), refunded: parts[index] as Decimal }));
    start = end;
  }
  return facts;
}
