import type { Knex } from 'knex';
import { assert } from '../../domain/errors';
import type { Queryable } from '../database';

/**
 * The finance audit log and its chain head (migration 20261201000550). The hash is computed by
 * src/services/audit.ts; this module only reads and writes rows. `seq` comes back as the digit
 * string pg returns for bigint; `before`/`after` as parsed JSON.
 */

export interface AuditRow {
  seq: string;
  at: Date;
  actor_app_id: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  previous_hash: string;
  hash: string;
}

export interface ChainHead {
  /** The last row's seq ('0' while the log is empty). */
  seq: string;
  /** The last row's hash (64 zeros while the log is empty). */
  hash: string;
}

/**
 * Locks the chain head until the transaction ends and answers it: the caller appends row
 * `seq + 1` chained to `hash`. Every other append waits here, so seqs are taken in commit order
 * with no gap (a rolled-back append gives its seq back with its lock).
 */
export async function lockChainHead(trx: Knex.Transaction): Promise<ChainHead> {
  const result = await trx.raw<{ rows: ChainHead[] }>('SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE');
  const head = result.rows[0];
  assert(head !== undefined, 'the audit chain head row exists (migration 20261201000550 inserts it)');
  return head;
}

/** The chain head without a lock, for verification. */
export async function readChainHead(db: Queryable): Promise<ChainHead> {
  const result = await db.raw<{ rows: ChainHead[] }>('SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1');
  const head = result.rows[0];
  assert(head !== undefined, 'the audit chain head row exists (migration 20261201000550 inserts it)');
  return head;
}

export interface NewAuditRow {
  seq: string;
  at: Date;
  actor_app_id: string;
  action: string;
  target: string;
  /** JSON text, or null. */
  before_json: string | null;
  after_json: string | null;
  previous_hash: string;
  hash: string;
}

/** Appends one row; the table's insert trigger checks that it continues the head and moves the head. */
export async function insertAuditRow(trx: Knex.Transaction, row: NewAuditRow): Promise<void> {
  await trx.raw(
    `INSERT INTO audit_log (seq, at, actor_app_id, action, target, before, after, previous_hash, hash)
     VALUES (?::bigint, ?::timestamptz, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?)`,
    [row.seq, row.at, row.actor_app_id, row.action, row.target, row.before_json, row.after_json, row.previous_hash, row.hash],
  );
}

/** Rows with a seq above `after`, in seq order, at most `limit`. */
export async function listAuditRowsAfter(db: Queryable, after: string, limit: number): Promise<AuditRow[]> {
  const result = await db.raw<{ rows: AuditRow[] }>(
    `SELECT seq::text AS seq, at, actor_app_id, action, target, before, after, previous_hash, hash
       FROM audit_log WHERE audit_log.seq > ?::bigint ORDER BY audit_log.seq LIMIT ?`,
    [after, limit],
  );
  return result.rows;
}
