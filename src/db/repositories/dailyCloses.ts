import type { Knex } from 'knex';
import { accountPrefix, JOURNAL_ENTRY_KINDS } from '../../domain/ledger';
import type { Queryable } from '../database';

/**
 * Daily closes and what they are built from (migrations 20261202000100 and 20261202008000,
 * docs/settlement.md §5). Every figure is read for one accounting date, set-based: the close of a
 * day with a million payments is a handful of aggregate queries.
 */

export interface DailyCloseRow {
  business_date: string;
  previous_close_hash: string;
  content: string;
  close_hash: string;
  signature: string;
  key_id: string;
  created_at: Date;
}

const CLOSE_COLUMNS = `to_char(business_date, 'YYYY-MM-DD') AS business_date, previous_close_hash, content, close_hash, signature, key_id, created_at`;

export async function latestClose(db: Queryable): Promise<DailyCloseRow | undefined> {
  const { rows } = await db.raw<{ rows: DailyCloseRow[] }>(`SELECT ${CLOSE_COLUMNS} FROM daily_closes ORDER BY business_date DESC LIMIT 1`);
  return rows[0];
}

export async function findClose(db: Queryable, businessDate: string): Promise<DailyCloseRow | undefined> {
  const { rows } = await db.raw<{ rows: DailyCloseRow[] }>(`SELECT ${CLOSE_COLUMNS} FROM daily_closes WHERE business_date = ?::date`, [businessDate]);
  return rows[0];
}

/** Closes in date order, after `afterDate` (exclusive) when given, at most `limit`. */
export async function listCloses(db: Queryable, options: { afterDate?: string; from?: string; to?: string; limit: number }): Promise<DailyCloseRow[]> {
  const { rows } = await db.raw<{ rows: DailyCloseRow[] }>(
    `SELECT ${CLOSE_COLUMNS} FROM daily_closes
      WHERE (?::date IS NULL OR business_date > ?::date)
        AND (?::date IS NULL OR business_date >= ?::date)
        AND (?::date IS NULL OR business_date <= ?::date)
      ORDER BY business_date LIMIT ?`,
    [options.afterDate ?? null, options.afterDate ?? null, options.from ?? null, options.from ?? null, options.to ?? null, options.to ?? null, options.limit],
  );
  return rows;
}

export async function insertClose(trx: Knex.Transaction, row: DailyCloseRow): Promise<boolean> {
  const { rowCount } = await trx.raw<{ rowCount: number }>(
    `INSERT INTO daily_closes (business_date, previous_close_hash, content, close_hash, signature, key_id, created_at)
     VALUES (?::date, ?, ?, ?, ?, ?, ?) ON CONFLICT (business_date) DO NOTHING`,
    [row.business_date, row.previous_close_hash, row.content, row.close_hash, row.signature, row.key_id, row.created_at],
  );
  return rowCount === 1;
}

/** The latest cut-off date, if any. */
export async function latestCutoff(db: Queryable): Promise<string | undefined> {
  const { rows } = await db.raw<{ rows: Array<{ business_date: string | null }> }>(`SELECT to_char(max(business_date), 'YYYY-MM-DD') AS business_date FROM accounting_cutoffs`);
  return rows[0]?.business_date ?? undefined;
}

/** Cuts `businessDate` off: from this commit on, entries meant for it or earlier go to a later date. */
export async function insertCutoff(trx: Knex.Transaction, businessDate: string, at: Date): Promise<void> {
  await trx.raw(`INSERT INTO accounting_cutoffs (business_date, cut_at) VALUES (?::date, ?) ON CONFLICT (business_date) DO NOTHING`, [businessDate, at]);
}

/**
 * Waits until every transaction that may have written a journal entry before the cut-off
 * committed is over: SHARE conflicts with the ROW EXCLUSIVE lock each INSERT holds to its
 * transaction's end, and is released at once (the caller commits right after). A writer that
 * starts meanwhile waits a moment, then reads the new cut-off.
 */
export async function drainJournalWriters(trx: Knex.Transaction): Promise<void> {
  await trx.raw('LOCK TABLE journal_entries IN SHARE MODE');
}

/** The earliest accounting date of any journal entry. */
export async function earliestAccountingDate(db: Queryable): Promise<string | undefined> {
  const { rows } = await db.raw<{ rows: Array<{ d: string | null }> }>(`SELECT to_char(min(accounting_date), 'YYYY-MM-DD') AS d FROM journal_entries`);
  return rows[0]?.d ?? undefined;
}

export interface AgencyFiguresRow {
  agency_code: string;
  collected: string;
  unapplied: string;
  refunded: string;
  matched: string;
  held: string;
  settled: string;
  confirmed: string;
}

const CLEARING = accountPrefix('agencyClearing');
const IN_TRANSIT = accountPrefix('inTransit');
const RECEIVING = accountPrefix('receiving');
const K = JOURNAL_ENTRY_KINDS;

/**
 * Each agency's figures of one accounting date (contracts/decisions/0140-daily-close.md): every
 * registered agency, zeros included.
 * - collected / unapplied: the day's applied / unapplied postings (the debit to its clearing account);
 * - refunded: the day's confirmed refunds of its payments, by the agency or by the receiving bank;
 * - settled: the day's executed settlements (the credit to its clearing account);
 * - confirmed: the day's confirmed settlements (the credit to in-transit), by the agency that executed them;
 * - matched: its payments matched, as the close runs, by the statement of this business date;
 * - held: its payments of this date or earlier held by an unresolved discrepancy as the close runs.
 */
export async function agencyFigures(db: Queryable, businessDate: string): Promise<AgencyFiguresRow[]> {
  const { rows } = await db.raw<{ rows: AgencyFiguresRow[] }>(
    `WITH day AS (
       SELECT id, kind, instruction_id, refund_id FROM journal_entries WHERE accounting_date = ?::date
     ),
     clearing AS (
       SELECT substr(l.account, ${CLEARING.length + 1}) AS agency_code,
              sum(l.amount) FILTER (WHERE e.kind = '${K.paymentSucceeded}' AND l.side = 'DEBIT') AS collected,
              sum(l.amount) FILTER (WHERE e.kind = '${K.paymentUnapplied}' AND l.side = 'DEBIT') AS unapplied,
              sum(l.amount) FILTER (WHERE e.kind = '${K.agencyRefundConfirmed}' AND l.side = 'CREDIT') AS refunded,
              sum(l.amount) FILTER (WHERE e.kind = '${K.settlementExecuted}' AND l.side = 'CREDIT') AS settled
         FROM day e JOIN journal_lines l ON l.entry_id = e.id
        WHERE l.account LIKE '${CLEARING}%'
        GROUP BY 1
     ),
     bank_refunds AS (
       SELECT p.agency_code, sum(l.amount) AS refunded
         FROM day e
         JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'CREDIT' AND l.account LIKE '${RECEIVING}%'
         JOIN refunds r ON r.id = e.refund_id
         JOIN payments p ON p.id = r.payment_id
        WHERE e.kind = '${K.bankRefundConfirmed}'
        GROUP BY 1
     ),
     confirmed AS (
       SELECT substr(xl.account, ${CLEARING.length + 1}) AS agency_code, sum(l.amount) AS confirmed
         FROM day e
         JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'CREDIT' AND l.account LIKE '${IN_TRANSIT}%'
         JOIN journal_entries x ON x.instruction_id = e.instruction_id AND x.kind = '${K.settlementExecuted}'
         JOIN journal_lines xl ON xl.entry_id = x.id AND xl.side = 'CREDIT' AND xl.account LIKE '${CLEARING}%'
        WHERE e.kind = '${K.settlementConfirmed}'
        GROUP BY 1
     ),
     matched AS (
       SELECT s.agency_code, sum(p.amount) AS matched
         FROM agency_statements s
         JOIN statement_matches m ON m.statement_id = s.id AND m.released_at IS NULL
         JOIN payments p ON p.id = m.payment_id
        WHERE s.business_date = ?::date AND s.superseded_by IS NULL
        GROUP BY 1
     ),
     held AS (
       SELECT d.agency_code, sum(p.amount) AS held
         FROM (SELECT DISTINCT agency_code, payment_id FROM reconciliation_discrepancies
                WHERE status IN ('CARRIED_OVER', 'OPEN') AND payment_id IS NOT NULL AND business_date <= ?::date) d
         JOIN payments p ON p.id = d.payment_id
        GROUP BY 1
     )
     SELECT a.code AS agency_code,
            COALESCE(c.collected, 0)::text AS collected,
            COALESCE(c.unapplied, 0)::text AS unapplied,
            (COALESCE(c.refunded, 0) + COALESCE(br.refunded, 0))::text AS refunded,
            COALESCE(m.matched, 0)::text AS matched,
            COALESCE(h.held, 0)::text AS held,
            COALESCE(c.settled, 0)::text AS settled,
            COALESCE(cf.confirmed, 0)::text AS confirmed
       FROM (SELECT DISTINCT code FROM parties WHERE role = 'agency') a
       LEFT JOIN clearing c ON c.agency_code = a.code
       LEFT JOIN bank_refunds br ON br.agency_code = a.code
       LEFT JOIN confirmed cf ON cf.agency_code = a.code
       LEFT JOIN matched m ON m.agency_code = a.code
       LEFT JOIN held h ON h.agency_code = a.code
      ORDER BY a.code`,
    [businessDate, businessDate, businessDate],
  );
  return rows;
}

export interface AccountMovementRow {
  account: string;
  debit: string;
  credit: string;
}

/** Debits and credits per account of the entries of accounting dates in [from, to]. */
export async function accountMovements(db: Queryable, from: string | null, to: string): Promise<AccountMovementRow[]> {
  const { rows } = await db.raw<{ rows: AccountMovementRow[] }>(
    `SELECT l.account,
            COALESCE(sum(l.amount) FILTER (WHERE l.side = 'DEBIT'), 0)::text AS debit,
            COALESCE(sum(l.amount) FILTER (WHERE l.side = 'CREDIT'), 0)::text AS credit
       FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
      WHERE (?::date IS NULL OR e.accounting_date >= ?::date) AND e.accounting_date <= ?::date
      GROUP BY l.account`,
    [from, from, to],
  );
  return rows;
}

export interface AdjustmentRow {
  entry_id: string;
  for_date: string;
  amount: string;
  kind: string;
}

/** Entries written on `businessDate` that were meant for an earlier date. */
export async function adjustmentsOf(db: Queryable, businessDate: string): Promise<AdjustmentRow[]> {
  const { rows } = await db.raw<{ rows: AdjustmentRow[] }>(
    `SELECT e.id::text AS entry_id, to_char(e.for_date, 'YYYY-MM-DD') AS for_date, e.kind,
            (SELECT sum(l.amount) FROM journal_lines l WHERE l.entry_id = e.id AND l.side = 'DEBIT')::text AS amount
       FROM journal_entries e
      WHERE e.accounting_date = ?::date AND e.for_date < e.accounting_date
      ORDER BY e.id`,
    [businessDate],
  );
  return rows;
}
