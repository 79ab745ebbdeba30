/**
 * An amount in Chinese capital numerals (金额大写), as receipts print it: "218.00" →
 * "贰佰壹拾捌元整", "1001.50" → "壹仟零壹元伍角". Works on the money string's digits, never on a
 * number, so any amount the money format allows (up to 16 integer digits) is exact.
 */
import { assert } from './errors';
import { MONEY_PATTERN } from './money';

const DIGITS = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'] as const;
const PLACES = ['', '拾', '佰', '仟'] as const;
const GROUPS = ['', '万', '亿', '万'] as const;

function integerWords(digits: string): string {
  let words = '';
  let pendingZero = false;
  for (let index = 0; index < digits.length; index += 1) {
    const digit = digits.charCodeAt(index) - 48;
    const position = digits.length - 1 - index;
    const place = position % 4;
    const group = Math.floor(position / 4);
    if (digit === 0) {
      pendingZero = words !== '';
    } else {
      if (pendingZero) words += '零';
      pendingZero = false;
      words += `${DIGITS[digit]}${PLACES[place]}`;
    }
    if (place === 0 && group > 0 && /[1-9]/.test(digits.slice(Math.max(0, index - 3), index + 1))) {
      words += GROUPS[group];
      // 万亿 groups by eight like 亿: 9999万9999亿, but 1万亿 when the 亿 group below is empty.
      if (group === 3 && !/[1-9]/.test(digits.slice(index + 1, index + 5))) words += '亿';
    }
  }
  return words;
}

export function amountInWords(amount: string): string {
  assert(MONEY_PATTERN.test(amount), `an amount in words needs a money string, got ${JSON.stringify(amount)}`);
  const [integer, fraction] = amount.split('.') as [string, string];
  const jiao = fraction.charCodeAt(0) - 48;
  const fen = fraction.charCodeAt(1) - 48;
  let words = integer === '0' ? '' : `${integerWords(integer)}元`;
  if (jiao === 0 && fen === 0) return `${words || '零元'}整`;
  if (jiao !== 0) words += `${DIGITS[jiao]}角`;
  else if (words !== '') words += '零';
  words += fen !== 0 ? `${DIGITS[fen]}分` : '整';
  return words;
}
