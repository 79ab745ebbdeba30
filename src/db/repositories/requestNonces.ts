import type { Db } from '../database';

/** A claim's values: `appId` used `nonce` at `seenAt`; a row last seen at or before `reusableAtOrBefore` is free. */
export interface NonceClaimValues {
  appId: string;
  nonce: string;
  seenAt: Date;
  reusableAtOrBefore: Date;
}

/** The values in the order of `?` placeholders in nonceClaimCte. */
export function nonceClaimBindings(claim: NonceClaimValues): [string, string, Date, Date] {
  return [claim.appId, claim.nonce, claim.seenAt, claim.reusableAtOrBefore];
}

/** Placeholders (or expressions) for the four values of a claim, as the calling statement writes them. */
export interface NonceClaimPlaceholders {
  appId: string;
  nonce: string;
  seenAt: string;
  reusableAtOrBefore: string;
}

/** knex's positional placeholders, bound by nonceClaimBindings. */
export const KNEX_PLACEHOLDERS: NonceClaimPlaceholders = { appId: '?', nonce: '?', seenAt: '?', reusableAtOrBefore: '?' };

function claimStatement(p: NonceClaimPlaceholders): string {
  return `INSERT INTO request_nonces (app_id, nonce, seen_at) VALUES (${p.appId}, ${p.nonce}, ${p.seenAt}::timestamptz)
     ON CONFLICT (app_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at
       WHERE request_nonces.seen_at <= ${p.reusableAtOrBefore}::timestamptz
     RETURNING 1 AS claimed`;
}

/**
 * The claim of claimNonce as a data-modifying CTE named `nonce_claim`, for a statement that
 * stores the request's nonce on its way (decision 0009): `(SELECT count(*) FROM nonce_claim)` is
 * 1 when the nonce was free and 0 when it was used. Data-modifying CTEs run exactly once whether
 * or not the query reads them.
 */
export function nonceClaimCte(placeholders: NonceClaimPlaceholders): string {
  return `nonce_claim AS (\n  ${claimStatement(placeholders)}\n)`;
}

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
    claimStatement(KNEX_PLACEHOLDERS),
    nonceClaimBindings({ appId, nonce, seenAt, reusableAtOrBefore }),
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
