/**
 * Maker-checker (docs/settlement.md §2, docs/reconciliation.md §3): one finance party proposes an
 * action on a target, a different one decides. This module holds the pure tables — the proposal's
 * own state machine, and for each target kind which actions apply to a target in which state —
 * so that the engine (src/services/proposals.ts) and the handlers that execute the actions read
 * the same rules. See contracts/decisions/0115-maker-checker-engine.md.
 */
import { TongfuError } from './errors';

export const PROPOSAL_STATUSES = ['PENDING', 'APPROVED', 'REJECTED'] as const;
export type ProposalStatus = (typeof PROPOSAL_STATUSES)[number];

export const PROPOSAL_DECISIONS = ['approve', 'reject'] as const;
export type ProposalDecision = (typeof PROPOSAL_DECISIONS)[number];

/** The proposal's state machine: a pending proposal is decided once, either way; nothing else moves. */
export const PROPOSAL_MACHINE: ReadonlyArray<{ from: ProposalStatus; event: ProposalDecision; to: ProposalStatus }> = [
  { from: 'PENDING', event: 'approve', to: 'APPROVED' },
  { from: 'PENDING', event: 'reject', to: 'REJECTED' },
];

/** The status a decision moves a proposal to, or INVALID_STATE_TRANSITION. */
export function decideTransition(from: ProposalStatus, event: ProposalDecision): ProposalStatus {
  const row = PROPOSAL_MACHINE.find((candidate) => candidate.from === from && candidate.event === event);
  if (row === undefined) {
    throw new TongfuError('INVALID_STATE_TRANSITION', `a proposal in status ${from} cannot be decided again`, { machine: 'proposal', from, event });
  }
  return row.to;
}

/** The status a decision leads to, whatever the proposal's status now: to tell a replay from a change of mind. */
export function decisionOutcome(event: ProposalDecision): ProposalStatus {
  return event === 'approve' ? 'APPROVED' : 'REJECTED';
}

/** Every target kind the proposals table knows (migration 20261202000100). */
export const PROPOSAL_TARGET_KINDS = ['DISCREPANCY', 'UNIDENTIFIED', 'INSTRUCTION', 'REFUND'] as const;
export type ProposalTargetKind = (typeof PROPOSAL_TARGET_KINDS)[number];

/** Every action any target kind has (the contract's Proposal.action enum). */
export const PROPOSAL_ACTIONS = ['REVERSE_PAYMENT', 'ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF', 'LINK', 'RETURN', 'REISSUE', 'SET_PAYEE', 'DETACH'] as const;
export type ProposalAction = (typeof PROPOSAL_ACTIONS)[number];

export function isProposalAction(value: unknown): value is ProposalAction {
  return typeof value === 'string' && (PROPOSAL_ACTIONS as readonly string[]).includes(value);
}

// ---- discrepancies (docs/reconciliation.md §3) ------------------------------------------------

export const DISCREPANCY_TYPES = ['OVERAGE', 'SHORTAGE', 'AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH', 'REFUND_MISMATCH'] as const;
export type DiscrepancyType = (typeof DISCREPANCY_TYPES)[number];

export const DISCREPANCY_STATUSES = ['CARRIED_OVER', 'OPEN', 'AUTO_RESOLVED', 'RESOLVED', 'SUPERSEDED'] as const;
export type DiscrepancyStatus = (typeof DISCREPANCY_STATUSES)[number];

export type DiscrepancyAction = Extract<ProposalAction, 'REVERSE_PAYMENT' | 'ACCEPT_PLATFORM' | 'ACCEPT_STATEMENT' | 'WRITE_OFF'>;

/**
 * Which actions resolve which type of discrepancy (docs/reconciliation.md §3's table). An
 * `OVERAGE` is backfilled and resolved by the run itself; `WRITE_OFF` of "any" type therefore
 * means any type finance is given to resolve.
 */
export const DISCREPANCY_ACTIONS: Readonly<Record<DiscrepancyType, readonly DiscrepancyAction[]>> = {
  OVERAGE: [],
  SHORTAGE: ['REVERSE_PAYMENT', 'ACCEPT_PLATFORM', 'WRITE_OFF'],
  AMOUNT_MISMATCH: ['ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF'],
  PAY_CODE_MISMATCH: ['ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF'],
  REFUND_MISMATCH: ['ACCEPT_STATEMENT', 'WRITE_OFF'],
};

/**
 * The discrepancy statuses finance resolves: `OPEN` only. A `CARRIED_OVER` shortage still waits
 * for the next day's statement (it may simply be a late line), and the others are settled
 * (contracts/decisions/0117-discrepancy-actions.md).
 */
export const RESOLVABLE_DISCREPANCY_STATUSES: readonly DiscrepancyStatus[] = ['OPEN'];

/** The move an approved action makes: an `OPEN` discrepancy becomes `RESOLVED`, with the action. */
export const DISCREPANCY_RESOLUTION: { from: DiscrepancyStatus; to: DiscrepancyStatus } = { from: 'OPEN', to: 'RESOLVED' };

/** Null when `action` applies to a discrepancy of this type and status, else why not. */
export function discrepancyActionRefusal(type: DiscrepancyType, status: DiscrepancyStatus, action: string): string | null {
  if (!RESOLVABLE_DISCREPANCY_STATUSES.includes(status)) return `a discrepancy that is ${status} is not resolved by finance`;
  if (!(DISCREPANCY_ACTIONS[type] as readonly string[]).includes(action)) return `${action} does not resolve a discrepancy of type ${type}`;
  return null;
}

/** ACTION_NOT_APPLICABLE with the pair it refuses. */
export function actionNotApplicable(message: string, details: Record<string, unknown>): TongfuError {
  return new TongfuError('ACTION_NOT_APPLICABLE', message, details);
}
