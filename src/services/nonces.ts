import type { Knex } from 'knex';
import type { Db } from '../db/database';
import { claimNonce, deleteExpiredNonces, ensureNonceSentinel } from '../db/repositories/requestNonces';
import { TongfuError } from '../domain/errors';
import type { NonceClaim } from '../domain/access';

/**
 * How long a nonce stays used (docs/interface.md §2: "rejected if this appId used it within the last
 * 15 minutes"). Three times the ±300 s timestamp window, so a captured request is refused by its
 * timestamp long before its nonce could be reused.
 */
export const NONCE_REUSE_WINDOW_MS = 15 * 60_000;

/** How far a request's timestamp may be from the real clock, either way (docs/interface.md §2). */
export const NONCE_TIMESTAMP_WINDOW_SECONDS = 300;

/** Rows one purge statement deletes at most. */
export const NONCE_PURGE_BATCH_SIZE_MAX = 10_000;
/**
 * Batches one purge run deletes at most (10 M nonces). An hour of traffic never comes near; if it
 * ever did, the rest waits for the next run, and expired rows are harmless meanwhile because a
 * claim treats them as free.
 */
export const NONCE_PURGE_BATCHES_MAX = 1_000;

/** The claim of `nonce` by `appId` seen at `realNow` (the real clock, never the business clock). */
export function nonceClaimAt(appId: string, nonce: string, realNow: Date, signedAt?: Date): NonceClaim {
  return { appId, nonce, seenAt: realNow, reusableAtOrBefore: new Date(realNow.getTime() - NONCE_REUSE_WINDOW_MS), ...(signedAt ? { signedAt } : {}) };
}

/** The answer to a request whose nonce this appId used within the window. */
export function nonceReused(): TongfuError {
  return new TongfuError('NONCE_REUSED', 'this X-Tongfu-Nonce was used by this appId within the last 15 minutes: sign every request afresh');
}

/**
 * Marks a nonce used. True if it was free; false if the appId used it within the window, i.e.
 * the request is a replay. Call it only once the request's signature has verified, so a forged
 * request cannot burn a party's nonces.
 */
export function claimRequestNonce(db: Db, claim: NonceClaim): Promise<boolean> {
  return claimNonce(db, claim.appId, claim.nonce, claim.seenAt, claim.reusableAtOrBefore, claim.signedAt);
}

/**
 * Deletes the nonces whose window has passed at `realNow`; returns how many were deleted. With
 * `onBatch`, each batch is deleted in a transaction that `onBatch` also writes in (the job records
 * its progress there, so a run killed between batches keeps the count of what it deleted).
 */
export async function purgeExpiredNonces(
  db: Db,
  realNow: Date,
  batchSizeMax = NONCE_PURGE_BATCH_SIZE_MAX,
  onBatch?: (trx: Knex.Transaction, deleted: number) => Promise<void>,
): Promise<number> {
  // Also the moment to lift a nonce horizon left by a database crash (decision 0059).
  await ensureNonceSentinel(db, NONCE_TIMESTAMP_WINDOW_SECONDS);
  const expiredAtOrBefore = new Date(realNow.getTime() - NONCE_REUSE_WINDOW_MS);
  let purged = 0;
  for (let batch = 0; batch < NONCE_PURGE_BATCHES_MAX; batch += 1) {
    const deleted = onBatch === undefined
      ? await deleteExpiredNonces(db, expiredAtOrBefore, batchSizeMax)
      : await db.transaction(async (trx) => {
          const count = await deleteExpiredNonces(trx, expiredAtOrBefore, batchSizeMax);
          if (count > 0) await onBatch(trx, count);
          return count;
        });
    purged += deleted;
    if (deleted < batchSizeMax) break;
  }
  return purged;
}
