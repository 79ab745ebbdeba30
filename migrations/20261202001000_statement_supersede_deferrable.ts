import type { Knex } from 'knex';

/**
 * Replacing a statement (docs/reconciliation.md §1; contracts/decisions/0100-statement-files.md):
 * at most one current statement per (agency, date) — a unique index, checked row by row — and the
 * replaced row names its successor in `superseded_by` — a foreign key. The replaced row must stop
 * being current before the successor is inserted, and it can only name the successor once the
 * successor exists. Making the foreign key deferrable (still immediate unless a transaction says
 * `SET CONSTRAINTS … DEFERRED`) lets the loader name the successor's pre-drawn id first and have
 * the reference checked at commit.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE agency_statements ALTER CONSTRAINT agency_statements_superseded_by_fkey DEFERRABLE INITIALLY IMMEDIATE');
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
