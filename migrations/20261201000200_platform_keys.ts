import type { Knex } from 'knex';

/**
 * Every platform key that ever signed (contracts/decisions/0055-platform-keys-kept.md): its public
 * part only, so `GET /v1/platform/keys` keeps publishing it as RETIRED after a rotation of
 * TONGFU_PLATFORM_KEY and the receipts and closes it signed stay verifiable. A configured private
 * key is never stored here (nor anywhere).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE platform_keys (
      key_id          text PRIMARY KEY,
      public_key_hex  text NOT NULL CHECK (public_key_hex ~ '^04[0-9a-f]{128}$'),
      source          text NOT NULL CHECK (source IN ('config', 'database')),
      first_used_at   timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
