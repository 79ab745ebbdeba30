import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { Db, Queryable } from '../database';

/**
 * The lock per (agency, business date) (docs/reconciliation.md §2, docs/operations.md §4): every
 * job and request that works on one agency's date — reconcile, settle, the run an upload starts —
 * holds it, so a date is never reconciled and settled at once. It comes on top of each job's own
 * run lock. Different pairs never block each other.
 *
 * It is a PostgreSQL advisory lock on a 64-bit key derived from the pair, held one of two ways,
 * both of which end with the holder: inside a transaction (`pg_advisory_xact_lock`, released at
 * commit or rollback), or for work that spans several transactions on a dedicated connection
 * opened for it and closed after (a session lock on a pooled connection would stay with whatever
 * borrows that connection next, so it is never used). Both take the same key, so they exclude
 * each other.
 */

/** A stable signed 64-bit key for the pair: the first 8 bytes of SHA-256 of a namespaced text. */
export function agencyDateLockKey(agencyCode: string, businessDate: string): string {
  const digest = createHash('sha256').update(`tongfu:agency-date:${agencyCode}:${businessDate}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/** Takes the pair's lock inside `trx`, waiting for any holder; released when `trx` ends. */
export async function lockAgencyDateInTransaction(trx: Queryable, agencyCode: string, businessDate: string): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?::bigint)', [agencyDateLockKey(agencyCode, businessDate)]);
}

/** Runs `work` in a transaction that holds the pair's lock. */
export async function withAgencyDateLock<T>(db: Db, agencyCode: string, businessDate: string, work: (trx: Queryable) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await lockAgencyDateInTransaction(trx, agencyCode, businessDate);
    return work(trx);
  });
}

/**
 * Runs `work` (which may commit many transactions on the pool) while a dedicated connection holds
 * the pair's lock; closing that connection releases the lock even if the unlock is never sent.
 */
export async function withAgencyDateSessionLock<T>(connectionString: string, agencyCode: string, businessDate: string, work: () => Promise<T>): Promise<T> {
  const client = new Client({ connectionString, application_name: 'tongfu-agency-date-lock' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [agencyDateLockKey(agencyCode, businessDate)]);
    return await work();
  } finally {
    await client.end().catch(() => undefined);
  }
}
