import type { Knex } from 'knex';

/**
 * A reconciliation run writes its discrepancies by the ten thousand — a statement's overages, its
 * shortages — and, like the statement lines and matches before them (migration 20261202009000,
 * contracts/decisions/0141-reconciliation-bulk-rows.md), they carry no per-row foreign keys
 * (contracts/decisions/0235-discrepancy-bulk-rows.md).
 *
 * Each of the five was checked row by row on insert: a run of a million lines spent ≈ 0.5 s in
 * them (`auto_explain`, 2026-12-03), the payment's the dearest (a random probe of the payments'
 * primary key per shortage). Every id a discrepancy carries is one the writing statement has just
 * read — the agency of the run, its statement, the run itself, the payment it found — and none of
 * the referenced tables allows a DELETE (payments, statements and their parties are append-only or
 * never deleted; runs are only inserted and finished).
 *
 * `ledger verify` checks instead that every discrepancy resolves (`reconciliationRowsResolve`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE reconciliation_discrepancies DROP CONSTRAINT reconciliation_discrepancies_agency_party_id_fkey;
    ALTER TABLE reconciliation_discrepancies DROP CONSTRAINT reconciliation_discrepancies_payment_id_fkey;
    ALTER TABLE reconciliation_discrepancies DROP CONSTRAINT reconciliation_discrepancies_statement_id_fkey;
    ALTER TABLE reconciliation_discrepancies DROP CONSTRAINT reconciliation_discrepancies_first_run_id_fkey;
    ALTER TABLE reconciliation_discrepancies DROP CONSTRAINT reconciliation_discrepancies_last_run_id_fkey;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
