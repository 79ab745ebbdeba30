/**
 * E-receipt rules (电子票据, docs/lifecycle.md §6): the receipt number, the check code's shape, and the
 * status a receipt has given its reversals (冲红, docs/settlement.md §3).
 *
 * A receipt number is 18 digits: the 8-digit receipt code — `15` (the region, Inner Mongolia),
 * `04` (non-tax revenue), `01` (the receipt kind) and the two-digit year of the payment in
 * Asia/Shanghai — then a 10-digit serial, numbered per receipt code.
 */
import { shanghaiDate } from './businessDate';
import { assert } from './errors';
import { Decimal, ZERO } from './money';

/** Region, category (non-tax) and kind: the fixed six digits that start every receipt code. */
export const RECEIPT_CODE_PREFIX = '150401';
export const RECEIPT_CODE_PATTERN = /^150401[0-9]{2}$/;
export const RECEIPT_NO_PATTERN = /^[0-9]{18}$/;
export const RECEIPT_SERIAL_DIGITS = 10;
/** The largest serial; the sequences stop there rather than wrap (migration 20261127000040). */
export const RECEIPT_SERIAL_MAX = 9_999_999_999;

/** Check codes: 6 characters of [0-9A-Z], drawn uniformly (services/receipts.ts). */
export const CHECK_CODE_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const CHECK_CODE_LENGTH = 6;
export const CHECK_CODE_PATTERN = /^[0-9A-Z]{6}$/;

/** The receipt code of a payment: the prefix and the yy of its Asia/Shanghai date. */
export function receiptCodeOf(paidAt: Date): string {
  const year2 = shanghaiDate(paidAt).slice(2, 4);
  return `${RECEIPT_CODE_PREFIX}${year2}`;
}

/** The 18-digit receipt number of a serial (the digit string a sequence gave) under a receipt code. */
export function formatReceiptNo(receiptCode: string, serial: string): string {
  assert(RECEIPT_CODE_PATTERN.test(receiptCode), `a receipt code is 150401yy, got ${JSON.stringify(receiptCode)}`);
  assert(/^[1-9][0-9]{0,9}$/.test(serial), `a receipt serial is 1–${RECEIPT_SERIAL_MAX}, got ${JSON.stringify(serial)}`);
  const receiptNo = `${receiptCode}${serial.padStart(RECEIPT_SERIAL_DIGITS, '0')}`;
  assert(RECEIPT_NO_PATTERN.test(receiptNo), `a receipt number is 18 digits, got ${receiptNo}`);
  return receiptNo;
}

export const RECEIPT_STATUSES = ['VALID', 'PARTIALLY_REVERSED', 'REVERSED'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/**
 * A receipt's status, derived from what its reversals add up to against what was paid: nothing
 * reversed is VALID, all of it REVERSED, anything between PARTIALLY_REVERSED. Reversals beyond the
 * paid amount cannot happen (recordReversal refuses them), so meeting one here is a bug.
 */
export function receiptStatus(paidAmount: Decimal, reversedAmount: Decimal): ReceiptStatus {
  assert(!reversedAmount.isNegative(), `a reversed amount is never negative, got ${reversedAmount.toString()}`);
  assert(reversedAmount.lte(paidAmount), `reversals (${reversedAmount.toString()}) never exceed the paid amount (${paidAmount.toString()})`);
  if (reversedAmount.eq(ZERO)) return 'VALID';
  return reversedAmount.eq(paidAmount) ? 'REVERSED' : 'PARTIALLY_REVERSED';
}

/** How much of a receipt can still be reversed. */
export function reversibleAmount(paidAmount: Decimal, reversedAmount: Decimal): Decimal {
  return new Decimal(paidAmount).minus(reversedAmount);
}
