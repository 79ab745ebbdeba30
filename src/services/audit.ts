import type { Knex } from 'knex';
import { canonicalJson } from '../crypto/canonicalJson';
import { sm3Hex } from '../crypto/sm3';
import type { Db } from '../db/database';
import * as repo from '../db/repositories/audit';
import { formatInstant } from '../domain/businessDate';
import { assert } from '../domain/errors';

/**
 * The finance audit log (docs/audit.md, contracts/decisions/0075-audit-log.md): who changed what
 * the platform's money depends on, when, from what to what — in a hash chain that shows any later
 * edit.
 *
 * Every finance action calls `recordAudit(trx, …)` inside its own transaction, after its own
 * writes and locks: the row commits or rolls back with the change, and because the chain head is
 * always the last lock an action takes, serialising on it cannot deadlock with the action's own
 * locks. Actions that change nothing (a PUT of the same content, a replayed registration) record
 * nothing: the log is the history of changes, and a client's retry must not read as a second act.
 *
 * ## The hash
 *
 * `hash` = lowercase hex SM3 of the ASCII `previousHash` (64 hex digits; 64 zeros for seq 1)
 * followed by the UTF-8 RFC 8785 canonical JSON of the row's content
 * `{seq, at, actorAppId, action, target, before, after}` — exactly the fields
 * `GET /v1/finance/audit` shows, so a client can check the chain from the API alone: `seq` a JSON
 * number, `at` as the wire writes instants (`2026-12-01T08:00:00+08:00`, whole seconds — the row
 * stores whole seconds), `before`/`after` the JSON snapshots or null.
 *
 * Snapshots hold strings, booleans, null, safe integers, arrays and plain objects only (money and
 * rates as decimal strings), so that they survive jsonb unchanged and hash the same when read
 * back; `recordAudit` asserts it. They never hold personal data in clear: a payer's id number,
 * mobile, account number or name appear masked or not at all.
 */

/**
 * Every action the log records, with what its target names. Later capabilities add theirs here
 * (proposals, decisions, reissues, links, returns), as events add theirs to EVENT_TYPES.
 */
export const AUDIT_ACTIONS = {
  'party.registered': 'party:{appId}',
  'party.updated': 'party:{appId}',
  'party.key_added': 'party:{appId}/key:{keyId}',
  'party.key_retired': 'party:{appId}/key:{keyId}',
  'region.saved': 'region:{regionCode}',
  'account.saved': 'account:{accountNo}',
  'sharing_rule.saved': 'sharing_rule:{ruleCode}',
  'item.saved': 'item:{itemCode}',
  'unit_items.replaced': 'unit:{unitCode}/items',
  'event.redelivered': 'event:{eventId}',
  'refund.approved': 'refund:{refundId}',
  'refund.rejected': 'refund:{refundId}',
  // Maker-checker (src/services/proposals.ts): the target is `{kind}:{id}`, e.g. `discrepancy:{discrepancyId}`.
  'proposal.created': '{kind}:{id}/proposal:{proposalId}',
  'proposal.approved': '{kind}:{id}/proposal:{proposalId}',
  'proposal.rejected': '{kind}:{id}/proposal:{proposalId}',
} as const;

export type AuditAction = keyof typeof AUDIT_ACTIONS;

/** The actor of what an operator does with `npm run cli` (`party add`, how the first finance party is created). */
export const CLI_ACTOR = 'cli';

/** An appId (a platform id, as the contract's PlatformId and the table's CHECK have it) or CLI_ACTOR. */
const ACTOR_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The largest snapshot, as JSON text: a snapshot is a resource, not a document. */
export const AUDIT_SNAPSHOT_BYTES_MAX = 64 * 1024;
/** Rows one page of `GET /v1/finance/audit` answers at most, and the default. */
export const AUDIT_PAGE_LIMIT_MAX = 500;
export const AUDIT_PAGE_LIMIT_DEFAULT = 100;
/** Rows `verifyAuditChain` reads per query: memory stays bounded however long the log grows. */
export const AUDIT_VERIFY_BATCH_SIZE = 1_000;

export const AUDIT_GENESIS_HASH = '0'.repeat(64);

export type AuditSnapshot = Record<string, unknown>;

export interface NewAuditEntry {
  /** The finance party's appId, or CLI_ACTOR. */
  actor: string;
  action: AuditAction;
  /** What was acted on, in the form AUDIT_ACTIONS gives for the action. */
  target: string;
  /** The state before the action; null when it created the target. */
  before: AuditSnapshot | null;
  /** The state after; null when it removed the target. */
  after: AuditSnapshot | null;
  /** The instant the action wrote on its own rows; stored to the second. */
  at: Date;
}

/** A row as the API shows it and the hash covers (plus the two hashes). */
export interface AuditRecord {
  seq: number;
  at: string;
  actorAppId: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  previousHash: string;
  hash: string;
}

/** What the hash covers: the row's content, without its hashes. */
export type AuditContent = Omit<AuditRecord, 'previousHash' | 'hash'>;

export function auditHash(previousHash: string, content: AuditContent): string {
  assert(/^[0-9a-f]{64}$/.test(previousHash), 'a previous hash is 64 lowercase hex digits');
  return sm3Hex(previousHash + canonicalJson(content));
}

/** Whole seconds: the wire writes instants without fractions, and the hash covers the wire form. */
function toSecond(instant: Date): Date {
  return new Date(Math.floor(instant.getTime() / 1000) * 1000);
}

/** JSON that jsonb keeps exactly: no floats or unsafe integers, no Dates, Decimals or other class instances. */
function assertPlainJson(value: unknown, path: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    assert(Number.isSafeInteger(value), `audit snapshot ${path}: numbers are safe integers (money and rates are strings), got ${value}`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((element, index) => assertPlainJson(element, `${path}/${index}`));
    return;
  }
  assert(typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null), `audit snapshot ${path}: a plain JSON value, got ${String(value)}`);
  for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
    assert(member !== undefined, `audit snapshot ${path}/${key}: no undefined members (null, or leave the key out)`);
    assertPlainJson(member, `${path}/${key}`);
  }
}

function snapshotJson(snapshot: AuditSnapshot | null, name: string): string | null {
  if (snapshot === null) return null;
  assertPlainJson(snapshot, name);
  const json = JSON.stringify(snapshot);
  assert(Buffer.byteLength(json, 'utf8') <= AUDIT_SNAPSHOT_BYTES_MAX, `an audit snapshot is at most ${AUDIT_SNAPSHOT_BYTES_MAX} bytes of JSON`);
  return json;
}

function seqNumber(seq: string): number {
  const value = Number(seq);
  assert(Number.isSafeInteger(value) && value >= 0, `audit seq ${seq} is a non-negative safe integer`);
  return value;
}

/**
 * Appends one row to the audit log inside the action's transaction: locks the chain head, takes
 * the next seq, hashes, inserts (two round trips). Call it after the action's own writes (see
 * the module comment). Throws (a bug, never a caller's input) outside a transaction, for an
 * unknown action or actor, or for a snapshot that is not plain JSON within the size limit.
 */
export async function recordAudit(trx: Knex.Transaction, entry: NewAuditEntry): Promise<AuditRecord> {
  assert(trx.isTransaction === true, 'recordAudit runs inside the transaction of the action it records');
  assert(Object.prototype.hasOwnProperty.call(AUDIT_ACTIONS, entry.action), `unknown audit action ${String(entry.action)}: add it to AUDIT_ACTIONS`);
  assert(ACTOR_PATTERN.test(entry.actor), `audit actor ${entry.actor} is an appId or "${CLI_ACTOR}"`);
  assert(entry.target.length >= 1 && entry.target.length <= 300, 'an audit target is 1–300 characters');
  assert(entry.before !== null || entry.after !== null, 'an audited action has a state before or after it');
  assert(entry.at instanceof Date && Number.isFinite(entry.at.getTime()), 'at is a valid Date');
  const beforeJson = snapshotJson(entry.before, 'before');
  const afterJson = snapshotJson(entry.after, 'after');

  const head = await repo.lockChainHead(trx);
  const at = toSecond(entry.at);
  const content: AuditContent = {
    seq: seqNumber(head.seq) + 1,
    at: formatInstant(at),
    actorAppId: entry.actor,
    action: entry.action,
    target: entry.target,
    // The snapshots as they will be read back: parsed from the JSON that is stored.
    before: beforeJson === null ? null : JSON.parse(beforeJson),
    after: afterJson === null ? null : JSON.parse(afterJson),
  };
  const hash = auditHash(head.hash, content);
  await repo.insertAuditRow(trx, {
    seq: String(content.seq),
    at,
    actor_app_id: entry.actor,
    action: entry.action,
    target: entry.target,
    before_json: beforeJson,
    after_json: afterJson,
    previous_hash: head.hash,
    hash,
  });
  return { ...content, previousHash: head.hash, hash };
}

export function auditRecord(row: repo.AuditRow): AuditRecord {
  return {
    seq: seqNumber(row.seq),
    at: formatInstant(row.at),
    actorAppId: row.actor_app_id,
    action: row.action,
    target: row.target,
    before: row.before,
    after: row.after,
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}

function contentOf(record: AuditRecord): AuditContent {
  const { previousHash: _previous, hash: _hash, ...content } = record;
  return content;
}

export interface AuditPage {
  data: AuditRecord[];
  nextAfter: number;
}

export interface AuditVerification {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  /** The chain head as stored: the last seq and its hash. */
  head: { seq: number; hash: string };
  /** The first seq at which the chain breaks (a row altered, missing or out of place); null when whole. */
  firstBrokenSeq: number | null;
  /** What is wrong there, for the operator; null when whole. */
  problem: string | null;
}

/**
 * Recomputes the whole chain, in seq order, in batches: every seq present from 1 without a gap,
 * every row's `previousHash` equal to the hash before it, every hash recomputed from the row's
 * stored content, and the last row equal to the chain head (so a removed or re-hashed last row is
 * found too). Stops at the first break.
 */
export async function verifyAuditChain(db: Db | Knex.Transaction): Promise<AuditVerification> {
  const storedHead = await repo.readChainHead(db);
  const head = { seq: seqNumber(storedHead.seq), hash: storedHead.hash };
  const broken = (rows: number, seq: number, problem: string): AuditVerification => ({ ok: false, rows, head, firstBrokenSeq: seq, problem });
  let previousHash = AUDIT_GENESIS_HASH;
  let expectedSeq = 1;
  let rows = 0;
  for (;;) {
    const batch = await repo.listAuditRowsAfter(db, String(expectedSeq - 1), AUDIT_VERIFY_BATCH_SIZE);
    for (const row of batch) {
      const record = auditRecord(row);
      if (record.seq !== expectedSeq) return broken(rows, expectedSeq, `row ${expectedSeq} is missing: the row after ${expectedSeq - 1} is ${record.seq}`);
      if (row.at.getTime() % 1000 !== 0) return broken(rows, record.seq, `row ${record.seq}: its instant has fractions of a second, which no append writes`);
      if (record.previousHash !== previousHash) return broken(rows, record.seq, `row ${record.seq}: previousHash ${record.previousHash} is not the hash of the row before it (${previousHash})`);
      const recomputed = auditHash(previousHash, contentOf(record));
      if (recomputed !== record.hash) return broken(rows, record.seq, `row ${record.seq}: its content does not hash to its stored hash (stored ${record.hash}, recomputed ${recomputed})`);
      previousHash = record.hash;
      expectedSeq += 1;
      rows += 1;
    }
    if (batch.length < AUDIT_VERIFY_BATCH_SIZE) break;
  }
  const lastSeq = expectedSeq - 1;
  if (head.seq > lastSeq) return broken(rows, lastSeq + 1, `rows ${lastSeq + 1}–${head.seq} are missing: the chain head records row ${head.seq}, the log ends at ${lastSeq}`);
  if (head.seq < lastSeq) return broken(rows, head.seq + 1, `rows after ${head.seq} are beyond the chain head, which records row ${head.seq}`);
  if (head.hash !== previousHash) return broken(rows, lastSeq, `row ${lastSeq}: its hash ${previousHash} is not the one the chain head records (${head.hash})`);
  return { ok: true, rows, head, firstBrokenSeq: null, problem: null };
}

export interface AuditServiceDependencies {
  db: Db;
}

/** The API's read of the audit log (`audit verify` calls verifyAuditChain itself). */
export class AuditService {
  constructor(private readonly deps: AuditServiceDependencies) {}

  /** `GET /v1/finance/audit?after=&limit=`: rows above `after` in seq order; `nextAfter` as for events. */
  async page(after: number, limit: number): Promise<AuditPage> {
    assert(Number.isSafeInteger(after) && after >= 0, 'after is a non-negative integer');
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= AUDIT_PAGE_LIMIT_MAX, `limit is 1–${AUDIT_PAGE_LIMIT_MAX}`);
    const data = (await repo.listAuditRowsAfter(this.deps.db, String(after), limit)).map(auditRecord);
    const last = data[data.length - 1];
    return { data, nextAfter: last ? last.seq : after };
  }
}
