import type { Knex } from 'knex';

/**
 * `agency_statement_lines` checks its identifiers' lengths row by row, and no longer their
 * characters (contracts/decisions/0188-statement-line-identifiers-verified.md).
 *
 * The two character checks (`agency_txn_id ~ '^[A-Za-z0-9_-]+$'`, the same for `pay_code`,
 * migration 20261202001001) are two regular-expression matches per line: measured on this machine,
 * they took a `COPY` of 1,000,000 lines from 1.9–2.1 s to 3.0–3.3 s (the table's other checks and
 * its primary key left aside). The loader is the one writer of the table and validates every
 * identifier before it is copied; the table is append-only. `ledger verify` checks the characters
 * of every stored line instead (`statementLineIdentifiers`), as it checks the references these
 * bulk rows carry no foreign keys for (migration 20261202009000).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE agency_statement_lines
      DROP CONSTRAINT agency_statement_lines_agency_txn_id_check,
      DROP CONSTRAINT agency_statement_lines_pay_code_check,
      ADD CONSTRAINT agency_statement_lines_agency_txn_id_check CHECK (length(agency_txn_id) BETWEEN 1 AND 64),
      ADD CONSTRAINT agency_statement_lines_pay_code_check CHECK (length(pay_code) BETWEEN 1 AND 64)
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
