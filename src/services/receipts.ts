/**
 * E-receipts (电子票据, docs/lifecycle.md §6): issued in the transaction that pays a notice, signed by
 * the platform, read by the issuing unit and verified by anyone holding the receipt number and
 * check code.
 *
 * ## For the payment posting (docs/lifecycle.md §3.4)
 *
 * Issuing is split in two so that it costs the payment no round trip of its own:
 *
 *   const prepared = await receipts.prepareReceipt({ noticeId, payCode, …, issuedAt }, trx);
 *     // no write: a receipt number (from this process's block of serials), a check code, the
 *     // content, its canonical bytes and the SM2 signature (≈ 0.3–0.5 ms of CPU). It reaches the
 *     // database only when the block of serials is used up: one `nextval` round trip per
 *     // SERIAL_BLOCK_SIZE receipts, through `trx` so that it never waits for a second pooled
 *     // connection.
 *   prepared.receiptNo  // for notices.receipt_no, Payment.receiptNo and payment.succeeded
 *
 * then either
 *
 *   await insertReceipt(trx, prepared);                 // one INSERT of its own, or
 *
 *   const { sql, bindings } = receiptInsert(prepared);  // folded into the payment's statement:
 *   trx.raw(`WITH payment AS (INSERT …), notice AS (UPDATE …), receipt AS (${sql}), … SELECT …`,
 *           [...paymentBindings, ...noticeBindings, ...bindings, …]);
 *
 * `sql` is a complete `INSERT INTO receipts … RETURNING receipt_no`, usable as a data-modifying
 * CTE; its bindings go where it stands. The receipt references the notice by id, so the notice row
 * must exist (it does: the payment has it locked). `receipts_payment_key` makes a second receipt
 * for the same (agencyCode, agencyTxnId) a unique violation: one payment, one receipt.
 *
 * A serial drawn for a receipt whose transaction then rolls back is simply never used — the gap
 * docs/lifecycle.md §6 allows. Never prepare once and insert twice.
 *
 * ## For refunds and corrections (docs/settlement.md §3, docs/reconciliation.md)
 *
 *   await recordReversal(trx, receiptNo, { refundId, amount, reason, at });
 *
 * appends a reversal (冲红) beside the receipt; `refundId: null` is the reversal of the whole
 * payment by REVERSE_PAYMENT. Idempotent per refund. The receipt's status follows from the sum.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { canonicalJson } from '../crypto/canonicalJson';
import { createSm2Verifier, type Sm2Verifier } from '../crypto/sm2';
import type { Db } from '../db/database';
import type { Queryable } from '../db/database';
import * as repo from '../db/repositories/receipts';
import { formatInstant } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import { Decimal, formatMoney, sumMoney } from '../domain/money';
import {
  CHECK_CODE_ALPHABET,
  CHECK_CODE_LENGTH,
  CHECK_CODE_PATTERN,
  formatReceiptNo,
  receiptCodeOf,
  receiptStatus,
  reversibleAmount,
  type ReceiptStatus,
} from '../domain/receipt';
import type { Logger } from '../logger';
import { lookupClientKey } from '../net/addresses';
import type { PlatformKeyService, PlatformSigner } from './platformKeys';
import type { PublicLookupLimiter } from './publicLookupLimits';

// ---- what is signed --------------------------------------------------------------------------

/** One line of a receipt: the notice's item, its amount and the late fee it earned. */
export interface ReceiptContentItem {
  itemCode: string;
  itemName: string;
  amount: string;
  lateFee: string;
}

/**
 * The signed receipt (docs/lifecycle.md §6): money as strings, instants ISO 8601 with +08:00. Only
 * strings, so its canonical JSON is also exactly what JSON.stringify writes for the parsed object.
 */
export interface ReceiptContent {
  receiptNo: string;
  checkCode: string;
  payCode: string;
  unitCode: string;
  unitName: string;
  payerName: string;
  items: ReceiptContentItem[];
  totalAmount: string;
  lateFee: string;
  paidAmount: string;
  paidAt: string;
  agencyCode: string;
  agencyTxnId: string;
  issuedAt: string;
}

/** What a payment that applies knows, in the domain's types. */
export interface ReceiptInput {
  noticeId: string;
  payCode: string;
  unitCode: string;
  unitName: string;
  /** The payer's full name: the receipt is the payer's, and the check code guards it. */
  payerName: string;
  /** In the notice's line order. */
  items: ReadonlyArray<{ itemCode: string; itemName: string; amount: Decimal; lateFee: Decimal }>;
  totalAmount: Decimal;
  lateFee: Decimal;
  paidAmount: Decimal;
  paidAt: Date;
  agencyCode: string;
  agencyTxnId: string;
  /** When the payment applied; the business clock's now if not given. */
  issuedAt?: Date;
}

/** A receipt ready to insert: everything computed, nothing written. */
export interface PreparedReceipt {
  receiptNo: string;
  checkCode: string;
  content: ReceiptContent;
  /** The exact bytes signed and stored: UTF-8 of canonicalJson(content). */
  signedBytes: Buffer;
  /** DER SM2 signature over signedBytes. */
  signature: Buffer;
  keyId: string;
  /** `{PUBLIC_BASE_URL}/v1/public/receipts/{receiptNo}?checkCode={checkCode}`, for the QR code. */
  qrText: string;
  /** The columns beside the content. */
  row: repo.NewReceipt;
}

/** A receipt numbered and its bytes fixed, not yet signed (ReceiptService.numberReceipt). */
export interface NumberedReceipt {
  receiptNo: string;
  checkCode: string;
  content: ReceiptContent;
  /** The exact bytes to sign and store: UTF-8 of canonicalJson(content). */
  signedBytes: Buffer;
  noticeId: string;
  issuedAt: Date;
}

/** Six characters of [0-9A-Z]; randomInt draws each without modulo bias, from the CSPRNG. */
export function generateCheckCode(): string {
  let code = '';
  for (let index = 0; index < CHECK_CODE_LENGTH; index += 1) code += CHECK_CODE_ALPHABET[crypto.randomInt(CHECK_CODE_ALPHABET.length)];
  assert(CHECK_CODE_PATTERN.test(code), `a check code is 6 of [0-9A-Z], got ${code}`);
  return code;
}

export function receiptQrText(publicBaseUrl: string, receiptNo: string, checkCode: string): string {
  return `${publicBaseUrl}/v1/public/receipts/${receiptNo}?checkCode=${checkCode}`;
}

// ---- serials ---------------------------------------------------------------------------------

/**
 * Serials drawn per round trip. At 1,200 payments/s a block lasts about a sixth of a second, so
 * the draws cost one round trip per 200 receipts; a process that stops loses at most one block per
 * receipt code, a gap of < 200 in ten billion.
 */
export const SERIAL_BLOCK_SIZE = 200;
/** The most serials one draw takes, however many takes are waiting (the repository's bound). */
const SERIALS_PER_DRAW_MAX = 10_000;

interface SerialWaiter {
  via: Queryable;
  resolve(serial: string): void;
  reject(error: unknown): void;
}

interface SerialBlock {
  serials: string[];
  next: number;
  /** Takes that found the block empty, served first come first served. */
  waiters: SerialWaiter[];
  drawing: boolean;
}

/**
 * Hands out receipt serials from blocks drawn from the receipt code's sequence, one block at a time
 * per receipt code per process. The sequence gives each value once, to one caller, so blocks never
 * overlap between processes or instances, whatever their block sizes: serials are unique without
 * any coordination beyond nextval.
 *
 * Takes that find the block empty queue up; one draw at a time serves them in order, and draws at
 * least as many serials as are waiting, so no take waits for more than two draws however many
 * arrive at once, unless a draw fails. A draw goes through the connection of the first waiter
 * (its transaction, so it never needs a second pooled connection); if that fails — its
 * transaction may be aborted — only
 * that take fails, and the next waiter draws through its own.
 */
export class ReceiptSerialAllocator {
  private readonly blocks = new Map<string, SerialBlock>();

  constructor(private readonly blockSize = SERIAL_BLOCK_SIZE) {
    assert(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= SERIALS_PER_DRAW_MAX, `a serial block holds 1–${SERIALS_PER_DRAW_MAX}, not ${blockSize}`);
  }

  /** The next serial (digits) of a receipt code; draws a block through `via` when this process has none left. */
  take(via: Queryable, receiptCode: string): Promise<string> {
    const block = this.blockOf(receiptCode);
    const ready = block.waiters.length === 0 ? block.serials[block.next] : undefined;
    if (ready !== undefined) {
      block.next += 1;
      return Promise.resolve(ready);
    }
    const current = block;
    return new Promise<string>((resolve, reject) => {
      current.waiters.push({ via, resolve, reject });
      this.serve(receiptCode, current);
    });
  }

  /**
   * Tops up this process's block of `receiptCode` so that it holds at least `count` serials not yet
   * taken, in one draw through `via` (at least a block's worth): the takes that follow are answered
   * without a round trip, unless other takes use the serials first. Nothing is drawn while the block
   * has enough, or while another draw of the code is in flight (that draw serves the takes waiting).
   * A batch calls it before it sends statements it must not interleave with a draw
   * (contracts/decisions/0236-backfill-writes-prepared-ahead.md). Serials drawn and not taken stay in
   * the block for the next takes: no gap.
   */
  async reserve(via: Queryable, receiptCode: string, count: number): Promise<void> {
    assert(Number.isInteger(count) && count >= 0 && count <= SERIALS_PER_DRAW_MAX, `reserve 0–${SERIALS_PER_DRAW_MAX} serials, not ${count}`);
    const block = this.blockOf(receiptCode);
    const held = block.serials.length - block.next;
    if (held >= count || block.drawing) return;
    block.drawing = true;
    try {
      const drawn = await repo.drawReceiptSerials(via, receiptCode, Math.min(Math.max(this.blockSize, count - held), SERIALS_PER_DRAW_MAX));
      // Takes made meanwhile consumed from the front: keep what is left of the block, then the draw.
      block.serials = [...block.serials.slice(block.next), ...drawn];
      block.next = 0;
    } finally {
      block.drawing = false;
      this.serve(receiptCode, block);
    }
  }

  private blockOf(receiptCode: string): SerialBlock {
    let block = this.blocks.get(receiptCode);
    if (block === undefined) {
      block = { serials: [], next: 0, waiters: [], drawing: false };
      this.blocks.set(receiptCode, block);
    }
    return block;
  }

  /** Gives waiters what the block holds, then draws for the rest; runs again after every draw. */
  private serve(receiptCode: string, block: SerialBlock): void {
    if (block.drawing) return;
    for (;;) {
      const serial = block.serials[block.next];
      const waiter = serial === undefined ? undefined : block.waiters.shift();
      if (serial === undefined || waiter === undefined) break;
      block.next += 1;
      waiter.resolve(serial);
    }
    const drawer = block.waiters[0];
    if (drawer === undefined) return;
    block.drawing = true;
    const count = Math.min(Math.max(this.blockSize, block.waiters.length), SERIALS_PER_DRAW_MAX);
    repo.drawReceiptSerials(drawer.via, receiptCode, count).then(
      (serials) => {
        block.serials = serials;
        block.next = 0;
        block.drawing = false;
        this.serve(receiptCode, block);
      },
      (error: unknown) => {
        block.waiters.splice(block.waiters.indexOf(drawer), 1);
        block.drawing = false;
        drawer.reject(error);
        this.serve(receiptCode, block);
      },
    );
  }
}

// ---- reversals -------------------------------------------------------------------------------

export interface ReversalInput {
  /** The refund that succeeded; null when reconciliation reversed the whole payment. */
  refundId: string | null;
  amount: Decimal;
  reason: string;
  at: Date;
}

export interface RecordedReversal {
  /** False when this refund had already reversed the receipt (a retry): nothing was added. */
  recorded: boolean;
  status: ReceiptStatus;
  reversedAmount: Decimal;
}

/**
 * Appends a reversal (冲红) beside a receipt, in the caller's transaction, and answers the status
 * it leaves. The receipt is locked so reversals of one receipt are decided one at a time.
 *
 * - REFUND_EXCEEDS_PAID: the reversals would exceed the paid amount. The refund use case checks
 *   this first under the payment's lock (docs/settlement.md §3), so here it is a last line.
 * - The same refund again with the same amount is a retry and changes nothing; with another
 *   amount, or a receipt that does not exist, is a bug and crashes.
 */
export async function recordReversal(trx: Knex.Transaction, receiptNo: string, reversal: ReversalInput): Promise<RecordedReversal> {
  assert(trx.isTransaction === true, 'a receipt is reversed inside the transaction of the refund or correction that reverses it');
  assert(reversal.amount.gt(0), `a reversal is of a positive amount, got ${reversal.amount.toString()}`);
  const amount = formatMoney(reversal.amount);
  const locked = await repo.lockReceiptForReversal(trx, receiptNo);
  assert(locked !== undefined, `receipt ${receiptNo} exists to be reversed`);
  const paidAmount = new Decimal(locked.paid_amount);
  const { reversed_amount, existing_amount } = await repo.readReversals(trx, receiptNo, reversal.refundId);
  const reversedSoFar = new Decimal(reversed_amount);
  if (existing_amount !== null) {
    assert(new Decimal(existing_amount).eq(reversal.amount), `refund ${reversal.refundId ?? '(payment reversal)'} reversed receipt ${receiptNo} by ${existing_amount}, not ${amount}`);
    return { recorded: false, status: receiptStatus(paidAmount, reversedSoFar), reversedAmount: reversedSoFar };
  }
  if (reversal.amount.gt(reversibleAmount(paidAmount, reversedSoFar))) {
    throw new TongfuError('REFUND_EXCEEDS_PAID', `receipt ${receiptNo}: reversing ${amount} would exceed the paid ${formatMoney(paidAmount)} (already reversed ${formatMoney(reversedSoFar)})`, {
      receiptNo,
      paidAmount: formatMoney(paidAmount),
      reversedAmount: formatMoney(reversedSoFar),
    });
  }
  await repo.insertReversal(trx, receiptNo, { refund_id: reversal.refundId, amount, reason: reversal.reason, reversed_at: reversal.at });
  const reversedAmount = reversedSoFar.plus(reversal.amount);
  return { recorded: true, status: receiptStatus(paidAmount, reversedAmount), reversedAmount };
}

// ---- the answers -----------------------------------------------------------------------------

export interface ReceiptReversalView {
  refundId: string | null;
  amount: Decimal;
  reason: string;
  reversedAt: Date;
}

/** A stored receipt as the endpoints answer it; the serializer writes the wire shape. */
export interface ReceiptView {
  receiptNo: string;
  /** The stored signed bytes, exactly. */
  signedBytes: Buffer;
  signature: Buffer;
  keyId: string;
  status: ReceiptStatus;
  reversals: ReceiptReversalView[];
  qrText: string;
}

function toView(row: repo.ReceiptRow, publicBaseUrl: string): ReceiptView {
  const reversals = row.reversals.map((reversal) => ({ refundId: reversal.refund_id, amount: new Decimal(reversal.amount), reason: reversal.reason, reversedAt: reversal.reversed_at }));
  const reversedAmount = sumMoney(reversals.map((reversal) => reversal.amount));
  return {
    receiptNo: row.receipt_no,
    signedBytes: row.content,
    signature: row.signature,
    keyId: row.key_id,
    status: receiptStatus(new Decimal(row.paid_amount), reversedAmount),
    reversals,
    qrText: receiptQrText(publicBaseUrl, row.receipt_no, row.check_code),
  };
}

/** The same answer, 404 NOT_FOUND, for an unknown receipt and a wrong check code (docs/interface.md §3). */
function receiptNotFound(): TongfuError {
  return new TongfuError('NOT_FOUND', 'no receipt with this number and check code');
}

/** Compares check codes in time independent of where they differ. */
function checkCodesEqual(stored: string, given: string): boolean {
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** What compares with the given check code when no receipt exists, so both paths do the same work. */
const ABSENT_CHECK_CODE = '\u0000'.repeat(CHECK_CODE_LENGTH);

/** Verifiers for the platform's published keys, retired ones included, built once per keyId. */
const VERIFIERS_CACHED_MAX = 64;

export interface ReceiptDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  signer: PlatformSigner;
  platformKeys: PlatformKeyService;
  publicBaseUrl: string;
  /** The PostgreSQL-backed limits of public lookups; receipts count under their own subjects. */
  limiter: PublicLookupLimiter;
  allocator?: ReceiptSerialAllocator;
}

/**
 * The receipt writes another use case makes inside its own transaction (a refund that succeeds,
 * a payment reversed by a correction, a payment applied outside the folded posting): both take
 * the caller's `trx`, write nothing of their own, and commit or roll back with the caller's
 * change. ReceiptService is one; a use case that needs it takes this interface.
 */
export interface ReceiptWriter {
  issueReceipt(trx: Knex.Transaction, input: ReceiptInput): Promise<PreparedReceipt>;
  recordReversal(trx: Knex.Transaction, receiptNo: string, reversal: ReversalInput): Promise<RecordedReversal>;
}

export class ReceiptService implements ReceiptWriter {
  readonly allocator: ReceiptSerialAllocator;
  private readonly verifiers = new Map<string, Sm2Verifier>();

  constructor(private readonly deps: ReceiptDependencies) {
    this.allocator = deps.allocator ?? new ReceiptSerialAllocator();
  }

  /**
   * Everything a receipt needs except the INSERT (see the file's header). `via` is the connection
   * a block of serials is drawn through when this process has none left: pass the payment's
   * transaction. Crashes on inconsistent input (lines that do not add up, an amount paid that is
   * not the amount due): the posting decided the payment applies, so these are bugs.
   */
  async prepareReceipt(input: ReceiptInput, via: Queryable = this.deps.db): Promise<PreparedReceipt> {
    return this.signReceipt(await this.numberReceipt(input, via));
  }

  /**
   * prepareReceipt's first half: the checks, the number (drawn through `via`), the check code and
   * the exact bytes to sign — everything but the signature. A caller that signs many receipts
   * (reconciliation's backfill, contracts/decisions/0163-backfill-receipts-signed-alongside.md)
   * records the number at once and signs later in the same transaction.
   */
  async numberReceipt(input: ReceiptInput, via: Queryable = this.deps.db): Promise<NumberedReceipt> {
    assert(input.items.length > 0, `notice ${input.payCode} has lines`);
    assert(sumMoney(input.items.map((item) => item.amount)).eq(input.totalAmount), `notice ${input.payCode}: the lines add up to totalAmount`);
    assert(sumMoney(input.items.map((item) => item.lateFee)).eq(input.lateFee), `notice ${input.payCode}: the lines' late fees add up to lateFee`);
    assert(input.totalAmount.plus(input.lateFee).eq(input.paidAmount), `notice ${input.payCode}: paidAmount is totalAmount + lateFee`);

    const receiptCode = receiptCodeOf(input.paidAt);
    const receiptNo = formatReceiptNo(receiptCode, await this.allocator.take(via, receiptCode));
    const checkCode = generateCheckCode();
    const issuedAt = input.issuedAt ?? this.deps.clocks.business.now();
    const content: ReceiptContent = {
      receiptNo,
      checkCode,
      payCode: input.payCode,
      unitCode: input.unitCode,
      unitName: input.unitName,
      payerName: input.payerName,
      items: input.items.map((item) => ({ itemCode: item.itemCode, itemName: item.itemName, amount: formatMoney(item.amount), lateFee: formatMoney(item.lateFee) })),
      totalAmount: formatMoney(input.totalAmount),
      lateFee: formatMoney(input.lateFee),
      paidAmount: formatMoney(input.paidAmount),
      paidAt: formatInstant(input.paidAt),
      agencyCode: input.agencyCode,
      agencyTxnId: input.agencyTxnId,
      issuedAt: formatInstant(issuedAt),
    };
    const signedBytes = Buffer.from(canonicalJson(content), 'utf8');
    return { receiptNo, checkCode, content, signedBytes, noticeId: input.noticeId, issuedAt };
  }

  /**
   * Makes sure receipts paid at `paidAts` (one per element) can be numbered without drawing serials
   * through the database (ReceiptSerialAllocator.reserve), drawing through `via` now if this
   * process holds too few.
   */
  async reserveSerials(paidAts: readonly Date[], via: Queryable = this.deps.db): Promise<void> {
    const counts = new Map<string, number>();
    for (const paidAt of paidAts) {
      const code = receiptCodeOf(paidAt);
      counts.set(code, (counts.get(code) ?? 0) + 1);
    }
    for (const [code, count] of counts) await this.allocator.reserve(via, code, count);
  }

  /** prepareReceipt's second half: the platform key's signature over the numbered receipt's bytes (CPU only). */
  signReceipt(numbered: NumberedReceipt): PreparedReceipt {
    const { receiptNo, checkCode, content, signedBytes } = numbered;
    const signature = this.deps.signer.sign(signedBytes);
    return {
      receiptNo,
      checkCode,
      content,
      signedBytes,
      signature,
      keyId: this.deps.signer.keyId,
      qrText: receiptQrText(this.deps.publicBaseUrl, receiptNo, checkCode),
      row: {
        receipt_no: receiptNo,
        check_code: checkCode,
        notice_id: numbered.noticeId,
        pay_code: content.payCode,
        agency_code: content.agencyCode,
        agency_txn_id: content.agencyTxnId,
        paid_amount: content.paidAmount,
        issued_at: numbered.issuedAt,
        content: signedBytes,
        signature,
        key_id: this.deps.signer.keyId,
      },
    };
  }

  /** prepareReceipt then insertReceipt, for callers that do not fold the INSERT into a statement of their own. */
  async issueReceipt(trx: Knex.Transaction, input: ReceiptInput): Promise<PreparedReceipt> {
    assert(trx.isTransaction === true, 'a receipt is issued inside the transaction of the payment it is for');
    const prepared = await this.prepareReceipt(input, trx);
    await insertReceipt(trx, prepared);
    this.deps.log.info({ receiptNo: prepared.receiptNo, payCode: input.payCode, agencyTxnId: input.agencyTxnId }, 'receipt issued');
    return prepared;
  }

  /** recordReversal (above), for a use case that holds the receipt service as its ReceiptWriter. */
  recordReversal(trx: Knex.Transaction, receiptNo: string, reversal: ReversalInput): Promise<RecordedReversal> {
    return recordReversal(trx, receiptNo, reversal);
  }

  /**
   * `GET /v1/unit/receipts/{payCode}`: the latest receipt of the unit's own notice.
   * NOTICE_NOT_FOUND when the unit has no such notice — another unit's notice answers exactly so;
   * NOT_FOUND when the notice has no receipt (it has not been paid).
   */
  async getUnitReceipt(unit: { partyId: string }, payCode: string): Promise<ReceiptView> {
    const found = await repo.findUnitReceipt(this.deps.db, unit.partyId, payCode);
    if (!found.notice) throw new TongfuError('NOTICE_NOT_FOUND', `no notice ${payCode}`, { payCode });
    if (found.receipt === undefined) throw new TongfuError('NOT_FOUND', `notice ${payCode} has no receipt: it has not been paid`, { payCode });
    return toView(found.receipt, this.deps.publicBaseUrl);
  }

  /**
   * `GET /v1/public/receipts/{receiptNo}?checkCode=`: the receipt, verified online against the
   * platform key that signed it. RATE_LIMITED; NOT_FOUND for an unknown number and for a wrong
   * check code alike. The check code is compared case-insensitively (it is read off paper) and in
   * constant time.
   */
  async getPublicReceipt(receiptNo: string, checkCode: string, clientAddress: string): Promise<ReceiptView & { verified: boolean }> {
    // Own subjects, so receipt lookups neither spend nor share the budget of notice lookups.
    try {
      await this.deps.limiter.admit(`receipt:${lookupClientKey(clientAddress)}`, `receipt:${receiptNo}`);
    } catch (error) {
      if (error instanceof TongfuError && error.code === 'RATE_LIMITED') {
        throw new TongfuError('RATE_LIMITED', `too many receipt lookups from this address or for this receipt; retry later`, error.details);
      }
      throw error;
    }
    const row = await repo.findReceiptByNo(this.deps.db, receiptNo);
    const matches = checkCodesEqual(row?.check_code ?? ABSENT_CHECK_CODE, checkCode.toUpperCase());
    if (row === undefined || !matches) {
      await this.deps.limiter.recordFailure(`receipt:${receiptNo}`);
      throw receiptNotFound();
    }
    const view = toView(row, this.deps.publicBaseUrl);
    const verified = await this.verifyStored(view);
    if (!verified) this.deps.log.error({ receiptNo, keyId: view.keyId }, 'a stored receipt does not verify against the platform key that signed it');
    return { ...view, verified };
  }

  /** Verifies a stored receipt's signature with the published platform key of its keyId. */
  verify(view: Pick<ReceiptView, 'signedBytes' | 'signature' | 'keyId'>): boolean {
    const verifier = this.verifierFor(view.keyId);
    return verifier !== undefined && verifier.verify(view.signedBytes, view.signature);
  }

  /**
   * As verify, and a keyId this instance did not know at start (another instance's newer key) is
   * looked up among every key the platform ever signed with.
   */
  async verifyStored(view: Pick<ReceiptView, 'signedBytes' | 'signature' | 'keyId'>): Promise<boolean> {
    if (this.verifierFor(view.keyId) === undefined) {
      const key = await this.deps.platformKeys.findKey(view.keyId);
      if (key === undefined) return false;
      this.cacheVerifier(key.keyId, key.publicKeyHex);
    }
    return this.verify(view);
  }

  private cacheVerifier(keyId: string, publicKeyHex: string): Sm2Verifier {
    if (this.verifiers.size >= VERIFIERS_CACHED_MAX) this.verifiers.clear();
    const verifier = createSm2Verifier(publicKeyHex);
    this.verifiers.set(keyId, verifier);
    return verifier;
  }

  private verifierFor(keyId: string): Sm2Verifier | undefined {
    const cached = this.verifiers.get(keyId);
    if (cached !== undefined) return cached;
    const key = this.deps.platformKeys.publishedKeys().find((published) => published.keyId === keyId);
    if (key === undefined) return undefined;
    return this.cacheVerifier(keyId, key.publicKeyHex);
  }
}

/** The INSERT of a prepared receipt and its bindings, to fold into the payment's statement (see the header). */
export function receiptInsert(prepared: PreparedReceipt): { sql: string; bindings: Knex.RawBinding[] } {
  return { sql: repo.RECEIPT_INSERT_SQL, bindings: repo.receiptInsertBindings(prepared.row) };
}

/** Inserts a prepared receipt in the caller's transaction: one round trip. */
export async function insertReceipt(trx: Knex.Transaction, prepared: PreparedReceipt): Promise<void> {
  await repo.insertReceipt(trx, prepared.row);
}

/**
 * Inserts many prepared receipts in the caller's transaction, set-based (a batch such as
 * reconciliation's backfill): prepare each with prepareReceipt(input, trx) — concurrent takes
 * share one draw of serials — then insert them all here.
 */
export async function insertReceipts(trx: Knex.Transaction, prepared: readonly PreparedReceipt[]): Promise<void> {
  assert(trx.isTransaction === true, 'receipts are issued inside the transaction of the payments they are for');
  await repo.insertReceipts(trx, prepared.map((receipt) => receipt.row));
}
