import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/**
 * Reconciliation's views (docs/reconciliation.md §2–§3): the agency's own run of a date, and
 * finance's list of runs. Validated against contracts/openapi/33-agency-reconciliations.yaml and
 * 17-finance-reconciliations.yaml.
 */
export function reconciliationRoutes(services: Services): RouteDefinition[] {
  const { reconciliation } = services;
  return [
    {
      access: 'agency',
      method: 'GET',
      path: '/v1/agency/reconciliations/:businessDate',
      operationId: 'getAgencyReconciliation',
      body: 'none',
      async handle(call) {
        const businessDate = call.params.businessDate;
        assert(businessDate !== undefined && call.party !== undefined, 'a signed agency asks for a :businessDate');
        return { status: 200, body: await reconciliation.agencyReconciliation(call.party.partyId, businessDate) };
      },
    },
    {
      access: 'finance',
      method: 'GET',
      path: '/v1/finance/reconciliations',
      operationId: 'listReconciliationRuns',
      body: 'none',
      async handle(call) {
        const businessDate = typeof call.query.businessDate === 'string' ? call.query.businessDate : undefined;
        const agencyCode = typeof call.query.agencyCode === 'string' ? call.query.agencyCode : undefined;
        return { status: 200, body: await reconciliation.financeRuns({ ...(businessDate ? { businessDate } : {}), ...(agencyCode ? { agencyCode } : {}) }) };
      },
    },
  ];
}
