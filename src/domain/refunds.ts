/**
 * Refunds (退付, docs/settlement.md §3): the one state table, the rule that a refund never exceeds
 * what was paid, and the executor rule (who pays the money back). Pure: no koa, no knex, no clock.
 */
import { TongfuError } from './errors';
import { Decimal, formatMoney, MONEY_DECIMALS, ZERO } from './money';

export const REFUND_STATUSES = ['REQUESTED', 'APPROVED', 'REJECTED', 'INSTRUCTED', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

export const REFUND_EVENTS = ['request', 'recordUnapplied', 'approve', 'reject', 'instruct', 'confirm', 'fail', 'reissue', 'cancel'] as const;
export type RefundEvent = (typeof REFUND_EVENTS)[number];

export interface RefundTransition {
  /** null is "—": the event creates the refund. */
  from: RefundStatus | null;
  event: RefundEvent;
  to: RefundStatus;
}

/** The state table of docs/settlement.md §3, row by row: no other move exists. */
export const REFUND_TRANSITIONS: readonly RefundTransition[] = [
  { from: null, event: 'request', to: 'REQUESTED' },
  { from: null, event: 'recordUnapplied', to: 'APPROVED' },
  { from: 'REQUESTED', event: 'approve', to: 'APPROVED' },
  { from: 'REQUESTED', event: 'reject', to: 'REJECTED' },
  { from: 'APPROVED', event: 'instruct', to: 'INSTRUCTED' },
  { from: 'INSTRUCTED', event: 'confirm', to: 'SUCCEEDED' },
  { from: 'INSTRUCTED', event: 'fail', to: 'FAILED' },
  { from: 'FAILED', event: 'reissue', to: 'INSTRUCTED' },
  { from: 'APPROVED', event: 'cancel', to: 'CANCELLED' },
  { from: 'INSTRUCTED', event: 'cancel', to: 'CANCELLED' },
];

/** The status after `event`, or undefined when the table has no such move. */
export function nextRefundStatus(from: RefundStatus | null, event: RefundEvent): RefundStatus | undefined {
  return REFUND_TRANSITIONS.find((row) => row.from === from && row.event === event)?.to;
}

/** The status after `event`, or `INVALID_STATE_TRANSITION`. The one function that applies the table. */
export function refundTransition(from: RefundStatus | null, event: RefundEvent): RefundStatus {
  const to = nextRefundStatus(from, event);
  if (to === undefined) throw new TongfuError('INVALID_STATE_TRANSITION', `a refund in status ${from ?? '(none)'} cannot ${event}`, { machine: 'refund', from, event });
  return to;
}

/** The statuses `event` moves from: for set-based updates (`WHERE status IN …`). */
export function refundStatusesFrom(event: RefundEvent): RefundStatus[] {
  return REFUND_TRANSITIONS.filter((row) => row.event === event && row.from !== null).map((row) => row.from as RefundStatus);
}

/**
 * The refunds that no longer stand: they take nothing from what is left to refund
 * (docs/settlement.md §3: "refunds not REJECTED, FAILED or CANCELLED").
 */
export const REFUND_STATUSES_NOT_STANDING: readonly RefundStatus[] = ['REJECTED', 'FAILED', 'CANCELLED'];

export function isStandingRefund(status: RefundStatus): boolean {
  return !REFUND_STATUSES_NOT_STANDING.includes(status);
}

/**
 * REFUND_EXCEEDS_PAID (docs/settlement.md §3): `amount` plus every standing refund of the payment
 * must not exceed what was paid, less what finance wrote off of it (`writtenOff`: money the
 * agency's statement never held, decision 0219). `others` are the payment's other refunds (read
 * under the payment's lock by the caller); a refund being reissued is not among them. Answers
 * what is left after it.
 */
export function assertRefundWithinPaid(input: { paid: Decimal; amount: Decimal; others: ReadonlyArray<{ status: RefundStatus; amount: Decimal | string }>; writtenOff?: Decimal | string }): Decimal {
  const amount = new Decimal(input.amount);
  if (!amount.gt(ZERO) || amount.decimalPlaces() > MONEY_DECIMALS) throw new TongfuError('AMOUNT_INVALID', `a refund is an amount greater than 0.00, got ${amount.toString()}`, {});
  const standing = input.others.filter((other) => isStandingRefund(other.status)).reduce<Decimal>((sum, other) => sum.plus(new Decimal(other.amount)), ZERO);
  const writtenOff = new Decimal(input.writtenOff ?? ZERO);
  const refundable = Decimal.max(ZERO, new Decimal(input.paid).minus(writtenOff).minus(standing));
  if (amount.gt(refundable)) {
    // Every figure here is money of at most two decimals: formatMoney writes it, never rounds it.
    const why = writtenOff.gt(ZERO) ? ` (finance wrote off ${formatMoney(writtenOff)} of the payment: the agency's statement never held that money)` : '';
    throw new TongfuError('REFUND_EXCEEDS_PAID', `a refund of ${formatMoney(amount)} exceeds what is left to refund, ${formatMoney(refundable)}${why}`, {
      paid: formatMoney(new Decimal(input.paid)),
      refunding: formatMoney(standing),
      ...(writtenOff.gt(ZERO) ? { writtenOff: formatMoney(writtenOff) } : {}),
      refundable: formatMoney(refundable),
    });
  }
  return refundable.minus(amount);
}

/**
 * Where the payment's money is (docs/settlement.md §3 "the executor"):
 * - `CLEARING`: in no live settlement instruction — still in the agency's clearing account;
 * - `SETTLING`: in a live settlement instruction not yet CONFIRMED (on its way);
 * - `RECEIVED`: every live settlement of it CONFIRMED — in the receiving account.
 */
export type MoneyWhereabouts = 'CLEARING' | 'SETTLING' | 'RECEIVED';

export type RefundExecutor = 'AGENCY' | 'RECEIVING_BANK' | 'WAIT';

/** The executor rule: the agency while the money is in its clearing account, the receiving bank once settled and confirmed, and in between the refund waits. */
export function refundExecutor(whereabouts: MoneyWhereabouts): RefundExecutor {
  switch (whereabouts) {
    case 'CLEARING':
      return 'AGENCY';
    case 'RECEIVED':
      return 'RECEIVING_BANK';
    case 'SETTLING':
      return 'WAIT';
  }
}

/**
 * Where a payment's money is, from the statuses of the live settlement instructions holding its
 * items (none: in clearing). A payment whose items went to several receiving accounts is
 * RECEIVED only when every one of them is confirmed.
 */
export function moneyWhereabouts(liveSettlementStatuses: readonly string[]): MoneyWhereabouts {
  if (liveSettlementStatuses.length === 0) return 'CLEARING';
  return liveSettlementStatuses.every((status) => status === 'CONFIRMED') ? 'RECEIVED' : 'SETTLING';
}

/**
 * The payment and notice event a succeeded refund causes (docs/lifecycle.md §1): `refundFully`
 * when the succeeded refunds (this one included) reach the paid amount, else `refundPartially`.
 */
export function refundedEvent(paid: Decimal, succeededIncludingThis: Decimal): 'refundFully' | 'refundPartially' {
  const refunded = new Decimal(succeededIncludingThis);
  if (refunded.gt(paid)) throw new TongfuError('REFUND_EXCEEDS_PAID', `refunds of ${refunded.toFixed(2)} exceed the paid ${new Decimal(paid).toFixed(2)}`, {});
  return refunded.eq(paid) ? 'refundFully' : 'refundPartially';
}
