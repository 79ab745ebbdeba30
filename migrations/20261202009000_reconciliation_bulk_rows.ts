import type { Knex } from 'knex';

/**
 * The rows a reconciliation run writes by the million — statement lines and matches — carry no
 * per-row foreign keys and no index that no query uses (docs/reconciliation.md §4,
 * contracts/decisions/0141-reconciliation-bulk-rows.md).
 *
 * - `agency_statement_lines`: the foreign key to `agency_statements` is checked row by row on
 *   insert (about a third of the load's insert time, measured), yet only the loader inserts lines,
 *   in the transaction that inserts their statement, and neither table allows a DELETE. The
 *   unique index (statement_id, kind, agency_txn_id) duplicated the loader's own set-based
 *   duplicate check (which names every duplicate with its line numbers) and no query reads by it:
 *   matching hash-joins a statement's lines (found by the primary key's prefix) with the keys.
 * - `statement_matches`: the foreign keys to payments, lines and runs are likewise checked per
 *   row, for rows only the run inserts from rows it has just read. The live-match unique indexes
 *   stay: they are what makes "a payment matched at most once" a property of the database.
 *
 * `ledger verify` checks instead that every match and every line resolves
 * (`reconciliationRowsResolve`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE agency_statement_lines DROP CONSTRAINT agency_statement_lines_statement_id_fkey;
    DROP INDEX agency_statement_lines_txn;
    ALTER TABLE statement_matches DROP CONSTRAINT statement_matches_payment_id_fkey;
    ALTER TABLE statement_matches DROP CONSTRAINT statement_matches_statement_id_line_no_fkey;
    ALTER TABLE statement_matches DROP CONSTRAINT statement_matches_run_id_fkey;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
