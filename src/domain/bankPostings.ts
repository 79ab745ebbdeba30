import { addDays } from './businessDate';
import type { Decimal } from './money';

/**
 * Bank postings (入账回单, docs/settlement.md §2; contracts/decisions/0135-bank-postings.md): the
 * rules that need no database — the shape of a posting, which instruction number it names, and
 * when two postings with one key are the same posting.
 */

export type PostingDirection = 'CREDIT' | 'DEBIT';
export const POSTING_DIRECTIONS: readonly PostingDirection[] = ['CREDIT', 'DEBIT'];

/**
 * A posting's status: as answered when it is posted (MATCHED, MISMATCHED, UNIDENTIFIED), and
 * the two an unidentified one is resolved to by finance (LINKED, RETURNED).
 */
export const POSTING_STATUSES = ['MATCHED', 'MISMATCHED', 'UNIDENTIFIED', 'LINKED', 'RETURNED'] as const;
export type PostingStatus = (typeof POSTING_STATUSES)[number];

/** How a posting first arrived. */
export type PostingSource = 'JSON' | 'CAMT053';

/** A bank's reference: 1–64 printable ASCII characters, no space (a camt.053 `AcctSvcrRef` is Max35Text, `-{i}` added). */
export const BANK_REF_PATTERN = /^[!-~]{1,64}$/;
export const MEMO_CHARS_MAX = 500;
export const COUNTERPARTY_NAME_CHARS_MAX = 140;
export const COUNTERPARTY_ACCOUNT_CHARS_MAX = 64;

/** `TF` + `S`|`R` + yyyymmdd + 8 digits (docs/settlement.md §1). */
export const INSTRUCTION_NO_PATTERN = /^TF[SR][0-9]{16}$/;
/** The first instruction number in a memo: not part of a longer run of digits. */
const INSTRUCTION_NO_IN_TEXT = /TF[SR][0-9]{16}(?![0-9])/;

/** One posting as a bank sends it (JSON) or as a statement entry gives it. */
export interface BankPostingInput {
  bankRef: string;
  accountNo: string;
  direction: PostingDirection;
  amount: Decimal;
  /** YYYY-MM-DD. */
  valueDate: string;
  instructionNo?: string;
  memo?: string;
  counterparty?: { name: string; accountNo?: string };
}

/**
 * How far a value date may lie from the business clock's today (docs/settlement.md §2, decision
 * 0199): a bank books money value-dated tomorrow at the latest, and a statement arrives within the
 * 31 days a late posting is still taken up (decision 0210). Anything else is no booking of this
 * platform's days.
 */
export const VALUE_DATE_DAYS_AHEAD_MAX = 1;
export const VALUE_DATE_DAYS_BEHIND_MAX = 31;

/** The first and last value date a new posting may carry when the business clock's date is `today`. */
export function valueDateWindow(today: string): { earliest: string; latest: string } {
  return { earliest: addDays(today, -VALUE_DATE_DAYS_BEHIND_MAX), latest: addDays(today, VALUE_DATE_DAYS_AHEAD_MAX) };
}

/** Why `valueDate` (a valid YYYY-MM-DD) is out of the window around `today`, or null. */
export function valueDateProblem(valueDate: string, today: string): string | null {
  const { earliest, latest } = valueDateWindow(today);
  if (valueDate > latest) return `must not be after ${latest}, the day after the platform's date (${today}): a bank books money value-dated tomorrow at the latest`;
  if (valueDate < earliest) return `must not be before ${earliest}, ${VALUE_DATE_DAYS_BEHIND_MAX} days before the platform's date (${today})`;
  return null;
}

/**
 * The instruction number a posting names, for matching (docs/settlement.md §2): its
 * `instructionNo` when given (as given — a number that names no live instruction matches
 * nothing), else the first instruction number in its memo, else none.
 */
export function instructionNoToMatch(input: { instructionNo?: string | null; memo?: string | null }): string | undefined {
  if (input.instructionNo !== undefined && input.instructionNo !== null && input.instructionNo.length > 0) return input.instructionNo;
  if (input.memo === undefined || input.memo === null) return undefined;
  return INSTRUCTION_NO_IN_TEXT.exec(input.memo)?.[0];
}

/** The fields idempotency compares (docs/settlement.md §2): a repeat with these equal is the same posting. */
export interface PostingMoneyFields {
  accountNo: string;
  direction: PostingDirection;
  amount: Decimal;
  valueDate: string;
}

/** The money fields that differ between a stored posting and a repeat of its key (none: a replay). */
export function differingMoneyFields(stored: PostingMoneyFields, repeat: PostingMoneyFields): Array<keyof PostingMoneyFields> {
  const differ: Array<keyof PostingMoneyFields> = [];
  if (stored.accountNo !== repeat.accountNo) differ.push('accountNo');
  if (stored.direction !== repeat.direction) differ.push('direction');
  if (!stored.amount.eq(repeat.amount)) differ.push('amount');
  if (stored.valueDate !== repeat.valueDate) differ.push('valueDate');
  return differ;
}

/**
 * What the instruction side answered for a posting it matched. CONFIRMED makes the posting
 * MATCHED, MISMATCHED makes it MISMATCHED (docs/settlement.md §1's table).
 */
export type InstructionOutcome = 'CONFIRMED' | 'MISMATCHED';

export function postingStatusFor(outcome: InstructionOutcome | undefined): PostingStatus {
  if (outcome === undefined) return 'UNIDENTIFIED';
  return outcome === 'CONFIRMED' ? 'MATCHED' : 'MISMATCHED';
}

/**
 * The status a posting was answered with when it was posted: a resolution came later. A posting
 * finance detached from the instruction it mismatched (`detachedInstructionNo`, DETACH, decision
 * 0195) was answered MISMATCHED with that instruction, whatever became of it since.
 */
export function answeredStatus(status: PostingStatus, detachedInstructionNo: string | null = null): PostingStatus {
  if (detachedInstructionNo !== null) return 'MISMATCHED';
  return status === 'LINKED' || status === 'RETURNED' ? 'UNIDENTIFIED' : status;
}
