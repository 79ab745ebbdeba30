import type { Knex } from 'knex';
import { REFUND_STATUSES_NOT_STANDING } from '../../domain/refunds';
import type { Queryable } from '../database';
import { fetchPage, type Page, type PageRequest } from '../pagination';

/**
 * Reconciliation discrepancies as finance reads and resolves them (migration 20261202000100,
 * docs/reconciliation.md §3), and the writes of the REVERSE_PAYMENT correction on the payment, its
 * notice and its refund obligation. The matching run (another module) creates and reruns them.
 */

export interface DiscrepancyRow {
  id: string;
  discrepancy_id: string;
  agency_party_id: string;
  agency_code: string;
  business_date: string;
  type: string;
  status: string;
  agency_txn_id: string;
  payment_row_id: string | null;
  payment_id: string | null;
  platform_pay_code: string | null;
  platform_amount: string | null;
  statement_id: string | null;
  statement_line_no: number | null;
  statement_pay_code: string | null;
  statement_amount: string | null;
  instruction_no: string | null;
  resolution_action: string | null;
  resolved_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `d.id::text AS id, d.discrepancy_id, d.agency_party_id::text AS agency_party_id, d.agency_code,
       to_char(d.business_date, 'YYYY-MM-DD') AS business_date, d.type, d.status, d.agency_txn_id,
       d.payment_id::text AS payment_row_id, p.payment_id, d.platform_pay_code, d.platform_amount::text AS platform_amount,
       s.statement_id, d.statement_line_no, d.statement_pay_code, d.statement_amount::text AS statement_amount,
       d.instruction_no, d.resolution_action, d.resolved_at, d.created_at, d.updated_at`;

const FROM = `reconciliation_discrepancies d
  LEFT JOIN payments p ON p.id = d.payment_id
  LEFT JOIN agency_statements s ON s.id = d.statement_id`;

/** A discrepancy by its public id; locked FOR UPDATE when asked. */
export async function findDiscrepancy(db: Queryable, discrepancyId: string, options: { lock?: boolean } = {}): Promise<DiscrepancyRow | undefined> {
  const result = await db.raw<{ rows: DiscrepancyRow[] }>(`SELECT ${COLUMNS} FROM ${FROM} WHERE d.discrepancy_id = ?${options.lock === true ? ' FOR UPDATE OF d' : ''}`, [discrepancyId]);
  return result.rows[0];
}

export interface DiscrepancyFilter {
  status?: string;
  type?: string;
  agencyCode?: string;
}

export async function listDiscrepancies(db: Knex, filter: DiscrepancyFilter, page: PageRequest): Promise<Page<DiscrepancyRow>> {
  const query = db
    .select(db.raw(COLUMNS))
    .from(db.raw(FROM));
  if (filter.status !== undefined) void query.where('d.status', filter.status);
  if (filter.type !== undefined) void query.where('d.type', filter.type);
  if (filter.agencyCode !== undefined) void query.where('d.agency_code', filter.agencyCode);
  return fetchPage<DiscrepancyRow & Record<string, unknown>>(query, 'd.id', page);
}

/** `OPEN` → `RESOLVED` with the action (the caller holds the row's lock and checked the move). */
export async function markResolved(trx: Knex.Transaction, id: string, change: { from: string; to: string; action: string; at: Date }): Promise<void> {
  const result = await trx.raw(
    `UPDATE reconciliation_discrepancies SET status = ?, resolution_action = ?, resolved_at = ?, updated_at = ? WHERE id = ?::bigint AND status = ?`,
    [change.to, change.action, change.at, change.at, id, change.from],
  );
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: discrepancy ${id} was ${change.from} under its lock`);
}

// ---- the payment a discrepancy is about ---------------------------------------------------------

export interface DiscrepancyPaymentRow {
  id: string;
  payment_id: string;
  agency_party_id: string;
  agency_code: string;
  agency_txn_id: string;
  pay_code: string;
  amount: string;
  paid_at: Date;
  business_date: string;
  channel: string;
  status: string;
  unapplied_reason: string | null;
  receipt_no: string | null;
  created_at: Date;
  notice_id: string | null;
  notice_status: string | null;
  notice_biz_ref: string | null;
  notice_unit_party_id: string | null;
  refund_row_id: string | null;
  refund_id: string | null;
  refund_status: string | null;
}

/**
 * The payment, locked FOR UPDATE with its notice (the notice first, as the posting locks it) and
 * its refund obligation (unapplied money).
 */
export async function lockPayment(trx: Knex.Transaction, paymentRowId: string): Promise<DiscrepancyPaymentRow | undefined> {
  await trx.raw(`SELECT n.id FROM notices n JOIN payments p ON p.notice_id = n.id WHERE p.id = ?::bigint FOR UPDATE OF n`, [paymentRowId]);
  const result = await trx.raw<{ rows: DiscrepancyPaymentRow[] }>(
    `SELECT p.id::text AS id, p.payment_id, p.agency_party_id::text AS agency_party_id, p.agency_code, p.agency_txn_id, p.pay_code,
            p.amount::text AS amount, p.paid_at, to_char(p.business_date, 'YYYY-MM-DD') AS business_date, p.channel, p.status,
            p.unapplied_reason, p.receipt_no, p.created_at,
            n.id::text AS notice_id, n.status AS notice_status, n.biz_ref AS notice_biz_ref, n.unit_party_id::text AS notice_unit_party_id,
            r.id::text AS refund_row_id, r.refund_id, r.status AS refund_status
       FROM payments p
       LEFT JOIN notices n ON n.id = p.notice_id AND p.unapplied_reason IS NULL
       LEFT JOIN refunds r ON r.payment_id = p.id AND r.refund_no IS NULL
      WHERE p.id = ?::bigint
        FOR UPDATE OF p`,
    [paymentRowId],
  );
  return result.rows[0];
}

/** The payment's posting entry (PAYMENT_SUCCEEDED or PAYMENT_UNAPPLIED). */
export async function postingEntryId(db: Queryable, paymentRowId: string): Promise<string | undefined> {
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `SELECT id::text AS id FROM journal_entries WHERE payment_id = ?::bigint AND kind IN ('PAYMENT_SUCCEEDED', 'PAYMENT_UNAPPLIED') ORDER BY id`,
    [paymentRowId],
  );
  return result.rows[0]?.id;
}

/** Moves the payment's status (the trigger allows only status and updated_at to change). */
export async function setPaymentStatus(trx: Knex.Transaction, paymentRowId: string, change: { from: string; to: string; at: Date }): Promise<void> {
  const result = await trx.raw(`UPDATE payments SET status = ?, updated_at = ? WHERE id = ?::bigint AND status = ?`, [change.to, change.at, paymentRowId, change.from]);
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: payment ${paymentRowId} was ${change.from} under its lock`);
}

/** The notice is no longer paid: back to the status given, with what the payment filled in cleared. */
export async function reopenNotice(trx: Knex.Transaction, noticeId: string, change: { from: string; to: string; at: Date }): Promise<void> {
  const result = await trx.raw(
    `UPDATE notices SET status = ?, paid_at = NULL, paid_amount = NULL, late_fee_paid = NULL, receipt_no = NULL, updated_at = ? WHERE id = ?::bigint AND status = ?`,
    [change.to, change.at, noticeId, change.from],
  );
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: notice ${noticeId} was ${change.from} under its lock`);
  await trx.raw(`UPDATE notice_items SET late_fee_paid = NULL WHERE notice_id = ?::bigint`, [noticeId]);
}

/**
 * The payment's refunds that still stand (not REJECTED, FAILED or CANCELLED), oldest first, read
 * under the payment's lock (every move of a refund takes it): a refund requested, approved,
 * instructed or paid takes its money from the payment's pending revenue, which WRITE_OFF would
 * take too (contracts/decisions/0219-write-off-of-settled-payments.md).
 */
export async function standingRefundsOfPayment(db: Queryable, paymentRowId: string): Promise<Array<{ refund_id: string; status: string; amount: string }>> {
  const result = await db.raw<{ rows: Array<{ refund_id: string; status: string; amount: string }> }>(
    `SELECT refund_id, status, amount::text AS amount FROM refunds
      WHERE payment_id = ?::bigint AND status <> ALL(?::text[])
      ORDER BY id`,
    [paymentRowId, [...REFUND_STATUSES_NOT_STANDING]],
  );
  return result.rows;
}

/**
 * The pending revenue a payment's posting credited, per receiving account: what a write-off of
 * its shortfall debits (docs/ledger.md §3 WRITE_OFF) — while none of it has left, which
 * checkApplicable makes sure of (decision 0219).
 */
export async function pendingRevenueOfPayment(db: Queryable, paymentRowId: string): Promise<Array<{ account: string; amount: string }>> {
  const result = await db.raw<{ rows: Array<{ account: string; amount: string }> }>(
    `SELECT l.account, sum(l.amount)::text AS amount
       FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id
      WHERE e.payment_id = ?::bigint AND e.kind = 'PAYMENT_SUCCEEDED' AND l.side = 'CREDIT'
      GROUP BY l.account ORDER BY min(l.line_no)`,
    [paymentRowId],
  );
  return result.rows;
}
