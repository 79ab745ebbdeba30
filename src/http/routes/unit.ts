import { pageRequest } from '../../db/pagination';
import { assert } from '../../domain/errors';
import type { NoticeStatus } from '../../domain/stateMachines';
import type { Services } from '../../services';
import type { CreateNoticeInput, UnitCaller } from '../../services/notices';
import type { Call, RouteDefinition } from '../call';

/**
 * The unit's endpoints (docs/interface.md §6.2): issue, read, list and void its own notices. The
 * pipeline has checked the signature (a unit only) and validated the input against
 * contracts/openapi/20-unit.yaml; each handler calls one use case.
 */

function caller(call: Call): UnitCaller {
  assert(call.party !== undefined && call.party.role === 'unit', 'a unit route runs for an authenticated unit');
  return { partyId: call.party.partyId };
}

function payCodeOf(call: Call): string {
  const value = call.params.payCode;
  assert(value !== undefined, 'the route has a :payCode parameter');
  return value;
}

interface ListQuery {
  bizRef?: string;
  status?: NoticeStatus;
  createdFrom?: string;
  createdTo?: string;
  limit?: number;
  cursor?: string;
}

export function unitRoutes(services: Services): RouteDefinition[] {
  const { notices } = services;
  const unit = { access: 'unit' as const };
  return [
    {
      ...unit,
      method: 'POST',
      path: '/v1/unit/notices',
      operationId: 'createNotice',
      body: 'json',
      // Allocating the pay code's serial stores the nonce too (decision 0009).
      storesNonce: true,
      async handle(call) {
        const created = await notices.createNotice(caller(call), call.body as CreateNoticeInput, call.nonce);
        return { status: 201, body: created.notice, ...(created.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      ...unit,
      method: 'GET',
      path: '/v1/unit/notices',
      operationId: 'listNotices',
      body: 'none',
      async handle(call) {
        const query = call.query as ListQuery;
        const page = await notices.listNotices(caller(call), { bizRef: query.bizRef, status: query.status, createdFrom: query.createdFrom, createdTo: query.createdTo }, pageRequest(query));
        return { status: 200, body: page };
      },
    },
    {
      ...unit,
      method: 'GET',
      path: '/v1/unit/notices/:payCode',
      operationId: 'getNotice',
      body: 'none',
      async handle(call) {
        return { status: 200, body: await notices.getNotice(caller(call), payCodeOf(call)) };
      },
    },
    {
      ...unit,
      method: 'POST',
      path: '/v1/unit/notices/:payCode/void',
      operationId: 'voidNotice',
      body: 'json',
      async handle(call) {
        const { reason } = call.body as { reason: string };
        return { status: 200, body: await notices.voidNotice(caller(call), payCodeOf(call), reason) };
      },
    },
  ];
}
