import crypto from 'node:crypto';
import type { Db } from '../../src/db/database';

/**
 * Discrepancies for the resolution tests, written straight into the tables the matching run fills
 * (migration 20261202000100): the agency's current statement for the date (created once), a line
 * of it when the discrepancy has a statement side, a finished run, and the discrepancy itself.
 * The payments they name are real, posted through the API.
 */

export interface DiscrepancyRowInput {
  agencyCode: string;
  businessDate: string;
  type: 'OVERAGE' | 'SHORTAGE' | 'AMOUNT_MISMATCH' | 'PAY_CODE_MISMATCH' | 'REFUND_MISMATCH';
  status?: 'CARRIED_OVER' | 'OPEN' | 'AUTO_RESOLVED' | 'RESOLVED' | 'SUPERSEDED';
  agencyTxnId: string;
  /** The platform's side: a payment by its public id (its payCode and amount are read from it). */
  paymentId?: string;
  /** The statement's side. */
  statement?: { payCode: string | null; amount: string };
  instructionNo?: string;
}

function id(prefix: string): string {
  return `${prefix}${crypto.randomBytes(9).toString('base64url')}`;
}

async function currentStatement(db: Db, agencyPartyId: string, agencyCode: string, businessDate: string): Promise<string> {
  const existing = await db('agency_statements').where({ agency_party_id: agencyPartyId, business_date: businessDate }).whereNull('superseded_by').first('id');
  if (existing !== undefined) return existing.id as string;
  const [row] = await db('agency_statements')
    .insert({
      statement_id: id('S'),
      agency_party_id: agencyPartyId,
      agency_code: agencyCode,
      business_date: businessDate,
      file_seq: 1,
      format: 'TFS1',
      source: 'UPLOAD',
      sha256: crypto.randomBytes(32).toString('hex'),
      size_bytes: 0,
      pay_count: 0,
      pay_total: '0.00',
      refund_count: 0,
      refund_total: '0.00',
      received_at: new Date(),
    })
    .returning('id');
  return row.id as string;
}

/** Inserts one discrepancy (and what it references); answers its public discrepancyId. */
export async function insertDiscrepancy(db: Db, input: DiscrepancyRowInput): Promise<string> {
  const agency = await db('parties').where({ role: 'agency', code: input.agencyCode }).first('id');
  if (agency === undefined) throw new Error(`no agency ${input.agencyCode}`);
  const agencyPartyId = agency.id as string;
  const payment = input.paymentId === undefined ? undefined : await db('payments').where({ payment_id: input.paymentId }).first('id', 'pay_code', 'amount');
  if (input.paymentId !== undefined && payment === undefined) throw new Error(`no payment ${input.paymentId}`);
  const now = new Date();
  const [run] = await db('reconciliation_runs')
    .insert({ run_id: id('N'), agency_party_id: agencyPartyId, agency_code: input.agencyCode, business_date: input.businessDate, status: 'STATEMENT_MISSING', started_at: now, finished_at: now })
    .returning('id');
  let statementId: string | null = null;
  let lineNo: number | null = null;
  if (input.statement !== undefined) {
    statementId = await currentStatement(db, agencyPartyId, input.agencyCode, input.businessDate);
    const last = await db('agency_statement_lines').where({ statement_id: statementId }).max<{ max: number | null }[]>({ max: 'line_no' });
    lineNo = (last[0]?.max ?? 0) + 1;
    const refund = input.type === 'REFUND_MISMATCH';
    await db('agency_statement_lines').insert({
      statement_id: statementId,
      line_no: lineNo,
      kind: refund ? 'REFUND' : 'PAY',
      agency_txn_id: input.agencyTxnId,
      pay_code: refund ? null : input.statement.payCode,
      instruction_no: refund ? (input.instructionNo ?? 'INS-1') : null,
      amount: input.statement.amount,
      occurred_at: now,
      channel: refund ? null : 'MOBILE',
    });
  }
  const discrepancyId = id('D');
  await db('reconciliation_discrepancies').insert({
    discrepancy_id: discrepancyId,
    agency_party_id: agencyPartyId,
    agency_code: input.agencyCode,
    business_date: input.businessDate,
    type: input.type,
    status: input.status ?? 'OPEN',
    agency_txn_id: input.agencyTxnId,
    payment_id: payment?.id ?? null,
    platform_pay_code: payment?.pay_code ?? null,
    platform_amount: payment?.amount ?? null,
    statement_id: statementId,
    statement_line_no: lineNo,
    statement_pay_code: input.statement?.payCode ?? null,
    statement_amount: input.statement?.amount ?? null,
    instruction_no: input.type === 'REFUND_MISMATCH' ? (input.instructionNo ?? 'INS-1') : null,
    first_run_id: run.id,
    last_run_id: run.id,
    resolution_action: input.status === 'RESOLVED' ? 'ACCEPT_PLATFORM' : null,
    resolved_at: input.status === 'RESOLVED' || input.status === 'AUTO_RESOLVED' ? now : null,
    created_at: now,
    updated_at: now,
  });
  return discrepancyId;
}

/** The row id of a discrepancy (what journal entries reference). */
export async function discrepancyRowId(db: Db, discrepancyId: string): Promise<string> {
  const row = await db('reconciliation_discrepancies').where({ discrepancy_id: discrepancyId }).first('id');
  if (row === undefined) throw new Error(`no discrepancy ${discrepancyId}`);
  return String(row.id);
}

/** The journal entries booked for a discrepancy (by its public id), each with its lines as [account, side, amount]. */
export async function entriesOfDiscrepancy(db: Db, discrepancyId: string): Promise<Array<{ kind: string; lines: Array<[string, string, string]> }>> {
  const row = await db('reconciliation_discrepancies').where({ discrepancy_id: discrepancyId }).first('id');
  const entries = await db('journal_entries').where({ discrepancy_id: row.id }).orderBy('id');
  const result = [];
  for (const entry of entries) {
    const lines = await db('journal_lines').where({ entry_id: entry.id }).orderBy('line_no');
    result.push({ kind: entry.kind as string, lines: lines.map((line) => [line.account, line.side, line.amount] as [string, string, string]) });
  }
  return result;
}

/** An account's balance as the ledger signs it on `side` (credits − debits for CREDIT, the reverse for DEBIT), a decimal string. */
export async function accountBalance(db: Db, account: string, side: 'CREDIT' | 'DEBIT' = 'CREDIT'): Promise<string> {
  const row = await db('journal_lines')
    .where({ account })
    .first(db.raw(`COALESCE(sum(CASE side WHEN ? THEN amount ELSE -amount END), 0)::numeric(18, 2)::text AS balance`, [side]));
  return (row as { balance: string }).balance;
}
