/**
 * The payment code (缴款码, docs/payment-code.md): 20 digits =
 * region (6) + year (2) + kind (1) + serial (9) + check digits (2).
 *
 * The check digits are ISO 7064 MOD 97-10, as in IBAN. They catch every single-digit mistake and
 * every swap of two neighbouring digits, so a mistyped code is refused before any lookup. The
 * 20-digit number exceeds 2^53, so it is reduced digit by digit and never held in a `number`.
 */
import { shanghaiDate } from './businessDate';
import { assert, TongfuError } from './errors';

export const PAY_CODE_PATTERN = /^[0-9]{20}$/;
const BODY_PATTERN = /^[0-9]{18}$/;

const MODULUS = 97;

/** Serials are 9 digits: 10^9 codes per (region, year, kind). */
export const SERIAL_LIMIT = 1_000_000_000n;

export interface PayCodeParts {
  /** GB/T 2260 administrative division code of the issuing unit. */
  regionCode: string;
  /** Last two digits of the issue year in Asia/Shanghai. */
  year2: string;
  /** The `T` digit: `1` ordinary fee, `2` penalty decision, `9` sandbox, others reserved. */
  kind: string;
  serial: number;
  checkDigits: string;
}

/** The remainder of a digit string modulo 97, one digit at a time so no value exceeds 96 × 10 + 9. */
function mod97(digits: string): number {
  let remainder = 0;
  for (let index = 0; index < digits.length; index += 1) {
    const digit = digits.charCodeAt(index) - 48;
    assert(digit >= 0 && digit <= 9, 'mod97 takes decimal digits only');
    remainder = (remainder * 10 + digit) % MODULUS;
  }
  return remainder;
}

/**
 * The two check digits of an 18-digit body: `98 − ((body × 100) mod 97)`, always `02`–`98`.
 * Appending them makes the whole 20-digit number ≡ 1 (mod 97).
 */
export function payCodeCheckDigits(body18: string): string {
  assert(BODY_PATTERN.test(body18), `a payCode body is 18 digits, got ${JSON.stringify(body18)}`);
  const check = 98 - mod97(`${body18}00`);
  return String(check).padStart(2, '0');
}

/**
 * True iff `code` is 20 ASCII digits whose value mod 97 is 1 — the spec's rule, word for word.
 * The platform only issues check digits 02–98, but the rule also accepts their alias 97 apart
 * (00, 01, 99), as IBAN validation does; it is kept as written so that every party validating by
 * the rule agrees with us on which codes are `PAY_CODE_INVALID`. Anything not a string is invalid.
 */
export function isValidPayCode(code: unknown): code is string {
  return typeof code === 'string' && PAY_CODE_PATTERN.test(code) && mod97(code) === 1;
}

/** The two digits of the Shanghai year of an instant, as the code's `yy`. */
export function payCodeYear2(issuedAt: Date): string {
  return shanghaiDate(issuedAt).slice(2, 4);
}

export interface PayCodeInput {
  regionCode: string;
  /** Two digits (`"26"`) or 0–99. */
  year2: string | number;
  /** One digit: the notice kind. */
  noticeType: string | number;
  /** From a sequence; PostgreSQL bigints often arrive as strings, so digit strings are accepted too. */
  serial: bigint | number | string;
}

function digitsOf(value: string | number, width: number, name: string): string {
  if (typeof value === 'number') {
    assert(
      Number.isInteger(value) && value >= 0 && value < 10 ** width,
      `${name} must be an integer of at most ${width} digits, got ${value}`,
    );
    return String(value).padStart(width, '0');
  }
  assert(new RegExp(`^[0-9]{${width}}$`).test(value), `${name} must be ${width} digits, got ${JSON.stringify(value)}`);
  return value;
}

function serialOf(serial: bigint | number | string): bigint {
  if (typeof serial === 'number') {
    assert(Number.isSafeInteger(serial), `serial must be a safe integer, got ${serial}`);
    return BigInt(serial);
  }
  if (typeof serial === 'string') {
    assert(/^[0-9]{1,18}$/.test(serial), `serial must be a digit string, got ${JSON.stringify(serial)}`);
    return BigInt(serial);
  }
  return serial;
}

/**
 * A new payment code. Every part comes from the platform (the unit's region, the clock, the
 * request's validated noticeType, a sequence), so a bad part is a bug, not a caller's mistake;
 * a serial past 9 digits means the (region, year, kind) space is exhausted and must never wrap
 * round to reuse a code.
 */
export function buildPayCode(input: PayCodeInput): string {
  assert(/^[0-9]{6}$/.test(input.regionCode), `regionCode must be 6 digits, got ${JSON.stringify(input.regionCode)}`);
  const year2 = digitsOf(input.year2, 2, 'year2');
  const kind = digitsOf(input.noticeType, 1, 'noticeType');
  const serial = serialOf(input.serial);
  assert(serial >= 0n && serial < SERIAL_LIMIT, `serial must be 0 ≤ serial < 10^9, got ${serial}`);
  const body = `${input.regionCode}${year2}${kind}${serial.toString().padStart(9, '0')}`;
  const code = `${body}${payCodeCheckDigits(body)}`;
  assert(isValidPayCode(code), `built an invalid payCode ${code}`);
  return code;
}

/** The parts of a valid code; a code failing its check is the caller's `PAY_CODE_INVALID`. */
export function parsePayCode(code: unknown): PayCodeParts {
  if (!isValidPayCode(code)) {
    throw new TongfuError('PAY_CODE_INVALID', 'payCode must be 20 digits with valid check digits');
  }
  return {
    regionCode: code.slice(0, 6),
    year2: code.slice(6, 8),
    kind: code.slice(8, 9),
    serial: Number(code.slice(9, 18)),
    checkDigits: code.slice(18, 20),
  };
}

/**
 * The code a payer typed, as it is posted: without its spaces (U+0020). A code is printed, and
 * usually typed, in groups of four (`1501 0026 2000 0000 0107`), so an agency's posting or
 * statement line may carry them (docs/payment-code.md, "How the service treats a code"). Nothing else is changed: a code that is
 * still not valid is recorded as typed when the funds are captured.
 */
export function postedPayCode(typed: string): string {
  return typed.includes(' ') ? typed.replaceAll(' ', '') : typed;
}
