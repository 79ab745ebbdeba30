import type { Knex } from 'knex';

/**
 * What a journal entry points at (docs/ledger.md, contracts/decisions/0060-journal-writer.md):
 * besides the payment (`payment_id`) and the entry a reversal mirrors (`reverses_entry_id`),
 * which migration 20261127000032 created, an entry may reference the instruction, the refund, the
 * bank posting or the reconciliation discrepancy that caused it. The columns exist now, before
 * the capabilities that write those entries, so that none of them adds a nullable afterthought to
 * an append-only table later.
 *
 * - `refund_id` references refunds (the table exists).
 * - `instruction_id`, `bank_posting_id` and `discrepancy_id` are bigints whose tables do not exist
 *   yet: the migration that creates `instructions`, `bank_postings` or `discrepancies` adds the
 *   foreign key from this column (`ALTER TABLE journal_entries ADD CONSTRAINT … FOREIGN KEY …`),
 *   which validates every reference already written.
 *
 * The kind is one of the builders' kinds (src/domain/ledger.ts, JOURNAL_ENTRY_KINDS), and each
 * kind carries the reference that caused it (REQUIRED_REFERENCE there): a CHECK, so an entry
 * written around the code cannot lose its cause either. Adding a kind means replacing this
 * constraint in a migration of its own.
 *
 * The lookups by these references come with migration 20261201000301, whose unique indexes (each
 * entry once per its cause) lead with the reference.
 *
 * Adding nullable columns and a CHECK rewrites no row, so the append-only triggers (which refuse
 * UPDATE, DELETE and TRUNCATE) are neither fired nor needed to be lifted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE journal_entries
      ADD COLUMN instruction_id  bigint,
      ADD COLUMN refund_id       bigint REFERENCES refunds (id),
      ADD COLUMN bank_posting_id bigint,
      ADD COLUMN discrepancy_id  bigint,
      ADD CONSTRAINT journal_entries_kind_reference CHECK (CASE kind
        WHEN 'PAYMENT_SUCCEEDED'       THEN payment_id IS NOT NULL
        WHEN 'PAYMENT_UNAPPLIED'       THEN payment_id IS NOT NULL
        WHEN 'REVERSAL'                THEN reverses_entry_id IS NOT NULL
        WHEN 'SETTLEMENT_EXECUTED'     THEN instruction_id IS NOT NULL
        WHEN 'SETTLEMENT_CONFIRMED'    THEN instruction_id IS NOT NULL
        WHEN 'AGENCY_REFUND_CONFIRMED' THEN refund_id IS NOT NULL
        WHEN 'BANK_REFUND_CONFIRMED'   THEN refund_id IS NOT NULL
        WHEN 'UNIDENTIFIED_CREDIT'     THEN bank_posting_id IS NOT NULL
        WHEN 'WRITE_OFF'               THEN discrepancy_id IS NOT NULL
        WHEN 'MISMATCH_SURPLUS'        THEN discrepancy_id IS NOT NULL
        WHEN 'MISMATCH_DEFICIT'        THEN discrepancy_id IS NOT NULL
        ELSE false
      END);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
