import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, type BinaryCopyWriter } from '../copyBinary';
import type { Queryable } from '../database';

/**
 * Agency statements and their lines (migration 20261202000100, docs/reconciliation.md §1;
 * contracts/decisions/0100-statement-files.md). A file is loaded in one transaction: its lines
 * are copied (`COPY`) into `agency_statement_lines` under the statement's drawn row id, checked
 * there with set-based queries, and the statement row is inserted once they pass — no statement
 * per line, nothing half-loaded: a refused file rolls its lines back.
 */

/**
 * The columns a load COPYs into `agency_statement_lines`, in the order of the COPY rows
 * (writeLineCopyRow). The lines go straight into the table, under the
 * row id drawn for their statement, inside the loading transaction: a refused or crashed load
 * rolls them back with everything else (contracts/decisions/0161-statement-lines-copied-in-place.md).
 */
export const LINE_COPY_COLUMNS = ['statement_id', 'line_no', 'kind', 'agency_txn_id', 'pay_code', 'instruction_no', 'amount', 'occurred_at', 'channel'] as const;

export interface AgencyStatementRow {
  id: string;
  statement_id: string;
  agency_party_id: string;
  agency_code: string;
  business_date: string;
  file_seq: number;
  format: 'TFS1' | 'APPBILL';
  source: 'UPLOAD' | 'INBOX';
  sha256: string;
  size_bytes: string;
  pay_count: number;
  pay_total: string;
  refund_count: number;
  refund_total: string;
  generated_at: Date | null;
  received_at: Date;
  superseded_by: string | null;
  superseded_at: Date | null;
}

export type NewAgencyStatement = Omit<AgencyStatementRow, 'superseded_by' | 'superseded_at'>;

/** A row id drawn ahead of the insert, so that the statement it replaces can name it first. */
export async function nextStatementRowId(db: Queryable): Promise<string> {
  const result = await db.raw(`SELECT nextval(pg_get_serial_sequence('agency_statements', 'id'))::text AS id`);
  return (result.rows as Array<{ id: string }>)[0]?.id ?? '';
}

/**
 * Defers the check of `superseded_by`'s foreign key to commit in this transaction (it is
 * DEFERRABLE INITIALLY IMMEDIATE, migration 20261202001000): the replaced row names its successor
 * before the successor is inserted, because the one-current-per-date index allows the successor
 * only once the replaced row is no longer current.
 */
export async function deferSupersededByCheck(db: Queryable): Promise<void> {
  await db.raw('SET CONSTRAINTS agency_statements_superseded_by_fkey DEFERRED');
}

/** The statement of an agency and date with this file hash (a replay), if any. */
export async function findStatementBySha(db: Queryable, agencyPartyId: string, businessDate: string, sha256: string): Promise<AgencyStatementRow | undefined> {
  return db<AgencyStatementRow>('agency_statements').where({ agency_party_id: agencyPartyId, business_date: businessDate, sha256 }).first();
}

/** The current (not superseded) statement of an agency and date, if any. */
export async function findCurrentStatement(db: Queryable, agencyPartyId: string, businessDate: string): Promise<AgencyStatementRow | undefined> {
  return db<AgencyStatementRow>('agency_statements').where({ agency_party_id: agencyPartyId, business_date: businessDate }).whereNull('superseded_by').first();
}

/** A statement by its public id. */
export async function findStatementByPublicId(db: Queryable, statementId: string): Promise<AgencyStatementRow | undefined> {
  return db<AgencyStatementRow>('agency_statements').where({ statement_id: statementId }).first();
}

/** A statement by its row id. */
export async function findStatementById(db: Queryable, id: string): Promise<AgencyStatementRow | undefined> {
  return db<AgencyStatementRow>('agency_statements').where({ id }).first();
}

/** Whether the business date is sealed by a daily close (docs/settlement.md §5). */
export async function isBusinessDateClosed(db: Queryable, businessDate: string): Promise<boolean> {
  const row = await db('daily_closes').where({ business_date: businessDate }).first('business_date');
  return row !== undefined;
}

export async function insertStatement(db: Queryable, statement: NewAgencyStatement): Promise<AgencyStatementRow> {
  const [row] = await db<AgencyStatementRow>('agency_statements').insert(statement).returning('*');
  if (!row) throw new Error('agency_statements insert returned no row');
  return row;
}

/** Marks `oldId` as replaced by `newId` (the one update the table allows). */
export async function supersedeStatement(db: Queryable, oldId: string, newId: string, at: Date): Promise<void> {
  const updated = await db('agency_statements').where({ id: oldId }).whereNull('superseded_by').update({ superseded_by: newId, superseded_at: at });
  if (updated !== 1) throw new Error(`statement ${oldId} was not current when superseded`);
}

/** The public id of a statement row (for `supersededBy`). */
export async function statementPublicIds(db: Queryable, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db<AgencyStatementRow>('agency_statements').whereIn('id', ids).select('id', 'statement_id');
  return new Map(rows.map((row) => [row.id, row.statement_id]));
}

/** A statement line as the load copies it (src/domain/statementFormats.ts, StatementLine). */
export interface StatementLineCopy {
  lineNo: number;
  kind: string;
  agencyTxnId: string;
  payCode: string | null;
  instructionNo: string | null;
  /** Money: validated digits and two decimals. */
  amount: string;
  occurredAt: Date;
  channel: string | null;
}

/**
 * Appends the binary COPY row of statement `statementRowId`'s line to `writer`, in
 * LINE_COPY_COLUMNS order (contracts/decisions/0234-statement-lines-copied-in-binary.md).
 */
export function writeLineCopyRow(writer: BinaryCopyWriter, statementRowId: number, line: StatementLineCopy): void {
  writer.row(LINE_COPY_COLUMNS.length);
  writer.int64(statementRowId);
  writer.int32(line.lineNo);
  writer.text(line.kind);
  writer.text(line.agencyTxnId);
  writer.text(line.payCode);
  writer.text(line.instructionNo);
  writer.numeric(line.amount, 2);
  writer.timestamptz(line.occurredAt);
  writer.text(line.channel);
}

/**
 * Copies `rows` — binary COPY rows written by writeLineCopyRow, in chunks — into
 * `agency_statement_lines` on the transaction's own connection, between the binary format's header
 * and trailer, with the stream's backpressure. Answers the rows copied.
 */
export async function copyLines(trx: Knex.Transaction, rows: AsyncIterable<Buffer>): Promise<number> {
  const connection = (await trx.client.acquireConnection()) as PoolClient;
  const copy = connection.query(copyFrom(`COPY agency_statement_lines (${LINE_COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`));
  async function* framed(): AsyncGenerator<Buffer> {
    yield BINARY_COPY_HEADER;
    yield* rows;
    yield BINARY_COPY_TRAILER;
  }
  await pipeline(Readable.from(framed(), { objectMode: false }), copy);
  return copy.rowCount;
}

/**
 * Lines of the statement being loaded whose (kind, agencyTxnId) an earlier line of the file
 * already has: the first `limit`, in line order. Reads the statement's lines by the primary key's
 * prefix (statement_id), never another statement's.
 */
export async function loadedDuplicates(trx: Queryable, statementRowId: string, limit: number): Promise<Array<{ line_no: number; kind: string; agency_txn_id: string; first_line_no: number }>> {
  const result = await trx.raw(
    `SELECT line_no, kind, agency_txn_id, first_line_no FROM (
       SELECT line_no, kind, agency_txn_id, min(line_no) OVER (PARTITION BY kind, agency_txn_id) AS first_line_no
         FROM agency_statement_lines
        WHERE statement_id = ?::bigint
          AND (kind, agency_txn_id) IN (SELECT kind, agency_txn_id FROM agency_statement_lines WHERE statement_id = ?::bigint GROUP BY 1, 2 HAVING count(*) > 1)
     ) d WHERE line_no > first_line_no ORDER BY line_no LIMIT ?`,
    [statementRowId, statementRowId, limit],
  );
  return (result.rows as Array<{ line_no: number; kind: string; agency_txn_id: string; first_line_no: number }>).map((row) => ({ ...row, line_no: Number(row.line_no), first_line_no: Number(row.first_line_no) }));
}

/**
 * The SQL form of isValidPayCode (src/domain/payCode.ts): 20 digits whose value mod 97 is 1. A
 * CASE, so the cast only ever sees digits.
 */
export const VALID_PAY_CODE_SQL = (column: string): string => `CASE WHEN ${column} ~ '^[0-9]{20}$' THEN mod(CAST(${column} AS numeric), 97) = 1 ELSE false END`;

/**
 * PAY lines of the statement being loaded whose payCode is not a valid payCode and is not exactly
 * the posted code of a payment of this agency recorded `UNAPPLIED` with `PAY_CODE_INVALID`: the
 * first `limit`, in line order.
 */
export async function loadedUnknownPayCodes(trx: Queryable, statementRowId: string, agencyPartyId: string, limit: number): Promise<Array<{ line_no: number; pay_code: string }>> {
  const result = await trx.raw(
    `SELECT s.line_no, s.pay_code
       FROM agency_statement_lines s
      WHERE s.statement_id = ?::bigint AND s.kind = 'PAY' AND NOT (${VALID_PAY_CODE_SQL('s.pay_code')})
        AND NOT EXISTS (SELECT 1 FROM payments p
                         WHERE p.agency_party_id = ? AND p.pay_code = s.pay_code
                           AND p.status = 'UNAPPLIED' AND p.unapplied_reason = 'PAY_CODE_INVALID')
      ORDER BY s.line_no LIMIT ?`,
    [statementRowId, agencyPartyId, limit],
  );
  return (result.rows as Array<{ line_no: number; pay_code: string }>).map((row) => ({ line_no: Number(row.line_no), pay_code: row.pay_code }));
}

/** Lines of a statement, by line number (tests and the API's reads of small statements). */
export async function countStatementLines(db: Queryable, statementRowId: string): Promise<number> {
  const row = await db('agency_statement_lines').where({ statement_id: statementRowId }).count<{ count: string }[]>('* as count');
  return Number(row[0]?.count ?? 0);
}
