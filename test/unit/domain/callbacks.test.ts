import {
  afterFailedAttempt,
  CALLBACK_ATTEMPTS_PER_ROUND_MAX,
  CALLBACK_RETRY_DELAYS_MS,
  DELIVERY_EVENTS,
  DELIVERY_STATUSES,
  DELIVERY_TRANSITIONS,
  deliveryTransition,
  isAcknowledgement,
} from '../../../src/domain/callbacks';

// The delivery state machine and the retry schedule of docs/lifecycle.md §5.

describe('callback deliveries', () => {
  it('allows exactly the moves of the table, and crashes on any other', () => {
    for (const from of DELIVERY_STATUSES) {
      for (const event of DELIVERY_EVENTS) {
        const row = DELIVERY_TRANSITIONS.find((candidate) => candidate.from === from && candidate.event === event);
        if (row) expect(deliveryTransition(from, event)).toBe(row.to);
        else expect(() => deliveryTransition(from, event)).toThrow(/invariant broken/);
      }
    }
    // Only a redelivery leaves DELIVERED or DEAD.
    expect(DELIVERY_TRANSITIONS.filter((row) => row.from !== 'PENDING').every((row) => row.event === 'redeliver' && row.to === 'PENDING')).toBe(true);
  });

  it('waits 15 s, 15 s, 30 s, 3 min, 10 min, 20 min, 30 min ×3, 1 h, 3 h ×3, 6 h ×2 — about 24 h — then gives up', () => {
    const minutes = CALLBACK_RETRY_DELAYS_MS.map((ms) => ms / 60_000);
    expect(minutes).toEqual([0.25, 0.25, 0.5, 3, 10, 20, 30, 30, 30, 60, 180, 180, 180, 360, 360]);
    expect(CALLBACK_ATTEMPTS_PER_ROUND_MAX).toBe(16);
    const totalHours = CALLBACK_RETRY_DELAYS_MS.reduce((sum, ms) => sum + ms, 0) / 3_600_000;
    expect(totalHours).toBeGreaterThan(24);
    expect(totalHours).toBeLessThan(24.1);

    const failedAt = new Date('2026-11-23T02:00:00Z');
    expect(afterFailedAttempt(1, failedAt)).toEqual({ status: 'PENDING', event: 'failedWithRetryLeft', nextAttemptAt: new Date('2026-11-23T02:00:15Z') });
    expect(afterFailedAttempt(4, failedAt).nextAttemptAt).toEqual(new Date('2026-11-23T02:03:00Z'));
    expect(afterFailedAttempt(15, failedAt).nextAttemptAt).toEqual(new Date('2026-11-23T08:00:00Z'));
    expect(afterFailedAttempt(16, failedAt)).toEqual({ status: 'DEAD', event: 'failedFinally', nextAttemptAt: null });
    expect(() => afterFailedAttempt(0, failedAt)).toThrow(/invariant broken/);
    expect(() => afterFailedAttempt(17, failedAt)).toThrow(/invariant broken/);
  });

  it('takes any 2xx, and nothing else, as an acknowledgement', () => {
    expect([200, 201, 202, 204, 299].every(isAcknowledgement)).toBe(true);
    expect([null, 100, 199, 300, 301, 302, 304, 400, 404, 500, 503].some(isAcknowledgement)).toBe(false);
  });
});
