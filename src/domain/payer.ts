/**
 * The payer (缴款人): comparing names, masking personal data (docs/interface.md §6), and the checks on
 * id numbers and mobiles (§6.2).
 */
import { isValidDate } from './businessDate';

/**
 * Middle dots that separate the parts of transliterated names (Mongolian, Uyghur, foreign names:
 * 阿拉坦·巴根). People type whichever their keyboard offers, so all of them compare equal. The spec
 * names `·・•‧`; U+FF65 (halfwidth katakana) already becomes U+30FB under NFKC, and U+0387 (Greek
 * ano teleia) becomes U+00B7. U+2219, U+22C5 and U+2E31 are added because they look the same and
 * come from the same input methods. So is the full stop: a keyboard without a middle dot gives
 * `乌云.其木格` or, in full-width mode, `乌云．其木格` (U+FF0E, which NFKC makes `.`), and U+2024 (one
 * dot leader) looks the same. No Chinese name holds a full stop of its own, so nothing is lost.
 */
const MIDDLE_DOTS = /[.\u00B7\u0387\u2022\u2024\u2027\u2219\u22C5\u2E31\u30FB\uFF65]/gu;
const CANONICAL_MIDDLE_DOT = '\u00B7';

/** JavaScript's `\s` with the `u` flag: every Unicode space, including U+3000 and U+FEFF. */
const WHITESPACE = /\s+/gu;

/**
 * The form in which names are compared: Unicode NFKC (full-width letters become ASCII, compatibility
 * ideographs become the unified ones), every space removed (people write "张 三" and "张三"), and
 * one middle dot. Case is kept: the spec does not fold it, and Chinese names have none.
 */
export function normalizeName(name: string): string {
  return (
    name
      .normalize('NFKC')
      .replace(WHITESPACE, '')
      // Again, because removing a space can put a combining mark next to a letter it composes
      // with; without this a normalized name would not be its own normal form.
      .normalize('NFKC')
      .replace(MIDDLE_DOTS, CANONICAL_MIDDLE_DOT)
  );
}

/**
 * Invisible format characters (Unicode category Cf: zero-width space U+200B, the bidirectional
 * overrides U+202A–U+202E and isolates, U+FEFF…). A name holding one shows as something it is not —
 * `‮根巴坦拉阿` reads backwards — or as nothing at all, so no payer's name may contain one.
 */
const FORMAT_CHARACTERS = /\p{Cf}/u;

/**
 * The one format character a name may hold: the Mongolian vowel separator U+180E (category Cf since
 * Unicode 6.3), where traditional Mongolian script writes it — after a Mongolian letter (or a free
 * variation selector) and before a final ᠠ U+1820 or ᠡ U+1821, as in ᠰᠠᠷ\u180Eᠠ (Saraa, "moon"). There it
 * is part of the spelling and changes the letters' shapes; anywhere else it would be invisible
 * (decision 0213).
 */
const MONGOLIAN_VOWEL_SEPARATOR = /(?<=[\u180B-\u180D\u180F\u1820-\u1878\u1887-\u18AA])\u180E(?=[\u1820\u1821])/gu;

/**
 * Controls the body's text rules let through (decision 0050 refuses only C0 controls but TAB, LF and
 * CR): DEL U+007F and the C1 controls U+0080–U+009F, NEL U+0085 among them, and the line and
 * paragraph separators U+2028, U+2029. `王\u007F建国` shows as 王建国 yet never matches the 王建国
 * a payer types, so the payer's own lookup and an agency's name check would fail for ever; the
 * separators break a name across lines. TAB is a space, which name comparison removes.
 */
const CONTROL_CHARACTERS = /[\u007F-\u009F\u2028\u2029]/u;

/**
 * Why `name` cannot be a payer's name, or null: blank once normalized, or holding an invisible
 * format character or a control character or line separator.
 */
export function payerNameProblem(name: string): string | null {
  if (FORMAT_CHARACTERS.test(name.replace(MONGOLIAN_VOWEL_SEPARATOR, ''))) return 'must not contain invisible format characters (zero-width or bidirectional controls such as U+200B, U+202E)';
  if (CONTROL_CHARACTERS.test(name)) return 'must not contain control characters (DEL U+007F, C1 controls U+0080-U+009F) or line separators (U+2028, U+2029)';
  if (normalizeName(name) === '') return 'must not be blank';
  return null;
}

/** Whether two names are the same payer's. An empty name never matches, not even another empty one. */
export function namesMatch(a: string, b: string): boolean {
  const left = normalizeName(a);
  return left.length > 0 && left === normalizeName(b);
}

/** Grapheme segmentation does not depend on the locale; one segmenter serves every call. */
const GRAPHEME_SEGMENTER = new Intl.Segmenter('zh', { granularity: 'grapheme' });

/**
 * The characters a person sees, so that a name ending in a character outside the BMP (a rare
 * ideograph stored as a surrogate pair) or in a combining mark is not cut in half.
 */
function graphemes(text: string): string[] {
  return Array.from(GRAPHEME_SEGMENTER.segment(text), (part) => part.segment);
}

/**
 * A name showing only its last character (`张三` → `**三`). Always two asterisks, whatever the
 * length, so the mask does not reveal how long the name is (`欧阳娜娜` → `**娜`). A name with no
 * characters masks to `**`.
 */
export function maskName(name: string): string {
  const last = graphemes(name.trim()).at(-1) ?? '';
  return `**${last}`;
}

/**
 * An id number showing its first 6 (the region) and last 4 characters; the 8 birth-date digits
 * are always hidden. A value too short to keep anything hidden is masked entirely.
 */
export function maskIdNumber(idNumber: string): string {
  if (idNumber.length <= 10) {
    return '*'.repeat(idNumber.length);
  }
  return `${idNumber.slice(0, 6)}********${idNumber.slice(-4)}`;
}

/** A mobile showing its first 3 and last 4 digits (`138****5678`). Too short to mask: all hidden. */
export function maskMobile(mobile: string): string {
  if (mobile.length <= 7) {
    return '*'.repeat(mobile.length);
  }
  return `${mobile.slice(0, 3)}****${mobile.slice(-4)}`;
}

/** GB 11643-1999: weights of the first 17 characters and the check character for each remainder. */
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const ID_CHECK_CHARACTERS = '10X98765432';
const ID_NUMBER_PATTERN = /^[0-9]{17}[0-9X]$/;

/**
 * An 18-character resident id number (GB 11643-1999): 17 digits and a check character, with a
 * birth date (characters 7–14) that exists. The check character must be an upper-case `X`; the
 * 15-digit numbers retired in 2013 are not accepted.
 */
export function isValidIdNumber(value: unknown): value is string {
  if (typeof value !== 'string' || !ID_NUMBER_PATTERN.test(value)) {
    return false;
  }
  let sum = 0;
  ID_WEIGHTS.forEach((weight, index) => {
    sum += weight * (value.charCodeAt(index) - 48);
  });
  if (ID_CHECK_CHARACTERS[sum % 11] !== value[17]) {
    return false;
  }
  const birth = value.slice(6, 14);
  return isValidDate(`${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6, 8)}`);
}

/** A mainland mobile number: 11 digits starting 13–19. */
export const MOBILE_PATTERN = /^1[3-9][0-9]{9}$/;

export function isValidMobile(value: unknown): value is string {
  return typeof value === 'string' && MOBILE_PATTERN.test(value);
}

/** An account number as shown to whoever does not pay into it: its last 4 characters behind `****`. */
export function maskAccountNo(accountNo: string): string {
  return accountNo.length <= 4 ? '****' : `****${accountNo.slice(-4)}`;
}
