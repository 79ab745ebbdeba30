import type { Knex } from 'knex';
import type { PostingDirection, PostingSource, PostingStatus } from '../../domain/bankPostings';
import { fetchPage, type Page, type PageRequest } from '../pagination';

/**
 * Bank postings and camt.053 statements (migration 20261202007001; docs/settlement.md §2).
 * Money is read as text and never as a JS number.
 */

type Queryable = Knex | Knex.Transaction;

/** The receiving accounts a bank may post to: its own, of kind FISCAL or TREASURY. */
export const RECEIVING_ACCOUNT_KINDS = ['FISCAL', 'TREASURY'] as const;

export async function isBanksReceivingAccount(db: Queryable, bankCode: string, accountNo: string): Promise<boolean> {
  const row = await db('accounts').where({ account_no: accountNo, bank_role: 'bank', bank_code: bankCode }).whereIn('kind', RECEIVING_ACCOUNT_KINDS).first('id');
  return row !== undefined;
}

export interface NewPostingRow {
  posting_id: string;
  bank_party_id: string;
  bank_ref: string;
  account_no: string;
  direction: PostingDirection;
  amount: string;
  value_date: string;
  instruction_no: string | null;
  memo: string | null;
  counterparty_name: string | null;
  counterparty_account_no: string | null;
  source: PostingSource;
  statement_id: string | null;
  created_at: Date;
}

export interface PostingRow {
  id: string;
  posting_id: string;
  bank_party_id: string;
  bank_code: string;
  bank_ref: string;
  account_no: string;
  direction: PostingDirection;
  amount: string;
  value_date: string;
  instruction_no: string | null;
  memo: string | null;
  counterparty_name: string | null;
  counterparty_account_no: string | null;
  status: PostingStatus;
  instruction_id: string | null;
  matched_instruction_no: string | null;
  source: PostingSource;
  created_at: Date;
  resolved_at: Date | null;
  /** The instruction it mismatched before finance detached it (DETACH, decision 0195), else null. */
  detached_instruction_no: string | null;
  detached_at: Date | null;
}

const POSTING_COLUMNS = `p.id::text AS id, p.posting_id, p.bank_party_id::text AS bank_party_id, b.code AS bank_code, p.bank_ref, p.account_no, p.direction,
  p.amount::text AS amount, to_char(p.value_date, 'YYYY-MM-DD') AS value_date, p.instruction_no, p.memo, p.counterparty_name, p.counterparty_account_no,
  p.status, p.instruction_id::text AS instruction_id, p.matched_instruction_no, p.source, p.created_at, p.resolved_at,
  p.detached_instruction_no, p.detached_at`;

/**
 * Inserts the postings whose (bank, bank_ref) is free, all UNIDENTIFIED until matched; a key
 * taken (by a committed posting, or one committing meanwhile, which this waits for) inserts
 * nothing. Answers the rows inserted, by bank_ref.
 */
export async function insertPostings(trx: Knex.Transaction, rows: readonly NewPostingRow[]): Promise<Map<string, { id: string; postingId: string }>> {
  const inserted = new Map<string, { id: string; postingId: string }>();
  if (rows.length === 0) return inserted;
  const result = await trx.raw<{ rows: Array<{ id: string; posting_id: string; bank_ref: string }> }>(
    `INSERT INTO bank_postings (posting_id, bank_party_id, bank_ref, account_no, direction, amount, value_date, instruction_no, memo,
                                counterparty_name, counterparty_account_no, status, source, statement_id, created_at)
     SELECT posting_id, bank_party_id, bank_ref, account_no, direction, amount, value_date, instruction_no, memo,
            counterparty_name, counterparty_account_no, 'UNIDENTIFIED', source, statement_id, created_at
       FROM json_to_recordset(?::json) AS r(posting_id text, bank_party_id bigint, bank_ref text, account_no text, direction text, amount numeric,
                                           value_date date, instruction_no text, memo text, counterparty_name text, counterparty_account_no text,
                                           source text, statement_id bigint, created_at timestamptz)
     ON CONFLICT (bank_party_id, bank_ref) DO NOTHING
     RETURNING id::text AS id, posting_id, bank_ref`,
    [JSON.stringify(rows)],
  );
  for (const row of result.rows) inserted.set(row.bank_ref, { id: row.id, postingId: row.posting_id });
  return inserted;
}

export async function findPostingsByRefs(db: Queryable, bankPartyId: string, bankRefs: readonly string[]): Promise<PostingRow[]> {
  if (bankRefs.length === 0) return [];
  const result = await db.raw<{ rows: PostingRow[] }>(`SELECT ${POSTING_COLUMNS} FROM bank_postings p JOIN parties b ON b.id = p.bank_party_id WHERE p.bank_party_id = ?::bigint AND p.bank_ref = ANY(?::text[])`, [bankPartyId, bankRefs as string[]]);
  return result.rows;
}

export async function findPosting(db: Queryable, bankPartyId: string, postingId: string): Promise<PostingRow | undefined> {
  const result = await db.raw<{ rows: PostingRow[] }>(`SELECT ${POSTING_COLUMNS} FROM bank_postings p JOIN parties b ON b.id = p.bank_party_id WHERE p.bank_party_id = ?::bigint AND p.posting_id = ?`, [bankPartyId, postingId]);
  return result.rows[0];
}

/** One posting by its row id, locked for the rest of the transaction (a resolution decides under it). */
export async function lockPosting(trx: Knex.Transaction, rowId: string): Promise<PostingRow | undefined> {
  const result = await trx.raw<{ rows: PostingRow[] }>(`SELECT ${POSTING_COLUMNS} FROM bank_postings p JOIN parties b ON b.id = p.bank_party_id WHERE p.id = ?::bigint FOR UPDATE OF p`, [rowId]);
  return result.rows[0];
}

/** One posting by its public id (any bank's: finance resolves it), locked for the rest of the transaction. */
export async function lockPostingByPostingId(trx: Knex.Transaction, postingId: string): Promise<PostingRow | undefined> {
  const result = await trx.raw<{ rows: PostingRow[] }>(`SELECT ${POSTING_COLUMNS} FROM bank_postings p JOIN parties b ON b.id = p.bank_party_id WHERE p.posting_id = ? FOR UPDATE OF p`, [postingId]);
  return result.rows[0];
}

/** The UNIDENTIFIED_CREDIT entry of a posting, by its row id. */
export async function unidentifiedCreditEntryId(trx: Knex.Transaction, postingRowId: string): Promise<string | undefined> {
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(`SELECT id::text AS id FROM journal_entries WHERE bank_posting_id = ?::bigint AND kind = 'UNIDENTIFIED_CREDIT'`, [postingRowId]);
  return result.rows[0]?.id;
}

/** Moves postings out of UNIDENTIFIED (the only change a posting allows). */
export async function resolvePostings(trx: Knex.Transaction, resolutions: ReadonlyArray<{ id: string; status: PostingStatus; instructionId: string | null; instructionNo: string | null }>, at: Date): Promise<void> {
  if (resolutions.length === 0) return;
  const result = await trx.raw(
    `UPDATE bank_postings p SET status = r.status, instruction_id = r.instruction_id, matched_instruction_no = r.instruction_no, resolved_at = ?::timestamptz
       FROM json_to_recordset(?::json) AS r(id bigint, status text, instruction_id bigint, instruction_no text)
      WHERE p.id = r.id AND p.status = 'UNIDENTIFIED'`,
    [at, JSON.stringify(resolutions.map((r) => ({ id: r.id, status: r.status, instruction_id: r.instructionId, instruction_no: r.instructionNo })))],
  );
  if ((result as { rowCount?: number }).rowCount !== resolutions.length) throw new Error(`invariant broken: ${resolutions.length} postings resolved, ${(result as { rowCount?: number }).rowCount ?? 0} were unidentified`);
}

/** The MISMATCHED posting that mismatched instruction `instructionRowId`, locked (an instruction takes one posting). */
export async function lockMismatchedPostingOf(trx: Knex.Transaction, instructionRowId: string): Promise<PostingRow | undefined> {
  const result = await trx.raw<{ rows: PostingRow[] }>(
    `SELECT ${POSTING_COLUMNS} FROM bank_postings p JOIN parties b ON b.id = p.bank_party_id WHERE p.instruction_id = ?::bigint AND p.status = 'MISMATCHED' FOR UPDATE OF p`,
    [instructionRowId],
  );
  return result.rows[0];
}

/**
 * DETACH (decision 0195): a MISMATCHED posting back to UNIDENTIFIED, remembering the instruction
 * it mismatched (the only other change the table's trigger allows, migration 20261206000100).
 */
export async function detachPosting(trx: Knex.Transaction, rowId: string, at: Date): Promise<void> {
  const result = await trx.raw(
    `UPDATE bank_postings SET status = 'UNIDENTIFIED', detached_instruction_id = instruction_id, detached_instruction_no = matched_instruction_no, detached_at = ?::timestamptz,
                              instruction_id = NULL, matched_instruction_no = NULL, resolved_at = NULL
      WHERE id = ?::bigint AND status = 'MISMATCHED'`,
    [at, rowId],
  );
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: posting ${rowId} was to be MISMATCHED when detached`);
}

/** Finance's list: postings of a status, oldest first, with their bank's code. */
export async function listPostingsByStatus(db: Queryable, status: PostingStatus, page: PageRequest): Promise<Page<PostingRow>> {
  const query = db('bank_postings as p').join('parties as b', 'b.id', 'p.bank_party_id').where('p.status', status).select(db.raw(POSTING_COLUMNS));
  return fetchPage<PostingRow & Record<string, unknown>>(query, 'p.id', page);
}

// ---- statements ----------------------------------------------------------------------------

export interface NewStatementRow {
  statement_id: string;
  bank_party_id: string;
  account_no: string;
  sha256: string;
  size_bytes: number;
  camt_version: string;
  message_id: string;
  file_statement_id: string;
  electronic_seq_no: string | null;
  opening_balance: string;
  closing_balance: string;
  entry_count: number;
  posting_count: number;
  credit_total: string;
  debit_total: string;
  received_at: Date;
}

export interface StatementRow extends NewStatementRow {
  id: string;
}

/** Inserts the statement unless the bank sent this very file (the same SHA-256) before: then undefined. */
export async function insertStatement(trx: Knex.Transaction, row: NewStatementRow): Promise<string | undefined> {
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO bank_statements (statement_id, bank_party_id, account_no, sha256, size_bytes, camt_version, message_id, file_statement_id, electronic_seq_no,
                                  opening_balance, closing_balance, entry_count, posting_count, credit_total, debit_total, received_at)
     VALUES (?, ?::bigint, ?, ?, ?, ?, ?, ?, ?, ?::numeric, ?::numeric, ?, ?, ?::numeric, ?::numeric, ?)
     ON CONFLICT (bank_party_id, sha256) DO NOTHING
     RETURNING id::text AS id`,
    [row.statement_id, row.bank_party_id, row.account_no, row.sha256, row.size_bytes, row.camt_version, row.message_id, row.file_statement_id, row.electronic_seq_no,
      row.opening_balance, row.closing_balance, row.entry_count, row.posting_count, row.credit_total, row.debit_total, row.received_at],
  );
  return result.rows[0]?.id;
}

export async function findStatementBySha(db: Queryable, bankPartyId: string, sha256: string): Promise<StatementRow | undefined> {
  const result = await db.raw<{ rows: StatementRow[] }>(
    `SELECT id::text AS id, statement_id, bank_party_id::text AS bank_party_id, account_no, sha256, size_bytes, camt_version, message_id, file_statement_id,
            electronic_seq_no, opening_balance::text AS opening_balance, closing_balance::text AS closing_balance, entry_count, posting_count,
            credit_total::text AS credit_total, debit_total::text AS debit_total, received_at
       FROM bank_statements WHERE bank_party_id = ?::bigint AND sha256 = ?`,
    [bankPartyId, sha256],
  );
  return result.rows[0];
}

export interface StatementPostingRow {
  bank_posting_id: string;
  answered_status: PostingStatus;
  answered_instruction_no: string | null;
}

export async function insertStatementPostings(trx: Knex.Transaction, statementRowId: string, firstPosition: number, rows: readonly StatementPostingRow[]): Promise<void> {
  if (rows.length === 0) return;
  await trx.raw(
    `INSERT INTO bank_statement_postings (statement_id, position, bank_posting_id, answered_status, answered_instruction_no)
     SELECT ?::bigint, r.position, r.bank_posting_id, r.answered_status, r.answered_instruction_no
       FROM json_to_recordset(?::json) AS r(position int, bank_posting_id bigint, answered_status text, answered_instruction_no text)`,
    [statementRowId, JSON.stringify(rows.map((row, index) => ({ ...row, position: firstPosition + index })))],
  );
}

/** A statement's postings in file order, as answered. */
export async function statementPostings(db: Queryable, statementRowId: string): Promise<Array<{ posting_id: string; bank_ref: string; answered_status: PostingStatus; answered_instruction_no: string | null }>> {
  const result = await db.raw<{ rows: Array<{ posting_id: string; bank_ref: string; answered_status: PostingStatus; answered_instruction_no: string | null }> }>(
    `SELECT p.posting_id, p.bank_ref, s.answered_status, s.answered_instruction_no
       FROM bank_statement_postings s JOIN bank_postings p ON p.id = s.bank_posting_id
      WHERE s.statement_id = ?::bigint ORDER BY s.position`,
    [statementRowId],
  );
  return result.rows;
}
