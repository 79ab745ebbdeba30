import type { Db } from '../database';

/**
 * Records that `appId` used `nonce` at `seenAt`. True when the nonce was free: never seen, or last
 * seen at or before `reusableAtOrBefore` (then its row is taken over with the new time). False
 * when it was seen after that, i.e. the request is a replay.
 *
 * One statement, so it is atomic and costs one round trip on the hot path: a new nonce is a plain
 * insert (`ON CONFLICT` never fires); a known one takes the row lock and updates it only when it
 * has expired. Two concurrent requests with the same nonce therefore cannot both win: the second
 * waits for the first's row, re-reads it (now fresh) and gets no row back.
 */
export async function claimNonce(db: Db, appId: string, nonce: string, seenAt: Date, reusableAtOrBefore: Date): Promise<boolean> {
  const result = await db.raw<{ rows: Array<{ claimed: number }> }>(
    `INSERT INTO request_nonces (app_id, nonce, seen_at) VALUES (?, ?, ?)
     ON CONFLICT (app_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at
       WHERE request_nonces.seen_at <= ?
     RETURNING 1 AS claimed`,
    [appId, nonce, seenAt, reusableAtOrBefore],
  );
  return result.rows.length === 1;
}

/**
 * Deletes up to `batchSizeMax` nonces seen at or before `expiredAtOrBefore`; returns how many.
 * Batched so that one purge never holds locks on, or writes WAL for, an unbounded number of rows.
 */
export async function deleteExpiredNonces(db: Db, expiredAtOrBefore: Date, batchSizeMax: number): Promise<number> {
  const result = await db.raw<{ rowCount: number | null }>(
    `DELETE FROM request_nonces
      WHERE (app_id, nonce) IN (
        SELECT app_id, nonce FROM request_nonces WHERE seen_at <= ? LIMIT ?
      )`,
    [expiredAtOrBefore, batchSizeMax],
  );
  return result.rowCount ?? 0;
}
