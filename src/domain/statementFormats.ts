/**
 * Agency statement files (docs/reconciliation.md §1; contracts/decisions/0100-statement-files.md):
 * the two formats, `TFS1` and `APPBILL`, as streaming adapters that turn a file into the same
 * normalised lines, so that nothing after them knows which format arrived.
 *
 * Pure: the caller feeds the file's bytes chunk by chunk (`push`), receives each well-formed line
 * through `onLine` as soon as it is complete, and at the end (`finish`) gets the header, the
 * trailer, the totals of the lines and every problem found. Memory is bounded by one chunk plus
 * one line: a line longer than STATEMENT_LINE_MAX_BYTES is a problem, and its bytes are skipped
 * up to its end without being kept.
 *
 * What needs the database — a payCode that is not a valid 20-digit code but may be the posted
 * code of a payment recorded `UNAPPLIED` with `PAY_CODE_INVALID`, and an `agencyTxnId` twice in
 * the file — is left to set-based checks after the lines are staged: the line carries
 * `payCodeToLookUp` for the first; duplicates are not tracked here (a set of 1,000,000 ids is
 * not bounded memory).
 */
import { formatInstant, isValidDate, parseInstant, wholeSecondInstantMsOfBytes } from './businessDate';
import { CALLER_ID_PATTERN } from './identifiers';
import { Decimal, formatMoney, MONEY_LIMIT, MONEY_PATTERN, SINGLE_AMOUNT_MAX } from './money';
import { isValidPayCode, postedPayCode } from './payCode';
import { PAID_AT_FUTURE_TOLERANCE_MS, PAID_AT_OFFSET_MAX_MINUTES, PAID_AT_YEAR_MAX, PAID_AT_YEAR_MIN, paidAtBoundsProblem, PAYMENT_CHANNELS } from './posting';

export const STATEMENT_FORMATS = ['TFS1', 'APPBILL'] as const;
export type StatementFormat = (typeof STATEMENT_FORMATS)[number];

/** The longest line accepted, in bytes without its line ending: real lines are about 100 bytes. */
export const STATEMENT_LINE_MAX_BYTES = 4096;
/** Problems reported at most (docs/reconciliation.md §1: the first 100). */
export const STATEMENT_PROBLEMS_MAX = 100;
/** `fileSeq` is a positive integer that fits PostgreSQL's `integer`. */
export const FILE_SEQ_MAX = 2_147_483_647;

/** The platform's instruction numbers: `TF` + `S` (settlement) or `R` (refund) + yyyymmdd + 8 digits. */
export const INSTRUCTION_NO_PATTERN = /^TF[SR](\d{4})(\d{2})(\d{2})\d{8}$/;

/** The APPBILL header and summary title, as docs/reconciliation.md §1 fixes them. */
export const APPBILL_HEADER = '交易时间,交易类型,商户订单号,缴款码或指令号,交易状态,金额,渠道';
export const APPBILL_SUMMARY_TITLE = '总交易单数,总支付金额,总退款金额';

export type StatementLineKind = 'PAY' | 'REFUND';

/** One normalised statement line, whatever the format. */
export interface StatementLine {
  /** The line's number in the file, 1 = the first line. */
  lineNo: number;
  kind: StatementLineKind;
  /** The agency's transaction id (PAY) or its refund reference (REFUND). */
  agencyTxnId: string;
  /** PAY only. */
  payCode: string | null;
  /** REFUND only: the platform's refund instruction number. */
  instructionNo: string | null;
  /** Money, two decimals, more than 0.00. */
  amount: string;
  /** When it was paid (PAY) or refunded (REFUND). */
  occurredAt: Date;
  /** PAY: a payment channel; REFUND: null (or a channel if the agency gave one). */
  channel: string | null;
  /**
   * True when `payCode` is not a valid 20-digit code: it is acceptable only as exactly the posted
   * code of a payment of this agency recorded `UNAPPLIED` with `PAY_CODE_INVALID` (checked by
   * the loader against the database).
   */
  payCodeToLookUp: boolean;
}

export interface StatementHeader {
  agencyCode: string;
  businessDate: string;
  fileSeq: number;
  /** TFS1's generation time; APPBILL has none. */
  generatedAt: Date | null;
}

export interface StatementTrailer {
  payCount: number;
  payTotal: string;
  refundCount: number;
  refundTotal: string;
}

export interface StatementProblem {
  lineNo: number;
  problem: string;
}

/** What the file must agree with. */
export interface StatementExpectations {
  format: StatementFormat;
  /** The caller: TFS1's header must name it. */
  agencyCode: string;
  /** Today's business date (Asia/Shanghai, business clock): a statement for a later date is refused. */
  today: string;
  /**
   * The business clock's time of the load: a line whose time is more than
   * PAID_AT_FUTURE_TOLERANCE_MS after it is refused, as a posting's `paidAt` is (docs/lifecycle.md §3).
   */
  now: Date;
  /**
   * APPBILL: the business date and file sequence given beside the file (query string, inbox
   * name). TFS1: when given (inbox name), the header must agree with them.
   */
  businessDate?: string;
  fileSeq?: number;
}

export interface StatementParseResult {
  header: StatementHeader | null;
  /** The trailer as written (APPBILL: derived from its summary when the summary is well formed). */
  trailer: StatementTrailer | null;
  /** The lines' own counts and totals. */
  totals: StatementTrailer;
  /** The first STATEMENT_PROBLEMS_MAX problems, in line order. */
  problems: StatementProblem[];
  /** All problems found, including those not listed. */
  problemCount: number;
  /** Set when the file is well formed but its trailer disagrees with its lines (STATEMENT_TOTALS_MISMATCH). */
  totalsMismatch: { lineNo: number; problems: string[] } | null;
  lineCount: number;
}

const LF = 0x0a;
const CR = 0x0d;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
// eslint-disable-next-line no-control-regex -- every ASCII code, controls included
const ASCII_ONLY = /^[\x00-\x7f]*$/;
const COUNT_PATTERN = /^(0|[1-9][0-9]{0,8})$/;
const FILE_SEQ_PATTERN = /^[1-9][0-9]{0,9}$/;
const APPBILL_TIME_PATTERN = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/;
const CHANNELS: ReadonlySet<string> = new Set(PAYMENT_CHANNELS);
const PIPE = 0x7c;
/** The bytes of an agencyTxnId ([A-Za-z0-9_-], CALLER_ID_PATTERN), marked 1 by byte value. */
const IDENTIFIER_BYTES: Uint8Array = (() => {
  const marks = new Uint8Array(256);
  for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-') marks[char.charCodeAt(0)] = 1;
  return marks;
})();
/** The channels' names as bytes, each beside the one string every line of that channel shares. */
const CHANNEL_BYTES: ReadonlyArray<{ name: string; bytes: Buffer }> = PAYMENT_CHANNELS.map((name) => ({ name, bytes: Buffer.from(name, 'latin1') }));
/** The channel named by the bytes `bytes[start, end)`, or null when they name none. */
function channelOfBytes(bytes: Buffer, start: number, end: number): string | null {
  for (const channel of CHANNEL_BYTES) {
    if (channel.bytes.length !== end - start) continue;
    let at = 0;
    while (at < channel.bytes.length && channel.bytes[at] === bytes[start + at]) at += 1;
    if (at === channel.bytes.length) return channel.name;
  }
  return null;
}

/** The fen in a MONEY_PATTERN string, exactly (its digits without the point). */
function fenOf(money: string): bigint {
  return BigInt(money.slice(0, -3) + money.slice(-2));
}

/** Fen back to yuan, exactly (a division by 100 in decimal.js has no rounding to do). */
function fenToMoney(fen: bigint): Decimal {
  return new Decimal(fen.toString()).dividedBy(100);
}

/** A file sequence number's text as a number, or null. */
export function parseFileSeq(text: unknown): number | null {
  if (typeof text !== 'string' || !FILE_SEQ_PATTERN.test(text)) return null;
  const value = Number(text);
  return value <= FILE_SEQ_MAX ? value : null;
}

/** Whether `text` is a platform instruction number whose date part is a real day. */
export function isInstructionNo(text: string): boolean {
  const match = INSTRUCTION_NO_PATTERN.exec(text);
  return match !== null && isValidDate(`${match[1]}-${match[2]}-${match[3]}`);
}

/**
 * The streaming parser of one statement file. Feed it the bytes with `push`, then call `finish`.
 * Lines end with LF or CRLF — one of them for the whole file, fixed by its first line; a CR
 * anywhere else is a problem. The last line may lack its line ending, and empty lines may follow
 * the trailer (decision 0212).
 */
export class StatementParser {
  private lineNo = 0;
  /** Bytes of a line not yet ended (at most STATEMENT_LINE_MAX_BYTES + 1 of them). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current line passed the limit: its bytes are skipped until its end. */
  private overlong = false;
  private crlf: boolean | undefined;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private readonly problemList: StatementProblem[] = [];
  private problemTotal = 0;
  private header: StatementHeader | null = null;
  private trailer: StatementTrailer | null = null;
  private trailerLineNo = 0;
  /** APPBILL: the summary title was seen; the next line is its values. */
  private summaryTitleSeen = false;
  private summaryCount: number | null = null;
  private payCount = 0;
  private refundCount = 0;
  /**
   * Totals in fen, exact: a BigInt sum of integers (each amount's digits without its point) is
   * exact and ~20× cheaper per line than a decimal.js addition; it is turned back into money once.
   */
  private payTotalFen = 0n;
  private refundTotalFen = 0n;
  private lines = 0;
  private sawBytes = false;

  /**
   * @param options.payLinesInPlace — read well-formed TFS1 PAY lines from their bytes (payLineInPlace);
   *   on by default. Off, every line is read as text: the tests compare the two.
   */
  constructor(
    private readonly expect: StatementExpectations,
    private readonly onLine: (line: StatementLine) => void,
    private readonly options: { payLinesInPlace?: boolean } = {},
  ) {
    if (expect.format === 'APPBILL') {
      // APPBILL has no header line of its own: the agency is the caller, the date and sequence
      // come beside the file (validated by the caller).
      if (expect.businessDate !== undefined && expect.fileSeq !== undefined) {
        this.header = { agencyCode: expect.agencyCode, businessDate: expect.businessDate, fileSeq: expect.fileSeq, generatedAt: null };
      }
    }
  }

  /** The header once line 1 is read and valid (APPBILL: from the expectations), else null. */
  headerSoFar(): StatementHeader | null {
    return this.header;
  }

  /** Feeds the next bytes of the file. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (!this.sawBytes) {
      this.sawBytes = true;
      if (chunk.length >= 3 && chunk.subarray(0, 3).equals(UTF8_BOM)) {
        this.problem(1, 'the file starts with a byte order mark (EF BB BF): statements are UTF-8 without a BOM');
      }
    }
    let start = 0;
    while (start < chunk.length) {
      const end = chunk.indexOf(LF, start);
      if (end === -1) {
        this.append(chunk.subarray(start), true);
        return;
      }
      if (this.pendingBytes === 0 && !this.overlong) {
        // The whole line is in this chunk: read it in place.
        this.endLine(chunk, start, end, true);
      } else {
        this.append(chunk.subarray(start, end), false);
        const pending = this.takePending();
        this.endLine(pending, 0, pending.length, true);
      }
      start = end + 1;
    }
  }

  /** The end of the file: the last line (if it lacks a line ending), then the file's own checks. */
  finish(): StatementParseResult {
    if (this.pendingBytes > 0 || this.overlong) {
      const pending = this.takePending();
      this.endLine(pending, 0, pending.length, false);
    }
    if (this.lineNo === 0) this.problem(1, 'the file is empty');
    else if (this.expect.format === 'TFS1' && this.trailerLineNo === 0) this.problem(this.lineNo + 1, 'the file ends without a trailer line (T|payCount|payTotal|refundCount|refundTotal)');
    else if (this.expect.format === 'APPBILL' && this.trailerLineNo === 0) {
      this.problem(this.lineNo + 1, this.summaryTitleSeen ? 'the file ends without the summary values line' : `the file ends without the summary (${APPBILL_SUMMARY_TITLE} and its values)`);
    }
    let payTotal = fenToMoney(this.payTotalFen);
    let refundTotal = fenToMoney(this.refundTotalFen);
    for (const [name, total] of [['PAY', payTotal], ['REFUND', refundTotal]] as const) {
      if (total.gte(MONEY_LIMIT)) {
        this.problem(this.trailerLineNo || this.lineNo + 1, `the ${name} lines sum to more than the largest amount (${MONEY_LIMIT.toFixed(0)} yuan)`);
        if (name === 'PAY') payTotal = new Decimal(0);
        else refundTotal = new Decimal(0);
      }
    }
    const totals: StatementTrailer = { payCount: this.payCount, payTotal: formatMoney(payTotal), refundCount: this.refundCount, refundTotal: formatMoney(refundTotal) };
    let totalsMismatch: StatementParseResult['totalsMismatch'] = null;
    if (this.trailer !== null) {
      const differences: string[] = [];
      if (this.expect.format === 'APPBILL') {
        if (this.summaryCount !== this.payCount + this.refundCount) differences.push(`总交易单数 is ${this.summaryCount}, the lines are ${this.payCount + this.refundCount}`);
        this.trailer = { ...this.trailer, payCount: this.payCount, refundCount: this.refundCount };
      } else {
        if (this.trailer.payCount !== this.payCount) differences.push(`payCount is ${this.trailer.payCount}, the PAY lines are ${this.payCount}`);
        if (this.trailer.refundCount !== this.refundCount) differences.push(`refundCount is ${this.trailer.refundCount}, the REFUND lines are ${this.refundCount}`);
      }
      if (this.trailer.payTotal !== totals.payTotal) differences.push(`payTotal is ${this.trailer.payTotal}, the PAY lines sum to ${totals.payTotal}`);
      if (this.trailer.refundTotal !== totals.refundTotal) differences.push(`refundTotal is ${this.trailer.refundTotal}, the REFUND lines sum to ${totals.refundTotal}`);
      if (differences.length > 0) totalsMismatch = { lineNo: this.trailerLineNo, problems: differences };
    }
    return { header: this.header, trailer: this.trailer, totals, problems: this.problemList, problemCount: this.problemTotal, totalsMismatch, lineCount: this.lines };
  }

  /** Keeps the start of a line that continues in the next chunk (copied: the chunk is not ours to keep). */
  private append(bytes: Buffer, copy: boolean): void {
    if (bytes.length === 0 || this.overlong) return;
    if (this.pendingBytes + bytes.length > STATEMENT_LINE_MAX_BYTES + 1) {
      // +1: a CR that ends a line of exactly the limit is its line ending, not its content.
      this.overlong = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(copy ? Buffer.from(bytes) : bytes);
    this.pendingBytes += bytes.length;
  }

  private takePending(): Buffer {
    const bytes = this.pending.length === 1 && this.pending[0] !== undefined ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return bytes;
  }

  /** The line `chunk[start, lineEnd)`, its line ending (if `withLf`) not included but a CR before it. */
  private endLine(chunk: Buffer, start: number, lineEnd: number, withLf: boolean): void {
    this.lineNo += 1;
    const lineNo = this.lineNo;
    if (this.overlong) {
      this.overlong = false;
      this.problem(lineNo, `the line is longer than ${STATEMENT_LINE_MAX_BYTES} bytes`);
      return;
    }
    let end = lineEnd;
    if (withLf) {
      const endsWithCr = end > start && chunk[end - 1] === CR;
      if (this.crlf === undefined) this.crlf = endsWithCr;
      else if (this.crlf !== endsWithCr) {
        // The line is still read: its trailer, or its other problems, are reported as they are.
        this.problem(lineNo, this.crlf ? 'the line ends with LF, but the file\'s lines end with CRLF' : 'the line ends with CRLF, but the file\'s lines end with LF');
      }
      if (endsWithCr) end -= 1;
    }
    if (end - start > STATEMENT_LINE_MAX_BYTES) {
      this.problem(lineNo, `the line is longer than ${STATEMENT_LINE_MAX_BYTES} bytes`);
      return;
    }
    if (this.expect.format === 'TFS1' && lineNo > 1 && this.trailerLineNo === 0 && this.options.payLinesInPlace !== false && this.payLineInPlace(lineNo, chunk, start, end)) return;
    const bytes = chunk.subarray(start, end);
    if (bytes.indexOf(CR) !== -1) {
      this.problem(lineNo, 'the line contains a carriage return (CR) that does not end it: lines end with LF or CRLF');
      return;
    }
    // ASCII (the common case) reads as latin1 without a decoder; anything else must be UTF-8.
    let text = bytes.toString('latin1');
    if (!ASCII_ONLY.test(text)) {
      try {
        text = this.decoder.decode(bytes);
      } catch {
        this.problem(lineNo, 'the line is not valid UTF-8');
        return;
      }
    }
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // reported at push
    if (this.expect.format === 'TFS1') this.tfs1Line(lineNo, text);
    else this.appbillLine(lineNo, text);
  }

  private problem(lineNo: number, problem: string): void {
    this.problemTotal += 1;
    if (this.problemList.length < STATEMENT_PROBLEMS_MAX) this.problemList.push({ lineNo, problem });
  }

  // ---- TFS1 ----

  private tfs1Line(lineNo: number, text: string): void {
    if (this.trailerLineNo !== 0) {
      // Empty lines after the trailer are the blank lines many systems end a file with: nothing
      // to read (decision 0212). Anything else after it is a problem.
      if (text.length > 0) this.problem(lineNo, `a line after the trailer (line ${this.trailerLineNo}): the trailer is the last line, only empty lines may follow it`);
      return;
    }
    const fields = text.split('|');
    const kind = fields[0];
    if (lineNo === 1) {
      if (kind !== 'H') {
        // An APPBILL file sent without format=APPBILL: say so, rather than only what TFS1 wants.
        const appbill = text.startsWith(APPBILL_HEADER.slice(0, APPBILL_HEADER.indexOf(',')));
        this.problem(1, `line 1 must be the header H|TFS1|agencyCode|businessDate|fileSeq|generatedAt${appbill ? '; this is an APPBILL header: send an APPBILL file with format=APPBILL, businessDate and fileSeq' : ''}`);
        if (kind === 'D') this.tfs1Detail(lineNo, fields);
        return;
      }
      this.tfs1Header(fields);
      return;
    }
    if (kind === 'D') this.tfs1Detail(lineNo, fields);
    else if (kind === 'T') this.tfs1Trailer(lineNo, fields);
    else if (kind === 'H') this.problem(lineNo, 'a second header: the header is line 1 only');
    else if (text.length === 0) this.problem(lineNo, 'an empty line');
    else this.problem(lineNo, 'the line is neither a detail (D|…) nor the trailer (T|…)');
  }

  private tfs1Header(fields: string[]): void {
    if (fields.length !== 6) {
      this.problem(1, `the header has ${fields.length} fields, not 6 (H|TFS1|agencyCode|businessDate|fileSeq|generatedAt)`);
      return;
    }
    const [, format = '', agencyCode = '', businessDate = '', fileSeqText = '', generatedAtText = ''] = fields;
    const before = this.problemTotal;
    if (format !== 'TFS1') this.problem(1, `the header names format ${JSON.stringify(format)}, not TFS1`);
    if (agencyCode !== this.expect.agencyCode) this.problem(1, `the header is for agency ${JSON.stringify(agencyCode)}, not for the caller ${this.expect.agencyCode}`);
    if (!isValidDate(businessDate)) this.problem(1, `the header's business date ${JSON.stringify(businessDate)} is not a YYYY-MM-DD date`);
    else if (businessDate > this.expect.today) this.problem(1, `the business date ${businessDate} is in the future (today is ${this.expect.today})`);
    else if (this.expect.businessDate !== undefined && businessDate !== this.expect.businessDate) this.problem(1, `the header's business date ${businessDate} is not the businessDate given with the file (${this.expect.businessDate})`);
    const fileSeq = parseFileSeq(fileSeqText);
    if (fileSeq === null) this.problem(1, `the header's fileSeq ${JSON.stringify(fileSeqText)} is not an integer from 1 to ${FILE_SEQ_MAX}`);
    else if (this.expect.fileSeq !== undefined && fileSeq !== this.expect.fileSeq) this.problem(1, `the header's fileSeq ${fileSeq} is not the fileSeq given with the file (${this.expect.fileSeq})`);
    const generatedAt = this.instant(1, 'generatedAt', generatedAtText);
    if (this.problemTotal === before && fileSeq !== null && generatedAt !== null) {
      this.header = { agencyCode, businessDate, fileSeq, generatedAt };
    }
  }

  private tfs1Detail(lineNo: number, fields: string[]): void {
    if (fields.length !== 7) {
      this.problem(lineNo, `the detail has ${fields.length} fields, not 7 (D|PAY|agencyTxnId|payCode|amount|paidAt|channel or D|REFUND|agencyRefundRef|instructionNo|amount|refundedAt|)`);
      return;
    }
    const [, kind = '', id = '', code = '', amount = '', at = '', channel = ''] = fields;
    if (kind !== 'PAY' && kind !== 'REFUND') {
      this.problem(lineNo, `the detail's kind ${JSON.stringify(kind)} is neither PAY nor REFUND`);
      return;
    }
    this.detail(lineNo, kind, id, code, amount, at, channel, kind === 'PAY' ? 'paidAt' : 'refundedAt', null);
  }

  private tfs1Trailer(lineNo: number, fields: string[]): void {
    this.trailerLineNo = lineNo;
    if (fields.length !== 5) {
      this.problem(lineNo, `the trailer has ${fields.length} fields, not 5 (T|payCount|payTotal|refundCount|refundTotal)`);
      return;
    }
    const [, payCountText = '', payTotal = '', refundCountText = '', refundTotal = ''] = fields;
    const before = this.problemTotal;
    if (!COUNT_PATTERN.test(payCountText)) this.problem(lineNo, `the trailer's payCount ${JSON.stringify(payCountText)} is not a count`);
    if (!MONEY_PATTERN.test(payTotal)) this.problem(lineNo, `the trailer's payTotal ${JSON.stringify(payTotal)} is not money (two decimals, like 123.45)`);
    if (!COUNT_PATTERN.test(refundCountText)) this.problem(lineNo, `the trailer's refundCount ${JSON.stringify(refundCountText)} is not a count`);
    if (!MONEY_PATTERN.test(refundTotal)) this.problem(lineNo, `the trailer's refundTotal ${JSON.stringify(refundTotal)} is not money (two decimals, like 123.45)`);
    if (this.problemTotal === before) this.trailer = { payCount: Number(payCountText), payTotal, refundCount: Number(refundCountText), refundTotal };
  }

  /**
   * The common line of a statement, read from its bytes (contracts/decisions/0240-statement-lines-read-in-place.md):
   * a TFS1 `D|PAY|…` line whose every field is well formed — an agencyTxnId of 1–64
   * [A-Za-z0-9_-], a valid 20-digit payCode, money more than 0.00 and at most the largest single
   * amount, a time of the common whole-second shape within the paidAt bounds and not ahead of the
   * platform's time, a known channel — without splitting it, without a pattern, and with no string
   * but the line's identifiers and amount. Answers false, having recorded nothing, for any other
   * line: tfs1Line then reads it as text and names its problems. The two read every line they both
   * accept alike (test/unit/domain/statementFormats.test.ts).
   */
  private payLineInPlace(lineNo: number, bytes: Buffer, start: number, end: number): boolean {
    if (end - start < 6 || bytes[start] !== 0x44 /* D */ || bytes[start + 1] !== PIPE || bytes[start + 2] !== 0x50 /* P */ || bytes[start + 3] !== 0x41 /* A */ || bytes[start + 4] !== 0x59 /* Y */ || bytes[start + 5] !== PIPE) return false;
    const idStart = start + 6;
    let at = idStart;
    while (at < end && IDENTIFIER_BYTES[bytes[at] as number] === 1) at += 1;
    const idEnd = at;
    if (idEnd === idStart || idEnd - idStart > 64 || idEnd >= end || bytes[idEnd] !== PIPE) return false;
    // The payCode: 20 digits whose value mod 97 is 1 (isValidPayCode).
    const codeStart = idEnd + 1;
    const codeEnd = codeStart + 20;
    if (codeEnd >= end || bytes[codeEnd] !== PIPE) return false;
    let remainder = 0;
    for (at = codeStart; at < codeEnd; at += 1) {
      const digit = (bytes[at] as number) - 48;
      if (digit < 0 || digit > 9) return false;
      remainder = (remainder * 10 + digit) % 97;
    }
    if (remainder !== 1) return false;
    // The amount: MONEY_PATTERN, more than 0.00, no longer than the largest single amount. Its
    // digits are only checked here; the total adds it as exact BigInt fen (fenOf), as the text reading does.
    const amountStart = codeEnd + 1;
    let nonZero = false;
    for (at = amountStart; at < end; at += 1) {
      const digit = (bytes[at] as number) - 48;
      if (digit < 0 || digit > 9) break;
      if (digit !== 0) nonZero = true;
    }
    const wholeDigits = at - amountStart;
    if (wholeDigits === 0 || (wholeDigits > 1 && bytes[amountStart] === 0x30) || wholeDigits + 3 > SINGLE_AMOUNT_MAX.length) return false;
    if (at + 3 >= end || bytes[at] !== 0x2e /* . */ || bytes[at + 3] !== PIPE) return false;
    const tenths = (bytes[at + 1] as number) - 48;
    const hundredths = (bytes[at + 2] as number) - 48;
    if (tenths < 0 || tenths > 9 || hundredths < 0 || hundredths > 9) return false;
    if (!nonZero && tenths === 0 && hundredths === 0) return false;
    const amountEnd = at + 3;
    // paidAt: the common shape, its year 2000–2099 and its offset within ±14:00 (paidAtBoundsProblem), not ahead of now.
    const timeStart = amountEnd + 1;
    const timeEnd = timeStart + 25 < end && bytes[timeStart + 25] === PIPE ? timeStart + 25 : timeStart + 20 < end && bytes[timeStart + 20] === PIPE ? timeStart + 20 : -1;
    if (timeEnd === -1) return false;
    const paidAtMs = wholeSecondInstantMsOfBytes(bytes, timeStart, timeEnd);
    if (paidAtMs === undefined) return false;
    const year = ((bytes[timeStart] as number) - 48) * 1000 + ((bytes[timeStart + 1] as number) - 48) * 100 + ((bytes[timeStart + 2] as number) - 48) * 10 + ((bytes[timeStart + 3] as number) - 48);
    if (year < PAID_AT_YEAR_MIN || year > PAID_AT_YEAR_MAX) return false;
    if (timeEnd - timeStart === 25) {
      const offsetMinutes = (((bytes[timeStart + 20] as number) - 48) * 10 + ((bytes[timeStart + 21] as number) - 48)) * 60 + ((bytes[timeStart + 23] as number) - 48) * 10 + ((bytes[timeStart + 24] as number) - 48);
      if (offsetMinutes > PAID_AT_OFFSET_MAX_MINUTES) return false;
    }
    if (paidAtMs - this.expect.now.getTime() > PAID_AT_FUTURE_TOLERANCE_MS) return false;
    const channel = channelOfBytes(bytes, timeEnd + 1, end);
    if (channel === null) return false;
    const amount = bytes.toString('latin1', amountStart, amountEnd);
    this.lines += 1;
    this.payCount += 1;
    this.payTotalFen += fenOf(amount);
    this.onLine({
      lineNo,
      kind: 'PAY',
      agencyTxnId: bytes.toString('latin1', idStart, idEnd),
      payCode: bytes.toString('latin1', codeStart, codeEnd),
      instructionNo: null,
      amount,
      occurredAt: new Date(paidAtMs),
      channel,
      payCodeToLookUp: false,
    });
    return true;
  }

  // ---- APPBILL ----

  private appbillLine(lineNo: number, text: string): void {
    if (lineNo === 1) {
      if (text !== APPBILL_HEADER) this.problem(1, `line 1 must be the header ${APPBILL_HEADER}`);
      return;
    }
    if (this.trailerLineNo !== 0) {
      // As after TFS1's trailer: empty lines may end the file (decision 0212).
      if (text.length > 0) this.problem(lineNo, `a line after the summary (line ${this.trailerLineNo}): the summary values are the last line, only empty lines may follow them`);
      return;
    }
    if (this.summaryTitleSeen) {
      this.appbillSummary(lineNo, text);
      return;
    }
    if (text === APPBILL_SUMMARY_TITLE) {
      this.summaryTitleSeen = true;
      return;
    }
    if (text === APPBILL_HEADER) {
      // A bill concatenated from two exports: name it, rather than its missing backticks.
      this.problem(lineNo, 'a second header: the header is line 1 only');
      return;
    }
    if (text.length === 0) {
      this.problem(lineNo, 'an empty line');
      return;
    }
    const fields = this.backticked(lineNo, text, 7, 'a transaction line');
    if (fields === null) return;
    const [time = '', type = '', id = '', code = '', status = '', amount = '', channel = ''] = fields;
    const kind: StatementLineKind | null = type === '支付' ? 'PAY' : type === '退款' ? 'REFUND' : null;
    if (kind === null) {
      this.problem(lineNo, `交易类型 ${JSON.stringify(type)} is neither 支付 nor 退款`);
      return;
    }
    if (status !== 'SUCCESS') this.problem(lineNo, `交易状态 ${JSON.stringify(status)} is not SUCCESS`);
    const match = APPBILL_TIME_PATTERN.exec(time);
    const at = match === null ? `invalid:${time}` : `${match[1]}T${match[2]}+08:00`;
    this.detail(lineNo, kind, id, code, amount, at, channel, '交易时间', match === null ? `交易时间 ${JSON.stringify(time)} is not YYYY-MM-DD HH:mm:ss` : null);
  }

  private appbillSummary(lineNo: number, text: string): void {
    this.trailerLineNo = lineNo;
    const fields = this.backticked(lineNo, text, 3, 'the summary values line');
    if (fields === null) return;
    const [countText = '', payTotal = '', refundTotal = ''] = fields;
    const before = this.problemTotal;
    if (!COUNT_PATTERN.test(countText)) this.problem(lineNo, `总交易单数 ${JSON.stringify(countText)} is not a count`);
    if (!MONEY_PATTERN.test(payTotal)) this.problem(lineNo, `总支付金额 ${JSON.stringify(payTotal)} is not money (two decimals, like 123.45)`);
    if (!MONEY_PATTERN.test(refundTotal)) this.problem(lineNo, `总退款金额 ${JSON.stringify(refundTotal)} is not money (two decimals, like 123.45)`);
    if (this.problemTotal === before) {
      this.summaryCount = Number(countText);
      this.trailer = { payCount: 0, payTotal, refundCount: 0, refundTotal };
    }
  }

  /** The values of an APPBILL line, each without its leading backtick, or null (a problem recorded). */
  private backticked(lineNo: number, text: string, count: number, what: string): string[] | null {
    const raw = text.split(',');
    if (raw.length !== count) {
      this.problem(lineNo, `${what} has ${raw.length} values, not ${count}`);
      return null;
    }
    const values: string[] = [];
    for (let index = 0; index < raw.length; index += 1) {
      const value = raw[index] ?? '';
      if (value.charCodeAt(0) !== 0x60) {
        this.problem(lineNo, `value ${index + 1} of ${what} does not start with a backtick (\`)`);
        return null;
      }
      values.push(value.slice(1));
    }
    return values;
  }

  // ---- both ----

  private detail(lineNo: number, kind: StatementLineKind, id: string, typedCode: string, amount: string, at: string, channel: string, atName: string, atProblem: string | null): void {
    const before = this.problemTotal;
    // A payCode typed in groups of four is the code without its spaces, as in a posting
    // (docs/payment-code.md); a valid code has none, so only an invalid one is looked at again.
    const typedValid = kind === 'PAY' && isValidPayCode(typedCode);
    const code = kind === 'PAY' && !typedValid ? postedPayCode(typedCode) : typedCode;
    if (!CALLER_ID_PATTERN.test(id)) this.problem(lineNo, `${kind === 'PAY' ? 'agencyTxnId' : 'agencyRefundRef'} ${JSON.stringify(id.slice(0, 80))} is not 1–64 of A–Z a–z 0–9 _ -`);
    let payCodeToLookUp = false;
    if (kind === 'PAY') {
      if (!typedValid && (code === typedCode || !isValidPayCode(code))) {
        if (CALLER_ID_PATTERN.test(code)) payCodeToLookUp = true;
        else this.problem(lineNo, `payCode ${JSON.stringify(String(code).slice(0, 80))} is neither a valid 20-digit payCode nor a posted code`);
      }
      if (!CHANNELS.has(channel)) this.problem(lineNo, `channel ${JSON.stringify(channel.slice(0, 80))} is not one of ${PAYMENT_CHANNELS.join(', ')}`);
    } else {
      if (!isInstructionNo(code)) this.problem(lineNo, `instructionNo ${JSON.stringify(code.slice(0, 80))} is not TFS or TFR + yyyymmdd + 8 digits`);
      if (channel !== '' && !CHANNELS.has(channel)) this.problem(lineNo, `channel ${JSON.stringify(channel.slice(0, 80))} is neither empty nor one of ${PAYMENT_CHANNELS.join(', ')}`);
    }
    if (!MONEY_PATTERN.test(amount)) this.problem(lineNo, `amount ${JSON.stringify(amount.slice(0, 80))} is not money (yuan with exactly two decimals, like 123.45)`);
    else if (amount === '0.00') this.problem(lineNo, 'amount must be more than 0.00');
    // No leading zeros: a longer string than the largest is a larger amount (decision 0190).
    else if (amount.length > SINGLE_AMOUNT_MAX.length) this.problem(lineNo, `amount ${amount} is more than ${SINGLE_AMOUNT_MAX}, the largest single amount the platform takes in`);
    const occurredAt = atProblem === null ? this.instant(lineNo, atName, at) : null;
    if (atProblem !== null) this.problem(lineNo, atProblem);
    else if (occurredAt !== null && occurredAt.getTime() - this.expect.now.getTime() > PAID_AT_FUTURE_TOLERANCE_MS) {
      this.problem(lineNo, `${atName} ${at} is more than ${PAID_AT_FUTURE_TOLERANCE_MS / 1000} s after the platform's time (${formatInstant(this.expect.now)}): no payment or refund has happened yet at that time`);
    }
    if (this.problemTotal !== before || occurredAt === null) return;
    this.lines += 1;
    if (kind === 'PAY') {
      this.payCount += 1;
      this.payTotalFen += fenOf(amount);
    } else {
      this.refundCount += 1;
      this.refundTotalFen += fenOf(amount);
    }
    this.onLine({
      lineNo,
      kind,
      agencyTxnId: id,
      payCode: kind === 'PAY' ? code : null,
      instructionNo: kind === 'REFUND' ? code : null,
      amount,
      occurredAt,
      channel: channel === '' ? null : channel,
      payCodeToLookUp,
    });
  }

  private instant(lineNo: number, name: string, text: string): Date | null {
    const instant = parseInstant(text);
    if (instant === null) {
      this.problem(lineNo, `${name} ${JSON.stringify(text.slice(0, 80))} is not an ISO 8601 date-time with an offset`);
      return null;
    }
    const bounds = paidAtBoundsProblem(text);
    if (bounds !== null) {
      this.problem(lineNo, `${name} ${bounds}`);
      return null;
    }
    return instant;
  }
}
