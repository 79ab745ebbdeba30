import { formatInstant } from '../../domain/businessDate';
import type { Delivery, DeliveryAttempt } from '../../services/events';

/**
 * Finance's view of callback deliveries (docs/interface.md §6.1, docs/lifecycle.md §5). Events themselves
 * are serialised by `eventMessage` in src/services/events.ts, because the callback worker sends
 * the very same shape.
 */
export function serializeDelivery(delivery: Delivery): Record<string, unknown> {
  return {
    eventId: delivery.eventId,
    type: delivery.type,
    sequence: delivery.sequence,
    recipient: delivery.recipient,
    status: delivery.status,
    attemptCount: delivery.attemptCount,
    nextAttemptAt: delivery.nextAttemptAt ? formatInstant(delivery.nextAttemptAt) : null,
    deliveredAt: delivery.deliveredAt ? formatInstant(delivery.deliveredAt) : null,
    redeliveryCount: delivery.redeliveryCount,
    createdAt: formatInstant(delivery.createdAt),
    attempts: delivery.attempts.map(serializeAttempt),
  };
}

function serializeAttempt(attempt: DeliveryAttempt): Record<string, unknown> {
  return {
    attemptedAt: formatInstant(attempt.attemptedAt),
    url: attempt.url,
    outcome: attempt.outcome,
    statusCode: attempt.statusCode,
    latencyMs: attempt.latencyMs,
    error: attempt.error,
  };
}
