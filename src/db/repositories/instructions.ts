import type { Knex } from 'knex';
import type { InstructionStatus, InstructionType } from '../../domain/instructions';
import type { Queryable } from '../database';
import { fetchPage, type Page, type PageRequest } from '../pagination';

/**
 * Instructions, their lines and payment items (migration 20261202006000, docs/settlement.md §1).
 * The settle statement is set-based: one temporary table of the pair's settleable items, then one
 * statement inserting the instructions, their items and their lines from it — no query per
 * payment (contracts/decisions/0131-settle-job.md).
 */

export interface InstructionRow {
  id: string;
  instruction_no: string;
  type: InstructionType;
  status: InstructionStatus;
  executor_party_id: string;
  agency_party_id: string | null;
  agency_code: string | null;
  debit_account_no: string;
  credit_account_no: string | null;
  payee_name: string | null;
  payee_account_no: string | null;
  payee_bank_name: string | null;
  business_date: string;
  amount: string;
  refund_id: string | null;
  reissue_of: string | null;
  deadline: Date;
  reported_status: 'EXECUTED' | 'FAILED' | null;
  reported_at: Date | null;
  executed_at: Date | null;
  executed_reference: string | null;
  failure_reason: string | null;
  confirmed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const ROW_COLUMNS = `i.id::text AS id, i.instruction_no, i.type, i.status, i.executor_party_id::text AS executor_party_id,
  i.agency_party_id::text AS agency_party_id, i.agency_code, i.debit_account_no, i.credit_account_no,
  i.payee_name, i.payee_account_no, i.payee_bank_name, i.business_date, i.amount::text AS amount,
  i.refund_id::text AS refund_id, i.reissue_of::text AS reissue_of, i.deadline, i.reported_status, i.reported_at,
  i.executed_at, i.executed_reference, i.failure_reason, i.confirmed_at, i.created_at, i.updated_at`;

export async function findInstructionById(db: Queryable, id: string, options: { forUpdate?: boolean } = {}): Promise<InstructionRow | undefined> {
  const result = await db.raw<{ rows: InstructionRow[] }>(`SELECT ${ROW_COLUMNS} FROM instructions i WHERE i.id = ?::bigint${options.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return result.rows[0];
}

export async function findInstructionByNo(db: Queryable, instructionNo: string, options: { forUpdate?: boolean } = {}): Promise<InstructionRow | undefined> {
  const result = await db.raw<{ rows: InstructionRow[] }>(`SELECT ${ROW_COLUMNS} FROM instructions i WHERE i.instruction_no = ?${options.forUpdate ? ' FOR UPDATE' : ''}`, [instructionNo]);
  return result.rows[0];
}

/** Whether finance ever detached a posting from this instruction (DETACH, decision 0195). */
export async function hasDetachedPosting(db: Queryable, instructionRowId: string): Promise<boolean> {
  const result = await db.raw<{ rows: unknown[] }>('SELECT 1 FROM bank_postings WHERE detached_instruction_id = ? LIMIT 1', [instructionRowId]);
  return result.rows.length > 0;
}

/**
 * The instruction a bank posting may match (docs/settlement.md §2): by number, in a status a posting
 * can still move (CREATED, EXECUTED, UNCONFIRMED), on the posting's account in its direction — a
 * CREDIT to the account the instruction credits, a DEBIT from the one it debits. Locked.
 */
export async function findMatchableInstruction(db: Queryable, input: { instructionNo: string; accountNo: string; direction: 'CREDIT' | 'DEBIT'; statuses: readonly InstructionStatus[] }): Promise<InstructionRow | undefined> {
  const accountColumn = input.direction === 'CREDIT' ? 'credit_account_no' : 'debit_account_no';
  const result = await db.raw<{ rows: InstructionRow[] }>(
    `SELECT ${ROW_COLUMNS} FROM instructions i WHERE i.instruction_no = ? AND i.${accountColumn} = ? AND i.status = ANY(?::text[]) FOR UPDATE`,
    [input.instructionNo, input.accountNo, [...input.statuses]],
  );
  return result.rows[0];
}

export async function updateInstruction(
  db: Queryable,
  id: string,
  changes: Partial<Pick<InstructionRow, 'status' | 'reported_status' | 'reported_at' | 'executed_at' | 'executed_reference' | 'failure_reason' | 'confirmed_at'>> & { updated_at: Date },
): Promise<void> {
  await db('instructions').where({ id }).update(changes);
}

/** A FAILED instruction's payment items leave it: they are free for its reissue. */
export async function releasePaymentItems(db: Queryable, instructionId: string): Promise<void> {
  await db('instruction_payment_items').where({ instruction_id: instructionId, live: true }).update({ live: false });
}


/** Who may see an instruction: its executor, or a bank holding one of its accounts. */
export type InstructionViewer = { kind: 'executor'; partyId: string } | { kind: 'bank'; bankCode: string } | { kind: 'finance' };

function visibleTo(query: Knex.QueryBuilder, viewer: InstructionViewer): Knex.QueryBuilder {
  if (viewer.kind === 'executor') return query.where('i.executor_party_id', viewer.partyId);
  if (viewer.kind === 'bank') {
    return query.where((q) => {
      void q
        .whereExists((s) => void s.select(s.client.raw('1')).from('accounts as a').whereRaw('a.account_no = i.debit_account_no').andWhere('a.bank_code', viewer.bankCode))
        .orWhereExists((s) => void s.select(s.client.raw('1')).from('accounts as a').whereRaw('a.account_no = i.credit_account_no').andWhere('a.bank_code', viewer.bankCode));
    });
  }
  return query;
}

export async function findVisibleInstruction(db: Queryable, viewer: InstructionViewer, instructionNo: string): Promise<InstructionRow | undefined> {
  const query = visibleTo(db('instructions as i').select(db.raw(ROW_COLUMNS)).where('i.instruction_no', instructionNo), viewer);
  return (await query.first()) as InstructionRow | undefined;
}

export async function listVisibleInstructions(db: Queryable, viewer: InstructionViewer, filter: { status?: string; type?: string }, page: PageRequest): Promise<Page<InstructionRow>> {
  const query = visibleTo(db('instructions as i').select(db.raw(ROW_COLUMNS)), viewer);
  if (filter.status !== undefined) void query.where('i.status', filter.status);
  if (filter.type !== undefined) void query.where('i.type', filter.type);
  return fetchPage<InstructionRow & Record<string, unknown>>(query, 'i.id', page);
}

/** What the wire shows beside a row: accounts, lines, executor code, the reissued number, the refund's id. */
export interface InstructionDetail {
  executor_code: string;
  debit_account: { accountNo: string; name: string; bankCode: string };
  credit_account: { accountNo: string; name: string; bankCode: string } | null;
  lines: Array<{ itemCode: string; incomeSortCode: string; budgetLevel: number; amount: string; paymentCount: number }>;
  reissue_of_no: string | null;
  refund_public_id: string | null;
  /** A return's unidentified credit (decision 0224): its postingId and bankRef, else null. */
  returns_posting_public_id: string | null;
  returns_bank_ref: string | null;
}

export async function instructionDetails(db: Queryable, ids: readonly string[]): Promise<Map<string, InstructionDetail>> {
  const details = new Map<string, InstructionDetail>();
  if (ids.length === 0) return details;
  const result = await db.raw<{ rows: Array<InstructionDetail & { id: string }> }>(
    `SELECT i.id::text AS id, e.code AS executor_code,
            json_build_object('accountNo', d.account_no, 'name', d.name, 'bankCode', d.bank_code) AS debit_account,
            CASE WHEN c.account_no IS NULL THEN NULL ELSE json_build_object('accountNo', c.account_no, 'name', c.name, 'bankCode', c.bank_code) END AS credit_account,
            COALESCE((SELECT json_agg(json_build_object('itemCode', l.item_code, 'incomeSortCode', l.income_sort_code, 'budgetLevel', l.budget_level,
                                                        'amount', l.amount::text, 'paymentCount', l.payment_count) ORDER BY l.line_no)
                        FROM instruction_lines l WHERE l.instruction_id = i.id), '[]'::json) AS lines,
            o.instruction_no AS reissue_of_no, r.refund_id AS refund_public_id,
            bp.posting_id AS returns_posting_public_id, bp.bank_ref AS returns_bank_ref
       FROM instructions i
       JOIN parties e ON e.id = i.executor_party_id
       JOIN accounts d ON d.account_no = i.debit_account_no
       LEFT JOIN accounts c ON c.account_no = i.credit_account_no
       LEFT JOIN instructions o ON o.id = i.reissue_of
       LEFT JOIN refunds r ON r.id = i.refund_id
       LEFT JOIN bank_postings bp ON bp.id = i.returns_posting_id
      WHERE i.id = ANY(?::bigint[])`,
    [[...ids]],
  );
  for (const row of result.rows) details.set(row.id, row);
  return details;
}

// ---- settling ---------------------------------------------------------------------------------

/** The last reconciliation run of each (agency, date) up to `upTo` whose outcome lets it settle and which has money not yet settled. */
export async function pairsToSettle(db: Queryable, upTo: string): Promise<Array<{ agency_party_id: string; agency_code: string; business_date: string }>> {
  const result = await db.raw<{ rows: Array<{ agency_party_id: string; agency_code: string; business_date: string }> }>(
    `WITH last_runs AS (
       SELECT DISTINCT ON (agency_party_id, business_date) agency_party_id, agency_code, business_date, status
         FROM reconciliation_runs WHERE business_date <= ?::date
        ORDER BY agency_party_id, business_date, id DESC
     )
     SELECT r.agency_party_id::text AS agency_party_id, r.agency_code, r.business_date
       FROM last_runs r
      WHERE r.status IN ('BALANCED', 'UNBALANCED')
        AND EXISTS (SELECT 1 FROM payments p
                     WHERE p.agency_party_id = r.agency_party_id AND p.business_date = r.business_date
                       AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED') AND p.unapplied_reason IS NULL
                       AND NOT EXISTS (SELECT 1 FROM instruction_payment_items x WHERE x.payment_id = p.id))
      ORDER BY r.business_date, r.agency_code`,
    [upTo],
  );
  return result.rows;
}

/** The status of the last reconciliation run of (agency, date), or undefined when it has none. */
export async function lastRunStatus(db: Queryable, agencyPartyId: string, businessDate: string): Promise<string | undefined> {
  const result = await db.raw<{ rows: Array<{ status: string }> }>(
    'SELECT status FROM reconciliation_runs WHERE agency_party_id = ?::bigint AND business_date = ?::date ORDER BY id DESC LIMIT 1',
    [agencyPartyId, businessDate],
  );
  return result.rows[0]?.status;
}

/**
 * Settles the given (agency, date) pairs in one statement, set-based: their settleable payment
 * items (docs/settlement.md §1) — items of the agency's SUCCEEDED or PARTIALLY_REFUNDED payments of
 * the date that are matched (a live statement match) or accepted (a discrepancy resolved
 * ACCEPT_PLATFORM or ACCEPT_STATEMENT), not held (no CARRIED_OVER or OPEN discrepancy), and never
 * placed in a settlement instruction (a FAILED one's items wait for its reissue,
 * contracts/decisions/0131-settle-job.md), of a pair whose last reconciliation run is BALANCED or
 * UNBALANCED — become one SETTLEMENT instruction per (agency, date, receiving account), with its
 * payment items and its lines by (itemCode, incomeSortCode, budgetLevel).
 *
 * Each item settles its amount and late fee less its part of the payment's SUCCEEDED unit refunds
 * (the agency's), spread as settledItemAmounts in src/domain/instructions.ts does: every earning
 * item but the last round(refunded × earned / Σ earned, 2) — PostgreSQL's round rounds half away
 * from zero, which for these positive amounts is ROUND_HALF_UP —, the last earning item the
 * remainder. Items settling nothing are left out. Answers the new instructions' ids and how many
 * payment items they took.
 */
export async function settlePairs(
  trx: Knex.Transaction,
  input: { pairs: ReadonlyArray<{ agencyPartyId: string; businessDate: string }>; ymd: string; deadline: Date; now: Date },
): Promise<{ ids: string[]; items: number }> {
  const result = await trx.raw<{ rows: Array<{ id: string | null; items: string }> }>(
    `WITH pairs AS (
       SELECT t.agency_party_id, t.business_date
         FROM unnest(?::bigint[], ?::date[]) AS t(agency_party_id, business_date)
        WHERE (SELECT r.status FROM reconciliation_runs r
                WHERE r.agency_party_id = t.agency_party_id AND r.business_date = t.business_date
                ORDER BY r.id DESC LIMIT 1) IN ('BALANCED', 'UNBALANCED')
     ), refunded AS MATERIALIZED (
       SELECT r.payment_id, sum(r.amount) AS refunded
         FROM refunds r JOIN payments p ON p.id = r.payment_id JOIN pairs ON pairs.agency_party_id = p.agency_party_id AND pairs.business_date = p.business_date
        WHERE r.status = 'SUCCEEDED' AND r.refund_no IS NOT NULL
        GROUP BY r.payment_id
     ), pay AS MATERIALIZED (
       SELECT p.id, p.notice_id, p.agency_party_id, p.business_date, rf.refunded
         FROM pairs JOIN payments p ON p.agency_party_id = pairs.agency_party_id AND p.business_date = pairs.business_date
         LEFT JOIN refunded rf ON rf.payment_id = p.id
        WHERE p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED') AND p.unapplied_reason IS NULL
          AND (EXISTS (SELECT 1 FROM statement_matches m WHERE m.payment_id = p.id AND m.released_at IS NULL)
               OR EXISTS (SELECT 1 FROM reconciliation_discrepancies d
                           WHERE d.payment_id = p.id AND d.status = 'RESOLVED' AND d.resolution_action IN ('ACCEPT_PLATFORM', 'ACCEPT_STATEMENT')))
          AND NOT EXISTS (SELECT 1 FROM reconciliation_discrepancies d WHERE d.payment_id = p.id AND d.status IN ('CARRIED_OVER', 'OPEN'))
          AND NOT EXISTS (SELECT 1 FROM instruction_payment_items x WHERE x.payment_id = p.id)
          -- A refund the agency is paying out of this money holds it until the refund succeeds or fails (decision 0151).
          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id AND r.status = 'INSTRUCTED')
     ), settle_items AS MATERIALIZED (
       SELECT * FROM (
         SELECT pay.agency_party_id, pay.business_date, pay.id AS payment_id, i.notice_id, i.position, i.receiving_account_no, i.item_code, i.income_sort_code, i.budget_level,
                CASE
                  WHEN pay.refunded IS NULL THEN i.amount + COALESCE(i.late_fee_paid, 0)
                  WHEN i.position = w.last_position THEN
                    i.amount + COALESCE(i.late_fee_paid, 0)
                    - (pay.refunded - COALESCE((SELECT sum(round(pay.refunded * (j.amount + COALESCE(j.late_fee_paid, 0)) / w.total, 2))
                                                  FROM notice_items j WHERE j.notice_id = i.notice_id AND j.position <> w.last_position), 0))
                  ELSE i.amount + COALESCE(i.late_fee_paid, 0) - round(pay.refunded * (i.amount + COALESCE(i.late_fee_paid, 0)) / w.total, 2)
                END AS amount
           FROM pay
           JOIN notice_items i ON i.notice_id = pay.notice_id
           LEFT JOIN LATERAL (
             SELECT sum(j.amount + COALESCE(j.late_fee_paid, 0)) AS total,
                    max(j.position) FILTER (WHERE j.amount + COALESCE(j.late_fee_paid, 0) > 0) AS last_position
               FROM notice_items j WHERE pay.refunded IS NOT NULL AND j.notice_id = pay.notice_id
           ) w ON true
       ) spread
       WHERE amount > 0
     ), grouped AS (
       SELECT agency_party_id, business_date, receiving_account_no, sum(amount) AS amount
         FROM settle_items GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
     ), ins AS (
       INSERT INTO instructions (instruction_no, type, status, executor_party_id, agency_party_id, agency_code, debit_account_no, credit_account_no,
                                 business_date, amount, deadline, created_at, updated_at)
       SELECT 'TFS' || ? || lpad(nextval('instruction_no_seq')::text, 8, '0'), 'SETTLEMENT', 'CREATED', a.id, a.id, a.code, a.clearing_account_no, g.receiving_account_no,
              g.business_date, g.amount, ?::timestamptz, ?::timestamptz, ?::timestamptz
         FROM grouped g JOIN parties a ON a.id = g.agency_party_id
       RETURNING id, agency_party_id, business_date, credit_account_no
     ), items AS (
       INSERT INTO instruction_payment_items (instruction_id, payment_id, notice_id, line_position, amount, live)
       SELECT ins.id, s.payment_id, s.notice_id, s.position, s.amount, true
         FROM settle_items s
         JOIN ins ON ins.agency_party_id = s.agency_party_id AND ins.business_date = s.business_date AND ins.credit_account_no = s.receiving_account_no
       RETURNING 1
     ), lines AS (
       INSERT INTO instruction_lines (instruction_id, line_no, item_code, income_sort_code, budget_level, amount, payment_count)
       SELECT ins.id, row_number() OVER (PARTITION BY ins.id ORDER BY s.item_code, s.income_sort_code, s.budget_level),
              s.item_code, s.income_sort_code, s.budget_level, sum(s.amount), count(DISTINCT s.payment_id)
         FROM settle_items s
         JOIN ins ON ins.agency_party_id = s.agency_party_id AND ins.business_date = s.business_date AND ins.credit_account_no = s.receiving_account_no
        GROUP BY ins.id, s.item_code, s.income_sort_code, s.budget_level
       RETURNING 1
     )
     SELECT ins.id::text AS id, (SELECT count(*) FROM items)::text AS items
       FROM (SELECT 1) one LEFT JOIN ins ON true
      WHERE (SELECT count(*) FROM lines) >= 0
      ORDER BY ins.id`,
    [input.pairs.map((pair) => pair.agencyPartyId), input.pairs.map((pair) => pair.businessDate), input.ymd, input.deadline, input.now, input.now],
  );
  const ids = result.rows.flatMap((row) => (row.id === null ? [] : [row.id]));
  return { ids, items: Number(result.rows[0]?.items ?? 0) };
}

/** Rows by id, in the order given. */
export async function findInstructionsByIds(db: Queryable, ids: readonly string[]): Promise<InstructionRow[]> {
  if (ids.length === 0) return [];
  const result = await db.raw<{ rows: InstructionRow[] }>(`SELECT ${ROW_COLUMNS} FROM instructions i WHERE i.id = ANY(?::bigint[]) ORDER BY i.id`, [[...ids]]);
  return result.rows;
}

/** The agency's clearing account (its party row). */
export async function clearingAccountOf(db: Queryable, agencyPartyId: string): Promise<string | undefined> {
  const row = (await db('parties').where({ id: agencyPartyId }).first('clearing_account_no')) as { clearing_account_no: string | null } | undefined;
  return row?.clearing_account_no ?? undefined;
}

/** The next instruction serial (1–99,999,999, cycling). */
export async function nextInstructionSerial(db: Queryable): Promise<number> {
  const result = await db.raw<{ rows: Array<{ n: string }> }>(`SELECT nextval('instruction_no_seq')::text AS n`);
  return Number(result.rows[0]?.n);
}

/** A settlement's payment items with what recognition needs: budget level, income sort code, the snapshotted shares. */
export interface SettledItemForRecognition {
  payment_id: string;
  line_position: number;
  amount: string;
  income_sort_code: string;
  budget_level: number;
  shares: Array<{ budgetLevel: number; ratio: string }> | null;
}

export async function settledItemsForRecognition(db: Queryable, instructionId: string): Promise<SettledItemForRecognition[]> {
  const result = await db.raw<{ rows: SettledItemForRecognition[] }>(
    `SELECT x.payment_id::text AS payment_id, x.line_position, x.amount::text AS amount, n.income_sort_code, n.budget_level,
            (SELECT json_agg(json_build_object('budgetLevel', s.budget_level, 'ratio', s.ratio::text) ORDER BY s.position)
               FROM notice_item_shares s WHERE s.notice_id = x.notice_id AND s.line_position = x.line_position) AS shares
       FROM instruction_payment_items x
       JOIN notice_items n ON n.notice_id = x.notice_id AND n.position = x.line_position
      WHERE x.instruction_id = ?::bigint
      ORDER BY x.payment_id, x.line_position`,
    [instructionId],
  );
  return result.rows;
}

/** Copies a FAILED instruction as its reissue: a new row, its lines and its payment items (live). */
export async function insertReissue(
  trx: Knex.Transaction,
  input: { failedId: string; instructionNo: string; deadline: Date; now: Date; payee?: { name: string; accountNo: string; bankName: string } },
): Promise<string> {
  // The payee: the one given (a refund's or return's new payee, already encrypted; decision 0200), else the failed instruction's.
  const payee = input.payee === undefined ? [null, null, null] : [input.payee.name, input.payee.accountNo, input.payee.bankName];
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(
    `WITH ins AS (
       INSERT INTO instructions (instruction_no, type, status, executor_party_id, agency_party_id, agency_code, debit_account_no, credit_account_no,
                                 payee_name, payee_account_no, payee_bank_name, business_date, amount, refund_id, returns_posting_id, reissue_of, deadline, created_at, updated_at)
       SELECT ?, type, 'CREATED', executor_party_id, agency_party_id, agency_code, debit_account_no, credit_account_no,
              COALESCE(?::text, payee_name), COALESCE(?::text, payee_account_no), COALESCE(?::text, payee_bank_name),
              business_date, amount, refund_id, returns_posting_id, id, ?::timestamptz, ?::timestamptz, ?::timestamptz
         FROM instructions WHERE id = ?::bigint
       RETURNING id
     ), lines AS (
       INSERT INTO instruction_lines (instruction_id, line_no, item_code, income_sort_code, budget_level, amount, payment_count)
       SELECT ins.id, l.line_no, l.item_code, l.income_sort_code, l.budget_level, l.amount, l.payment_count
         FROM instruction_lines l, ins WHERE l.instruction_id = ?::bigint
       RETURNING 1
     ), items AS (
       INSERT INTO instruction_payment_items (instruction_id, payment_id, notice_id, line_position, amount, live)
       SELECT ins.id, x.payment_id, x.notice_id, x.line_position, x.amount, true
         FROM instruction_payment_items x, ins WHERE x.instruction_id = ?::bigint
       RETURNING 1
     )
     SELECT ins.id::text AS id FROM ins WHERE (SELECT count(*) FROM lines) >= 0 AND (SELECT count(*) FROM items) >= 0`,
    [input.instructionNo, ...payee, input.deadline, input.now, input.now, input.failedId, input.failedId, input.failedId],
  );
  return result.rows[0]?.id as string;
}

/** The number of the instruction that reissues `failedId`, if it was reissued. */
export async function reissueOf(db: Queryable, failedId: string): Promise<string | undefined> {
  const result = await db.raw<{ rows: Array<{ instruction_no: string }> }>('SELECT instruction_no FROM instructions WHERE reissue_of = ?::bigint', [failedId]);
  return result.rows[0]?.instruction_no;
}

/**
 * A REFUND instruction, CREATED: either a refund's (`refundRowId`, with the payment's agency), or a
 * bank's return of an unidentified credit (`returnsPostingId`, migration 20261202011000). The
 * payee's name and account number come already encrypted. Answers its row id.
 */
export async function insertRefundInstruction(
  trx: Knex.Transaction,
  input: {
    instructionNo: string;
    executorPartyId: string;
    debitAccountNo: string;
    payee: { name: string; accountNo: string; bankName: string };
    businessDate: string;
    amount: string;
    cause: { refundRowId: string; agencyPartyId: string; agencyCode: string } | { returnsPostingId: string };
    deadline: Date;
    now: Date;
  },
): Promise<string> {
  const cause = 'refundRowId' in input.cause ? { refund_id: input.cause.refundRowId, agency_party_id: input.cause.agencyPartyId, agency_code: input.cause.agencyCode } : { returns_posting_id: input.cause.returnsPostingId };
  const [row] = (await trx('instructions')
    .insert({
      instruction_no: input.instructionNo,
      type: 'REFUND',
      status: 'CREATED',
      executor_party_id: input.executorPartyId,
      debit_account_no: input.debitAccountNo,
      payee_name: input.payee.name,
      payee_account_no: input.payee.accountNo,
      payee_bank_name: input.payee.bankName,
      business_date: input.businessDate,
      amount: input.amount,
      ...cause,
      deadline: input.deadline,
      created_at: input.now,
      updated_at: input.now,
    })
    .returning(trx.raw('id::text AS id'))) as Array<{ id: string }>;
  return (row as { id: string }).id;
}

/** The bank party holding an account, by the account's bank code. */
export async function bankHoldingAccount(db: Queryable, accountNo: string): Promise<string | undefined> {
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `SELECT p.id::text AS id FROM accounts a JOIN parties p ON p.role = 'bank' AND p.code = a.bank_code WHERE a.account_no = ?`,
    [accountNo],
  );
  return result.rows[0]?.id;
}

/** Marks every CREATED or EXECUTED instruction whose deadline is at or before `now` UNCONFIRMED; answers how many. */
export async function markOverdue(db: Queryable, now: Date, fromStatuses: readonly InstructionStatus[]): Promise<number> {
  const result = await db.raw<{ rowCount: number }>(
    `UPDATE instructions SET status = 'UNCONFIRMED', updated_at = ?::timestamptz WHERE status = ANY(?::text[]) AND deadline <= ?::timestamptz`,
    [now, [...fromStatuses], now],
  );
  return result.rowCount;
}
