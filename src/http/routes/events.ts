import { assert, validationFailed } from '../../domain/errors';
import type { Services } from '../../services';
import { EVENTS_PAGE_LIMIT_DEFAULT } from '../../services/events';
import { PARTY_ROLES } from '../../domain/access';
import type { RouteDefinition } from '../call';

/**
 * `GET /v1/{finance|unit|agency|bank}/events?after=&limit=` (docs/interface.md §6.5): the same
 * operation for every party, each reading only its own events. Kept in one file rather than in
 * each party's, because it is one use case and one contract fragment (60-events.yaml).
 */
export function eventRoutes(services: Services): RouteDefinition[] {
  return PARTY_ROLES.map((role) => ({
    method: 'GET' as const,
    path: `/v1/${role}/events`,
    operationId: `list${role[0]?.toUpperCase() ?? ''}${role.slice(1)}Events`,
    access: role,
    body: 'none' as const,
    async handle(call) {
      assert(call.party !== undefined && call.party.role === role, `GET /v1/${role}/events runs for an authenticated ${role}`);
      const after = typeof call.query.after === 'number' ? call.query.after : 0;
      // The contract bounds it below only; a sequence is a bigint, but never beyond 2^53 here.
      if (!Number.isSafeInteger(after)) throw validationFailed([{ path: '/query/after', problem: `must be at most ${Number.MAX_SAFE_INTEGER}` }]);
      const limit = typeof call.query.limit === 'number' ? call.query.limit : EVENTS_PAGE_LIMIT_DEFAULT;
      return { status: 200, body: await services.events.pull(call.party.partyId, after, limit) };
    },
  }));
}
