import type { DiscrepancyView } from '../../services/discrepancies';
import type { ProposalView } from '../../services/proposals';

/**
 * `Proposal` and `Discrepancy` (contracts/openapi/35-reconciliation-shapes.yaml) on the wire. The
 * action's own fields are not part of a discrepancy's proposal (it has none).
 */
export function serializeProposal(proposal: ProposalView): Record<string, unknown> {
  // The stored fields stay in (some encrypted); what the handler shows of them (a masked payee) goes out.
  const { fields: _fields, shown, ...wire } = proposal;
  return { ...wire, ...(shown ?? {}) };
}

export function serializeDiscrepancy(discrepancy: DiscrepancyView): Record<string, unknown> {
  return { ...discrepancy, proposal: discrepancy.proposal === null ? null : serializeProposal(discrepancy.proposal) };
}
