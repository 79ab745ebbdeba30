import type { Services } from '../../services';
import type { RouteDefinition } from '../call';
import type { StreamedRouteDefinition } from '../streamedBody';
import { agencyRoutes } from './agency';
import { agencyPaymentRoutes } from './agencyPayments';
import { bankRoutes } from './bank';
import { eventRoutes } from './events';
import { financeAuditRoutes } from './financeAudit';
import { financeRoutes } from './finance';
import { financeDeliveryRoutes } from './financeDeliveries';
import { platformRoutes } from './platform';
import { publicRoutes } from './public';
import { receiptRoutes } from './receipts';
import { unitRoutes } from './unit';

/** Every route, from the file named after its party. */
export function buildRoutes(services: Services): Array<RouteDefinition | StreamedRouteDefinition> {
  return [...platformRoutes(services), ...financeRoutes(services), ...unitRoutes(services), ...agencyRoutes(services), ...agencyPaymentRoutes(services), ...publicRoutes(services), ...receiptRoutes(services), ...eventRoutes(services), ...financeDeliveryRoutes(services), ...financeAuditRoutes(services), ...bankRoutes(services)];
}
