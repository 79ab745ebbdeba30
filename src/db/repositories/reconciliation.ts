import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { assert } from '../../domain/errors';
import { type Queryable, withParallelWorkersFree } from '../database';

/**
 * The reconcile run's SQL (docs/reconciliation.md §2, contracts/decisions/0105-reconciliation-run.md).
 * Every step is one set-based statement over the statement's lines and the agency's payments — no
 * query per line or per payment. Parameters are named `:name` in the text and bound positionally
 * by `bind` (so PostgreSQL casts are written CAST(… AS …), never with a double colon).
 */

type Params = Record<string, unknown>;

/** `:name` → `?` with its value, in order of appearance. */
export function bind(sql: string, params: Params): [string, unknown[]] {
  const values: unknown[] = [];
  const text = sql.replace(/(?<![:\w]):([a-zA-Z][a-zA-Z0-9]*)/g, (_, name: string) => {
    assert(Object.prototype.hasOwnProperty.call(params, name), `the SQL parameter :${name} is bound`);
    values.push(params[name]);
    return '?';
  });
  return [text, values];
}

async function run<Row>(db: Queryable, sql: string, params: Params): Promise<{ rows: Row[]; rowCount: number }> {
  const [text, values] = bind(sql, params);
  const result = await db.raw<{ rows: Row[]; rowCount: number }>(text, values as Knex.RawBinding[]);
  return result;
}

/** A payment's live match exists (the partial unique index statement_matches_live_payment). */
const LIVE_MATCH_OF = (paymentRowId: string): string => `EXISTS (SELECT 1 FROM statement_matches lm WHERE lm.payment_id = ${paymentRowId} AND lm.released_at IS NULL)`;

/** A discrepancy id derived from the run's id and a key: unique per run, stable for a row once written. */
const DISCREPANCY_ID = (key: string): string => `'D' || substr(md5(:runId || ${key}), 1, 26)`;

// ---- the agency and the statement -----------------------------------------------------------------

export interface AgencyRow {
  partyId: string;
  code: string;
}

export async function findAgency(db: Queryable, agencyCode: string): Promise<AgencyRow | undefined> {
  const row = await db('parties').where({ role: 'agency', code: agencyCode }).first<{ id: string; code: string } | undefined>('id', 'code');
  return row ? { partyId: row.id, code: row.code } : undefined;
}

export interface StatementRow {
  id: string;
  statement_id: string;
  file_seq: number;
  pay_total: string;
}

export async function currentStatement(db: Queryable, agencyPartyId: string, businessDate: string): Promise<StatementRow | undefined> {
  return db('agency_statements')
    .where({ agency_party_id: agencyPartyId, business_date: businessDate })
    .whereNull('superseded_by')
    .first<StatementRow | undefined>('id', 'statement_id', 'file_seq', 'pay_total');
}

/**
 * Gives the planner the statement's lines before the run plans its joins: when the statement came
 * in after `agency_statement_lines` was last analyzed, ANALYZE it (a fixed-size sample, however
 * big the table). Without statistics for a just-loaded statement the planner estimates its lines
 * at a handful and may scan them once per payment — a 100,000-line run never finished that way
 * (contracts/decisions/0142-reconcile-run-plans.md). Runs outside the run's transaction, so its
 * lock is held for the ANALYZE alone; a role that does not own the table gets a warning, not an
 * error. Answers whether it analyzed.
 */
export async function analyzeLinesIfStale(db: Queryable, statementRowId: string): Promise<boolean> {
  const result = await run<{ stale: boolean }>(
    db,
    `SELECT s.received_at > COALESCE(GREATEST(t.last_analyze, t.last_autoanalyze), '-infinity') AS stale
       FROM agency_statements s, pg_stat_user_tables t
      WHERE s.id = :statement AND t.relid = CAST('agency_statement_lines' AS regclass)`,
    { statement: statementRowId },
  );
  if (result.rows[0]?.stale !== true) return false;
  await db.raw('ANALYZE agency_statement_lines');
  return true;
}

// ---- runs -------------------------------------------------------------------------------------------

export interface RunRow {
  id: string;
  run_id: string;
  agency_party_id: string;
  agency_code: string;
  business_date: string;
  statement_id: string | null;
  /** agency_statements.statement_id, the public one (joined). */
  statement_public_id: string | null;
  file_seq: number | null;
  status: 'RUNNING' | 'BALANCED' | 'UNBALANCED' | 'STATEMENT_MISSING';
  outcomes: Record<string, { count: number; amount: string }> | null;
  platform_total: string | null;
  statement_total: string | null;
  started_at: Date;
  finished_at: Date | null;
}

const RUN_COLUMNS = `r.id, r.run_id, r.agency_party_id, r.agency_code, r.business_date, r.statement_id, s.statement_id AS statement_public_id, s.file_seq,
  r.status, r.outcomes, r.platform_total, r.statement_total, r.started_at, r.finished_at`;

export async function lastRun(db: Queryable, agencyPartyId: string, businessDate: string): Promise<RunRow | undefined> {
  const result = await run<RunRow>(
    db,
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r LEFT JOIN agency_statements s ON s.id = r.statement_id
      WHERE r.agency_party_id = :agency AND r.business_date = :date ORDER BY r.id DESC LIMIT 1`,
    { agency: agencyPartyId, date: businessDate },
  );
  return result.rows[0];
}

/**
 * The latest run of (agency, date) that finished, past any left RUNNING by a crash after its
 * backfill committed (contracts/decisions/0239-backfill-committed-beside-the-run.md).
 */
export async function lastFinishedRun(db: Queryable, agencyPartyId: string, businessDate: string): Promise<RunRow | undefined> {
  const result = await run<RunRow>(
    db,
    `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r LEFT JOIN agency_statements s ON s.id = r.statement_id
      WHERE r.agency_party_id = :agency AND r.business_date = :date AND r.status <> 'RUNNING' ORDER BY r.id DESC LIMIT 1`,
    { agency: agencyPartyId, date: businessDate },
  );
  return result.rows[0];
}

export async function findRun(db: Queryable, runRowId: string): Promise<RunRow> {
  const result = await run<RunRow>(db, `SELECT ${RUN_COLUMNS} FROM reconciliation_runs r LEFT JOIN agency_statements s ON s.id = r.statement_id WHERE r.id = :id`, { id: runRowId });
  const row = result.rows[0];
  assert(row !== undefined, `run ${runRowId} exists`);
  return row;
}

/** The latest run of each (agency, date), filtered; newest date first. */
export async function latestRuns(db: Queryable, filter: { businessDate?: string; agencyCode?: string }, limit: number): Promise<RunRow[]> {
  const result = await run<RunRow>(
    db,
    `SELECT ${RUN_COLUMNS}
       FROM (SELECT DISTINCT ON (agency_party_id, business_date) *
               FROM reconciliation_runs
              WHERE (CAST(:date AS date) IS NULL OR business_date = CAST(:date AS date))
                AND (CAST(:agencyCode AS text) IS NULL OR agency_code = CAST(:agencyCode AS text))
              ORDER BY agency_party_id, business_date, id DESC) r
       LEFT JOIN agency_statements s ON s.id = r.statement_id
      ORDER BY r.business_date DESC, r.agency_code, r.id
      LIMIT :limit`,
    { date: filter.businessDate ?? null, agencyCode: filter.agencyCode ?? null, limit },
  );
  return result.rows;
}

export async function insertRun(
  trx: Knex.Transaction,
  run_: { runId: string; agencyPartyId: string; agencyCode: string; businessDate: string; statementRowId: string | null; startedAt: Date },
): Promise<string> {
  const [row] = await trx('reconciliation_runs')
    .insert({ run_id: run_.runId, agency_party_id: run_.agencyPartyId, agency_code: run_.agencyCode, business_date: run_.businessDate, statement_id: run_.statementRowId, status: 'RUNNING', started_at: run_.startedAt })
    .returning<Array<{ id: string }>>('id');
  assert(row !== undefined, 'the run row was inserted');
  return row.id;
}

/**
 * A run left RUNNING by a crash after its backfill committed, taken over by the next run of its
 * (agency, date) under the lock: it keeps its id and runId and reconciles the current statement
 * (contracts/decisions/0239-backfill-committed-beside-the-run.md).
 */
export async function resumeRun(trx: Knex.Transaction, runRowId: string, statementRowId: string | null): Promise<void> {
  const updated = await trx('reconciliation_runs').where({ id: runRowId, status: 'RUNNING' }).update({ statement_id: statementRowId });
  assert(updated === 1, `run ${runRowId} was RUNNING`);
}

export async function finishRun(
  trx: Knex.Transaction,
  runRowId: string,
  outcome: { status: 'BALANCED' | 'UNBALANCED' | 'STATEMENT_MISSING'; outcomes: Record<string, { count: number; amount: string }>; platformTotal: string; statementTotal: string | null; finishedAt: Date },
): Promise<void> {
  await trx('reconciliation_runs')
    .where({ id: runRowId })
    .update({ status: outcome.status, outcomes: JSON.stringify(outcome.outcomes), platform_total: outcome.platformTotal, statement_total: outcome.statementTotal, finished_at: outcome.finishedAt });
}

// ---- the steps of a run -------------------------------------------------------------------------------

export interface StepParams {
  agency: string;
  agencyCode: string;
  date: string;
  statement: string;
  /** reconciliation_runs.id */
  run: string;
  /** reconciliation_runs.run_id: seeds the discrepancy ids. */
  runId: string;
  now: Date;
}

/**
 * Supersede (docs/reconciliation.md §2): the lines of the date's earlier statements give their
 * matches back, and the discrepancies of the date still CARRIED_OVER or OPEN become SUPERSEDED.
 * Backfilled payments stay: the rerun matches them again or finds them short.
 */
export async function supersedeEarlierStatements(trx: Knex.Transaction, p: StepParams): Promise<{ released: number; superseded: number }> {
  const released = await run(
    trx,
    `UPDATE statement_matches m SET released_at = :now
       FROM agency_statements s
      WHERE m.statement_id = s.id AND m.released_at IS NULL
        AND s.agency_party_id = :agency AND s.business_date = CAST(:date AS date) AND s.id <> :statement`,
    p as unknown as Params,
  );
  const superseded = await run(
    trx,
    `UPDATE reconciliation_discrepancies SET status = 'SUPERSEDED', updated_at = :now
      WHERE agency_party_id = :agency AND business_date = CAST(:date AS date) AND status IN ('CARRIED_OVER', 'OPEN')`,
    p as unknown as Params,
  );
  return { released: released.rowCount, superseded: superseded.rowCount };
}

/**
 * The run's classification of the statement's PAY lines (contracts/decisions/0160-one-pass-reconcile-run.md):
 * one pass joins every PAY line to its live match, else to the agency's payment with its
 * agencyTxnId (through payment_keys, whatever the payment's business date) and that payment's live
 * match, and writes each line's outcome into the run's work table. The later steps — the new
 * matches, the line discrepancies, the shortages and the tallies — read that table, never the
 * lines and payments again.
 *
 * The work table is UNLOGGED, created in the run's transaction and dropped before it commits (as
 * the loader's staging table, contracts/decisions/0100-statement-files.md): a crash or a rollback
 * leaves none, and concurrent runs never share one.
 *
 * `outcome`, as the line ends the run:
 * - a live match already: backfilled → OVERAGE, else MATCHED (`matched` set);
 * - no payment (a backfill that did not happen), or its payment matched by another line → OVERAGE;
 * - amount and payCode agree and neither side has a live match → `NEW_MATCH` (matched by
 *   insertMatches, counted as MATCHED);
 * - a payCode difference → PAY_CODE_MISMATCH (it outranks); else AMOUNT_MISMATCH.
 */
export const RUN_WORK_TABLE_PREFIX = 'reconcile_run_lines_';

/** The outcome of a line that this run matches (counted as MATCHED). */
const NEW_MATCH = 'NEW_MATCH';

/** A run's work table's name, checked before it is written into SQL text. */
export function assertRunWorkTable(table: string): string {
  assert(/^reconcile_run_lines_[0-9a-f]{16}$/.test(table), `a run's work table, not ${table}`);
  return table;
}

/**
 * The classification of PAY lines as the work table's columns, over `from`: a FROM clause that
 * yields each line `l`, its live match `m` (line_no, backfilled, payment_id), the payment `pay`
 * (id, pay_code, amount) its agencyTxnId names when it has no live match, and that payment's own
 * live match `pm` (line_no). `payment_id` is the matched payment's for a line with a live match,
 * so that the shortage step's anti-join leaves out every payment a line of the statement holds
 * (on a rerun: all the matched ones), not only those found by key.
 */
function classifySelect(from: string): string {
  return `SELECT l.line_no, l.agency_txn_id, l.pay_code, l.amount, m.line_no IS NOT NULL, COALESCE(m.payment_id, pay.id), pay.pay_code, pay.amount,
            CASE
              WHEN m.line_no IS NOT NULL THEN CASE WHEN m.backfilled THEN 'OVERAGE' ELSE 'MATCHED' END
              WHEN pay.id IS NULL THEN 'OVERAGE'
              WHEN pm.line_no IS NOT NULL THEN 'OVERAGE'
              WHEN pay.pay_code = l.pay_code AND pay.amount = l.amount THEN '${NEW_MATCH}'
              WHEN pay.pay_code <> l.pay_code THEN 'PAY_CODE_MISMATCH'
              ELSE 'AMOUNT_MISMATCH'
            END
       ${from}`;
}

/**
 * Every PAY line of the statement, hash-joined in one pass. The payment `pay` is its key: a key
 * carries its payment's payCode and amount (contracts/decisions/0241-payment-keys-carry-code-and-amount.md),
 * so the payments themselves are not read.
 */
const ALL_LINES = `FROM agency_statement_lines l
       LEFT JOIN statement_matches m ON m.statement_id = l.statement_id AND m.line_no = l.line_no AND m.released_at IS NULL
       LEFT JOIN (SELECT k.agency_party_id, k.agency_txn_id, k.payment_id AS id, k.pay_code, k.amount FROM payment_keys k) pay
              ON m.line_no IS NULL AND pay.agency_party_id = :agency AND pay.agency_txn_id = l.agency_txn_id
       LEFT JOIN statement_matches pm ON pm.payment_id = pay.id AND pm.released_at IS NULL
      WHERE l.statement_id = :statement AND l.kind = 'PAY'`;

/**
 * The lines named by the CTE `unpaid` (line_no), each looked up by index: they are few next to the
 * statement (the overages), and a join the planner sizes from stale estimates of the matches the
 * backfill just wrote may nest-loop over all of them (measured: 4.2 s for 10,000 lines) — OFFSET 0
 * keeps each lookup a parameterised index scan.
 */
const UNPAID_LINES = `FROM unpaid u
       JOIN agency_statement_lines l ON l.statement_id = :statement AND l.line_no = u.line_no AND l.kind = 'PAY'
       LEFT JOIN LATERAL (SELECT sm.line_no, sm.backfilled, sm.payment_id FROM statement_matches sm
                           WHERE sm.statement_id = l.statement_id AND sm.line_no = l.line_no AND sm.released_at IS NULL OFFSET 0) m ON true
       LEFT JOIN LATERAL (SELECT k.payment_id AS id, k.pay_code, k.amount FROM payment_keys k
                           WHERE m.line_no IS NULL AND k.agency_party_id = :agency AND k.agency_txn_id = l.agency_txn_id OFFSET 0) pay ON true
       LEFT JOIN LATERAL (SELECT om.line_no FROM statement_matches om WHERE om.payment_id = pay.id AND om.released_at IS NULL OFFSET 0) pm ON true`;

const WORK_COLUMNS = 'line_no, agency_txn_id, pay_code, amount, matched, payment_id, payment_pay_code, payment_amount, outcome';

export async function classifyPayLines(trx: Knex.Transaction, p: StepParams): Promise<string> {
  const table = `${RUN_WORK_TABLE_PREFIX}${randomBytes(8).toString('hex')}`;
  // CREATE TABLE AS, so that the joins may run in parallel workers (decision 0185); the column
  // types follow the SELECT (the lines' and payments' own).
  const [text, values] = bind(`CREATE UNLOGGED TABLE ${table} (${WORK_COLUMNS}) WITH (autovacuum_enabled = false) AS ${classifySelect(ALL_LINES)}`, p as unknown as Params);
  await withParallelWorkersFree(trx, () => trx.raw(text, values as Knex.RawBinding[]));
  // The lines with neither a payment nor a live match: the backfill's candidates, found through
  // this index (contracts/decisions/0180-overages-from-the-run-classification.md), and by
  // agencyTxnId while the backfill runs (carryShortages, decision 0239).
  await trx.raw(`CREATE INDEX ON ${table} (agency_txn_id) WHERE NOT matched AND payment_id IS NULL`);
  // Not analyzed: the planner sizes a never-analyzed table by its pages, which is all the steps
  // that read it (sequential scans, hash joins) need; an ANALYZE cost more than they gain.
  return table;
}

/**
 * After the backfill: the lines classified with neither a payment nor a live match are classified
 * again — a backfilled line has its payment and backfilled match now (OVERAGE); one whose key an
 * online posting bound meanwhile has that payment (matched or mismatched like any other line).
 * Every other line's outcome stands: the backfill only adds payments and matches for these lines.
 * The same statement matches those of them that are NEW_MATCH now: insertMatches ran beside the
 * backfill, before this (contracts/decisions/0239-backfill-committed-beside-the-run.md).
 */
export async function reclassifyUnpaidLines(trx: Knex.Transaction, p: StepParams, work: string): Promise<number> {
  assertRunWorkTable(work);
  const result = await run(
    trx,
    `WITH unpaid AS (DELETE FROM ${work} w WHERE NOT w.matched AND w.payment_id IS NULL RETURNING w.line_no),
     classified AS (INSERT INTO ${work} (${WORK_COLUMNS}) ${classifySelect(UNPAID_LINES)} RETURNING line_no, payment_id, outcome)
     INSERT INTO statement_matches (payment_id, statement_id, line_no, run_id, backfilled, matched_at)
     SELECT c.payment_id, :statement, c.line_no, :run, false, :now
       FROM classified c
      WHERE c.outcome = '${NEW_MATCH}'
      ORDER BY c.payment_id`,
    p as unknown as Params,
  );
  return result.rowCount;
}

/**
 * The line numbers of the lines classified with neither a payment nor a live match — the
 * backfill's candidates — ascending, through the work table's partial index. One text value, read
 * into 4 bytes a line: a statement of a million overages costs 4 MB here, not a million row objects.
 */
export async function overageCandidates(trx: Knex.Transaction, work: string): Promise<Int32Array> {
  assertRunWorkTable(work);
  const result = await trx.raw<{ rows: Array<{ line_nos: string | null }> }>(
    `SELECT string_agg(line_no::text, ',' ORDER BY line_no) AS line_nos FROM ${work} WHERE NOT matched AND payment_id IS NULL`,
  );
  const text = result.rows[0]?.line_nos ?? null;
  if (text === null) return new Int32Array(0);
  let count = 1;
  for (let at = text.indexOf(','); at !== -1; at = text.indexOf(',', at + 1)) count += 1;
  const lineNos = new Int32Array(count);
  let next = 0;
  let value = 0;
  for (let at = 0; at < text.length; at += 1) {
    const code = text.charCodeAt(at);
    if (code === 44) {
      lineNos[next++] = value;
      value = 0;
    } else {
      value = value * 10 + (code - 48);
    }
  }
  lineNos[next] = value;
  return lineNos;
}

/** Drops the run's work table (before the run's transaction commits). */
export async function dropWorkTable(trx: Knex.Transaction, table: string): Promise<void> {
  assertRunWorkTable(table);
  await trx.raw(`DROP TABLE ${table}`);
}

/**
 * MATCHED: the lines classified `NEW_MATCH` matched with their payments, one INSERT … SELECT. The
 * live-match unique indexes keep "a payment matched at most once" a property of the database.
 */
export async function insertMatches(trx: Knex.Transaction, p: StepParams, work: string): Promise<number> {
  assertRunWorkTable(work);
  const result = await run(
    trx,
    `INSERT INTO statement_matches (payment_id, statement_id, line_no, run_id, backfilled, matched_at)
     SELECT w.payment_id, :statement, w.line_no, :run, false, :now
       FROM ${work} w
      WHERE w.outcome = '${NEW_MATCH}'
      ORDER BY w.payment_id`,
    p as unknown as Params,
  );
  return result.rowCount;
}

/** A later match of a CARRIED_OVER payment resolves its shortage (any date of the agency). */
export async function autoResolveMatchedCarryOvers(trx: Knex.Transaction, p: StepParams): Promise<number> {
  const result = await run(
    trx,
    `UPDATE reconciliation_discrepancies d
        SET status = 'AUTO_RESOLVED', resolved_at = :now, updated_at = :now, last_run_id = :run
      WHERE d.agency_party_id = :agency AND d.type = 'SHORTAGE' AND d.status = 'CARRIED_OVER'
        AND ${LIVE_MATCH_OF('d.payment_id')}`,
    p as unknown as Params,
  );
  return result.rowCount;
}

/**
 * The payments carried over from T−1 (their SHORTAGE is CARRIED_OVER, or OPEN from an earlier run
 * of this date): matched by now, or on this statement with another amount or code → AUTO_RESOLVED
 * (the line's own outcome holds the payment); still missing → OPEN, counted as SHORTAGE.
 *
 * "On this statement" is a hash join of the carried rows with the run's work table (every PAY
 * line's agencyTxnId), the carried rows hashed: none carried, and the work table is not read.
 * A per-row EXISTS over the statement's lines scanned all of them for every carried payment the
 * statement does not list — about 6 s each against a 1,000,000-line statement
 * (contracts/decisions/0184-carried-shortages-joined-with-the-work-table.md).
 */
export async function settleCarriedIn(trx: Knex.Transaction, p: StepParams, work: string): Promise<number> {
  assertRunWorkTable(work);
  const result = await run(
    trx,
    `WITH carried AS MATERIALIZED (
       SELECT d.id, d.payment_id, d.agency_txn_id
         FROM reconciliation_discrepancies d
        WHERE d.agency_party_id = :agency AND d.type = 'SHORTAGE' AND d.business_date = CAST(:date AS date) - 1
          AND (d.status = 'CARRIED_OVER'
               OR (d.status = 'OPEN' AND d.last_run_id IN (SELECT r.id FROM reconciliation_runs r WHERE r.agency_party_id = :agency AND r.business_date = CAST(:date AS date))))
     ),
     listed AS (
       SELECT DISTINCT c.id FROM ${work} w JOIN carried c ON c.agency_txn_id = w.agency_txn_id
     ),
     settled AS (
       SELECT c.id, (l.id IS NOT NULL OR ${LIVE_MATCH_OF('c.payment_id')}) AS settled
         FROM carried c LEFT JOIN listed l ON l.id = c.id
     )
     UPDATE reconciliation_discrepancies d
        SET status = CASE WHEN c.settled THEN 'AUTO_RESOLVED' ELSE 'OPEN' END,
            resolved_at = CASE WHEN c.settled THEN CAST(:now AS timestamptz) END,
            updated_at = :now, last_run_id = :run
       FROM settled c
      WHERE d.id = c.id`,
    p as unknown as Params,
  );
  return result.rowCount;
}

/**
 * The payments of T−1 whose match a superseded statement of T released — T's statement listed
 * them (a payment after T−1's cut-off) and its correction does not — and that nothing holds now:
 * no live match, no line of this statement, no mismatch, no shortage finance resolved. They are
 * OPEN SHORTAGEs of T−1, counted in this run's SHORTAGE as a carried-in payment still missing is
 * (settleCarriedIn). Before, T−1's run had found them matched and balanced, and nothing reran it
 * after T's correction: they were held by nothing and never settled
 * (contracts/decisions/0233-released-straddlers-open.md). A payment of an earlier date that T's
 * statement listed and its correction does not is opened the same way, as a SHORTAGE of its own
 * date (contracts/decisions/0238-released-older-payments-open.md).
 */
export async function openReleasedCarriedIn(trx: Knex.Transaction, p: StepParams, work: string): Promise<number> {
  assertRunWorkTable(work);
  const result = await run(
    trx,
    `WITH released AS MATERIALIZED (
       SELECT DISTINCT m.payment_id
         FROM agency_statements s JOIN statement_matches m ON m.statement_id = s.id
        WHERE s.agency_party_id = :agency AND s.business_date = CAST(:date AS date) AND s.id <> :statement AND m.released_at IS NOT NULL
     )
     INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id, payment_id,
                                               platform_pay_code, platform_amount, first_run_id, last_run_id, created_at, updated_at)
     SELECT ${DISCREPANCY_ID(`'-R' || pay.id`)}, :agency, :agencyCode, pay.business_date, 'SHORTAGE', 'OPEN', pay.agency_txn_id, pay.id,
            pay.pay_code, pay.amount, :run, :run, :now, :now
       FROM released r
       JOIN payments pay ON pay.id = r.payment_id
      WHERE pay.agency_party_id = :agency AND pay.business_date < CAST(:date AS date)
        AND NOT ${LIVE_MATCH_OF('pay.id')}
        AND NOT EXISTS (SELECT 1 FROM ${work} w WHERE w.payment_id = pay.id)
        AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies rd WHERE rd.payment_id = pay.id AND rd.status = 'RESOLVED'
                           AND rd.type IN ('SHORTAGE', 'AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH'))
        AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies md WHERE md.payment_id = pay.id AND md.status = 'OPEN'
                           AND md.type IN ('AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH'))
      ORDER BY pay.id
     ON CONFLICT (agency_party_id, agency_txn_id, type) WHERE status IN ('CARRIED_OVER', 'OPEN')
     DO UPDATE SET status = 'OPEN', last_run_id = EXCLUDED.last_run_id, updated_at = EXCLUDED.updated_at`,
    p as unknown as Params,
  );
  return result.rowCount;
}

/**
 * A discrepancy finance RESOLVED is not opened again: not by a rerun of its statement (the same
 * line), nor by a superseding statement listing the same agencyTxnId with the same kind of
 * difference — its correction is booked once (contracts/decisions/0202-resolved-discrepancies-stay-resolved.md).
 */
const LINE_NOT_RESOLVED = `NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies rd WHERE rd.statement_id = :statement AND rd.statement_line_no = pl.line_no AND rd.status = 'RESOLVED')
        AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies rt WHERE rt.agency_party_id = :agency AND rt.agency_txn_id = pl.agency_txn_id AND rt.type = pl.outcome AND rt.status = 'RESOLVED')`;

/** OPEN discrepancies for the lines that neither matched nor were backfilled; a rerun updates them. */
export async function upsertLineDiscrepancies(trx: Knex.Transaction, p: StepParams, work: string, lines: LinesOfStep): Promise<number> {
  assertRunWorkTable(work);
  const [from, only] = linesOfStep(work, 'pl', lines);
  const result = await run(
    trx,
    `INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id, payment_id,
                                               platform_pay_code, platform_amount, statement_id, statement_line_no, statement_pay_code, statement_amount,
                                               first_run_id, last_run_id, created_at, updated_at)
     SELECT ${DISCREPANCY_ID(`'-L' || pl.line_no`)}, :agency, :agencyCode, :date, pl.outcome, 'OPEN', pl.agency_txn_id, pl.payment_id,
            pl.payment_pay_code, pl.payment_amount, :statement, pl.line_no, pl.pay_code, pl.amount, :run, :run, :now, :now
       FROM ${from}
      WHERE NOT pl.matched AND pl.outcome <> '${NEW_MATCH}' AND ${LINE_NOT_RESOLVED} ${only}
      ORDER BY pl.line_no
     ON CONFLICT (agency_party_id, agency_txn_id, type) WHERE status IN ('CARRIED_OVER', 'OPEN')
     DO UPDATE SET payment_id = EXCLUDED.payment_id, platform_pay_code = EXCLUDED.platform_pay_code, platform_amount = EXCLUDED.platform_amount,
                   statement_id = EXCLUDED.statement_id, statement_line_no = EXCLUDED.statement_line_no,
                   statement_pay_code = EXCLUDED.statement_pay_code, statement_amount = EXCLUDED.statement_amount,
                   status = 'OPEN', last_run_id = EXCLUDED.last_run_id, updated_at = EXCLUDED.updated_at`,
    { ...p, lineNos: lines === 'settled' ? null : Array.from(lines) } as unknown as Params,
  );
  return result.rowCount;
}

/**
 * The lines a step that runs beside the backfill reads (contracts/decisions/0239): 'settled', every
 * line but the backfill's candidates (their outcome waits for the backfill's commit); or the
 * candidates' line numbers, once classified again.
 */
export type LinesOfStep = 'settled' | Int32Array;

function linesOfStep(work: string, alias: string, lines: LinesOfStep): [from: string, only: string] {
  if (lines === 'settled') return [`${work} ${alias}`, `AND NOT (NOT ${alias}.matched AND ${alias}.payment_id IS NULL)`];
  return [`${work} ${alias} JOIN unnest(CAST(:lineNos AS int[])) AS candidate(line_no) ON candidate.line_no = ${alias}.line_no`, ''];
}

export interface Tally {
  count: number;
  amount: string;
}

/**
 * The PAY lines' tallies by outcome (a line this run matched counts as MATCHED), and the
 * platform's side of them: a matched line's amount, a mismatched line's payment amount.
 */
export async function payLineTallies(trx: Knex.Transaction, work: string): Promise<{ tallies: Record<string, Tally>; platformAmount: string }> {
  assertRunWorkTable(work);
  const result = await run<{ outcome: string; count: string; amount: string; platform_amount: string }>(
    trx,
    `SELECT CASE WHEN outcome = '${NEW_MATCH}' THEN 'MATCHED' ELSE outcome END AS outcome, count(*) AS count, sum(amount)::text AS amount,
            sum(CASE WHEN matched OR outcome = '${NEW_MATCH}' THEN amount
                     WHEN outcome IN ('PAY_CODE_MISMATCH', 'AMOUNT_MISMATCH') THEN payment_amount
                     ELSE 0 END)::text AS platform_amount
       FROM ${work} GROUP BY 1`,
    {},
  );
  const tallies: Record<string, Tally> = {};
  const platform: string[] = [];
  for (const row of result.rows) {
    tallies[row.outcome] = { count: Number(row.count), amount: row.amount };
    platform.push(row.platform_amount);
  }
  return { tallies, platformAmount: await sumDecimals(trx, platform) };
}

/** Sums decimal strings in PostgreSQL (NUMERIC, exact): money never passes through a JS number. */
async function sumDecimals(trx: Queryable, values: string[]): Promise<string> {
  const result = await trx.raw<{ rows: Array<{ total: string }> }>(`SELECT COALESCE(sum(v), 0)::numeric(18, 2)::text AS total FROM unnest(CAST(? AS numeric[])) v`, [values]);
  return result.rows[0]?.total ?? '0.00';
}

/**
 * SHORTAGE: the agency's payments of T with no live match and no PAY line of this statement become
 * CARRIED_OVER (to T+1's statement). A rerun updates the row; one already OPEN (T+1 ran) stays
 * OPEN; one RESOLVED by finance is not opened again. Nor is a payment that a later statement
 * listed with another amount or payCode: its mismatch, OPEN or RESOLVED, holds it (a rerun of T
 * after T+1 ran carried it again, beside the mismatch).
 *
 * A payment with a line is in the work table under its row id (the line's live match's payment,
 * or the one the line found through its key). So the payments of T are first anti-joined with the
 * work table on that bigint (the MATERIALIZED CTE, ids only: a narrow hash); only the few left are
 * then tested by index, one by one. OFFSET 0 keeps each test a subplan: as plain quals the planner ran them on the payments'
 * scan, for every payment of T — a million index probes, 4 s
 * (contracts/decisions/0180-overages-from-the-run-classification.md).
 */
export async function carryShortages(trx: Knex.Transaction, p: StepParams, work: string): Promise<number> {
  assertRunWorkTable(work);
  const result = await run(
    trx,
    `WITH unlisted AS MATERIALIZED (
       SELECT p.id
         FROM payments p
        WHERE p.agency_party_id = :agency AND p.business_date = CAST(:date AS date)
          AND NOT EXISTS (SELECT 1 FROM ${work} w WHERE w.payment_id = p.id)
     )
     INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id, payment_id,
                                               platform_pay_code, platform_amount, first_run_id, last_run_id, created_at, updated_at)
     SELECT ${DISCREPANCY_ID(`'-P' || pay.id`)}, :agency, :agencyCode, :date, 'SHORTAGE', 'CARRIED_OVER', pay.agency_txn_id, pay.id,
            pay.pay_code, pay.amount, :run, :run, :now, :now
       FROM unlisted u
       JOIN payments pay ON pay.id = u.id
      WHERE NOT EXISTS (SELECT 1 FROM statement_matches lm WHERE lm.payment_id = pay.id AND lm.released_at IS NULL OFFSET 0)
        AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies rd WHERE rd.payment_id = pay.id AND rd.status = 'RESOLVED'
                           AND rd.type IN ('SHORTAGE', 'AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH') OFFSET 0)
        AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies md WHERE md.payment_id = pay.id AND md.status = 'OPEN'
                           AND md.type IN ('AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH') OFFSET 0)
        -- A payment posted online since the classification, for a line it found with none: that
        -- line is classified again once the backfill commits (decision 0239).
        AND NOT EXISTS (SELECT 1 FROM ${work} c WHERE c.agency_txn_id = pay.agency_txn_id AND NOT c.matched AND c.payment_id IS NULL OFFSET 0)
      ORDER BY pay.id
     ON CONFLICT (agency_party_id, agency_txn_id, type) WHERE status IN ('CARRIED_OVER', 'OPEN')
     DO UPDATE SET last_run_id = EXCLUDED.last_run_id, updated_at = EXCLUDED.updated_at
      WHERE reconciliation_discrepancies.status = 'CARRIED_OVER'`,
    p as unknown as Params,
  );
  return result.rowCount;
}

/**
 * CARRIED_OVER: the payments of T carried; SHORTAGE: those OPEN — of T, or of an earlier date and
 * opened or kept open by this run (carried in from T−1, or released by T's correction: decisions
 * 0233, 0238).
 */
export async function paymentTallies(trx: Knex.Transaction, p: StepParams): Promise<{ CARRIED_OVER: Tally; SHORTAGE: Tally }> {
  const result = await run<{ carried_count: string; carried_amount: string; short_count: string; short_amount: string }>(
    trx,
    `SELECT count(*) FILTER (WHERE status = 'CARRIED_OVER' AND business_date = CAST(:date AS date)) AS carried_count,
            COALESCE(sum(platform_amount) FILTER (WHERE status = 'CARRIED_OVER' AND business_date = CAST(:date AS date)), 0)::numeric(18, 2)::text AS carried_amount,
            count(*) FILTER (WHERE status = 'OPEN') AS short_count,
            COALESCE(sum(platform_amount) FILTER (WHERE status = 'OPEN'), 0)::numeric(18, 2)::text AS short_amount
       FROM reconciliation_discrepancies
      WHERE agency_party_id = :agency AND type = 'SHORTAGE' AND status IN ('CARRIED_OVER', 'OPEN')
        AND (business_date = CAST(:date AS date) OR (business_date < CAST(:date AS date) AND last_run_id = :run))`,
    p as unknown as Params,
  );
  const row = result.rows[0];
  assert(row !== undefined, 'one row of tallies');
  return { CARRIED_OVER: { count: Number(row.carried_count), amount: row.carried_amount }, SHORTAGE: { count: Number(row.short_count), amount: row.short_amount } };
}

/** BALANCED means no OPEN discrepancy for T: of T, or opened or kept open by this run. */
export async function hasOpenDiscrepancy(trx: Knex.Transaction, p: StepParams): Promise<boolean> {
  const result = await run<{ open: boolean }>(
    trx,
    `SELECT EXISTS (SELECT 1 FROM reconciliation_discrepancies
                     WHERE agency_party_id = :agency AND status = 'OPEN' AND (business_date = CAST(:date AS date) OR last_run_id = :run)) AS open`,
    p as unknown as Params,
  );
  return result.rows[0]?.open === true;
}

/** A STATEMENT_MISSING run's platformTotal: the agency's unmatched payments of T. */
export async function unmatchedPaymentsTotal(trx: Knex.Transaction, agencyPartyId: string, businessDate: string): Promise<string> {
  const result = await run<{ total: string }>(
    trx,
    `SELECT COALESCE(sum(pay.amount), 0)::numeric(18, 2)::text AS total FROM payments pay
      WHERE pay.agency_party_id = :agency AND pay.business_date = CAST(:date AS date) AND NOT ${LIVE_MATCH_OF('pay.id')}`,
    { agency: agencyPartyId, date: businessDate },
  );
  return result.rows[0]?.total ?? '0.00';
}

// ---- the queue -------------------------------------------------------------------------------------------

export interface QueuedPair {
  agency_party_id: string;
  agency_code: string;
  business_date: string;
}

/**
 * The predicate of the partial index `payments_late_posted` (migration 20261209000100): a payment
 * recorded two or more Shanghai days after its business date. Written here word for word as the
 * index has it, so the planner can prove the index applies.
 */
const LATE_POSTED = (alias: string): string => `${alias}.business_date < CAST(${alias}.created_at AT TIME ZONE 'Asia/Shanghai' AS date) - 1`;

/**
 * What the reconcile job takes (docs/operations.md §4, contracts/decisions/0107-reconcile-job.md,
 * 0210-late-postings-requeue-their-date.md). One query for all agencies and dates:
 *
 * - the window `earliest`…`latest`: `latest` for every active agency, and each date whose last run
 *   is UNBALANCED or RUNNING (a crash interrupted it after its backfill committed, decision 0239),
 *   that has a newer statement than its last run (or a statement and no run),
 *   unmatched payments posted after its last run (a late posting), or payments carried into it
 *   after its last run;
 * - before the window, only what re-queues a date: unmatched late postings (read from
 *   `payments_late_posted`, those recorded since `postedSince`) created after the date's last run,
 *   and shortages carried into a date with a statement after its last run (CARRIED_OVER rows are
 *   few: the next day's run settles them). An old UNBALANCED date is not taken again for being
 *   UNBALANCED: nothing new happened to it.
 */
export async function queuedPairs(db: Queryable, window: { earliest: string; latest: string; postedSince: string; agencyCode: string | null }): Promise<QueuedPair[]> {
  const result = await run<QueuedPair>(
    db,
    `WITH agencies AS (
       SELECT id, code FROM parties WHERE role = 'agency' AND status = 'ACTIVE' AND (CAST(:agencyCode AS text) IS NULL OR code = CAST(:agencyCode AS text))
     ), dates AS (
       SELECT CAST(d AS date) AS business_date FROM generate_series(CAST(:earliest AS date), CAST(:latest AS date), interval '1 day') d
     ), last_runs AS (
       SELECT DISTINCT ON (agency_party_id, business_date) agency_party_id, business_date, statement_id, status, finished_at
         FROM reconciliation_runs WHERE business_date BETWEEN CAST(:earliest AS date) AND CAST(:latest AS date)
        ORDER BY agency_party_id, business_date, id DESC
     ), late_posted AS (
       SELECT pay.agency_party_id, pay.business_date, max(pay.created_at) AS posted_at
         FROM payments pay
        WHERE ${LATE_POSTED('pay')}
          AND pay.created_at >= CAST(CAST(:postedSince AS date) AS timestamp) AT TIME ZONE 'Asia/Shanghai'
          AND pay.business_date < CAST(:earliest AS date)
          -- A probe per late posting (OFFSET 0 keeps it a subplan): as an anti join the planner,
          -- misjudging how few rows the partial index holds, hashed every live match.
          AND NOT EXISTS (SELECT 1 FROM statement_matches lm WHERE lm.payment_id = pay.id AND lm.released_at IS NULL OFFSET 0)
        GROUP BY pay.agency_party_id, pay.business_date
     ), carried_in AS (
       SELECT c.agency_party_id, c.business_date + 1 AS business_date, max(c.updated_at) AS carried_at
         FROM reconciliation_discrepancies c
        WHERE c.status = 'CARRIED_OVER' AND c.type = 'SHORTAGE' AND c.business_date + 1 < CAST(:earliest AS date)
        GROUP BY c.agency_party_id, c.business_date + 1
     ), before_window AS (
       SELECT COALESCE(p.agency_party_id, c.agency_party_id) AS agency_party_id, COALESCE(p.business_date, c.business_date) AS business_date, p.posted_at, c.carried_at
         FROM late_posted p FULL JOIN carried_in c ON c.agency_party_id = p.agency_party_id AND c.business_date = p.business_date
     )
     SELECT a.id AS agency_party_id, a.code AS agency_code, d.business_date
       FROM agencies a CROSS JOIN dates d
       LEFT JOIN last_runs r ON r.agency_party_id = a.id AND r.business_date = d.business_date
       LEFT JOIN agency_statements s ON s.agency_party_id = a.id AND s.business_date = d.business_date AND s.superseded_by IS NULL
      WHERE d.business_date = CAST(:latest AS date)
         OR r.status IN ('UNBALANCED', 'RUNNING')
         OR (s.id IS NOT NULL AND s.id IS DISTINCT FROM r.statement_id)
         OR EXISTS (SELECT 1 FROM payments pay
                     WHERE pay.agency_party_id = a.id AND pay.business_date = d.business_date
                       AND pay.created_at > COALESCE(r.finished_at, '-infinity') AND NOT ${LIVE_MATCH_OF('pay.id')})
         OR (s.id IS NOT NULL AND EXISTS (SELECT 1 FROM reconciliation_discrepancies c
                     WHERE c.agency_party_id = a.id AND c.type = 'SHORTAGE' AND c.status = 'CARRIED_OVER'
                       AND c.business_date = d.business_date - 1 AND c.updated_at > COALESCE(r.finished_at, '-infinity')))
     UNION ALL
     SELECT a.id, a.code, b.business_date
       FROM before_window b
       JOIN agencies a ON a.id = b.agency_party_id
       LEFT JOIN LATERAL (SELECT r.finished_at FROM reconciliation_runs r
                           WHERE r.agency_party_id = b.agency_party_id AND r.business_date = b.business_date
                           ORDER BY r.id DESC LIMIT 1) r ON true
      WHERE b.posted_at > COALESCE(r.finished_at, '-infinity')
         OR (b.carried_at > COALESCE(r.finished_at, '-infinity')
             AND EXISTS (SELECT 1 FROM agency_statements s WHERE s.agency_party_id = b.agency_party_id AND s.business_date = b.business_date AND s.superseded_by IS NULL))
      ORDER BY 3, 2`,
    window,
  );
  return result.rows;
}

// ---- reads ---------------------------------------------------------------------------------------------

export interface DiscrepancyRow {
  id: string;
  discrepancy_id: string;
  agency_code: string;
  business_date: string;
  type: string;
  status: string;
  agency_txn_id: string;
  payment_public_id: string | null;
  platform_pay_code: string | null;
  platform_amount: string | null;
  statement_public_id: string | null;
  statement_line_no: number | null;
  statement_pay_code: string | null;
  statement_amount: string | null;
  instruction_no: string | null;
  resolution_action: string | null;
  resolved_at: Date | null;
  /** The pending proposal, else the last decided one (finance_proposals, by a join). */
  proposal_id: string | null;
  proposal_ref: string | null;
  proposal_action: string | null;
  proposal_reason: string | null;
  proposal_status: string | null;
  proposal_comment: string | null;
  proposal_created_at: Date | null;
  proposal_decided_at: Date | null;
  proposed_by: string | null;
  decided_by: string | null;
}

/**
 * The discrepancy columns and their proposal, for any read (the agency's view, finance's lists):
 * `FROM reconciliation_discrepancies d ${DISCREPANCY_JOINS}`. Each payment's public id is read by
 * its primary key (OFFSET 0 keeps it a probe per discrepancy): as a plain join the planner hashed
 * every payment of the database for a run's 21,000 discrepancies, 0.5 s of a 0.63 s read.
 */
export const DISCREPANCY_SELECT = `SELECT d.id, d.discrepancy_id, d.agency_code, d.business_date, d.type, d.status, d.agency_txn_id,
       pay.payment_id AS payment_public_id, d.platform_pay_code, d.platform_amount,
       st.statement_id AS statement_public_id, d.statement_line_no, d.statement_pay_code, d.statement_amount, d.instruction_no,
       d.resolution_action, d.resolved_at,
       fp.proposal_id, fp.proposal_ref, fp.action AS proposal_action, fp.reason AS proposal_reason, fp.status AS proposal_status,
       fp.comment AS proposal_comment, fp.created_at AS proposal_created_at, fp.decided_at AS proposal_decided_at,
       pp.app_id AS proposed_by, dp.app_id AS decided_by
  FROM reconciliation_discrepancies d
  LEFT JOIN LATERAL (SELECT p.payment_id FROM payments p WHERE p.id = d.payment_id OFFSET 0) pay ON true
  LEFT JOIN agency_statements st ON st.id = d.statement_id
  LEFT JOIN LATERAL (SELECT * FROM finance_proposals f WHERE f.target_kind = 'DISCREPANCY' AND f.target_id = d.id
                      ORDER BY (f.status = 'PENDING') DESC, f.id DESC LIMIT 1) fp ON true
  LEFT JOIN parties pp ON pp.id = fp.proposed_by_party_id
  LEFT JOIN parties dp ON dp.id = fp.decided_by_party_id`;

/** The discrepancies a run of (agency, T) shows: those of T, and those carried in that its runs touched. */
export async function discrepanciesOfRun(db: Queryable, runRow: RunRow): Promise<DiscrepancyRow[]> {
  const result = await run<DiscrepancyRow>(
    db,
    `${DISCREPANCY_SELECT}
      WHERE d.agency_party_id = :agency AND (d.business_date = CAST(:date AS date) OR d.last_run_id = :run)
      ORDER BY d.id`,
    { agency: runRow.agency_party_id, date: runRow.business_date, run: runRow.id },
  );
  return result.rows;
}
