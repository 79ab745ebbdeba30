import type { Knex } from 'knex';
import { chunkedWrites, type PreparedWrite } from '../preparedWrites';
import type { PostingNoticeItemRow } from './payments';

/**
 * Reconciliation's OVERAGE backfill (docs/reconciliation.md §2, contracts/decisions/0110): the
 * statements of src/services/reconciliation/backfill.ts. Set-based: each reads or writes all the
 * lines of one statement at once — rows travel as one JSON array per statement
 * (`json_to_recordset`), ROWS_PER_STATEMENT_MAX at a time — never a statement per line. The writes
 * are built as PreparedWrites, so that the service builds a page's statements while the database
 * executes the page before (contracts/decisions/0236-backfill-writes-prepared-ahead.md).
 */

/** Rows one write statement carries at most; a statement's overages are written in chunks of this. */
export const ROWS_PER_STATEMENT_MAX = 5_000;

/** A PAY line of the statement that no payment_keys row names: an overage to backfill. */
export interface OverageLineRow {
  line_no: number;
  agency_txn_id: string;
  pay_code: string;
  amount: string;
  occurred_at: Date;
  channel: string;
  /** The row id its payment gets (`nextval`, drawn with the read; a line not backfilled leaves a harmless gap). */
  payment_row_id: string;
}

/**
 * The statement's PAY lines with no key for (agency, agencyTxnId), in line order, each with a
 * payment row id drawn; the statement must be the agency's (the join). A page is either
 * - `lineNos`: those of these lines (the run's classification found them with neither a payment nor
 *   a live match, contracts/decisions/0180-overages-from-the-run-classification.md) that still have
 *   no key, each found by the primary key instead of one payment_keys probe per line of the
 *   statement; or
 * - `afterLineNo` and `limit`: the next `limit` of them after that line, searched for.
 * Either way the backfill's memory is bounded by the page, not by the number of overages.
 */
export async function readOverageLines(
  trx: Knex.Transaction,
  statementRowId: string,
  agencyPartyId: string,
  page: { afterLineNo: number; limit: number } | { lineNos: number[] },
): Promise<OverageLineRow[]> {
  const [which, bindings] = 'lineNos' in page ? ['AND l.line_no = ANY(?::int[])', [page.lineNos]] : ['AND l.line_no > ?::int', [page.afterLineNo]];
  const limit = 'lineNos' in page ? page.lineNos.length : page.limit;
  const result = await trx.raw<{ rows: OverageLineRow[] }>(
    `SELECT l.line_no, l.agency_txn_id, l.pay_code, l.amount::text AS amount, l.occurred_at, l.channel,
            nextval('payments_id_seq')::text AS payment_row_id
       FROM agency_statements s
       JOIN agency_statement_lines l ON l.statement_id = s.id AND l.kind = 'PAY'
      WHERE s.id = ?::bigint AND s.agency_party_id = ?::bigint
        ${which}
        AND NOT EXISTS (SELECT 1 FROM payment_keys k WHERE k.agency_party_id = s.agency_party_id AND k.agency_txn_id = l.agency_txn_id)
      ORDER BY l.line_no
      LIMIT ?::int`,
    [statementRowId, agencyPartyId, ...bindings, limit],
  );
  return result.rows;
}

/** A notice as the posting's read shapes it (src/db/repositories/payments.ts, `notice_*` columns), plus its payCode. */
export interface LockedNoticeRow {
  pay_code: string;
  notice_id: string | null;
  notice_version: string | null;
  notice_status: string | null;
  notice_due_date: string | null;
  notice_expire_date: string | null;
  notice_created_at: Date | null;
  notice_unit_party_id: string | null;
  notice_unit_code: string | null;
  notice_unit_name: string | null;
  notice_biz_ref: string | null;
  notice_payer_name: string | null;
  notice_total_amount: string | null;
  notice_items: PostingNoticeItemRow[] | null;
}

/**
 * Locks the notices these payCodes name, FOR UPDATE in the order of their row ids (so two batches,
 * or a batch and an online posting — which locks one notice — never wait on each other in a
 * cycle), and reads them with their lines: one round trip. Codes that name no notice are absent.
 */
export async function lockNoticesByPayCode(trx: Knex.Transaction, payCodes: readonly string[]): Promise<LockedNoticeRow[]> {
  if (payCodes.length === 0) return [];
  const result = await trx.raw<{ rows: LockedNoticeRow[] }>(
    `SELECT n.pay_code, n.id::text AS notice_id, n.xmin::text AS notice_version, n.status AS notice_status,
            n.due_date AS notice_due_date, n.expire_date AS notice_expire_date, n.created_at AS notice_created_at,
            n.unit_party_id::text AS notice_unit_party_id, n.unit_code AS notice_unit_code, n.unit_name AS notice_unit_name,
            n.biz_ref AS notice_biz_ref, n.payer_name AS notice_payer_name, n.total_amount::text AS notice_total_amount,
            (SELECT json_agg(json_build_object(
                      'position', i.position, 'item_code', i.item_code, 'item_name', i.item_name, 'amount', i.amount::text,
                      'receiving_account_no', i.receiving_account_no, 'late_fee_type', i.late_fee_type,
                      'rate_per_day', i.rate_per_day::text, 'cap_ratio', i.cap_ratio::text) ORDER BY i.position)
               FROM notice_items i WHERE i.notice_id = n.id) AS notice_items
       FROM notices n
      WHERE n.pay_code IN (SELECT c.value FROM json_array_elements_text(?::json) AS c)
      ORDER BY n.id
        FOR UPDATE OF n`,
    [JSON.stringify(payCodes)],
  );
  return result.rows;
}

/**
 * Binds the lines' keys (request_hash NULL: bound by a statement line, not a request), ON
 * CONFLICT DO NOTHING, and answers the agencyTxnIds this call bound. A key an online posting bound
 * meanwhile — committed, or in flight (the INSERT waits for it) — is not bound here: that line has
 * a payment now and is no overage (contracts/decisions/0110).
 */
export async function claimKeys(trx: Knex.Transaction, agencyPartyId: string, keys: ReadonlyArray<{ agency_txn_id: string; payment_row_id: string; pay_code: string; amount: string }>, now: Date): Promise<Set<string>> {
  const claimed = new Set<string>();
  for (let start = 0; start < keys.length; start += ROWS_PER_STATEMENT_MAX) {
    const chunk = keys.slice(start, start + ROWS_PER_STATEMENT_MAX);
    const result = await trx.raw<{ rows: Array<{ agency_txn_id: string }> }>(
      `INSERT INTO payment_keys (agency_party_id, agency_txn_id, request_hash, payment_id, pay_code, amount, created_at)
       SELECT ?::bigint, k.agency_txn_id, NULL, k.payment_row_id, k.pay_code, k.amount, ?::timestamptz
         FROM json_to_recordset(?::json) AS k(agency_txn_id text, payment_row_id bigint, pay_code text, amount numeric)
        ORDER BY k.agency_txn_id
       ON CONFLICT (agency_party_id, agency_txn_id) DO NOTHING
       RETURNING agency_txn_id`,
      [agencyPartyId, now, JSON.stringify(chunk)],
    );
    for (const row of result.rows) claimed.add(row.agency_txn_id);
  }
  return claimed;
}

export interface NewPaymentRow {
  id: string;
  payment_id: string;
  agency_txn_id: string;
  pay_code: string;
  notice_id: string | null;
  amount: string;
  paid_at: Date;
  channel: string;
  status: string;
  unapplied_reason: string | null;
  receipt_no: string | null;
}

export interface NewRefundRow {
  refund_id: string;
  payment_row_id: string;
  pay_code: string;
  amount: string;
  reason: string;
  status: string;
}

export interface PaidNoticeRow {
  notice_id: string;
  status: string;
  paid_at: Date;
  paid_amount: string;
  late_fee_paid: string;
  receipt_no: string;
  /** [{position, late_fee_paid}] */
  lines: Array<{ position: number; late_fee_paid: string }>;
}

export interface NewMatchRow {
  payment_row_id: string;
  line_no: number;
}

export interface NewDiscrepancyRow {
  discrepancy_id: string;
  agency_txn_id: string;
  payment_row_id: string;
  line_no: number;
  pay_code: string;
  amount: string;
}

/**
 * The backfilled payments: captured funds, business date T, created at `now` — the columns the
 * posting writes (src/db/repositories/payments.ts), with no payer account (a statement line has none).
 */
export function paymentWrites(context: { agencyPartyId: string; agencyCode: string; businessDate: string; now: Date }, rows: readonly NewPaymentRow[]): PreparedWrite[] {
  return chunkedWrites('payments', rows, ROWS_PER_STATEMENT_MAX, (json) => ({
    sql: `INSERT INTO payments (id, payment_id, agency_party_id, agency_code, agency_txn_id, pay_code, notice_id, amount, paid_at,
                               business_date, channel, funds_captured, payer_account_name, payer_account_no, payer_bank_name,
                               status, unapplied_reason, receipt_no, created_at, updated_at)
         SELECT p.id, p.payment_id, ?::bigint, ?, p.agency_txn_id, p.pay_code, p.notice_id, p.amount, p.paid_at,
                ?::date, p.channel, true, NULL, NULL, NULL, p.status, p.unapplied_reason, p.receipt_no, ?::timestamptz, ?::timestamptz
           FROM json_to_recordset(?::json) AS p(id bigint, payment_id text, agency_txn_id text, pay_code text, notice_id bigint, amount numeric,
                                                paid_at timestamptz, channel text, status text, unapplied_reason text, receipt_no text)`,
    bindings: [context.agencyPartyId, context.agencyCode, context.businessDate, context.now, context.now, json],
  }));
}

/** The refund obligations of the unapplied ones: approved by policy at creation, as the posting writes them. */
export function refundObligationWrites(now: Date, rows: readonly NewRefundRow[]): PreparedWrite[] {
  return chunkedWrites('refund obligations', rows, ROWS_PER_STATEMENT_MAX, (json) => ({
    sql: `INSERT INTO refunds (refund_id, payment_id, pay_code, amount, reason, payee_name, payee_account_no, payee_bank_name,
                              status, approval, approved_at, created_at, updated_at)
         SELECT r.refund_id, r.payment_row_id, r.pay_code, r.amount, r.reason, NULL, NULL, NULL, r.status, 'AUTO_POLICY', ?::timestamptz, ?::timestamptz, ?::timestamptz
           FROM json_to_recordset(?::json) AS r(refund_id text, payment_row_id bigint, pay_code text, amount numeric, reason text, status text)`,
    bindings: [now, now, now, json],
  }));
}

/** The notices the backfills paid: PAID with paidAt, paidAmount, the late fee and receipt, and each line's late fee. */
export function paidNoticeWrites(now: Date, rows: readonly PaidNoticeRow[]): PreparedWrite[] {
  const notices = chunkedWrites('paid notices', rows.map(({ lines: _lines, ...notice }) => notice), ROWS_PER_STATEMENT_MAX, (json) => ({
    sql: `UPDATE notices n
            SET status = f.status, paid_at = f.paid_at, paid_amount = f.paid_amount, late_fee_paid = f.late_fee_paid,
                receipt_no = f.receipt_no, updated_at = ?::timestamptz
           FROM json_to_recordset(?::json) AS f(notice_id bigint, status text, paid_at timestamptz, paid_amount numeric, late_fee_paid numeric, receipt_no text)
          WHERE n.id = f.notice_id`,
    bindings: [now, json],
  }));
  const lines = rows.flatMap((row) => row.lines.map((line) => ({ notice_id: row.notice_id, ...line })));
  const items = chunkedWrites('paid notice lines', lines, ROWS_PER_STATEMENT_MAX, (json) => ({
    sql: `UPDATE notice_items i
            SET late_fee_paid = f.late_fee_paid
           FROM json_to_recordset(?::json) AS f(notice_id bigint, position smallint, late_fee_paid numeric)
          WHERE i.notice_id = f.notice_id AND i.position = f.position`,
    bindings: [json],
  }));
  return [...notices, ...items];
}

/** Each backfill matched at once with its line, in this run (`backfilled`). */
export function matchWrites(context: { statementRowId: string; runRowId: string; now: Date }, rows: readonly NewMatchRow[]): PreparedWrite[] {
  return chunkedWrites('statement matches', rows, ROWS_PER_STATEMENT_MAX, (json) => ({
    sql: `INSERT INTO statement_matches (payment_id, statement_id, line_no, run_id, backfilled, matched_at)
         SELECT m.payment_row_id, ?::bigint, m.line_no, ?::bigint, true, ?::timestamptz
           FROM json_to_recordset(?::json) AS m(payment_row_id bigint, line_no integer)`,
    bindings: [context.statementRowId, context.runRowId, context.now, json],
  }));
}

/** Each backfill's OVERAGE discrepancy, resolved automatically as it is opened: the statement side filled, no platform side. */
export function overageDiscrepancyWrites(
  context: { agencyPartyId: string; agencyCode: string; businessDate: string; statementRowId: string; runRowId: string; now: Date },
  rows: readonly NewDiscrepancyRow[],
): PreparedWrite[] {
  return chunkedWrites('overage discrepancies', rows, ROWS_PER_STATEMENT_MAX, (json) => ({
    sql: `INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id, payment_id,
                                                   platform_pay_code, platform_amount, statement_id, statement_line_no, statement_pay_code,
                                                   statement_amount, instruction_no, first_run_id, last_run_id, resolution_action, resolved_at,
                                                   created_at, updated_at)
         SELECT d.discrepancy_id, ?::bigint, ?, ?::date, 'OVERAGE', 'AUTO_RESOLVED', d.agency_txn_id, d.payment_row_id,
                NULL, NULL, ?::bigint, d.line_no, d.pay_code, d.amount, NULL, ?::bigint, ?::bigint, NULL, ?::timestamptz, ?::timestamptz, ?::timestamptz
           FROM json_to_recordset(?::json) AS d(discrepancy_id text, agency_txn_id text, payment_row_id bigint, line_no integer, pay_code text, amount numeric)`,
    bindings: [context.agencyPartyId, context.agencyCode, context.businessDate, context.statementRowId, context.runRowId, context.runRowId, context.now, context.now, context.now, json],
  }));
}
