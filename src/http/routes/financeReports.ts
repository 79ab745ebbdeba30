import { parseRevenueReportQuery } from '../../domain/revenueReport';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/**
 * Reports for finance (docs/settlement.md §4): `GET /v1/finance/reports/revenue?from=&to=&groupBy=&format=json|csv`
 * → `{data: rows}`, or the same rows as CSV (UTF-8 with a BOM, a header row). Validated against
 * contracts/openapi/11-finance-reports.yaml.
 */
export function financeReportRoutes(services: Services): RouteDefinition[] {
  return [
    {
      method: 'GET',
      path: '/v1/finance/reports/revenue',
      operationId: 'getRevenueReport',
      access: 'finance',
      body: 'none',
      async handle(call) {
        const query = parseRevenueReportQuery(call.query);
        if (query.format === 'csv') {
          const csv = await services.revenueReports.csv(query);
          return {
            status: 200,
            headers: { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="revenue-${query.from}-${query.to}.csv"` },
            body: Buffer.from(csv, 'utf8'),
          };
        }
        return { status: 200, body: { data: await services.revenueReports.rows(query) } };
      },
    },
  ];
}
