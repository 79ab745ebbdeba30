import type { Knex } from 'knex';

/**
 * A RETURN of an unidentified credit (docs/settlement.md §2) is a bank REFUND instruction that
 * pays the credit back: it has no refund of a payment behind it (`refund_id` stays NULL), so
 * `returns_posting_id` names the bank posting it returns instead — the posting itself keeps
 * `instruction_id` NULL once RETURNED (migration 20261202007001). A reissue of a FAILED return
 * copies it. Never both a refund and a returned posting
 * (contracts/decisions/0146-return-of-unidentified-credits.md).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE instructions
      ADD COLUMN returns_posting_id bigint REFERENCES bank_postings (id),
      ADD CONSTRAINT instructions_return_is_a_refund CHECK (returns_posting_id IS NULL OR (type = 'REFUND' AND refund_id IS NULL AND payee_account_no IS NOT NULL));
    CREATE INDEX instructions_returns_posting ON instructions (returns_posting_id) WHERE returns_posting_id IS NOT NULL;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
