import type { Knex } from 'knex';

/**
 * The first bytes of a callback recipient's answer, kept with each attempt that got one, for the
 * operator (contracts/decisions/0057-client-address-and-callbacks.md): at most 200 bytes, cut on
 * a UTF-8 character boundary by the worker.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE callback_attempts
      ADD COLUMN response_excerpt text CHECK (octet_length(response_excerpt) <= 200);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
