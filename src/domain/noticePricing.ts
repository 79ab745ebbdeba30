/**
 * What a notice may charge, when it may be paid, and why a posting does not apply
 * (docs/interface.md §6.2, docs/lifecycle.md §1 and §3.3). Pure: the service loads the catalogue items and
 * the notice and passes them in.
 */
import type { Decimal as DecimalJs } from 'decimal.js';
import { isValidDate } from './businessDate';
import { assert, type ErrorCode, TongfuError, validationFailed } from './errors';
import { QUANTITY_MAX, QUANTITY_MIN } from './identifiers';
import { lateFeeCap, type LateFeeRule } from './lateFee';
import { Decimal, MONEY_DECIMALS, SINGLE_AMOUNT_LIMIT, SINGLE_AMOUNT_MAX, sumMoney } from './money';
import type { NoticeStatus } from './stateMachines';

/** A notice has 1–50 items (docs/interface.md §6.2); the edge checks the count, this asserts it. */
export const ITEMS_PER_NOTICE_MAX = 50;

export type ItemPricing =
  | { type: 'FIXED'; amount: DecimalJs }
  | { type: 'RANGE'; min: DecimalJs; max: DecimalJs };

export type ItemStatus = 'ACTIVE' | 'INACTIVE';

/** A line of a notice being issued, with the catalogue item it names, to be priced. */
export interface LineToPrice {
  itemCode: string;
  /** The catalogue item as it is now; the notice snapshots it. */
  item: { pricing: ItemPricing; status: ItemStatus; lateFee: LateFeeRule };
  quantity: number;
  amount: DecimalJs;
}

function requireMoneyValue(value: DecimalJs, name: string): Decimal {
  const money = new Decimal(value);
  assert(
    money.isFinite() && !money.isNegative() && money.decimalPlaces() <= MONEY_DECIMALS,
    `${name} must be non-negative money, got ${money.toString()}`,
  );
  return money;
}

/** Written into error details without the wire-format assertion: a bound may exceed 10^16. */
function moneyText(value: Decimal): string {
  return value.toFixed(MONEY_DECIMALS, Decimal.ROUND_HALF_UP);
}

/**
 * The notice's `totalAmount`, the exact sum of its item amounts, after the create checks of
 * docs/interface.md §6.2 in their order: every line's `ITEM_INACTIVE` before any line's
 * `ITEM_AMOUNT_OUT_OF_RANGE`, so the first rule in the list decides the answer whatever the order
 * of the lines. (`ITEM_NOT_AUTHORIZED` comes earlier and needs the unit's grants; `DUE_DATE_IN_PAST`
 * comes later and needs the clock: both are the service's.)
 *
 * FIXED items must equal price × quantity exactly; RANGE items lie within min × quantity and
 * max × quantity, both inclusive.
 */
export function priceNoticeItems(lines: readonly LineToPrice[]): Decimal {
  assert(
    lines.length >= 1 && lines.length <= ITEMS_PER_NOTICE_MAX,
    `a notice has 1–${ITEMS_PER_NOTICE_MAX} items, got ${lines.length}`,
  );
  lines.forEach((line, index) => {
    if (line.item.status !== 'ACTIVE') {
      throw new TongfuError('ITEM_INACTIVE', `item ${line.itemCode} is inactive`, {
        path: `/items/${index}/itemCode`,
        itemCode: line.itemCode,
      });
    }
  });
  const amounts = lines.map((line, index) => {
    assert(
      Number.isInteger(line.quantity) && line.quantity >= QUANTITY_MIN && line.quantity <= QUANTITY_MAX,
      `quantity is an integer ${QUANTITY_MIN}–${QUANTITY_MAX}, got ${line.quantity}`,
    );
    const amount = requireMoneyValue(line.amount, 'amount');
    const { pricing } = line.item;
    const path = `/items/${index}/amount`;
    switch (pricing.type) {
      case 'FIXED': {
        const expected = requireMoneyValue(pricing.amount, 'pricing.amount').times(line.quantity);
        if (!amount.equals(expected)) {
          throw new TongfuError(
            'ITEM_AMOUNT_OUT_OF_RANGE',
            `item ${line.itemCode} costs ${moneyText(expected)} for quantity ${line.quantity}, not ${moneyText(amount)}`,
            { path, itemCode: line.itemCode, expected: moneyText(expected) },
          );
        }
        break;
      }
      case 'RANGE': {
        const min = requireMoneyValue(pricing.min, 'pricing.min').times(line.quantity);
        const max = requireMoneyValue(pricing.max, 'pricing.max').times(line.quantity);
        assert(min.lte(max), `item ${line.itemCode} has min above max`);
        if (amount.lt(min) || amount.gt(max)) {
          throw new TongfuError(
            'ITEM_AMOUNT_OUT_OF_RANGE',
            `item ${line.itemCode} must cost between ${moneyText(min)} and ${moneyText(max)} ` +
              `for quantity ${line.quantity}, not ${moneyText(amount)}`,
            { path, itemCode: line.itemCode, min: moneyText(min), max: moneyText(max) },
          );
        }
        break;
      }
      default: {
        const unknown: never = pricing;
        throw new Error(`invariant broken: unknown pricing ${JSON.stringify(unknown)}`);
      }
    }
    return amount;
  });
  const total = sumMoney(amounts);
  // The amount due is what one payment settles, so it stays within the single amount's bound
  // (contracts/decisions/0190-single-amount-limit.md) however late the payment comes. Fifty items
  // can each be valid money and still sum past it, and past what the wire can carry.
  if (total.gte(SINGLE_AMOUNT_LIMIT)) {
    throw validationFailed([{ path: '/items', problem: `the total amount (${moneyText(total)}) exceeds ${SINGLE_AMOUNT_MAX}, the largest amount one payment can settle` }]);
  }
  const largestAmountDue = total.plus(sumMoney(lines.map((line) => lateFeeCap(line.amount, line.item.lateFee))));
  if (largestAmountDue.gte(SINGLE_AMOUNT_LIMIT)) {
    throw validationFailed([{ path: '/items', problem: `with the largest late fee its items allow, the amount due (${moneyText(largestAmountDue)}) would exceed ${SINGLE_AMOUNT_MAX}, the largest amount one payment can settle` }]);
  }
  // A notice asks for money: one of 0.00 could never be paid, since a payment moves money.
  if (total.isZero()) {
    throw validationFailed([{ path: '/items', problem: 'the total amount must be above 0.00' }]);
  }
  return total;
}

export interface PayabilityView {
  status: NoticeStatus;
  /** `YYYY-MM-DD`, or null when the notice never expires. */
  expireDate: string | null;
}

/**
 * Whether a payment dated `paymentDate` (the Shanghai date of its `paidAt`) may pay the notice:
 * it is `ISSUED` or `EXPIRED` and its `expireDate`, if any, is not before that date
 * (docs/lifecycle.md §1). An `EXPIRED` notice is payable by a payment made in time and posted late.
 */
export function isPayable(notice: PayabilityView, paymentDate: string): boolean {
  assert(isValidDate(paymentDate), `paymentDate must be YYYY-MM-DD, got ${JSON.stringify(paymentDate)}`);
  if (notice.status !== 'ISSUED' && notice.status !== 'EXPIRED') {
    return false;
  }
  if (notice.expireDate === null) {
    assert(notice.status === 'ISSUED', 'only a notice with an expireDate can expire');
    return true;
  }
  assert(isValidDate(notice.expireDate), `expireDate must be YYYY-MM-DD, got ${notice.expireDate}`);
  // Valid YYYY-MM-DD strings sort as their dates do.
  return notice.expireDate >= paymentDate;
}

/** Why a posting does not apply to a notice (docs/lifecycle.md §3.3), kept as the payment's `unappliedReason`. */
export const UNAPPLIED_REASONS = [
  'PAY_CODE_INVALID',
  'NOTICE_NOT_FOUND',
  'NOTICE_ALREADY_PAID',
  'NOTICE_VOIDED',
  'NOTICE_EXPIRED',
  'PAID_BEFORE_ISSUE',
  'AMOUNT_MISMATCH',
] as const;
export type UnappliedReason = (typeof UNAPPLIED_REASONS)[number];

export interface ApplyRuleInput {
  /** `isValidPayCode` of the posted code. */
  payCodeValid: boolean;
  /** The notice the code names, or null when none does (or the code is invalid and was not looked up). */
  notice: PayabilityView | null;
  /** The Shanghai date of the posting's `paidAt`. */
  paymentDate: string;
  /** `paidAt` is more than PAID_BEFORE_ISSUE_TOLERANCE_MS before the notice was created (src/domain/posting.ts). */
  paidBeforeIssue: boolean;
  amount: DecimalJs;
  /** The notice's amount due at `paidAt` (totalAmount + late fee); null when there is no notice. */
  amountDue: DecimalJs | null;
}

/**
 * The reason a posting does not apply, the first of PAY_CODE_INVALID, NOTICE_NOT_FOUND,
 * NOTICE_ALREADY_PAID, NOTICE_VOIDED, NOTICE_EXPIRED, PAID_BEFORE_ISSUE, AMOUNT_MISMATCH; null
 * when it applies.
 * A notice refunded in whole or part was paid, so it answers NOTICE_ALREADY_PAID.
 */
export function applyRuleReason(input: ApplyRuleInput): UnappliedReason | null {
  if (!input.payCodeValid) {
    return 'PAY_CODE_INVALID';
  }
  const { notice } = input;
  if (notice === null) {
    return 'NOTICE_NOT_FOUND';
  }
  switch (notice.status) {
    case 'PAID':
    case 'PARTIALLY_REFUNDED':
    case 'REFUNDED':
      return 'NOTICE_ALREADY_PAID';
    case 'VOIDED':
      return 'NOTICE_VOIDED';
    case 'ISSUED':
    case 'EXPIRED':
      break;
    default: {
      const unknown: never = notice.status;
      throw new Error(`invariant broken: unknown notice status ${String(unknown)}`);
    }
  }
  if (!isPayable(notice, input.paymentDate)) {
    return 'NOTICE_EXPIRED';
  }
  if (input.paidBeforeIssue) {
    return 'PAID_BEFORE_ISSUE';
  }
  assert(input.amountDue !== null, 'a payable notice has an amount due');
  const amount = new Decimal(input.amount);
  return amount.equals(new Decimal(input.amountDue)) ? null : 'AMOUNT_MISMATCH';
}

/**
 * The error that refuses a posting whose funds are not captured (docs/lifecycle.md §3.5): voided and
 * expired notices share `NOTICE_NOT_PAYABLE`.
 */
export function refusalCodeFor(reason: UnappliedReason): ErrorCode {
  switch (reason) {
    case 'PAY_CODE_INVALID':
      return 'PAY_CODE_INVALID';
    case 'NOTICE_NOT_FOUND':
      return 'NOTICE_NOT_FOUND';
    case 'NOTICE_ALREADY_PAID':
      return 'NOTICE_ALREADY_PAID';
    case 'NOTICE_VOIDED':
    case 'NOTICE_EXPIRED':
      return 'NOTICE_NOT_PAYABLE';
    case 'PAID_BEFORE_ISSUE':
      return 'PAID_BEFORE_ISSUE';
    case 'AMOUNT_MISMATCH':
      return 'AMOUNT_MISMATCH';
    default: {
      const unknown: never = reason;
      throw new Error(`invariant broken: unknown reason ${String(unknown)}`);
    }
  }
}
