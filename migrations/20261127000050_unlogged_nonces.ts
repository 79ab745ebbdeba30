import type { Knex } from 'knex';

/**
 * Request nonces need no crash durability, and every signed request writes one: as an UNLOGGED
 * table its insert writes no WAL, so the claim's commit does not wait for a disk flush. See
 * contracts/decisions/0007-unlogged-nonces.md for what a PostgreSQL crash costs.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE request_nonces SET UNLOGGED');
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
