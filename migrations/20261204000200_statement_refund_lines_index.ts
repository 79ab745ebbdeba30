import type { Knex } from 'knex';

/**
 * The REFUND lines of a statement, by index (docs/reconciliation.md §2, src/db/repositories/refundLines.ts).
 *
 * The run's refund step reads a statement's REFUND lines twice. Without an index of their own each
 * read walked the statement's whole primary-key range and fetched every line to test its kind:
 * 0.4 s of a 1,000,000-line run whose statement has no REFUND line at all. Refund lines are few,
 * so the partial index is small, and a PAY line costs the COPY only the test of its kind.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX agency_statement_lines_refunds ON agency_statement_lines (statement_id, line_no) WHERE kind = 'REFUND'`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
