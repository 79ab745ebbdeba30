/**
 * Money (docs/interface.md §1): yuan with exactly two decimals, a string on the wire and a `Decimal`
 * in code. A JavaScript `number` never holds money: `0.1 + 0.2` is not `0.3`, and amounts above
 * 2^53 fen lose fen silently.
 */
import { Decimal as DecimalJs } from 'decimal.js';
import { assert, TongfuError } from './errors';

/**
 * The decimal.js constructor the domain computes with. decimal.js rounds every result to
 * `precision` significant digits, and its default of 20 is too few: the largest amount already has
 * 18 digits, and `amount × ratePerDay × daysLate` needs about 30 before it is rounded to fen. A
 * rounding to 20 digits first would round twice (half-up of a half-up can differ from one
 * half-up). 64 digits holds every product and sum the service makes exactly, so the only
 * rounding is the one each rule names.
 *
 * Every function here converts what it is given into this constructor, so callers may pass
 * instances of the plain `decimal.js` export too.
 */
export const Decimal = DecimalJs.clone({
  precision: 64,
  rounding: DecimalJs.ROUND_HALF_UP,
  // Plain notation for every value money and rates can take, so `toString()` never says `1e-7`.
  toExpNeg: -64,
  toExpPos: 64,
});
export type Decimal = DecimalJs;

/** The wire shape of money: no sign, no exponent, no leading zeros, exactly two decimals. */
export const MONEY_PATTERN = /^(0|[1-9][0-9]{0,15})\.[0-9]{2}$/;

/** Exclusive upper bound of a money value: 16 integer digits, as MONEY_PATTERN and NUMERIC(18,2) allow. */
export const MONEY_LIMIT = new Decimal('1e16');

export const ZERO: Decimal = new Decimal(0);

/**
 * Exclusive upper bound of one amount the platform is asked to take in: a notice's amount due, an
 * agency's posting, a statement line, a bank posting (contracts/decisions/0190-single-amount-limit.md).
 * Sums of such amounts — a day's totals, an account's balance since the first day — must stay
 * below MONEY_LIMIT for the daily close to state them; with this bound that takes 100,000 amounts
 * of the largest size, where two of the wire's largest used to be enough to stop every later close.
 */
export const SINGLE_AMOUNT_LIMIT = new Decimal('1e11');

/** The largest single amount as written on the wire. */
export const SINGLE_AMOUNT_MAX = '99999999999.99';

/** Why `amount` cannot be one payment's or posting's, or null: it must be more than 0.00 and at most SINGLE_AMOUNT_MAX. */
export function singleAmountProblem(amount: DecimalJs): string | null {
  const value = new Decimal(amount);
  if (!value.gt(ZERO)) return 'must be more than 0.00: a payment moves money';
  if (value.gte(SINGLE_AMOUNT_LIMIT)) return `must be at most ${SINGLE_AMOUNT_MAX}, the largest single amount the platform takes in`;
  return null;
}

/** Fen per yuan: money has exactly this many decimals. */
export const MONEY_DECIMALS = 2;

/**
 * Rates have a bounded integer part so that a typo such as `"30000"` for `"0.0003"` cannot pass
 * as a rate; no rate or ratio the catalogue uses comes near it.
 */
export const RATE_INTEGER_DIGITS_MAX = 4;

/** Decimals allowed by docs/interface.md §1: `ratePerDay` up to 6, `capRatio` and sharing `ratio` up to 4. */
export const RATE_PER_DAY_DECIMALS_MAX = 6;
export const RATIO_DECIMALS_MAX = 4;

/**
 * The money in `value`, or null when `value` is not a valid money string. JSON numbers are never
 * money, even `12.5`: a number has already been through binary floating point by the time we see
 * it, and the standard says so (`AMOUNT_INVALID`).
 */
export function parseMoney(value: unknown): Decimal | null {
  if (typeof value !== 'string' || !MONEY_PATTERN.test(value)) {
    return null;
  }
  return new Decimal(value);
}

/** `parseMoney` for a request field: a value that is not money is the caller's `AMOUNT_INVALID`. */
export function requireMoney(value: unknown, path: string): Decimal {
  const money = parseMoney(value);
  if (money === null) {
    throw new TongfuError('AMOUNT_INVALID', `${path} is not an amount: money is a string like "123.45"`, {
      path,
    });
  }
  return money;
}

/**
 * The wire string of an amount. An amount with fractions of a fen, a negative amount or one too
 * large for the wire is a bug upstream (rounding must be explicit and earlier), so it crashes
 * instead of being rounded silently here.
 */
export function formatMoney(d: DecimalJs): string {
  const money = new Decimal(d);
  assert(money.isFinite(), `money must be finite, got ${money.toString()}`);
  assert(
    money.decimalPlaces() <= MONEY_DECIMALS,
    `money has at most ${MONEY_DECIMALS} decimals, got ${money.toString()}`,
  );
  // The rounding mode is named although no digit is dropped (asserted above): toFixed would
  // otherwise fall back on the constructor's configured mode.
  const text = money.isZero()
    ? '0.00' // decimal.js writes negative zero as "-0.00"
    : money.toFixed(MONEY_DECIMALS, Decimal.ROUND_HALF_UP);
  assert(MONEY_PATTERN.test(text), `money must be non-negative and below 10^16, got ${text}`);
  return text;
}

/** Round to fen, half up (0.005 → 0.01), as every rounding rule of the spec says. */
export function roundMoneyHalfUp(d: DecimalJs): Decimal {
  const value = new Decimal(d);
  assert(value.isFinite(), `cannot round ${value.toString()} to money`);
  return value.toDecimalPlaces(MONEY_DECIMALS, Decimal.ROUND_HALF_UP);
}

/** The exact sum of amounts; an empty list sums to zero. */
export function sumMoney(list: readonly DecimalJs[]): Decimal {
  let total: Decimal = ZERO;
  for (const amount of list) {
    const value = new Decimal(amount);
    assert(value.isFinite(), `cannot add ${value.toString()} to money`);
    assert(value.decimalPlaces() <= MONEY_DECIMALS, `an amount has at most two decimals, got ${value.toString()}`);
    total = total.plus(value);
  }
  return total;
}

/**
 * A non-negative decimal string with at most `maxDecimals` decimals (`ratePerDay`: 6; `capRatio`
 * and sharing `ratio`: 4), or null. Like money, a rate is never a JSON number. A bare integer
 * (`"1"`) is a rate; `".5"`, `"1."`, signs and exponents are not, so that every party writes
 * rates the same way.
 */
export function parseRate(value: unknown, maxDecimals: number): Decimal | null {
  assert(Number.isInteger(maxDecimals) && maxDecimals >= 0 && maxDecimals <= 20, 'maxDecimals is 0–20');
  if (typeof value !== 'string') {
    return null;
  }
  const fraction = maxDecimals === 0 ? '' : `(\\.[0-9]{1,${maxDecimals}})?`;
  const pattern = new RegExp(`^(0|[1-9][0-9]{0,${RATE_INTEGER_DIGITS_MAX - 1}})${fraction}$`);
  if (!pattern.test(value)) {
    return null;
  }
  return new Decimal(value);
}
