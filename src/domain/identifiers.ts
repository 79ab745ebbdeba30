/**
 * The shapes of identifiers (docs/interface.md §1 and §2). They are patterns, not parsers: an
 * identifier is kept as the caller wrote it.
 */

/**
 * Identifiers chosen by callers (`bizRef`, `agencyTxnId`, `refundNo`, `bankRef`, party `code`,
 * item and account codes). They appear in URLs and in `|`-separated statement files, so nothing
 * that needs escaping in either is allowed.
 */
export const CALLER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A GB/T 2260 administrative division code. */
export const REGION_CODE_PATTERN = /^\d{6}$/;

/** `X-Tongfu-Nonce`: long enough that two honest requests never pick the same one by chance. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * An agency's `cutoffTime`: `00:00`–`23:59`, or `24:00` meaning midnight (no payment moves to the
 * next business date). `24:00` is the only time with hour 24.
 */
export const CUTOFF_TIME_PATTERN = /^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;

/** The cut-off an agency gets when registration does not name one (docs/interface.md §6.1). */
export const DEFAULT_CUTOFF_TIME = '24:00';

/** A calendar date's shape; `isValidDate` (businessDate.ts) also checks that the day exists. */
export const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Item `quantity` bounds (docs/interface.md §1). */
export const QUANTITY_MIN = 1;
export const QUANTITY_MAX = 9999;
export const QUANTITY_DEFAULT = 1;

export function isCallerId(value: unknown): value is string {
  return typeof value === 'string' && CALLER_ID_PATTERN.test(value);
}

export function isRegionCode(value: unknown): value is string {
  return typeof value === 'string' && REGION_CODE_PATTERN.test(value);
}

export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && NONCE_PATTERN.test(value);
}

export function isCutoffTime(value: unknown): value is string {
  return typeof value === 'string' && CUTOFF_TIME_PATTERN.test(value);
}

/** An item quantity: a JSON integer 1–9999; a string or a fraction is not a quantity. */
export function isQuantity(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= QUANTITY_MIN && value <= QUANTITY_MAX;
}
