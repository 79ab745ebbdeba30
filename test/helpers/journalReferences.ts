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
