import type { Knex } from 'knex';

/**
 * Agencies that offer online payment to payers on the portal (contracts/decisions/0080): finance
 * sets the name shown, the logo text and the checkout URL template of an agency party. All three
 * or none, and only on an agency; the template's shape is checked by the party use case.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE parties
      ADD COLUMN online_payment_display_name text,
      ADD COLUMN online_payment_logo_text text,
      ADD COLUMN online_payment_checkout_url_template text,
      ADD CONSTRAINT parties_online_payment_whole CHECK (
        (online_payment_display_name IS NULL AND online_payment_logo_text IS NULL AND online_payment_checkout_url_template IS NULL)
        OR (role = 'agency' AND online_payment_display_name IS NOT NULL AND online_payment_logo_text IS NOT NULL AND online_payment_checkout_url_template IS NOT NULL)
      )`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
