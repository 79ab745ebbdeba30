import type { Knex } from 'knex';

/**
 * A public key belongs to one party for good (contracts/decisions/0006): the holder of one private
 * key must never be able to sign as two parties. A key id is derived from the key, so a unique
 * key id across all parties' keys — active or retired — says it, and settles concurrent
 * registrations of one key for two parties.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE UNIQUE INDEX party_keys_one_owner ON party_keys (key_id)');
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
