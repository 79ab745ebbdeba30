import type { Knex } from 'knex';

/**
 * The ledger (docs/lifecycle.md §4, docs/settlement.md §6): journal entries and their lines, double entry.
 * src/domain/ledger.ts holds the chart of accounts and builds every entry; it asserts that an
 * entry balances before it is inserted, and `ledger verify` checks what is stored.
 *
 * An entry says what caused it (`kind`, and `payment_id` for a payment's entries; later
 * capabilities add their own references as columns), the Shanghai date it belongs to
 * (`accounting_date`, docs/settlement.md §5) and, for a correction, the entry it mirrors
 * (`reverses_entry_id`). A line debits or credits one account with a positive amount.
 *
 * Entries are never updated, deleted or truncated, and the database enforces it, not only the
 * code: a trigger raises on each. A mistake is corrected by a new entry that points at the old.
 * Balancing is not a database constraint on purpose: a check per line at commit would cost the
 * payment path a query per line, and `ledger verify` (run by the tests after every scenario)
 * proves it instead.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE journal_entries (
      id                bigserial PRIMARY KEY,
      kind              text NOT NULL CHECK (kind ~ '^[A-Z][A-Z_]{0,39}$'),
      payment_id        bigint REFERENCES payments (id),
      reverses_entry_id bigint REFERENCES journal_entries (id),
      accounting_date   date NOT NULL,
      created_at        timestamptz NOT NULL
    );
    -- A payment's entries (the posting, a reversal's mirror) are found by the payment.
    CREATE INDEX journal_entries_payment_id ON journal_entries (payment_id) WHERE payment_id IS NOT NULL;
    -- The daily close sums a date's entries.
    CREATE INDEX journal_entries_accounting_date ON journal_entries (accounting_date);

    CREATE TABLE journal_lines (
      entry_id bigint NOT NULL REFERENCES journal_entries (id),
      line_no  smallint NOT NULL CHECK (line_no BETWEEN 1 AND 200),
      account  text NOT NULL CHECK (account ~ '^[a-z_]+(:[A-Za-z0-9_-]{1,64})+$'),
      side     text NOT NULL CHECK (side IN ('DEBIT', 'CREDIT')),
      amount   numeric(18, 2) NOT NULL CHECK (amount > 0),
      PRIMARY KEY (entry_id, line_no)
    );

    CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'the ledger is corrected by a new entry that reverses the old one, never edited';
    END
    $$;
    CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
    CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE ON journal_lines
      FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
