import type { Knex } from 'knex';

/**
 * Late postings, by index (docs/reconciliation.md §2, contracts/decisions/0210-late-postings-requeue-their-date.md).
 *
 * A captured-funds posting may carry a `paidAt` long past (docs/lifecycle.md §3.7): its business
 * date can lie before the 7 days the reconcile job looks back over, and the job must still take
 * that (agency, date). It finds such dates from this index: the payments recorded two or more
 * Shanghai days after their business date, by the instant they were recorded. Such postings are
 * rare, so the index is small; an on-time posting costs the INSERT only the test of the predicate
 * (no entry, no extra statement). `business_date` and `created_at` never change (the append-only
 * trigger), so the index never stops an UPDATE of a payment's status from being HOT.
 *
 * The predicate is repeated word for word by `queuedPairs` (src/db/repositories/reconciliation.ts),
 * which is what lets the planner use the index.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX payments_late_posted ON payments (created_at) INCLUDE (agency_party_id, business_date)
     WHERE business_date < CAST(created_at AT TIME ZONE 'Asia/Shanghai' AS date) - 1`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
