import type { Queryable } from '../database';

/**
 * Fixed-window counters of public lookups (migration 20261127000011), shared by every instance on
 * the database.
 */

/**
 * Counts one lookup from `address` in the window and, in the same round trip, reads how many
 * failed lookups `subject` has had in it.
 */
export async function countLookup(db: Queryable, input: { address: string; subject: string; windowStart: Date }): Promise<{ addressHits: number; failures: number }> {
  const result = await db.raw<{ rows: Array<{ address_hits: number; failures: number }> }>(
    `WITH address AS (
       INSERT INTO public_lookup_counters (scope, subject, window_start, hits) VALUES ('ADDRESS', ?, ?::timestamptz, 1)
       ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = public_lookup_counters.hits + 1
       RETURNING hits
     )
     SELECT (SELECT hits FROM address) AS address_hits,
            COALESCE((SELECT hits FROM public_lookup_counters
                       WHERE scope = 'FAILURE' AND subject = ? AND window_start = ?::timestamptz), 0) AS failures`,
    [input.address, input.windowStart, input.subject, input.windowStart],
  );
  const row = result.rows[0];
  if (!row) throw new Error('invariant broken: the lookup counter returned no row');
  return { addressHits: Number(row.address_hits), failures: Number(row.failures) };
}

/** Counts one failed lookup of `subject` in the window. */
export async function countFailure(db: Queryable, input: { subject: string; windowStart: Date }): Promise<void> {
  await db.raw(
    `INSERT INTO public_lookup_counters (scope, subject, window_start, hits) VALUES ('FAILURE', ?, ?::timestamptz, 1)
     ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = public_lookup_counters.hits + 1`,
    [input.subject, input.windowStart],
  );
}

/**
 * Counts one lookup from `address` in the window and — only when the address is within
 * `addressHitsMax` — one pending failure of `subject`, in one round trip. The upserts' row locks
 * make concurrent counts add up. `failures` is null when the address was over its limit.
 */
export async function countLookupAsPendingFailure(
  db: Queryable,
  input: { address: string; subject: string; windowStart: Date; addressHitsMax: number },
): Promise<{ addressHits: number; failures: number | null }> {
  const result = await db.raw<{ rows: Array<{ address_hits: number; failures: number | null }> }>(
    `WITH address AS (
       INSERT INTO public_lookup_counters (scope, subject, window_start, hits) VALUES ('ADDRESS', ?, ?::timestamptz, 1)
       ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = public_lookup_counters.hits + 1
       RETURNING hits
     ), subject AS (
       INSERT INTO public_lookup_counters (scope, subject, window_start, hits)
       SELECT 'FAILURE', ?, ?::timestamptz, 1 WHERE (SELECT hits FROM address) <= ?
       ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = public_lookup_counters.hits + 1
       RETURNING hits
     )
     SELECT (SELECT hits FROM address) AS address_hits, (SELECT hits FROM subject) AS failures`,
    [input.address, input.windowStart, input.subject, input.windowStart, input.addressHitsMax],
  );
  const row = result.rows[0];
  if (!row) throw new Error('invariant broken: the lookup counter returned no row');
  return { addressHits: Number(row.address_hits), failures: row.failures === null ? null : Number(row.failures) };
}

/** Takes back the pending failure a successful lookup counted (in the window it was counted in). */
export async function releaseFailure(db: Queryable, input: { subject: string; windowStart: Date }): Promise<void> {
  await db.raw(
    `UPDATE public_lookup_counters SET hits = hits - 1
      WHERE scope = 'FAILURE' AND subject = ? AND window_start = ?::timestamptz AND hits > 0`,
    [input.subject, input.windowStart],
  );
}

/** Deletes up to `limit` windows that started before `before`; returns how many. */
export async function purgeWindows(db: Queryable, before: Date, limit: number): Promise<number> {
  const result = await db.raw<{ rowCount: number }>(
    `DELETE FROM public_lookup_counters
      WHERE ctid IN (SELECT ctid FROM public_lookup_counters WHERE window_start < ?::timestamptz LIMIT ?)`,
    [before, limit],
  );
  return result.rowCount;
}
