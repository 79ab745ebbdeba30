/**
 * The ledger (docs/lifecycle.md §4, docs/settlement.md §6, docs/ledger.md): double entry, one
 * journal entry per movement of money, each line debiting or crediting one account with a
 * positive amount, the debits of an entry equal to its credits. Pure: every entry the service
 * writes is built here by a named builder, asserted here, and written as it is by the one
 * repository function that writes entries (src/db/repositories/ledger.ts, insertJournalEntry) —
 * or, for a payment, by the posting's folded statement, from the very same builder's output.
 *
 * ## The chart of accounts
 *
 * An account is a text key `kind:part[:part…]`, each part an identifier the wire already uses, so
 * the account names itself in every report and a new receiving account or agency needs no
 * registration. Each kind of account is built by one function of ACCOUNTS, and `accountPrefix`
 * gives the SQL of `ledger verify` the same names. The whole chart, with what moves each account:
 *
 * | account                                   | kind      | debited by                                     | credited by |
 * |-------------------------------------------|-----------|------------------------------------------------|-------------|
 * | `agency_clearing:{agencyCode}`            | asset     | every posting, a mismatch surplus              | settlement executed, agency refund confirmed, write-off, a mismatch deficit |
 * | `revenue_pending:{receivingAccountNo}`    | liability | settlement confirmed (per share), agency refund, write-off | a SUCCEEDED payment, per item (amount + its late fee) |
 * | `suspense:unapplied:{agencyCode}`         | liability | agency refund of unapplied money, a mismatch deficit | an UNAPPLIED payment, a mismatch surplus |
 * | `in_transit:{receivingAccountNo}`         | asset     | settlement executed                             | settlement confirmed |
 * | `receiving:{receivingAccountNo}`          | asset     | settlement confirmed, unidentified credit      | bank refund confirmed |
 * | `revenue:{receivingAccountNo}:{level}:{incomeSortCode}` | revenue | bank refund confirmed               | settlement confirmed, per share |
 * | `suspense:unidentified`                   | liability | linking or returning it                         | an unidentified credit |
 *
 * A reversal is the mirror of the entry it reverses (`reversesEntryId`), never an edit of it.
 * Balances are signed debit-positive: an asset's balance is Σ debits − Σ credits, a liability's
 * Σ credits − Σ debits.
 *
 * Every amount is a decimal.js `Decimal` (src/domain/money.ts); the only roundings are the
 * sharing and spreading rules below, each ROUND_HALF_UP to fen, named where it happens.
 */
import { assert } from './errors';
import { Decimal, MONEY_DECIMALS, roundMoneyHalfUp, sumMoney, ZERO } from './money';

export const JOURNAL_SIDES = ['DEBIT', 'CREDIT'] as const;
export type JournalSide = (typeof JOURNAL_SIDES)[number];

/** What caused an entry: one kind per builder below. The database refuses any other kind. */
export const JOURNAL_ENTRY_KINDS = {
  paymentSucceeded: 'PAYMENT_SUCCEEDED',
  paymentUnapplied: 'PAYMENT_UNAPPLIED',
  reversal: 'REVERSAL',
  settlementExecuted: 'SETTLEMENT_EXECUTED',
  settlementConfirmed: 'SETTLEMENT_CONFIRMED',
  agencyRefundConfirmed: 'AGENCY_REFUND_CONFIRMED',
  bankRefundConfirmed: 'BANK_REFUND_CONFIRMED',
  unidentifiedCredit: 'UNIDENTIFIED_CREDIT',
  writeOff: 'WRITE_OFF',
  mismatchSurplus: 'MISMATCH_SURPLUS',
  mismatchDeficit: 'MISMATCH_DEFICIT',
} as const;
export type JournalEntryKind = (typeof JOURNAL_ENTRY_KINDS)[keyof typeof JOURNAL_ENTRY_KINDS];

/**
 * What an entry may point at, each the row id (bigint, as a decimal string) of: a payment, a
 * settlement or refund instruction, a refund, a bank posting, a reconciliation discrepancy, or —
 * for a reversal — the entry it mirrors.
 */
export const JOURNAL_REFERENCE_NAMES = ['paymentId', 'instructionId', 'refundId', 'bankPostingId', 'discrepancyId', 'reversesEntryId'] as const;
export type JournalReferenceName = (typeof JOURNAL_REFERENCE_NAMES)[number];
export type JournalReferences = Partial<Record<JournalReferenceName, string>>;

/**
 * The reference each kind must carry: what caused it. Migration 20261201000300 checks the same in
 * the database, and migration 20261201000301 writes each kind at most once per this reference
 * (a retry finds the entry already there), except the payment kinds, whose once-ness is the
 * payment's own key (see insertJournalEntry).
 */
export const REQUIRED_REFERENCE: Readonly<Record<JournalEntryKind, JournalReferenceName>> = {
  PAYMENT_SUCCEEDED: 'paymentId',
  PAYMENT_UNAPPLIED: 'paymentId',
  REVERSAL: 'reversesEntryId',
  SETTLEMENT_EXECUTED: 'instructionId',
  SETTLEMENT_CONFIRMED: 'instructionId',
  AGENCY_REFUND_CONFIRMED: 'refundId',
  BANK_REFUND_CONFIRMED: 'refundId',
  UNIDENTIFIED_CREDIT: 'bankPostingId',
  WRITE_OFF: 'discrepancyId',
  MISMATCH_SURPLUS: 'discrepancyId',
  MISMATCH_DEFICIT: 'discrepancyId',
};

/** A row id: bigserial, as pg returns it. */
const ROW_ID_PATTERN = /^[1-9][0-9]{0,18}$/;
/** An accounting date: a calendar date, YYYY-MM-DD. */
const DATE_PATTERN = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

/** A part of an account key: the identifier alphabet of docs/interface.md §1, which never holds a `:`. */
const ACCOUNT_PART_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** The shape of every account key; migration 20261127000032 checks the same pattern. */
export const ACCOUNT_PATTERN = /^[a-z_]+(:[A-Za-z0-9_-]{1,64})+$/;

/**
 * Lines one entry may have (the database checks `line_no` 1–200). A payment's entry has at most
 * 51 (a notice has at most 50 items); the entries that gather many items (settlement confirmed,
 * refunds) have one line per account, not per item, so they stay far below it.
 */
export const JOURNAL_LINES_PER_ENTRY_MAX = 200;

/** Budget levels (docs/glossary.md): 1 central … 5 township; 0 is shared by a sharing rule. */
export const BUDGET_LEVEL_SHARED = 0;
export const BUDGET_LEVEL_MAX = 5;

/** The first parts of each kind of account, and so the prefix every account of that kind starts with. */
const ACCOUNT_KINDS = {
  agencyClearing: 'agency_clearing',
  revenuePending: 'revenue_pending',
  suspenseUnapplied: 'suspense:unapplied',
  inTransit: 'in_transit',
  receiving: 'receiving',
  revenue: 'revenue',
  suspenseUnidentified: 'suspense:unidentified',
} as const;
export type AccountKind = keyof typeof ACCOUNT_KINDS;

function account(kind: AccountKind, ...parts: string[]): string {
  for (const part of parts) assert(ACCOUNT_PART_PATTERN.test(part), `an account part is an identifier, got ${JSON.stringify(part)}`);
  const key = [ACCOUNT_KINDS[kind], ...parts].join(':');
  assert(ACCOUNT_PATTERN.test(key), `account ${key} has the shape kind:part[:part…]`);
  return key;
}

/** One function per kind of account: the only code that spells an account key. */
export const ACCOUNTS = {
  /** Money an agency holds for the platform: its clearing account (汇缴户). */
  agencyClearing: (agencyCode: string): string => account('agencyClearing', agencyCode),
  /** Revenue collected for a receiving account and not yet settled to it. */
  revenuePending: (receivingAccountNo: string): string => account('revenuePending', receivingAccountNo),
  /** Money an agency collected that applies to no payable notice: to be refunded (待查款). */
  suspenseUnapplied: (agencyCode: string): string => account('suspenseUnapplied', agencyCode),
  /** Settled money on its way from an agency to a receiving account. */
  inTransit: (receivingAccountNo: string): string => account('inTransit', receivingAccountNo),
  /** Money a receiving bank confirmed in a receiving account. */
  receiving: (receivingAccountNo: string): string => account('receiving', receivingAccountNo),
  /** Recognised revenue of a receiving account, by budget level and revenue classification. */
  revenue: (receivingAccountNo: string, budgetLevel: number, incomeSortCode: string): string => {
    assert(Number.isInteger(budgetLevel) && budgetLevel >= 1 && budgetLevel <= BUDGET_LEVEL_MAX, `revenue is recognised at budget level 1–${BUDGET_LEVEL_MAX}, got ${budgetLevel}`);
    return account('revenue', receivingAccountNo, String(budgetLevel), incomeSortCode);
  },
  /** Credits to a receiving account that match no instruction (待查). */
  suspenseUnidentified: (): string => {
    const key = ACCOUNT_KINDS.suspenseUnidentified;
    assert(ACCOUNT_PATTERN.test(key), `account ${key} has the shape kind:part`);
    return key;
  },
} as const;

/**
 * The text every account of a kind starts with, `:` included (`agency_clearing:`), for queries
 * that select a kind of account and read the part after it; the rest of the key is what the
 * kind's ACCOUNTS function was given. Not for suspenseUnidentified, which is one account.
 */
export function accountPrefix(kind: Exclude<AccountKind, 'suspenseUnidentified'>): string {
  return `${ACCOUNT_KINDS[kind]}:`;
}

export interface JournalLine {
  account: string;
  side: JournalSide;
  /** Positive money, two decimals at most. */
  amount: Decimal;
}

export interface JournalEntry {
  kind: JournalEntryKind;
  /** The Shanghai date the entry is written on (docs/settlement.md §5), YYYY-MM-DD. */
  accountingDate: string;
  /**
   * The business date of what caused it (a payment's business date), when it has one. An entry
   * whose cause's date was already sealed by the daily close is listed in the close of the date
   * it is written on, under `adjustments` (docs/settlement.md §5, contracts/decisions/0140-daily-close.md).
   */
  causeDate?: string;
  /** What caused it: at least the kind's REQUIRED_REFERENCE. */
  references: JournalReferences;
  lines: JournalLine[];
}

/** An entry as stored: what `reversalEntry` mirrors. */
export interface StoredJournalEntry extends JournalEntry {
  id: string;
}

/**
 * Crashes unless the lines are a valid entry: 2–JOURNAL_LINES_PER_ENTRY_MAX lines, each a known
 * side, a well-formed account and a positive amount in fen, and Σ debits = Σ credits.
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

/**
 * Crashes unless `entry` may be written: a known kind, an accounting date, references that are
 * row ids and include the kind's required one, and balanced lines (assertBalanced). Every builder
 * ends with it, and the writer calls it again just before the INSERT, so an entry assembled by
 * hand cannot slip past. A broken entry is a bug, never a caller's input: it throws the
 * invariant error, not a catalogue error.
 */
export function assertJournalEntry(entry: JournalEntry): { debit: Decimal; credit: Decimal } {
  const required = REQUIRED_REFERENCE[entry.kind];
  assert(required !== undefined, `journal entry kind ${String(entry.kind)} is one of JOURNAL_ENTRY_KINDS`);
  assert(DATE_PATTERN.test(entry.accountingDate), `an accounting date is YYYY-MM-DD, got ${entry.accountingDate}`);
  assert(entry.causeDate === undefined || DATE_PATTERN.test(entry.causeDate), `a cause's date is YYYY-MM-DD, got ${String(entry.causeDate)}`);
  for (const [name, value] of Object.entries(entry.references)) {
    assert((JOURNAL_REFERENCE_NAMES as readonly string[]).includes(name), `${name} is a journal reference`);
    assert(value === undefined || ROW_ID_PATTERN.test(value), `reference ${name} is a row id, got ${String(value)}`);
  }
  assert(entry.references[required] !== undefined, `a ${entry.kind} entry references its ${required}`);
  return assertBalanced(entry.lines);
}

function entry(kind: JournalEntryKind, accountingDate: string, references: JournalReferences, lines: JournalLine[]): JournalEntry {
  const built: JournalEntry = { kind, accountingDate, references: definedReferences(references), lines };
  assertJournalEntry(built);
  return built;
}

function definedReferences(references: JournalReferences): JournalReferences {
  const defined: JournalReferences = {};
  for (const name of JOURNAL_REFERENCE_NAMES) {
    const value = references[name];
    if (value !== undefined) defined[name] = value;
  }
  return defined;
}

function positive(amount: Decimal, what: string): Decimal {
  const value = new Decimal(amount);
  assert(value.isFinite() && value.gt(ZERO) && value.decimalPlaces() <= MONEY_DECIMALS, `${what} is positive money, got ${value.toString()}`);
  return value;
}

/**
 * Lines from signed amounts per account (debit-positive), summed per account in the order each
 * account first appears: a positive sum is a DEBIT, a negative one a CREDIT of its magnitude, a
 * zero sum no line. Used where many items meet in one entry (settlement, refunds), so that the
 * entry has one line per account however many items it gathers.
 */
function netLines(amounts: ReadonlyArray<{ account: string; debit: Decimal }>): JournalLine[] {
  const byAccount = new Map<string, Decimal>();
  for (const { account: key, debit } of amounts) byAccount.set(key, (byAccount.get(key) ?? ZERO).plus(debit));
  const lines: JournalLine[] = [];
  for (const [key, net] of byAccount) {
    if (net.isZero()) continue;
    lines.push({ account: key, side: net.gt(ZERO) ? 'DEBIT' : 'CREDIT', amount: net.abs() });
  }
  return lines;
}

// ---- the sharing and spreading rules -------------------------------------------------------

/**
 * Splits `amount` by ratios, in their order (docs/settlement.md §4): every part but the last is
 * round_half_up(amount × ratio, 2) — ROUND_HALF_UP to fen —, the last takes the remainder, so the
 * parts add up to `amount` exactly. Ratios are positive, at most 1, and add up to exactly 1.
 *
 * The remainder can be smaller than its ratio suggests — even negative, for a few fen split four
 * ways (0.10 by 0.45/0.45/0.05/0.05 gives 0.05, 0.05, 0.01, −0.01): that is the rule as written,
 * and the entries book such a part on the other side, so every sum still ties.
 */
export function splitByRatios(amount: Decimal, ratios: readonly Decimal[]): Decimal[] {
  const total = new Decimal(amount);
  assert(total.isFinite() && total.decimalPlaces() <= MONEY_DECIMALS, `the amount split is money, got ${total.toString()}`);
  assert(ratios.length >= 1, 'a split has at least one ratio');
  for (const ratio of ratios) assert(new Decimal(ratio).gt(ZERO) && new Decimal(ratio).lte(1), `a ratio is in (0, 1], got ${ratio.toString()}`);
  assert(ratios.reduce<Decimal>((sum, ratio) => sum.plus(ratio), ZERO).eq(1), 'the ratios add up to exactly 1');
  const parts: Decimal[] = [];
  let rest = total;
  ratios.forEach((ratio, index) => {
    if (index === ratios.length - 1) {
      parts.push(rest);
      return;
    }
    const part = roundMoneyHalfUp(total.times(ratio));
    parts.push(part);
    rest = rest.minus(part);
  });
  assert(sumMoney(parts).eq(total), 'the parts of a split add up to the amount');
  return parts;
}

/**
 * Spreads `amount` over items in proportion to their weights (docs/settlement.md §1: a partial
 * refund is spread over the payment's items in proportion to their amounts): every item but the
 * last gets round_half_up(amount × weight / Σ weights, 2) — the quotient is computed to the 64
 * significant digits of src/domain/money.ts (ROUND_HALF_UP there too) and then ROUND_HALF_UP to
 * fen —, the last the remainder. Weights are money, not all zero.
 */
export function spreadInProportion(amount: Decimal, weights: readonly Decimal[]): Decimal[] {
  const total = new Decimal(amount);
  assert(total.isFinite() && total.gte(ZERO) && total.decimalPlaces() <= MONEY_DECIMALS, `the amount spread is money, got ${total.toString()}`);
  assert(weights.length >= 1, 'a spread has at least one item');
  const weightSum = sumMoney(weights);
  assert(weightSum.gt(ZERO) && weights.every((weight) => new Decimal(weight).gte(ZERO)), 'the weights are money and not all zero');
  const parts: Decimal[] = [];
  let rest = total;
  weights.forEach((weight, index) => {
    if (index === weights.length - 1) {
      parts.push(rest);
      return;
    }
    const part = roundMoneyHalfUp(total.times(weight).dividedBy(weightSum));
    parts.push(part);
    rest = rest.minus(part);
  });
  assert(sumMoney(parts).eq(total), 'the parts of a spread add up to the amount');
  return parts;
}

/** One share of a sharing rule, as the notice item snapshotted it, in the rule's order. */
export interface RevenueShare {
  budgetLevel: number;
  ratio: Decimal;
}

/** A payment item's money being recognised as revenue (settled) or taken back from it (bank refund). */
export interface RecognitionItem {
  /** The item's amount in this movement (its amount and late fee, less what was refunded): money, ≥ 0. */
  amount: Decimal;
  incomeSortCode: string;
  /** 1–5, or 0 when the item is shared by `shares`. */
  budgetLevel: number;
  /** The sharing rule's shares as snapshotted at issue: required for level 0, absent otherwise. */
  shares?: readonly RevenueShare[];
}

/** One item's money by budget level: what docs/settlement.md §4 stores per item. */
export interface ItemRecognition {
  shares: Array<{ budgetLevel: number; incomeSortCode: string; amount: Decimal; account: string }>;
}

/**
 * Recognises items by budget level (docs/settlement.md §4): an item of level 1–5 goes whole to that
 * level; an item of level 0 is split by its snapshotted shares with splitByRatios (half-up, the
 * last share the remainder). Per item, so that the stored shares and every report tie exactly.
 */
export function recogniseItems(receivingAccountNo: string, items: readonly RecognitionItem[]): ItemRecognition[] {
  return items.map((item) => {
    const amount = new Decimal(item.amount);
    assert(amount.gte(ZERO) && amount.decimalPlaces() <= MONEY_DECIMALS, `an item's amount is money, got ${amount.toString()}`);
    if (item.budgetLevel === BUDGET_LEVEL_SHARED) {
      const shares = item.shares ?? [];
      assert(shares.length >= 1, `an item of budget level ${BUDGET_LEVEL_SHARED} has its sharing rule's shares`);
      assert(new Set(shares.map((share) => share.budgetLevel)).size === shares.length, 'a sharing rule has each level at most once');
      const parts = splitByRatios(amount, shares.map((share) => share.ratio));
      return {
        shares: shares.map((share, index) => ({
          budgetLevel: share.budgetLevel,
          incomeSortCode: item.incomeSortCode,
          amount: parts[index] as Decimal,
          account: ACCOUNTS.revenue(receivingAccountNo, share.budgetLevel, item.incomeSortCode),
        })),
      };
    }
    assert(item.shares === undefined || item.shares.length === 0, `an item of budget level ${item.budgetLevel} is not shared`);
    return { shares: [{ budgetLevel: item.budgetLevel, incomeSortCode: item.incomeSortCode, amount, account: ACCOUNTS.revenue(receivingAccountNo, item.budgetLevel, item.incomeSortCode) }] };
  });
}

// ---- the builders: one per kind ------------------------------------------------------------

/** One line of a paid notice, as the SUCCEEDED entry credits it. */
export interface RevenueLine {
  receivingAccountNo: string;
  amount: Decimal;
  lateFee: Decimal;
}

/**
 * PAYMENT_SUCCEEDED: debit the agency's clearing account with the amount paid; credit each item's
 * receiving account with the item's amount and the late fee it earned (an item's late fee is
 * revenue of that item). One credit line per item, in the notice's order, so that settlement can
 * trace each line to its item; an item that earned nothing (a zero amount and no late fee) moves
 * no money and has no line. References the payment.
 */
export function succeededPaymentEntry(input: { paymentId: string; agencyCode: string; amount: Decimal; items: readonly RevenueLine[]; accountingDate: string }): JournalEntry {
  const credits: JournalLine[] = [];
  for (const item of input.items) {
    const earned = new Decimal(item.amount).plus(item.lateFee);
    if (earned.isZero()) continue;
    credits.push({ account: ACCOUNTS.revenuePending(item.receivingAccountNo), side: 'CREDIT', amount: earned });
  }
  const lines: JournalLine[] = [{ account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'DEBIT', amount: new Decimal(input.amount) }, ...credits];
  const built = entry(JOURNAL_ENTRY_KINDS.paymentSucceeded, input.accountingDate, { paymentId: input.paymentId }, lines);
  assert(sumMoney(credits.map((line) => line.amount)).eq(sumMoney(input.items.map((item) => new Decimal(item.amount).plus(item.lateFee)))), 'the credits are the items and their late fees');
  return built;
}

/** PAYMENT_UNAPPLIED: the agency holds the money, and owes it back to the payer. References the payment. */
export function unappliedPaymentEntry(input: { paymentId: string; agencyCode: string; amount: Decimal; accountingDate: string }): JournalEntry {
  const amount = positive(input.amount, 'an unapplied payment');
  return entry(JOURNAL_ENTRY_KINDS.paymentUnapplied, input.accountingDate, { paymentId: input.paymentId }, [
    { account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'DEBIT', amount },
    { account: ACCOUNTS.suspenseUnapplied(input.agencyCode), side: 'CREDIT', amount },
  ]);
}

/**
 * REVERSAL: the mirror of a stored entry — the same accounts and amounts in the same order, every
 * side swapped —, written on its own accounting date. It carries the original's references (a
 * reversed payment's entries are all found by the payment) plus `reversesEntryId`, and may add
 * what caused it (the discrepancy of a REVERSE_PAYMENT); an added reference never contradicts
 * one the original has.
 */
export function reversalEntry(input: { original: StoredJournalEntry; accountingDate: string; cause?: JournalReferences }): JournalEntry {
  const { original } = input;
  assertJournalEntry(original);
  assert(ROW_ID_PATTERN.test(original.id), `the reversed entry is stored, got id ${original.id}`);
  const references: JournalReferences = { ...original.references };
  delete references.reversesEntryId;
  for (const name of JOURNAL_REFERENCE_NAMES) {
    const added = input.cause?.[name];
    if (added === undefined) continue;
    assert(name !== 'reversesEntryId', 'a reversal reverses the entry it is given');
    assert(references[name] === undefined || references[name] === added, `a reversal's ${name} ${added} contradicts the original's ${String(references[name])}`);
    references[name] = added;
  }
  references.reversesEntryId = original.id;
  const lines = original.lines.map((line): JournalLine => ({ account: line.account, side: line.side === 'DEBIT' ? 'CREDIT' : 'DEBIT', amount: new Decimal(line.amount) }));
  return entry(JOURNAL_ENTRY_KINDS.reversal, input.accountingDate, references, lines);
}

/**
 * SETTLEMENT_EXECUTED: the agency reports it sent the settlement (or the receiving bank confirmed
 * it first): the money leaves the agency's clearing account and is on its way to the receiving
 * account. References the instruction.
 */
export function settlementExecutedEntry(input: { instructionId: string; agencyCode: string; receivingAccountNo: string; amount: Decimal; accountingDate: string }): JournalEntry {
  const amount = positive(input.amount, 'a settlement');
  return entry(JOURNAL_ENTRY_KINDS.settlementExecuted, input.accountingDate, { instructionId: input.instructionId }, [
    { account: ACCOUNTS.inTransit(input.receivingAccountNo), side: 'DEBIT', amount },
    { account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'CREDIT', amount },
  ]);
}

/**
 * SETTLEMENT_CONFIRMED: the receiving bank confirmed the money arrived — debit `receiving`,
 * credit `in_transit` with the instruction's amount — and its revenue is recognised: per item
 * share (recogniseItems), debit `revenue_pending` and credit `revenue:{acct}:{level}:{code}`.
 * The recognition lines are summed per account (one debit of revenue_pending, one credit per
 * revenue account; a negative last share of a split nets on the other side), so the entry stays
 * within JOURNAL_LINES_PER_ENTRY_MAX for any number of items; `recognition` gives the per item
 * shares to store beside it, which add up to exactly these lines. The items add up to the
 * amount. References the instruction.
 */
export function settlementConfirmedEntry(input: { instructionId: string; receivingAccountNo: string; amount: Decimal; items: readonly RecognitionItem[]; accountingDate: string }): {
  entry: JournalEntry;
  recognition: ItemRecognition[];
} {
  const amount = positive(input.amount, 'a settlement');
  assert(input.items.length >= 1, 'a settlement settles items');
  assert(sumMoney(input.items.map((item) => item.amount)).eq(amount), `the settled items add up to the instruction's ${amount.toString()}`);
  const recognition = recogniseItems(input.receivingAccountNo, input.items);
  const pending = ACCOUNTS.revenuePending(input.receivingAccountNo);
  const shares = recognition.flatMap((item) => item.shares);
  const recognitionLines = netLines([...shares.map((share) => ({ account: pending, debit: share.amount })), ...sortedByAccount(shares).map((share) => ({ account: share.account, debit: share.amount.negated() }))]);
  const lines: JournalLine[] = [
    { account: ACCOUNTS.receiving(input.receivingAccountNo), side: 'DEBIT', amount },
    { account: ACCOUNTS.inTransit(input.receivingAccountNo), side: 'CREDIT', amount },
    ...recognitionLines,
  ];
  return { entry: entry(JOURNAL_ENTRY_KINDS.settlementConfirmed, input.accountingDate, { instructionId: input.instructionId }, lines), recognition };
}

/** Revenue accounts in a stable order: by budget level, then income sort code. */
function sortedByAccount<T extends { budgetLevel: number; incomeSortCode: string }>(shares: readonly T[]): T[] {
  return [...shares].sort((a, b) => a.budgetLevel - b.budgetLevel || (a.incomeSortCode < b.incomeSortCode ? -1 : a.incomeSortCode > b.incomeSortCode ? 1 : 0));
}

/**
 * AGENCY_REFUND_CONFIRMED: the agency paid a refund back out of its clearing account (its
 * statement's REFUND line confirmed it). Applied money: debit each receiving account's pending
 * revenue by the refund's part of its items — spreadInProportion over the payment's items by
 * what each earned, summed per account. Unapplied money: debit the agency's unapplied suspense.
 * Credit the agency's clearing account with the whole refund. References the refund (and its
 * instruction, when given).
 */
export function agencyRefundConfirmedEntry(
  input: { refundId: string; instructionId?: string; agencyCode: string; amount: Decimal; accountingDate: string } & (
    | { unapplied: true }
    | { unapplied: false; paymentItems: ReadonlyArray<{ receivingAccountNo: string; earned: Decimal }> }
  ),
): JournalEntry {
  const amount = positive(input.amount, 'a refund');
  let debits: JournalLine[];
  if (input.unapplied) {
    debits = [{ account: ACCOUNTS.suspenseUnapplied(input.agencyCode), side: 'DEBIT', amount }];
  } else {
    const earned = input.paymentItems.map((item) => new Decimal(item.earned));
    assert(amount.lte(sumMoney(earned)), `a refund of ${amount.toString()} is at most what the payment's items earned`);
    const parts = spreadInProportion(amount, earned);
    debits = netLines(input.paymentItems.map((item, index) => ({ account: ACCOUNTS.revenuePending(item.receivingAccountNo), debit: parts[index] as Decimal })));
  }
  return entry(JOURNAL_ENTRY_KINDS.agencyRefundConfirmed, input.accountingDate, { refundId: input.refundId, instructionId: input.instructionId }, [
    ...debits,
    { account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'CREDIT', amount },
  ]);
}

/**
 * BANK_REFUND_CONFIRMED: the receiving bank paid a refund out of the receiving account (its DEBIT
 * posting confirmed it), taking back revenue already recognised: per item share of the refund
 * (recogniseItems on each item's part of the refund — the caller spreads the refund over the
 * items with spreadInProportion), debit `revenue:{acct}:{level}:{code}`, summed per account;
 * credit `receiving` with the whole refund. References the refund (and its instruction and bank
 * posting, when given).
 */
export function bankRefundConfirmedEntry(input: { refundId: string; instructionId?: string; bankPostingId?: string; receivingAccountNo: string; amount: Decimal; items: readonly RecognitionItem[]; accountingDate: string }): {
  entry: JournalEntry;
  recognition: ItemRecognition[];
} {
  const amount = positive(input.amount, 'a refund');
  assert(sumMoney(input.items.map((item) => item.amount)).eq(amount), `the refund's items add up to its ${amount.toString()}`);
  const recognition = recogniseItems(input.receivingAccountNo, input.items);
  const debits = netLines(sortedByAccount(recognition.flatMap((item) => item.shares)).map((share) => ({ account: share.account, debit: share.amount })));
  const built = entry(JOURNAL_ENTRY_KINDS.bankRefundConfirmed, input.accountingDate, { refundId: input.refundId, instructionId: input.instructionId, bankPostingId: input.bankPostingId }, [
    ...debits,
    { account: ACCOUNTS.receiving(input.receivingAccountNo), side: 'CREDIT', amount },
  ]);
  return { entry: built, recognition };
}

/**
 * UNIDENTIFIED_CREDIT: money arrived in a receiving account that matches no instruction (待查):
 * the account holds it, and suspense owes it until finance links or returns it. References the
 * bank posting.
 */
export function unidentifiedCreditEntry(input: { bankPostingId: string; receivingAccountNo: string; amount: Decimal; accountingDate: string }): JournalEntry {
  const amount = positive(input.amount, 'an unidentified credit');
  return entry(JOURNAL_ENTRY_KINDS.unidentifiedCredit, input.accountingDate, { bankPostingId: input.bankPostingId }, [
    { account: ACCOUNTS.receiving(input.receivingAccountNo), side: 'DEBIT', amount },
    { account: ACCOUNTS.suspenseUnidentified(), side: 'CREDIT', amount },
  ]);
}

/**
 * WRITE_OFF of a shortfall (docs/reconciliation.md §3): finance closes a discrepancy and charges
 * the shortfall to the agency — its clearing balance no longer counts money it does not hold, and
 * the pending revenue those items stood for leaves settlement (the agency owes it outside the
 * ledger's settlement flow). One debit per receiving account of the shortfall's items, in the
 * order given (summed per account). For unapplied money (`unapplied`) the shortfall is debited
 * to the agency's unapplied suspense instead, where a debit is what the agency owes
 * (contracts/decisions/0117-discrepancy-actions.md). References the discrepancy.
 */
export function writeOffEntry(input: {
  discrepancyId: string;
  agencyCode: string;
  shortfall: ReadonlyArray<{ receivingAccountNo: string; amount: Decimal }>;
  unapplied?: Decimal;
  accountingDate: string;
}): JournalEntry {
  const unapplied = input.unapplied === undefined ? undefined : positive(input.unapplied, 'an unapplied shortfall');
  assert(input.shortfall.length >= 1 || unapplied !== undefined, 'a write-off writes off something');
  const total = positive(sumMoney([...input.shortfall.map((part) => part.amount), ...(unapplied === undefined ? [] : [unapplied])]), 'a write-off');
  const debits = netLines(input.shortfall.map((part) => ({ account: ACCOUNTS.revenuePending(part.receivingAccountNo), debit: positive(part.amount, 'a part of a shortfall') })));
  if (unapplied !== undefined) debits.push({ account: ACCOUNTS.suspenseUnapplied(input.agencyCode), side: 'DEBIT', amount: unapplied });
  return entry(JOURNAL_ENTRY_KINDS.writeOff, input.accountingDate, { discrepancyId: input.discrepancyId }, [
    ...debits,
    { account: ACCOUNTS.agencyClearing(input.agencyCode), side: 'CREDIT', amount: total },
  ]);
}

/**
 * The difference an AMOUNT_MISMATCH or PAY_CODE_MISMATCH resolution books (docs/reconciliation.md
 * §3), whichever figure stands: the agency's statement says it holds `statementAmount`, the
 * platform recorded `platformAmount`.
 * - MISMATCH_SURPLUS (statement more): the agency holds more than was recorded — debit its clearing
 *   account, credit its unapplied suspense: the surplus is refunded like unapplied money.
 * - MISMATCH_DEFICIT (statement less): the reverse — credit its clearing account down to what it
 *   holds, debit its unapplied suspense: the shortfall is charged to the agency (a debit balance
 *   there is money it owes).
 * References the discrepancy.
 */
export function mismatchDifferenceEntry(input: { discrepancyId: string; agencyCode: string; platformAmount: Decimal; statementAmount: Decimal; accountingDate: string }): JournalEntry {
  const platformAmount = new Decimal(input.platformAmount);
  const statementAmount = new Decimal(input.statementAmount);
  const difference = positive(statementAmount.minus(platformAmount).abs(), 'a mismatch difference');
  const clearing = ACCOUNTS.agencyClearing(input.agencyCode);
  const suspense = ACCOUNTS.suspenseUnapplied(input.agencyCode);
  if (statementAmount.gt(platformAmount)) {
    return entry(JOURNAL_ENTRY_KINDS.mismatchSurplus, input.accountingDate, { discrepancyId: input.discrepancyId }, [
      { account: clearing, side: 'DEBIT', amount: difference },
      { account: suspense, side: 'CREDIT', amount: difference },
    ]);
  }
  return entry(JOURNAL_ENTRY_KINDS.mismatchDeficit, input.accountingDate, { discrepancyId: input.discrepancyId }, [
    { account: suspense, side: 'DEBIT', amount: difference },
    { account: clearing, side: 'CREDIT', amount: difference },
  ]);
}
