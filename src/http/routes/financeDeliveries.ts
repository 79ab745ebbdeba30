import { pageRequest } from '../../db/pagination';
import type { DeliveryStatus } from '../../domain/callbacks';
import { assert } from '../../domain/errors';
import type { Services } from '../../services';
import type { RouteDefinition } from '../call';
import { serializeDelivery } from '../serializers/events';

/**
 * Finance's view of callbacks (docs/interface.md §6.1, docs/lifecycle.md §5): the deliveries with their
 * attempts, and redelivery of any event. Validated against
 * contracts/openapi/15-finance-deliveries.yaml.
 */
export function financeDeliveryRoutes(services: Services): RouteDefinition[] {
  return [
    {
      method: 'GET',
      path: '/v1/finance/deliveries',
      operationId: 'listDeliveries',
      access: 'finance',
      body: 'none',
      async handle(call) {
        const query = call.query as { status?: DeliveryStatus; recipient?: string };
        const page = await services.events.listDeliveries({ status: query.status, recipientAppId: query.recipient }, pageRequest(call.query));
        return { status: 200, body: { data: page.data.map(serializeDelivery), nextCursor: page.nextCursor } };
      },
    },
    {
      method: 'POST',
      path: '/v1/finance/events/:eventId/redeliver',
      operationId: 'redeliverEvent',
      access: 'finance',
      body: 'none',
      async handle(call) {
        const eventId = call.params.eventId;
        assert(eventId !== undefined && call.party !== undefined, 'the route has :eventId and a finance caller');
        const result = await services.events.redeliver(eventId, call.party.appId);
        return { status: 202, body: { eventId: result.eventId, status: result.status } };
      },
    },
  ];
}
