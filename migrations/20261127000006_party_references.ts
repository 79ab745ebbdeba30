import type { Knex } from 'knex';

/**
 * A party's references into the catalogue, enforced by the database as well as by the party
 * service: a unit's region and an agency's clearing account must exist (docs/interface.md §6.1). The
 * parties table predates the catalogue, so the keys are added here.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE parties
      ADD CONSTRAINT parties_region_code_fkey FOREIGN KEY (region_code) REFERENCES regions (code),
      ADD CONSTRAINT parties_clearing_account_no_fkey FOREIGN KEY (clearing_account_no) REFERENCES accounts (account_no);
    CREATE INDEX parties_clearing_account_no ON parties (clearing_account_no) WHERE clearing_account_no IS NOT NULL;
    CREATE INDEX parties_role_id ON parties (role, id);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
