import type { DiscrepancyView } from '../../services/discrepancies';
import type { ProposalView } from '../../services/proposals';

/**
 * `Proposal` and `Discrepancy` (contracts/openapi/35-reconciliation-shapes.yaml) on the wire. The
 * action's own fields are not part of a discrepancy's proposal (it has none).
 */
export function serializeProposal(proposal: ProposalView): Record<string, unknown> {
  const { fields: _fields, ...wire } = proposal;
  return wire;
}

export function serializeDiscrepancy(discrepancy: DiscrepancyView): Record<string, unknown> {
  return { ...discrepancy, proposal: discrepancy.proposal === null ? null : serializeProposal(discrepancy.proposal) };
}
