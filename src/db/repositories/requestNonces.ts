import { assert } from '../../domain/errors';
import type { Db, Queryable } from '../database';

/** A claim's values: `appId` used `nonce` at `seenAt`; a row last seen at or before `reusableAtOrBefore` is free. */
export interface NonceClaimValues {
  appId: string;
  nonce: string;
  seenAt: Date;
  reusableAtOrBefore: Date;
  /** The request's X-Tongfu-Timestamp; seenAt when absent. */
  signedAt?: Date;
}

/**
 * The row that says the nonce table was not emptied by crash recovery since it was written
 * (contracts/decisions/0059-nonces-after-a-database-crash.md): the table is UNLOGGED (decision
 * 0007), so a crash empties it, this row included. Its seen_at is infinity: never purged, and no
 * party has the empty appId.
 */
export const NONCE_SENTINEL = { appId: '', nonce: 'tongfu-nonce-table-intact' } as const;

/**
 * While the sentinel is missing (the table was emptied by the crash recovery of the server's
 * last start), a request must be signed at least this long after that start: nonces used before
 * the crash are gone, and this refuses their requests, even from a client whose clock is ahead of
 * ours by up to this much.
 */
export const NONCE_HORIZON_MARGIN_SECONDS = 30;

/** The values in the order of `?` placeholders in nonceClaimCte. */
export function nonceClaimBindings(claim: NonceClaimValues): [string, string, Date, Date, Date] {
  return [claim.appId, claim.nonce, claim.seenAt, claim.signedAt ?? claim.seenAt, claim.reusableAtOrBefore];
}

/** Placeholders (or expressions) for the four values of a claim, as the calling statement writes them. */
export interface NonceClaimPlaceholders {
  appId: string;
  nonce: string;
  seenAt: string;
  /** The request's timestamp; the statement uses seenAt when absent. */
  signedAt?: string;
  reusableAtOrBefore: string;
}

/** knex's positional placeholders, bound by nonceClaimBindings. */
export const KNEX_PLACEHOLDERS: NonceClaimPlaceholders = { appId: '?', nonce: '?', seenAt: '?', signedAt: '?', reusableAtOrBefore: '?' };

/**
 * The claim. Nothing is inserted — so the nonce counts as used — when the table was emptied by a
 * crash (no sentinel) and the request was signed before the server's start plus the margin
 * (decision 0059). The sentinel probe is one primary-key lookup in the same statement.
 */
function claimStatement(p: NonceClaimPlaceholders): string {
  return `INSERT INTO request_nonces (app_id, nonce, seen_at)
     SELECT ${p.appId}, ${p.nonce}, ${p.seenAt}::timestamptz
      WHERE ${claimable(p.signedAt ?? p.seenAt)}
     ON CONFLICT (app_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at
       WHERE request_nonces.seen_at <= ${p.reusableAtOrBefore}::timestamptz
     RETURNING 1 AS claimed`;
}

/** Whether a request signed at `signedAt` may claim a nonce at all: the sentinel rule of decision 0059. */
function claimable(signedAt: string): string {
  return `(EXISTS (SELECT 1 FROM request_nonces WHERE app_id = '${NONCE_SENTINEL.appId}' AND nonce = '${NONCE_SENTINEL.nonce}')
         OR ${signedAt}::timestamptz >= pg_postmaster_start_time() + interval '${NONCE_HORIZON_MARGIN_SECONDS} seconds')`;
}

/**
 * The claims of many requests in one data-modifying CTE named `nonce_claims`, returning the
 * `(app_id, nonce)` of each claim that won (decision 0173). `input` names a relation with columns
 * app_id, nonce, seen_at and signed_at, whose (app_id, nonce) pairs are distinct (one INSERT may
 * not take the same row twice); `reuseWindowMs` is what reusableAtOrBefore is before seenAt for
 * each of them. Rows are taken in key order, so two batches that share nonces (replays racing)
 * wait for each other in one order and never deadlock.
 */
export function nonceClaimsCte(input: string, reuseWindowMs: string): string {
  return `nonce_claims AS (
  INSERT INTO request_nonces (app_id, nonce, seen_at)
     SELECT app_id, nonce, seen_at FROM ${input}
      WHERE ${claimable('signed_at')}
      ORDER BY app_id, nonce
     ON CONFLICT (app_id, nonce) DO UPDATE SET seen_at = EXCLUDED.seen_at
       WHERE request_nonces.seen_at <= EXCLUDED.seen_at - ${reuseWindowMs}::double precision * interval '1 millisecond'
     RETURNING app_id, nonce
)`;
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

/** A batch of requests whose nonces a statement built on nonceClaimsCte claims (decisions 0173, 0175). */
export interface NonceBatch<T> {
  /** The requests to send: the first of each (appId, nonce), in order. */
  sent: T[];
  /** The claims' parameters of the statement: @app_ids, @nonces, @seen_ats, @signed_ats, @reuse_window_ms. */
  nonceValues: Record<string, unknown>;
  /** An answer for every request, from the sent ones' answers (in order); `repeated` for a nonce's later copies. */
  answer<A>(answers: readonly A[], repeated: A): A[];
}

/**
 * Splits a batch for nonceClaimsCte: one INSERT may not take a row twice, so a nonce repeated in
 * the batch is sent once, and its later copies are answered as replays — as they would be one
 * after the other. Every claim's reusableAtOrBefore must lie the same distance before its seenAt
 * (the service's reuse window).
 */
export function distinctNonceBatch<T>(inputs: readonly T[], nonceOf: (input: T) => NonceClaimValues): NonceBatch<T> {
  assert(inputs.length > 0, 'a batch has a request');
  const first = nonceOf(inputs[0]!);
  const reuseWindowMs = first.seenAt.getTime() - first.reusableAtOrBefore.getTime();
  const sent: T[] = [];
  const sentIndex: Array<number | undefined> = [];
  const keys = new Set<string>();
  for (const input of inputs) {
    const nonce = nonceOf(input);
    assert(nonce.seenAt.getTime() - nonce.reusableAtOrBefore.getTime() === reuseWindowMs, 'one reuse window per batch');
    const key = `${nonce.appId}\u0000${nonce.nonce}`;
    if (keys.has(key)) {
      sentIndex.push(undefined);
      continue;
    }
    keys.add(key);
    sentIndex.push(sent.length);
    sent.push(input);
  }
  const claims = sent.map(nonceOf);
  return {
    sent,
    nonceValues: {
      app_ids: claims.map((claim) => claim.appId),
      nonces: claims.map((claim) => claim.nonce),
      seen_ats: claims.map((claim) => claim.seenAt),
      signed_ats: claims.map((claim) => claim.signedAt ?? claim.seenAt),
      reuse_window_ms: reuseWindowMs,
    },
    answer<A>(answers: readonly A[], repeated: A): A[] {
      assert(answers.length === sent.length, 'one answer per request sent');
      return sentIndex.map((index) => (index === undefined ? repeated : answers[index]!));
    },
  };
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
export async function claimNonce(db: Db, appId: string, nonce: string, seenAt: Date, reusableAtOrBefore: Date, signedAt?: Date): Promise<boolean> {
  const result = await db.raw<{ rows: Array<{ claimed: number }> }>(
    claimStatement(KNEX_PLACEHOLDERS),
    nonceClaimBindings({ appId, nonce, seenAt, reusableAtOrBefore, ...(signedAt ? { signedAt } : {}) }),
  );
  return result.rows.length === 1;
}

/**
 * Deletes up to `batchSizeMax` nonces seen at or before `expiredAtOrBefore`; returns how many.
 * Batched so that one purge never holds locks on, or writes WAL for, an unbounded number of rows.
 */
export async function deleteExpiredNonces(db: Queryable, expiredAtOrBefore: Date, batchSizeMax: number): Promise<number> {
  const result = await db.raw<{ rowCount: number | null }>(
    `DELETE FROM request_nonces
      WHERE (app_id, nonce) IN (
        SELECT app_id, nonce FROM request_nonces WHERE seen_at <= ? LIMIT ?
      )`,
    [expiredAtOrBefore, batchSizeMax],
  );
  return result.rowCount ?? 0;
}

export type NonceTableState = 'intact' | 'initialised' | 'restored' | 'horizon';

/**
 * Puts the sentinel back when that is safe, and says what it found (decision 0059):
 * - `intact`: the sentinel is there;
 * - `initialised`: it was missing but the table was never emptied by a crash (a new or cloned
 *   database, or one whose guard was written during this very server run): it is written now;
 * - `restored`: the table was emptied by the crash recovery of the server's last start, long
 *   enough ago that every request signed before it is outside the timestamp window: written now;
 * - `horizon`: emptied by that recovery too recently: left missing, so claims keep refusing
 *   requests signed before the start plus the margin.
 * The guard (a LOGGED row) remembers during which server run the sentinel was last seen.
 */
export async function ensureNonceSentinel(db: Db, windowSeconds: number): Promise<NonceTableState> {
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', ['tongfu_nonce_sentinel']);
    const found = await trx.raw<{ rows: Array<{ present: boolean; guard_start: Date | null; same_run: boolean | null; settled: boolean }> }>(
      `SELECT EXISTS (SELECT 1 FROM request_nonces WHERE app_id = ? AND nonce = ?) AS present,
              g.postmaster_started_at AS guard_start,
              g.postmaster_started_at = pg_postmaster_start_time() AS same_run,
              now() >= pg_postmaster_start_time() + make_interval(secs => ?) AS settled
         FROM (SELECT 1) one LEFT JOIN nonce_guard g ON g.id = 1`,
      [NONCE_SENTINEL.appId, NONCE_SENTINEL.nonce, windowSeconds + NONCE_HORIZON_MARGIN_SECONDS],
    );
    const row = found.rows[0]!;
    let state: NonceTableState;
    if (row.present) state = 'intact';
    else if (row.guard_start === null || row.same_run === true) state = 'initialised';
    else if (row.settled) state = 'restored';
    else return 'horizon';
    if (!row.present) {
      await trx.raw(`INSERT INTO request_nonces (app_id, nonce, seen_at) VALUES (?, ?, 'infinity') ON CONFLICT (app_id, nonce) DO NOTHING`, [NONCE_SENTINEL.appId, NONCE_SENTINEL.nonce]);
    }
    await trx.raw(
      `INSERT INTO nonce_guard (id, postmaster_started_at) VALUES (1, pg_postmaster_start_time())
       ON CONFLICT (id) DO UPDATE SET postmaster_started_at = EXCLUDED.postmaster_started_at`,
    );
    return state;
  });
}
