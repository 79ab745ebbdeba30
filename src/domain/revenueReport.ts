/**
 * The revenue report (docs/settlement.md §4, contracts/decisions/0156-revenue-report.md): its
 * query, how the figures of one group are put together, and the CSV. Pure: the facts come from the
 * database (src/db/repositories/revenue.ts), grouped there.
 */
import { isValidDate } from './businessDate';
import { type FieldProblem, validationFailed } from './errors';
import { type Decimal, formatMoney, ZERO } from './money';

/** What a report may be grouped by, in the order docs/settlement.md §4 lists them. */
export const REVENUE_GROUP_KEYS = ['item', 'incomeSortCode', 'budgetLevel', 'unit', 'region', 'agency', 'receivingAccount', 'businessDate'] as const;
export type RevenueGroupKey = (typeof REVENUE_GROUP_KEYS)[number];

/** The budget levels revenue is recognised at (level 0 is split into these). */
export const RECOGNISED_BUDGET_LEVELS = [1, 2, 3, 4, 5] as const;

/**
 * The columns each grouping key puts in a row, in order: its code and, where the code has a
 * Chinese name finance reads (an item, a unit), the name beside it.
 */
export const GROUP_COLUMNS: Record<RevenueGroupKey, readonly string[]> = {
  item: ['itemCode', 'itemName'],
  incomeSortCode: ['incomeSortCode'],
  budgetLevel: ['budgetLevel'],
  unit: ['unitCode', 'unitName'],
  region: ['regionCode'],
  agency: ['agencyCode'],
  receivingAccount: ['receivingAccountNo'],
  businessDate: ['businessDate'],
};

export const FIGURE_COLUMNS = ['paymentCount', 'collected', 'refunded', 'net', 'settled'] as const;

/** The figures given per budget level 1–5, after FIGURE_COLUMNS, in this order (CSV: `byLevel.1` … `refundedByLevel.5`). */
export const LEVEL_FIGURES = ['byLevel', 'refundedByLevel'] as const;

/**
 * Figures added later, after the level columns in the CSV so that no earlier column moves
 * (decision 0211): `writtenOff`.
 */
export const LATER_FIGURE_COLUMNS = ['writtenOff'] as const;

export type RevenueReportFormat = 'json' | 'csv';

export interface RevenueReportQuery {
  from: string;
  to: string;
  groupBy: RevenueGroupKey[];
  format: RevenueReportFormat;
}

/**
 * Validates the query (VALIDATION_FAILED naming each bad parameter): `from` and `to` dates with
 * from ≤ to, `groupBy` a comma list of distinct known keys (empty or absent: one row of totals),
 * `format` json (the default) or csv.
 */
export function parseRevenueReportQuery(query: Record<string, unknown>): RevenueReportQuery {
  const problems: FieldProblem[] = [];
  const date = (name: 'from' | 'to'): string => {
    const value = query[name];
    if (!isValidDate(value)) problems.push({ path: `/query/${name}`, problem: 'must be a date YYYY-MM-DD' });
    return typeof value === 'string' ? value : '';
  };
  const from = date('from');
  const to = date('to');
  if (problems.length === 0 && from > to) problems.push({ path: '/query/from', problem: `must not be after to (${to})` });
  const groupBy: RevenueGroupKey[] = [];
  const rawGroupBy = query.groupBy;
  if (rawGroupBy !== undefined && typeof rawGroupBy !== 'string') {
    problems.push({ path: '/query/groupBy', problem: 'must be one comma-separated list' });
  } else if (rawGroupBy !== undefined && rawGroupBy !== '') {
    for (const key of rawGroupBy.split(',')) {
      if (!(REVENUE_GROUP_KEYS as readonly string[]).includes(key)) {
        problems.push({ path: '/query/groupBy', problem: `${JSON.stringify(key)} is not one of ${REVENUE_GROUP_KEYS.join(', ')}` });
      } else if (groupBy.includes(key as RevenueGroupKey)) {
        problems.push({ path: '/query/groupBy', problem: `${key} is listed twice` });
      } else {
        groupBy.push(key as RevenueGroupKey);
      }
    }
  }
  const format = query.format ?? 'json';
  if (format !== 'json' && format !== 'csv') problems.push({ path: '/query/format', problem: 'must be json or csv' });
  if (problems.length > 0) throw validationFailed(problems);
  return { from, to, groupBy, format: format as RevenueReportFormat };
}

/** A group's key values as the database answers them, by column (GROUP_COLUMNS). */
export type GroupValues = Record<string, string | number | null>;

/** Collected money of one group: applied payments' items (amount and late fee), backfills included. */
export interface CollectedFact {
  group: GroupValues;
  paymentCount: number;
  collected: string;
}

/** Settled money of one group at one recognised budget level (the stored shares). */
export interface SettledFact {
  group: GroupValues;
  budgetLevel: number;
  settled: string;
}

/**
 * Revenue a bank refund took back, of one group at one budget level: the shares its
 * BANK_REFUND_CONFIRMED entry debited from the revenue accounts, as stored (decision 0215).
 */
export interface RefundedShareFact {
  group: GroupValues;
  budgetLevel: number;
  refunded: string;
}

/** Refunded money of one group not taken from recognised revenue: the agency's refunds, spread over the payment's items. */
export interface RefundedFact {
  group: GroupValues;
  refunded: Decimal;
}

/**
 * Money of one group finance wrote off (a `WRITE_OFF` of a shortage or of what a statement lacks):
 * what its entry took from each receiving account's pending revenue, spread over the payment's
 * items of that account (decision 0211). It never reaches revenue.
 */
export interface WrittenOffFact {
  group: GroupValues;
  writtenOff: Decimal;
}

export interface RevenueReportRow {
  [column: string]: string | number | Record<string, string> | null;
  paymentCount: number;
  collected: string;
  refunded: string;
  writtenOff: string;
  net: string;
  settled: string;
  byLevel: Record<string, string>;
  refundedByLevel: Record<string, string>;
}

/** The key columns of a grouping, in order. */
export function keyColumns(groupBy: readonly RevenueGroupKey[]): string[] {
  return groupBy.flatMap((key) => GROUP_COLUMNS[key]);
}

/** The columns that identify a group (the codes; names ride along). */
function identityColumns(groupBy: readonly RevenueGroupKey[]): string[] {
  return groupBy.map((key) => (GROUP_COLUMNS[key] as readonly string[])[0] as string);
}

interface Accumulator {
  values: GroupValues;
  paymentCount: number;
  collected: Decimal;
  refunded: Decimal;
  writtenOff: Decimal;
  settledByLevel: Map<number, Decimal>;
  refundedByLevel: Map<number, Decimal>;
}

/**
 * Puts the facts together, one row per group, sorted by the group's codes in `groupBy` order
 * (budget levels numerically): `refunded` = the agency's refunds plus what bank refunds took back;
 * `writtenOff` = what write-offs took from pending revenue; `net` = collected − refunded −
 * writtenOff, the money that reaches or will reach revenue; `settled` = what confirmed settlements
 * recognised; `refundedByLevel` = what bank refunds took back from each level; `byLevel` = per level
 * the settled less the refunded shares — what the revenue accounts hold (decision 0215) —, so
 * `settled` = Σ byLevel + Σ refundedByLevel. Without a grouping the report is one row of totals,
 * zeros included.
 */
export function assembleRevenueRows(
  groupBy: readonly RevenueGroupKey[],
  facts: { collected: readonly CollectedFact[]; settled: readonly SettledFact[]; refunded: readonly RefundedFact[]; refundedShares: readonly RefundedShareFact[]; writtenOff?: readonly WrittenOffFact[] },
): RevenueReportRow[] {
  const identity = identityColumns(groupBy);
  const columns = keyColumns(groupBy);
  const groups = new Map<string, Accumulator>();
  const groupOf = (values: GroupValues): Accumulator => {
    const id = JSON.stringify(identity.map((column) => values[column] ?? null));
    let group = groups.get(id);
    if (group === undefined) {
      group = { values: Object.fromEntries(columns.map((column) => [column, values[column] ?? null])), paymentCount: 0, collected: ZERO, refunded: ZERO, writtenOff: ZERO, settledByLevel: new Map(), refundedByLevel: new Map() };
      groups.set(id, group);
    }
    for (const column of columns) if (group.values[column] === null && values[column] !== undefined && values[column] !== null) group.values[column] = values[column] as string | number;
    return group;
  };
  if (groupBy.length === 0) groupOf({});
  for (const fact of facts.collected) {
    const group = groupOf(fact.group);
    group.paymentCount += fact.paymentCount;
    group.collected = group.collected.plus(fact.collected);
  }
  for (const fact of facts.refunded) {
    const group = groupOf(fact.group);
    group.refunded = group.refunded.plus(fact.refunded);
  }
  for (const fact of facts.writtenOff ?? []) {
    const group = groupOf(fact.group);
    group.writtenOff = group.writtenOff.plus(fact.writtenOff);
  }
  for (const fact of facts.settled) {
    const group = groupOf(fact.group);
    group.settledByLevel.set(fact.budgetLevel, (group.settledByLevel.get(fact.budgetLevel) ?? ZERO).plus(fact.settled));
  }
  for (const fact of facts.refundedShares) {
    const group = groupOf(fact.group);
    group.refunded = group.refunded.plus(fact.refunded);
    group.refundedByLevel.set(fact.budgetLevel, (group.refundedByLevel.get(fact.budgetLevel) ?? ZERO).plus(fact.refunded));
  }
  const rows = [...groups.values()].sort((a, b) => {
    for (const column of identity) {
      const x = a.values[column];
      const y = b.values[column];
      if (x === y) continue;
      if (x === null) return -1;
      if (y === null) return 1;
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      return String(x) < String(y) ? -1 : 1;
    }
    return 0;
  });
  return rows.map((group) => {
    const byLevel: Record<string, string> = {};
    const refundedByLevel: Record<string, string> = {};
    let settled = ZERO;
    for (const level of RECOGNISED_BUDGET_LEVELS) {
      const recognised = group.settledByLevel.get(level) ?? ZERO;
      const takenBack = group.refundedByLevel.get(level) ?? ZERO;
      byLevel[String(level)] = formatMoney(recognised.minus(takenBack));
      refundedByLevel[String(level)] = formatMoney(takenBack);
      settled = settled.plus(recognised);
    }
    return {
      ...group.values,
      paymentCount: group.paymentCount,
      collected: formatMoney(group.collected),
      refunded: formatMoney(group.refunded),
      writtenOff: formatMoney(group.writtenOff),
      net: formatMoney(group.collected.minus(group.refunded).minus(group.writtenOff)),
      settled: formatMoney(settled),
      byLevel,
      refundedByLevel,
    };
  });
}

/** The UTF-8 byte order mark, so spreadsheet software reads the CSV's Chinese correctly. */
export const UTF8_BOM = '\uFEFF';

/**
 * The report as CSV (RFC 4180, CRLF line ends, UTF-8 with a BOM): a header row, then one line per
 * row in the JSON's column order, `byLevel` as the columns `byLevel.1` … `byLevel.5` and
 * `refundedByLevel` as `refundedByLevel.1` … `refundedByLevel.5`, then `writtenOff` last; money as
 * two-decimal strings. A field with a comma, quote or line break is quoted; a text field starting
 * with `=`, `+`, `-` or `@` is prefixed with `'` so no spreadsheet takes it for a formula, and a
 * text field of digits only (an account number, a code) is written `="…"` so none takes it for a
 * number (decision 0209).
 */
export function revenueReportCsv(groupBy: readonly RevenueGroupKey[], rows: readonly RevenueReportRow[]): string {
  const keys = keyColumns(groupBy);
  const header = [...keys, ...FIGURE_COLUMNS, ...LEVEL_FIGURES.flatMap((figure) => RECOGNISED_BUDGET_LEVELS.map((level) => `${figure}.${level}`)), ...LATER_FIGURE_COLUMNS];
  const lines = [header.map(csvField).join(',')];
  for (const row of rows) {
    const fields = [
      ...keys.map((column) => {
        const value = row[column];
        if (value === null || value === undefined) return '';
        return typeof value === 'number' ? String(value) : csvText(String(value));
      }),
      String(row.paymentCount),
      row.collected,
      row.refunded,
      row.net,
      row.settled,
      ...LEVEL_FIGURES.flatMap((figure) => RECOGNISED_BUDGET_LEVELS.map((level) => row[figure][String(level)] ?? '0.00')),
      row.writtenOff,
    ];
    lines.push(fields.map(csvField).join(','));
  }
  return `${UTF8_BOM}${lines.join('\r\n')}\r\n`;
}

/**
 * A text field as a spreadsheet must show it. One starting with `=`, `+`, `-` or `@` gets a `'`
 * so it is never a formula. One made only of digits — a bank account number, an income sort code,
 * a code with leading zeros — is written as the text formula `="…"`: opened as a number, a
 * spreadsheet drops its leading zeros and keeps only 15 significant digits, so a 19-digit account
 * number would turn into another number, silently (decision 0209). Digits only, so the formula
 * can hold nothing but the code itself.
 */
function csvText(value: string): string {
  if (/^[0-9]+$/.test(value)) return `="${value}"`;
  return /^[=+\-@]/.test(value) ? `'${value}` : value;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

