import { pageRequest } from '../../db/pagination';
import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { RequestRefundInput } from '../../services/refunds';
import type { Call, RouteDefinition } from '../call';
import { proposalRoutes } from './financeSettlementProposals';

/**
 * Refunds (docs/settlement.md §3): the unit requests and reads its own; finance lists, decides,
 * and supplies a missing payee through the maker-checker engine (SET_PAYEE). Validated against
 * contracts/openapi/21-refunds.yaml; each handler calls one use case.
 */

function param(call: Call, name: string): string {
  const value = call.params[name];
  assert(value !== undefined, `the route has a :${name} parameter`);
  return value;
}

function party(call: Call): NonNullable<Call['party']> {
  assert(call.party !== undefined, 'a refund route runs for an authenticated party');
  return call.party;
}

export function refundRoutes(services: Services): RouteDefinition[] {
  const { refunds } = services;
  return [
    {
      access: 'unit',
      method: 'POST',
      path: '/v1/unit/refunds',
      operationId: 'requestRefund',
      body: 'json',
      async handle(call) {
        const outcome = await refunds.request(party(call), call.body as RequestRefundInput);
        return { status: 201, body: outcome.refund, ...(outcome.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      access: 'unit',
      method: 'GET',
      path: '/v1/unit/refunds/:refundNo',
      operationId: 'getUnitRefund',
      body: 'none',
      async handle(call) {
        return { status: 200, body: await refunds.getForUnit(party(call), param(call, 'refundNo')) };
      },
    },
    {
      access: 'finance',
      method: 'GET',
      path: '/v1/finance/refunds',
      operationId: 'listFinanceRefunds',
      body: 'none',
      async handle(call) {
        const query = call.query as { status?: string; limit?: number; cursor?: string };
        return { status: 200, body: await refunds.list({ ...(query.status === undefined ? {} : { status: query.status }) }, pageRequest(query)) };
      },
    },
    {
      access: 'finance',
      method: 'POST',
      path: '/v1/finance/refunds/:refundId/decision',
      operationId: 'decideRefund',
      body: 'json',
      async handle(call) {
        const body = call.body as { approve: boolean; comment?: string | null };
        const outcome = await refunds.decide(party(call), param(call, 'refundId'), { approve: body.approve, comment: body.comment ?? null });
        return { status: 200, body: outcome.refund, ...(outcome.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    ...proposalRoutes(services, 'REFUND', '/v1/finance/refunds', 'refundId', 'Refund'),
  ];
}
