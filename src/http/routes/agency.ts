import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/**
 * The agency's endpoints (docs/interface.md §6.3). Verification: an agency looks a notice up by its
 * payCode before it takes the payer's money. The pipeline has refused a code failing its check
 * digits (PAY_CODE_INVALID) before the handler runs, so no lookup is made for it.
 */
export function agencyRoutes(services: Services): RouteDefinition[] {
  const { notices } = services;
  return [
    {
      access: 'agency',
      method: 'GET',
      path: '/v1/agency/notices/:payCode',
      operationId: 'verifyNotice',
      body: 'none',
      // The notice's read stores the nonce: one round trip per verification (decision 0009).
      storesNonce: true,
      async handle(call) {
        const payCode = call.params.payCode;
        assert(payCode !== undefined, 'the route has a :payCode parameter');
        const payerName = typeof call.query.payerName === 'string' ? call.query.payerName : undefined;
        return { status: 200, body: await notices.verifyNotice(payCode, payerName, call.nonce) };
      },
    },
  ];
}
