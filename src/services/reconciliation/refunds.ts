import type { Knex } from 'knex';
import { matchedRefundLines, provenObligations, upsertRefundMismatches } from '../../db/repositories/refundLines';
import type { StepParams, Tally } from '../../db/repositories/reconciliation';
import { statusesFrom } from '../../domain/instructions';
import { confirmAgencyRefundByStatementLine } from '../instructions';
import { instructRefund } from '../refunds';

/**
 * The run's REFUND step (docs/reconciliation.md §2, contracts/decisions/0106-refund-lines-step.md,
 * 0154-refund-lines-matched.md), apart from the PAY lines. A REFUND line matches an
 * agency-executed refund instruction of the agency with that number and amount, and confirms it
 * in the run's transaction — the refund succeeds there (src/services/refunds.ts). The rest are
 * `REFUND_MISMATCH` discrepancies, OPEN: lines that match nothing, and instructions the agency
 * reported executed before the run's date that no statement contained. A matched line counts
 * under no outcome (MATCHED is the PAY lines'); the mismatches count under REFUND_MISMATCH.
 *
 * The same transaction instructs the refund obligations of the agency's unapplied money that a
 * statement has now proven captured and whose payee is known: the agency pays them back
 * (contracts/decisions/0151-refund-executor.md).
 */
export async function reconcileRefundLines(trx: Knex.Transaction, params: StepParams): Promise<{ REFUND_MISMATCH: Tally }> {
  const matched = await matchedRefundLines(trx, params, statusesFrom('confirmByPosting'));
  for (const line of matched) {
    if (line.confirmable) await confirmAgencyRefundByStatementLine(trx, { instructionRowId: line.instruction_id, at: params.now });
  }
  for (const refundRowId of await provenObligations(trx, params)) await instructRefund(trx, { refundRowId, at: params.now });
  const keys = [...matched.map((line) => line.agency_txn_id), ...matched.map((line) => line.instruction_no)];
  return { REFUND_MISMATCH: await upsertRefundMismatches(trx, params, { lineNos: matched.map((line) => line.line_no), keys }) };
}
