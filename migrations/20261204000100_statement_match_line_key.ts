import type { Knex } from 'knex';

/**
 * A statement match is keyed by its line (docs/reconciliation.md §4,
 * contracts/decisions/0181-statement-match-line-key.md).
 *
 * A statement line is matched at most once, ever: a run matches only lines without a live match,
 * and a match is released only when its statement is superseded — a superseded statement is never
 * run again. So (statement_id, line_no) identifies a match on its own. It becomes the primary key,
 * in place of the surrogate `id` (which nothing referenced) and of the partial unique index
 * `statement_matches_live_line`, which it implies: a run of a million lines maintained three
 * indexes per match, and now maintains two. `statement_matches_live_payment` stays: it is what
 * makes "a payment matched at most once" a property of the database.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE statement_matches DROP CONSTRAINT statement_matches_pkey;
    ALTER TABLE statement_matches DROP COLUMN id;
    DROP INDEX statement_matches_live_line;
    ALTER TABLE statement_matches ADD CONSTRAINT statement_matches_pkey PRIMARY KEY (statement_id, line_no);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
