import crypto from 'node:crypto';
import Decimal from 'decimal.js';
import type { Db } from '../../src/db/database';

/**
 * Statements for reconciliation tests, written straight into agency_statements and their lines —
 * what an accepted upload or inbox file leaves — so the run can be tested on its own. A newer
 * statement supersedes the current one of its date in the same statement, as the loader must.
 */

export interface TestLine {
  kind?: 'PAY' | 'REFUND';
  agencyTxnId: string;
  /** PAY lines. */
  payCode?: string;
  amount: string;
  /** REFUND lines. */
  instructionNo?: string;
}

export interface TestStatement {
  id: string;
  statementId: string;
}

export async function insertStatement(db: Db, statement: { agencyCode: string; businessDate: string; fileSeq?: number; lines: TestLine[]; receivedAt?: Date }): Promise<TestStatement> {
  const agency = await db('parties').where({ role: 'agency', code: statement.agencyCode }).first<{ id: string }>('id');
  const pays = statement.lines.filter((line) => (line.kind ?? 'PAY') === 'PAY');
  const refunds = statement.lines.filter((line) => line.kind === 'REFUND');
  const total = (lines: TestLine[]): string => lines.reduce((sum, line) => sum.plus(line.amount), new Decimal(0)).toFixed(2, Decimal.ROUND_HALF_UP); // two-decimal amounts: the rounding never applies
  const receivedAt = statement.receivedAt ?? new Date();
  const statementId = `S${crypto.randomBytes(10).toString('hex')}`;
  return db.transaction(async (trx) => {
    const id = (await trx.raw<{ rows: Array<{ id: string }> }>(`SELECT nextval('agency_statements_id_seq')::text AS id`)).rows[0]?.id as string;
    const row = {
      id,
      statement_id: statementId,
      agency_party_id: agency.id,
      agency_code: statement.agencyCode,
      business_date: statement.businessDate,
      file_seq: statement.fileSeq ?? 1,
      format: 'TFS1',
      source: 'UPLOAD',
      sha256: crypto.randomBytes(32).toString('hex'),
      size_bytes: 100,
      pay_count: pays.length,
      pay_total: total(pays),
      refund_count: refunds.length,
      refund_total: total(refunds),
      received_at: receivedAt,
    };
    const columns = Object.keys(row);
    // The current statement gives way to this one in the same SQL statement: the unique current
    // index and the foreign key superseded_by → id both hold at its end.
    await trx.raw(
      `WITH superseded AS (
         UPDATE agency_statements SET superseded_by = ?, superseded_at = ?
          WHERE agency_party_id = ? AND business_date = ? AND superseded_by IS NULL RETURNING id
       )
       INSERT INTO agency_statements (${columns.join(', ')})
       SELECT ${columns.map(() => '?').join(', ')} FROM (SELECT count(*) FROM superseded) forced`,
      [id, receivedAt, agency.id, statement.businessDate, ...columns.map((column) => row[column as keyof typeof row])],
    );
    if (statement.lines.length > 0) {
      await trx('agency_statement_lines').insert(
        statement.lines.map((line, index) => ({
          statement_id: id,
          line_no: index + 2,
          kind: line.kind ?? 'PAY',
          agency_txn_id: line.agencyTxnId,
          pay_code: (line.kind ?? 'PAY') === 'PAY' ? line.payCode : null,
          instruction_no: line.kind === 'REFUND' ? line.instructionNo ?? 'TFR0000000001' : null,
          amount: line.amount,
          occurred_at: receivedAt,
          channel: (line.kind ?? 'PAY') === 'PAY' ? 'MOBILE' : null,
        })),
      );
    }
    return { id, statementId };
  });
}
