/**
 * The notice and payment state machines (docs/lifecycle.md §1), each one table of allowed moves with
 * the event that causes it. `transition` is the only way to apply an ordinary move;
 * `correctionTransition`, a separately named function, is the only way to apply a correction
 * (REVERSE_PAYMENT), and it refuses to run without who and why. No other move exists: anything
 * not in a table is `INVALID_STATE_TRANSITION`.
 */
import { assert, TongfuError, validationFailed } from './errors';

export const NOTICE_STATUSES = ['ISSUED', 'PAID', 'VOIDED', 'EXPIRED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const;
export type NoticeStatus = (typeof NOTICE_STATUSES)[number];

export const PAYMENT_STATUSES = ['SUCCEEDED', 'UNAPPLIED', 'REVERSED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** The only correction event: reconciliation proves a payment never happened. */
export type CorrectionEvent = 'reversePayment';

export const NOTICE_EVENTS = [
  'issue',
  'applyPayment',
  'void',
  'expire',
  'applyLatePayment',
  'reversePayment',
  'refundPartially',
  'refundFully',
] as const;
export type NoticeEvent = (typeof NOTICE_EVENTS)[number];

export const PAYMENT_EVENTS = [
  'applyPosting',
  'recordUnapplied',
  'reversePayment',
  'refundPartially',
  'refundFully',
] as const;
export type PaymentEvent = (typeof PAYMENT_EVENTS)[number];

export interface TransitionRow<S extends string, E extends string> {
  /** null is "—": the event creates the record. */
  from: S | null;
  event: E;
  to: S;
  /** Correction rows are applied only by `correctionTransition`, which records who and why. */
  correction: boolean;
}

export interface StateMachine<S extends string, E extends string> {
  name: 'notice' | 'payment';
  statuses: readonly S[];
  events: readonly E[];
  rows: readonly TransitionRow<S, E>[];
}

/**
 * The rows marked "a further partial refund" (docs/lifecycle.md §1) keep a refunded-in-part record
 * in its status when a further partial refund succeeds. They move nothing, but without them a notice or payment could be
 * refunded in part only once, since docs/settlement.md §3 moves it to `PARTIALLY_REFUNDED` or
 * `REFUNDED` on every succeeded refund.
 */
export const NOTICE_MACHINE: StateMachine<NoticeStatus, NoticeEvent> = {
  name: 'notice',
  statuses: NOTICE_STATUSES,
  events: NOTICE_EVENTS,
  rows: [
    { from: null, event: 'issue', to: 'ISSUED', correction: false },
    { from: 'ISSUED', event: 'applyPayment', to: 'PAID', correction: false },
    { from: 'ISSUED', event: 'void', to: 'VOIDED', correction: false },
    { from: 'ISSUED', event: 'expire', to: 'EXPIRED', correction: false },
    // A payment dated on or before expireDate, posted late or backfilled.
    { from: 'EXPIRED', event: 'applyLatePayment', to: 'PAID', correction: false },
    { from: 'PAID', event: 'reversePayment', to: 'ISSUED', correction: true },
    { from: 'PAID', event: 'refundPartially', to: 'PARTIALLY_REFUNDED', correction: false },
    // A further partial refund (see above).
    { from: 'PARTIALLY_REFUNDED', event: 'refundPartially', to: 'PARTIALLY_REFUNDED', correction: false },
    { from: 'PAID', event: 'refundFully', to: 'REFUNDED', correction: false },
    { from: 'PARTIALLY_REFUNDED', event: 'refundFully', to: 'REFUNDED', correction: false },
  ],
};

export const PAYMENT_MACHINE: StateMachine<PaymentStatus, PaymentEvent> = {
  name: 'payment',
  statuses: PAYMENT_STATUSES,
  events: PAYMENT_EVENTS,
  rows: [
    { from: null, event: 'applyPosting', to: 'SUCCEEDED', correction: false },
    // Captured money that cannot apply is recorded, never refused (docs/lifecycle.md §3.6).
    { from: null, event: 'recordUnapplied', to: 'UNAPPLIED', correction: false },
    { from: 'SUCCEEDED', event: 'reversePayment', to: 'REVERSED', correction: true },
    { from: 'UNAPPLIED', event: 'reversePayment', to: 'REVERSED', correction: true },
    { from: 'SUCCEEDED', event: 'refundPartially', to: 'PARTIALLY_REFUNDED', correction: false },
    { from: 'UNAPPLIED', event: 'refundPartially', to: 'PARTIALLY_REFUNDED', correction: false },
    // A further partial refund (see above).
    { from: 'PARTIALLY_REFUNDED', event: 'refundPartially', to: 'PARTIALLY_REFUNDED', correction: false },
    { from: 'SUCCEEDED', event: 'refundFully', to: 'REFUNDED', correction: false },
    { from: 'UNAPPLIED', event: 'refundFully', to: 'REFUNDED', correction: false },
    { from: 'PARTIALLY_REFUNDED', event: 'refundFully', to: 'REFUNDED', correction: false },
  ],
};

function findRow<S extends string, E extends string>(
  machine: StateMachine<S, E>,
  from: S | null,
  event: E,
): TransitionRow<S, E> | undefined {
  return machine.rows.find((row) => row.from === from && row.event === event);
}

function refused(machineName: string, from: string | null, event: string): TongfuError {
  return new TongfuError(
    'INVALID_STATE_TRANSITION',
    `a ${machineName} in status ${from ?? '(none)'} cannot ${event}`,
    { machine: machineName, from, event },
  );
}

/** True when the table has an ordinary (non-correction) row for this move. */
export function canTransition<S extends string, E extends string>(
  machine: StateMachine<S, E>,
  from: NoInfer<S> | null,
  event: NoInfer<Exclude<E, CorrectionEvent>>,
): boolean {
  const row = findRow(machine, from, event);
  return row !== undefined && !row.correction;
}

/**
 * The status after an ordinary event, or `INVALID_STATE_TRANSITION`. An endpoint that names a more
 * specific code (voiding a paid notice is `NOTICE_NOT_VOIDABLE`) checks `canTransition` first.
 */
export function transition<S extends string, E extends string>(
  machine: StateMachine<S, E>,
  from: NoInfer<S> | null,
  event: NoInfer<Exclude<E, CorrectionEvent>>,
): S {
  const row = findRow(machine, from, event);
  if (row === undefined) {
    throw refused(machine.name, from, event);
  }
  // The type already forbids it; a correction slipping through would escape its who-and-why.
  assert(!row.correction, `${event} is a correction: apply it with correctionTransition`);
  return row.to;
}

/** Who ordered a correction and why; both are kept with the correction record. */
export interface CorrectionAuthority {
  /** The approving finance party (maker-checker, docs/reconciliation.md §3). */
  by: string;
  reason: string;
}

/**
 * The status after a correction. A correction without who and why is refused: it must never be
 * possible to rewrite what happened to money anonymously.
 */
export function correctionTransition<S extends string, E extends string>(
  machine: StateMachine<S, E>,
  from: NoInfer<S> | null,
  event: CorrectionEvent & NoInfer<E>,
  authority: CorrectionAuthority,
): S {
  const problems: { path: string; problem: string }[] = [];
  if (typeof authority?.by !== 'string' || authority.by.trim() === '') {
    problems.push({ path: '/by', problem: 'a correction names who ordered it' });
  }
  if (typeof authority?.reason !== 'string' || authority.reason.trim() === '') {
    problems.push({ path: '/reason', problem: 'a correction says why' });
  }
  if (problems.length > 0) {
    throw validationFailed(problems);
  }
  const row = findRow(machine, from, event);
  if (row === undefined || !row.correction) {
    throw refused(machine.name, from, event);
  }
  return row.to;
}

/**
 * The notice event a payment applies with: `applyPayment` while `ISSUED`, `applyLatePayment`
 * once `EXPIRED` (the payment is dated on or before expireDate, so it still counts), else null.
 */
export function paymentEventFor(status: NoticeStatus): 'applyPayment' | 'applyLatePayment' | null {
  switch (status) {
    case 'ISSUED':
      return 'applyPayment';
    case 'EXPIRED':
      return 'applyLatePayment';
    default:
      return null;
  }
}
