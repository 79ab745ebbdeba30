import type { Knex } from 'knex';

/**
 * Secrets the platform generates once and every instance must share (docs/operations.md §2): the
 * platform's SM2 signing key and the SM4 field key, when not given by configuration. The first
 * instance to start inserts them; the rest read what it wrote.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE platform_settings (
      name       text PRIMARY KEY,
      value      text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
