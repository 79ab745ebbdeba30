import type { DiscrepancyRow, RunRow } from '../../db/repositories/reconciliation';
import { formatInstant } from '../../domain/businessDate';

/**
 * The wire shapes of reconciliation (contracts/openapi/35-reconciliation-shapes.yaml): `Run` for
 * the views and the `reconciliation.completed` event, `Discrepancy` for every list of them.
 * src/http/serializers/reconciliation.ts exposes them to the routes.
 */

export const OUTCOMES = ['MATCHED', 'OVERAGE', 'SHORTAGE', 'CARRIED_OVER', 'AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH', 'REFUND_MISMATCH'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export function runView(row: RunRow): Record<string, unknown> {
  return {
    runId: row.run_id,
    agencyCode: row.agency_code,
    businessDate: row.business_date,
    statementId: row.statement_public_id,
    fileSeq: row.file_seq,
    status: row.status,
    outcomes: row.outcomes === null ? null : Object.fromEntries(OUTCOMES.map((outcome) => [outcome, row.outcomes?.[outcome] ?? { count: 0, amount: '0.00' }])),
    platformTotal: row.platform_total,
    statementTotal: row.statement_total,
    startedAt: formatInstant(row.started_at),
    finishedAt: row.finished_at === null ? null : formatInstant(row.finished_at),
  };
}

export function discrepancyView(row: DiscrepancyRow): Record<string, unknown> {
  return {
    discrepancyId: row.discrepancy_id,
    agencyCode: row.agency_code,
    businessDate: row.business_date,
    type: row.type,
    status: row.status,
    agencyTxnId: row.agency_txn_id,
    paymentId: row.payment_public_id,
    instructionNo: row.instruction_no,
    platform: row.platform_amount === null ? null : { payCode: row.platform_pay_code, amount: row.platform_amount },
    statement:
      row.statement_public_id === null || row.statement_amount === null
        ? null
        : { statementId: row.statement_public_id, lineNo: row.statement_line_no, payCode: row.statement_pay_code, amount: row.statement_amount },
    proposal:
      row.proposal_id === null
        ? null
        : {
            proposalId: row.proposal_id,
            proposalRef: row.proposal_ref,
            action: row.proposal_action,
            reason: row.proposal_reason,
            proposedBy: row.proposed_by,
            status: row.proposal_status,
            decidedBy: row.decided_by,
            comment: row.proposal_comment,
            createdAt: row.proposal_created_at === null ? undefined : formatInstant(row.proposal_created_at),
            decidedAt: row.proposal_decided_at === null ? null : formatInstant(row.proposal_decided_at),
          },
    resolution: resolutionOf(row),
  };
}

/** RESOLVED: the action and the approved proposal's parties; an OVERAGE AUTO_RESOLVED is its backfill; else none. */
function resolutionOf(row: DiscrepancyRow): Record<string, unknown> | null {
  if (row.resolved_at === null) return null;
  if (row.status === 'RESOLVED' && row.resolution_action !== null) {
    const approved = row.proposal_status === 'APPROVED';
    return { action: row.resolution_action, proposedBy: approved ? row.proposed_by : null, approvedBy: approved ? row.decided_by : null, at: formatInstant(row.resolved_at) };
  }
  if (row.status === 'AUTO_RESOLVED' && row.type === 'OVERAGE') return { action: 'BACKFILL', proposedBy: null, approvedBy: null, at: formatInstant(row.resolved_at) };
  return null;
}
