import type { Knex } from 'knex';

/**
 * Migration 20261202000100's append-only trigger function read `OLD.superseded_by` for every table
 * it guards, and PostgreSQL does not short-circuit that test: on `agency_statement_lines` and
 * `daily_closes`, which have no such column, a refused UPDATE failed with "record has no field"
 * instead of the append-only refusal. Still refused, but with the wrong message; this replaces
 * the function with one that asks about the column only on the table that has it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION reconciliation_records_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'agency_statements' THEN
        -- A current statement may be superseded, once; nothing else of it changes.
        IF (to_jsonb(NEW) - 'superseded_by' - 'superseded_at') = (to_jsonb(OLD) - 'superseded_by' - 'superseded_at')
           AND to_jsonb(OLD) ->> 'superseded_by' IS NULL THEN
          RETURN NEW;
        END IF;
      END IF;
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
    END
    $$;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
