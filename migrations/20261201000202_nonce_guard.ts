import type { Knex } from 'knex';

/**
 * The nonce table's guard (contracts/decisions/0059-nonces-after-a-database-crash.md): a LOGGED
 * row recording during which server run the UNLOGGED request_nonces last held its sentinel, so a
 * missing sentinel tells an emptying by crash recovery from a table that was never filled.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE nonce_guard (
      id                    smallint PRIMARY KEY CHECK (id = 1),
      postmaster_started_at timestamptz NOT NULL
    );
    -- A table that has never held a nonce cannot have lost one: the sentinel goes in now.
    INSERT INTO request_nonces (app_id, nonce, seen_at) VALUES ('', 'tongfu-nonce-table-intact', 'infinity') ON CONFLICT DO NOTHING;
    INSERT INTO nonce_guard (id, postmaster_started_at) VALUES (1, pg_postmaster_start_time());
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
