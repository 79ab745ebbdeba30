/**
 * Callback deliveries (docs/lifecycle.md §5): the delivery state machine and the retry schedule.
 *
 * A delivery is one event on its way to one recipient's callback URL. Every attempt is recorded;
 * the delivery moves only as the table below allows. A redelivery (finance's
 * `POST /v1/finance/events/{eventId}/redeliver`) starts a new *round*: the delivery is PENDING and
 * due at once, and the retry schedule starts again from its first step.
 */
import { assert } from './errors';

export const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'DEAD'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const DELIVERY_EVENTS = ['answered2xx', 'failedWithRetryLeft', 'failedFinally', 'redeliver'] as const;
export type DeliveryEvent = (typeof DELIVERY_EVENTS)[number];

export interface DeliveryTransitionRow {
  from: DeliveryStatus;
  event: DeliveryEvent;
  to: DeliveryStatus;
}

/** Every allowed move, with the event that causes it. Nothing else moves a delivery. */
export const DELIVERY_TRANSITIONS: readonly DeliveryTransitionRow[] = [
  { from: 'PENDING', event: 'answered2xx', to: 'DELIVERED' },
  { from: 'PENDING', event: 'failedWithRetryLeft', to: 'PENDING' },
  { from: 'PENDING', event: 'failedFinally', to: 'DEAD' },
  { from: 'PENDING', event: 'redeliver', to: 'PENDING' },
  { from: 'DELIVERED', event: 'redeliver', to: 'PENDING' },
  { from: 'DEAD', event: 'redeliver', to: 'PENDING' },
];

/** The status a move leads to; a move not in the table is a bug in the worker, so it crashes. */
export function deliveryTransition(from: DeliveryStatus, event: DeliveryEvent): DeliveryStatus {
  const row = DELIVERY_TRANSITIONS.find((candidate) => candidate.from === from && candidate.event === event);
  assert(row !== undefined, `a ${from} delivery cannot take the event ${event}`);
  return row.to;
}

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * How long to wait after each failed attempt before the next one (about 24 h in all), on the
 * real clock. After the last wait's attempt fails too, the delivery is DEAD.
 */
export const CALLBACK_RETRY_DELAYS_MS: readonly number[] = [
  15 * SECOND_MS,
  15 * SECOND_MS,
  30 * SECOND_MS,
  3 * MINUTE_MS,
  10 * MINUTE_MS,
  20 * MINUTE_MS,
  30 * MINUTE_MS,
  30 * MINUTE_MS,
  30 * MINUTE_MS,
  1 * HOUR_MS,
  3 * HOUR_MS,
  3 * HOUR_MS,
  3 * HOUR_MS,
  6 * HOUR_MS,
  6 * HOUR_MS,
];

/** Attempts per round: the first one and one after each wait. */
export const CALLBACK_ATTEMPTS_PER_ROUND_MAX = 1 + CALLBACK_RETRY_DELAYS_MS.length;

export type FailedAttemptOutcome =
  | { status: 'PENDING'; event: 'failedWithRetryLeft'; nextAttemptAt: Date }
  | { status: 'DEAD'; event: 'failedFinally'; nextAttemptAt: null };

/**
 * What follows a failed attempt: `failedAttempts` counts the failures of this round including this
 * one (1 for the first attempt), `failedAt` is when it failed on the real clock.
 */
export function afterFailedAttempt(failedAttempts: number, failedAt: Date): FailedAttemptOutcome {
  assert(Number.isSafeInteger(failedAttempts) && failedAttempts >= 1, `failedAttempts is a positive integer, got ${failedAttempts}`);
  assert(failedAttempts <= CALLBACK_ATTEMPTS_PER_ROUND_MAX, `a round has at most ${CALLBACK_ATTEMPTS_PER_ROUND_MAX} attempts, got ${failedAttempts}`);
  const delayMs = CALLBACK_RETRY_DELAYS_MS[failedAttempts - 1];
  if (delayMs === undefined) {
    return { status: deliveryTransition('PENDING', 'failedFinally') as 'DEAD', event: 'failedFinally', nextAttemptAt: null };
  }
  return {
    status: deliveryTransition('PENDING', 'failedWithRetryLeft') as 'PENDING',
    event: 'failedWithRetryLeft',
    nextAttemptAt: new Date(failedAt.getTime() + delayMs),
  };
}

/** Any 2xx acknowledges a callback; redirects are not followed, so a 3xx is a failure. */
export function isAcknowledgement(statusCode: number | null): boolean {
  return statusCode !== null && statusCode >= 200 && statusCode <= 299;
}
