import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/**
 * Unsigned endpoints for payers (docs/interface.md §6). A notice lookup needs the payer's name and is
 * rate-limited per client address and per payCode; the request log records the path only, never
 * the query, so the name does not reach the logs.
 */
export function publicRoutes(services: Services): RouteDefinition[] {
  const { notices } = services;
  return [
    {
      access: 'public',
      method: 'GET',
      path: '/v1/public/notices/:payCode',
      operationId: 'lookupPublicNotice',
      body: 'none',
      async handle(call) {
        const payCode = call.params.payCode;
        assert(payCode !== undefined, 'the route has a :payCode parameter');
        const payerName = typeof call.query.payerName === 'string' ? call.query.payerName : undefined;
        // The answer is one payer's notice: no browser or proxy keeps it (decision 0207).
        return { status: 200, body: await notices.lookupPublicNotice(payCode, payerName, call.clientAddress), headers: { 'Cache-Control': 'no-store' } };
      },
    },
  ];
}
