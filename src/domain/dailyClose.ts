import { addDays } from './businessDate';
import { assert } from './errors';
import { DATE_PATTERN } from './identifiers';
import { Decimal, formatMoney } from './money';

/**
 * The daily close (日结, docs/settlement.md §5): what a sealed business date says, built from the
 * day's figures. Pure: the service reads the figures, hashes and signs what this builds.
 *
 * The content is exactly the documented shape, money as two-decimal strings, every list in a
 * fixed order, so its canonical JSON (RFC 8785) — the bytes hashed, signed and stored — depends on
 * the figures alone.
 */

/** The `previousCloseHash` of the first close: 64 zeros. */
export const GENESIS_CLOSE_HASH = '0'.repeat(64);

export const CLOSE_FIGURES = ['collected', 'unapplied', 'refunded', 'matched', 'held', 'settled', 'confirmed'] as const;
export type CloseFigure = (typeof CLOSE_FIGURES)[number];
export type CloseFigures = Record<CloseFigure, Decimal>;

export interface AgencyCloseFigures extends CloseFigures {
  agencyCode: string;
}

/** One account of the trial balance: its debits and credits from the first entry through the date. */
export interface TrialBalanceLine {
  account: string;
  debit: Decimal;
  credit: Decimal;
}

/** An entry meant for an earlier, sealed date and written on this one. */
export interface CloseAdjustment {
  entryId: string;
  forDate: string;
  amount: Decimal;
  /** The entry's kind (PAYMENT_SUCCEEDED, REVERSAL, …): what caused it. */
  reason: string;
}

type Money = string;

export interface CloseContent {
  businessDate: string;
  previousCloseHash: string;
  agencies: Array<{ agencyCode: string } & Record<CloseFigure, Money>>;
  totals: Record<CloseFigure, Money>;
  trialBalance: Array<{ account: string; debit: Money; credit: Money }>;
  adjustments: Array<{ entryId: string; forDate: string; amount: Money; reason: string }>;
}

export function zeroFigures(): CloseFigures {
  return { collected: new Decimal(0), unapplied: new Decimal(0), refunded: new Decimal(0), matched: new Decimal(0), held: new Decimal(0), settled: new Decimal(0), confirmed: new Decimal(0) };
}

function figuresText(figures: CloseFigures): Record<CloseFigure, Money> {
  return Object.fromEntries(CLOSE_FIGURES.map((figure) => [figure, formatMoney(figures[figure])])) as Record<CloseFigure, Money>;
}

/** Code-point order, the order RFC 8785 sorts keys in, so lists read like the canonical form. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The trial balance through `businessDate`: the previous close's (cumulative since the first
 * entry) plus the day's movements, per account. Accounts that never moved are absent.
 */
export function carryTrialBalance(previous: readonly TrialBalanceLine[], movements: readonly TrialBalanceLine[]): TrialBalanceLine[] {
  const byAccount = new Map<string, TrialBalanceLine>();
  for (const line of [...previous, ...movements]) {
    const known = byAccount.get(line.account);
    byAccount.set(line.account, known === undefined ? { ...line } : { account: line.account, debit: known.debit.plus(line.debit), credit: known.credit.plus(line.credit) });
  }
  return [...byAccount.values()].sort((a, b) => byCodePoint(a.account, b.account));
}

export function buildCloseContent(input: {
  businessDate: string;
  previousCloseHash: string;
  agencies: readonly AgencyCloseFigures[];
  trialBalance: readonly TrialBalanceLine[];
  adjustments: readonly CloseAdjustment[];
}): CloseContent {
  assert(DATE_PATTERN.test(input.businessDate), `a close's date is YYYY-MM-DD, got ${input.businessDate}`);
  assert(/^[0-9a-f]{64}$/.test(input.previousCloseHash), 'previousCloseHash is 64 lowercase hex digits');
  const agencies = [...input.agencies].sort((a, b) => byCodePoint(a.agencyCode, b.agencyCode));
  assert(new Set(agencies.map((agency) => agency.agencyCode)).size === agencies.length, 'each agency once in a close');
  const totals = zeroFigures();
  for (const agency of agencies) for (const figure of CLOSE_FIGURES) totals[figure] = totals[figure].plus(agency[figure]);
  const trialBalance = [...input.trialBalance].sort((a, b) => byCodePoint(a.account, b.account));
  const debits = trialBalance.reduce((sum, line) => sum.plus(line.debit), new Decimal(0));
  const credits = trialBalance.reduce((sum, line) => sum.plus(line.credit), new Decimal(0));
  assert(debits.eq(credits), `the trial balance of ${input.businessDate} balances (debits ${debits.toFixed(2)}, credits ${credits.toFixed(2)})`);
  const adjustments = [...input.adjustments].sort((a, b) => compareEntryIds(a.entryId, b.entryId));
  for (const adjustment of adjustments) assert(adjustment.forDate < input.businessDate, `adjustment ${adjustment.entryId} was meant for an earlier date`);
  return {
    businessDate: input.businessDate,
    previousCloseHash: input.previousCloseHash,
    agencies: agencies.map((agency) => ({ agencyCode: agency.agencyCode, ...figuresText(agency) })),
    totals: figuresText(totals),
    trialBalance: trialBalance.map((line) => ({ account: line.account, debit: formatMoney(line.debit), credit: formatMoney(line.credit) })),
    adjustments: adjustments.map((adjustment) => ({ entryId: adjustment.entryId, forDate: adjustment.forDate, amount: formatMoney(adjustment.amount), reason: adjustment.reason })),
  };
}

/** Entry ids are decimal bigints: shorter is smaller. */
function compareEntryIds(a: string, b: string): number {
  return a.length - b.length || byCodePoint(a, b);
}

/** The trial balance a stored close carries, back in numbers (the next close continues it). */
export function storedTrialBalance(content: CloseContent): TrialBalanceLine[] {
  return content.trialBalance.map((line) => ({ account: line.account, debit: new Decimal(line.debit), credit: new Decimal(line.credit) }));
}

/** What one verification of the chain found wrong, if anything. */
export interface CloseChainBreak {
  businessDate: string;
  problem: 'NOT_CONTIGUOUS' | 'PREVIOUS_HASH' | 'HASH' | 'SIGNATURE' | 'UNKNOWN_KEY' | 'CONTENT';
  detail: string;
}

/** The date after `date` (YYYY-MM-DD), on the calendar. */
export function nextDate(date: string): string {
  return addDays(date, 1);
}
