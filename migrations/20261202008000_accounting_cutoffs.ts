import type { Knex } from 'knex';

/**
 * The daily close's cut-over of accounting dates (docs/settlement.md §5,
 * contracts/decisions/0140-daily-close.md).
 *
 * - `accounting_cutoffs`: one row per business date the close has begun to seal. From the commit
 *   of a date's row on, every journal entry meant for that date or an earlier one is written on the
 *   first date after the latest cut-off instead: the journal writer's INSERT computes it
 *   (src/db/repositories/ledger.ts), so no writer needs to know a close is running. Append-only.
 * - `journal_entries.for_date`: the date the writer meant (its cause's business date). It differs
 *   from `accounting_date` only for an entry moved past a sealed date; the close lists those under
 *   `adjustments`. Entries written before this migration have none (they were never moved).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE accounting_cutoffs (
      business_date date PRIMARY KEY,
      cut_at        timestamptz NOT NULL
    );
    CREATE TRIGGER accounting_cutoffs_append_only BEFORE UPDATE OR DELETE ON accounting_cutoffs
      FOR EACH ROW EXECUTE FUNCTION reconciliation_records_are_append_only();
    CREATE TRIGGER accounting_cutoffs_no_truncate BEFORE TRUNCATE ON accounting_cutoffs
      FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_records_are_append_only();

    ALTER TABLE journal_entries ADD COLUMN for_date date;
    ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_for_date CHECK (for_date IS NULL OR for_date <= accounting_date);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
