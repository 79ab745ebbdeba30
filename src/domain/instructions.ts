/**
 * Instructions (指令, docs/settlement.md §1): their one state table, their numbers and deadlines,
 * and the settled amount of a payment's items. Pure.
 */
import { addDays, formatInstant, shanghaiDate } from './businessDate';
import { assert, TongfuError } from './errors';
import { spreadInProportion } from './ledger';
import { Decimal, MONEY_DECIMALS, ZERO } from './money';
import { PAID_AT_FUTURE_TOLERANCE_MS, paidAtBoundsProblem, paidAtWindow } from './posting';

export const INSTRUCTION_TYPES = ['SETTLEMENT', 'REFUND'] as const;
export type InstructionType = (typeof INSTRUCTION_TYPES)[number];

export const INSTRUCTION_STATUSES = ['CREATED', 'EXECUTED', 'CONFIRMED', 'MISMATCHED', 'FAILED', 'UNCONFIRMED', 'CANCELLED'] as const;
export type InstructionStatus = (typeof INSTRUCTION_STATUSES)[number];

export const INSTRUCTION_EVENTS = ['create', 'reportExecuted', 'reportFailed', 'confirmByPosting', 'mismatchByPosting', 'passDeadline', 'cancel', 'failByStatement', 'detachPosting'] as const;
export type InstructionEvent = (typeof INSTRUCTION_EVENTS)[number];

export interface InstructionTransition {
  /** null is "—": the event creates the instruction. */
  from: InstructionStatus | null;
  event: InstructionEvent;
  to: InstructionStatus;
}

/** The state table of docs/settlement.md §1 (and one row more, below): no other move exists. */
export const INSTRUCTION_TRANSITIONS: readonly InstructionTransition[] = [
  { from: null, event: 'create', to: 'CREATED' },
  { from: 'CREATED', event: 'reportExecuted', to: 'EXECUTED' },
  { from: 'CREATED', event: 'confirmByPosting', to: 'CONFIRMED' },
  { from: 'EXECUTED', event: 'confirmByPosting', to: 'CONFIRMED' },
  { from: 'UNCONFIRMED', event: 'confirmByPosting', to: 'CONFIRMED' },
  // Not in the table of docs/settlement.md §1, which moves only EXECUTED and UNCONFIRMED: a posting
  // with another amount before the executor reported proves the money moved all the same, as a
  // matching one does from CREATED (contracts/decisions/0130-instructions.md).
  { from: 'CREATED', event: 'mismatchByPosting', to: 'MISMATCHED' },
  { from: 'EXECUTED', event: 'mismatchByPosting', to: 'MISMATCHED' },
  { from: 'UNCONFIRMED', event: 'mismatchByPosting', to: 'MISMATCHED' },
  { from: 'CREATED', event: 'reportFailed', to: 'FAILED' },
  // Not in the table of docs/settlement.md §1 before decision 0221: an executor that never reported
  // may still report failure after the deadline passed (CREATED → UNCONFIRMED); else the
  // instruction could never fail nor be reissued, and its refund or money waited for ever. A
  // reported one conflicts on its first report; one a posting was detached from is refused by the
  // service (contracts/decisions/0221-late-failure-report.md).
  { from: 'UNCONFIRMED', event: 'reportFailed', to: 'FAILED' },
  { from: 'CREATED', event: 'passDeadline', to: 'UNCONFIRMED' },
  { from: 'EXECUTED', event: 'passDeadline', to: 'UNCONFIRMED' },
  { from: 'UNCONFIRMED', event: 'reportExecuted', to: 'EXECUTED' },
  // Not in the table of docs/settlement.md §1: a refund's instruction is cancelled with the refund
  // when its payment is reversed (docs/settlement.md §3; contracts/decisions/0154-refund-lines-matched.md)
  // — only before anyone reported it executed: an EXECUTED or UNCONFIRMED one may have paid the
  // money out, and the reversal waits for its confirmation or failure
  // (contracts/decisions/0203-no-reversal-past-a-paid-refund.md).
  { from: 'CREATED', event: 'cancel', to: 'CANCELLED' },
  // Not in the table of docs/settlement.md §1: an agency refund the agency reported executed but
  // no statement of its execution date or the next contains FAILS when finance accepts the
  // statement (ACCEPT_STATEMENT of its REFUND_MISMATCH, contracts/decisions/0171-refund-mismatch-accepted.md).
  { from: 'EXECUTED', event: 'failByStatement', to: 'FAILED' },
  { from: 'UNCONFIRMED', event: 'failByStatement', to: 'FAILED' },
  // Finance's DETACH of a MISMATCHED instruction (docs/settlement.md §1,
  // contracts/decisions/0195-detach-mismatched-posting.md): the posting of another amount was not
  // its money; it goes back to UNIDENTIFIED and the instruction waits again for its own posting,
  // UNCONFIRMED — a bank already moved something against it, and finance watches that list.
  { from: 'MISMATCHED', event: 'detachPosting', to: 'UNCONFIRMED' },
];

/** The status after `event`, or undefined when the table has no such move. */
export function nextInstructionStatus(from: InstructionStatus | null, event: InstructionEvent): InstructionStatus | undefined {
  return INSTRUCTION_TRANSITIONS.find((row) => row.from === from && row.event === event)?.to;
}

/** The status after `event`, or `INVALID_STATE_TRANSITION`. */
export function instructionTransition(from: InstructionStatus | null, event: InstructionEvent): InstructionStatus {
  const to = nextInstructionStatus(from, event);
  if (to === undefined) throw new TongfuError('INVALID_STATE_TRANSITION', `an instruction in status ${from ?? '(none)'} cannot ${event}`, { machine: 'instruction', from, event });
  return to;
}

/** The statuses `event` moves from: for set-based updates (`WHERE status IN …`). */
export function statusesFrom(event: InstructionEvent): InstructionStatus[] {
  return INSTRUCTION_TRANSITIONS.filter((row) => row.event === event && row.from !== null).map((row) => row.from as InstructionStatus);
}

/** Live: not FAILED (docs/settlement.md §1) — its payment items are taken — nor CANCELLED. */
export function isLiveInstruction(status: InstructionStatus): boolean {
  return status !== 'FAILED' && status !== 'CANCELLED';
}

/**
 * Why an executor's `executedAt` (the text, and the instant it parsed to) cannot be when it
 * executed an instruction, or null (docs/settlement.md §1, decision 0201). The bounds are a
 * posting's `paidAt`'s, by the same code: years 2000–2099 as written and an offset within ±14:00
 * (`paidAtBoundsProblem`), and not more than 60 s after the business clock's `now` (`paidAtWindow`).
 * A refund line is looked for in the statements of the execution date and the next (docs/
 * reconciliation.md §2): a date those statements can never reach must not be taken.
 */
export function executedAtProblem(text: string, executedAt: Date, now: Date): string | null {
  const bounds = paidAtBoundsProblem(text);
  if (bounds !== null) return bounds;
  if (paidAtWindow(executedAt, now) === 'IN_FUTURE') return `must not be more than 60 s after the platform's time (${formatInstant(now)}): an instruction cannot have been executed later than now`;
  return null;
}

/**
 * Why `executedAt` cannot be an execution of an instruction created at `createdAt`, or null: nothing
 * is executed before it exists. The executor's clock is allowed the 60 s it is allowed ahead of the
 * platform's (PAID_AT_FUTURE_TOLERANCE_MS), and so a time written to the whole second (decision 0201).
 */
export function executedBeforeCreationProblem(executedAt: Date, createdAt: Date): string | null {
  const earlierMs = createdAt.getTime() - executedAt.getTime();
  assert(Number.isFinite(earlierMs), 'executedAt and the creation are valid instants');
  if (earlierMs <= PAID_AT_FUTURE_TOLERANCE_MS) return null;
  return `must not be before the instruction was created (${formatInstant(createdAt)}): an instruction cannot have been executed before it existed`;
}

export const INSTRUCTION_NO_PATTERN = /^TF[SR][0-9]{8}[0-9]{8}$/;
export const INSTRUCTION_SERIAL_MAX = 99_999_999;

/** `TF` + `S`|`R` + yyyymmdd of creation (Shanghai) + 8 digits (docs/settlement.md §1). */
export function instructionNo(type: InstructionType, createdAt: Date, serial: number): string {
  assert(Number.isInteger(serial) && serial >= 1 && serial <= INSTRUCTION_SERIAL_MAX, `an instruction serial is 1–${INSTRUCTION_SERIAL_MAX}, got ${serial}`);
  const no = `TF${type === 'SETTLEMENT' ? 'S' : 'R'}${shanghaiDate(createdAt).replace(/-/g, '')}${String(serial).padStart(8, '0')}`;
  assert(INSTRUCTION_NO_PATTERN.test(no), `instruction number ${no} has its shape`);
  return no;
}

/** The first instruction number in a bank memo, if any (docs/settlement.md §2). */
export function findInstructionNo(memo: string): string | undefined {
  return /TF[SR][0-9]{16}/.exec(memo)?.[0];
}

/** The hour (Asia/Shanghai) of the day after creation by which an instruction is confirmed. */
export const INSTRUCTION_DEADLINE_HOUR = 16;

/** 16:00 Asia/Shanghai on the day after creation (docs/settlement.md §1). */
export function instructionDeadline(createdAt: Date): Date {
  const next = addDays(shanghaiDate(createdAt), 1);
  return new Date(`${next}T${String(INSTRUCTION_DEADLINE_HOUR).padStart(2, '0')}:00:00+08:00`);
}

/** One item of a payment as settlement sees it, in the notice's order. */
export interface PaymentItemMoney {
  /** The item's amount plus the late fee it earned. */
  earned: Decimal;
}

/**
 * What each of a payment's items settles (docs/settlement.md §1): what it earned less its part of
 * what the agency already refunded from the payment. The refund is spread over the items that
 * earned something (zero items take no part), in proportion to what each earned — every one but
 * the last round_half_up(refunded × earned / Σ earned, 2), the last the remainder (spreadInProportion,
 * ROUND_HALF_UP) —, so the settled amounts add up to Σ earned − refunded exactly. The settle job's
 * SQL computes the same (src/db/repositories/instructions.ts); a test ties the two.
 */
export function settledItemAmounts(items: readonly PaymentItemMoney[], refunded: Decimal): Decimal[] {
  const refund = new Decimal(refunded);
  assert(refund.gte(ZERO) && refund.decimalPlaces() <= MONEY_DECIMALS, `a refunded amount is money, got ${refund.toString()}`);
  const earned = items.map((item) => new Decimal(item.earned));
  const total = earned.reduce<Decimal>((sum, value) => sum.plus(value), ZERO);
  assert(refund.lte(total), `a payment's refunds ${refund.toString()} are at most what it earned ${total.toString()}`);
  if (refund.isZero()) return earned;
  const earning = earned.map((value, index) => ({ value, index })).filter((entry) => entry.value.gt(ZERO));
  const parts = spreadInProportion(refund, earning.map((entry) => entry.value));
  const settled = [...earned];
  earning.forEach((entry, k) => {
    settled[entry.index] = entry.value.minus(parts[k] as Decimal);
  });
  return settled;
}
