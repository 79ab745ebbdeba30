import type { Knex } from 'knex';

/**
 * Each cause writes its entry once (contracts/decisions/0060-journal-writer.md): at most one entry
 * of a kind per the reference that caused it — a settlement is executed and confirmed once per
 * instruction, a refund confirmed once, an unidentified credit booked once per bank posting, a
 * discrepancy resolved once — and at most one reversal per entry. The journal writer
 * (src/db/repositories/ledger.ts, insertJournalEntry) inserts with ON CONFLICT DO NOTHING and
 * answers the entry already there, so a retried job or decision writes nothing twice.
 *
 * The payment kinds are left out on purpose: a payment's entry is written by the statement that
 * inserts the payment, whose key (`payment_keys`) already makes it once, and an index more on
 * the hot path would cost every posting for nothing; `ledger verify` checks one posting entry per
 * payment. Each index leads with the reference, so it also finds a cause's entries.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE UNIQUE INDEX journal_entries_once_per_instruction ON journal_entries (instruction_id, kind)
      WHERE kind IN ('SETTLEMENT_EXECUTED', 'SETTLEMENT_CONFIRMED');
    CREATE UNIQUE INDEX journal_entries_once_per_refund ON journal_entries (refund_id, kind)
      WHERE kind IN ('AGENCY_REFUND_CONFIRMED', 'BANK_REFUND_CONFIRMED');
    CREATE UNIQUE INDEX journal_entries_once_per_bank_posting ON journal_entries (bank_posting_id, kind)
      WHERE kind = 'UNIDENTIFIED_CREDIT';
    CREATE UNIQUE INDEX journal_entries_once_per_discrepancy ON journal_entries (discrepancy_id, kind)
      WHERE kind IN ('WRITE_OFF', 'MISMATCH_SURPLUS', 'MISMATCH_DEFICIT');
    CREATE UNIQUE INDEX journal_entries_one_reversal ON journal_entries (reverses_entry_id)
      WHERE reverses_entry_id IS NOT NULL;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
