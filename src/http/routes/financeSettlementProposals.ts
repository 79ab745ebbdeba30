import type { Services } from '../../services';
import type { ProposalTargetKind } from '../../domain/proposals';
import type { Call, RouteDefinition } from '../call';
import { serializeProposal } from '../serializers/discrepancies';

/**
 * Finance's maker-checker on settlement (docs/settlement.md §1–§2): REISSUE of a FAILED
 * instruction, LINK or RETURN of an unidentified credit — proposals and decisions through the one
 * engine (src/services/proposals.ts; handlers in src/services/settlementProposals.ts). Validated
 * against contracts/openapi/12-finance-settlement-proposals.yaml.
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

export function proposalRoutes(services: Services, kind: ProposalTargetKind, base: string, idName: string, operation: string): RouteDefinition[] {
  const finance = { access: 'finance' as const };
  return [
    {
      ...finance,
      method: 'POST',
      path: `${base}/:${idName}/proposals`,
      operationId: `propose${operation}Action`,
      body: 'json',
      async handle(call) {
        const { proposalRef, action, reason, ...fields } = call.body as { proposalRef: string; action: string; reason: string } & Record<string, unknown>;
        const outcome = await services.proposals.propose(kind, param(call, idName), { proposalRef, action, reason, fields }, party(call));
        return { status: 201, body: serializeProposal(outcome.proposal), ...(outcome.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      ...finance,
      method: 'POST',
      path: `${base}/:${idName}/proposals/:proposalId/decision`,
      operationId: `decide${operation}Proposal`,
      body: 'json',
      async handle(call) {
        const body = call.body as { approve: boolean; comment?: string | null };
        const outcome = await services.proposals.decide(kind, param(call, idName), param(call, 'proposalId'), { approve: body.approve, comment: body.comment ?? null }, party(call));
        return { status: 200, body: serializeProposal(outcome.proposal), ...(outcome.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
  ];
}

export function financeSettlementProposalRoutes(services: Services): RouteDefinition[] {
  return [
    ...proposalRoutes(services, 'INSTRUCTION', '/v1/finance/instructions', 'instructionNo', 'Instruction'),
    ...proposalRoutes(services, 'UNIDENTIFIED', '/v1/finance/unidentified', 'postingId', 'Unidentified'),
  ];
}
