import type { Knex } from 'knex';

/**
 * The guard that ends a payment posting's single write statement (src/db/repositories/
 * payments.ts). The statement writes a payment only if the notice is still the version the
 * posting was decided on and the agency's key is still free; when either is no longer true it
 * writes no payment, and the guard raises so that nothing else the statement did (the receipt's
 * INSERT is not conditional) survives. The SQLSTATE tells the caller which race it lost:
 * TF001 — the notice changed since it was read; TF002 — the key was bound meanwhile.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION posting_guard(checked bigint, written bigint) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
      IF written = 1 THEN
        RETURN true;
      END IF;
      IF checked = 0 THEN
        RAISE EXCEPTION 'the posting lost its race: the notice changed since it was read' USING ERRCODE = 'TF001';
      END IF;
      RAISE EXCEPTION 'the posting lost its race: its agencyTxnId was bound meanwhile' USING ERRCODE = 'TF002';
    END
    $$;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
