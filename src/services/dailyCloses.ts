import type { Knex } from 'knex';
import { canonicalJson } from '../crypto/canonicalJson';
import { createSm2Verifier, type Sm2Verifier } from '../crypto/sm2';
import { sm3Hex } from '../crypto/sm3';
import type { Db } from '../db/database';
import * as repo from '../db/repositories/dailyCloses';
import type { Clocks } from '../domain/clock';
import {
  buildCloseContent,
  carryTrialBalance,
  CLOSE_FIGURES,
  type CloseChainBreak,
  type CloseContent,
  GENESIS_CLOSE_HASH,
  nextDate,
  storedTrialBalance,
} from '../domain/dailyClose';
import { assert, TongfuError } from '../domain/errors';
import { DATE_PATTERN } from '../domain/identifiers';
import { Decimal } from '../domain/money';
import type { Logger } from '../logger';
import type { PlatformKeyService, PlatformSigner } from './platformKeys';

/**
 * The daily close (日结, docs/settlement.md §5, contracts/decisions/0140-daily-close.md).
 *
 * Sealing a date D takes three transactions, each safe to repeat after a crash:
 * 1. the cut-off: a row in accounting_cutoffs; from its commit on, the journal writer puts every
 *    entry meant for D (or earlier) on the first open date, and records the date it meant;
 * 2. the drain: a SHARE lock on journal_entries, released at once, waits for every writer that
 *    read the old cut-off; after it, no entry of D can still appear;
 * 3. the seal: D's figures, trial balance and adjustments are read, the content built, hashed
 *    (SM3 over the previous close's hash and the canonical JSON), signed by the platform key, and
 *    stored as the exact bytes hashed. A second instance that gets here first wins; the other finds
 *    the date sealed and stops.
 * Dates are sealed in order, empty ones too: the chain has no gap.
 */

/** The advisory lock (two-int form) that serialises seals across instances. */
const CLOSE_LOCK_NAMESPACE = 0x7f_0b_40;

export interface DailyCloseDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  signer: PlatformSigner;
  platformKeys: PlatformKeyService;
}

/** A stored close as the API shows it. */
export interface SealedClose {
  close: CloseContent;
  closeHash: string;
  /** Standard base64 of the DER SM2 signature over canonicalJson({close, closeHash}). */
  signature: string;
  keyId: string;
}

export interface ChainVerification {
  ok: boolean;
  closes: number;
  first: string | null;
  last: string | null;
  breaks: CloseChainBreak[];
}

/** The bytes the platform signs for a close. */
export function closeSignedBytes(content: CloseContent, closeHash: string): Buffer {
  return Buffer.from(canonicalJson({ close: content, closeHash }), 'utf8');
}

/** `closeHash`: lowercase hex SM3 of the ASCII previous hash followed by the canonical content. */
export function closeHashOf(previousCloseHash: string, canonicalContent: string): string {
  return sm3Hex(Buffer.concat([Buffer.from(previousCloseHash, 'ascii'), Buffer.from(canonicalContent, 'utf8')]));
}

const CLOSES_PAGE_MAX = 366;

export class DailyCloseService {
  private readonly verifiers = new Map<string, Sm2Verifier>();

  constructor(private readonly deps: DailyCloseDependencies) {}

  /**
   * Seals every unsealed date up to and including `through`, oldest first. The first close ever is
   * of the earliest date any journal entry has (or `through` when there is none). Returns the
   * dates sealed by this call. `inSealTransaction` runs in the transaction that writes each close
   * (a job records its progress there, so a run killed half-way keeps the count of what it sealed);
   * `onSealed` runs after that transaction committed.
   */
  async closeThrough(
    through: string,
    onSealed?: (businessDate: string) => Promise<void>,
    inSealTransaction?: (trx: Knex.Transaction, businessDate: string) => Promise<void>,
  ): Promise<string[]> {
    assert(DATE_PATTERN.test(through), `close through a YYYY-MM-DD date, got ${through}`);
    const sealed: string[] = [];
    const latest = await repo.latestClose(this.deps.db);
    let date: string;
    if (latest !== undefined) {
      date = nextDate(latest.business_date);
    } else {
      const earliest = await repo.earliestAccountingDate(this.deps.db);
      date = earliest !== undefined && earliest < through ? earliest : through;
    }
    for (; date <= through; date = nextDate(date)) {
      if (await this.seal(date, inSealTransaction)) {
        sealed.push(date);
        if (onSealed) await onSealed(date);
      }
    }
    return sealed;
  }

  /**
   * Seals one date (its predecessor must be sealed, unless it is the first). False when already
   * sealed. `inTransaction` runs in the transaction that writes the close, after the write.
   */
  async seal(businessDate: string, inTransaction?: (trx: Knex.Transaction, businessDate: string) => Promise<void>): Promise<boolean> {
    const { db, clocks } = this.deps;
    await db.transaction(async (trx) => {
      await repo.insertCutoff(trx, businessDate, clocks.business.now());
    });
    await db.transaction(async (trx) => {
      await repo.drainJournalWriters(trx);
    });
    return db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?, 0)', [CLOSE_LOCK_NAMESPACE]);
      const previous = await repo.latestClose(trx);
      if (previous !== undefined && previous.business_date >= businessDate) return false;
      assert(previous === undefined || nextDate(previous.business_date) === businessDate, `the close of ${businessDate} follows the close of ${previous?.business_date ?? '-'} without a gap`);
      const previousContent = previous === undefined ? undefined : (JSON.parse(previous.content) as CloseContent);
      const agencies = (await repo.agencyFigures(trx, businessDate)).map((row) => ({
        agencyCode: row.agency_code,
        ...(Object.fromEntries(CLOSE_FIGURES.map((figure) => [figure, new Decimal(row[figure])])) as Record<(typeof CLOSE_FIGURES)[number], Decimal>),
      }));
      const movements = (await repo.accountMovements(trx, previous === undefined ? null : businessDate, businessDate)).map((row) => ({ account: row.account, debit: new Decimal(row.debit), credit: new Decimal(row.credit) }));
      const adjustments = (await repo.adjustmentsOf(trx, businessDate)).map((row) => ({ entryId: row.entry_id, forDate: row.for_date, amount: new Decimal(row.amount), reason: row.kind }));
      const previousCloseHash = previous?.close_hash ?? GENESIS_CLOSE_HASH;
      const content = buildCloseContent({
        businessDate,
        previousCloseHash,
        agencies,
        trialBalance: carryTrialBalance(previousContent === undefined ? [] : storedTrialBalance(previousContent), movements),
        adjustments,
      });
      const text = canonicalJson(content);
      const closeHash = closeHashOf(previousCloseHash, text);
      const signature = this.deps.signer.sign(closeSignedBytes(content, closeHash));
      const inserted = await repo.insertClose(trx, {
        business_date: businessDate,
        previous_close_hash: previousCloseHash,
        content: text,
        close_hash: closeHash,
        signature: signature.toString('base64'),
        key_id: this.deps.signer.keyId,
        created_at: clocks.business.now(),
      });
      assert(inserted, `the close of ${businessDate} is written once (the lock is held)`);
      if (inTransaction) await inTransaction(trx, businessDate);
      this.deps.log.info({ businessDate, closeHash, adjustments: adjustments.length }, 'business date sealed');
      return true;
    });
  }

  async list(options: { from?: string; to?: string; limit: number }): Promise<SealedClose[]> {
    const rows = await repo.listCloses(this.deps.db, { ...options, limit: Math.min(options.limit, CLOSES_PAGE_MAX) });
    return rows.map(sealedClose);
  }

  async find(businessDate: string): Promise<SealedClose> {
    const row = DATE_PATTERN.test(businessDate) ? await repo.findClose(this.deps.db, businessDate) : undefined;
    if (row === undefined) throw new TongfuError('NOT_FOUND', `no close of ${businessDate}`);
    return sealedClose(row);
  }

  /**
   * `cli close verify`: the chain from the first close to the last — contiguous dates, each
   * previous hash the close before's, each hash recomputed from the stored bytes (which must be
   * the canonical JSON of what they say), each signature checked with the platform key that made
   * it (retired keys included).
   */
  async verifyChain(): Promise<ChainVerification> {
    const breaks: CloseChainBreak[] = [];
    let previous: repo.DailyCloseRow | undefined;
    let first: string | null = null;
    let count = 0;
    for (;;) {
      const rows = await repo.listCloses(this.deps.db, { afterDate: previous?.business_date, limit: 500 });
      if (rows.length === 0) break;
      for (const row of rows) {
        first ??= row.business_date;
        count += 1;
        breaks.push(...(await this.checkClose(row, previous)));
        previous = row;
      }
    }
    return { ok: breaks.length === 0, closes: count, first, last: previous?.business_date ?? null, breaks };
  }

  private async checkClose(row: repo.DailyCloseRow, previous: repo.DailyCloseRow | undefined): Promise<CloseChainBreak[]> {
    const breaks: CloseChainBreak[] = [];
    const at = (problem: CloseChainBreak['problem'], detail: string): void => {
      breaks.push({ businessDate: row.business_date, problem, detail });
    };
    if (previous !== undefined && nextDate(previous.business_date) !== row.business_date) at('NOT_CONTIGUOUS', `follows ${previous.business_date}`);
    const expectedPrevious = previous?.close_hash ?? GENESIS_CLOSE_HASH;
    if (row.previous_close_hash !== expectedPrevious) at('PREVIOUS_HASH', `previousCloseHash ${row.previous_close_hash}, the chain has ${expectedPrevious}`);
    let content: CloseContent | undefined;
    try {
      content = JSON.parse(row.content) as CloseContent;
    } catch {
      at('CONTENT', 'the stored content is not JSON');
    }
    if (content !== undefined) {
      if (canonicalJson(content) !== row.content) at('CONTENT', 'the stored content is not in canonical form');
      if (content.businessDate !== row.business_date || content.previousCloseHash !== row.previous_close_hash) at('CONTENT', 'the content names another date or previous hash');
    }
    if (closeHashOf(row.previous_close_hash, row.content) !== row.close_hash) at('HASH', 'closeHash does not recompute from the stored content');
    if (content !== undefined) {
      const verifier = await this.verifierFor(row.key_id);
      if (verifier === undefined) at('UNKNOWN_KEY', `key ${row.key_id} is not a platform key`);
      else if (!verifier.verify(closeSignedBytes(content, row.close_hash), Buffer.from(row.signature, 'base64'))) at('SIGNATURE', `the signature does not verify with ${row.key_id}`);
    }
    return breaks;
  }

  private async verifierFor(keyId: string): Promise<Sm2Verifier | undefined> {
    const cached = this.verifiers.get(keyId);
    if (cached !== undefined) return cached;
    const key = await this.deps.platformKeys.findKey(keyId);
    if (key === undefined) return undefined;
    const verifier = createSm2Verifier(key.publicKeyHex);
    this.verifiers.set(keyId, verifier);
    return verifier;
  }
}

function sealedClose(row: repo.DailyCloseRow): SealedClose {
  return { close: JSON.parse(row.content) as CloseContent, closeHash: row.close_hash, signature: row.signature, keyId: row.key_id };
}
