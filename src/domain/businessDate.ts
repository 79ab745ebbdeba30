/**
 * Dates and instants in Asia/Shanghai (docs/interface.md §1, docs/lifecycle.md §1 and §3.8).
 *
 * Asia/Shanghai has been UTC+8 without daylight saving since 1991, and every date the service
 * handles is later than that, so the offset is a constant here rather than a lookup in the time
 * zone database: the result cannot change with the host's ICU data or its TZ variable.
 *
 * Calendar dates are `YYYY-MM-DD` strings and are computed with integer day numbers (days since
 * 1970-01-01 in the proleptic Gregorian calendar), never with a `Date` in the host's local zone.
 */
import { assert } from './errors';
import { DATE_PATTERN } from './identifiers';

/** The offset the service writes on every instant. */
export const SHANGHAI_OFFSET = '+08:00';

const SHANGHAI_OFFSET_MS = 8 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const MINUTE_MS = 60 * 1000;
const SECOND_MS = 1000;

/**
 * Years 0001–9999 only: four digits is the wire format, and PostgreSQL's `date` has no year 0000,
 * so a date outside this range could be accepted here and refused by the database.
 */
const YEAR_MIN = 1;
const YEAR_MAX = 9999;

/** Midnight that ends the business day, as a cut-off: it never moves a payment (docs/lifecycle.md §3.8). */
const CUTOFF_MIDNIGHT = '24:00';

interface CivilDate {
  year: number;
  month: number; // 1–12
  day: number; // 1–31
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** The months' lengths in a common year (February's is 29 in a leap year). */
const MONTH_DAYS: readonly number[] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const length = MONTH_DAYS[month - 1];
  assert(length !== undefined, `month ${month} is 1–12`);
  return month === 2 && isLeapYear(year) ? 29 : length;
}

function isRealDay(year: number, month: number, day: number): boolean {
  return (
    year >= YEAR_MIN && year <= YEAR_MAX && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)
  );
}

/**
 * Days from 1970-01-01 to the given day (negative before it). Howard Hinnant's `days_from_civil`:
 * exact integer arithmetic, valid for every year of the proleptic Gregorian calendar.
 */
function epochDayFromCivil({ year, month, day }: CivilDate): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** The inverse of `epochDayFromCivil` (Hinnant's `civil_from_days`). */
function civilFromEpochDay(epochDay: number): CivilDate {
  const z = epochDay + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153); // 0 = March
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function formatCivil({ year, month, day }: CivilDate): string {
  assert(year >= YEAR_MIN && year <= YEAR_MAX, `year ${year} is outside 0001–9999`);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

function parseCivil(date: string): CivilDate | null {
  if (!DATE_PATTERN.test(date)) {
    return null;
  }
  const year = Number(date.slice(0, 4));
  const month = Number(date.slice(5, 7));
  const day = Number(date.slice(8, 10));
  return isRealDay(year, month, day) ? { year, month, day } : null;
}

/** Dates reaching the domain were checked at the edge; a bad one here is a bug. */
function requireDate(date: string, name: string): CivilDate {
  const civil = parseCivil(date);
  assert(civil !== null, `${name} must be a real YYYY-MM-DD date, got ${JSON.stringify(date)}`);
  return civil;
}

function requireInstant(instant: Date, name: string): number {
  assert(instant instanceof Date, `${name} must be a Date`);
  const ms = instant.getTime();
  assert(Number.isFinite(ms), `${name} must be a valid Date`);
  return ms;
}

/** A `YYYY-MM-DD` string naming a day that exists (no 2026-02-29, no month 13), years 0001–9999. */
export function isValidDate(value: unknown): value is string {
  return typeof value === 'string' && parseCivil(value) !== null;
}

/** The day number of a date (days since 1970-01-01), for arithmetic and comparison. */
export function epochDayOf(date: string): number {
  return epochDayFromCivil(requireDate(date, 'date'));
}

/** `to − from` in calendar days: negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  return epochDayFromCivil(requireDate(to, 'to')) - epochDayFromCivil(requireDate(from, 'from'));
}

/** The date `days` calendar days after `date` (before it when negative). */
export function addDays(date: string, days: number): string {
  assert(Number.isSafeInteger(days), `days must be an integer, got ${days}`);
  return formatCivil(civilFromEpochDay(epochDayOf(date) + days));
}

/** Local Shanghai wall-clock parts of an instant. */
function shanghaiParts(instant: Date): { date: string; hour: number; minute: number; second: number } {
  const localMs = requireInstant(instant, 'instant') + SHANGHAI_OFFSET_MS;
  const epochDay = Math.floor(localMs / DAY_MS);
  const msOfDay = localMs - epochDay * DAY_MS;
  return {
    date: formatCivil(civilFromEpochDay(epochDay)),
    hour: Math.floor(msOfDay / HOUR_MS),
    minute: Math.floor((msOfDay % HOUR_MS) / MINUTE_MS),
    second: Math.floor((msOfDay % MINUTE_MS) / SECOND_MS),
  };
}

/** The Asia/Shanghai calendar date of an instant: the payment's date, a notice's "today". */
export function shanghaiDate(instant: Date): string {
  return shanghaiParts(instant).date;
}

/** The Asia/Shanghai wall-clock time of an instant, `HH:MM` (seconds dropped, never rounded up). */
export function shanghaiTime(instant: Date): string {
  const { hour, minute } = shanghaiParts(instant);
  return `${pad(hour, 2)}:${pad(minute, 2)}`;
}

/**
 * An instant as the service writes it: ISO 8601 in Shanghai time with the `+08:00` offset, e.g.
 * `2026-11-27T08:00:00+08:00`. Milliseconds are dropped (truncated, so the written time is never
 * later than the real one): the wire shows whole seconds, and the database keeps the full value.
 */
export function formatInstant(instant: Date): string {
  const { date, hour, minute, second } = shanghaiParts(instant);
  return `${date}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${SHANGHAI_OFFSET}`;
}

/**
 * RFC 3339 / ISO 8601 extended format with a required offset (`Z` or `±HH:MM`): an instant
 * without one would be read in whatever zone the reader assumes, so it is refused. Fractions of
 * a second may have 1–9 digits; digits past milliseconds are truncated, as a `Date` cannot keep
 * them. A leap second (`:60`) is refused for the same reason.
 */
const INSTANT_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The instant in `value`, or null when it is not an ISO 8601 date-time with an offset. */
export function parseInstant(value: unknown): Date | null {
  if (typeof value !== 'string') {
    return null;
  }
  const canonical = parseCanonicalInstant(value);
  if (canonical !== undefined) {
    return canonical;
  }
  return parseInstantByPattern(value);
}

/** The number written by the ASCII digits at `index`…`index + count − 1`, or -1 when one is not a digit. */
export function digitsAt(text: string, index: number, count: number): number {
  let value = 0;
  for (let at = index; at < index + count; at += 1) {
    const digit = text.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Whether `text` has the separators of `YYYY-MM-DDTHH:MM:SS±HH:MM` or `YYYY-MM-DDTHH:MM:SSZ` — the
 * shape of every line of a statement file and of most requests — whatever stands between them.
 */
export function isWholeSecondInstantShape(text: string): boolean {
  const zone = text.charCodeAt(19);
  const zulu = text.length === 20 && zone === 0x5a; /* Z */
  const offset = text.length === 25 && (zone === 0x2b /* + */ || zone === 0x2d) /* - */ && text.charCodeAt(22) === 0x3a; /* : */
  return (zulu || offset) && text.charCodeAt(4) === 0x2d && text.charCodeAt(7) === 0x2d && text.charCodeAt(10) === 0x54 && text.charCodeAt(13) === 0x3a && text.charCodeAt(16) === 0x3a;
}

/**
 * The common shape (isWholeSecondInstantShape), read without the pattern: answers exactly what
 * parseInstantByPattern answers for it (test/unit/domain/businessDate.test.ts compares the two),
 * or undefined for any other shape.
 */
function parseCanonicalInstant(value: string): Date | null | undefined {
  if (!isWholeSecondInstantShape(value)) return undefined;
  const offset = value.length === 25;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  const offsetHour = offset ? digitsAt(value, 20, 2) : 0;
  const offsetMinute = offset ? digitsAt(value, 23, 2) : 0;
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || offsetHour < 0 || offsetMinute < 0) return undefined;
  const ms = wholeSecondInstantMs(year, month, day, hour, minute, second, offset ? (value.charCodeAt(19) === 0x2d ? -1 : 1) : 0, offsetHour, offsetMinute);
  return ms === null ? null : new Date(ms);
}

/**
 * The instant of a whole-second civil time at an offset (`offsetSign` 0 for Z), its fields read as
 * non-negative integers, in milliseconds since the epoch; null when the day or the time does not
 * exist. The two readers of the common shape (text and bytes) share it.
 */
function wholeSecondInstantMs(year: number, month: number, day: number, hour: number, minute: number, second: number, offsetSign: -1 | 0 | 1, offsetHour: number, offsetMinute: number): number | null {
  if (!isRealDay(year, month, day) || hour > 23 || minute > 59 || second > 59 || offsetHour > 23 || offsetMinute > 59) return null;
  const offsetMinutes = offsetSign * (offsetHour * 60 + offsetMinute);
  return epochDayFromCivil({ year, month, day }) * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS + second * SECOND_MS - offsetMinutes * MINUTE_MS;
}

/** The value of the ASCII decimal digits `bytes[at, at + count)`, or −1 if one of them is not a digit. */
function byteDigitsAt(bytes: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let index = at; index < at + count; index += 1) {
    const digit = (bytes[index] as number) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * The instant written in the ASCII bytes `bytes[start, end)` in the common shape
 * (`YYYY-MM-DDTHH:MM:SS±HH:MM` or `…Z`), as milliseconds since the epoch: exactly what
 * parseInstant answers for the same text when that is an instant (test/unit/domain/businessDate.test.ts
 * compares the two). Undefined for anything else — another shape, a character that is not a digit,
 * a day or time that does not exist — which the caller then reads as text. A statement file's
 * lines are read this way, without a string per time (docs/reconciliation.md §1).
 */
export function wholeSecondInstantMsOfBytes(bytes: Uint8Array, start: number, end: number): number | undefined {
  const length = end - start;
  const zone = bytes[start + 19];
  const zulu = length === 20 && zone === 0x5a; /* Z */
  const offset = length === 25 && (zone === 0x2b /* + */ || zone === 0x2d) /* - */ && bytes[start + 22] === 0x3a; /* : */
  if (!(zulu || offset) || bytes[start + 4] !== 0x2d || bytes[start + 7] !== 0x2d || bytes[start + 10] !== 0x54 || bytes[start + 13] !== 0x3a || bytes[start + 16] !== 0x3a) return undefined;
  const year = byteDigitsAt(bytes, start, 4);
  const month = byteDigitsAt(bytes, start + 5, 2);
  const day = byteDigitsAt(bytes, start + 8, 2);
  const hour = byteDigitsAt(bytes, start + 11, 2);
  const minute = byteDigitsAt(bytes, start + 14, 2);
  const second = byteDigitsAt(bytes, start + 17, 2);
  const offsetHour = offset ? byteDigitsAt(bytes, start + 20, 2) : 0;
  const offsetMinute = offset ? byteDigitsAt(bytes, start + 23, 2) : 0;
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || offsetHour < 0 || offsetMinute < 0) return undefined;
  return wholeSecondInstantMs(year, month, day, hour, minute, second, offset ? (zone === 0x2d ? -1 : 1) : 0, offsetHour, offsetMinute) ?? undefined;
}

/** parseInstant by INSTANT_PATTERN: every shape it accepts. */
export function parseInstantByPattern(value: string): Date | null {
  const match = INSTANT_PATTERN.exec(value);
  if (match === null) {
    return null;
  }
  const [, yearText, monthText, dayText, hourText, minuteText, secondText] = match;
  const [fractionText, sign, offsetHourText, offsetMinuteText] = match.slice(7);
  const year = Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  if (!isRealDay(year, month, day) || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  let offsetMinutes = 0;
  if (sign !== undefined) {
    const offsetHour = Number(offsetHourText);
    const offsetMinute = Number(offsetMinuteText);
    if (offsetHour > 23 || offsetMinute > 59) {
      return null;
    }
    offsetMinutes = (sign === '-' ? -1 : 1) * (offsetHour * 60 + offsetMinute);
  }
  const milliseconds = fractionText === undefined ? 0 : Number(fractionText.slice(0, 3).padEnd(3, '0'));
  const localMs =
    epochDayFromCivil({ year, month, day }) * DAY_MS +
    hour * HOUR_MS +
    minute * MINUTE_MS +
    second * SECOND_MS +
    milliseconds;
  return new Date(localMs - offsetMinutes * MINUTE_MS);
}

/** The instant a Shanghai calendar date begins (00:00 +08:00), for date-range queries. */
export function startOfShanghaiDate(date: string): Date {
  return new Date(epochDayOf(date) * DAY_MS - SHANGHAI_OFFSET_MS);
}

function minutesOfCutoff(cutoffTime: string): number {
  const match = /^(\d{2}):(\d{2})$/.exec(cutoffTime);
  assert(match !== null, `cutoffTime is HH:MM, got ${JSON.stringify(cutoffTime)}`);
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  assert(
    (hour <= 23 && minute <= 59) || (hour === 24 && minute === 0),
    `cutoffTime is 00:00–23:59 or 24:00, got ${cutoffTime}`,
  );
  return hour * 60 + minute;
}

/**
 * The business date of a payment (docs/lifecycle.md §3.8): the Shanghai date of `paidAt`, moved to the
 * next day when the local time is at or after the agency's cut-off. `24:00` is midnight and never
 * moves a payment; `00:00` moves every payment to the next day, which is what "at or after"
 * says, however odd such a cut-off would be.
 *
 * Comparing whole minutes is exact: a time is at or after `HH:MM` exactly when its hour and
 * minute are, whatever its seconds.
 */
export function businessDateFor(paidAt: Date, cutoffTime: string): string {
  const cutoffMinutes = minutesOfCutoff(cutoffTime);
  const { date, hour, minute } = shanghaiParts(paidAt);
  if (cutoffTime === CUTOFF_MIDNIGHT) {
    return date;
  }
  return hour * 60 + minute >= cutoffMinutes ? addDays(date, 1) : date;
}
