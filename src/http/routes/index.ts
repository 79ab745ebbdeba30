import type { Services } from '../../services';
import type { RouteDefinition } from '../call';
import type { StreamedRouteDefinition } from '../streamedBody';
import { agencyRoutes } from './agency';
import { agencyPaymentRoutes } from './agencyPayments';
import { agencyStatementRoutes } from './agencyStatements';
import { bankRoutes } from './bank';
import { eventRoutes } from './events';
import { financeAuditRoutes } from './financeAudit';
import { financeCloseRoutes } from './financeCloses';
import { financeRoutes } from './finance';
import { financeDeliveryRoutes } from './financeDeliveries';
import { financeDiscrepancyRoutes } from './financeDiscrepancies';
import { financeReportRoutes } from './financeReports';
import { financeSettlementProposalRoutes } from './financeSettlementProposals';
import { instructionRoutes } from './instructions';
import { platformRoutes } from './platform';
import { publicRoutes } from './public';
import { receiptRoutes } from './receipts';
import { reconciliationRoutes } from './reconciliations';
import { refundRoutes } from './refunds';
import { unitRoutes } from './unit';

/** Every route, from the file named after its party. */
export function buildRoutes(services: Services): Array<RouteDefinition | StreamedRouteDefinition> {
  return [...platformRoutes(services), ...financeRoutes(services), ...unitRoutes(services), ...agencyRoutes(services), ...agencyPaymentRoutes(services), ...agencyStatementRoutes(services), ...publicRoutes(services), ...receiptRoutes(services), ...eventRoutes(services), ...financeDeliveryRoutes(services), ...financeAuditRoutes(services), ...financeDiscrepancyRoutes(services), ...financeCloseRoutes(services), ...reconciliationRoutes(services), ...instructionRoutes(services), ...bankRoutes(services), ...financeSettlementProposalRoutes(services), ...financeReportRoutes(services), ...refundRoutes(services)];
}
