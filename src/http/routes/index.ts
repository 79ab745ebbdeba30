import type { Services } from '../../services';
import type { RouteDefinition } from '../call';
import { agencyRoutes } from './agency';
import { agencyPaymentRoutes } from './agencyPayments';
import { eventRoutes } from './events';
import { financeAuditRoutes } from './financeAudit';
import { financeRoutes } from './finance';
import { financeDeliveryRoutes } from './financeDeliveries';
import { instructionRoutes } from './instructions';
import { platformRoutes } from './platform';
import { publicRoutes } from './public';
import { receiptRoutes } from './receipts';
import { unitRoutes } from './unit';

/** Every route, from the file named after its party. */
export function buildRoutes(services: Services): RouteDefinition[] {
  return [...platformRoutes(services), ...financeRoutes(services), ...unitRoutes(services), ...agencyRoutes(services), ...agencyPaymentRoutes(services), ...publicRoutes(services), ...receiptRoutes(services), ...eventRoutes(services), ...financeDeliveryRoutes(services), ...financeAuditRoutes(services), ...instructionRoutes(services)];
}
