import type { Knex } from 'knex';

/**
 * A run's discrepancies, by index (contracts/decisions/0217-index-audit.md).
 *
 * `GET /v1/agency/reconciliations/{businessDate}` shows the discrepancies of the agency's latest
 * run of the date: those of the date, and those its runs touched (`business_date = T OR
 * last_run_id = run`, src/db/repositories/reconciliation.ts discrepanciesOfRun). Nothing indexed
 * `last_run_id`, so the planner could not split the OR: it read every discrepancy the agency ever
 * had through `(agency_party_id, business_date)` and filtered them — a read that grew with the
 * agency's history, resolved rows included, on every request. With this index each arm is a
 * lookup (a BitmapOr of the date's rows and the run's rows).
 *
 * A touched discrepancy may be of any earlier date (a rerun's upsert moves `last_run_id` of an
 * open one), so the index covers every row, not only the unresolved ones. Its cost is one entry
 * per discrepancy written and per change of `last_run_id` — by the reconcile run, never by a
 * posting.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX reconciliation_discrepancies_last_run ON reconciliation_discrepancies (last_run_id)`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
