import { randomBytes } from 'node:crypto';
import { canonicalJsonSha256Hex } from '../crypto/canonicalJson';
import { KeyFormatError, parsePublicKey, type PublicKey } from '../crypto/keys';
import type { Knex } from 'knex';
import type { Db } from '../db/database';
import type { PageRequest } from '../db/pagination';
import { findAccount, findRegion } from '../db/repositories/catalogue';
import * as repo from '../db/repositories/parties';
import type { Queryable } from '../db/database';
import type { PartyKeyRow, PartyKeyStatus, PartyRow, PartyStatus } from '../db/repositories/parties';
import { aPartyOfRole, PARTY_ROLES, type PartyRole } from '../domain/access';
import type { Clocks } from '../domain/clock';
import { assert, FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { DEFAULT_CUTOFF_TIME } from '../domain/identifiers';
import { onlinePaymentProblems, type OnlinePayment } from '../domain/onlinePayment';
import type { Logger } from '../logger';
import { type AuditSnapshot, CLI_ACTOR, recordAudit } from './audit';
import { financeRecipients, recordEvent } from './events';
import { checkCallbackTarget, type CallbackAddressPolicy } from '../net/callbackTarget';
import { CLEARING_ACCOUNT_KIND, type ListPage, unknownReferences } from './catalogue';

/**
 * Registering and administering parties (docs/interface.md §6.1): the finance department registers
 * units, agencies and banks, manages parties' status and callback URL, and rotates their public
 * keys. `npm run cli -- party add` and `party key add|retire` go through the same use cases.
 *
 * Finance parties and their keys are the platform operator's (contracts/decisions/
 * 0205-finance-parties-by-the-operator.md): the maker-checker rule counts finance parties, so a
 * finance party that could create another one, or put a key it holds on another one, would be two
 * people. Only CLI_ACTOR registers a finance party or changes a finance party's keys; a finance
 * party changes its own keys (rotation) and nobody else's among finance (FORBIDDEN).
 *
 * Every change is recorded in the finance audit log (src/services/audit.ts) in its transaction,
 * with the actor's appId (`cli` for the CLI); a replay or a no-op records nothing. Every key added
 * or retired is also announced to the party and to every finance party (decision 0206).
 *
 * Every change that the signature check depends on (keys, status; the callback URL for
 * deliveries) calls `onPartyChanged(appId)` after it commits, so a cache of parties — the request
 * authenticator's — drops what it holds for that appId.
 */


/** Longest callback URL accepted; longer ones are not URLs anyone types. */
export const CALLBACK_URL_LENGTH_MAX = 2048;

/** appIds are 'A' + 20 characters of base32: 100 random bits, unguessable and never reused by chance. */
const APP_ID_RANDOM_CHARS = 20;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

const UNIQUE_VIOLATION = '23505';

export interface PartyKey {
  keyId: string;
  algorithm: 'SM2' | 'RSA';
  status: PartyKeyStatus;
  createdAt: Date;
  retiredAt: Date | null;
}

/** A party without its keys: what other use cases read on their hot paths. */
export interface PartyRecord {
  partyId: string;
  appId: string;
  role: PartyRole;
  code: string;
  name: string;
  status: PartyStatus;
  /** Units only. */
  regionCode: string | null;
  callbackUrl: string | null;
  /** Agencies only: where payers' money lands first (汇缴户), a CLEARING account. */
  clearingAccountNo: string | null;
  /** Agencies only: `HH:MM`, `24:00` = midnight; decides a payment's business date. */
  cutoffTime: string | null;
  /** Agencies only, optional: what the payer portal shows and where it sends the payer (decision 0080). */
  onlinePayment: OnlinePayment | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Party extends PartyRecord {
  /** Every key the party ever registered, oldest first, retired ones included. */
  keys: PartyKey[];
}

/** The body of `POST /v1/finance/parties`, as parsed (it is also the idempotency fingerprint's input). */
export interface RegisterPartyInput {
  role: PartyRole;
  code: string;
  name: string;
  publicKey: string;
  regionCode?: string;
  callbackUrl?: string;
  clearingAccountNo?: string;
  cutoffTime?: string;
  onlinePayment?: OnlinePayment | null;
}

export interface Registration {
  party: Party;
  /** The keyId of the key the registration carried. */
  keyId: string;
  /** True when an earlier identical registration answers (`Idempotent-Replay: true`). */
  replayed: boolean;
}

export interface UpdatePartyInput {
  status?: PartyStatus;
  /** null removes the callback URL (the party then only pulls its events). */
  callbackUrl?: string | null;
  /** Agencies only; null stops offering online payment on the portal. */
  onlinePayment?: OnlinePayment | null;
}

export interface KeyRegistration {
  key: PartyKey;
  /** False when the party already had this key: the existing key answers, with 200. */
  created: boolean;
}

export interface PartyDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  /**
   * Called after a change to a party commits; see the module comment. The answer to the change
   * waits for it, so that every process of this instance has dropped the party before the caller
   * hears that the change is made.
   */
  onPartyChanged?: (appId: string) => void | Promise<void>;
  /** Which addresses a callback URL may resolve to (net/callbackTarget.ts); any when absent. */
  callbackPolicy?: CallbackAddressPolicy;
}

// ---- rows → domain -----------------------------------------------------------------------------

function toKey(row: PartyKeyRow): PartyKey {
  return { keyId: row.key_id, algorithm: row.algorithm, status: row.status, createdAt: row.created_at, retiredAt: row.retired_at };
}

export function toPartyRecord(row: PartyRow): PartyRecord {
  return {
    partyId: row.id,
    appId: row.app_id,
    role: row.role,
    code: row.code,
    name: row.name,
    status: row.status,
    regionCode: row.region_code,
    callbackUrl: row.callback_url,
    clearingAccountNo: row.clearing_account_no,
    cutoffTime: row.cutoff_time,
    onlinePayment: onlinePaymentOf(row),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function onlinePaymentOf(row: PartyRow): OnlinePayment | null {
  if (row.online_payment_checkout_url_template === null) return null;
  assert(row.online_payment_display_name !== null && row.online_payment_logo_text !== null, `party ${row.app_id}: online payment columns are all set (a CHECK says so)`);
  return { displayName: row.online_payment_display_name, logoText: row.online_payment_logo_text, checkoutUrlTemplate: row.online_payment_checkout_url_template };
}

function onlinePaymentColumns(value: OnlinePayment | null): repo.OnlinePaymentColumns {
  return {
    online_payment_display_name: value?.displayName ?? null,
    online_payment_logo_text: value?.logoText ?? null,
    online_payment_checkout_url_template: value?.checkoutUrlTemplate ?? null,
  };
}

/** The problems of an onlinePayment field for a party of `role`, paths under /onlinePayment. */
function onlinePaymentFieldProblems(role: PartyRole, value: OnlinePayment | null | undefined): FieldProblem[] {
  if (value === undefined || value === null) return [];
  if (role !== 'agency') return [{ path: '/onlinePayment', problem: `is only for an agency, not ${aPartyOfRole(role)}` }];
  return onlinePaymentProblems(value).map(([field, problem]) => ({ path: `/onlinePayment/${field}`, problem }));
}

async function withKeys(db: Queryable, rows: readonly PartyRow[]): Promise<Party[]> {
  const keys = await repo.listKeys(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => ({ ...toPartyRecord(row), keys: keys.filter((key) => key.party_id === row.id).map(toKey) }));
}

async function withKeysOne(db: Queryable, row: PartyRow): Promise<Party> {
  const [party] = await withKeys(db, [row]);
  assert(party !== undefined, 'one row gives one party');
  return party;
}

/** A party as the audit log records it: what finance set, no timestamps (the row has its own). */
function partySnapshot(record: PartyRecord): AuditSnapshot {
  return {
    appId: record.appId,
    role: record.role,
    code: record.code,
    name: record.name,
    status: record.status,
    regionCode: record.regionCode,
    callbackUrl: record.callbackUrl,
    clearingAccountNo: record.clearingAccountNo,
    cutoffTime: record.cutoffTime,
    onlinePayment: record.onlinePayment,
  };
}

/**
 * `party.keyAdded` / `party.keyRetired` (decision 0206), in the change's transaction: to the party
 * whose key it is — so a unit, agency or bank learns that someone else can now sign as it — and to
 * every finance party, whose other operators see it as it happens.
 */
async function announceKeyChange(trx: Knex.Transaction, type: 'party.keyAdded' | 'party.keyRetired', party: PartyRow, key: PartyKey, actor: string, at: Date): Promise<void> {
  await recordEvent(trx, {
    type,
    recipients: [{ partyId: party.id }, ...(await financeRecipients(trx))],
    data: { party: { appId: party.app_id, role: party.role, code: party.code }, key: { keyId: key.keyId, algorithm: key.algorithm, status: key.status }, changedBy: actor },
    occurredAt: at,
  });
}

/** A key as the audit log records it: its id, not the key itself (the id is derived from it). */
function keySnapshot(key: PartyKey): AuditSnapshot {
  return { keyId: key.keyId, algorithm: key.algorithm, status: key.status };
}

// ---- reads other use cases share (run inside their transactions) -----------------------------

/** The party with this role and code, without keys; payments read an agency's cutoff and clearing account here. */
export async function findPartyRecord(db: Queryable, role: PartyRole, code: string): Promise<PartyRecord | undefined> {
  const row = await repo.findPartyByRoleCode(db, role, code);
  return row ? toPartyRecord(row) : undefined;
}

export async function findPartyRecordByAppId(db: Queryable, appId: string): Promise<PartyRecord | undefined> {
  const row = await repo.findPartyByAppId(db, appId);
  return row ? toPartyRecord(row) : undefined;
}

export async function findPartyRecordById(db: Queryable, partyId: string): Promise<PartyRecord | undefined> {
  const row = await repo.findPartyById(db, partyId);
  return row ? toPartyRecord(row) : undefined;
}

// ---- pure rules --------------------------------------------------------------------------------

/** A callback URL: absolute http(s), no credentials (they would be logged), no fragment (never sent). */
export function callbackUrlProblem(value: string): string | undefined {
  if (value.length > CALLBACK_URL_LENGTH_MAX) return `must be at most ${CALLBACK_URL_LENGTH_MAX} characters`;
  if (/\s/.test(value)) return 'must not contain white space';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return 'must be an absolute http:// or https:// URL';
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  if (value.includes('#')) return 'must not have a fragment (#…)';
  return undefined;
}

/** The public key, or a VALIDATION_FAILED problem that says what is wrong with it. */
function parseKeyInto(publicKey: string, problems: FieldProblem[]): PublicKey | undefined {
  try {
    return parsePublicKey(publicKey);
  } catch (error) {
    if (!(error instanceof KeyFormatError)) throw error;
    problems.push({ path: '/publicKey', problem: error.message });
    return undefined;
  }
}

/**
 * The rules of a registration the contract's schema cannot express: which fields belong to which
 * role, the callback URL, and the key itself (SM2, or RSA of at least 2048 bits).
 */
export function registrationProblems(input: RegisterPartyInput): { problems: FieldProblem[]; key: PublicKey | undefined } {
  const problems: FieldProblem[] = [];
  if (!PARTY_ROLES.includes(input.role)) problems.push({ path: '/role', problem: `must be one of ${PARTY_ROLES.join(', ')}` });
  if (input.role === 'unit' && input.regionCode === undefined) problems.push({ path: '/regionCode', problem: 'is required for a unit' });
  if (input.role !== 'unit' && input.regionCode !== undefined) problems.push({ path: '/regionCode', problem: `is only for a unit, not ${aPartyOfRole(input.role)}` });
  if (input.role === 'agency' && input.clearingAccountNo === undefined) problems.push({ path: '/clearingAccountNo', problem: 'is required for an agency' });
  if (input.role !== 'agency' && input.clearingAccountNo !== undefined) problems.push({ path: '/clearingAccountNo', problem: `is only for an agency, not ${aPartyOfRole(input.role)}` });
  if (input.role !== 'agency' && input.cutoffTime !== undefined) problems.push({ path: '/cutoffTime', problem: `is only for an agency, not ${aPartyOfRole(input.role)}` });
  if (input.name.trim() === '') problems.push({ path: '/name', problem: 'must not be blank' });
  if (input.callbackUrl !== undefined) {
    const problem = callbackUrlProblem(input.callbackUrl);
    if (problem) problems.push({ path: '/callbackUrl', problem });
  }
  problems.push(...onlinePaymentFieldProblems(input.role, input.onlinePayment));
  const key = parseKeyInto(input.publicKey, problems);
  return { problems, key };
}

/** A fresh appId: 'A' and 20 base32 characters from the CSPRNG. */
export function newAppId(): string {
  const bytes = randomBytes(APP_ID_RANDOM_CHARS);
  let id = 'A';
  for (const byte of bytes) id += BASE32_ALPHABET[byte & 31];
  return id;
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const { code, constraint: violated } = (error ?? {}) as { code?: string; constraint?: string };
  return code === UNIQUE_VIOLATION && violated === constraint;
}

function keyOfAnotherParty(): TongfuError {
  return validationFailed([{ path: '/publicKey', problem: 'is registered to another party: each party signs with keys of its own' }]);
}

function financeRegistrationForbidden(): TongfuError {
  return new TongfuError('FORBIDDEN', 'a finance party is registered only by the platform operator (npm run cli -- party add --role finance): a finance party may not register another', { role: 'finance' });
}

/**
 * FORBIDDEN when `actor` may not change the keys of `party`: a finance party's keys are changed by
 * the operator (CLI_ACTOR) or by that party itself, never by another finance party (decision 0205).
 */
function checkKeyChangeAllowed(party: PartyRow, actor: string, change: 'add a key to' | 'retire a key of'): void {
  if (party.role !== 'finance' || actor === CLI_ACTOR || actor === party.app_id) return;
  throw new TongfuError(
    'FORBIDDEN',
    `a finance party may not ${change} another finance party (${party.app_id}): only the party itself or the platform operator (npm run cli -- party key) changes a finance party's keys`,
    { appId: party.app_id },
  );
}

function partyNotFound(appId: string): TongfuError {
  return new TongfuError('NOT_FOUND', `no party ${appId} is registered`, { appId });
}

// ---- the service -------------------------------------------------------------------------------

export class PartyService {
  constructor(private readonly deps: PartyDependencies) {}

  private now(): Date {
    return this.deps.clocks.business.now();
  }

  /**
   * In production, VALIDATION_FAILED for a callback URL whose host resolves to a loopback,
   * private, link-local, unique-local, unspecified or CGNAT address not in TONGFU_CALLBACK_ALLOW
   * (contracts/decisions/0057-client-address-and-callbacks.md). Each delivery checks again.
   */
  private async checkCallbackTarget(callbackUrl: string | undefined): Promise<void> {
    if (callbackUrl === undefined || this.deps.callbackPolicy === undefined) return;
    const check = await checkCallbackTarget(new URL(callbackUrl), this.deps.callbackPolicy);
    if (!check.allowed) throw validationFailed([{ path: '/callbackUrl', problem: check.problem }]);
  }

  private async changed(appId: string): Promise<void> {
    try {
      await this.deps.onPartyChanged?.(appId);
    } catch (error) {
      // The change has committed; a cache that failed to drop an entry must be seen by a person.
      this.deps.log.error({ err: error, appId }, 'could not invalidate the cached party');
    }
  }

  /**
   * `POST /v1/finance/parties` and `party add`. Idempotent on (role, code): the same content
   * again answers the party with `replayed`, other content is IDEMPOTENCY_CONFLICT, and
   * concurrent identical registrations create one party (the unique key decides; the losers
   * re-read and replay).
   *
   * Errors, in order: VALIDATION_FAILED (fields of another role, a missing role field, the
   * callback URL, the key: malformed, unsupported or RSA under 2048 bits), FORBIDDEN (a finance
   * party registering a finance party, replays included: only the operator does, decision 0205),
   * IDEMPOTENCY_CONFLICT, UNKNOWN_REFERENCE (regionCode; clearingAccountNo: none, or not a
   * CLEARING account).
   *
   * `actor`: the registering finance party's appId, or CLI_ACTOR for `party add`.
   */
  async register(input: RegisterPartyInput, actor: string): Promise<Registration> {
    const { problems, key } = registrationProblems(input);
    if (problems.length > 0 || key === undefined) throw validationFailed(problems);
    if (input.role === 'finance' && actor !== CLI_ACTOR) throw financeRegistrationForbidden();
    await this.checkCallbackTarget(input.callbackUrl);
    // The fingerprint of the request exactly as parsed (docs/interface.md §4): "24:00" given and
    // the default taken are different content.
    const requestHash = canonicalJsonSha256Hex(input);

    const existing = await repo.findPartyByRoleCode(this.deps.db, input.role, input.code);
    if (existing) return this.replay(existing, requestHash, key);
    if (await repo.findKeyById(this.deps.db, key.keyId)) {
      // Taken by an identical registration that committed a moment ago, or by another party.
      const registered = await repo.findPartyByRoleCode(this.deps.db, input.role, input.code);
      if (registered) return this.replay(registered, requestHash, key);
      throw keyOfAnotherParty();
    }

    const now = this.now();
    let party: Party;
    try {
      party = await this.deps.db.transaction(async (trx) => {
        await this.checkReferences(trx, input);
        const row = await repo.insertParty(trx, {
          app_id: newAppId(),
          role: input.role,
          code: input.code,
          name: input.name,
          region_code: input.regionCode ?? null,
          callback_url: input.callbackUrl ?? null,
          clearing_account_no: input.clearingAccountNo ?? null,
          cutoff_time: input.role === 'agency' ? (input.cutoffTime ?? DEFAULT_CUTOFF_TIME) : null,
          ...onlinePaymentColumns(input.onlinePayment ?? null),
          request_hash: requestHash,
          created_at: now,
          updated_at: now,
        });
        await repo.insertKey(trx, { party_id: row.id, key_id: key.keyId, algorithm: key.algorithm, public_key_pem: key.pem, created_at: now });
        const registered = await withKeysOne(trx, row);
        await recordAudit(trx, { actor, action: 'party.registered', target: `party:${registered.appId}`, before: null, after: { ...partySnapshot(registered), keys: registered.keys.map(keySnapshot) }, at: now });
        return registered;
      });
    } catch (error) {
      const keyTaken = isUniqueViolation(error, repo.PARTY_KEY_OWNER_CONSTRAINT);
      if (!keyTaken && !isUniqueViolation(error, repo.PARTY_ROLE_CODE_CONSTRAINT)) throw error;
      // A concurrent registration committed first: of the same (role, code), which is replayed,
      // or of the same key for another party.
      const winner = await repo.findPartyByRoleCode(this.deps.db, input.role, input.code);
      if (winner === undefined && keyTaken) throw keyOfAnotherParty();
      assert(winner !== undefined, `party ${input.role} ${input.code} exists after a unique violation`);
      return this.replay(winner, requestHash, key);
    }
    this.deps.log.info({ appId: party.appId, role: party.role, code: party.code, keyId: key.keyId }, 'party registered');
    await this.changed(party.appId);
    return { party, keyId: key.keyId, replayed: false };
  }

  private async replay(existing: PartyRow, requestHash: string, key: PublicKey): Promise<Registration> {
    if (existing.request_hash !== requestHash) {
      throw new TongfuError('IDEMPOTENCY_CONFLICT', `${aPartyOfRole(existing.role)} with code ${existing.code} is already registered with different content`, { role: existing.role, code: existing.code });
    }
    return { party: await withKeysOne(this.deps.db, existing), keyId: key.keyId, replayed: true };
  }

  private async checkReferences(trx: Queryable, input: RegisterPartyInput): Promise<void> {
    const references: FieldProblem[] = [];
    if (input.regionCode !== undefined && !(await findRegion(trx, input.regionCode))) {
      references.push({ path: '/regionCode', problem: `no region ${input.regionCode} is registered` });
    }
    if (input.clearingAccountNo !== undefined) {
      // FOR SHARE: the account's kind cannot change until this registration commits.
      const account = await findAccount(trx, input.clearingAccountNo, { lock: 'share' });
      if (!account) {
        references.push({ path: '/clearingAccountNo', problem: `no account ${input.clearingAccountNo} is registered` });
      } else if (account.kind !== CLEARING_ACCOUNT_KIND) {
        references.push({ path: '/clearingAccountNo', problem: `account ${account.account_no} is a ${account.kind} account; an agency's clearing account must be ${CLEARING_ACCOUNT_KIND}` });
      }
    }
    if (references.length > 0) throw unknownReferences(references);
  }

  /** `GET /v1/finance/parties/{appId}`. NOT_FOUND. */
  async get(appId: string): Promise<Party> {
    const row = await repo.findPartyByAppId(this.deps.db, appId);
    if (!row) throw partyNotFound(appId);
    return withKeysOne(this.deps.db, row);
  }

  /** `GET /v1/finance/parties?role=`: in registration order. */
  async list(filter: { role?: PartyRole }, page: PageRequest): Promise<ListPage<Party>> {
    const result = await repo.listParties(this.deps.db, filter, page);
    return { data: await withKeys(this.deps.db, result.rows), nextCursor: result.nextCursor };
  }

  /**
   * `PATCH /v1/finance/parties/{appId}`. Errors: VALIDATION_FAILED (callback URL), NOT_FOUND,
   * INVALID_STATE_TRANSITION (disabling the last active finance party, which would leave no one
   * able to administer the platform through the API). A PATCH that changes nothing is not audited.
   */
  async update(appId: string, input: UpdatePartyInput, actor: string): Promise<Party> {
    if (typeof input.callbackUrl === 'string') {
      const problem = callbackUrlProblem(input.callbackUrl);
      if (problem) throw validationFailed([{ path: '/callbackUrl', problem }]);
      await this.checkCallbackTarget(input.callbackUrl);
    }
    // The object's own problems answer before the party's 404 (docs/interface.md §3); whether its role
    // may have one needs the party.
    const templateProblems = onlinePaymentFieldProblems('agency', input.onlinePayment);
    if (templateProblems.length > 0) throw validationFailed(templateProblems);
    const now = this.now();
    const party = await this.deps.db.transaction(async (trx) => {
      const found = await repo.findPartyByAppId(trx, appId);
      if (!found) throw partyNotFound(appId);
      if (found.role === 'finance' && input.status === 'DISABLED') {
        // Every active finance row, in id order, before the party's own row: the same order in
        // every transaction, so two finance parties disabling each other cannot deadlock.
        const active = await repo.lockActiveFinanceParties(trx);
        if (active.length <= 1 && active.some((row) => row.id === found.id)) {
          throw new TongfuError('INVALID_STATE_TRANSITION', `party ${appId} is the last active finance party and cannot be disabled`, { appId });
        }
      }
      const roleProblems = onlinePaymentFieldProblems(found.role, input.onlinePayment);
      if (roleProblems.length > 0) throw validationFailed(roleProblems);
      const row = await repo.findPartyByAppId(trx, appId, { lock: 'update' });
      assert(row !== undefined, 'a party is never deleted');
      const changes: { status?: PartyStatus; callback_url?: string | null; updated_at: Date } & Partial<repo.OnlinePaymentColumns> = { updated_at: now };
      if (input.status !== undefined) changes.status = input.status;
      if (input.callbackUrl !== undefined) changes.callback_url = input.callbackUrl;
      if (input.onlinePayment !== undefined) Object.assign(changes, onlinePaymentColumns(input.onlinePayment));
      const updated = await withKeysOne(trx, await repo.updateParty(trx, row.id, changes));
      const before = partySnapshot(toPartyRecord(row));
      const after = partySnapshot(updated);
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        await recordAudit(trx, { actor, action: 'party.updated', target: `party:${appId}`, before, after, at: now });
      }
      return updated;
    });
    this.deps.log.info({ appId, status: input.status, callbackUrlChanged: input.callbackUrl !== undefined, onlinePaymentChanged: input.onlinePayment !== undefined }, 'party updated');
    await this.changed(appId);
    return party;
  }

  /**
   * `POST /v1/finance/parties/{appId}/keys`: adds a key beside the active ones, so a party
   * rotates without downtime. The same key again answers the existing key (`created: false`)
   * whatever its status: a retired key is not brought back, because keys are retired when they
   * may be compromised; a new key pair is the way back. Errors: VALIDATION_FAILED (the key),
   * NOT_FOUND, FORBIDDEN (another finance party's keys, decision 0205).
   */
  async addKey(appId: string, publicKey: string, actor: string): Promise<KeyRegistration> {
    const problems: FieldProblem[] = [];
    const key = parseKeyInto(publicKey, problems);
    if (problems.length > 0 || key === undefined) throw validationFailed(problems);
    const now = this.now();
    const result = await this.deps.db.transaction(async (trx) => {
      const party = await repo.findPartyByAppId(trx, appId, { lock: 'update' });
      if (!party) throw partyNotFound(appId);
      checkKeyChangeAllowed(party, actor, 'add a key to');
      const existing = await repo.findKey(trx, party.id, key.keyId);
      if (existing) return { key: toKey(existing), created: false };
      if (await repo.findKeyById(trx, key.keyId)) throw keyOfAnotherParty();
      try {
        const row = await repo.insertKey(trx, { party_id: party.id, key_id: key.keyId, algorithm: key.algorithm, public_key_pem: key.pem, created_at: now });
        const added = toKey(row);
        await announceKeyChange(trx, 'party.keyAdded', party, added, actor, now);
        await recordAudit(trx, { actor, action: 'party.key_added', target: `party:${appId}/key:${added.keyId}`, before: null, after: keySnapshot(added), at: now });
        return { key: added, created: true };
      } catch (error) {
        // Registered for another party at the same moment.
        if (isUniqueViolation(error, repo.PARTY_KEY_OWNER_CONSTRAINT)) throw keyOfAnotherParty();
        throw error;
      }
    });
    if (result.created) {
      this.deps.log.info({ appId, keyId: key.keyId, algorithm: key.algorithm }, 'party key added');
      await this.changed(appId);
    }
    return result;
  }

  /**
   * `DELETE /v1/finance/parties/{appId}/keys/{keyId}`: retires a key; retiring a retired key
   * answers it again. Errors: NOT_FOUND (party or key), FORBIDDEN (another finance party's keys,
   * decision 0205), LAST_ACTIVE_KEY. The party's row is
   * locked, so two concurrent retirements of its last two keys cannot both succeed.
   */
  async retireKey(appId: string, keyId: string, actor: string): Promise<PartyKey> {
    const now = this.now();
    const result = await this.deps.db.transaction(async (trx) => {
      const party = await repo.findPartyByAppId(trx, appId, { lock: 'update' });
      if (!party) throw partyNotFound(appId);
      checkKeyChangeAllowed(party, actor, 'retire a key of');
      const key = await repo.findKey(trx, party.id, keyId);
      if (!key) throw new TongfuError('NOT_FOUND', `party ${appId} has no key ${keyId}`, { appId, keyId });
      if (key.status === 'RETIRED') return { key: toKey(key), retired: false };
      if ((await repo.countActiveKeys(trx, party.id)) <= 1) {
        throw new TongfuError('LAST_ACTIVE_KEY', `key ${keyId} is the last active key of party ${appId}; add another key before retiring it`, { appId, keyId });
      }
      const retired = toKey(await repo.retireKey(trx, key.id, now));
      await announceKeyChange(trx, 'party.keyRetired', party, retired, actor, now);
      await recordAudit(trx, { actor, action: 'party.key_retired', target: `party:${appId}/key:${keyId}`, before: keySnapshot(toKey(key)), after: keySnapshot(retired), at: now });
      return { key: retired, retired: true };
    });
    if (result.retired) {
      this.deps.log.info({ appId, keyId }, 'party key retired');
      await this.changed(appId);
    }
    return result.key;
  }
}
