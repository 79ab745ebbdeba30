import type { Services } from '../../services';
import type { RouteDefinition } from '../call';

/** The platform's own, unsigned endpoints (docs/interface.md §6). */
export function platformRoutes(services: Services): RouteDefinition[] {
  return [
    {
      method: 'GET',
      path: '/v1/platform/keys',
      operationId: 'listPlatformKeys',
      access: 'public',
      body: 'none',
      // Parties fetch these keys to verify callbacks, receipts and daily closes (docs/interface.md §2).
      async handle() {
        return { status: 200, body: { keys: await services.platformKeys.listKeys() } };
      },
    },
  ];
}
