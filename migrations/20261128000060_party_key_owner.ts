import type { Knex } from 'knex';

/**
 * A public key belongs to one party for good (contracts/decisions/0006): the holder of one private
 * key must never be able to sign as two parties. A key id is derived from the key, so a unique
 * key id across all parties' keys — active or retired — says it, and settles concurrent
 * registrations of one key for two parties.
 *
 * A database where some key is already held by several parties (possible before this migration)
 * cannot take the index; the migration then stops with the keys and parties named, so that an
 * operator gives those parties new key pairs, deletes the shared key's rows of all but its first
 * owner, and starts again. Nothing is deleted here: which party owns a key is a person's call.
 */
export async function up(knex: Knex): Promise<void> {
  const shared = await knex.raw<{ rows: Array<{ key_id: string; app_ids: string[] }> }>(`
    SELECT k.key_id, array_agg(p.app_id ORDER BY p.app_id) AS app_ids
      FROM party_keys k JOIN parties p ON p.id = k.party_id
     GROUP BY k.key_id
    HAVING count(*) > 1`);
  if (shared.rows.length > 0) {
    const list = shared.rows.map((row) => `${row.key_id} (held by ${row.app_ids.join(', ')})`).join('; ');
    throw new Error(
      `cannot make keys belong to one party: ${shared.rows.length} key(s) are held by several parties: ${list}. ` +
        'Give those parties new key pairs (POST /v1/finance/parties/{appId}/keys), delete the shared key\'s party_keys rows of all but its owner by hand, then start again.',
    );
  }
  await knex.raw('CREATE UNIQUE INDEX party_keys_one_owner ON party_keys (key_id)');
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
