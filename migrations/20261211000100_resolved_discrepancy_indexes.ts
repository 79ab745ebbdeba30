import type { Knex } from 'knex';

/**
 * Resolved discrepancies, by index (contracts/decisions/0216-resolved-discrepancies-by-index.md).
 *
 * The reconcile run and the settle job ask of a line or a payment "did finance already resolve
 * this?" (decisions 0202, 0194): the run for each line it would open a discrepancy for and for
 * each payment it would carry as a shortage; settle for each payment of a reconciled date without
 * a live match. `reconciliation_discrepancies` had no index that answers it: its partial indexes
 * cover the unresolved rows only, and `(status, id)` names every RESOLVED row. So each question
 * read every resolved discrepancy ever recorded — with 100,000 of them, the shortages of a
 * million-line run took 28 s instead of 2 s. RESOLVED rows are a small part of the table and never
 * change again (the status moves once), so these three indexes cost little to keep.
 *
 * Each predicate is `status = 'RESOLVED'`, which the queries name word for word
 * (src/db/repositories/reconciliation.ts, refundLines.ts, instructions.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX reconciliation_discrepancies_resolved_payment ON reconciliation_discrepancies (payment_id) WHERE status = 'RESOLVED';
    CREATE INDEX reconciliation_discrepancies_resolved_line ON reconciliation_discrepancies (statement_id, statement_line_no) WHERE status = 'RESOLVED';
    CREATE INDEX reconciliation_discrepancies_resolved_key ON reconciliation_discrepancies (agency_party_id, agency_txn_id, type) WHERE status = 'RESOLVED';
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
