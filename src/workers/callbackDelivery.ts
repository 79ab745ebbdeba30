import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { bodyDigest, generateNonce, SIGNATURE_HEADERS, stringToSign, targetFromUrl } from '../crypto/requestSigning';
import type { Db } from '../db/database';
import { claimDueDeliveries, ClaimedDelivery, recordAttempt, releaseLease } from '../db/repositories/callbackDeliveries';
import { afterFailedAttempt, deliveryTransition } from '../domain/callbacks';
import type { Clock } from '../domain/clock';
import type { Logger } from '../logger';
import { eventMessage } from '../services/events';
import type { PlatformSigner } from '../services/platformKeys';
import { checkCallbackTarget, type CallbackAddressPolicy } from '../net/callbackTarget';
import { CallbackResult, sendCallback } from './callbackRequest';
import { WakeableSleep } from './wakeableSleep';

/**
 * The callback delivery worker (docs/lifecycle.md §5; docs/operations.md §4: every instance with
 * TONGFU_JOBS=on runs one). It leases due deliveries in a short transaction of their own,
 * commits, and only then calls the recipients — never with a transaction open across an HTTP
 * call — so any number of instances share the work, and a crashed instance's leases simply run
 * out. Each attempt is signed afresh (real clock, new nonce) and recorded with its outcome.
 *
 * Fairness: at most `inFlightMax` attempts at once, and at most `perRecipientInFlightMax` of them
 * for one recipient, so a recipient that hangs ties up a few slots for the timeout and never the
 * worker. The limits are per instance.
 */
export interface CallbackWorkerOptions {
  /** Attempts in flight at once, at most. */
  inFlightMax: number;
  /** Attempts in flight to one recipient at once, at most. */
  perRecipientInFlightMax: number;
  /** How often to look for due deliveries when nothing wakes the worker sooner. */
  pollIntervalMs: number;
  /** A claim's lease: well beyond the timeout, so a live worker never loses a lease mid-attempt. */
  leaseMs: number;
  /** An attempt must see a 2xx within this. */
  timeoutMs: number;
  /** Bytes of an answer read at most. */
  responseBytesMax: number;
  /** Recipients with pending deliveries one claim looks at, at most. */
  recipientsPerClaimMax: number;
  /** The pause after a failed claim (e.g. the database is down) before the next. */
  errorBackoffMs: number;
}

export const DEFAULT_CALLBACK_WORKER_OPTIONS: CallbackWorkerOptions = {
  inFlightMax: 32,
  perRecipientInFlightMax: 4,
  pollIntervalMs: 200,
  leaseMs: 30_000,
  timeoutMs: 5_000,
  responseBytesMax: 64 * 1024,
  recipientsPerClaimMax: 10_000,
  errorBackoffMs: 1_000,
};

export interface CallbackWorkerDependencies {
  db: Db;
  signer: Pick<PlatformSigner, 'appId' | 'keyId' | 'sign'>;
  /** The real clock: retry times, leases and signature timestamps. Tests move it by hand. */
  realClock: Clock;
  log: Logger;
  /** Which addresses callbacks may reach (net/callbackTarget.ts); everything when absent. */
  callbackPolicy?: CallbackAddressPolicy;
}

export class CallbackDeliveryWorker {
  private readonly options: CallbackWorkerOptions;
  /** Attempts in flight by delivery id: each settles once its outcome is recorded. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly inFlightByRecipient = new Map<string, number>();
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly sleeper = new WakeableSleep();

  constructor(
    private readonly deps: CallbackWorkerDependencies,
    options: Partial<CallbackWorkerOptions> = {},
  ) {
    this.options = { ...DEFAULT_CALLBACK_WORKER_OPTIONS, ...options };
    // Every attempt in flight listens for the stop signal: as many listeners as slots is normal.
    setMaxListeners(this.options.inFlightMax + 1, this.abort.signal);
  }

  start(): void {
    if (this.running || this.stopping) return;
    this.running = this.loop();
  }

  /** Look for due deliveries now (new deliveries were created, or one was redelivered). */
  wake(): void {
    this.sleeper.wake();
  }

  /** Attempts in flight now (for tests and metrics). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Stops claiming, then waits up to `graceMs` for attempts in flight to finish and be
   * recorded. Attempts still running then are aborted and their leases given back, so another
   * instance may retry them at once; one that reached its recipient is delivered again, which
   * receivers tolerate by deduplicating on eventId.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    await this.running;
    const drained = Promise.all(this.inFlight.values());
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), Math.max(0, graceMs));
    });
    const first = await Promise.race([drained.then(() => 'drained' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'grace-over') {
      this.deps.log.warn({ inFlight: this.inFlight.size }, 'stopping callback delivery with attempts in flight; aborting them');
      this.abort.abort();
      await drained;
    }
  }

  /**
   * The worker's loop: claim as many due deliveries as there are free slots, start them, and
   * wait until a slot frees up, something wakes the worker, or the poll interval passes. It runs
   * until stop(); each turn does a bounded amount of work (at most `inFlightMax` claims).
   */
  private async loop(): Promise<void> {
    while (!this.stopping) {
      let claimedAllSlots = false;
      try {
        const slots = this.options.inFlightMax - this.inFlight.size;
        if (slots > 0) {
          const claimed = await this.claim(slots);
          for (const delivery of claimed) this.launch(delivery);
          // Every free slot taken: more may be due; look again as soon as a slot frees.
          claimedAllSlots = claimed.length === slots;
        }
      } catch (error) {
        this.deps.log.warn({ err: error }, 'could not claim callback deliveries; retrying');
        await this.sleeper.sleep(this.options.errorBackoffMs);
        continue;
      }
      if (this.stopping) break;
      if (claimedAllSlots && this.inFlight.size < this.options.inFlightMax) continue;
      await this.sleeper.sleep(this.options.pollIntervalMs);
    }
  }

  private async claim(slots: number): Promise<ClaimedDelivery[]> {
    const now = this.deps.realClock.now();
    return claimDueDeliveries(this.deps.db, {
      realNow: now,
      leaseUntil: new Date(now.getTime() + this.options.leaseMs),
      leaseToken: randomUUID(),
      slots,
      perRecipientMax: this.options.perRecipientInFlightMax,
      inFlightByRecipient: this.inFlightByRecipient,
      recipientsMax: this.options.recipientsPerClaimMax,
    });
  }

  private launch(delivery: ClaimedDelivery): void {
    const recipient = delivery.recipient_party_id;
    this.inFlightByRecipient.set(recipient, (this.inFlightByRecipient.get(recipient) ?? 0) + 1);
    const done = this.attempt(delivery)
      .catch((error: unknown) => {
        // The outcome could not be recorded (the database went away): the lease runs out and
        // the delivery is attempted again, so nothing is lost; a receiver may see it twice.
        this.deps.log.warn({ err: error, eventId: delivery.event_id, recipient: delivery.recipient_app_id }, 'could not record a callback attempt');
      })
      .finally(() => {
        this.inFlight.delete(delivery.id);
        const left = (this.inFlightByRecipient.get(recipient) ?? 1) - 1;
        if (left <= 0) this.inFlightByRecipient.delete(recipient);
        else this.inFlightByRecipient.set(recipient, left);
        this.wake();
      });
    this.inFlight.set(delivery.id, done);
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const { db, realClock, log } = this.deps;
    const attemptedAt = realClock.now();
    let result: CallbackResult;
    let url: URL | undefined;
    try {
      url = new URL(delivery.callback_url);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      result = { delivered: false, statusCode: null, latencyMs: 0, error: 'the callback URL is not an absolute http(s) URL', aborted: false, responseExcerpt: null };
    } else {
      // Resolved and checked afresh at every attempt; the connection goes to the address checked.
      const target = this.deps.callbackPolicy ? await checkCallbackTarget(url, this.deps.callbackPolicy) : { allowed: true as const, pinned: undefined };
      if (!target.allowed) {
        result = { delivered: false, statusCode: null, latencyMs: 0, error: `address not allowed: ${target.problem}`, aborted: false, responseExcerpt: null };
      } else {
        const body = Buffer.from(JSON.stringify(eventMessage(delivery)), 'utf8');
        result = await sendCallback({
          url,
          body,
          headers: this.signatureHeaders(url, body, attemptedAt),
          timeoutMs: this.options.timeoutMs,
          responseBytesMax: this.options.responseBytesMax,
          signal: this.abort.signal,
          ...(target.pinned ? { pinned: target.pinned } : {}),
        });
      }
    }
    if (result.aborted) {
      await releaseLease(db, delivery.id, delivery.lease_token);
      return;
    }
    const finishedAt = realClock.now();
    const failed = result.delivered ? undefined : afterFailedAttempt(delivery.attempt_count + 1, finishedAt);
    const moved = await recordAttempt(db, {
      deliveryId: delivery.id,
      leaseToken: delivery.lease_token,
      attemptedAt,
      url: delivery.callback_url,
      delivered: result.delivered,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: result.error,
      responseExcerpt: result.responseExcerpt,
      status: failed ? failed.status : deliveryTransition('PENDING', 'answered2xx'),
      attemptCount: failed ? delivery.attempt_count + 1 : delivery.attempt_count,
      nextAttemptAt: failed ? failed.nextAttemptAt : null,
      deliveredAt: result.delivered ? finishedAt : null,
      updatedAt: finishedAt,
    });
    const context = { eventId: delivery.event_id, type: delivery.type, recipient: delivery.recipient_app_id, statusCode: result.statusCode, latencyMs: result.latencyMs };
    if (!moved) {
      log.info(context, 'callback attempt recorded; the delivery had been redelivered meanwhile');
    } else if (result.delivered) {
      log.debug(context, 'callback delivered');
    } else if (failed?.status === 'DEAD') {
      // A person must act: the recipient has not taken this event for a whole schedule.
      log.error({ ...context, error: result.error }, 'callback delivery is DEAD after its last attempt');
    } else {
      log.info({ ...context, error: result.error, nextAttemptAt: failed?.nextAttemptAt }, 'callback attempt failed; will retry');
    }
  }

  /** All five headers, signed afresh for this attempt: real-clock timestamp, new nonce. */
  private signatureHeaders(url: URL, body: Buffer, now: Date): Record<string, string> {
    const { signer } = this.deps;
    const timestamp = String(Math.floor(now.getTime() / 1000));
    const nonce = generateNonce();
    const text = stringToSign({ method: 'POST', target: targetFromUrl(url), timestamp, nonce, bodyDigestHex: bodyDigest('SM2', body) });
    return {
      [SIGNATURE_HEADERS.appId]: signer.appId,
      [SIGNATURE_HEADERS.keyId]: signer.keyId,
      [SIGNATURE_HEADERS.timestamp]: timestamp,
      [SIGNATURE_HEADERS.nonce]: nonce,
      [SIGNATURE_HEADERS.signature]: signer.sign(Buffer.from(text, 'utf8')).toString('base64'),
    };
  }
}
