import crypto from 'node:crypto';
import type { Db } from '../../src/db/database';
import { Decimal, formatMoney, sumMoney } from '../../src/domain/money';

/**
 * Statements and runs as rows, for tests of the parts of reconciliation that read them (the
 * backfill): what statement loading and the run would have written, inserted directly.
 */

export interface PayLine {
  agencyTxnId: string;
  payCode: string;
  amount: string;
  /** ISO 8601 with an offset. */
  paidAt: string;
  channel?: string;
}

export interface StatementRows {
  statementRowId: string;
  runRowId: string;
  agencyPartyId: string;
  agencyCode: string;
  businessDate: string;
}

export async function agencyPartyId(db: Db, agencyCode: string): Promise<string> {
  const row = await db('parties').where({ code: agencyCode, role: 'agency' }).first('id');
  if (row === undefined) throw new Error(`no agency ${agencyCode}`);
  return String(row.id);
}

/** An accepted statement of `lines` (PAY lines, numbered from 2 as after a header) for (agency, date), and a RUNNING run of it. */
export async function insertStatement(db: Db, fields: { agencyCode: string; businessDate: string; lines: PayLine[]; fileSeq?: number }): Promise<StatementRows> {
  const partyId = await agencyPartyId(db, fields.agencyCode);
  const payTotal = sumMoney(fields.lines.map((line) => new Decimal(line.amount)));
  const now = new Date();
  const [statement] = await db('agency_statements')
    .insert({
      statement_id: `S${crypto.randomBytes(8).toString('hex')}`,
      agency_party_id: partyId,
      agency_code: fields.agencyCode,
      business_date: fields.businessDate,
      file_seq: fields.fileSeq ?? 1,
      format: 'TFS1',
      source: 'UPLOAD',
      sha256: crypto.randomBytes(32).toString('hex'),
      size_bytes: 100,
      pay_count: fields.lines.length,
      pay_total: formatMoney(payTotal),
      refund_count: 0,
      refund_total: '0.00',
      received_at: now,
    })
    .returning('id');
  const statementRowId = String(statement.id);
  if (fields.lines.length > 0) {
    await db('agency_statement_lines').insert(
      fields.lines.map((line, index) => ({
        statement_id: statementRowId,
        line_no: index + 2,
        kind: 'PAY',
        agency_txn_id: line.agencyTxnId,
        pay_code: line.payCode,
        amount: line.amount,
        occurred_at: new Date(line.paidAt),
        channel: line.channel ?? 'MOBILE',
      })),
    );
  }
  const runRowId = await insertRun(db, { partyId, agencyCode: fields.agencyCode, businessDate: fields.businessDate, statementRowId });
  return { statementRowId, runRowId, agencyPartyId: partyId, agencyCode: fields.agencyCode, businessDate: fields.businessDate };
}

/** A RUNNING reconciliation run of a statement. */
export async function insertRun(db: Db, fields: { partyId: string; agencyCode: string; businessDate: string; statementRowId: string }): Promise<string> {
  const [run] = await db('reconciliation_runs')
    .insert({
      run_id: `RUN${crypto.randomBytes(8).toString('hex')}`,
      agency_party_id: fields.partyId,
      agency_code: fields.agencyCode,
      business_date: fields.businessDate,
      statement_id: fields.statementRowId,
      status: 'RUNNING',
      started_at: new Date(),
    })
    .returning('id');
  return String(run.id);
}
