import { assert } from '../domain/errors';

/**
 * Rows in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`): each value is sent
 * as the server stores it, so the server parses no text — no numeric or timestamptz input function
 * per value, which is most of what a text COPY of money and instants costs it
 * (contracts/decisions/0234-statement-lines-copied-in-binary.md).
 *
 * A stream is HEADER, the rows, TRAILER. Each row is `row(fieldCount)` followed by that many
 * values. Values are appended to one buffer that `take` hands over; each value makes room for
 * itself first (the buffer grows), so a value is never cut.
 */

/** The file header: signature, flags (no OIDs) and an empty header extension. */
export const BINARY_COPY_HEADER: Buffer = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** The file trailer: a field count of −1. */
export const BINARY_COPY_TRAILER: Buffer = Buffer.from([0xff, 0xff]);

/** Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z). */
const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);
const TWO_TO_32 = 4_294_967_296;
/** The sign word of a positive numeric. */
const NUMERIC_POSITIVE = 0x0000;
const NUMERIC_NEGATIVE = 0x4000;
/** A decimal string as PostgreSQL's numeric input takes it: an optional minus, digits, and a fraction of at most 4 digits here. */
const DECIMAL_TEXT = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]{1,4}))?$/;

/**
 * One base-10000 digit group: the value of the decimal digits `text[start, end)` (at most 4; a
 * start before 0 reads from 0, an empty range is 0), read digit by digit — an exact small
 * integer — or −1 if one of them is not a digit.
 */
function digitGroup(text: string, start: number, end: number): number {
  let value = 0;
  for (let index = Math.max(0, start); index < end; index += 1) {
    const digit = text.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

export class BinaryCopyWriter {
  private buffer: Buffer;
  private offset = 0;

  constructor(private readonly chunkBytes = 256 * 1024) {
    this.buffer = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes written and not yet taken. */
  get pendingBytes(): number {
    return this.offset;
  }

  /** Starts a row of `fieldCount` values. */
  row(fieldCount: number): void {
    assert(Number.isInteger(fieldCount) && fieldCount >= 0 && fieldCount <= 0x7fff, `a field count, not ${fieldCount}`);
    this.room(2);
    this.put16(fieldCount, this.offset);
    this.offset += 2;
  }

  null(): void {
    this.room(4);
    this.put32(-1, this.offset);
    this.offset += 4;
  }

  int32(value: number): void {
    assert(Number.isInteger(value) && value >= -2_147_483_648 && value <= 2_147_483_647, `an int32, not ${value}`);
    this.room(8);
    this.put32(4, this.offset);
    this.put32(value, this.offset + 4);
    this.offset += 8;
  }

  /** A bigint column from a safe integer (row ids are far below 2^53). */
  int64(value: number): void {
    assert(Number.isSafeInteger(value), `an int64 within 2^53, not ${value}`);
    this.room(12);
    this.put32(8, this.offset);
    this.writeInt64(value, this.offset + 4);
    this.offset += 12;
  }

  /** A text column (UTF-8), or null. */
  text(value: string | null): void {
    if (value === null) {
      this.null();
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: with that much room, the value is written whole.
    this.room(4 + 3 * value.length);
    const buffer = this.buffer;
    const start = this.offset + 4;
    // ASCII, a statement's identifiers and channels, byte by byte (its UTF-8 is itself); anything
    // else through the encoder, from the start.
    let index = 0;
    while (index < value.length) {
      const code = value.charCodeAt(index);
      if (code > 0x7f) break;
      buffer[start + index] = code;
      index += 1;
    }
    const written = index === value.length ? index : buffer.write(value, start, 'utf8');
    this.put32(written, this.offset);
    this.offset = start + written;
  }

  /** A timestamptz column: the instant in microseconds since 2000-01-01T00:00:00Z (integer datetimes). */
  timestamptz(instant: Date): void {
    const ms = instant.getTime();
    assert(Number.isFinite(ms), 'a valid instant');
    this.room(12);
    this.put32(8, this.offset);
    this.writeInt64((ms - POSTGRES_EPOCH_MS) * 1000, this.offset + 4);
    this.offset += 12;
  }

  /**
   * A numeric column from a decimal string (at most 4 fraction digits, no exponent), with the
   * display scale `scale` (the column's, e.g. 2 for NUMERIC(18, 2)): base-10000 digit groups as
   * PostgreSQL stores them, leading and trailing zero groups stripped.
   */
  numeric(text: string, scale: number): void {
    if (scale === 2 && this.money(text)) return;
    const match = DECIMAL_TEXT.exec(text);
    assert(match !== null, `a decimal string, not ${text}`);
    const [, minus = '', whole = '', fraction = ''] = match;
    assert(fraction.length <= scale && scale <= 4, `${text} has at most ${scale} fraction digits`);
    // Whole part: groups of 4 digits from the right; the fraction: one group, padded to 4 digits.
    const digits: number[] = [];
    const firstGroup = whole.length % 4 === 0 ? 4 : whole.length % 4;
    for (let start = 0, end = firstGroup; start < whole.length; start = end, end += 4) digits.push(digitGroup(whole, start, end));
    let weight = digits.length - 1;
    digits.push(digitGroup(fraction.padEnd(4, '0'), 0, 4));
    while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
    while (digits.length > 0 && digits[0] === 0) {
      digits.shift();
      weight -= 1;
    }
    if (digits.length === 0) weight = 0;
    this.room(12 + 2 * digits.length);
    const at = this.offset;
    this.buffer.writeInt32BE(8 + 2 * digits.length, at);
    this.buffer.writeInt16BE(digits.length, at + 4);
    this.buffer.writeInt16BE(weight, at + 6);
    this.buffer.writeUInt16BE(minus === '-' && digits.length > 0 ? NUMERIC_NEGATIVE : NUMERIC_POSITIVE, at + 8);
    this.buffer.writeInt16BE(scale, at + 10);
    for (let index = 0; index < digits.length; index += 1) this.buffer.writeInt16BE(digits[index] as number, at + 12 + 2 * index);
    this.offset = at + 12 + 2 * digits.length;
  }

  /**
   * Money as most of it is written — `0.05`, `300.00`, `12345678.90`: up to 12 whole digits without
   * a leading zero, a point, two digits — as numeric(text, 2) writes it, read without the pattern or
   * an array (the value of each base-10000 group, then the groups written from the most
   * significant non-zero one to the last non-zero one). False, having written nothing, for any
   * other text: numeric then reads it.
   */
  private money(text: string): boolean {
    const point = text.length - 3;
    if (point < 1 || point > 12 || text.charCodeAt(point) !== 0x2e || (point > 1 && text.charCodeAt(0) === 0x30)) return false;
    // The whole part's groups from the right: the units group [point−4, point), then the ones before it.
    const high = digitGroup(text, 0, point - 8);
    const middle = digitGroup(text, point - 8, point - 4);
    const low = digitGroup(text, point - 4, point);
    const tenths = text.charCodeAt(point + 1) - 48;
    const hundredths = text.charCodeAt(point + 2) - 48;
    if (high < 0 || middle < 0 || low < 0 || tenths < 0 || tenths > 9 || hundredths < 0 || hundredths > 9) return false;
    const fraction = tenths * 1000 + hundredths * 100;
    // weight: the power of 10000 of the first group written (0 for the units group, −1 for the fraction).
    const groups = [high, middle, low, fraction];
    let first = 0;
    while (first < 4 && groups[first] === 0) first += 1;
    let last = 3;
    while (last >= first && groups[last] === 0) last -= 1;
    const count = last - first + 1;
    this.room(12 + 2 * count);
    const at = this.offset;
    this.put32(8 + 2 * count, at);
    this.put16(count, at + 4);
    this.put16(count === 0 ? 0 : 2 - first, at + 6);
    this.put16(NUMERIC_POSITIVE, at + 8);
    this.put16(2, at + 10);
    for (let index = 0; index < count; index += 1) this.put16(groups[first + index] as number, at + 12 + 2 * index);
    this.offset = at + 12 + 2 * count;
    return true;
  }

  /** The rows written since the last take (a copy: the writer reuses its buffer), or null when there are none. */
  take(): Buffer | null {
    if (this.offset === 0) return null;
    const rows = Buffer.from(this.buffer.subarray(0, this.offset));
    this.offset = 0;
    return rows;
  }

  private writeInt64(value: number, at: number): void {
    const high = Math.floor(value / TWO_TO_32);
    this.put32(high, at);
    this.put32(value - high * TWO_TO_32, at + 4);
  }

  /** 16 bits big-endian (a value in −2^15 … 2^16 − 1: its low 16 bits). */
  private put16(value: number, at: number): void {
    const buffer = this.buffer;
    buffer[at] = (value >>> 8) & 0xff;
    buffer[at + 1] = value & 0xff;
  }

  /** 32 bits big-endian (a value in −2^31 … 2^32 − 1: its low 32 bits). */
  private put32(value: number, at: number): void {
    const buffer = this.buffer;
    buffer[at] = (value >>> 24) & 0xff;
    buffer[at + 1] = (value >>> 16) & 0xff;
    buffer[at + 2] = (value >>> 8) & 0xff;
    buffer[at + 3] = value & 0xff;
  }

  /** Makes room for `bytes` more. */
  private room(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) this.grow(bytes);
  }

  private grow(atLeast: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + atLeast));
    this.buffer.copy(bigger, 0, 0, this.offset);
    this.buffer = bigger;
  }
}
