import type { Knex } from 'knex';
import { assert } from '../../domain/errors';
import {
  accountPrefix,
  ACCOUNTS,
  assertJournalEntry,
  JOURNAL_ENTRY_KINDS,
  JOURNAL_REFERENCE_NAMES,
  type JournalEntry,
  type JournalEntryKind,
  type JournalReferenceName,
  type JournalReferences,
  type JournalSide,
  REQUIRED_REFERENCE,
  type StoredJournalEntry,
} from '../../domain/ledger';
import { Decimal, formatMoney } from '../../domain/money';
import { compileStatement, knexRunner } from '../statements';
import type { Queryable } from '../database';
import type { PreparedWrite } from '../preparedWrites';

// ---- writing entries -------------------------------------------------------------------------

/** The column of each reference (migrations 20261127000032 and 20261201000300). */
const REFERENCE_COLUMNS: Readonly<Record<JournalReferenceName, string>> = {
  paymentId: 'payment_id',
  instructionId: 'instruction_id',
  refundId: 'refund_id',
  bankPostingId: 'bank_posting_id',
  discrepancyId: 'discrepancy_id',
  reversesEntryId: 'reverses_entry_id',
};

/**
 * The accounting date and `for_date` every journal INSERT writes (contracts/decisions/0140-daily-close.md):
 * the entry's own date unless the daily close has cut it off, then the first date after the
 * latest cut-off; `for_date` is the date meant (the cause's, else the entry's) when that date is
 * cut off. `row` names the input row with `accounting_date` and `cause_date`; `cutoff.last` is the
 * latest cut-off, joined by the INSERT.
 */
function ACCOUNTING_DATE_SQL(row: string): string {
  return `GREATEST(${row}.accounting_date, cutoff.last + 1)`;
}
function FOR_DATE_SQL(row: string): string {
  return `CASE WHEN LEAST(${row}.cause_date, ${row}.accounting_date) <= cutoff.last THEN LEAST(${row}.cause_date, ${row}.accounting_date) END`;
}

/**
 * The INSERTs of one journal entry and its lines, as two data-modifying CTEs (`journal_entry`,
 * `journal_entry_lines`) with named parameters (journalEntryParameters). It is the only SQL that
 * writes journal entries: insertJournalEntry runs it on its own, and the payment posting's
 * folded statement (src/db/repositories/payments.ts) embeds the very same text, so an entry
 * written either way is written by the same INSERTs from the same parameters.
 *
 * The daily close (migration 20261202008000, contracts/decisions/0140-daily-close.md): the entry
 * is written on the date its builder names (the date it is written), unless the close has already
 * cut that date off — then on the first date after the latest cut-off. `for_date` is set when the
 * entry is meant for a date already cut off (its cause's business date, `causeDate`, or its own
 * date moved): the close of the date it lands on lists it under `adjustments`. The cut-off is read
 * by the INSERT itself, one probe of a tiny table's primary key, so no writer has to know about
 * closes; the close waits for every writer that read the old cut-off before it seals.
 *
 * ON CONFLICT DO NOTHING: an entry already written for its cause (migration 20261201000301)
 * inserts nothing, and no lines, and the caller finds the one there. The payment kinds have no
 * such index, so for the posting it never applies (and the posting checks the lines it wrote).
 */
export const JOURNAL_ENTRY_INSERT_CTES = `journal_entry AS (
  INSERT INTO journal_entries (kind, accounting_date, for_date, payment_id, instruction_id, refund_id, bank_posting_id, discrepancy_id, reverses_entry_id, created_at)
  SELECT @entry_kind, GREATEST(@entry_accounting_date::date, cutoff.last + 1),
         CASE WHEN LEAST(@entry_cause_date::date, @entry_accounting_date::date) <= cutoff.last THEN LEAST(@entry_cause_date::date, @entry_accounting_date::date) END,
         @entry_payment_id::bigint, @entry_instruction_id::bigint, @entry_refund_id::bigint,
         @entry_bank_posting_id::bigint, @entry_discrepancy_id::bigint, @entry_reverses_entry_id::bigint, @entry_created_at::timestamptz
    FROM (SELECT max(business_date) AS last FROM accounting_cutoffs) AS cutoff
  ON CONFLICT DO NOTHING
  RETURNING id
),
journal_entry_lines AS (
  INSERT INTO journal_lines (entry_id, line_no, account, side, amount)
  SELECT journal_entry.id, l.line_no, l.account, l.side, l.amount
    FROM journal_entry, json_to_recordset(@entry_lines::json) AS l(line_no smallint, account text, side text, amount numeric)
  RETURNING line_no
)`;

/** The parameters of JOURNAL_ENTRY_INSERT_CTES. */
export interface JournalEntryParameters {
  entry_kind: JournalEntryKind;
  entry_accounting_date: string;
  entry_cause_date: string | null;
  entry_payment_id: string | null;
  entry_instruction_id: string | null;
  entry_refund_id: string | null;
  entry_bank_posting_id: string | null;
  entry_discrepancy_id: string | null;
  entry_reverses_entry_id: string | null;
  entry_created_at: Date;
  /** JSON: [{line_no, account, side, amount}], amounts as two-decimal strings. */
  entry_lines: string;
}

/**
 * The parameters that write `entry`, asserted first (assertJournalEntry: balanced, positive lines,
 * its kind's reference): whoever writes an entry, through whichever statement, gets here.
 * `createdAt` is the instant it is written (the use case's business clock).
 */
export function journalEntryParameters(entry: JournalEntry, createdAt: Date): JournalEntryParameters {
  assertJournalEntry(entry);
  assert(createdAt instanceof Date && Number.isFinite(createdAt.getTime()), 'an entry is written at a valid instant');
  const reference = (name: JournalReferenceName): string | null => entry.references[name] ?? null;
  return {
    entry_kind: entry.kind,
    entry_accounting_date: entry.accountingDate,
    entry_cause_date: entry.causeDate ?? null,
    entry_payment_id: reference('paymentId'),
    entry_instruction_id: reference('instructionId'),
    entry_refund_id: reference('refundId'),
    entry_bank_posting_id: reference('bankPostingId'),
    entry_discrepancy_id: reference('discrepancyId'),
    entry_reverses_entry_id: reference('reversesEntryId'),
    entry_created_at: createdAt,
    entry_lines: JSON.stringify(entry.lines.map((line, index) => ({ line_no: index + 1, account: line.account, side: line.side, amount: formatMoney(line.amount) }))),
  };
}

const JOURNAL_ENTRY_INSERT = compileStatement(
  'journal_entry_insert',
  `WITH ${JOURNAL_ENTRY_INSERT_CTES}
SELECT (SELECT id::text FROM journal_entry) AS entry_id, (SELECT count(*) FROM journal_entry_lines)::int AS lines`,
);

export interface WrittenJournalEntry {
  entryId: string;
  /** False when its cause had already written this very entry (a retry): nothing was added. */
  written: boolean;
}

/**
 * Writes any journal entry, in the caller's transaction, in one round trip: the one function
 * that writes entries (the payment posting's folded statement embeds its SQL). The entry is
 * asserted before the INSERT (journalEntryParameters). When its cause already has its entry of
 * this kind (migration 20261201000301), nothing is written and that entry answers — if its lines
 * are exactly these; different lines for the same cause are a bug, and it crashes.
 */
export async function insertJournalEntry(trx: Knex.Transaction, entry: JournalEntry, createdAt: Date): Promise<WrittenJournalEntry> {
  assert(trx.isTransaction === true, 'a journal entry is written inside the transaction of the change it records');
  const parameters = journalEntryParameters(entry, createdAt);
  const rows = await knexRunner(trx).run<{ entry_id: string | null; lines: number }>(JOURNAL_ENTRY_INSERT, { ...parameters });
  const row = rows[0];
  assert(row !== undefined, 'the entry INSERT answers one row');
  if (row.entry_id !== null) {
    assert(row.lines === entry.lines.length, `entry ${row.entry_id}: ${entry.lines.length} lines, wrote ${row.lines}`);
    return { entryId: row.entry_id, written: true };
  }
  const name = REQUIRED_REFERENCE[entry.kind];
  const cause = entry.references[name] as string;
  const existing = await trx.raw<{ rows: Array<{ id: string }> }>(`SELECT id::text AS id FROM journal_entries WHERE kind = ? AND ${REFERENCE_COLUMNS[name]} = ?::bigint`, [entry.kind, cause]);
  const existingId = existing.rows[0]?.id;
  assert(existingId !== undefined, `a ${entry.kind} entry for ${name} ${cause} was refused, and none is there`);
  const stored = await findJournalEntry(trx, existingId);
  assert(stored !== undefined && sameLines(stored, entry), `${name} ${cause} already has a ${entry.kind} entry (${existingId}) with other lines`);
  return { entryId: existingId, written: false };
}

/** `count` journal entry row ids, drawn from the entries' sequence in one round trip. */
export async function drawJournalEntryIds(db: Queryable, count: number): Promise<string[]> {
  if (count === 0) return [];
  const drawn = await db.raw<{ rows: Array<{ id: string }> }>(`SELECT nextval('journal_entries_id_seq')::text AS id FROM generate_series(1, ?::int)`, [count]);
  const ids = drawn.rows.map((row) => row.id);
  assert(ids.length === count, `drew ${count} entry ids, got ${ids.length}`);
  return ids;
}

/**
 * The statements that write many new payment journal entries (PAYMENT_SUCCEEDED,
 * PAYMENT_UNAPPLIED) whose row ids were drawn (drawJournalEntryIds): one INSERT of the entries and
 * one of their lines per JOURNAL_ENTRIES_PER_INSERT_MAX entries, for a batch such as
 * reconciliation's backfill, which must not cost a round trip per entry. Built without the
 * database, so that the batch builds them while its previous statements execute
 * (contracts/decisions/0236-backfill-writes-prepared-ahead.md); sent with runWrites in the
 * caller's transaction. Each entry is asserted by journalEntryParameters, as insertJournalEntry
 * asserts it, and written from those very parameters. For entries of new causes only (a
 * payment's entries): there is no ON CONFLICT here, so an entry its cause already has is a unique
 * violation, and the batch rolls back.
 */
export function paymentJournalEntryWrites(entries: readonly JournalEntry[], createdAt: Date, ids: readonly string[]): PreparedWrite[] {
  assert(ids.length === entries.length, `${entries.length} entries need as many row ids, got ${ids.length}`);
  const parameters = entries.map((entry) => journalEntryParameters(entry, createdAt));
  const writes: PreparedWrite[] = [];
  for (let start = 0; start < parameters.length; start += JOURNAL_ENTRIES_PER_INSERT_MAX) {
    const chunk = parameters.slice(start, start + JOURNAL_ENTRIES_PER_INSERT_MAX);
    const rows = chunk.map((p, index) => ({
      id: ids[start + index],
      kind: p.entry_kind,
      accounting_date: p.entry_accounting_date,
      cause_date: p.entry_cause_date,
      payment_id: p.entry_payment_id,
      instruction_id: p.entry_instruction_id,
      refund_id: p.entry_refund_id,
      bank_posting_id: p.entry_bank_posting_id,
      discrepancy_id: p.entry_discrepancy_id,
      reverses_entry_id: p.entry_reverses_entry_id,
    }));
    const lines = chunk.flatMap((p, index) => (JSON.parse(p.entry_lines) as Array<Record<string, unknown>>).map((line) => ({ entry_id: ids[start + index], ...line })));
    writes.push({
      what: 'payment journal entries',
      sql: `WITH e AS (
         INSERT INTO journal_entries (id, kind, accounting_date, for_date, payment_id, instruction_id, refund_id, bank_posting_id, discrepancy_id, reverses_entry_id, created_at)
         SELECT r.id, r.kind, ${ACCOUNTING_DATE_SQL('r')}, ${FOR_DATE_SQL('r')}, r.payment_id, r.instruction_id, r.refund_id, r.bank_posting_id, r.discrepancy_id, r.reverses_entry_id, ?::timestamptz
           FROM json_to_recordset(?::json) AS r(id bigint, kind text, accounting_date date, cause_date date, payment_id bigint, instruction_id bigint, refund_id bigint,
                                                bank_posting_id bigint, discrepancy_id bigint, reverses_entry_id bigint),
                (SELECT max(business_date) AS last FROM accounting_cutoffs) AS cutoff
         RETURNING id
       ),
       l AS (
         INSERT INTO journal_lines (entry_id, line_no, account, side, amount)
         SELECT l.entry_id, l.line_no, l.account, l.side, l.amount
           FROM json_to_recordset(?::json) AS l(entry_id bigint, line_no smallint, account text, side text, amount numeric)
         RETURNING entry_id
       )
       SELECT (SELECT count(*) FROM e)::int AS entries, (SELECT count(*) FROM l)::int AS lines`,
      bindings: [createdAt, JSON.stringify(rows), JSON.stringify(lines)],
      expect: { entries: rows.length, lines: lines.length },
    });
  }
  return writes;
}

/** Entries one INSERT of insertJournalEntries carries at most. */
export const JOURNAL_ENTRIES_PER_INSERT_MAX = 5_000;

/**
 * Writes many journal entries in the caller's transaction: the set-based form of
 * insertJournalEntry for a batch (a camt.053 statement's unidentified credits), with the same
 * columns, the same checks (journalEntryParameters asserts each entry) and the same once-per-cause
 * rule. One round trip per JOURNAL_ENTRIES_PER_INSERT_MAX entries; an entry its cause already has
 * is handed to insertJournalEntry, which answers it (or crashes on other lines). Only the kinds
 * with a once-per-cause index (migration 20261201000301) — not the payment kinds — and each
 * cause at most once per call. The answers are in the entries' order.
 */
export async function insertJournalEntries(trx: Knex.Transaction, entries: readonly JournalEntry[], createdAt: Date): Promise<WrittenJournalEntry[]> {
  assert(trx.isTransaction === true, 'journal entries are written inside the transaction of the change they record');
  const answers: WrittenJournalEntry[] = [];
  for (let start = 0; start < entries.length; start += JOURNAL_ENTRIES_PER_INSERT_MAX) {
    answers.push(...(await insertJournalEntryBatch(trx, entries.slice(start, start + JOURNAL_ENTRIES_PER_INSERT_MAX), createdAt)));
  }
  return answers;
}

async function insertJournalEntryBatch(trx: Knex.Transaction, entries: readonly JournalEntry[], createdAt: Date): Promise<WrittenJournalEntry[]> {
  if (entries.length === 0) return [];
  const causes = new Set<string>();
  const rows = entries.map((entry, ord) => {
    assert(entry.kind !== JOURNAL_ENTRY_KINDS.paymentSucceeded && entry.kind !== JOURNAL_ENTRY_KINDS.paymentUnapplied, 'a payment entry is written by its posting, not in a batch');
    const parameters = journalEntryParameters(entry, createdAt);
    const name = REQUIRED_REFERENCE[entry.kind];
    const cause = `${entry.kind}:${entry.references[name] as string}`;
    assert(!causes.has(cause), `${cause} appears twice in one batch of entries`);
    causes.add(cause);
    return {
      ord,
      kind: parameters.entry_kind,
      accounting_date: parameters.entry_accounting_date,
      payment_id: parameters.entry_payment_id,
      instruction_id: parameters.entry_instruction_id,
      refund_id: parameters.entry_refund_id,
      bank_posting_id: parameters.entry_bank_posting_id,
      discrepancy_id: parameters.entry_discrepancy_id,
      reverses_entry_id: parameters.entry_reverses_entry_id,
      lines: JSON.parse(parameters.entry_lines) as unknown,
    };
  });
  // Each inserted entry is told from the others by its kind and cause (unique in the batch).
  const causeOf = `CASE kind ${Object.entries(REQUIRED_REFERENCE).map(([kind, name]) => `WHEN '${kind}' THEN ${REFERENCE_COLUMNS[name]}`).join(' ')} END`;
  const result = await trx.raw<{ rows: Array<{ ord: number; entry_id: string; lines: number }> }>(
    `WITH input AS (
       SELECT e.*, ${causeOf} AS cause
         FROM json_to_recordset(?::json) AS e(ord int, kind text, accounting_date date, cause_date date, payment_id bigint, instruction_id bigint, refund_id bigint,
                                              bank_posting_id bigint, discrepancy_id bigint, reverses_entry_id bigint, lines json)
     ), inserted AS (
       INSERT INTO journal_entries (kind, accounting_date, for_date, payment_id, instruction_id, refund_id, bank_posting_id, discrepancy_id, reverses_entry_id, created_at)
       SELECT kind, ${ACCOUNTING_DATE_SQL('input')}, ${FOR_DATE_SQL('input')}, payment_id, instruction_id, refund_id, bank_posting_id, discrepancy_id, reverses_entry_id, ?::timestamptz
         FROM input, (SELECT max(business_date) AS last FROM accounting_cutoffs) AS cutoff ORDER BY ord
       ON CONFLICT DO NOTHING
       RETURNING id, kind, ${causeOf} AS cause
     ), written AS (
       SELECT i.id, input.ord, input.lines FROM inserted i JOIN input ON input.kind = i.kind AND input.cause = i.cause
     ), written_lines AS (
       INSERT INTO journal_lines (entry_id, line_no, account, side, amount)
       SELECT w.id, l.line_no, l.account, l.side, l.amount
         FROM written w, json_to_recordset(w.lines) AS l(line_no smallint, account text, side text, amount numeric)
       RETURNING entry_id
     ), line_counts AS (
       SELECT entry_id, count(*)::int AS lines FROM written_lines GROUP BY entry_id
     )
     SELECT w.ord, w.id::text AS entry_id, COALESCE(c.lines, 0) AS lines FROM written w LEFT JOIN line_counts c ON c.entry_id = w.id`,
    [JSON.stringify(rows), createdAt],
  );
  const answers: Array<WrittenJournalEntry | undefined> = entries.map(() => undefined);
  for (const row of result.rows) {
    const entry = entries[row.ord];
    assert(entry !== undefined && answers[row.ord] === undefined, `the batch wrote entry ${row.ord} once`);
    assert(row.lines === entry.lines.length, `entry ${row.entry_id}: ${entry.lines.length} lines, wrote ${row.lines}`);
    answers[row.ord] = { entryId: row.entry_id, written: true };
  }
  for (let ord = 0; ord < entries.length; ord += 1) {
    // Its cause had it already: the single writer finds it and compares its lines.
    if (answers[ord] === undefined) answers[ord] = await insertJournalEntry(trx, entries[ord] as JournalEntry, createdAt);
  }
  return answers as WrittenJournalEntry[];
}

function sameLines(a: JournalEntry, b: JournalEntry): boolean {
  return a.lines.length === b.lines.length && a.lines.every((line, index) => {
    const other = b.lines[index];
    return other !== undefined && line.account === other.account && line.side === other.side && line.amount.eq(other.amount);
  });
}

/** A stored entry with its lines, in line order; undefined when there is none. */
export async function findJournalEntry(db: Knex | Knex.Transaction, entryId: string): Promise<StoredJournalEntry | undefined> {
  const result = await db.raw<{
    rows: Array<Record<(typeof REFERENCE_COLUMNS)[JournalReferenceName], string | null> & { id: string; kind: JournalEntryKind; accounting_date: string; lines: Array<{ account: string; side: JournalSide; amount: string }> }>;
  }>(
    `SELECT e.id::text AS id, e.kind, to_char(e.accounting_date, 'YYYY-MM-DD') AS accounting_date,
            e.payment_id::text AS payment_id, e.instruction_id::text AS instruction_id, e.refund_id::text AS refund_id,
            e.bank_posting_id::text AS bank_posting_id, e.discrepancy_id::text AS discrepancy_id, e.reverses_entry_id::text AS reverses_entry_id,
            (SELECT json_agg(json_build_object('account', l.account, 'side', l.side, 'amount', l.amount::text) ORDER BY l.line_no)
               FROM journal_lines l WHERE l.entry_id = e.id) AS lines
       FROM journal_entries e WHERE e.id = ?::bigint`,
    [entryId],
  );
  const row = result.rows[0];
  if (row === undefined) return undefined;
  const references: JournalReferences = {};
  for (const name of JOURNAL_REFERENCE_NAMES) {
    const value = row[REFERENCE_COLUMNS[name]];
    if (value !== null && value !== undefined) references[name] = value;
  }
  return { id: row.id, kind: row.kind, accountingDate: row.accounting_date, references, lines: (row.lines ?? []).map((line) => ({ account: line.account, side: line.side, amount: new Decimal(line.amount) })) };
}

// ---- verifying -------------------------------------------------------------------------------

/** An account prefix as an SQL literal: our own constant, checked to need no escaping. */
function prefixLiteral(kind: Parameters<typeof accountPrefix>[0]): string {
  const prefix = accountPrefix(kind);
  assert(/^[a-z_:]+$/.test(prefix), `account prefix ${prefix} is a plain literal`);
  return `'${prefix}'`;
}

const CLEARING = prefixLiteral('agencyClearing');
const PENDING = prefixLiteral('revenuePending');
const UNAPPLIED = prefixLiteral('suspenseUnapplied');
const IN_TRANSIT = prefixLiteral('inTransit');
const RECEIVING = prefixLiteral('receiving');
const REVENUE = prefixLiteral('revenue');
/** The one unidentified suspense account, as an SQL literal. */
const UNIDENTIFIED = `'${ACCOUNTS.suspenseUnidentified()}'`;
/** The kinds of a payment's posting entry, as an SQL list. */
const POSTING_KINDS = `'${JOURNAL_ENTRY_KINDS.paymentSucceeded}', '${JOURNAL_ENTRY_KINDS.paymentUnapplied}'`;

/**
 * The invariants `ledger verify` checks (docs/lifecycle.md §4, docs/settlement.md §6), one query
 * each. A query returns the rows that break its invariant — none when it holds — as
 * `{subject, detail}`: `subject` names what is broken (an entry, an agency, a payCode), `detail`
 * says how, as JSON. Accounts are selected by the prefixes of the functions that name them
 * (src/domain/ledger.ts, accountPrefix), kinds by JOURNAL_ENTRY_KINDS.
 *
 * Settlement is known from its own records (docs/settlement.md §6): executed settlements leave
 * the agencies' clearing balances (`instructions`, reported EXECUTED or CONFIRMED), executed and
 * unconfirmed ones sit in transit, confirmed ones are in the receiving accounts and have moved
 * their items from pending revenue. Corrections (write-offs, mismatch differences, CORRECTION_KINDS)
 * add theirs; confirmed refunds (agency: clearing and pending revenue; bank: the receiving account) and unidentified credits add their terms; a movement these
 * queries do not know of shows up as a break, which is the point. Reversals: a
 * reversed payment leaves every balance below, and its mirror takes its entry's lines back out.
 */
export interface LedgerCheck {
  name: string;
  /** The invariant, in a sentence. */
  invariant: string;
  /** Rows `{subject text, detail json}` that break it, at most LIMIT @limit; `@today` is the business date of the check. */
  sql: string;
  /** The check reads `@today` and is left out when the caller gives no business date. */
  needsToday?: boolean;
}

/**
 * The lines of the correction entries finance's discrepancy resolutions write (WRITE_OFF,
 * MISMATCH_SURPLUS, MISMATCH_DEFICIT, docs/reconciliation.md §3), signed as the balance of `kind`
 * of account counts them, per account part: the balance checks below add them ("± its
 * corrections"), and `discrepancyCorrections` checks each against the resolution that wrote it.
 */
const CORRECTION_KINDS = `'${JOURNAL_ENTRY_KINDS.writeOff}', '${JOURNAL_ENTRY_KINDS.mismatchSurplus}', '${JOURNAL_ENTRY_KINDS.mismatchDeficit}'`;
function corrections(prefix: string, creditIsPositive: boolean): string {
  return `SELECT substr(l.account, length(${prefix}) + 1) AS part,
                 sum(CASE l.side WHEN '${creditIsPositive ? 'CREDIT' : 'DEBIT'}' THEN l.amount ELSE -l.amount END) AS balance
            FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
           WHERE e.kind IN (${CORRECTION_KINDS}) AND starts_with(l.account, ${prefix})
           GROUP BY l.account`;
}
/** Days after which every payment must be matched or held by an unresolved discrepancy (docs/reconciliation.md §2). */
export const RECONCILED_WITHIN_DAYS = 8;
/**
 * A payment recorded late (a captured-funds posting with an old `paidAt`) is the reconcile job's from
 * the moment it is recorded, whatever its business date: the check leaves it alone until a whole
 * business day of the job's slots has passed after the day it was recorded on
 * (contracts/decisions/0210-late-postings-requeue-their-date.md).
 */
export const LATE_POSTING_GRACE_DAYS = 1;

/**
 * Days a MISMATCHED instruction may wait for finance (DETACH, docs/settlement.md §1) before
 * `ledger verify` reports it: its posting's money is in no account's books meanwhile
 * (contracts/decisions/0196-mismatched-money-visible.md).
 */
export const MISMATCH_RESOLVED_WITHIN_DAYS = 3;

/**
 * Refund instructions of a payment's refund (not RETURNs of unidentified credits): the agency's
 * debit its clearing account, the receiving bank's the receiving account (src/services/refunds.ts).
 */
const AGENCY_REFUND = `type = 'REFUND' AND refund_id IS NOT NULL AND executor_party_id = agency_party_id`;
const BANK_REFUND = `type = 'REFUND' AND refund_id IS NOT NULL AND executor_party_id <> agency_party_id`;

/** Amounts compared as NUMERIC in SQL and written as text in details, never as JSON numbers. */
const PAID_STATUSES = `('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')`;

/** A payment that applied and still stands: its notice is paid by it. */
const LIVE_APPLIED = `p.unapplied_reason IS NULL AND p.status <> 'REVERSED'`;

export const LEDGER_CHECKS: LedgerCheck[] = [
  {
    name: 'entriesBalance',
    invariant: 'every journal entry has at least two lines and its debits equal its credits',
    sql: `
      SELECT 'entry ' || e.id AS subject,
             json_build_object('kind', e.kind, 'lines', count(l.entry_id),
                               'debit', COALESCE(sum(l.amount) FILTER (WHERE l.side = 'DEBIT'), 0)::text,
                               'credit', COALESCE(sum(l.amount) FILTER (WHERE l.side = 'CREDIT'), 0)::text) AS detail
        FROM journal_entries e
        LEFT JOIN journal_lines l ON l.entry_id = e.id
       GROUP BY e.id
      HAVING count(l.entry_id) < 2
          OR COALESCE(sum(l.amount) FILTER (WHERE l.side = 'DEBIT'), 0) <> COALESCE(sum(l.amount) FILTER (WHERE l.side = 'CREDIT'), 0)
       ORDER BY e.id
       LIMIT @limit`,
  },
  {
    name: 'trialBalance',
    invariant: 'the trial balance is zero: all debits equal all credits',
    sql: `
      SELECT 'ledger' AS subject,
             json_build_object('debit', COALESCE(sum(amount) FILTER (WHERE side = 'DEBIT'), 0)::text,
                               'credit', COALESCE(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)::text) AS detail
        FROM journal_lines
      HAVING COALESCE(sum(amount) FILTER (WHERE side = 'DEBIT'), 0) <> COALESCE(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)
       LIMIT @limit`,
  },
  {
    name: 'agencyClearing',
    invariant: "each agency's clearing balance equals its payments not reversed less its executed settlements and its confirmed agency refunds, corrected by its discrepancy resolutions",
    sql: `
      WITH ledger AS (
        SELECT substr(account, length(${CLEARING}) + 1) AS agency_code,
               sum(CASE side WHEN 'DEBIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE starts_with(account, ${CLEARING}) GROUP BY account
      ), movements AS (
        SELECT agency_code, amount FROM payments WHERE status <> 'REVERSED'
        UNION ALL
        -- A settlement has left the clearing account once the agency reported it executed or the bank confirmed it.
        SELECT agency_code, -amount FROM instructions
         WHERE type = 'SETTLEMENT' AND (reported_status = 'EXECUTED' OR status = 'CONFIRMED')
        UNION ALL
        -- A refund the agency paid back out of its clearing account, once confirmed (docs/settlement.md §3).
        SELECT agency_code, -amount FROM instructions
         WHERE ${AGENCY_REFUND} AND status = 'CONFIRMED'
        UNION ALL
        SELECT part, balance FROM (${corrections(CLEARING, false)}) c
      ), expected AS (
        SELECT agency_code, sum(amount) AS balance FROM movements GROUP BY agency_code
      )
      SELECT 'agency ' || COALESCE(l.agency_code, x.agency_code) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'expected', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.agency_code = l.agency_code
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'inTransit',
    invariant: "each receiving account's in-transit balance equals the settlements to it executed and not yet confirmed; a confirmed settlement leaves nothing in transit",
    sql: `
      (WITH ledger AS (
        SELECT substr(account, length(${IN_TRANSIT}) + 1) AS account_no,
               sum(CASE side WHEN 'DEBIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE starts_with(account, ${IN_TRANSIT}) GROUP BY account
      ), expected AS (
        SELECT credit_account_no AS account_no, sum(amount) AS balance FROM instructions
         WHERE type = 'SETTLEMENT' AND reported_status = 'EXECUTED' AND status <> 'CONFIRMED'
         GROUP BY credit_account_no
      )
      SELECT 'account ' || COALESCE(l.account_no, x.account_no) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'executedNotConfirmed', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.account_no = l.account_no
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit)
      UNION ALL
      (SELECT 'instruction ' || i.instruction_no AS subject,
              json_build_object('inTransit', COALESCE(sum(CASE l.side WHEN 'DEBIT' THEN l.amount ELSE -l.amount END), 0)::text,
                                'executed', count(*) FILTER (WHERE e.kind = '${JOURNAL_ENTRY_KINDS.settlementExecuted}'),
                                'confirmed', count(*) FILTER (WHERE e.kind = '${JOURNAL_ENTRY_KINDS.settlementConfirmed}')) AS detail
         FROM instructions i
         LEFT JOIN journal_entries e ON e.instruction_id = i.id
         LEFT JOIN journal_lines l ON l.entry_id = e.id AND starts_with(l.account, ${IN_TRANSIT})
        WHERE i.type = 'SETTLEMENT' AND i.status = 'CONFIRMED'
        GROUP BY i.id
       HAVING COALESCE(sum(CASE l.side WHEN 'DEBIT' THEN l.amount ELSE -l.amount END), 0) <> 0
           OR count(DISTINCT e.id) FILTER (WHERE e.kind = '${JOURNAL_ENTRY_KINDS.settlementConfirmed}') <> 1
        ORDER BY i.id
        LIMIT @limit)`,
  },
  {
    name: 'receiving',
    invariant: "each receiving account's balance equals its confirmed credits less its confirmed debits: the settlements confirmed to it and the credits still unidentified, less the bank refunds confirmed from it",
    sql: `
      WITH ledger AS (
        SELECT substr(account, length(${RECEIVING}) + 1) AS account_no,
               sum(CASE side WHEN 'DEBIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE starts_with(account, ${RECEIVING}) GROUP BY account
      ), movements AS (
        SELECT credit_account_no AS account_no, amount FROM instructions WHERE type = 'SETTLEMENT' AND status = 'CONFIRMED'
        UNION ALL
        -- A refund the receiving bank paid out of the account, once confirmed (docs/settlement.md §3).
        -- A refund split over several accounts books them all when its last instruction confirms
        -- (contracts/decisions/0170-refund-several-accounts.md): until then its confirmed ones wait.
        SELECT debit_account_no, -amount FROM instructions i WHERE ${BANK_REFUND} AND status = 'CONFIRMED'
           AND EXISTS (SELECT 1 FROM refunds r WHERE r.id = i.refund_id AND r.status = 'SUCCEEDED')
        UNION ALL
        -- An unidentified credit is in the account (docs/settlement.md §2), held in suspense until linked or returned.
        SELECT account_no, amount FROM bank_postings WHERE direction = 'CREDIT' AND status = 'UNIDENTIFIED'
      ), expected AS (
        SELECT account_no, sum(amount) AS balance FROM movements GROUP BY account_no
      )
      SELECT 'account ' || COALESCE(l.account_no, x.account_no) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'expected', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.account_no = l.account_no
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'settledPaymentsReconciled',
    invariant:
      'every payment in a live settlement instruction is reconciled: matched, its discrepancy accepted or written off, or held by a discrepancy a later statement opened after it was settled',
    // A superseding statement may leave out a settled payment: its shortage is finance's to resolve
    // by ACCEPT_PLATFORM (docs/reconciliation.md §3; WRITE_OFF of settled money is refused since
    // decision 0219, and stays here for what was written off before), not a break of the books. A
    // discrepancy opened before the instruction was made is a break: settle never takes held money
    // (contracts/decisions/0194-settled-payments-held-by-a-later-statement.md).
    sql: `
      SELECT 'payment ' || p.payment_id AS subject, json_build_object('instructionNo', min(i.instruction_no)) AS detail
        FROM instruction_payment_items x
        JOIN instructions i ON i.id = x.instruction_id
        JOIN payments p ON p.id = x.payment_id
       WHERE x.live
         AND NOT EXISTS (SELECT 1 FROM statement_matches m WHERE m.payment_id = p.id AND m.released_at IS NULL)
         AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies d
                          WHERE d.payment_id = p.id
                            AND ((d.status = 'RESOLVED' AND d.resolution_action IN ('ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF'))
                                 OR (d.status IN ('CARRIED_OVER', 'OPEN') AND d.created_at >= i.created_at)))
       GROUP BY p.payment_id
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'instructionItemsResolve',
    invariant: "each settlement's payment item names an existing instruction, the payment and a line of the payment's notice",
    sql: `
      SELECT 'instruction item ' || x.instruction_id || '/' || x.payment_id || '/' || x.line_position AS subject,
             json_build_object('instruction', i.id IS NOT NULL, 'payment', p.id IS NOT NULL, 'noticeLine', n.notice_id IS NOT NULL) AS detail
        FROM instruction_payment_items x
        LEFT JOIN instructions i ON i.id = x.instruction_id
        LEFT JOIN payments p ON p.id = x.payment_id AND p.notice_id = x.notice_id
        LEFT JOIN notice_items n ON n.notice_id = x.notice_id AND n.position = x.line_position
       WHERE i.id IS NULL OR p.id IS NULL OR n.notice_id IS NULL
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'reconciliationRowsResolve',
    invariant: "each statement line names an existing statement, each match an existing payment, statement line and run, and each discrepancy its agency, runs and whatever payment and statement it names (they carry no per-row foreign keys, migrations 20261202009000 and 20261211000500)",
    sql: `
      (SELECT 'statement line ' || l.statement_id || '/' || l.line_no AS subject, json_build_object('statement', false) AS detail
         FROM agency_statement_lines l LEFT JOIN agency_statements s ON s.id = l.statement_id
        WHERE s.id IS NULL
        ORDER BY 1 LIMIT @limit)
      UNION ALL
      (SELECT 'match of statement line ' || m.statement_id || '/' || m.line_no AS subject,
              json_build_object('payment', p.id IS NOT NULL, 'line', l.line_no IS NOT NULL, 'run', r.id IS NOT NULL) AS detail
         FROM statement_matches m
         LEFT JOIN payments p ON p.id = m.payment_id
         LEFT JOIN agency_statement_lines l ON l.statement_id = m.statement_id AND l.line_no = m.line_no
         LEFT JOIN reconciliation_runs r ON r.id = m.run_id
        WHERE p.id IS NULL OR l.line_no IS NULL OR r.id IS NULL
        ORDER BY 1 LIMIT @limit)
      UNION ALL
      (SELECT 'discrepancy ' || d.discrepancy_id AS subject,
              json_build_object('agency', a.id IS NOT NULL, 'payment', d.payment_id IS NULL OR p.id IS NOT NULL,
                                'statement', d.statement_id IS NULL OR s.id IS NOT NULL, 'firstRun', f.id IS NOT NULL, 'lastRun', r.id IS NOT NULL) AS detail
         FROM reconciliation_discrepancies d
         LEFT JOIN parties a ON a.id = d.agency_party_id AND a.role = 'agency'
         LEFT JOIN payments p ON p.id = d.payment_id
         LEFT JOIN agency_statements s ON s.id = d.statement_id
         LEFT JOIN reconciliation_runs f ON f.id = d.first_run_id
         LEFT JOIN reconciliation_runs r ON r.id = d.last_run_id
        WHERE a.id IS NULL OR (d.payment_id IS NOT NULL AND p.id IS NULL) OR (d.statement_id IS NOT NULL AND s.id IS NULL) OR f.id IS NULL OR r.id IS NULL
        ORDER BY 1 LIMIT @limit)`,
  },
  {
    name: 'statementLineIdentifiers',
    invariant: "each statement line's agencyTxnId and payCode are identifiers: A–Z, a–z, 0–9, '_' and '-' (the loader validates them; the table checks only their lengths, migration 20261205000100)",
    sql: `
      SELECT 'statement line ' || l.statement_id || '/' || l.line_no AS subject,
             json_build_object('agencyTxnId', l.agency_txn_id, 'payCode', l.pay_code) AS detail
        FROM agency_statement_lines l
       WHERE l.agency_txn_id !~ '^[A-Za-z0-9_-]+$' OR l.pay_code !~ '^[A-Za-z0-9_-]+$'
       ORDER BY l.statement_id, l.line_no
       LIMIT @limit`,
  },
  {
    name: 'instructionsTie',
    invariant: "each settlement's lines and payment items add up to its amount",
    sql: `
      SELECT 'instruction ' || i.instruction_no AS subject,
             json_build_object('amount', i.amount::text,
                               'lines', (SELECT COALESCE(sum(amount), 0) FROM instruction_lines WHERE instruction_id = i.id)::text,
                               'items', (SELECT COALESCE(sum(amount), 0) FROM instruction_payment_items WHERE instruction_id = i.id)::text) AS detail
        FROM instructions i
       WHERE i.type = 'SETTLEMENT'
         AND (i.amount <> (SELECT COALESCE(sum(amount), 0) FROM instruction_lines WHERE instruction_id = i.id)
              OR i.amount <> (SELECT COALESCE(sum(amount), 0) FROM instruction_payment_items WHERE instruction_id = i.id))
       ORDER BY i.id
       LIMIT @limit`,
  },
  {
    // docs/settlement.md §4, contracts/decisions/0155-settled-revenue-shares.md.
    name: 'settledShares',
    invariant: "each confirmed settlement's payment items are stored per budget level, each item's shares adding up to its settled amount, and the stored shares add up, per revenue account, to what SETTLEMENT_CONFIRMED entries credited it",
    sql: `
      WITH items AS (
        SELECT x.instruction_id, x.payment_id, x.line_position, x.amount
          FROM instructions s JOIN instruction_payment_items x ON x.instruction_id = s.id
         WHERE s.type = 'SETTLEMENT' AND s.status = 'CONFIRMED'
      ), stored AS (
        SELECT instruction_id, payment_id, line_position, sum(amount) AS amount
          FROM settled_revenue_shares GROUP BY instruction_id, payment_id, line_position
      ), by_item AS (
        SELECT 'instruction ' || i.instruction_no || ' payment ' || COALESCE(x.payment_id, y.payment_id) || ' line ' || COALESCE(x.line_position, y.line_position) AS subject,
               json_build_object('settled', x.amount::text, 'shares', y.amount::text) AS detail
          FROM items x FULL JOIN stored y ON y.instruction_id = x.instruction_id AND y.payment_id = x.payment_id AND y.line_position = x.line_position
          JOIN instructions i ON i.id = COALESCE(x.instruction_id, y.instruction_id)
         WHERE x.amount IS DISTINCT FROM y.amount
      ), ledger AS (
        SELECT l.account, sum(CASE l.side WHEN 'CREDIT' THEN l.amount ELSE -l.amount END) AS amount
          FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
         WHERE e.kind = '${JOURNAL_ENTRY_KINDS.settlementConfirmed}' AND starts_with(l.account, ${REVENUE})
         GROUP BY l.account
      ), shares AS (
        SELECT ${REVENUE} || n.receiving_account_no || ':' || r.budget_level || ':' || n.income_sort_code AS account, sum(r.amount) AS amount
          FROM settled_revenue_shares r
          JOIN instruction_payment_items x ON x.instruction_id = r.instruction_id AND x.payment_id = r.payment_id AND x.line_position = r.line_position
          JOIN notice_items n ON n.notice_id = x.notice_id AND n.position = x.line_position
         GROUP BY 1
      ), by_account AS (
        SELECT 'account ' || COALESCE(l.account, h.account) AS subject,
               json_build_object('ledger', COALESCE(l.amount, 0)::text, 'shares', COALESCE(h.amount, 0)::text) AS detail
          FROM ledger l FULL JOIN shares h ON h.account = l.account
         WHERE COALESCE(l.amount, 0) <> COALESCE(h.amount, 0)
      )
      SELECT subject, detail FROM by_item
      UNION ALL
      SELECT subject, detail FROM by_account
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    // contracts/decisions/0215-refunded-revenue-shares.md.
    name: 'refundedShares',
    invariant: "each bank refund's confirmed instructions are stored per notice line and budget level (refunded_revenue_shares), adding up to each instruction's amount, for exactly the refunds a BANK_REFUND_CONFIRMED entry booked; and the stored shares add up, per revenue account, to what BANK_REFUND_CONFIRMED entries debited it",
    sql: `
      WITH booked AS (
        SELECT i.refund_id, i.id AS instruction_id, i.amount
          FROM instructions i
         WHERE ${BANK_REFUND} AND i.status = 'CONFIRMED'
           AND EXISTS (SELECT 1 FROM journal_entries e WHERE e.refund_id = i.refund_id AND e.kind = '${JOURNAL_ENTRY_KINDS.bankRefundConfirmed}')
      ), stored AS (
        SELECT refund_id, instruction_id, sum(amount) AS amount FROM refunded_revenue_shares GROUP BY refund_id, instruction_id
      ), by_instruction AS (
        SELECT 'refund ' || r.refund_id || ' instruction ' || i.instruction_no AS subject,
               json_build_object('refunded', b.amount::text, 'shares', y.amount::text) AS detail
          FROM booked b FULL JOIN stored y ON y.refund_id = b.refund_id AND y.instruction_id = b.instruction_id
          JOIN refunds r ON r.id = COALESCE(b.refund_id, y.refund_id)
          JOIN instructions i ON i.id = COALESCE(b.instruction_id, y.instruction_id)
         WHERE b.amount IS DISTINCT FROM y.amount
      ), ledger AS (
        SELECT l.account, sum(CASE l.side WHEN 'DEBIT' THEN l.amount ELSE -l.amount END) AS amount
          FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
         WHERE e.kind = '${JOURNAL_ENTRY_KINDS.bankRefundConfirmed}' AND starts_with(l.account, ${REVENUE})
         GROUP BY l.account
      ), shares AS (
        SELECT ${REVENUE} || n.receiving_account_no || ':' || r.budget_level || ':' || n.income_sort_code AS account, sum(r.amount) AS amount
          FROM refunded_revenue_shares r
          JOIN payments p ON p.id = r.payment_id
          JOIN notice_items n ON n.notice_id = p.notice_id AND n.position = r.line_position
         GROUP BY 1
      ), by_account AS (
        SELECT 'account ' || COALESCE(l.account, h.account) AS subject,
               json_build_object('ledger', COALESCE(l.amount, 0)::text, 'shares', COALESCE(h.amount, 0)::text) AS detail
          FROM ledger l FULL JOIN shares h ON h.account = l.account
         WHERE COALESCE(l.amount, 0) <> COALESCE(h.amount, 0)
      )
      SELECT subject, detail FROM by_instruction
      UNION ALL
      SELECT subject, detail FROM by_account
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    // The revenue report's byLevel (docs/settlement.md §4, contracts/decisions/0215-refunded-revenue-shares.md).
    name: 'revenueByLevel',
    invariant: "each revenue account's balance equals the settled shares less the refunded shares stored for it — the figures the revenue report's byLevel adds up — so the report holds what the ledger holds",
    sql: `
      WITH ledger AS (
        SELECT account, sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE starts_with(account, ${REVENUE}) GROUP BY account
      ), shares AS (
        SELECT ${REVENUE} || n.receiving_account_no || ':' || r.budget_level || ':' || n.income_sort_code AS account, r.amount
          FROM settled_revenue_shares r
          JOIN payments p ON p.id = r.payment_id
          JOIN notice_items n ON n.notice_id = p.notice_id AND n.position = r.line_position
        UNION ALL
        SELECT ${REVENUE} || n.receiving_account_no || ':' || r.budget_level || ':' || n.income_sort_code, -r.amount
          FROM refunded_revenue_shares r
          JOIN payments p ON p.id = r.payment_id
          JOIN notice_items n ON n.notice_id = p.notice_id AND n.position = r.line_position
      ), report AS (
        SELECT account, sum(amount) AS balance FROM shares GROUP BY account
      )
      SELECT 'account ' || COALESCE(l.account, x.account) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'report', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN report x ON x.account = l.account
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'paidNotices',
    invariant: "each paid notice has exactly one standing applied payment, and its paid amount is that payment's amount; no other notice has one",
    sql: `
      SELECT 'notice ' || n.pay_code AS subject,
             json_build_object('status', n.status, 'paidAmount', n.paid_amount::text,
                               'payments', json_agg(json_build_object('paymentId', p.payment_id, 'amount', p.amount::text)) FILTER (WHERE p.id IS NOT NULL)) AS detail
        FROM notices n
        LEFT JOIN payments p ON p.notice_id = n.id AND ${LIVE_APPLIED}
       WHERE n.status IN ${PAID_STATUSES} OR p.id IS NOT NULL
       GROUP BY n.id
      HAVING NOT (n.status IN ${PAID_STATUSES})
          OR count(p.id) <> 1
          OR bool_or(p.amount IS DISTINCT FROM n.paid_amount)
       ORDER BY n.id
       LIMIT @limit`,
  },
  {
    name: 'noticeLateFees',
    invariant: "each paid notice's paid amount is its total plus its late fee, and its lines' late fees add up to it",
    sql: `
      SELECT 'notice ' || n.pay_code AS subject,
             json_build_object('totalAmount', n.total_amount::text, 'lateFeePaid', n.late_fee_paid::text, 'paidAmount', n.paid_amount::text,
                               'linesLateFee', sum(i.late_fee_paid)::text, 'linesWithoutLateFee', count(*) FILTER (WHERE i.late_fee_paid IS NULL)) AS detail
        FROM notices n
        JOIN notice_items i ON i.notice_id = n.id
       WHERE n.status IN ${PAID_STATUSES}
       GROUP BY n.id
      HAVING n.paid_amount IS DISTINCT FROM n.total_amount + n.late_fee_paid
          OR count(*) FILTER (WHERE i.late_fee_paid IS NULL) > 0
          OR sum(i.late_fee_paid) IS DISTINCT FROM n.late_fee_paid
       ORDER BY n.id
       LIMIT @limit`,
  },
  {
    name: 'suspenseUnapplied',
    invariant: "each agency's unapplied suspense balance equals its unapplied money not reversed and not yet refunded, corrected by its discrepancy resolutions",
    sql: `
      WITH ledger AS (
        SELECT substr(account, length(${UNAPPLIED}) + 1) AS agency_code,
               sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE starts_with(account, ${UNAPPLIED}) GROUP BY account
      ), expected AS (
        SELECT p.agency_code,
               sum(p.amount) - COALESCE(sum((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id AND r.status = 'SUCCEEDED')), 0) AS balance
          FROM payments p
         WHERE p.unapplied_reason IS NOT NULL AND p.status <> 'REVERSED'
         GROUP BY p.agency_code
        UNION ALL
        SELECT part, balance FROM (${corrections(UNAPPLIED, true)}) c
      ), summed AS (
        SELECT agency_code, sum(balance) AS balance FROM expected GROUP BY agency_code
      )
      SELECT 'agency ' || COALESCE(l.agency_code, x.agency_code) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'unappliedNotRefunded', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN summed x ON x.agency_code = l.agency_code
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'revenuePending',
    invariant: "each receiving account's pending revenue equals the items (with their late fees) of the standing applied payments less the items confirmed settlements recognised and the parts confirmed agency refunds took back, less its write-offs, and is not below zero",
    // Below zero, the account would be owed revenue back: a write-off took what a settlement or a
    // refund had taken already (contracts/decisions/0219-write-off-of-settled-payments.md). The
    // sum above counts the write-offs, so it would agree; the sign is checked on the same scan.
    sql: `
      WITH ledger AS (
        SELECT substr(account, length(${PENDING}) + 1) AS account_no,
               sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE starts_with(account, ${PENDING}) GROUP BY account
      ), movements AS (
        SELECT i.receiving_account_no AS account_no, i.amount + COALESCE(i.late_fee_paid, 0) AS amount
          FROM payments p JOIN notice_items i ON i.notice_id = p.notice_id
         WHERE ${LIVE_APPLIED}
        UNION ALL
        SELECT n.receiving_account_no, -x.amount
          FROM instructions s
          JOIN instruction_payment_items x ON x.instruction_id = s.id
          JOIN notice_items n ON n.notice_id = x.notice_id AND n.position = x.line_position
         WHERE s.type = 'SETTLEMENT' AND s.status = 'CONFIRMED'
        UNION ALL
        -- What confirmed agency refunds of applied money took back (refund_items, migration 20261203000101).
        SELECT x.receiving_account_no, -x.amount FROM refund_items x
        UNION ALL
        SELECT part, balance FROM (${corrections(PENDING, true)}) c
      ), expected AS (
        SELECT account_no, sum(amount) AS balance FROM movements GROUP BY account_no
      )
      SELECT 'account ' || COALESCE(l.account_no, x.account_no) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'expected', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.account_no = l.account_no
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0) OR COALESCE(l.balance, 0) < 0
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'refundsConfirmed',
    invariant: 'each SUCCEEDED refund has confirmed refund instructions adding up to its amount (one for an agency refund, one per receiving account for a bank refund, decision 0170) and one refund entry of its kind (AGENCY_REFUND_CONFIRMED crediting the agency clearing account, or BANK_REFUND_CONFIRMED crediting the receiving account) with its amount; an agency refund of applied money has its parts per receiving account adding up to it; no other refund has any of these',
    // Set-based (contracts/decisions/0198-ledger-verify-scales.md): each refund's confirmed
    // instructions, entries, credited lines and items are summed once per table and joined by
    // refund, not looked up per refund — `instructions.refund_id` had no index then (it has one
    // since decision 0216, `instructions_refund`) and the refund kinds' (`journal_entries_once_per_refund`)
    // covers only their own kinds, so a lookup per refund scanned both tables for each one.
    sql: `
      WITH confirmed AS (
        SELECT i.refund_id, count(*) AS instructions, sum(i.amount) AS amount,
               count(*) FILTER (WHERE i.executor_party_id = i.agency_party_id) AS by_agency,
               count(*) FILTER (WHERE i.executor_party_id <> i.agency_party_id) AS by_bank,
               count(DISTINCT i.debit_account_no) FILTER (WHERE i.executor_party_id <> i.agency_party_id) AS bank_accounts,
               bool_or(i.executor_party_id = i.agency_party_id) AS agency_refund
          FROM instructions i
         WHERE i.refund_id IS NOT NULL AND i.status = 'CONFIRMED'
         GROUP BY i.refund_id
      ), entries AS (
        SELECT e.refund_id, count(*) AS entries,
               count(*) FILTER (WHERE e.kind = '${JOURNAL_ENTRY_KINDS.agencyRefundConfirmed}') AS agency_entries,
               count(*) FILTER (WHERE e.kind = '${JOURNAL_ENTRY_KINDS.bankRefundConfirmed}') AS bank_entries
          FROM journal_entries e
         WHERE e.refund_id IS NOT NULL
         GROUP BY e.refund_id
      ), credited AS (
        SELECT e.refund_id, sum(l.amount) AS amount
          FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'CREDIT'
         WHERE e.refund_id IS NOT NULL AND (starts_with(l.account, ${CLEARING}) OR starts_with(l.account, ${RECEIVING}))
         GROUP BY e.refund_id
      ), items AS (
        SELECT x.refund_id, sum(x.amount) AS amount FROM refund_items x GROUP BY x.refund_id
      )
      SELECT 'refund ' || r.refund_id AS subject,
             json_build_object('status', r.status, 'amount', r.amount::text,
                               'confirmedInstructions', COALESCE(c.instructions, 0),
                               'confirmedAmount', COALESCE(c.amount, 0)::text,
                               'entries', COALESCE(n.entries, 0),
                               'credited', COALESCE(k.amount, 0)::text,
                               'items', COALESCE(x.amount, 0)::text) AS detail
        FROM refunds r JOIN payments p ON p.id = r.payment_id
        LEFT JOIN confirmed c ON c.refund_id = r.id
        LEFT JOIN entries n ON n.refund_id = r.id
        LEFT JOIN credited k ON k.refund_id = r.id
        LEFT JOIN items x ON x.refund_id = r.id
       WHERE (r.status = 'SUCCEEDED') <> (COALESCE(c.amount, 0) = r.amount)
          OR COALESCE(c.by_agency, 0) > 1
          OR COALESCE(c.by_bank, 0) <> COALESCE(c.bank_accounts, 0)
          -- The entry of its kind: AGENCY_REFUND_CONFIRMED when a confirmed instruction is the agency's, else BANK_REFUND_CONFIRMED.
          OR (r.status = 'SUCCEEDED') <> (CASE WHEN c.agency_refund THEN COALESCE(n.agency_entries, 0) ELSE COALESCE(n.bank_entries, 0) END = 1)
          OR COALESCE(n.entries, 0) > 1
          OR (r.status = 'SUCCEEDED' AND r.amount <> COALESCE(k.amount, 0))
          OR COALESCE(x.amount, 0)
             <> CASE WHEN r.status = 'SUCCEEDED' AND p.unapplied_reason IS NULL AND COALESCE(n.agency_entries, 0) > 0 THEN r.amount ELSE 0 END
       ORDER BY r.id
       LIMIT @limit`,
  },
  {
    name: 'paymentEntries',
    invariant: "each payment has exactly one posting entry, of its kind, debiting its agency's clearing account with its amount",
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('amount', p.amount::text, 'entries', count(DISTINCT e.id),
                               'kinds', json_agg(DISTINCT e.kind) FILTER (WHERE e.id IS NOT NULL),
                               'clearingDebit', COALESCE(sum(l.amount), 0)::text) AS detail
        FROM payments p
        LEFT JOIN journal_entries e ON e.payment_id = p.id AND e.kind IN (${POSTING_KINDS})
        LEFT JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'DEBIT' AND l.account = ${CLEARING} || p.agency_code
       GROUP BY p.id
      HAVING count(DISTINCT e.id) <> 1
          OR bool_or(e.kind IS DISTINCT FROM CASE WHEN p.unapplied_reason IS NULL THEN '${JOURNAL_ENTRY_KINDS.paymentSucceeded}' ELSE '${JOURNAL_ENTRY_KINDS.paymentUnapplied}' END)
          OR COALESCE(sum(l.amount), 0) <> p.amount
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'reversalsMirror',
    invariant: 'each reversal mirrors the entry it reverses: the same accounts and amounts, line by line, on the other side',
    sql: `
      SELECT 'entry ' || r.id AS subject,
             json_build_object('reverses', r.reverses_entry_id::text, 'kind', o.kind,
                               'lines', (SELECT count(*) FROM journal_lines WHERE entry_id = r.id),
                               'originalLines', (SELECT count(*) FROM journal_lines WHERE entry_id = o.id)) AS detail
        FROM journal_entries r
        JOIN journal_entries o ON o.id = r.reverses_entry_id
       WHERE r.kind = '${JOURNAL_ENTRY_KINDS.reversal}'
         AND EXISTS (SELECT 1
                       FROM (SELECT * FROM journal_lines WHERE entry_id = r.id) rl
                       FULL JOIN (SELECT * FROM journal_lines WHERE entry_id = o.id) ol ON ol.line_no = rl.line_no
                      WHERE rl.line_no IS NULL OR ol.line_no IS NULL
                         OR rl.account <> ol.account OR rl.amount <> ol.amount OR rl.side = ol.side)
       ORDER BY r.id
       LIMIT @limit`,
  },
  {
    name: 'reversedPayments',
    invariant: "a payment's posting entry is reversed exactly when the payment is REVERSED",
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('status', p.status, 'reversals', count(r.id)) AS detail
        FROM payments p
        JOIN journal_entries e ON e.payment_id = p.id AND e.kind IN (${POSTING_KINDS})
        LEFT JOIN journal_entries r ON r.reverses_entry_id = e.id
       GROUP BY p.id
      HAVING (p.status = 'REVERSED') <> (count(r.id) = 1)
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'discrepancyCorrections',
    invariant: 'each resolved discrepancy has exactly the correction entry its action books, of the amount it implies, and no other discrepancy has one (docs/reconciliation.md §3)',
    sql: `
      WITH implied AS (
        SELECT d.id, d.discrepancy_id,
               CASE
                 WHEN d.resolution_action = 'ACCEPT_STATEMENT' AND d.type IN ('AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH') AND d.statement_amount > d.platform_amount THEN '${JOURNAL_ENTRY_KINDS.mismatchSurplus}'
                 WHEN d.resolution_action = 'ACCEPT_STATEMENT' AND d.type IN ('AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH') AND d.statement_amount < d.platform_amount THEN '${JOURNAL_ENTRY_KINDS.mismatchDeficit}'
                 WHEN d.resolution_action = 'WRITE_OFF' AND d.type = 'SHORTAGE' THEN '${JOURNAL_ENTRY_KINDS.writeOff}'
                 WHEN d.resolution_action = 'WRITE_OFF' AND d.type IN ('AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH') AND d.statement_amount < d.platform_amount THEN '${JOURNAL_ENTRY_KINDS.writeOff}'
               END AS kind,
               CASE WHEN d.type = 'SHORTAGE' THEN d.platform_amount ELSE abs(d.statement_amount - d.platform_amount) END AS amount
          FROM reconciliation_discrepancies d
         WHERE d.status = 'RESOLVED'
      ), booked AS (
        SELECT e.discrepancy_id AS id, count(DISTINCT e.id) AS entries, min(e.kind) AS kind,
               sum(l.amount) FILTER (WHERE l.side = 'DEBIT') AS amount
          FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
         WHERE e.kind IN (${CORRECTION_KINDS})
         GROUP BY e.discrepancy_id
      )
      SELECT 'discrepancy ' || COALESCE(i.discrepancy_id, b.id::text) AS subject,
             json_build_object('expectedKind', i.kind, 'expectedAmount', CASE WHEN i.kind IS NULL THEN NULL ELSE i.amount::text END,
                               'entries', COALESCE(b.entries, 0), 'kind', b.kind, 'amount', b.amount::text) AS detail
        FROM (SELECT * FROM implied WHERE kind IS NOT NULL) i
        FULL JOIN booked b ON b.id = i.id
       WHERE i.id IS NULL OR b.id IS NULL OR b.entries <> 1 OR b.kind <> i.kind OR b.amount <> i.amount
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'paymentAgencies',
    invariant: 'each payment names a registered agency, by its id and its code',
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('agencyPartyId', p.agency_party_id::text, 'agencyCode', p.agency_code, 'partyRole', a.role, 'partyCode', a.code) AS detail
        FROM payments p
        LEFT JOIN parties a ON a.id = p.agency_party_id
       WHERE a.id IS NULL OR a.role <> 'agency' OR a.code <> p.agency_code
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'unappliedRefunds',
    invariant: 'each unapplied payment has its refund obligation, for its amount',
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('amount', p.amount::text, 'refundId', r.refund_id, 'refundAmount', r.amount::text) AS detail
        FROM payments p
        LEFT JOIN refunds r ON r.payment_id = p.id AND r.refund_no IS NULL
       WHERE p.unapplied_reason IS NOT NULL AND (r.id IS NULL OR r.amount <> p.amount)
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'suspenseUnidentified',
    invariant: 'the unidentified suspense balance equals the bank credits still UNIDENTIFIED (待查), each booked by one UNIDENTIFIED_CREDIT entry of its amount',
    sql: `
      (SELECT 'account ' || ${UNIDENTIFIED} AS subject,
              json_build_object('ledger', COALESCE((SELECT sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) FROM journal_lines WHERE account = ${UNIDENTIFIED}), 0)::text,
                                'unidentifiedCredits', COALESCE((SELECT sum(amount) FROM bank_postings WHERE status = 'UNIDENTIFIED' AND direction = 'CREDIT'), 0)::text) AS detail
        WHERE COALESCE((SELECT sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) FROM journal_lines WHERE account = ${UNIDENTIFIED}), 0)
           <> COALESCE((SELECT sum(amount) FROM bank_postings WHERE status = 'UNIDENTIFIED' AND direction = 'CREDIT'), 0))
      UNION ALL
      (SELECT 'bank posting ' || p.posting_id AS subject,
              json_build_object('amount', p.amount::text, 'entries', count(e.id), 'booked', COALESCE(sum(l.amount), 0)::text) AS detail
         FROM bank_postings p
         LEFT JOIN journal_entries e ON e.bank_posting_id = p.id AND e.kind = '${JOURNAL_ENTRY_KINDS.unidentifiedCredit}'
         LEFT JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'CREDIT' AND l.account = ${UNIDENTIFIED}
        WHERE p.direction = 'CREDIT' AND p.status IN ('UNIDENTIFIED', 'LINKED', 'RETURNED')
        GROUP BY p.id
       HAVING count(e.id) <> 1 OR COALESCE(sum(l.amount), 0) <> p.amount
        ORDER BY p.id
        LIMIT @limit)`,
  },
  {
    name: 'mismatchedInstructions',
    invariant: `no instruction stays MISMATCHED more than ${MISMATCH_RESOLVED_WITHIN_DAYS} days: the bank posting of another amount that holds it is in no account's books, and the instruction's money waits in transit or in the clearing account, until finance detaches the posting (DETACH)`,
    needsToday: true,
    sql: `
      SELECT 'instruction ' || i.instruction_no AS subject,
             json_build_object('type', i.type, 'amount', i.amount::text, 'postingId', p.posting_id, 'postingAmount', p.amount::text,
                               'direction', p.direction, 'accountNo', p.account_no,
                               'mismatchedOn', to_char(p.resolved_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')) AS detail
        FROM instructions i
        JOIN bank_postings p ON p.instruction_id = i.id AND p.status = 'MISMATCHED'
       WHERE i.status = 'MISMATCHED'
         AND (p.resolved_at AT TIME ZONE 'Asia/Shanghai')::date < CAST(@today AS date) - ${MISMATCH_RESOLVED_WITHIN_DAYS}
       ORDER BY i.id
       LIMIT @limit`,
  },
  {
    name: 'paymentKeys',
    invariant: "each payment is bound by exactly its agency's key, which carries its payCode and amount, and each key names a payment",
    sql: `
      (SELECT 'payment ' || p.payment_id AS subject, json_build_object('agencyTxnId', p.agency_txn_id, 'keys', count(k.payment_id)) AS detail
         FROM payments p
         LEFT JOIN payment_keys k ON k.payment_id = p.id
        GROUP BY p.id
       HAVING count(k.payment_id) <> 1
           OR bool_or(k.agency_party_id <> p.agency_party_id OR k.agency_txn_id <> p.agency_txn_id OR k.pay_code <> p.pay_code OR k.amount <> p.amount)
        LIMIT @limit)
      UNION ALL
      (SELECT 'key ' || k.agency_txn_id AS subject, json_build_object('agencyPartyId', k.agency_party_id::text, 'paymentRowId', k.payment_id::text) AS detail
         FROM payment_keys k
         LEFT JOIN payments p ON p.id = k.payment_id
        WHERE p.id IS NULL
        LIMIT @limit)`,
  },
  {
    name: 'paymentMatchedOnce',
    invariant: 'no payment and no statement line has more than one live match',
    sql: `
      (SELECT 'payment ' || p.payment_id AS subject, json_build_object('liveMatches', count(*)) AS detail
         FROM statement_matches m JOIN payments p ON p.id = m.payment_id
        WHERE m.released_at IS NULL
        GROUP BY p.id HAVING count(*) > 1
        LIMIT @limit)
      UNION ALL
      (SELECT 'statement line ' || m.statement_id || ':' || m.line_no AS subject, json_build_object('liveMatches', count(*)) AS detail
         FROM statement_matches m
        WHERE m.released_at IS NULL
        GROUP BY m.statement_id, m.line_no HAVING count(*) > 1
        LIMIT @limit)`,
  },
  {
    name: 'paymentsReconciled',
    invariant: `every payment older than ${RECONCILED_WITHIN_DAYS} days, recorded before yesterday, is matched, held by an unresolved discrepancy (CARRIED_OVER or OPEN) or resolved by finance, or its date's latest run is STATEMENT_MISSING`,
    needsToday: true,
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('agencyCode', p.agency_code, 'agencyTxnId', p.agency_txn_id, 'businessDate', to_char(p.business_date, 'YYYY-MM-DD'),
                               'lastRun', (SELECT r.status FROM reconciliation_runs r WHERE r.agency_party_id = p.agency_party_id AND r.business_date = p.business_date ORDER BY r.id DESC LIMIT 1)) AS detail
        FROM payments p
       WHERE p.business_date < CAST(@today AS date) - ${RECONCILED_WITHIN_DAYS}
         AND p.created_at < CAST(CAST(@today AS date) - ${LATE_POSTING_GRACE_DAYS} AS timestamp) AT TIME ZONE 'Asia/Shanghai'
         AND NOT EXISTS (SELECT 1 FROM statement_matches m WHERE m.payment_id = p.id AND m.released_at IS NULL)
         AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies d WHERE d.payment_id = p.id AND d.status IN ('CARRIED_OVER', 'OPEN', 'RESOLVED'))
         AND COALESCE((SELECT r.status FROM reconciliation_runs r WHERE r.agency_party_id = p.agency_party_id AND r.business_date = p.business_date ORDER BY r.id DESC LIMIT 1), '') <> 'STATEMENT_MISSING'
       ORDER BY p.id
       LIMIT @limit`,
  },
];

export interface LedgerTotals {
  entries: number;
  lines: number;
  debit: string;
  credit: string;
}

export async function ledgerTotals(db: Knex | Knex.Transaction): Promise<LedgerTotals> {
  const result = await db.raw<{ rows: Array<{ entries: string; lines: string; debit: string; credit: string }> }>(`
    SELECT (SELECT count(*) FROM journal_entries)::text AS entries,
           count(*)::text AS lines,
           COALESCE(sum(amount) FILTER (WHERE side = 'DEBIT'), 0)::text AS debit,
           COALESCE(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)::text AS credit
      FROM journal_lines`);
  const row = result.rows[0] as { entries: string; lines: string; debit: string; credit: string };
  return { entries: Number(row.entries), lines: Number(row.lines), debit: row.debit, credit: row.credit };
}

/** The rows breaking one check, at most `limit`. */
export async function runLedgerCheck(db: Knex | Knex.Transaction, check: LedgerCheck, limit: number, today?: string): Promise<Array<{ subject: string; detail: Record<string, unknown> }>> {
  const bindings = (check.sql.match(/@(limit|today)/g) ?? []).map((name) => (name === '@limit' ? limit : today ?? null));
  const result = await db.raw<{ rows: Array<{ subject: string; detail: Record<string, unknown> }> }>(check.sql.replace(/@(limit|today)/g, '?'), bindings);
  return result.rows;
}
