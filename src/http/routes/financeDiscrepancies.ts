import { pageRequest } from '../../db/pagination';
import type { Services } from '../../services';
import type { Call, RouteDefinition } from '../call';
import { serializeDiscrepancy, serializeProposal } from '../serializers/discrepancies';

/**
 * Finance's discrepancy endpoints (docs/reconciliation.md §3): the list, one discrepancy, and
 * maker-checker proposals and decisions on it (src/services/proposals.ts). Validated against
 * contracts/openapi/18-finance-discrepancies.yaml.
 */

function param(call: Call, name: string): string {
  const value = call.params[name];
  if (value === undefined) throw new Error(`route has no :${name} parameter`);
  return value;
}

function party(call: Call): NonNullable<Call['party']> {
  if (call.party === undefined) throw new Error('a finance route runs for an authenticated finance party');
  return call.party;
}

export function financeDiscrepancyRoutes(services: Services): RouteDefinition[] {
  const finance = { access: 'finance' as const };
  return [
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/discrepancies',
      operationId: 'listDiscrepancies',
      body: 'none',
      async handle(call) {
        const query = call.query as { status?: string; type?: string; agencyCode?: string };
        const page = await services.discrepancies.list(
          { ...(query.status !== undefined ? { status: query.status } : {}), ...(query.type !== undefined ? { type: query.type } : {}), ...(query.agencyCode !== undefined ? { agencyCode: query.agencyCode } : {}) },
          pageRequest(call.query),
        );
        return { status: 200, body: { data: page.rows.map(serializeDiscrepancy), nextCursor: page.nextCursor } };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/discrepancies/:discrepancyId',
      operationId: 'getDiscrepancy',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeDiscrepancy(await services.discrepancies.get(param(call, 'discrepancyId'))) };
      },
    },
    {
      ...finance,
      method: 'POST',
      path: '/v1/finance/discrepancies/:discrepancyId/proposals',
      operationId: 'proposeDiscrepancyAction',
      body: 'json',
      async handle(call) {
        const body = call.body as { proposalRef: string; action: string; reason: string };
        const outcome = await services.proposals.propose('DISCREPANCY', param(call, 'discrepancyId'), { proposalRef: body.proposalRef, action: body.action, reason: body.reason }, party(call));
        return { status: 201, body: serializeProposal(outcome.proposal), ...(outcome.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      ...finance,
      method: 'POST',
      path: '/v1/finance/discrepancies/:discrepancyId/proposals/:proposalId/decision',
      operationId: 'decideDiscrepancyProposal',
      body: 'json',
      async handle(call) {
        const body = call.body as { approve: boolean; comment?: string | null };
        const outcome = await services.proposals.decide('DISCREPANCY', param(call, 'discrepancyId'), param(call, 'proposalId'), { approve: body.approve, comment: body.comment ?? null }, party(call));
        return { status: 200, body: serializeProposal(outcome.proposal), ...(outcome.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
  ];
}
