import { validationFailed } from '../../domain/errors';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/** Closes one list answers at most, and by default. */
export const CLOSES_LIMIT_MAX = 366;
export const CLOSES_LIMIT_DEFAULT = 31;

/**
 * The daily closes (日结, docs/settlement.md §5) for finance: `GET /v1/finance/closes?from=&to=&limit=`
 * in date order, and `GET /v1/finance/closes/{businessDate}` → `{close, closeHash, signature,
 * keyId}`. Validated against contracts/openapi/13-finance-closes.yaml.
 */
export function financeCloseRoutes(services: Services): RouteDefinition[] {
  return [
    {
      method: 'GET',
      path: '/v1/finance/closes',
      operationId: 'listCloses',
      access: 'finance',
      body: 'none',
      async handle(call) {
        const from = typeof call.query.from === 'string' ? call.query.from : undefined;
        const to = typeof call.query.to === 'string' ? call.query.to : undefined;
        // As the revenue report answers the same mistake: an empty list would read as "no closes".
        if (from !== undefined && to !== undefined && from > to) throw validationFailed([{ path: '/query/from', problem: `must not be after to (${to})` }]);
        const limit = typeof call.query.limit === 'number' ? call.query.limit : CLOSES_LIMIT_DEFAULT;
        const data = await services.dailyCloses.list({ ...(from ? { from } : {}), ...(to ? { to } : {}), limit });
        return { status: 200, body: { data } };
      },
    },
    {
      method: 'GET',
      path: '/v1/finance/closes/:businessDate',
      operationId: 'getClose',
      access: 'finance',
      body: 'none',
      async handle(call) {
        return { status: 200, body: await services.dailyCloses.find(String(call.params.businessDate)) };
      },
    },
  ];
}
