import type { Knex } from 'knex';

/**
 * What an agency refund of applied money took from each receiving account's pending revenue
 * (docs/settlement.md §3, §6 "agency refund confirmed"): its parts of the payment's items,
 * summed per receiving account, written with its AGENCY_REFUND_CONFIRMED entry. `ledger verify`
 * counts them in `revenue_pending` from this record, not from the journal it checks
 * (contracts/decisions/0153-refund-ledger.md). Append-only, like the journal.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE refund_items (
      refund_id            bigint NOT NULL REFERENCES refunds (id),
      receiving_account_no text NOT NULL REFERENCES accounts (account_no),
      amount               numeric(18, 2) NOT NULL CHECK (amount > 0),
      PRIMARY KEY (refund_id, receiving_account_no)
    );

    CREATE FUNCTION refund_items_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'refund_items is append-only: % is not allowed', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$;
    CREATE TRIGGER refund_items_append_only BEFORE UPDATE OR DELETE ON refund_items
      FOR EACH ROW EXECUTE FUNCTION refund_items_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
