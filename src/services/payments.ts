import { randomBase64Url } from '../crypto/randomIds';
import type { Knex } from 'knex';
import { canonicalJsonSha256Hex } from '../crypto/canonicalJson';
import type { FieldCipher } from '../crypto/fieldCipher';
import type { Db, Queryable } from '../db/database';
import * as repo from '../db/repositories/payments';
import { journalEntryParameters } from '../db/repositories/ledger';
import { knexRunner, pgRunner, withPooledClient } from '../db/statements';
import { StatementBatcher } from '../db/statementBatcher';
import { businessDateFor, formatInstant, parseInstant, shanghaiDate } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, type FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { type JournalEntry, succeededPaymentEntry, unappliedPaymentEntry } from '../domain/ledger';
import { Decimal, formatMoney, parseMoney, singleAmountProblem, sumMoney, ZERO } from '../domain/money';
import { UNAPPLIED_REASONS, type UnappliedReason } from '../domain/noticePricing';
import { isValidPayCode } from '../domain/payCode';
import { decidePosting, paidAtBoundsProblem, paidAtWindow, type PaymentChannel, type PostingNotice, postingRefusal } from '../domain/posting';
import { NOTICE_STATUSES, type NoticeStatus, PAYMENT_MACHINE, transition } from '../domain/stateMachines';
import type { DeferredNonce, NonceClaim } from '../domain/access';
import type { Logger } from '../logger';
import { EVENT_DATA_BYTES_MAX, type EventType, newEventId } from './events';
import { nonceReused } from './nonces';
import type { NoticeLine } from './noticeViews';
import { paymentWire, type PaymentRecord, type PaymentWire, toPaymentRecord } from './paymentViews';
import { type PreparedReceipt, type ReceiptInput, receiptInsert } from './receipts';

/**
 * Posting payments (支付, docs/lifecycle.md §3) — the heart of the service — and reading them back
 * (docs/interface.md §6.3).
 *
 * `postPayment` checks, in the order of docs/interface.md §3: a repeat of a bound key (the original
 * answer) → PAY_CODE_INVALID (funds not captured) → VALIDATION_FAILED (paidAt bounds) →
 * IDEMPOTENCY_CONFLICT → the posting rules (docs/lifecycle.md §3.3). Then it either refuses (funds not
 * captured: NOTICE_NOT_FOUND, NOTICE_ALREADY_PAID, NOTICE_NOT_PAYABLE, PAID_BEFORE_ISSUE,
 * AMOUNT_MISMATCH — nothing recorded) or records, in one statement that commits atomically: the payment (SUCCEEDED or
 * UNAPPLIED), the key, the notice PAID with its late fees, the journal entry, the receipt or the
 * refund obligation, and the event.
 *
 * Round trips: one read (which also stores the request's nonce, decision 0009), one write. The first attempt reads
 * without a lock and writes only if the notice is still the version it read; an attempt that lost
 * that race is decided again under `SELECT … FOR UPDATE` in an explicit transaction — see
 * src/db/repositories/payments.ts and contracts/decisions/0030-posting-statements.md.
 */

/** The body of `POST /v1/agency/payments`, as the contract has shaped it. */
export interface PostPaymentInput {
  agencyTxnId: string;
  payCode: string;
  amount: string;
  paidAt: string;
  channel: PaymentChannel;
  fundsCaptured?: boolean;
  payerAccount?: { name: string; accountNo: string; bankName: string };
}

/** The posting agency: the authenticated party. */
export interface AgencyCaller {
  partyId: string;
  code: string;
}

export interface PostedPayment {
  payment: PaymentWire;
  /** True when an earlier identical posting answers (`Idempotent-Replay: true`, 201 as then). */
  replayed: boolean;
}

/** The part of the receipt use case a posting needs (src/services/receipts.ts). */
export interface ReceiptPreparer {
  prepareReceipt(input: ReceiptInput, via?: Queryable): Promise<PreparedReceipt>;
}

export interface PaymentDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  receipts: ReceiptPreparer;
  /** Encrypts the payer's account name and number at rest. */
  fieldCipher: FieldCipher;
}

/**
 * A posting is attempted at most this often: once without a lock, then under the notice's lock
 * (which cannot lose the notice race), then once more if a concurrent repeat bound the key in
 * between (the third read finds the key and replays or conflicts).
 */
export const POSTING_ATTEMPTS_MAX = 3;

/** A refund obligation of unapplied money is approved by policy when it is created (docs/settlement.md §3). */
export const REFUND_OBLIGATION_STATUS = 'APPROVED';

/** What stands in for the payer's account name and number in the request fingerprint. */
const ENCRYPTED_FIELD_PLACEHOLDER = '[encrypted]';

/**
 * The request fingerprint (docs/interface.md §4: the SHA-256 of the canonical JSON of the parsed body),
 * with `fundsCaptured` written out when the body left it to its default: `false` and absent mean
 * the same posting, so a retry that spells the default out is the same content
 * (contracts/decisions/0031-posting-input.md). The payer's account name and number are stored
 * encrypted; a hash of them beside the other fields would give them away to a few billion
 * guesses, so they stand as a placeholder here and a repeat compares them decrypted (sameContent).
 */
export function postingFingerprint(input: PostPaymentInput): string {
  const payerAccount = input.payerAccount === undefined ? undefined : { ...input.payerAccount, name: ENCRYPTED_FIELD_PLACEHOLDER, accountNo: ENCRYPTED_FIELD_PLACEHOLDER };
  return canonicalJsonSha256Hex({ ...input, fundsCaptured: input.fundsCaptured ?? false, ...(payerAccount ? { payerAccount } : {}) });
}

/**
 * Rules of the body that the contract cannot express (VALIDATION_FAILED, every problem listed):
 * `paidAt` must be an instant with an offset, and money that moved is more than nothing.
 */
export function postingInputProblems(input: PostPaymentInput): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (parseInstant(input.paidAt) === null) problems.push({ path: '/paidAt', problem: 'must be an ISO 8601 date-time with an offset, e.g. 2026-11-27T10:30:00+08:00' });
  else {
    const bounds = paidAtBoundsProblem(input.paidAt);
    if (bounds !== null) problems.push({ path: '/paidAt', problem: bounds });
  }
  const amount = parseMoney(input.amount);
  const amountProblem = amount === null ? null : singleAmountProblem(amount);
  if (amountProblem !== null) problems.push({ path: '/amount', problem: amountProblem });
  return problems;
}

/** 'P' + the real time in base 36 (so ids sort by creation, which keeps their index append-mostly) + 72 random bits. */
export function newPaymentId(realNow: Date): string {
  return `P${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

export function newRefundId(realNow: Date): string {
  return `R${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

/** What the posting reads of each line of the notice being posted to. */
export type PostedLine = Pick<NoticeLine, 'position' | 'itemCode' | 'itemName' | 'amount' | 'receivingAccountNo' | 'lateFeeRule'>;

export interface ReadNotice extends PostingNotice {
  id: string;
  version: string;
  unitPartyId: string;
  unitCode: string;
  unitName: string;
  bizRef: string;
  payerName: string;
  totalAmount: Decimal;
  lines: PostedLine[];
}

/** The notice's columns of the posting's read. */
export type NoticeReadColumns = Pick<repo.PostingReadRow, Extract<keyof repo.PostingReadRow, `notice_${string}`>>;

/** Also reads the notices reconciliation's backfill locks (src/services/reconciliation/backfill.ts), shaped as the posting's read. */
export function readNotice(row: NoticeReadColumns): ReadNotice | null {
  if (row.notice_id === null) return null;
  const status = row.notice_status as NoticeStatus;
  assert(NOTICE_STATUSES.includes(status), `notice ${row.notice_id} has a known status`);
  assert(row.notice_version !== null && row.notice_due_date !== null && row.notice_created_at !== null && row.notice_items !== null, `notice ${row.notice_id} was read whole`);
  const lines = row.notice_items.map((item) => ({
    position: item.position,
    itemCode: item.item_code,
    itemName: item.item_name,
    amount: new Decimal(item.amount),
    receivingAccountNo: item.receiving_account_no,
    lateFeeRule:
      item.late_fee_type === 'DAILY_RATE'
        ? ({ type: 'DAILY_RATE', ratePerDay: new Decimal(item.rate_per_day as string), capRatio: new Decimal(item.cap_ratio as string) } as const)
        : ({ type: 'NONE' } as const),
  }));
  const totalAmount = new Decimal(row.notice_total_amount as string);
  assert(sumMoney(lines.map((line) => line.amount)).eq(totalAmount), `notice ${row.notice_id}: its lines add up to its total`);
  return {
    id: row.notice_id,
    version: row.notice_version,
    status,
    dueDate: row.notice_due_date,
    expireDate: row.notice_expire_date,
    createdAt: row.notice_created_at,
    unitPartyId: row.notice_unit_party_id as string,
    unitCode: row.notice_unit_code as string,
    unitName: row.notice_unit_name as string,
    bizRef: row.notice_biz_ref as string,
    payerName: row.notice_payer_name as string,
    totalAmount,
    lines,
  };
}

/** The payment a bound key names, as the posting that bound it answered. */
function boundPayment(row: repo.PostingReadRow): PaymentRecord {
  assert(row.bound_payment_id !== null, 'a bound key names its payment');
  const record = toPaymentRecord({
    payment_id: row.bound_payment_id,
    agency_code: row.bound_agency_code as string,
    agency_txn_id: row.bound_agency_txn_id as string,
    pay_code: row.bound_pay_code as string,
    amount: row.bound_amount as string,
    paid_at: row.bound_paid_at as Date,
    business_date: row.bound_business_date as string,
    channel: row.bound_channel as string,
    status: row.bound_status as string,
    unapplied_reason: row.bound_unapplied_reason,
    receipt_no: row.bound_receipt_no,
    refund_id: row.bound_refund_id,
    created_at: row.bound_created_at as Date,
  });
  // The original answer: its status as posted, whatever refunds or corrections did since
  // (contracts/decisions/0031-posting-input.md). GET shows the current status.
  return { ...record, status: transition(PAYMENT_MACHINE, null, record.unappliedReason === null ? 'applyPosting' : 'recordUnapplied') };
}

/** Whether a repeat is the same posting as the one that bound the key. */
function sameContent(row: repo.PostingReadRow, requestHash: string, input: PostPaymentInput, paidAt: Date, fieldCipher: FieldCipher): boolean {
  if (row.key_request_hash !== null) {
    if (row.key_request_hash !== requestHash) return false;
    // Equal fingerprints say both had a payer account or neither; its name and number are compared here.
    if (input.payerAccount === undefined) return true;
    assert(row.bound_payer_account_name !== null && row.bound_payer_account_no !== null, 'an equal fingerprint says a payer account was stored');
    return fieldCipher.decrypt(row.bound_payer_account_no) === input.payerAccount.accountNo && fieldCipher.decrypt(row.bound_payer_account_name) === input.payerAccount.name;
  }
  // Bound by reconciliation's backfill of a statement line, which has no request body: the same
  // payCode, amount and paidAt replay it (docs/reconciliation.md §2).
  return row.bound_pay_code === input.payCode && new Decimal(row.bound_amount as string).eq(new Decimal(input.amount)) && (row.bound_paid_at as Date).getTime() === paidAt.getTime();
}

type Plan =
  | { kind: 'replay'; payment: PaymentRecord }
  | { kind: 'write'; variant: repo.PostingVariant; values: repo.PostingWriteValues; payment: PaymentRecord; wire: PaymentWire; expect: Expected; late: boolean };

/** What the write must report for the payment to count as written. */
interface Expected {
  entryLines: number;
  noticeLines: number;
  /** At least: finance parties are added by the statement. */
  eventsAtLeast: number;
}

/** Signals a lost race out of a knex transaction, so that it rolls back. */
class LostRaceSignal extends Error {
  constructor(readonly race: repo.LostRace) {
    super(`posting lost its race: ${race}`);
  }
}

export class PaymentService {
  private readonly postingReads: StatementBatcher<repo.BatchedPostingRead, { row: repo.PostingReadRow | undefined; nonceClaimed: boolean }>;

  constructor(private readonly deps: PaymentDependencies) {
    this.postingReads = new StatementBatcher((reads) => withPooledClient(deps.db, (client) => repo.readForPostingsClaimingNonces(pgRunner(client), reads)), POSTING_READ_BATCHING);
  }

  /**
   * `POST /v1/agency/payments`. Errors, in this order: PAY_CODE_INVALID (funds not captured),
   * VALIDATION_FAILED (paidAt more than 60 s ahead; more than 7 days behind with funds not
   * captured), IDEMPOTENCY_CONFLICT, then — funds not captured only — NOTICE_NOT_FOUND,
   * NOTICE_ALREADY_PAID, NOTICE_NOT_PAYABLE, PAID_BEFORE_ISSUE, AMOUNT_MISMATCH.
   */
  async postPayment(agency: AgencyCaller, input: PostPaymentInput, log: Logger = this.deps.log, nonce?: DeferredNonce): Promise<PostedPayment> {
    const paidAt = parseInstant(input.paidAt);
    assert(paidAt !== null, 'paidAt was checked at the edge');
    const amount = parseMoney(input.amount);
    assert(amount !== null && amount.gt(ZERO), 'amount was checked at the edge');
    const context: PostingContext = {
      agency,
      input,
      paidAt,
      amount,
      fundsCaptured: input.fundsCaptured === true,
      payCodeValid: isValidPayCode(input.payCode),
      requestHash: postingFingerprint(input),
      now: this.deps.clocks.business.now(),
    };
    if (!context.fundsCaptured && !context.payCodeValid) {
      throw new TongfuError('PAY_CODE_INVALID', 'payCode must be 20 digits with valid MOD 97-10 check digits', { payCode: input.payCode });
    }

    for (let attempt = 1; attempt <= POSTING_ATTEMPTS_MAX; attempt += 1) {
      const outcome = attempt === 1 ? await this.attemptUnlocked(context, nonce?.take()) : await this.attemptLocked(context);
      if (typeof outcome === 'string') {
        log.debug({ agencyTxnId: input.agencyTxnId, payCode: input.payCode, attempt, race: outcome }, 'posting lost a race; deciding again');
        continue;
      }
      if (outcome.kind === 'replay') return { payment: paymentWire(outcome.payment), replayed: true };
      const fields = { agencyTxnId: input.agencyTxnId, payCode: input.payCode, paymentId: outcome.payment.paymentId, status: outcome.payment.status, unappliedReason: outcome.payment.unappliedReason ?? undefined, attempt };
      if (outcome.late) {
        log.warn({ ...fields, paidAt: formatInstant(paidAt) }, 'captured funds posted more than 7 days after paidAt: recorded; reconciliation of that date must see it');
      } else {
        log.info(fields, 'payment recorded');
      }
      // The answer is the very object the event carries.
      return { payment: outcome.wire, replayed: false };
    }
    throw new Error(`invariant broken: posting ${input.agencyTxnId} lost ${POSTING_ATTEMPTS_MAX} races in a row`);
  }

  /** `GET /v1/agency/payments/{agencyTxnId}`: the agency's own payment; another's is PAYMENT_NOT_FOUND. */
  async getPayment(agency: AgencyCaller, agencyTxnId: string): Promise<PaymentWire> {
    const row = await repo.findPaymentByKey(this.deps.db, agency.partyId, agencyTxnId);
    if (row === undefined) throw new TongfuError('PAYMENT_NOT_FOUND', `no payment with agencyTxnId ${agencyTxnId}`, { agencyTxnId });
    return paymentWire(toPaymentRecord(row));
  }

  /**
   * Read and write on pooled connections, no explicit transaction; the connection is not held
   * while the receipt is signed. The read stores the request's nonce, if given (decision 0009):
   * a used one ends the posting before anything is decided.
   */
  private async attemptUnlocked(context: PostingContext, nonce: NonceClaim | undefined): Promise<Plan | repo.LostRace> {
    const { db } = this.deps;
    // With a nonce to store, the read shares one statement with the postings arriving meanwhile
    // (contracts/decisions/0175-batched-posting-reads.md).
    const { row: read, nonceClaimed } = nonce
      ? await this.postingReads.submit({ parameters: readParameters(context), nonce })
      : await withPooledClient(db, (client) => repo.readForPosting(pgRunner(client), readParameters(context), { lock: false }));
    if (!nonceClaimed) throw nonceReused();
    assert(read !== undefined, 'a claimed nonce comes with its read');
    const plan = await this.plan(read, context, db);
    if (plan.kind === 'replay') return plan;
    const written = await withPooledClient(db, (client) => repo.writePosting(pgRunner(client), plan.variant, plan.values));
    if (typeof written === 'string') return written;
    checkWritten(plan, written);
    return plan;
  }

  /** Read FOR UPDATE and write in one transaction: the notice stays locked until it commits. */
  private async attemptLocked(context: PostingContext): Promise<Plan | repo.LostRace> {
    try {
      return await this.deps.db.transaction(async (trx: Knex.Transaction) => {
        const runner = knexRunner(trx);
        const { row: read } = await repo.readForPosting(runner, readParameters(context), { lock: true });
        // Serials for the receipt, when this process has none left, are drawn through this
        // transaction rather than a second pooled connection.
        const plan = await this.plan(read, context, trx);
        if (plan.kind === 'replay') return plan;
        const written = await repo.writePosting(runner, plan.variant, plan.values);
        if (typeof written === 'string') throw new LostRaceSignal(written);
        checkWritten(plan, written);
        return plan;
      });
    } catch (error) {
      if (error instanceof LostRaceSignal) return error.race;
      throw error;
    }
  }

  /** Decides the posting on what was read: the stored answer, a refusal (thrown), or what to write. */
  private async plan(read: repo.PostingReadRow, context: PostingContext, via: Queryable): Promise<Plan> {
    const { agency, input, paidAt, amount, now } = context;
    assert(read.agency_code === agency.code, `agency party ${agency.partyId} is ${agency.code}`);
    if (read.key_bound && sameContent(read, context.requestHash, input, paidAt, this.deps.fieldCipher)) return { kind: 'replay', payment: boundPayment(read) };

    const window = paidAtWindow(paidAt, now);
    if (window === 'IN_FUTURE') {
      throw validationFailed([{ path: '/paidAt', problem: `must not be more than 60 s after the platform's time (${formatInstant(now)}): a payment cannot have happened later than now` }]);
    }
    if (window === 'TOO_OLD' && !context.fundsCaptured) {
      throw validationFailed([{ path: '/paidAt', problem: `must not be more than 7 days before the platform's time (${formatInstant(now)}) unless fundsCaptured is true` }]);
    }
    if (read.key_bound) {
      throw new TongfuError('IDEMPOTENCY_CONFLICT', `agencyTxnId ${input.agencyTxnId} was already posted with other content`, { agencyTxnId: input.agencyTxnId });
    }

    const notice = context.payCodeValid ? readNotice(read) : null;
    const decision = decidePosting({ payCode: input.payCode, notice, paidAt, amount });
    if (!decision.applies && !context.fundsCaptured) {
      throw postingRefusal({ reason: decision.reason, payCode: input.payCode, amount, amountDue: decision.amountDue, noticeStatus: notice?.status ?? null, paymentDate: decision.paymentDate, noticeCreatedAt: notice?.createdAt ?? null, paidAt });
    }

    const realNow = this.deps.clocks.real.now();
    const businessDate = businessDateFor(paidAt, read.cutoff_time);
    const accountingDate = shanghaiDate(now);
    const payment: PaymentRecord = {
      paymentId: newPaymentId(realNow),
      agencyCode: agency.code,
      agencyTxnId: input.agencyTxnId,
      payCode: input.payCode,
      amount,
      paidAt,
      businessDate,
      channel: input.channel,
      status: decision.paymentStatus,
      unappliedReason: decision.applies ? null : decision.reason,
      refundId: null,
      receiptNo: null,
      createdAt: now,
    };
    const common = {
      notice_id: notice?.id ?? null,
      notice_version: notice?.version ?? null,
      agency_party_id: agency.partyId,
      agency_code: agency.code,
      agency_txn_id: input.agencyTxnId,
      request_hash: context.requestHash,
      now,
      payment_id: payment.paymentId,
      pay_code: input.payCode,
      amount: formatMoney(amount),
      paid_at: paidAt,
      business_date: businessDate,
      channel: input.channel,
      funds_captured: context.fundsCaptured,
      payer_account_name: input.payerAccount === undefined ? null : this.deps.fieldCipher.encrypt(input.payerAccount.name),
      payer_account_no: input.payerAccount === undefined ? null : this.deps.fieldCipher.encrypt(input.payerAccount.accountNo),
      payer_bank_name: input.payerAccount?.bankName ?? null,
      payment_status: payment.status,
      payment_row_id: read.payment_row_id,
    };
    const late = paidAtWindow(paidAt, now) === 'TOO_OLD';

    if (decision.applies) {
      assert(notice !== null, 'an applied posting has its notice');
      const { charges } = decision;
      assert(charges.amountDue.eq(amount), 'an applied posting pays exactly the amount due');
      const entry: JournalEntry = {
        ...succeededPaymentEntry({
        paymentId: read.payment_row_id,
        agencyCode: agency.code,
        amount,
        items: notice.lines.map((line, index) => ({ receivingAccountNo: line.receivingAccountNo, amount: line.amount, lateFee: charges.perItemLateFee[index] as Decimal })),
        accountingDate,
      }),
        causeDate: businessDate,
      };
      const receipt = await this.deps.receipts.prepareReceipt(
        {
          noticeId: notice.id,
          payCode: input.payCode,
          unitCode: notice.unitCode,
          unitName: notice.unitName,
          payerName: notice.payerName,
          items: notice.lines.map((line, index) => ({ itemCode: line.itemCode, itemName: line.itemName, amount: line.amount, lateFee: charges.perItemLateFee[index] as Decimal })),
          totalAmount: charges.totalAmount,
          lateFee: charges.lateFee,
          paidAmount: amount,
          paidAt,
          agencyCode: agency.code,
          agencyTxnId: input.agencyTxnId,
          issuedAt: now,
        },
        via,
      );
      payment.receiptNo = receipt.receiptNo;
      const wire = paymentWire(payment);
      const event = eventValues('payment.succeeded', { payment: wire, notice: { payCode: input.payCode, bizRef: notice.bizRef, status: decision.noticeStatus }, receiptNo: receipt.receiptNo }, [notice.unitPartyId, agency.partyId], false);
      return {
        kind: 'write',
        variant: 'APPLIED',
        payment,
        wire,
        late,
        expect: { entryLines: entry.lines.length, noticeLines: notice.lines.length, eventsAtLeast: 2 },
        values: {
          ...common,
          ...journalEntryParameters(entry, now),
          ...event,
          unapplied_reason: null,
          receipt_no: receipt.receiptNo,
          notice_status: decision.noticeStatus,
          late_fee_paid: formatMoney(charges.lateFee),
          line_late_fees: JSON.stringify(notice.lines.map((line, index) => ({ position: line.position, late_fee_paid: formatMoney(charges.perItemLateFee[index] as Decimal) }))),
          receipt_bindings: receiptBindings(receipt),
        },
      };
    }

    const reason: UnappliedReason = decision.reason;
    assert(UNAPPLIED_REASONS.includes(reason), 'an unapplied posting has a reason');
    payment.refundId = newRefundId(realNow);
    const entry = { ...unappliedPaymentEntry({ paymentId: read.payment_row_id, agencyCode: agency.code, amount, accountingDate }), causeDate: businessDate };
    const wire = paymentWire(payment);
    const event = eventValues('payment.unapplied', { payment: wire, refund: { refundId: payment.refundId, status: REFUND_OBLIGATION_STATUS, amount: wire.amount } }, [agency.partyId], true);
    return {
      kind: 'write',
      variant: !context.payCodeValid ? 'UNAPPLIED_INVALID' : notice === null ? 'UNAPPLIED_ABSENT' : 'UNAPPLIED_NOTICE',
      payment,
      wire,
      late,
      expect: { entryLines: entry.lines.length, noticeLines: 0, eventsAtLeast: 1 },
      values: {
        ...common,
        ...journalEntryParameters(entry, now),
        ...event,
        unapplied_reason: reason,
        receipt_no: null,
        refund_id: payment.refundId,
        refund_status: REFUND_OBLIGATION_STATUS,
      },
    };
  }
}

interface PostingContext {
  agency: AgencyCaller;
  input: PostPaymentInput;
  paidAt: Date;
  amount: Decimal;
  fundsCaptured: boolean;
  payCodeValid: boolean;
  requestHash: string;
  /** The business clock when the posting arrived: createdAt, the accounting date, the paidAt bounds. */
  now: Date;
}

/**
 * Posting-read batches (decision 0175): up to 64 reads in one statement, two statements in flight
 * per process, as for verifications (decision 0173).
 */
const POSTING_READ_BATCHING = { batchMax: 64, inFlightMax: 2 } as const;

function readParameters(context: PostingContext): repo.PostingReadParameters {
  // A code failing its check digits is never looked up (docs/payment-code.md).
  return { agencyPartyId: context.agency.partyId, agencyTxnId: context.input.agencyTxnId, payCode: context.payCodeValid ? context.input.payCode : null };
}

/**
 * The event's columns (docs/lifecycle.md §5), checked as recordEvent checks them (src/services/
 * events.ts): a known type, a JSON object within EVENT_DATA_BYTES_MAX, party ids as recipients.
 */
function eventValues(type: EventType, data: Record<string, unknown>, recipients: string[], toFinance: boolean): Pick<repo.PostingWriteValues, 'event_id' | 'event_type' | 'event_data' | 'event_recipients' | 'event_to_finance'> {
  const json = JSON.stringify(data);
  assert(Buffer.byteLength(json, 'utf8') <= EVENT_DATA_BYTES_MAX, `event data is at most ${EVENT_DATA_BYTES_MAX} bytes`);
  for (const partyId of recipients) assert(/^[1-9][0-9]{0,18}$/.test(partyId), `recipient ${partyId} is a party id`);
  return { event_id: newEventId(), event_type: type, event_data: json, event_recipients: JSON.stringify([...new Set(recipients)]), event_to_finance: toFinance };
}

/** The receipt's INSERT is folded into the write statement; its bindings come from the receipts use case, in its order. */
function receiptBindings(receipt: PreparedReceipt): unknown[] {
  return receiptInsert(receipt).bindings;
}

/** The write reports what it wrote; anything short of the plan is a bug, and the answer would lie. */
function checkWritten(plan: Extract<Plan, { kind: 'write' }>, written: repo.PostingWriteRow): void {
  const what = `payment ${plan.payment.paymentId}`;
  assert(written.payment_row_id === plan.values.payment_row_id, `${what}: written as row ${plan.values.payment_row_id}, the row its journal entry references`);
  assert(written.entry_lines === plan.expect.entryLines, `${what}: ${plan.expect.entryLines} journal lines, wrote ${written.entry_lines}`);
  assert(written.events >= plan.expect.eventsAtLeast, `${what}: at least ${plan.expect.eventsAtLeast} events, wrote ${written.events}`);
  if (plan.variant === 'APPLIED') {
    assert(written.notices === 1 && written.receipts === 1 && written.refunds === 0, `${what}: notice paid and receipt issued`);
    assert(written.notice_lines === plan.expect.noticeLines, `${what}: ${plan.expect.noticeLines} notice lines, wrote ${written.notice_lines}`);
  } else {
    assert(written.notices === 0 && written.receipts === 0 && written.refunds === 1, `${what}: one refund obligation, no receipt`);
  }
}
