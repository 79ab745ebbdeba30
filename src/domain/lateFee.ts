/**
 * Late fees (滞纳金 / 加处罚款, docs/lifecycle.md §2).
 *
 *   daysLate = max(0, D − dueDate)     D = the Asia/Shanghai date of the reference instant
 *   fee_item = min(round_half_up(amount × ratePerDay × daysLate, 2),
 *                  round_half_up(amount × capRatio, 2))
 *   lateFee  = Σ fee_item              amountDue = totalAmount + lateFee
 *
 * Each item is rounded on its own before the sum, because the late fee of an item is revenue of
 * that item (its receiving account and budget level) and must be a whole number of fen there.
 * Callers turn the reference instant into its date with `shanghaiDate` (now on the business
 * clock for lookups, `paidAt` for a payment): a payer who pays at 23:30 on the due date is not late.
 */
import type { Decimal as DecimalJs } from 'decimal.js';
import { daysBetween } from './businessDate';
import { assert } from './errors';
import { Decimal, MONEY_DECIMALS, sumMoney, ZERO } from './money';

export { daysBetween } from './businessDate';

export type LateFeeRule =
  | { type: 'NONE' }
  | { type: 'DAILY_RATE'; ratePerDay: DecimalJs; capRatio: DecimalJs };

export interface LateFeeItem {
  amount: DecimalJs;
  rule: LateFeeRule;
}

/** Whole days after the due date; paying on the due date itself is on time. */
export function daysLate(dueDate: string, referenceDate: string): number {
  return Math.max(0, daysBetween(dueDate, referenceDate));
}

export function lateFeeForItem(input: {
  amount: DecimalJs;
  rule: LateFeeRule;
  dueDate: string;
  referenceDate: string;
}): Decimal {
  const amount = new Decimal(input.amount);
  assert(
    amount.isFinite() && !amount.isNegative() && amount.decimalPlaces() <= MONEY_DECIMALS,
    `an item amount is non-negative money, got ${amount.toString()}`,
  );
  const days = daysLate(input.dueDate, input.referenceDate);
  const { rule } = input;
  switch (rule.type) {
    case 'NONE':
      return ZERO;
    case 'DAILY_RATE': {
      const ratePerDay = new Decimal(rule.ratePerDay);
      const capRatio = new Decimal(rule.capRatio);
      assert(ratePerDay.isFinite() && !ratePerDay.isNegative(), 'ratePerDay is non-negative');
      assert(capRatio.isFinite() && !capRatio.isNegative(), 'capRatio is non-negative');
      // The Decimal constructor carries 64 significant digits, so both products are exact and
      // each is rounded once, half up, as the rule says.
      const accrued = amount.times(ratePerDay).times(days).toDecimalPlaces(MONEY_DECIMALS, Decimal.ROUND_HALF_UP);
      return Decimal.min(accrued, lateFeeCap(amount, rule));
    }
    default: {
      const unknown: never = rule;
      throw new Error(`invariant broken: unknown late-fee rule ${JSON.stringify(unknown)}`);
    }
  }
}

/** The most an item's late fee can ever reach: its cap, round_half_up(amount × capRatio, 2). */
export function lateFeeCap(amount: DecimalJs, rule: LateFeeRule): Decimal {
  if (rule.type === 'NONE') return ZERO;
  return new Decimal(amount).times(rule.capRatio).toDecimalPlaces(MONEY_DECIMALS, Decimal.ROUND_HALF_UP);
}

/** The late fee of each item, in the order given, and their exact sum. */
export function lateFeeForNotice(
  items: readonly LateFeeItem[],
  dueDate: string,
  referenceDate: string,
): { perItem: Decimal[]; total: Decimal } {
  const perItem = items.map((item) => lateFeeForItem({ amount: item.amount, rule: item.rule, dueDate, referenceDate }));
  return { perItem, total: sumMoney(perItem) };
}

/** What a notice costs at the reference date: its items, their late fees, and the sum of both. */
export function amountDueForNotice(
  items: readonly LateFeeItem[],
  dueDate: string,
  referenceDate: string,
): { totalAmount: Decimal; lateFee: Decimal; amountDue: Decimal; perItemLateFee: Decimal[] } {
  const totalAmount = sumMoney(items.map((item) => item.amount));
  const { perItem, total } = lateFeeForNotice(items, dueDate, referenceDate);
  return { totalAmount, lateFee: total, amountDue: totalAmount.plus(total), perItemLateFee: perItem };
}
