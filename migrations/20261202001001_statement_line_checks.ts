import type { Knex } from 'knex';

/**
 * The identifier checks of `agency_statement_lines` (migration 20261202000100), the same rule in a
 * form PostgreSQL evaluates cheaply (docs/reconciliation.md §4; contracts/decisions/0100-statement-files.md).
 *
 * `col ~ '^[A-Za-z0-9_-]{1,64}$'` compiles the bounded repetition into a large automaton: measured
 * on a 100,000-line statement, the two checks made the `INSERT … SELECT` of the lines ~20× slower
 * than the same insert without them (9.3 s against 0.45 s). `col ~ '^[A-Za-z0-9_-]+$' AND
 * length(col) <= 64` accepts exactly the same values (the characters are ASCII, so characters are
 * bytes) and costs next to nothing. The service validates every line before it is staged; these
 * checks are the table's own guarantee.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE agency_statement_lines
      DROP CONSTRAINT agency_statement_lines_agency_txn_id_check,
      DROP CONSTRAINT agency_statement_lines_pay_code_check,
      ADD CONSTRAINT agency_statement_lines_agency_txn_id_check CHECK (agency_txn_id ~ '^[A-Za-z0-9_-]+$' AND length(agency_txn_id) <= 64),
      ADD CONSTRAINT agency_statement_lines_pay_code_check CHECK (pay_code ~ '^[A-Za-z0-9_-]+$' AND length(pay_code) <= 64)
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
