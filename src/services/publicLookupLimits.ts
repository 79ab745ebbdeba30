import type { Db } from '../db/database';
import { countFailure, countLookup, countLookupAsPendingFailure, purgeWindows, releaseFailure } from '../db/repositories/publicLookupCounters';
import type { Clock } from '../domain/clock';
import { TongfuError } from '../domain/errors';
import type { Logger } from '../logger';
import { lookupClientKey } from '../net/addresses';

/**
 * The limits on public notice lookups (docs/interface.md §6, docs/payment-code.md): at most 30 lookups a
 * minute per client address and 10 failed lookups a minute per payCode, so that the code space
 * cannot be enumerated and one notice's payer name cannot be guessed.
 *
 * Counters are fixed one-minute windows in PostgreSQL, so the limits hold across every instance
 * on the database. Windows follow the real clock: like the nonce window, a limit is a security
 * bound that TONGFU_CLOCK must not move.
 *
 * A client address is counted by lookupClientKey (src/net/addresses.ts): an IPv6 client by its
 * /64, which one subscriber usually holds whole, so rotating addresses inside it buys nothing.
 *
 * A payCode that has had 10 failed lookups in a window refuses every lookup until the window
 * ends, the right name included: otherwise the 11th guess would still be answered. The price is
 * that anyone holding a code can keep its payer from looking it up on the public page for a
 * minute at a time; the payer can still pay at a counter or in an app, which verify through the
 * agency endpoint.
 */
export const LOOKUPS_PER_ADDRESS_MAX = 30;
export const FAILED_LOOKUPS_PER_PAY_CODE_MAX = 10;
export const LOOKUP_WINDOW_MS = 60_000;

/** Windows older than this are purged; the current and the previous one are kept. */
const WINDOW_RETENTION_MS = 2 * LOOKUP_WINDOW_MS;
/** Each instance purges at most this often, and at most this many rows at a time. */
const PURGE_INTERVAL_MS = LOOKUP_WINDOW_MS;
const PURGE_ROWS_MAX = 10_000;

/** A lookup admitted in a window: a successful one hands it back with `release`. */
export interface LookupTicket {
  subject: string;
  windowStart: Date;
}

export class PublicLookupLimiter {
  private lastPurgeMs = 0;

  constructor(private readonly deps: { db: Db; realClock: Clock; log: Logger }) {}

  private window(): { start: Date; retryAfterSeconds: number; nowMs: number } {
    const nowMs = this.deps.realClock.now().getTime();
    const startMs = Math.floor(nowMs / LOOKUP_WINDOW_MS) * LOOKUP_WINDOW_MS;
    return { start: new Date(startMs), retryAfterSeconds: Math.max(1, Math.ceil((startMs + LOOKUP_WINDOW_MS - nowMs) / 1000)), nowMs };
  }

  private limited(message: string, retryAfterSeconds: number): TongfuError {
    return new TongfuError('RATE_LIMITED', `${message}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }

  /**
   * Counts a lookup of `subject` (a payCode, or any other looked-up key); RATE_LIMITED (with
   * Retry-After) when the address or the subject is over its limit. The caller reports a failed
   * lookup with `recordFailure`. Concurrent guesses that all pass this check before any failure is
   * recorded can exceed the failure limit by their number; `admitCountingFailure` cannot.
   */
  async admit(address: string, subject: string): Promise<void> {
    address = lookupClientKey(address);
    const window = this.window();
    this.purgeNow(window.nowMs);
    const { addressHits, failures } = await countLookup(this.deps.db, { address, subject, windowStart: window.start });
    if (addressHits > LOOKUPS_PER_ADDRESS_MAX) throw this.limited(`at most ${LOOKUPS_PER_ADDRESS_MAX} lookups a minute from one address`, window.retryAfterSeconds);
    if (failures >= FAILED_LOOKUPS_PER_PAY_CODE_MAX) throw this.limited('too many failed lookups of this code', window.retryAfterSeconds);
  }

  /** Counts a failed lookup of `subject` admitted with `admit`. */
  async recordFailure(subject: string): Promise<void> {
    await countFailure(this.deps.db, { subject, windowStart: this.window().start });
  }

  /**
   * Counts a lookup, and counts it as a failure of the subject until `release` says it succeeded;
   * RATE_LIMITED (with Retry-After) when the address or the subject is over its limit. Counting
   * the failure before the lookup, not after, is what keeps concurrent guesses to the limit too:
   * twenty guesses sent at once are twenty pending failures, so the eleventh is refused. A failed
   * lookup costs no further round trip; a successful one costs the release.
   */
  async admitCountingFailure(address: string, subject: string): Promise<LookupTicket> {
    address = lookupClientKey(address);
    const window = this.window();
    this.purgeNow(window.nowMs);
    const { addressHits, failures } = await countLookupAsPendingFailure(this.deps.db, { address, subject, windowStart: window.start, addressHitsMax: LOOKUPS_PER_ADDRESS_MAX });
    if (addressHits > LOOKUPS_PER_ADDRESS_MAX || failures === null) throw this.limited(`at most ${LOOKUPS_PER_ADDRESS_MAX} lookups a minute from one address`, window.retryAfterSeconds);
    if (failures > FAILED_LOOKUPS_PER_PAY_CODE_MAX) throw this.limited('too many failed lookups of this code', window.retryAfterSeconds);
    return { subject, windowStart: window.start };
  }

  /** The lookup admitted by `admitCountingFailure` succeeded: it is not a failure. */
  async release(ticket: LookupTicket): Promise<void> {
    await releaseFailure(this.deps.db, ticket);
  }

  /** Old windows go in the background, once a minute per instance; a failure only delays it. */
  private purgeNow(nowMs: number): void {
    if (nowMs - this.lastPurgeMs < PURGE_INTERVAL_MS) return;
    this.lastPurgeMs = nowMs;
    purgeWindows(this.deps.db, new Date(nowMs - WINDOW_RETENTION_MS), PURGE_ROWS_MAX).catch((error: unknown) => {
      this.deps.log.warn({ err: error }, 'could not purge old public lookup counters');
    });
  }
}
