import type { Knex } from 'knex';

/**
 * A posting dated more than 5 minutes before its notice was issued does not apply
 * (PAID_BEFORE_ISSUE, docs/lifecycle.md §3): with captured funds it is recorded as unapplied
 * money with that reason. The payments table's list of reasons gains it; the constraint is
 * replaced under the name PostgreSQL gave the original column check. Refunds keep the reason as
 * free text (their own check is on its length), so they need nothing.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE payments DROP CONSTRAINT payments_unapplied_reason_check;
    ALTER TABLE payments ADD CONSTRAINT payments_unapplied_reason_check CHECK (unapplied_reason IN (
      'PAY_CODE_INVALID', 'NOTICE_NOT_FOUND', 'NOTICE_ALREADY_PAID', 'NOTICE_VOIDED', 'NOTICE_EXPIRED', 'PAID_BEFORE_ISSUE', 'AMOUNT_MISMATCH'));
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
