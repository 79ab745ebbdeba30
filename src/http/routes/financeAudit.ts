import { validationFailed } from '../../domain/errors';
import type { Services } from '../../services';
import { AUDIT_PAGE_LIMIT_DEFAULT } from '../../services/audit';
import type { RouteDefinition } from '../call';

/**
 * `GET /v1/finance/audit?after=&limit=` (docs/audit.md): the finance audit log in seq order, in
 * the style of the events pull (docs/interface.md §6.5). Validated against
 * contracts/openapi/16-finance-audit.yaml.
 */
export function financeAuditRoutes(services: Services): RouteDefinition[] {
  return [
    {
      method: 'GET',
      path: '/v1/finance/audit',
      operationId: 'listAuditRecords',
      access: 'finance',
      body: 'none',
      async handle(call) {
        const after = typeof call.query.after === 'number' ? call.query.after : 0;
        // The contract bounds it below only; a seq is a bigint, but never beyond 2^53 here.
        if (!Number.isSafeInteger(after)) throw validationFailed([{ path: '/query/after', problem: `must be at most ${Number.MAX_SAFE_INTEGER}` }]);
        const limit = typeof call.query.limit === 'number' ? call.query.limit : AUDIT_PAGE_LIMIT_DEFAULT;
        return { status: 200, body: await services.audit.page(after, limit) };
      },
    },
  ];
}
