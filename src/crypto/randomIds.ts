import { randomFillSync } from 'node:crypto';
import { assert } from '../domain/errors';

/**
 * Random parts of public ids (payments, refunds, events, runs, discrepancies…), drawn from a pool
 * of CSPRNG bytes filled 4 KiB at a time: one call into OpenSSL per ~450 ids instead of one per id.
 * `randomBytes(9)` costs ≈ 6 µs a call on this machine, a slice of the pool ≈ 0.2 µs; a
 * reconcile run's backfill of 10,000 overages draws ≈ 40,000 ids. Each byte is handed out once,
 * so ids keep every random bit they had. Not for secrets (keys, nonces, IVs): those keep their own
 * `randomBytes`, so no secret ever shares a buffer with a public id.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `byteCount` fresh random bytes as base64url (no padding). */
export function randomBase64Url(byteCount: number): string {
  assert(Number.isInteger(byteCount) && byteCount >= 1 && byteCount <= POOL_BYTES, `1–${POOL_BYTES} random bytes, not ${byteCount}`);
  if (offset + byteCount > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const text = pool.toString('base64url', offset, offset + byteCount);
  offset += byteCount;
  return text;
}
