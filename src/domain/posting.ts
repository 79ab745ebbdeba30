/**
 * Posting a payment (docs/lifecycle.md §3): whether an agency's posting applies to its notice, what it
 * pays, and how it is answered when it does not. Pure: the service reads the notice (locked, or
 * checked unchanged when it writes) and passes it in with the business clock's now.
 */
import type { Decimal as DecimalJs } from 'decimal.js';
import { digitsAt, formatInstant, isWholeSecondInstantShape, shanghaiDate } from './businessDate';
import { assert, TongfuError } from './errors';
import { amountDueForNotice, type LateFeeRule } from './lateFee';
import { Decimal, formatMoney } from './money';
import { applyRuleReason, refusalCodeFor, type UnappliedReason } from './noticePricing';
import { isValidPayCode } from './payCode';
import {
  NOTICE_MACHINE,
  type NoticeStatus,
  PAYMENT_MACHINE,
  type PaymentStatus,
  paymentEventFor,
  transition,
} from './stateMachines';

export const PAYMENT_CHANNELS = ['COUNTER', 'ONLINE_BANKING', 'MOBILE', 'QR', 'POS', 'OTHER'] as const;
export type PaymentChannel = (typeof PAYMENT_CHANNELS)[number];

/** A `paidAt` later than now by more than this cannot be a payment that happened (docs/lifecycle.md §3.6). */
export const PAID_AT_FUTURE_TOLERANCE_MS = 60_000;
/** A `paidAt` earlier than now by more than this is a late posting (docs/lifecycle.md §3.7). */
export const PAID_AT_PAST_LIMIT_MS = 7 * 24 * 60 * 60 * 1000;

export type PaidAtWindow = 'IN_WINDOW' | 'IN_FUTURE' | 'TOO_OLD';

/** A `paidAt` earlier than its notice's creation by more than this was not a payment of it (docs/lifecycle.md §3.3). */
export const PAID_BEFORE_ISSUE_TOLERANCE_MS = 5 * 60 * 1000;
/** The years a `paidAt` may name, as written (docs/lifecycle.md §3.6). */
export const PAID_AT_YEAR_MIN = 2000;
export const PAID_AT_YEAR_MAX = 2099;
/** The largest offset from UTC a `paidAt` may carry, in minutes: ±14:00, the widest in use. */
export const PAID_AT_OFFSET_MAX_MINUTES = 14 * 60;

const PAID_AT_PARTS = /^(\d{4})-.*?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * True when `text` has the whole-second shape (isWholeSecondInstantShape) and its year and offset
 * are in bounds: what PAID_AT_PARTS would find to have no problem, read without the pattern (every
 * line of a statement file). Anything else goes to the pattern, which writes the problem.
 */
function canonicalInBounds(text: string): boolean {
  if (!isWholeSecondInstantShape(text)) return false;
  const year = digitsAt(text, 0, 4);
  if (year < PAID_AT_YEAR_MIN || year > PAID_AT_YEAR_MAX) return false;
  if (text.length === 20) return true;
  const hours = digitsAt(text, 20, 2);
  const minutes = digitsAt(text, 23, 2);
  return hours >= 0 && minutes >= 0 && hours * 60 + minutes <= PAID_AT_OFFSET_MAX_MINUTES;
}

/**
 * Why the text of a `paidAt` that is otherwise an instant is out of bounds, or null: its year
 * must be 2000–2099 as written and its offset within ±14:00 (docs/lifecycle.md §3.6). Refused as
 * VALIDATION_FAILED whether or not the funds are captured: such a request cannot be understood.
 */
export function paidAtBoundsProblem(text: string): string | null {
  if (canonicalInBounds(text)) return null;
  const match = PAID_AT_PARTS.exec(text);
  if (match === null) return null;
  const year = Number(match[1]);
  if (year < PAID_AT_YEAR_MIN || year > PAID_AT_YEAR_MAX) return `must be in the years ${PAID_AT_YEAR_MIN}–${PAID_AT_YEAR_MAX}, not ${match[1]}`;
  if (match[2] !== undefined) {
    const minutes = Number(match[3]) * 60 + Number(match[4]);
    if (minutes > PAID_AT_OFFSET_MAX_MINUTES) return `must have an offset within ±14:00, not ${match[2]}${match[3]}:${match[4]}`;
  }
  return null;
}

/** Whether `paidAt` lies more than PAID_BEFORE_ISSUE_TOLERANCE_MS before the notice was created; the limit itself is in time. */
export function paidBeforeIssue(paidAt: Date, noticeCreatedAt: Date): boolean {
  const earlierMs = noticeCreatedAt.getTime() - paidAt.getTime();
  assert(Number.isFinite(earlierMs), 'paidAt and the notice creation are valid instants');
  return earlierMs > PAID_BEFORE_ISSUE_TOLERANCE_MS;
}

/**
 * Where `paidAt` falls against `now` (the business clock, see contracts/decisions/0031): more than
 * 60 s ahead is refused however the funds stand; more than 7 days behind is refused when the funds
 * are not captured and recorded, flagged, when they are. Both bounds are inclusive of the limit.
 */
export function paidAtWindow(paidAt: Date, now: Date): PaidAtWindow {
  const aheadMs = paidAt.getTime() - now.getTime();
  assert(Number.isFinite(aheadMs), 'paidAt and now are valid instants');
  if (aheadMs > PAID_AT_FUTURE_TOLERANCE_MS) return 'IN_FUTURE';
  if (-aheadMs > PAID_AT_PAST_LIMIT_MS) return 'TOO_OLD';
  return 'IN_WINDOW';
}

/** One line of the notice as the posting reads it, in the notice's order. */
export interface PostingNoticeLine {
  amount: DecimalJs;
  lateFeeRule: LateFeeRule;
}

/** What the posting reads of a notice. */
export interface PostingNotice {
  status: NoticeStatus;
  dueDate: string;
  expireDate: string | null;
  /** When the notice was issued (its `createdAt`, business clock). */
  createdAt: Date;
  lines: readonly PostingNoticeLine[];
}

export interface PostingInput {
  /** As the agency sent it: with captured funds it may be anything the schema let through. */
  payCode: string;
  /** The notice the code names; null when none does or the code was not looked up (invalid). */
  notice: PostingNotice | null;
  paidAt: Date;
  amount: DecimalJs;
}

/** What a notice costs at the payment's date: each line's late fee, their sum, and the total due. */
export interface PostingCharges {
  totalAmount: Decimal;
  lateFee: Decimal;
  perItemLateFee: Decimal[];
  amountDue: Decimal;
}

export type PostingDecision =
  | {
      applies: true;
      paymentStatus: PaymentStatus;
      /** The notice's status once paid: PAID, by `applyPayment` or `applyLatePayment`. */
      noticeStatus: NoticeStatus;
      charges: PostingCharges;
      paymentDate: string;
    }
  | {
      applies: false;
      paymentStatus: PaymentStatus;
      reason: UnappliedReason;
      /** The amount due at paidAt when the notice was payable (AMOUNT_MISMATCH), else null. */
      amountDue: Decimal | null;
      paymentDate: string;
    };

/**
 * Decides a posting (docs/lifecycle.md §3.3): it applies when the notice exists, is payable on the
 * payment's date (the Shanghai date of paidAt) and the amount equals the amount due at paidAt
 * (late fees counted to the payment's date); otherwise its reason is the first of
 * PAY_CODE_INVALID, NOTICE_NOT_FOUND, NOTICE_ALREADY_PAID, NOTICE_VOIDED, NOTICE_EXPIRED,
 * PAID_BEFORE_ISSUE (paidAt more than 5 minutes before the notice was created), AMOUNT_MISMATCH. The statuses come from the state machines, never from here.
 */
export function decidePosting(input: PostingInput): PostingDecision {
  const paymentDate = shanghaiDate(input.paidAt);
  const amount = new Decimal(input.amount);
  const payCodeValid = isValidPayCode(input.payCode);
  const notice = payCodeValid ? input.notice : null;
  let charges: PostingCharges | null = null;
  if (notice !== null && (notice.status === 'ISSUED' || notice.status === 'EXPIRED')) {
    const due = amountDueForNotice(
      notice.lines.map((line) => ({ amount: line.amount, rule: line.lateFeeRule })),
      notice.dueDate,
      paymentDate,
    );
    charges = { totalAmount: due.totalAmount, lateFee: due.lateFee, perItemLateFee: due.perItemLateFee, amountDue: due.amountDue };
  }
  const reason = applyRuleReason({
    payCodeValid,
    notice: notice === null ? null : { status: notice.status, expireDate: notice.expireDate },
    paymentDate,
    paidBeforeIssue: notice !== null && paidBeforeIssue(input.paidAt, notice.createdAt),
    amount,
    amountDue: charges?.amountDue ?? null,
  });
  if (reason === null) {
    assert(notice !== null && charges !== null, 'a posting that applies has a payable notice');
    const event = paymentEventFor(notice.status);
    assert(event !== null, `a payable notice is ISSUED or EXPIRED, not ${notice.status}`);
    return {
      applies: true,
      paymentStatus: transition(PAYMENT_MACHINE, null, 'applyPosting'),
      noticeStatus: transition(NOTICE_MACHINE, notice.status, event),
      charges,
      paymentDate,
    };
  }
  return {
    applies: false,
    paymentStatus: transition(PAYMENT_MACHINE, null, 'recordUnapplied'),
    reason,
    amountDue: reason === 'AMOUNT_MISMATCH' && charges !== null ? charges.amountDue : null,
    paymentDate,
  };
}

/**
 * The error that refuses a posting whose funds are not captured (docs/lifecycle.md §3.5): nothing is
 * recorded and the agency must not take the money. The details say enough to act on.
 */
export function postingRefusal(input: { reason: UnappliedReason; payCode: string; amount: DecimalJs; amountDue: DecimalJs | null; noticeStatus: NoticeStatus | null; paymentDate: string; noticeCreatedAt?: Date | null; paidAt?: Date }): TongfuError {
  const code = refusalCodeFor(input.reason);
  switch (input.reason) {
    case 'PAY_CODE_INVALID':
      return new TongfuError(code, 'payCode must be 20 digits with valid MOD 97-10 check digits', { payCode: input.payCode });
    case 'NOTICE_NOT_FOUND':
      return new TongfuError(code, `no notice has payCode ${input.payCode}`, { payCode: input.payCode });
    case 'NOTICE_ALREADY_PAID':
      return new TongfuError(code, `notice ${input.payCode} is already paid`, { payCode: input.payCode, status: input.noticeStatus });
    case 'NOTICE_VOIDED':
      return new TongfuError(code, `notice ${input.payCode} is voided`, { payCode: input.payCode, status: input.noticeStatus, reason: input.reason });
    case 'NOTICE_EXPIRED':
      return new TongfuError(code, `notice ${input.payCode} expired before the payment's date ${input.paymentDate}`, { payCode: input.payCode, status: input.noticeStatus, reason: input.reason });
    case 'PAID_BEFORE_ISSUE': {
      assert(input.noticeCreatedAt != null && input.paidAt !== undefined, 'a posting paid before issue knows both instants');
      const issuedAt = formatInstant(input.noticeCreatedAt);
      return new TongfuError(code, `paidAt ${formatInstant(input.paidAt)} is more than 5 minutes before notice ${input.payCode} was issued (${issuedAt})`, { payCode: input.payCode, issuedAt, paidAt: formatInstant(input.paidAt) });
    }
    case 'AMOUNT_MISMATCH': {
      assert(input.amountDue !== null, 'an amount mismatch knows the amount due');
      const amountDue = formatMoney(input.amountDue);
      return new TongfuError(code, `amount ${formatMoney(input.amount)} does not equal amount due ${amountDue}`, { amountDue, amount: formatMoney(input.amount) });
    }
    default: {
      const unknown: never = input.reason;
      throw new Error(`invariant broken: unknown reason ${String(unknown)}`);
    }
  }
}
