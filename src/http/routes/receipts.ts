import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { Call, RouteDefinition } from '../call';
import { serializeReceipt, serializeVerifiedReceipt } from '../serializers/receipt';

/**
 * The receipt endpoints (docs/lifecycle.md §6): the unit's `GET /v1/unit/receipts/{payCode}` (signed)
 * and the public `GET /v1/public/receipts/{receiptNo}?checkCode=` (unsigned, rate-limited). They
 * live together here, apart from unit.ts and public.ts, because both answer the same receipt from
 * the same service; the access rule of each route is what its party prefix says.
 */
function param(call: Call, name: string): string {
  const value = call.params[name];
  assert(value !== undefined, `the route has a :${name} parameter`);
  return value;
}

export function receiptRoutes(services: Services): RouteDefinition[] {
  const { receipts } = services;
  return [
    {
      access: 'unit',
      method: 'GET',
      path: '/v1/unit/receipts/:payCode',
      operationId: 'getUnitReceipt',
      body: 'none',
      async handle(call) {
        assert(call.party !== undefined && call.party.role === 'unit', 'a unit route runs for an authenticated unit');
        return { status: 200, body: serializeReceipt(await receipts.getUnitReceipt({ partyId: call.party.partyId }, param(call, 'payCode'))) };
      },
    },
    {
      access: 'public',
      method: 'GET',
      path: '/v1/public/receipts/:receiptNo',
      operationId: 'verifyPublicReceipt',
      body: 'none',
      async handle(call) {
        const checkCode = call.query.checkCode;
        assert(typeof checkCode === 'string', 'the contract requires checkCode');
        // The receipt names its payer in full: no browser or proxy keeps it (decision 0207).
        return { status: 200, body: serializeVerifiedReceipt(await receipts.getPublicReceipt(param(call, 'receiptNo'), checkCode, call.clientAddress)), headers: { 'Cache-Control': 'no-store' } };
      },
    },
  ];
}
