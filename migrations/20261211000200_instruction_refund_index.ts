import type { Knex } from 'knex';

/**
 * A refund's instructions, by index (contracts/decisions/0216-resolved-discrepancies-by-index.md).
 *
 * Every read of a refund names its newest instruction (src/db/repositories/refunds.ts, COLUMNS),
 * and the refund's use cases lock its instructions (a reissue, an executor's report, a reversal):
 * all by `instructions.refund_id`, which had no index. Each such read scanned every instruction
 * ever written, and a finance list of 100 refunds scanned them 100 times. Settlement instructions
 * have no refund and are left out of the index; refund instructions are written one per refund
 * sent to a bank or agency, so the index stays small.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX instructions_refund ON instructions (refund_id, id) WHERE refund_id IS NOT NULL`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
