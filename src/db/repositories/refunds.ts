import type { Knex } from 'knex';
import type { RefundStatus } from '../../domain/refunds';
import type { Queryable } from '../database';
import { fetchPage, type Page, type PageRequest } from '../pagination';

/**
 * Refunds (migrations 20261127000031, 20261203000100; docs/settlement.md §3): unit requests,
 * finance decisions, the unapplied obligations payments create, and what the executor rule and
 * the confirmations read. Status moves go through src/domain/refunds.ts; this module only writes
 * the status it is given, and checks the row was in the status the caller read under its lock.
 */

export interface RefundRow {
  id: string;
  refund_id: string;
  refund_no: string | null;
  requested_by_party_id: string | null;
  payment_row_id: string;
  payment_id: string;
  pay_code: string;
  amount: string;
  reason: string;
  payee_name: string | null;
  payee_account_no: string | null;
  payee_bank_name: string | null;
  status: RefundStatus;
  approval: 'AUTO_POLICY' | 'FINANCE' | null;
  approved_by_app_id: string | null;
  approved_at: Date | null;
  decided_by_party_id: string | null;
  request_hash: string | null;
  decision_comment: string | null;
  created_at: Date;
  succeeded_at: Date | null;
  /** The number of its newest instruction, if it has one. */
  instruction_no: string | null;
}

const COLUMNS = `r.id::text AS id, r.refund_id, r.refund_no, r.requested_by_party_id::text AS requested_by_party_id,
         r.payment_id::text AS payment_row_id, p.payment_id, r.pay_code, r.amount::text AS amount, r.reason,
         r.payee_name, r.payee_account_no, r.payee_bank_name, r.status, r.approval,
         a.app_id AS approved_by_app_id, r.approved_at, r.decided_by_party_id::text AS decided_by_party_id, r.request_hash, r.decision_comment, r.created_at, r.succeeded_at,
         (SELECT i.instruction_no FROM instructions i WHERE i.refund_id = r.id ORDER BY i.id DESC LIMIT 1) AS instruction_no`;

const ROW_SQL = `SELECT ${COLUMNS} FROM refunds r JOIN payments p ON p.id = r.payment_id LEFT JOIN parties a ON a.id = r.approved_by_party_id`;

export async function findUnitRefund(db: Queryable, unitPartyId: string, refundNo: string): Promise<RefundRow | undefined> {
  const result = await db.raw<{ rows: RefundRow[] }>(`${ROW_SQL} WHERE r.requested_by_party_id = ?::bigint AND r.refund_no = ?`, [unitPartyId, refundNo]);
  return result.rows[0];
}

export async function findRefundByPublicId(db: Queryable, refundId: string): Promise<RefundRow | undefined> {
  const result = await db.raw<{ rows: RefundRow[] }>(`${ROW_SQL} WHERE r.refund_id = ?`, [refundId]);
  return result.rows[0];
}

export async function findRefundsByRowIds(db: Queryable, ids: readonly string[]): Promise<RefundRow[]> {
  if (ids.length === 0) return [];
  const result = await db.raw<{ rows: RefundRow[] }>(`${ROW_SQL} WHERE r.id = ANY(?::bigint[]) ORDER BY r.id`, [[...ids]]);
  return result.rows;
}

export async function listRefunds(db: Knex, filter: { status?: string }, page: PageRequest): Promise<Page<RefundRow>> {
  const query = db
    .select(db.raw(COLUMNS))
    .from('refunds as r')
    .join('payments as p', 'p.id', 'r.payment_id')
    .leftJoin('parties as a', 'a.id', 'r.approved_by_party_id');
  if (filter.status !== undefined) void query.where('r.status', filter.status);
  return fetchPage<RefundRow & Record<string, unknown>>(query, 'r.id', page);
}

/** The paid notice a unit refunds, with its applied payment, both locked (the notice first, as the posting locks it). */
export interface RefundablePayment {
  notice_id: string;
  notice_status: string;
  unit_party_id: string;
  biz_ref: string;
  payment_row_id: string | null;
  payment_id: string | null;
  payment_status: string | null;
  amount: string | null;
  agency_party_id: string | null;
  agency_code: string | null;
  receipt_no: string | null;
}

export async function lockNoticeAndPayment(trx: Knex.Transaction, payCode: string): Promise<RefundablePayment | undefined> {
  const notice = await trx.raw<{ rows: Array<{ id: string }> }>(`SELECT id::text AS id FROM notices WHERE pay_code = ? FOR UPDATE`, [payCode]);
  const noticeId = notice.rows[0]?.id;
  if (noticeId === undefined) return undefined;
  const result = await trx.raw<{ rows: RefundablePayment[] }>(
    `SELECT n.id::text AS notice_id, n.status AS notice_status, n.unit_party_id::text AS unit_party_id, n.biz_ref,
            p.id::text AS payment_row_id, p.payment_id, p.status AS payment_status, p.amount::text AS amount,
            p.agency_party_id::text AS agency_party_id, p.agency_code, p.receipt_no
       FROM notices n
       LEFT JOIN LATERAL (SELECT * FROM payments q WHERE q.notice_id = n.id AND q.unapplied_reason IS NULL AND q.status <> 'REVERSED' ORDER BY q.id LIMIT 1 FOR UPDATE) p ON true
      WHERE n.id = ?::bigint`,
    [noticeId],
  );
  return result.rows[0];
}

/** A payment as the refund's moves read it, locked FOR UPDATE (its notice first, when it has one). */
export interface RefundPayment {
  id: string;
  payment_id: string;
  status: string;
  amount: string;
  agency_party_id: string;
  agency_code: string;
  unapplied_reason: string | null;
  receipt_no: string | null;
  notice_id: string | null;
  notice_status: string | null;
  notice_unit_party_id: string | null;
  notice_biz_ref: string | null;
  pay_code: string;
}

export async function lockPaymentOfRefund(trx: Knex.Transaction, paymentRowId: string): Promise<RefundPayment> {
  await trx.raw(`SELECT n.id FROM notices n JOIN payments p ON p.notice_id = n.id AND p.unapplied_reason IS NULL WHERE p.id = ?::bigint FOR UPDATE OF n`, [paymentRowId]);
  const result = await trx.raw<{ rows: RefundPayment[] }>(
    `SELECT p.id::text AS id, p.payment_id, p.status, p.amount::text AS amount, p.agency_party_id::text AS agency_party_id, p.agency_code,
            p.unapplied_reason, p.receipt_no, p.pay_code,
            n.id::text AS notice_id, n.status AS notice_status, n.unit_party_id::text AS notice_unit_party_id, n.biz_ref AS notice_biz_ref
       FROM payments p
       LEFT JOIN notices n ON n.id = p.notice_id AND p.unapplied_reason IS NULL
      WHERE p.id = ?::bigint
        FOR UPDATE OF p`,
    [paymentRowId],
  );
  const row = result.rows[0];
  if (row === undefined) throw new Error(`invariant broken: payment ${paymentRowId} exists`);
  return row;
}

/**
 * What finance wrote off of the payment (WRITE_OFF of its shortage, or of what a statement lacked
 * of it): the sum of those entries, read through the resolved discrepancies naming the payment.
 * That money never reached the agency, so it is not refunded
 * (contracts/decisions/0219-write-off-of-settled-payments.md).
 */
export async function writtenOffOfPayment(db: Queryable, paymentRowId: string): Promise<string> {
  const result = await db.raw<{ rows: Array<{ amount: string }> }>(
    `SELECT COALESCE(sum(l.amount), 0)::numeric(18, 2)::text AS amount
       FROM reconciliation_discrepancies d
       JOIN journal_entries e ON e.discrepancy_id = d.id AND e.kind = 'WRITE_OFF'
       JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'CREDIT'
      WHERE d.payment_id = ?::bigint AND d.status = 'RESOLVED' AND d.resolution_action = 'WRITE_OFF'`,
    [paymentRowId],
  );
  return result.rows[0]?.amount ?? '0.00';
}

/** The payment's refunds (id, status, amount), read under the payment's lock. */
export async function refundsOfPayment(db: Queryable, paymentRowId: string): Promise<Array<{ id: string; status: RefundStatus; amount: string }>> {
  const result = await db.raw<{ rows: Array<{ id: string; status: RefundStatus; amount: string }> }>(
    `SELECT id::text AS id, status, amount::text AS amount FROM refunds WHERE payment_id = ?::bigint ORDER BY id`,
    [paymentRowId],
  );
  return result.rows;
}

export interface NewUnitRefund {
  refund_id: string;
  refund_no: string;
  requested_by_party_id: string;
  payment_row_id: string;
  pay_code: string;
  amount: string;
  reason: string;
  payee_name: string;
  payee_account_no: string;
  payee_bank_name: string;
  request_hash: string;
  now: Date;
}

/** Inserts a REQUESTED refund; undefined when the unit's refundNo is taken (a concurrent twin): re-read it. */
export async function insertUnitRefund(trx: Knex.Transaction, refund: NewUnitRefund, status: RefundStatus): Promise<string | undefined> {
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO refunds (refund_id, refund_no, requested_by_party_id, payment_id, pay_code, amount, reason, payee_name, payee_account_no, payee_bank_name,
                          status, request_hash, created_at, updated_at)
     VALUES (?, ?, ?::bigint, ?::bigint, ?, ?::numeric, ?, ?, ?, ?, ?, ?, ?::timestamptz, ?::timestamptz)
     ON CONFLICT (requested_by_party_id, refund_no) DO NOTHING
     RETURNING id::text AS id`,
    [refund.refund_id, refund.refund_no, refund.requested_by_party_id, refund.payment_row_id, refund.pay_code, refund.amount, refund.reason,
      refund.payee_name, refund.payee_account_no, refund.payee_bank_name, status, refund.request_hash, refund.now, refund.now],
  );
  return result.rows[0]?.id;
}

/** The refund row locked FOR UPDATE, by its public id. */
export async function lockRefund(trx: Knex.Transaction, refundRowId: string): Promise<{ id: string; status: RefundStatus }> {
  const result = await trx.raw<{ rows: Array<{ id: string; status: RefundStatus }> }>(`SELECT id::text AS id, status FROM refunds WHERE id = ?::bigint FOR UPDATE`, [refundRowId]);
  const row = result.rows[0];
  if (row === undefined) throw new Error(`invariant broken: refund ${refundRowId} exists`);
  return row;
}

/** Moves a refund from the status read under its lock, with the columns the move fills. */
export async function moveRefund(
  trx: Knex.Transaction,
  refundRowId: string,
  change: {
    from: RefundStatus;
    to: RefundStatus;
    at: Date;
    approval?: { byPartyId: string };
    decision?: { byPartyId: string; comment: string | null };
    succeeded?: boolean;
    payee?: { name: string; accountNo: string; bankName: string };
  },
): Promise<void> {
  const sets: string[] = ['status = ?', 'updated_at = ?::timestamptz'];
  const values: Knex.RawBinding[] = [change.to, change.at];
  if (change.approval !== undefined) {
    sets.push(`approval = 'FINANCE'`, 'approved_by_party_id = ?::bigint', 'approved_at = ?::timestamptz');
    values.push(change.approval.byPartyId, change.at);
  }
  if (change.decision !== undefined) {
    sets.push('decided_by_party_id = ?::bigint', 'decided_at = ?::timestamptz', 'decision_comment = ?');
    values.push(change.decision.byPartyId, change.at, change.decision.comment);
  }
  if (change.succeeded === true) {
    sets.push('succeeded_at = ?::timestamptz');
    values.push(change.at);
  }
  if (change.payee !== undefined) {
    sets.push('payee_name = ?', 'payee_account_no = ?', 'payee_bank_name = ?');
    values.push(change.payee.name, change.payee.accountNo, change.payee.bankName);
  }
  const result = await trx.raw(`UPDATE refunds SET ${sets.join(', ')} WHERE id = ?::bigint AND status = ?`, [...values, refundRowId, change.from]);
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: refund ${refundRowId} was ${change.from} under its lock`);
}

/**
 * Replaces the payee of a refund whose instruction failed (REISSUE {payee}, decision 0200), status
 * unchanged. The failed instruction keeps the payee it was issued with, and the unit's request
 * is compared with that of the refund's first instruction (RefundService.request).
 */
export async function changePayee(trx: Knex.Transaction, refundRowId: string, payee: { name: string; accountNo: string; bankName: string }, at: Date): Promise<void> {
  const result = await trx.raw(`UPDATE refunds SET payee_name = ?, payee_account_no = ?, payee_bank_name = ?, updated_at = ?::timestamptz WHERE id = ?::bigint AND payee_account_no IS NOT NULL`, [
    payee.name,
    payee.accountNo,
    payee.bankName,
    at,
    refundRowId,
  ]);
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: refund ${refundRowId}, whose instruction failed, had a payee under its lock`);
}

/** The payee the refund's first instruction carried (stored form), if it was ever instructed: the payee it was asked for, before any reissue changed it. */
export async function firstInstructedPayee(db: Queryable, refundRowId: string): Promise<{ name: string; accountNo: string } | undefined> {
  const row = (await db('instructions').where({ refund_id: refundRowId }).orderBy('id').first('payee_name', 'payee_account_no')) as { payee_name: string | null; payee_account_no: string | null } | undefined;
  return row === undefined || row.payee_name === null || row.payee_account_no === null ? undefined : { name: row.payee_name, accountNo: row.payee_account_no };
}

/** Sets the payee of a refund that has none (SET_PAYEE), status unchanged. */
export async function setPayee(trx: Knex.Transaction, refundRowId: string, payee: { name: string; accountNo: string; bankName: string }, at: Date): Promise<void> {
  const result = await trx.raw(`UPDATE refunds SET payee_name = ?, payee_account_no = ?, payee_bank_name = ?, updated_at = ?::timestamptz WHERE id = ?::bigint AND payee_account_no IS NULL`, [
    payee.name,
    payee.accountNo,
    payee.bankName,
    at,
    refundRowId,
  ]);
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: refund ${refundRowId} had no payee under its lock`);
}

/**
 * The settlement instructions holding the payment's items: their status and receiving account
 * (docs/settlement.md §3, the executor rule). The live ones, and a FAILED one not yet reissued:
 * its items wait for the reissue, which settles the payment's whole revenue again, so its money
 * is on its way, not free in the clearing account
 * (contracts/decisions/0231-refund-waits-for-a-failed-settlement.md).
 */
export async function settlementsHoldingPayment(db: Queryable, paymentRowId: string): Promise<Array<{ id: string; instruction_no: string; status: string; credit_account_no: string }>> {
  const result = await db.raw<{ rows: Array<{ id: string; instruction_no: string; status: string; credit_account_no: string }> }>(
    `SELECT DISTINCT i.id::text AS id, i.instruction_no, i.status, i.credit_account_no
       FROM instruction_payment_items x JOIN instructions i ON i.id = x.instruction_id
      WHERE x.payment_id = ?::bigint AND i.type = 'SETTLEMENT'
        AND (x.live OR (i.status = 'FAILED' AND NOT EXISTS (SELECT 1 FROM instructions r WHERE r.reissue_of = i.id)))
      ORDER BY 1`,
    [paymentRowId],
  );
  return result.rows;
}

/**
 * What the payment's live settlement instructions took of it, per receiving account they credited,
 * by account number: the weights of a bank refund's split (contracts/decisions/0170-refund-several-accounts.md).
 */
export async function settledPerAccountOfPayment(db: Queryable, paymentRowId: string): Promise<Array<{ credit_account_no: string; amount: string }>> {
  const result = await db.raw<{ rows: Array<{ credit_account_no: string; amount: string }> }>(
    `SELECT i.credit_account_no, sum(x.amount)::text AS amount
       FROM instruction_payment_items x JOIN instructions i ON i.id = x.instruction_id
      WHERE x.payment_id = ?::bigint AND x.live AND i.type = 'SETTLEMENT'
      GROUP BY i.credit_account_no
      ORDER BY i.credit_account_no`,
    [paymentRowId],
  );
  return result.rows;
}

/** The refunds waiting for a settlement to be confirmed: APPROVED, with a payee, of a payment it settled. */
export async function refundsWaitingOn(db: Queryable, settlementId: string): Promise<string[]> {
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `SELECT r.id::text AS id FROM refunds r
      WHERE r.status = 'APPROVED' AND r.payee_account_no IS NOT NULL
        AND r.payment_id IN (SELECT x.payment_id FROM instruction_payment_items x WHERE x.instruction_id = ?::bigint AND x.live)
      ORDER BY r.id`,
    [settlementId],
  );
  return result.rows.map((row) => row.id);
}

/** A refund's instructions in the given statuses, locked FOR UPDATE, oldest first. */
export async function refundInstructionsIn(trx: Knex.Transaction, refundRowId: string, statuses: readonly string[]): Promise<Array<{ id: string; status: string }>> {
  const result = await trx.raw<{ rows: Array<{ id: string; status: string }> }>(
    `SELECT id::text AS id, status FROM instructions WHERE refund_id = ?::bigint AND status = ANY(?::text[]) ORDER BY id FOR UPDATE`,
    [refundRowId, [...statuses]],
  );
  return result.rows;
}

/**
 * The instructions of every refund of the payment, locked (FOR UPDATE, by id): a reversal reads them
 * under the lock an executor's report takes, so a report and a reversal never cross.
 */
export async function lockRefundInstructionsOfPayment(trx: Knex.Transaction, paymentRowId: string): Promise<Array<{ instruction_no: string; status: string; refund_id: string }>> {
  const result = await trx.raw<{ rows: Array<{ instruction_no: string; status: string; refund_id: string }> }>(
    `SELECT i.instruction_no, i.status, r.refund_id
       FROM instructions i JOIN refunds r ON r.id = i.refund_id
      WHERE r.payment_id = ?::bigint
      ORDER BY i.id
        FOR UPDATE OF i`,
    [paymentRowId],
  );
  return result.rows;
}

/** The payment's items, in the notice's order: what each earned and where it settles, with its snapshotted shares. */
export async function paymentItems(db: Queryable, paymentRowId: string): Promise<Array<{ position: number; receiving_account_no: string; earned: string; income_sort_code: string; budget_level: number; shares: Array<{ budgetLevel: number; ratio: string }> | null }>> {
  const result = await db.raw<{ rows: Array<{ position: number; receiving_account_no: string; earned: string; income_sort_code: string; budget_level: number; shares: Array<{ budgetLevel: number; ratio: string }> | null }> }>(
    `SELECT i.position, i.receiving_account_no, (i.amount + COALESCE(i.late_fee_paid, 0))::text AS earned, i.income_sort_code, i.budget_level,
            (SELECT json_agg(json_build_object('budgetLevel', s.budget_level, 'ratio', s.ratio::text) ORDER BY s.position)
               FROM notice_item_shares s WHERE s.notice_id = i.notice_id AND s.line_position = i.position) AS shares
       FROM payments p JOIN notice_items i ON i.notice_id = p.notice_id
      WHERE p.id = ?::bigint
      ORDER BY i.position`,
    [paymentRowId],
  );
  return result.rows;
}

/** The sum of the payment's SUCCEEDED refunds. */
export async function succeededRefunds(db: Queryable, paymentRowId: string): Promise<string> {
  const result = await db.raw<{ rows: Array<{ total: string }> }>(`SELECT COALESCE(sum(amount), 0)::text AS total FROM refunds WHERE payment_id = ?::bigint AND status = 'SUCCEEDED'`, [paymentRowId]);
  return result.rows[0]?.total ?? '0';
}

/** Moves the payment (the trigger allows only status and updated_at to change). */
export async function setPaymentStatus(trx: Knex.Transaction, paymentRowId: string, change: { from: string; to: string; at: Date }): Promise<void> {
  const result = await trx.raw(`UPDATE payments SET status = ?, updated_at = ? WHERE id = ?::bigint AND status = ?`, [change.to, change.at, paymentRowId, change.from]);
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: payment ${paymentRowId} was ${change.from} under its lock`);
}

export async function setNoticeStatus(trx: Knex.Transaction, noticeId: string, change: { from: string; to: string; at: Date }): Promise<void> {
  const result = await trx.raw(`UPDATE notices SET status = ?, updated_at = ? WHERE id = ?::bigint AND status = ?`, [change.to, change.at, noticeId, change.from]);
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: notice ${noticeId} was ${change.from} under its lock`);
}

/** An agency refund's parts (migration 20261203000101), summed per receiving account; amounts are decimal strings. */
export async function insertRefundItems(trx: Knex.Transaction, refundRowId: string, parts: ReadonlyArray<{ receivingAccountNo: string; amount: string }>): Promise<void> {
  await trx.raw(
    `INSERT INTO refund_items (refund_id, receiving_account_no, amount)
     SELECT ?::bigint, t.account_no, sum(t.amount) FROM unnest(?::text[], ?::numeric[]) AS t(account_no, amount) GROUP BY t.account_no`,
    [refundRowId, parts.map((part) => part.receivingAccountNo), parts.map((part) => part.amount)],
  );
}

/** The payment has a live statement match: the agency's statement proved it captured. */
export async function hasLiveMatch(db: Queryable, paymentRowId: string): Promise<boolean> {
  const result = await db.raw<{ rows: Array<{ found: boolean }> }>(`SELECT EXISTS (SELECT 1 FROM statement_matches WHERE payment_id = ?::bigint AND released_at IS NULL) AS found`, [paymentRowId]);
  return result.rows[0]?.found === true;
}
