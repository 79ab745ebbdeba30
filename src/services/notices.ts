import type { Knex } from 'knex';
import type { FieldCipher } from '../crypto/fieldCipher';
import { canonicalJsonSha256Hex } from '../crypto/canonicalJson';
import type { Db } from '../db/database';
import type { PageRequest } from '../db/pagination';
import * as repo from '../db/repositories/notices';
import { StatementBatcher } from '../db/statementBatcher';
import { isValidDate, shanghaiDate, startOfShanghaiDate } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, type FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { QUANTITY_DEFAULT } from '../domain/identifiers';
import { Decimal, formatMoney } from '../domain/money';
import { type LineToPrice, priceNoticeItems } from '../domain/noticePricing';
import { buildPayCode, payCodeYear2 } from '../domain/payCode';
import { isValidIdNumber, isValidMobile, maskIdNumber, maskMobile, namesMatch, payerNameProblem } from '../domain/payer';
import { canTransition, NOTICE_MACHINE, type NoticeStatus, transition } from '../domain/stateMachines';
import type { Logger } from '../logger';
import type { DeferredNonce } from '../domain/access';
import { recordEvents } from './events';
import { toItem, unknownReferences } from './catalogue';
import {
  creationAnswer,
  noticeWire,
  type NoticeRecord,
  type NoticeWire,
  publicNoticeWire,
  type PublicNoticeWire,
  toNoticeRecord,
  verificationWire,
  type VerificationWire,
} from './noticeViews';
import { findPartyRecordById } from './parties';
import { nonceReused } from './nonces';
import type { PublicLookupLimiter } from './publicLookupLimits';
import { SerialHeadroomMonitor } from './serialHeadroom';

/**
 * Payment notices (缴款通知书): a unit issues, reads, lists and voids its own notices
 * (docs/interface.md §6.2); agencies verify any notice by its payCode (§6.3); payers look one up with
 * their name (§6). Each use case lists the errors it can give, in the order it checks them.
 */

/** The body of `POST /v1/unit/notices`, as the contract has shaped it. */
export interface CreateNoticeInput {
  bizRef: string;
  noticeType: 1 | 2;
  payer: { name: string; idNumber?: string; mobile?: string };
  items: Array<{ itemCode: string; quantity?: number; amount: string }>;
  dueDate: string;
  expireDate?: string;
  remark?: string;
}

export interface CreatedNotice {
  notice: NoticeWire;
  /** True when an earlier identical request answers (`Idempotent-Replay: true`, status 201 as then). */
  replayed: boolean;
}

export interface NoticeListFilter {
  bizRef?: string;
  status?: NoticeStatus;
  /** Shanghai dates, both inclusive. */
  createdFrom?: string;
  createdTo?: string;
}

/** The unit a request comes from: the authenticated party. */
export interface UnitCaller {
  partyId: string;
}

/**
 * Writes `notice.voided` for the unit inside the voiding transaction (docs/lifecycle.md §5: the
 * transactional outbox), so the event commits or rolls back with the void. Wired to
 * `recordEvent` (src/services/events.ts) in src/services/index.ts.
 */
export type NoticeVoidedRecorder = (trx: Knex.Transaction, voided: { unitPartyId: string; occurredAt: Date; notice: NoticeWire }) => Promise<void>;

export interface NoticeDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  fieldCipher: FieldCipher;
  publicBaseUrl: string;
  limiter: PublicLookupLimiter;
  recordNoticeVoided: NoticeVoidedRecorder;
}

/** What stands in for the payer's id number and mobile in the request fingerprint; see fingerprintOf. */
const ENCRYPTED_FIELD_PLACEHOLDER = '[encrypted]';

/** A day in Asia/Shanghai, which keeps no daylight saving time. */
const SHANGHAI_DAY_MS = 24 * 60 * 60 * 1000;

/** Units whose identity (code, name, region) is kept in memory; the oldest is dropped beyond this. */
const UNITS_CACHED_MAX = 10_000;
/** Serial sequences known to exist; regions × years × kinds stays far below this. */
const SEQUENCES_CACHED_MAX = 10_000;

/** Expire-notices works in batches of this many rows, each its own short transaction. */
export const EXPIRE_BATCH_ROWS = 5_000;
/** A bound on the batches of one run (50 million notices), so a bug cannot loop forever. */
const EXPIRE_BATCHES_MAX = 10_000;

interface UnitIdentity {
  code: string;
  name: string;
  regionCode: string;
}

/**
 * The request fingerprint of docs/interface.md §4 — SHA-256 of the canonical JSON of the parsed body —
 * with one change: the payer's id number and mobile are replaced by a placeholder before hashing,
 * and compared by decrypting the stored values instead. An unkeyed hash of the whole body, kept
 * beside the notice's other fields in plain and the masks (which show all but 8 birth-date
 * digits of the id number and 4 digits of the mobile), would give both back after a few hundred
 * million guesses; the placeholder keeps the hash from undoing the encryption. Whether each was
 * given is still part of the hash.
 */
export function fingerprintOf(input: CreateNoticeInput): string {
  const payer: Record<string, unknown> = { ...input.payer };
  if (payer.idNumber !== undefined) payer.idNumber = ENCRYPTED_FIELD_PLACEHOLDER;
  if (payer.mobile !== undefined) payer.mobile = ENCRYPTED_FIELD_PLACEHOLDER;
  return canonicalJsonSha256Hex({ ...input, payer });
}

/**
 * The rules the contract cannot express (VALIDATION_FAILED, every problem listed). Problems name
 * the field, never its value: the value may be an id number.
 */
export function createInputProblems(input: CreateNoticeInput): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const nameProblem = payerNameProblem(input.payer.name);
  if (nameProblem !== null) problems.push({ path: '/payer/name', problem: nameProblem });
  if (input.payer.idNumber !== undefined && !isValidIdNumber(input.payer.idNumber)) {
    problems.push({ path: '/payer/idNumber', problem: 'is not a valid resident id number (GB 11643: 17 digits, a check character 0-9 or X, a real birth date)' });
  }
  if (input.payer.mobile !== undefined && !isValidMobile(input.payer.mobile)) {
    problems.push({ path: '/payer/mobile', problem: 'is not a mainland mobile number (11 digits starting 13-19)' });
  }
  if (!isValidDate(input.dueDate)) problems.push({ path: '/dueDate', problem: 'is not a calendar date' });
  if (input.expireDate !== undefined) {
    if (!isValidDate(input.expireDate)) problems.push({ path: '/expireDate', problem: 'is not a calendar date' });
    else if (isValidDate(input.dueDate) && input.expireDate < input.dueDate) problems.push({ path: '/expireDate', problem: 'must not be before dueDate' });
  }
  return problems;
}

/** The row `insertNotice` wrote, as a read would return it. */
function insertedRow(id: string, payCode: string, notice: repo.NewNotice): repo.NoticeRow {
  const { request_hash: _requestHash, items, ...columns } = notice;
  return {
    ...columns,
    pay_code: payCode,
    id,
    paid_at: null,
    paid_amount: null,
    late_fee_paid: null,
    receipt_no: null,
    voided_at: null,
    void_reason: null,
    updated_at: notice.created_at,
    items: items.map((item) => ({ ...item, late_fee_paid: null })),
  };
}

/**
 * Verification batches (decision 0173), and creations' item reads (decision 0175): up to 64 in
 * one statement, two statements in flight per process (one being answered while the next gathers).
 */
const VERIFICATION_BATCHING = { batchMax: 64, inFlightMax: 2 } as const;

function noticeNotFound(payCode: string): TongfuError {
  return new TongfuError('NOTICE_NOT_FOUND', `no notice ${payCode}`, { payCode });
}

export class NoticeService {
  private readonly units = new Map<string, UnitIdentity>();
  private readonly sequences = new Set<string>();
  private readonly creatingSequences = new Map<string, Promise<void>>();
  private readonly serialHeadroom: SerialHeadroomMonitor;
  /** Concurrent verifications share one statement (contracts/decisions/0173-batched-verification.md). */
  private readonly verificationReads: StatementBatcher<repo.VerificationRead, { row: repo.NoticeRow | undefined; nonceClaimed: boolean }>;
  /** Concurrent creations share their first statement (contracts/decisions/0175-batched-posting-reads.md). */
  private readonly itemReads: StatementBatcher<repo.BatchedItemRead, repo.SerialAndItems & { nonceClaimed: boolean }>;

  constructor(private readonly deps: NoticeDependencies) {
    this.serialHeadroom = new SerialHeadroomMonitor({ log: deps.log, realClock: deps.clocks.real });
    this.verificationReads = new StatementBatcher((reads) => repo.findNoticesByPayCodeStoringNonces(deps.db, reads), VERIFICATION_BATCHING);
    this.itemReads = new StatementBatcher((reads) => repo.readItemsForNotices(deps.db, reads), VERIFICATION_BATCHING);
  }

  /**
   * `POST /v1/unit/notices`. Errors, in order: VALIDATION_FAILED (a blank name, an id number
   * failing GB 11643, a mobile, expireDate before dueDate); IDEMPOTENCY_CONFLICT (the unit used
   * bizRef for other content); then the business rules: UNKNOWN_REFERENCE (an item code naming no
   * item), ITEM_NOT_AUTHORIZED, ITEM_INACTIVE, ITEM_AMOUNT_OUT_OF_RANGE, DUE_DATE_IN_PAST.
   *
   * UNKNOWN_REFERENCE comes first among the business rules: a code that names nothing cannot be
   * authorised, active or priced, and saying "not authorised" would send the unit to finance for
   * a grant that cannot exist (contracts/decisions).
   *
   * The same content again answers the original 201 and body with `replayed`; concurrent repeats
   * create one notice (the unique key on (unit, bizRef) decides; the others re-read and replay).
   * The idempotency check is made only when the insert finds the key taken or a rule refuses, so
   * the usual case — a new bizRef — costs two round trips after authentication.
   */
  async createNotice(unit: UnitCaller, input: CreateNoticeInput, nonce?: DeferredNonce): Promise<CreatedNotice> {
    const problems = createInputProblems(input);
    if (problems.length > 0) throw validationFailed(problems);
    const requestHash = fingerprintOf(input);
    const identity = await this.unitIdentity(unit.partyId);
    const now = this.deps.clocks.business.now();
    const year2 = payCodeYear2(now);
    const sequence = await this.serialSequence(identity.regionCode, year2, String(input.noticeType));
    // The request's nonce is stored by this statement, the first that writes (decision 0009). It
    // draws no serial: the insert does, once the rules and the idempotency key have let the
    // notice through (contracts/decisions/0058-pay-code-serials-drawn-last.md).
    // With a nonce, the read shares one statement with the creations arriving meanwhile (decision 0175).
    const itemCodes = input.items.map((line) => line.itemCode);
    const { items, nonceClaimed } = nonce
      ? await this.itemReads.submit({ unitPartyId: unit.partyId, itemCodes, nonce: nonce.take() })
      : { ...(await repo.readItemsForNotice(this.deps.db, unit.partyId, itemCodes)), nonceClaimed: true };
    if (!nonceClaimed) throw nonceReused();

    let snapshot: repo.NewNoticeItem[];
    let totalAmount: string;
    try {
      ({ snapshot, totalAmount } = this.applyBusinessRules(input, items, shanghaiDate(now)));
    } catch (error) {
      // A repeat of a request that once succeeded replays even if a rule would refuse it now
      // (the item since deactivated, the due date since passed), and other content under a
      // bound bizRef is IDEMPOTENCY_CONFLICT, which comes before the business rules.
      if (error instanceof TongfuError) {
        const bound = await this.boundAnswer(unit.partyId, input, requestHash);
        if (bound) return bound;
      }
      throw error;
    }

    const idNumber = input.payer.idNumber;
    const mobile = input.payer.mobile;
    const status = transition(NOTICE_MACHINE, null, 'issue');
    const notice: repo.NewNotice = {
      unit_party_id: unit.partyId,
      unit_code: identity.code,
      unit_name: identity.name,
      region_code: identity.regionCode,
      biz_ref: input.bizRef,
      notice_type: input.noticeType,
      status,
      payer_name: input.payer.name,
      payer_id_number_encrypted: idNumber === undefined ? null : this.deps.fieldCipher.encrypt(idNumber),
      payer_id_number_masked: idNumber === undefined ? null : maskIdNumber(idNumber),
      payer_mobile_encrypted: mobile === undefined ? null : this.deps.fieldCipher.encrypt(mobile),
      payer_mobile_masked: mobile === undefined ? null : maskMobile(mobile),
      total_amount: totalAmount,
      due_date: input.dueDate,
      expire_date: input.expireDate ?? null,
      remark: input.remark ?? null,
      created_at: now,
      request_hash: requestHash,
      items: snapshot,
    };
    const prefix = `${identity.regionCode}${year2}${input.noticeType}`;
    const inserted = await repo.insertNotice(this.deps.db, notice, { sequenceName: sequence, prefix });
    if (inserted === undefined) {
      // The key was taken, by an earlier request or a concurrent one that has now committed.
      const bound = await this.boundAnswer(unit.partyId, input, requestHash);
      assert(bound !== undefined, `the key (${unit.partyId}, ${input.bizRef}) is bound after its insert conflicted`);
      return bound;
    }
    const payCode = inserted.payCode;
    // The statement built the code; the domain's rule must agree with it digit for digit.
    assert(payCode === buildPayCode({ regionCode: identity.regionCode, year2, noticeType: input.noticeType, serial: inserted.serial }), `payCode ${payCode} is the domain's code for serial ${inserted.serial}`);
    this.deps.log.info({ payCode, bizRef: input.bizRef, unitCode: identity.code }, 'notice issued');
    this.serialHeadroom.observe({ regionCode: identity.regionCode, year2, kind: String(input.noticeType) }, inserted.serial);
    // The answer is built from what was written, which saves reading it back.
    return { notice: creationAnswer(toNoticeRecord(insertedRow(inserted.id, payCode, notice)), this.deps.publicBaseUrl), replayed: false };
  }

  /**
   * UNKNOWN_REFERENCE, ITEM_NOT_AUTHORIZED, ITEM_INACTIVE, ITEM_AMOUNT_OUT_OF_RANGE,
   * DUE_DATE_IN_PAST, each over every line before the next rule; then the snapshot of each line.
   */
  private applyBusinessRules(input: CreateNoticeInput, found: Array<repo.SerialAndItems['items'][number]>, today: string): { snapshot: repo.NewNoticeItem[]; totalAmount: string } {
    const byCode = new Map(found.map((row) => [row.code, row]));
    const unknown: FieldProblem[] = [];
    input.items.forEach((line, index) => {
      if (!byCode.has(line.itemCode)) unknown.push({ path: `/items/${index}/itemCode`, problem: `no item ${line.itemCode} is registered` });
    });
    if (unknown.length > 0) throw unknownReferences(unknown);

    const unauthorized: FieldProblem[] = [];
    input.items.forEach((line, index) => {
      if (!byCode.get(line.itemCode)?.authorized) unauthorized.push({ path: `/items/${index}/itemCode`, problem: `this unit may not charge item ${line.itemCode}` });
    });
    if (unauthorized.length > 0) {
      throw new TongfuError('ITEM_NOT_AUTHORIZED', `not authorised to charge: ${unauthorized.map((p) => p.path).join(', ')}`, { fields: unauthorized });
    }

    const lines = input.items.map((line) => {
      const row = byCode.get(line.itemCode);
      assert(row !== undefined, 'every item was found');
      return { row, item: toItem(row), quantity: line.quantity ?? QUANTITY_DEFAULT, amount: new Decimal(line.amount) };
    });
    const priced: LineToPrice[] = lines.map((line) => ({ itemCode: line.item.itemCode, item: { pricing: line.item.pricing, status: line.item.status, lateFee: line.item.lateFee }, quantity: line.quantity, amount: line.amount }));
    const total = priceNoticeItems(priced);

    if (input.dueDate < today) {
      throw new TongfuError('DUE_DATE_IN_PAST', `dueDate ${input.dueDate} is before today (${today}, Asia/Shanghai)`, { dueDate: input.dueDate, today });
    }

    const snapshot = lines.map((line, position) => ({
      position,
      item_id: line.row.id,
      item_version: line.row.version,
      item_code: line.row.code,
      item_name: line.row.name,
      income_sort_code: line.row.income_sort_code,
      budget_level: line.row.budget_level,
      sharing_rule_code: line.row.sharing_rule_code,
      receiving_account_no: line.row.receiving_account_no,
      quantity: line.quantity,
      amount: formatMoney(line.amount),
      pricing_type: line.row.pricing_type,
      fixed_amount: line.row.fixed_amount,
      min_amount: line.row.min_amount,
      max_amount: line.row.max_amount,
      late_fee_type: line.row.late_fee_type,
      rate_per_day: line.row.rate_per_day,
      cap_ratio: line.row.cap_ratio,
    }));
    return { snapshot, totalAmount: formatMoney(total) };
  }

  /**
   * The answer a bound (unit, bizRef) gives: the original answer when the content is the same,
   * IDEMPOTENCY_CONFLICT when it is not; undefined when the key is free.
   */
  private async boundAnswer(unitPartyId: string, input: CreateNoticeInput, requestHash: string): Promise<CreatedNotice | undefined> {
    const bound = await repo.findNoticeByKey(this.deps.db, unitPartyId, input.bizRef);
    if (bound === undefined) return undefined;
    if (!this.sameContent(bound, input, requestHash)) {
      throw new TongfuError('IDEMPOTENCY_CONFLICT', `bizRef ${input.bizRef} already names notice ${bound.pay_code}, created from different content`, { bizRef: input.bizRef });
    }
    return { notice: creationAnswer(toNoticeRecord(bound), this.deps.publicBaseUrl), replayed: true };
  }

  /** Same fingerprint, and the same id number and mobile (decrypted; see fingerprintOf). */
  private sameContent(bound: repo.NoticeRow & { request_hash: string }, input: CreateNoticeInput, requestHash: string): boolean {
    if (bound.request_hash !== requestHash) return false;
    const { idNumber, mobile } = input.payer;
    if (idNumber !== undefined) {
      assert(bound.payer_id_number_encrypted !== null, 'an equal fingerprint says an id number was stored');
      if (this.deps.fieldCipher.decrypt(bound.payer_id_number_encrypted) !== idNumber) return false;
    }
    if (mobile !== undefined) {
      assert(bound.payer_mobile_encrypted !== null, 'an equal fingerprint says a mobile was stored');
      if (this.deps.fieldCipher.decrypt(bound.payer_mobile_encrypted) !== mobile) return false;
    }
    return true;
  }

  /**
   * The unit's code, name and region. Parties never change these after registration (only
   * status and callback URL change), so they are read once per process.
   */
  private async unitIdentity(partyId: string): Promise<UnitIdentity> {
    const cached = this.units.get(partyId);
    if (cached) return cached;
    const party = await findPartyRecordById(this.deps.db, partyId);
    assert(party !== undefined && party.role === 'unit' && party.regionCode !== null, `party ${partyId} is a unit with a region`);
    const identity = { code: party.code, name: party.name, regionCode: party.regionCode };
    if (this.units.size >= UNITS_CACHED_MAX) {
      const oldest = this.units.keys().next().value;
      if (oldest !== undefined) this.units.delete(oldest);
    }
    this.units.set(partyId, identity);
    return identity;
  }

  /**
   * The sequence of the (region, yy, T), created the first time any instance needs it. Concurrent
   * first requests on this instance share one creation.
   */
  private async serialSequence(regionCode: string, year2: string, kind: string): Promise<string> {
    const name = repo.serialSequenceName(regionCode, year2, kind);
    if (this.sequences.has(name)) return name;
    let creating = this.creatingSequences.get(name);
    if (creating === undefined) {
      creating = repo.ensureSerialSequence(this.deps.db, name).finally(() => this.creatingSequences.delete(name));
      this.creatingSequences.set(name, creating);
    }
    await creating;
    if (this.sequences.size >= SEQUENCES_CACHED_MAX) this.sequences.clear();
    this.sequences.add(name);
    return name;
  }

  /** The unit's own notice; another unit's is NOTICE_NOT_FOUND, exactly as if it did not exist. */
  private async ownNotice(db: Knex | Knex.Transaction, unit: UnitCaller, payCode: string, lock?: 'update'): Promise<repo.NoticeRow> {
    const row = await repo.findNoticeByPayCode(db, payCode, lock ? { lock } : {});
    if (row === undefined || row.unit_party_id !== unit.partyId) throw noticeNotFound(payCode);
    return row;
  }

  /** `GET /v1/unit/notices/{payCode}`. NOTICE_NOT_FOUND. */
  async getNotice(unit: UnitCaller, payCode: string): Promise<NoticeWire> {
    const row = await this.ownNotice(this.deps.db, unit, payCode);
    return noticeWire(toNoticeRecord(row), this.deps.clocks.business.now(), this.deps.publicBaseUrl);
  }

  /** `GET /v1/unit/notices`: the unit's notices in id order. VALIDATION_FAILED: createdFrom after createdTo. */
  async listNotices(unit: UnitCaller, filter: NoticeListFilter, page: PageRequest): Promise<{ data: NoticeWire[]; nextCursor: string | null }> {
    // The contract's `format: date` lets the year 0000 through; the calendar here starts at 0001.
    const undated = (['createdFrom', 'createdTo'] as const).filter((name) => filter[name] !== undefined && !isValidDate(filter[name]));
    if (undated.length > 0) throw validationFailed(undated.map((name) => ({ path: `/query/${name}`, problem: 'is not a calendar date of the years 0001–9999' })));
    if (filter.createdFrom !== undefined && filter.createdTo !== undefined && filter.createdFrom > filter.createdTo) {
      throw validationFailed([{ path: '/query/createdTo', problem: 'must not be before createdFrom' }]);
    }
    const result = await repo.listNotices(
      this.deps.db,
      {
        unitPartyId: unit.partyId,
        bizRef: filter.bizRef,
        status: filter.status,
        createdFrom: filter.createdFrom === undefined ? undefined : startOfShanghaiDate(filter.createdFrom),
        // The day after createdTo, counted in instants: 9999-12-31 has no next date to name.
        createdBefore: filter.createdTo === undefined ? undefined : new Date(startOfShanghaiDate(filter.createdTo).getTime() + SHANGHAI_DAY_MS),
      },
      page,
    );
    const now = this.deps.clocks.business.now();
    return { data: result.rows.map((row) => noticeWire(toNoticeRecord(row), now, this.deps.publicBaseUrl)), nextCursor: result.nextCursor };
  }

  /**
   * `POST /v1/unit/notices/{payCode}/void`. NOTICE_NOT_FOUND; NOTICE_NOT_VOIDABLE unless ISSUED. An
   * already VOIDED notice answers as it is (200), whatever the reason given. The notice row is
   * locked, so a void and a payment of one notice are decided one after the other; the
   * `notice.voided` event is written in the same transaction.
   */
  async voidNotice(unit: UnitCaller, payCode: string, reason: string): Promise<NoticeWire> {
    const { record, voided } = await this.deps.db.transaction(async (trx) => {
      const row = await this.ownNotice(trx, unit, payCode, 'update');
      if (row.status === 'VOIDED') return { record: toNoticeRecord(row), voided: false };
      if (!canTransition(NOTICE_MACHINE, row.status, 'void')) {
        throw new TongfuError('NOTICE_NOT_VOIDABLE', `notice ${payCode} is ${row.status}; only an ISSUED notice can be voided`, { payCode, status: row.status });
      }
      const status = transition(NOTICE_MACHINE, row.status, 'void');
      const voidedAt = this.deps.clocks.business.now();
      await repo.markNoticeVoided(trx, row.id, { status, voidedAt, reason });
      const voidedRecord: NoticeRecord = { ...toNoticeRecord(row), status, voidedAt, voidReason: reason };
      await this.deps.recordNoticeVoided(trx, {
        unitPartyId: row.unit_party_id,
        occurredAt: voidedAt,
        notice: noticeWire(voidedRecord, voidedAt, this.deps.publicBaseUrl),
      });
      return { record: voidedRecord, voided: true };
    });
    if (voided) this.deps.log.info({ payCode, unitCode: record.unitCode }, 'notice voided');
    return noticeWire(record, this.deps.clocks.business.now(), this.deps.publicBaseUrl);
  }

  /**
   * `GET /v1/agency/notices/{payCode}` (verify): any agency may verify any notice. NOTICE_NOT_FOUND.
   * A paid, voided or expired notice answers too, with `payable: false`.
   */
  async verifyNotice(payCode: string, payerName: string | undefined, nonce?: DeferredNonce): Promise<VerificationWire> {
    let row: repo.NoticeRow | undefined;
    if (nonce) {
      // One statement, shared with the verifications arriving meanwhile, stores the request's
      // nonce on its way (decisions 0009, 0173).
      const found = await this.verificationReads.submit({ payCode, nonce: nonce.take() });
      if (!found.nonceClaimed) throw nonceReused();
      row = found.row;
    } else {
      row = await repo.findNoticeByPayCode(this.deps.db, payCode);
    }
    if (row === undefined) throw noticeNotFound(payCode);
    return verificationWire(toNoticeRecord(row), this.deps.clocks.business.now(), payerName);
  }

  /**
   * `GET /v1/public/notices/{payCode}?payerName=`. RATE_LIMITED; NOTICE_NOT_FOUND for an unknown
   * code and equally for a wrong or missing name, so an answer never tells a code exists.
   */
  async lookupPublicNotice(payCode: string, payerName: string | undefined, clientAddress: string): Promise<PublicNoticeWire> {
    const ticket = await this.deps.limiter.admitCountingFailure(clientAddress, payCode);
    const row = await repo.findNoticeByPayCode(this.deps.db, payCode);
    // Unknown, wrong name or no name: one answer, and the lookup stays counted as a failure.
    if (row === undefined || payerName === undefined || !namesMatch(row.payer_name, payerName)) throw noticeNotFound(payCode);
    await this.deps.limiter.release(ticket);
    return publicNoticeWire(toNoticeRecord(row), this.deps.clocks.business.now());
  }
}

/**
 * The expire-notices job's work: every ISSUED notice whose expireDate is before `today` becomes
 * EXPIRED (docs/lifecycle.md §1), in batches. Rerunning it changes nothing: an expired notice no longer
 * matches.
 */
export async function expireNotices(
  db: Db,
  input: { today: string; at: Date; batchRows?: number; onBatch?: (trx: Knex.Transaction, expired: number) => Promise<void> },
): Promise<number> {
  assert(isValidDate(input.today), `expire-notices works on a date, got ${JSON.stringify(input.today)}`);
  const batchRows = input.batchRows ?? EXPIRE_BATCH_ROWS;
  assert(Number.isInteger(batchRows) && batchRows >= 1 && batchRows <= EXPIRE_BATCH_ROWS, `a batch is 1–${EXPIRE_BATCH_ROWS} rows`);
  const from: NoticeStatus = 'ISSUED';
  const to = transition(NOTICE_MACHINE, from, 'expire');
  let expired = 0;
  for (let batch = 0; ; batch += 1) {
    assert(batch < EXPIRE_BATCHES_MAX, `expire-notices stays within ${EXPIRE_BATCHES_MAX} batches`);
    // Each batch commits with what it reports (the job's recorded progress), so a crash between
    // batches leaves both consistent.
    const count = await db.transaction(async (trx) => {
      const changed = await repo.expireIssuedNotices(trx, { from, to, today: input.today, at: input.at, batchSize: batchRows });
      // Each unit learns of its notice's expiry as of any other change, in the same transaction (docs/lifecycle.md §5).
      await recordEvents(
        trx,
        changed.map((row) => ({
          type: 'notice.expired' as const,
          recipients: [{ partyId: row.unit_party_id }],
          data: { notice: { payCode: row.pay_code, bizRef: row.biz_ref, status: to, expireDate: row.expire_date } },
          occurredAt: input.at,
        })),
      );
      if (changed.length > 0) await input.onBatch?.(trx, changed.length);
      return changed.length;
    });
    expired += count;
    if (count < batchRows) return expired;
  }
}
