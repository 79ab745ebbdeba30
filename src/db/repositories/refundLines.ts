import type { Knex } from 'knex';
import { Decimal, formatMoney, ZERO } from '../../domain/money';
import type { StepParams, Tally } from './reconciliation';

/**
 * The REFUND lines of an agency statement against the agency's refund instructions
 * (docs/reconciliation.md §2, contracts/decisions/0154-refund-lines-matched.md). Kept apart from
 * the PAY lines' statements: refunds are few, and this file is the refund issue's alone.
 */

/**
 * The lines of the statement that match an agency-executed refund instruction of the agency with
 * that number and amount, not yet FAILED or MISMATCHED: each instruction by its first such line.
 * `confirmable` is false for an instruction already CONFIRMED (a rerun, or a superseding file).
 */
export async function matchedRefundLines(trx: Knex.Transaction, p: StepParams, confirmableStatuses: readonly string[]): Promise<Array<{ line_no: number; agency_txn_id: string; instruction_id: string; instruction_no: string; confirmable: boolean }>> {
  const result = await trx.raw<{ rows: Array<{ line_no: number; agency_txn_id: string; instruction_id: string; instruction_no: string; confirmable: boolean }> }>(
    `SELECT DISTINCT ON (i.id) pl.line_no, pl.agency_txn_id, i.id::text AS instruction_id, i.instruction_no, i.status = ANY(?::text[]) AS confirmable
       FROM agency_statement_lines pl
       JOIN instructions i ON i.instruction_no = pl.instruction_no AND i.amount = pl.amount
      WHERE pl.statement_id = ?::bigint AND pl.kind = 'REFUND'
        AND i.type = 'REFUND' AND i.refund_id IS NOT NULL AND i.executor_party_id = ?::bigint AND i.agency_party_id = ?::bigint
        AND (i.status = ANY(?::text[]) OR i.status = 'CONFIRMED')
      ORDER BY i.id, pl.line_no`,
    [[...confirmableStatuses], p.statement, p.agency, p.agency, [...confirmableStatuses]],
  );
  return result.rows;
}

/**
 * OPEN REFUND_MISMATCH discrepancies (a rerun updates them): the statement's REFUND lines that
 * matched nothing, and the agency's refund instructions reported EXECUTED on a date before the
 * run's that are still unconfirmed — no statement of their execution date or the next contained
 * them. Those a match settled are AUTO_RESOLVED. Answers the tally of the mismatches.
 */
export async function upsertRefundMismatches(trx: Knex.Transaction, p: StepParams, matched: { lineNos: readonly number[]; keys: readonly string[] }): Promise<Tally> {
  await trx.raw(
    `UPDATE reconciliation_discrepancies SET status = 'AUTO_RESOLVED', resolved_at = ?::timestamptz, updated_at = ?::timestamptz, last_run_id = ?::bigint
      WHERE agency_party_id = ?::bigint AND type = 'REFUND_MISMATCH' AND status = 'OPEN' AND (agency_txn_id = ANY(?::text[]) OR instruction_no = ANY(?::text[]))`,
    [p.now, p.now, p.run, p.agency, [...matched.keys], [...matched.keys]],
  );
  const lines = await trx.raw<{ rows: Array<{ amount: string }> }>(
    `INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id,
                                               statement_id, statement_line_no, statement_amount, instruction_no,
                                               first_run_id, last_run_id, created_at, updated_at)
     SELECT 'D' || substr(md5(?::text || '-R' || pl.line_no), 1, 26), ?::bigint, ?, ?::date, 'REFUND_MISMATCH', 'OPEN', pl.agency_txn_id,
            ?::bigint, pl.line_no, pl.amount, pl.instruction_no, ?::bigint, ?::bigint, ?::timestamptz, ?::timestamptz
       FROM agency_statement_lines pl
      WHERE pl.statement_id = ?::bigint AND pl.kind = 'REFUND' AND pl.line_no <> ALL(?::int[])
        AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies rd WHERE rd.statement_id = pl.statement_id AND rd.statement_line_no = pl.line_no AND rd.status = 'RESOLVED')
     ON CONFLICT (agency_party_id, agency_txn_id, type) WHERE status IN ('CARRIED_OVER', 'OPEN')
     DO UPDATE SET statement_id = EXCLUDED.statement_id, statement_line_no = EXCLUDED.statement_line_no, statement_amount = EXCLUDED.statement_amount,
                   instruction_no = EXCLUDED.instruction_no, last_run_id = EXCLUDED.last_run_id, updated_at = EXCLUDED.updated_at
     RETURNING statement_amount::text AS amount`,
    [p.runId, p.agency, p.agencyCode, p.date, p.statement, p.run, p.run, p.now, p.now, p.statement, [...matched.lineNos]],
  );
  const unreported = await trx.raw<{ rows: Array<{ amount: string }> }>(
    `INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id,
                                               platform_amount, instruction_no, first_run_id, last_run_id, created_at, updated_at)
     SELECT 'D' || substr(md5(?::text || '-I' || i.instruction_no), 1, 26), ?::bigint, ?, ?::date, 'REFUND_MISMATCH', 'OPEN', i.instruction_no,
            i.amount, i.instruction_no, ?::bigint, ?::bigint, ?::timestamptz, ?::timestamptz
       FROM instructions i
      WHERE i.type = 'REFUND' AND i.refund_id IS NOT NULL AND i.executor_party_id = ?::bigint AND i.agency_party_id = ?::bigint
        AND i.reported_status = 'EXECUTED' AND i.status IN ('EXECUTED', 'UNCONFIRMED')
        AND (i.executed_at AT TIME ZONE 'Asia/Shanghai')::date < ?::date
        AND i.instruction_no <> ALL(?::text[])
     ON CONFLICT (agency_party_id, agency_txn_id, type) WHERE status IN ('CARRIED_OVER', 'OPEN')
     DO UPDATE SET last_run_id = EXCLUDED.last_run_id, updated_at = EXCLUDED.updated_at
     RETURNING platform_amount::text AS amount`,
    [p.runId, p.agency, p.agencyCode, p.date, p.run, p.run, p.now, p.now, p.agency, p.agency, p.date, [...matched.keys]],
  );
  const amounts = [...lines.rows, ...unreported.rows].map((row) => new Decimal(row.amount));
  return { count: amounts.length, amount: formatMoney(amounts.reduce<Decimal>((sum, amount) => sum.plus(amount), ZERO)) };
}

/**
 * The refund obligations of the agency's unapplied money whose capture a statement has proven (a
 * live match) and that are APPROVED with a payee, not yet instructed: oldest first.
 */
export async function provenObligations(trx: Knex.Transaction, p: StepParams): Promise<string[]> {
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(
    `SELECT r.id::text AS id
       FROM refunds r JOIN payments pay ON pay.id = r.payment_id
      WHERE r.status = 'APPROVED' AND r.refund_no IS NULL AND r.payee_account_no IS NOT NULL
        AND pay.agency_party_id = ?::bigint AND pay.unapplied_reason IS NOT NULL
        AND EXISTS (SELECT 1 FROM statement_matches m WHERE m.payment_id = pay.id AND m.released_at IS NULL)
      ORDER BY r.id`,
    [p.agency],
  );
  return result.rows.map((row) => row.id);
}
