import { randomBase64Url } from '../../crypto/randomIds';
import type { Knex } from 'knex';
import * as repo from '../../db/repositories/backfill';
import { drawJournalEntryIds, paymentJournalEntryWrites } from '../../db/repositories/ledger';
import { type PreparedWrite, runWrites } from '../../db/preparedWrites';
import { formatInstant, shanghaiDate } from '../../domain/businessDate';
import type { Clocks } from '../../domain/clock';
import { assert } from '../../domain/errors';
import { succeededPaymentEntry, unappliedPaymentEntry, type JournalEntry } from '../../domain/ledger';
import { Decimal, formatMoney, sumMoney, ZERO } from '../../domain/money';
import { isValidPayCode } from '../../domain/payCode';
import { decidePosting, PAYMENT_CHANNELS, paidAtWindow, type PaymentChannel } from '../../domain/posting';
import type { Logger } from '../../logger';
import { type EventRecipient, financeRecipients, type NewEvent, prepareEvents } from '../events';
import { paymentWire, type PaymentRecord } from '../paymentViews';
import { newPaymentId, newRefundId, type ReadNotice, readNotice, REFUND_OBLIGATION_STATUS } from '../payments';
import { insertReceipts, type NumberedReceipt, type PreparedReceipt, type ReceiptInput } from '../receipts';
import type { BackfillContext, BackfillOverages, BackfillResult } from './backfillContract';

/**
 * Reconciliation's OVERAGE backfill (长款, docs/reconciliation.md §2, contracts/decisions/0110): a
 * PAY line of the statement with no payment becomes a real payment, recorded exactly as a
 * captured-funds posting of that line would be (docs/lifecycle.md §3.4, §3.6) — business date T,
 * `paidAt` and channel the line's, SUCCEEDED or UNAPPLIED by the posting's own decision
 * (decidePosting), with its journal entry, receipt or refund obligation, and events — then matched
 * with its line at once and recorded as an AUTO_RESOLVED OVERAGE discrepancy.
 *
 * One pass per statement, set-based (no statement per line):
 *   1. read the lines with no key for (agency, agencyTxnId), each with a payment row id drawn;
 *   2. lock the notices their valid payCodes name, FOR UPDATE ordered by id, and read them;
 *   3. bind the keys (ON CONFLICT DO NOTHING): a key an online posting bound meanwhile is that
 *      posting's — the line is no overage and is left to matching;
 *   4. decide every bound line in line order on the locked notices, in memory (a second line for a
 *      notice the first paid is NOTICE_ALREADY_PAID, as a second posting would be);
 *   5. write payments, refund obligations, paid notices, receipts, journal entries, events, matches
 *      and discrepancies, each a few multi-row INSERTs.
 *
 * Idempotent: the keys it binds are what step 1 looks for, so a second call for the statement finds
 * nothing to do. A later online posting of a backfilled agencyTxnId replays it with the same
 * payCode, amount and paidAt and is IDEMPOTENCY_CONFLICT otherwise (the key's request_hash is NULL:
 * src/services/payments.ts, sameContent).
 */

/** The receipt use case's two halves (src/services/receipts.ts): number (serials drawn through the caller's transaction), then sign. */
export interface ReceiptNumberer {
  /** Serials for receipts paid at these instants, drawn through `via` now if the process holds too few. */
  reserveSerials(paidAts: readonly Date[], via: Knex.Transaction): Promise<void>;
  numberReceipt(input: ReceiptInput, via: Knex.Transaction): Promise<NumberedReceipt>;
  signReceipt(numbered: NumberedReceipt): PreparedReceipt;
}

export interface BackfillDependencies {
  receipts: ReceiptNumberer;
  /** The real clock names payment and refund ids; the business time is the context's `now`. */
  clocks: Pick<Clocks, 'real'>;
  log: Logger;
}

/** 'D' + the real time in base 36 + 72 random bits, as payment ids are made. */
export function newDiscrepancyId(realNow: Date): string {
  return `D${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

/** One backfill, decided: what the writes need. */
interface Decided {
  line: repo.OverageLineRow;
  payment: PaymentRecord;
  notice: ReadNotice | null;
  entry: JournalEntry;
  /** SUCCEEDED: the charges the receipt and the notice record. */
  applied: { noticeStatus: string; lateFee: Decimal; perItemLateFee: Decimal[]; totalAmount: Decimal } | null;
}

/**
 * Lines the backfill reads, decides and writes at a time: its memory is bounded by this, whatever
 * the number of overages (a statement of a million lines may, in principle, be all overages).
 * A page of 10,000 held the job process above its 256 MB (docs/quality.md §1); a page's own
 * statements cost a few round trips, so 1,000 costs no measurable time
 * (contracts/decisions/0162-backfill-page-memory.md).
 */
export const BACKFILL_PAGE_LINES = 1_000;

/**
 * Receipts numbered but not yet written that the backfill holds at most: past this it waits for
 * their signatures and writes them before the next page, so memory stays bounded however many
 * overages a statement has.
 */
export const RECEIPTS_OUTSTANDING_MAX = 10_000;
/** Signatures made between two turns of the event loop, so the run's database round trips are answered meanwhile. */
const SIGNATURES_PER_TURN = 4;

/**
 * The backfill's receipts, signed on the side (contracts/decisions/0163-backfill-receipts-signed-alongside.md):
 * each receipt's number, check code and bytes are fixed when its payment is decided (the payment,
 * the paid notice and the `payment.succeeded` event carry the number), and its SM2 signature —
 * the backfill's dominant CPU cost — is made in small slices between the event loop's turns while
 * the database executes the pages' statements. `flush` waits for the last signature and inserts
 * the receipts, in the same transaction: committed with everything, or rolled back with
 * everything. (Held until after the pages, decision 0182, the signatures were made while the run's
 * next statements executed; since the backfill commits beside the run, decision 0239, that left
 * one core idle at the end and the run slower: 4.83 × R against 4.23 ×.)
 */
export class ReceiptSigner {
  private readonly pending: NumberedReceipt[] = [];
  private nextPending = 0;
  private signed: PreparedReceipt[] = [];
  private running: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;

  constructor(private readonly receipts: ReceiptNumberer) {}

  /** Receipts numbered and not yet inserted. */
  get outstanding(): number {
    return this.pending.length - this.nextPending + this.signed.length;
  }

  add(numbered: readonly NumberedReceipt[]): void {
    this.pending.push(...numbered);
    this.startSigning();
  }

  private startSigning(): void {
    if (this.running === null && this.failure === null && this.nextPending < this.pending.length) {
      this.running = this.signAll().then(
        () => {
          this.running = null;
        },
        (error: unknown) => {
          this.failure = { error };
          this.running = null;
        },
      );
    }
  }

  private async signAll(): Promise<void> {
    while (this.nextPending < this.pending.length) {
      for (let made = 0; made < SIGNATURES_PER_TURN && this.nextPending < this.pending.length; made += 1) {
        this.signed.push(this.receipts.signReceipt(this.pending[this.nextPending] as NumberedReceipt));
        this.nextPending += 1;
      }
      await turn();
    }
    this.pending.length = 0;
    this.nextPending = 0;
  }

  /** Waits for every signature, then inserts the signed receipts through `trx`. */
  async flush(trx: Knex.Transaction): Promise<void> {
    this.startSigning();
    while (this.running !== null) await this.running;
    if (this.failure !== null) throw this.failure.error;
    assert(this.nextPending >= this.pending.length, 'every numbered receipt is signed');
    const rows = this.signed;
    this.signed = [];
    await insertReceipts(trx, rows);
  }
}

export function createBackfillOverages(deps: BackfillDependencies, options: { pageLines?: number } = {}): BackfillOverages {
  const pageLines = options.pageLines ?? BACKFILL_PAGE_LINES;
  assert(Number.isInteger(pageLines) && pageLines >= 1, `a backfill page holds at least one line, not ${pageLines}`);
  return async (trx: Knex.Transaction, ctx: BackfillContext): Promise<BackfillResult> => {
    assert(trx.isTransaction === true, 'the backfill runs inside a transaction');
    let count = 0;
    let amount: Decimal = ZERO;
    const signer = new ReceiptSigner(deps.receipts);
    // `payment.unapplied` goes to every finance party: read once, with the first page.
    let finance: EventRecipient[] | null = null;
    // Where the pages' lines come from: the run's candidates, a slice at a time (a slice whose lines
    // all got keys meanwhile reads nothing, and the next is read), or a search of the statement
    // after the last line read.
    const candidates = ctx.candidateLineNos;
    let cursor = 0;
    let exhausted = false;
    const readLines = async (): Promise<repo.OverageLineRow[]> => {
      while (!exhausted) {
        if (candidates === undefined) {
          const lines = await repo.readOverageLines(trx, ctx.statementRowId, ctx.agencyPartyId, { afterLineNo: cursor, limit: pageLines });
          exhausted = lines.length < pageLines;
          if (lines.length > 0) cursor = (lines[lines.length - 1] as repo.OverageLineRow).line_no;
          return lines;
        }
        const slice = candidates.subarray(cursor, cursor + pageLines);
        cursor += slice.length;
        exhausted = cursor >= candidates.length;
        if (slice.length === 0) break;
        const lines = await repo.readOverageLines(trx, ctx.statementRowId, ctx.agencyPartyId, { lineNos: Array.from(slice) });
        if (lines.length > 0) return lines;
      }
      return [];
    };
    const fetchPage = async (): Promise<FetchedPage | null> => {
      const lines = await readLines();
      if (lines.length === 0) return null;
      const locked = await lockAndClaim(trx, ctx, lines, deps);
      finance ??= await financeRecipients(trx);
      // What the page's preparation would otherwise draw through the connection while the page
      // before is being written (decision 0236): its receipts' serials and its entries' row ids.
      await deps.receipts.reserveSerials(lines.map((line) => line.occurred_at), trx);
      const entryIds = await drawJournalEntryIds(trx, locked.claimed.size);
      return { lines, locked, entryIds, finance };
    };
    // Pipelined (contracts/decisions/0186-backfill-pages-pipelined.md,
    // 0236-backfill-writes-prepared-ahead.md): while the database executes page k's writes, this
    // process decides page k+1, numbers its receipts and builds its statements. Page k+1's lines,
    // notice locks, keys, serials and entry ids were read just before page k's writes were sent.
    // Page k's own changes to its notices are not in that read: they are carried over in memory
    // (`paidOnPage`).
    let fetched = await fetchPage();
    let page = fetched === null ? null : await preparePage(trx, ctx, fetched, new Map(), deps);
    while (page !== null && fetched !== null) {
      const nextFetched = exhausted ? null : await fetchPage();
      // Memory stays bounded: before another page, the receipts past the limit are written.
      if (signer.outstanding >= RECEIPTS_OUTSTANDING_MAX) await signer.flush(trx);
      signer.add(page.numbered);
      // The preparation below sends no statement: the page's writes have the connection to themselves.
      const written = writePage(trx, ctx, page, deps);
      let next: PreparedPage | null = null;
      try {
        if (nextFetched !== null) next = await preparePage(trx, ctx, nextFetched, page.paidOnPage, deps);
      } catch (error) {
        await written;
        throw error;
      }
      await written;
      count += page.decided.length;
      amount = amount.plus(page.amount);
      fetched = nextFetched;
      page = next;
    }
    await signer.flush(trx);
    if (count > 0) {
      deps.log.info({ statementRowId: ctx.statementRowId, businessDate: ctx.businessDate, agencyCode: ctx.agencyCode, count, amount: formatMoney(amount) }, 'overages backfilled');
    }
    return { count, amount: formatMoney(amount) };
  };
}

/** A page read: its lines, their notices locked and keys bound, and what its preparation needs from the database. */
interface FetchedPage {
  lines: repo.OverageLineRow[];
  locked: LockedPage;
  /** A journal entry row id for each bound line, in line order. */
  entryIds: string[];
  finance: EventRecipient[];
}

/** A page decided: its lines' payments, entries and charges. */
interface DecidedPage {
  decided: Decided[];
  amount: Decimal;
  /** The notices this page paid, as it left them (the next page was read before this one is written). */
  paidOnPage: Map<string, ReadNotice>;
  startedMs: number;
  ms: Record<string, number>;
}

/** A page decided, its receipts numbered and its statements built: ready to send. */
interface PreparedPage extends DecidedPage {
  numbered: NumberedReceipt[];
  writes: PreparedWrite[];
}

/** A page's notices locked and read, and the agencyTxnIds whose keys it bound. */
interface LockedPage {
  notices: Map<string, ReadNotice>;
  claimed: Set<string>;
  ms: Record<string, number>;
}

/** Decided lines between two turns of the event loop, so the page being written gets its next statement sent meanwhile. */
const DECISIONS_PER_TURN = 100;

/** Lets the event loop turn: the previous page's next statement is sent as soon as the last one returns. */
function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Locks the notices the lines' valid payCodes name, then binds their keys. The lock comes first:
 * a concurrent online posting of one of these notices waits on its lock before it binds its key,
 * so the key INSERT never waits on a posting that waits on us.
 */
async function lockAndClaim(trx: Knex.Transaction, ctx: BackfillContext, lines: repo.OverageLineRow[], deps: BackfillDependencies): Promise<LockedPage> {
  let markMs = performance.now();
  const ms: Record<string, number> = {};
  const validCodes = [...new Set(lines.map((line) => line.pay_code).filter((payCode) => isValidPayCode(payCode)))];
  const notices = new Map<string, ReadNotice>();
  for (const row of await repo.lockNoticesByPayCode(trx, validCodes)) {
    const notice = readNotice(row);
    if (notice !== null) notices.set(row.pay_code, notice);
  }
  ms.lockMs = Math.round(performance.now() - markMs);
  markMs = performance.now();
  // The key carries the payCode and amount the payment will have: the line's (decide).
  const claimed = await repo.claimKeys(trx, ctx.agencyPartyId, lines.map((line) => ({ agency_txn_id: line.agency_txn_id, payment_row_id: line.payment_row_id, pay_code: line.pay_code, amount: line.amount })), ctx.now);
  if (claimed.size < lines.length) {
    deps.log.info({ statementRowId: ctx.statementRowId, skipped: lines.length - claimed.size }, 'backfill: keys bound meanwhile by online postings; those lines are no overages');
  }
  ms.claimMs = Math.round(performance.now() - markMs);
  return { notices, claimed, ms };
}

/**
 * Everything a fetched page needs before its writes, made without sending a statement (its serials
 * were reserved and its entry ids drawn by fetchPage): the decisions, the receipts' numbers and
 * bytes, and the write statements. Turns the event loop between its parts, so that the previous
 * page's statements go on meanwhile.
 */
async function preparePage(trx: Knex.Transaction, ctx: BackfillContext, fetched: FetchedPage, paidEarlier: Map<string, ReadNotice>, deps: BackfillDependencies): Promise<PreparedPage> {
  const decided = await decidePage(ctx, fetched.lines, fetched.locked, deps, paidEarlier);
  const { numbered } = await numberReceipts(trx, ctx, decided, deps);
  const preparedAtMs = performance.now();
  const writes = await pageWrites(ctx, decided, fetched, deps);
  decided.ms.prepareMs = Math.round(performance.now() - preparedAtMs);
  return { ...decided, numbered, writes };
}

/**
 * Decides a page's bound lines in line order on its locked notices — with the state the previous
 * page left them in, for those it paid — sending no statement, and turning the event loop every
 * DECISIONS_PER_TURN lines so that the previous page's writes go on meanwhile.
 */
async function decidePage(ctx: BackfillContext, lines: repo.OverageLineRow[], locked: LockedPage, deps: BackfillDependencies, paidEarlier: Map<string, ReadNotice>): Promise<DecidedPage> {
  const startedMs = performance.now();
  const ms = { ...locked.ms };
  const notices = locked.notices;
  for (const [payCode, notice] of paidEarlier) if (notices.has(payCode)) notices.set(payCode, notice);
  const bound = lines.filter((line) => locked.claimed.has(line.agency_txn_id));
  const accountingDate = shanghaiDate(ctx.now);
  const paidOnPage = new Map<string, ReadNotice>();
  const decided: Decided[] = [];
  for (let index = 0; index < bound.length; index += 1) {
    if (index > 0 && index % DECISIONS_PER_TURN === 0) await turn();
    const item = decide(bound[index] as repo.OverageLineRow, notices, ctx, accountingDate, deps);
    if (item.applied !== null) paidOnPage.set(item.payment.payCode, notices.get(item.payment.payCode) as ReadNotice);
    decided.push(item);
  }
  ms.decideMs = Math.round(performance.now() - startedMs);
  return { decided, amount: sumMoney(decided.map((item) => item.payment.amount)), paidOnPage, startedMs, ms };
}

/**
 * Numbers the receipts of a decided page's applied lines. Their serials were reserved when the page
 * was fetched, so no take draws through `trx` unless another use of this process's serials took
 * them meanwhile (then the draw waits for the statement in flight). The ReceiptSigner signs them,
 * and inserts them when it is flushed.
 */
async function numberReceipts(trx: Knex.Transaction, ctx: BackfillContext, page: DecidedPage, deps: BackfillDependencies): Promise<DecidedPage & { numbered: NumberedReceipt[] }> {
  const numberedAtMs = performance.now();
  const numbered: NumberedReceipt[] = [];
  await Promise.all(
    page.decided.map(async (item) => {
      if (item.applied === null) return;
      const { notice, payment, applied } = item;
      assert(notice !== null, 'an applied backfill has its notice');
      const receipt = await deps.receipts.numberReceipt(
        {
          noticeId: notice.id,
          payCode: payment.payCode,
          unitCode: notice.unitCode,
          unitName: notice.unitName,
          payerName: notice.payerName,
          items: notice.lines.map((line, index) => ({ itemCode: line.itemCode, itemName: line.itemName, amount: line.amount, lateFee: applied.perItemLateFee[index] as Decimal })),
          totalAmount: applied.totalAmount,
          lateFee: applied.lateFee,
          paidAmount: payment.amount,
          paidAt: payment.paidAt,
          agencyCode: ctx.agencyCode,
          agencyTxnId: payment.agencyTxnId,
          issuedAt: ctx.now,
        },
        trx,
      );
      payment.receiptNo = receipt.receiptNo;
      numbered.push(receipt);
    }),
  );
  page.ms.receiptsMs = Math.round(performance.now() - numberedAtMs);
  return { ...page, numbered };
}

/**
 * One decided page's statements, built without the database: payments, refund obligations, paid
 * notices, journal entries, events, matches and discrepancies.
 */
async function pageWrites(ctx: BackfillContext, page: DecidedPage, fetched: FetchedPage, deps: BackfillDependencies): Promise<PreparedWrite[]> {
  const { decided } = page;
  if (decided.length === 0) return [];
  assert(fetched.entryIds.length === decided.length, `a row id for each of the page's ${decided.length} entries, got ${fetched.entryIds.length}`);
  const unapplied = decided.filter((item) => item.applied === null);
  const applied = decided.filter((item) => item.applied !== null);
  const writes: PreparedWrite[] = [
    ...repo.paymentWrites(
      ctx,
      decided.map(({ line, payment, notice }) => ({
        id: line.payment_row_id,
        payment_id: payment.paymentId,
        agency_txn_id: payment.agencyTxnId,
        pay_code: payment.payCode,
        // As the posting records it: the notice the code names, applied or not.
        notice_id: notice?.id ?? null,
        amount: formatMoney(payment.amount),
        paid_at: payment.paidAt,
        channel: payment.channel,
        status: payment.status,
        unapplied_reason: payment.unappliedReason,
        receipt_no: payment.receiptNo,
      })),
    ),
    ...repo.refundObligationWrites(
      ctx.now,
      unapplied.map(({ line, payment }) => ({
        refund_id: payment.refundId as string,
        payment_row_id: line.payment_row_id,
        pay_code: payment.payCode,
        amount: formatMoney(payment.amount),
        reason: payment.unappliedReason as string,
        status: REFUND_OBLIGATION_STATUS,
      })),
    ),
    ...repo.paidNoticeWrites(
      ctx.now,
      applied.map(({ notice, payment, applied: charges }) => {
        assert(notice !== null && charges !== null && payment.receiptNo !== null, 'an applied backfill pays its notice with a receipt');
        return {
          notice_id: notice.id,
          status: charges.noticeStatus,
          paid_at: payment.paidAt,
          paid_amount: formatMoney(payment.amount),
          late_fee_paid: formatMoney(charges.lateFee),
          receipt_no: payment.receiptNo,
          lines: notice.lines.map((line, index) => ({ position: line.position, late_fee_paid: formatMoney(charges.perItemLateFee[index] as Decimal) })),
        };
      }),
    ),
  ];
  await turn();
  writes.push(...paymentJournalEntryWrites(decided.map((item) => item.entry), ctx.now, fetched.entryIds));
  await turn();
  // Events as the posting emits them (docs/lifecycle.md §5): payment.succeeded to the unit and
  // the agency; payment.unapplied to the agency and every finance party.
  const events: NewEvent[] = decided.map(({ payment, notice, applied: charges }) => {
    const wire = paymentWire(payment);
    if (charges !== null) {
      assert(notice !== null, 'an applied backfill has its notice');
      return { type: 'payment.succeeded', recipients: [{ partyId: notice.unitPartyId }, { partyId: ctx.agencyPartyId }], data: { payment: wire, notice: { payCode: payment.payCode, bizRef: notice.bizRef, status: charges.noticeStatus }, receiptNo: payment.receiptNo }, occurredAt: ctx.now };
    }
    return { type: 'payment.unapplied', recipients: [{ partyId: ctx.agencyPartyId }, ...fetched.finance], data: { payment: wire, refund: { refundId: payment.refundId, status: REFUND_OBLIGATION_STATUS, amount: wire.amount } }, occurredAt: ctx.now };
  });
  writes.push(...prepareEvents(events).writes);
  await turn();
  writes.push(...repo.matchWrites(ctx, decided.map(({ line }) => ({ payment_row_id: line.payment_row_id, line_no: line.line_no }))));
  const realNow = deps.clocks.real.now();
  writes.push(
    ...repo.overageDiscrepancyWrites(
      ctx,
      decided.map(({ line }) => ({ discrepancy_id: newDiscrepancyId(realNow), agency_txn_id: line.agency_txn_id, payment_row_id: line.payment_row_id, line_no: line.line_no, pay_code: line.pay_code, amount: line.amount })),
    ),
  );
  return writes;
}

/** Sends one prepared page's statements, one after another (the caller prepares the next page meanwhile). */
async function writePage(trx: Knex.Transaction, ctx: BackfillContext, page: PreparedPage, deps: BackfillDependencies): Promise<void> {
  if (page.decided.length === 0) return;
  const writtenAtMs = performance.now();
  await runWrites(trx, page.writes);
  const { decided, ms } = page;
  ms.writeMs = Math.round(performance.now() - writtenAtMs);
  const succeeded = decided.filter((item) => item.applied !== null).length;
  deps.log.debug({ statementRowId: ctx.statementRowId, count: decided.length, succeeded, unapplied: decided.length - succeeded, amount: formatMoney(page.amount), totalMs: Math.round(performance.now() - page.startedMs), ...ms }, 'backfill page written');
}

/**
 * Decides one line as the posting decides a captured-funds posting (docs/lifecycle.md §3.3, §3.6),
 * on the locked notice as the earlier lines of this statement left it.
 */
function decide(line: repo.OverageLineRow, notices: Map<string, ReadNotice>, ctx: BackfillContext, accountingDate: string, deps: BackfillDependencies): Decided {
  assert((PAYMENT_CHANNELS as readonly string[]).includes(line.channel), `statement line ${line.line_no} has a known channel, got ${line.channel}`);
  const amount = new Decimal(line.amount);
  const paidAt = line.occurred_at;
  const notice = isValidPayCode(line.pay_code) ? (notices.get(line.pay_code) ?? null) : null;
  const decision = decidePosting({ payCode: line.pay_code, notice, paidAt, amount });
  const realNow = deps.clocks.real.now();
  if (paidAtWindow(paidAt, ctx.now) !== 'IN_WINDOW') {
    deps.log.warn({ agencyTxnId: line.agency_txn_id, paidAt: formatInstant(paidAt), lineNo: line.line_no }, 'backfill: paidAt outside the posting window; recorded, as captured funds are');
  }
  const payment: PaymentRecord = {
    paymentId: newPaymentId(realNow),
    agencyCode: ctx.agencyCode,
    agencyTxnId: line.agency_txn_id,
    payCode: line.pay_code,
    amount,
    paidAt,
    businessDate: ctx.businessDate,
    channel: line.channel as PaymentChannel,
    status: decision.paymentStatus,
    unappliedReason: decision.applies ? null : decision.reason,
    refundId: null,
    receiptNo: null,
    createdAt: ctx.now,
  };
  if (decision.applies) {
    assert(notice !== null, 'an applied backfill has its notice');
    const { charges } = decision;
    assert(charges.amountDue.eq(amount), 'an applied backfill pays exactly the amount due');
    // The next line for this notice finds it paid, as a second posting would.
    notices.set(line.pay_code, { ...notice, status: decision.noticeStatus });
    const entry = succeededPaymentEntry({
      paymentId: line.payment_row_id,
      agencyCode: ctx.agencyCode,
      amount,
      items: notice.lines.map((noticeLine, index) => ({ receivingAccountNo: noticeLine.receivingAccountNo, amount: noticeLine.amount, lateFee: charges.perItemLateFee[index] as Decimal })),
      accountingDate,
    });
    // The payment's business date is the statement's: a backfill for a sealed date is an adjustment of the day it is written (decision 0140).
    entry.causeDate = ctx.businessDate;
    return { line, payment, notice, entry, applied: { noticeStatus: decision.noticeStatus, lateFee: charges.lateFee, perItemLateFee: charges.perItemLateFee, totalAmount: charges.totalAmount } };
  }
  payment.refundId = newRefundId(realNow);
  const entry = { ...unappliedPaymentEntry({ paymentId: line.payment_row_id, agencyCode: ctx.agencyCode, amount, accountingDate }), causeDate: ctx.businessDate };
  return { line, payment, notice, entry, applied: null };
}
