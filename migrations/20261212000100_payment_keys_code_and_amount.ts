import type { Knex } from 'knex';

/**
 * A payment's key carries the payment's payCode and amount
 * (contracts/decisions/0241-payment-keys-carry-code-and-amount.md).
 *
 * A reconciliation run classifies every line of a statement by its agencyTxnId: the key names the
 * payment, and the line is matched when the payment's payCode and amount are the line's. Reading
 * those two from `payments` was a second hash join over every payment of the agency — a third of
 * the classification's time for a million lines. Both are fixed when the payment is written (a
 * payment changes only its status), and the key is written in the same statement as the payment,
 * from the same values; `ledger verify` checks that every key still agrees with its payment
 * (`paymentKeys`).
 *
 * Existing keys take their payment's values; the append-only trigger is set aside for that one
 * UPDATE, inside the migration's transaction.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE payment_keys ADD COLUMN pay_code text, ADD COLUMN amount numeric(18, 2);
    ALTER TABLE payment_keys DISABLE TRIGGER payment_keys_append_only;
    UPDATE payment_keys k SET pay_code = p.pay_code, amount = p.amount FROM payments p WHERE p.id = k.payment_id;
    ALTER TABLE payment_keys ENABLE TRIGGER payment_keys_append_only;
    ALTER TABLE payment_keys ALTER COLUMN pay_code SET NOT NULL, ALTER COLUMN amount SET NOT NULL;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
