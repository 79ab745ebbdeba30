import type { Knex } from 'knex';

/**
 * A refund instruction is CANCELLED with its refund when the refund's payment is reversed
 * (docs/settlement.md §3: "APPROVED, INSTRUCTED → CANCELLED, its payment is reversed"), so that
 * its executor no longer pays it (contracts/decisions/0154-refund-lines-matched.md). The status
 * column accepts it; only the status columns move, as the money trigger already allows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE instructions DROP CONSTRAINT instructions_status_check;
    ALTER TABLE instructions ADD CONSTRAINT instructions_status_check
      CHECK (status IN ('CREATED', 'EXECUTED', 'CONFIRMED', 'MISMATCHED', 'FAILED', 'UNCONFIRMED', 'CANCELLED'));
    ALTER TABLE instructions ADD CONSTRAINT instructions_cancelled_refund CHECK (status <> 'CANCELLED' OR (type = 'REFUND' AND refund_id IS NOT NULL));
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
