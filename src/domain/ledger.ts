/**
 * The ledger (lifecycle.md §4, settlement.md §6): double entry, one journal entry per movement of
 * money, each line debiting or crediting one account with a positive amount, the debits of an
 * entry equal to its credits. Pure: the service builds entries here and the repository inserts
 * them as they are.
 *
 * ## The chart of accounts
 *
 * An account is a text key `kind:part[:part…]`, each part an identifier the wire already uses, so
 * the account names itself in every report and a new receiving account or agency needs no
 * registration. The whole chart, with what moves each account (settlement.md §6):
 *
 * | account                                   | kind      | debited by                                     | credited by |
 * |-------------------------------------------|-----------|------------------------------------------------|-------------|
 * | `agency_clearing:{agencyCode}`            | asset     | every posting                                  | settlement executed, agency refund confirmed, reversal, write-off |
 * | `revenue_pending:{receivingAccountNo}`    | liability | settlement confirmed (per share), agency refund, write-off | a SUCCEEDED payment, per item (amount + its late fee) |
 * | `suspense:unapplied:{agencyCode}`         | liability | agency refund of unapplied money, reversal     | an UNAPPLIED payment |
 * | `in_transit:{receivingAccountNo}`         | asset     | settlement executed                             | settlement confirmed |
 * | `receiving:{receivingAccountNo}`          | asset     | settlement confirmed, unidentified credit      | bank refund confirmed |
 * | `revenue:{receivingAccountNo}:{level}:{incomeSortCode}` | revenue | bank refund confirmed               | settlement confirmed, per share |
 * | `suspense:unidentified`                   | liability | linking or returning it                         | an unidentified credit |
 *
 * A reversal is the mirror of the entry it reverses (`reversesEntryId`), never an edit of it.
 * Balances are signed debit-positive: an asset's balance is Σ debits − Σ credits, a liability's
 * Σ credits − Σ debits.
 */
import { assert } from './errors';
import { Decimal, MONEY_DECIMALS, sumMoney, ZERO } from './money';

export const JOURNAL_SIDES = ['DEBIT', 'CREDIT'] as const;
export type JournalSide = (typeof JOURNAL_SIDES)[number];

/**
 * What caused an entry. Later capabilities add theirs (settlement, refunds, corrections); the
 * database accepts any upper-case word, so adding a kind needs no migration.
 */
export const JOURNAL_ENTRY_KINDS = {
  paymentSucceeded: 'PAYMENT_SUCCEEDED',
  paymentUnapplied: 'PAYMENT_UNAPPLIED',
} as const;
export type JournalEntryKind = (typeof JOURNAL_ENTRY_KINDS)[keyof typeof JOURNAL_ENTRY_KINDS];

/** A part of an account key: the identifier alphabet of interface.md §1, which never holds a `:`. */
const ACCOUNT_PART_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** The shape of every account key; migration 20261127000032 checks the same pattern. */
export const ACCOUNT_PATTERN = /^[a-z_]+(:[A-Za-z0-9_-]{1,64})+$/;

/** Lines one entry may have: a notice has at most 50 items, so a payment's entry at most 51. */
export const JOURNAL_LINES_PER_ENTRY_MAX = 200;

function account(kind: string, ...parts: string[]): string {
  for (const part of parts) assert(ACCOUNT_PART_PATTERN.test(part), `an account part is an identifier, got ${JSON.stringify(part)}`);
  const key = [kind, ...parts].join(':');
  assert(ACCOUNT_PATTERN.test(key), `account ${key} has the shape kind:part[:part…]`);
  return key;
}

export const ACCOUNTS = {
  /** Money an agency holds for the platform: its clearing account (汇缴户). */
  agencyClearing: (agencyCode: string): string => account('agency_clearing', agencyCode),
  /** Revenue collected for a receiving account and not yet settled to it. */
  revenuePending: (receivingAccountNo: string): string => account('revenue_pending', receivingAccountNo),
  /** Money an agency collected that applies to no payable notice: to be refunded (待查款). */
  suspenseUnapplied: (agencyCode: string): string => account('suspense', 'unapplied', agencyCode),
  /** Settled money on its way from an agency to a receiving account. */
  inTransit: (receivingAccountNo: string): string => account('in_transit', receivingAccountNo),
  /** Money a receiving bank confirmed in a receiving account. */
  receiving: (receivingAccountNo: string): string => account('receiving', receivingAccountNo),
  /** Recognised revenue of a receiving account, by budget level and revenue classification. */
  revenue: (receivingAccountNo: string, budgetLevel: number, incomeSortCode: string): string => {
    assert(Number.isInteger(budgetLevel) && budgetLevel >= 1 && budgetLevel <= 5, `revenue is recognised at budget level 1–5, got ${budgetLevel}`);
    return account('revenue', receivingAccountNo, String(budgetLevel), incomeSortCode);
  },
  /** Credits to a receiving account that match no instruction (待查). */
  suspenseUnidentified: (): string => account('suspense', 'unidentified'),
} as const;

export interface JournalLine {
  account: string;
  side: JournalSide;
  /** Positive money, two decimals at most. */
  amount: Decimal;
}

export interface JournalEntry {
  kind: JournalEntryKind;
  /** The Shanghai date the entry is written on (settlement.md §5). */
  accountingDate: string;
  lines: JournalLine[];
}

/**
 * Crashes unless the lines are a valid entry: 1–JOURNAL_LINES_PER_ENTRY_MAX lines, each a known
 * side, a well-formed account and a positive amount in fen, and Σ debits = Σ credits. Called
 * before every insert; `ledger verify` checks the same of what is stored.
 */
export function assertBalanced(lines: readonly JournalLine[]): { debit: Decimal; credit: Decimal } {
  assert(lines.length >= 2 && lines.length <= JOURNAL_LINES_PER_ENTRY_MAX, `an entry has 2–${JOURNAL_LINES_PER_ENTRY_MAX} lines, got ${lines.length}`);
  let debit: Decimal = ZERO;
  let credit: Decimal = ZERO;
  for (const line of lines) {
    assert(ACCOUNT_PATTERN.test(line.account), `account ${JSON.stringify(line.account)} has the shape kind:part[:part…]`);
    assert(line.amount.isFinite() && line.amount.gt(ZERO) && line.amount.decimalPlaces() <= MONEY_DECIMALS, `a line's amount is positive money, got ${line.amount.toString()}`);
    if (line.side === 'DEBIT') debit = debit.plus(line.amount);
    else if (line.side === 'CREDIT') credit = credit.plus(line.amount);
    else assert(false, `a line is a DEBIT or a CREDIT, got ${String(line.side)}`);
  }
  assert(debit.eq(credit), `an entry balances: debits ${debit.toString()} ≠ credits ${credit.toString()}`);
  return { debit, credit };
}

/** One line of a paid notice, as the SUCCEEDED entry credits it. */
export interface RevenueLine {
  receivingAccountNo: string;
  amount: Decimal;
  lateFee: Decimal;
}

/**
 * The entry of a SUCCEEDED payment: debit the agency's clearing account with the amount paid;
 * credit each item's receiving account with the item's amount and the late fee it earned
 * (lifecycle.md §2: an item's late fee is revenue of that item). One credit line per item, in the
 * notice's order, so that settlement can trace each line to its item; an item that earned
 * nothing (a zero amount and no late fee) moves no money and has no line.
 */
export function succeededPaymentEntry(input: { agencyCode: string; amount: Decimal; items: readonly RevenueLine[]; accountingDate: string }): JournalEntry {
  const credits: JournalLine[] = [];
  for (const item of input.items) {
    const earned = new Decimal(item.amount).plus(item.lateFee);
    if (earned.isZero()) continue;
    credits.push({ account: ACCOUNTS.revenuePending(item.receivingAccountNo), side: 'CREDIT', amount: earned });
  }
  const lines: JournalLine[] = [{ account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'DEBIT', amount: new Decimal(input.amount) }, ...credits];
  const { credit } = assertBalanced(lines);
  assert(credit.eq(sumMoney(input.items.map((item) => new Decimal(item.amount).plus(item.lateFee)))), 'the credits are the items and their late fees');
  return { kind: JOURNAL_ENTRY_KINDS.paymentSucceeded, accountingDate: input.accountingDate, lines };
}

/** The entry of an UNAPPLIED payment: the agency holds the money, and owes it back to the payer. */
export function unappliedPaymentEntry(input: { agencyCode: string; amount: Decimal; accountingDate: string }): JournalEntry {
  const amount = new Decimal(input.amount);
  const lines: JournalLine[] = [
    { account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'DEBIT', amount },
    { account: ACCOUNTS.suspenseUnapplied(input.agencyCode), side: 'CREDIT', amount },
  ];
  assertBalanced(lines);
  return { kind: JOURNAL_ENTRY_KINDS.paymentUnapplied, accountingDate: input.accountingDate, lines };
}
