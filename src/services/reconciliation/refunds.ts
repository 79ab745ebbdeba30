import type { Knex } from 'knex';
import { refundLineTally, upsertRefundLineDiscrepancies, type StepParams, type Tally } from '../../db/repositories/reconciliation';

/**
 * The run's REFUND step (docs/reconciliation.md §2, contracts/decisions/0106-refund-lines-step.md),
 * kept apart from the PAY lines so the refund issue completes it here alone. A REFUND line matches
 * an agency-executed refund instruction of the agency with that number and amount, and confirms
 * it. Refund instructions do not exist yet, so today no line can match: every REFUND line is a
 * `REFUND_MISMATCH` discrepancy, OPEN (a rerun updates it), and counts under REFUND_MISMATCH.
 */
export async function reconcileRefundLines(trx: Knex.Transaction, params: StepParams): Promise<{ REFUND_MISMATCH: Tally }> {
  await upsertRefundLineDiscrepancies(trx, params);
  return { REFUND_MISMATCH: await refundLineTally(trx, params) };
}
