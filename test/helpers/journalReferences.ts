import type { Db, Queryable } from '../../src/db/database';

/**
 * Rows for journal entries to point at, for tests that write entries of kinds whose cause is a
 * reconciliation discrepancy (WRITE_OFF, MISMATCH_*, a reversal's cause): journal_entries has a
 * foreign key to reconciliation_discrepancies. The discrepancies are SUPERSEDED and name no
 * payment, so no invariant counts them; they hang off one finished run of the agency.
 */
export async function discrepancyIdsFor(db: Db | Queryable, agencyCode: string, count: number): Promise<string[]> {
  const { rows: parties } = await db.raw<{ rows: Array<{ id: string }> }>(`SELECT id::text AS id FROM parties WHERE role = 'agency' AND code = ? ORDER BY id LIMIT 1`, [agencyCode]);
  const agencyPartyId = parties[0]?.id;
  if (agencyPartyId === undefined) throw new Error(`no agency ${agencyCode}`);
  const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const { rows: runs } = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO reconciliation_runs (run_id, agency_party_id, agency_code, business_date, status, started_at, finished_at)
     VALUES (?, ?, ?, '2026-11-20', 'STATEMENT_MISSING', now(), now()) RETURNING id::text AS id`,
    [`RUN-TEST-${tag}`, agencyPartyId, agencyCode],
  );
  const runId = runs[0]!.id;
  const { rows } = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id, first_run_id, last_run_id, created_at, updated_at)
     SELECT 'DSC-TEST-' || ? || '-' || g, ?, ?, '2026-11-20', 'REFUND_MISMATCH', 'SUPERSEDED', 'TXN-TEST-' || ? || '-' || g, ?, ?, now(), now()
       FROM generate_series(1, ?) AS g
     RETURNING id::text AS id`,
    [tag, agencyPartyId, agencyCode, tag, runId, runId, count],
  );
  return rows.map((row) => row.id).sort((a, b) => Number(a) - Number(b));
}

let serial = 0;
function nextSerial(): string {
  serial += 1;
  return `${Date.now() % 100_000_000}`.padStart(8, '0') + `${serial}`.padStart(8, '0').slice(-8);
}

/**
 * A SETTLEMENT instruction row (CREATED, no items) from the agency's clearing account to
 * `accountNo`, for tests that write settlement entries around the settle job — inside the test's
 * transaction, which rolls it back (ledger verify would rightly find an instruction without items).
 */
export async function instructionRowFor(db: Queryable, input: { agencyCode: string; clearingAccountNo: string; accountNo: string; amount: string }): Promise<string> {
  const { rows } = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO instructions (instruction_no, type, status, executor_party_id, agency_party_id, agency_code, debit_account_no, credit_account_no, business_date, amount, deadline, created_at, updated_at)
     SELECT ?, 'SETTLEMENT', 'CREATED', p.id, p.id, p.code, ?, ?, '2026-11-20', ?, now() + interval '1 day', now(), now()
       FROM parties p WHERE p.role = 'agency' AND p.code = ?
     RETURNING id::text AS id`,
    [`TFS20261120${nextSerial().slice(-8)}`, input.clearingAccountNo, input.accountNo, input.amount, input.agencyCode],
  );
  if (rows[0] === undefined) throw new Error(`no agency ${input.agencyCode}`);
  return rows[0].id;
}

/**
 * An UNIDENTIFIED bank credit row of `amount` to `accountNo` (posted by the bank holding it), for
 * tests that write its UNIDENTIFIED_CREDIT entry themselves: with that entry of the same amount the
 * ledger ties.
 */
export async function bankPostingRowFor(db: Queryable, input: { accountNo: string; amount: string }): Promise<string> {
  const tag = nextSerial();
  const { rows } = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO bank_postings (posting_id, bank_party_id, bank_ref, account_no, direction, amount, value_date, status, source, created_at)
     SELECT ?, p.id, ?, a.account_no, 'CREDIT', ?, '2026-11-20', 'UNIDENTIFIED', 'JSON', now()
       FROM accounts a JOIN parties p ON p.role = 'bank' AND p.code = a.bank_code
      WHERE a.account_no = ?
     RETURNING id::text AS id`,
    [`BP-TEST-${tag}`, `REF-TEST-${tag}`, input.amount, input.accountNo],
  );
  if (rows[0] === undefined) throw new Error(`no bank holds ${input.accountNo}`);
  return rows[0].id;
}
