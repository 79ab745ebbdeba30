import { pageRequest } from '../../db/pagination';
import type { PartyRole } from '../../domain/access';
import type { Services } from '../../services';
import type { PutAccountInput, PutItemInput, PutRegionInput, PutSharingRuleInput, PutUnitItemsInput, Upserted } from '../../services/catalogue';
import type { RegisterPartyInput, UpdatePartyInput } from '../../services/parties';
import type { Call, Reply, RouteDefinition } from '../call';
import { serializeAccount, serializeItem, serializeRegion, serializeSharingRule, serializeUnitItems } from '../serializers/catalogue';
import { serializeKeyRegistration, serializeParty, serializePartyKey } from '../serializers/party';

/**
 * The finance department's endpoints (docs/interface.md §6.1): the catalogue, parties and their keys,
 * and unit item authorisations. Each route is thin: the pipeline has checked the signature (a
 * finance party only) and validated the input against contracts/openapi/10-finance.yaml; the
 * handler calls one use case and serialises its result.
 */

/** A PUT upsert answers 201 when it created the resource and 200 otherwise (docs/interface.md §4). */
function upserted<T>(result: Upserted<T>, serialize: (resource: T) => Record<string, unknown>): Reply {
  return { status: result.created ? 201 : 200, body: serialize(result.resource) };
}

function param(call: Call, name: string): string {
  const value = call.params[name];
  if (value === undefined) throw new Error(`route has no :${name} parameter`);
  return value;
}

/** The finance party making the change: the audit log's actor (src/services/audit.ts). */
function actor(call: Call): string {
  if (call.party === undefined) throw new Error('a finance route runs for an authenticated finance party');
  return call.party.appId;
}

export function financeRoutes(services: Services): RouteDefinition[] {
  const { catalogue, parties } = services;
  const finance = { access: 'finance' as const };
  return [
    // ---- regions ----
    {
      ...finance,
      method: 'PUT',
      path: '/v1/finance/regions/:regionCode',
      operationId: 'putRegion',
      body: 'json',
      async handle(call) {
        return upserted(await catalogue.putRegion(param(call, 'regionCode'), call.body as PutRegionInput, actor(call)), serializeRegion);
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/regions/:regionCode',
      operationId: 'getRegion',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeRegion(await catalogue.getRegion(param(call, 'regionCode'))) };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/regions',
      operationId: 'listRegions',
      body: 'none',
      async handle(call) {
        const page = await catalogue.listRegions(pageRequest(call.query));
        return { status: 200, body: { data: page.data.map(serializeRegion), nextCursor: page.nextCursor } };
      },
    },

    // ---- accounts ----
    {
      ...finance,
      method: 'PUT',
      path: '/v1/finance/accounts/:accountNo',
      operationId: 'putAccount',
      body: 'json',
      async handle(call) {
        return upserted(await catalogue.putAccount(param(call, 'accountNo'), call.body as PutAccountInput, actor(call)), serializeAccount);
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/accounts/:accountNo',
      operationId: 'getAccount',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeAccount(await catalogue.getAccount(param(call, 'accountNo'))) };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/accounts',
      operationId: 'listAccounts',
      body: 'none',
      async handle(call) {
        const page = await catalogue.listAccounts(pageRequest(call.query));
        return { status: 200, body: { data: page.data.map(serializeAccount), nextCursor: page.nextCursor } };
      },
    },

    // ---- sharing rules ----
    {
      ...finance,
      method: 'PUT',
      path: '/v1/finance/sharing-rules/:ruleCode',
      operationId: 'putSharingRule',
      body: 'json',
      async handle(call) {
        return upserted(await catalogue.putSharingRule(param(call, 'ruleCode'), call.body as PutSharingRuleInput, actor(call)), serializeSharingRule);
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/sharing-rules/:ruleCode',
      operationId: 'getSharingRule',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeSharingRule(await catalogue.getSharingRule(param(call, 'ruleCode'))) };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/sharing-rules',
      operationId: 'listSharingRules',
      body: 'none',
      async handle(call) {
        const page = await catalogue.listSharingRules(pageRequest(call.query));
        return { status: 200, body: { data: page.data.map(serializeSharingRule), nextCursor: page.nextCursor } };
      },
    },

    // ---- items ----
    {
      ...finance,
      method: 'PUT',
      path: '/v1/finance/items/:itemCode',
      operationId: 'putItem',
      body: 'json',
      async handle(call) {
        return upserted(await catalogue.putItem(param(call, 'itemCode'), call.body as PutItemInput, actor(call)), serializeItem);
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/items/:itemCode',
      operationId: 'getItem',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeItem(await catalogue.getItem(param(call, 'itemCode'))) };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/items',
      operationId: 'listItems',
      body: 'none',
      async handle(call) {
        const page = await catalogue.listItems(pageRequest(call.query));
        return { status: 200, body: { data: page.data.map(serializeItem), nextCursor: page.nextCursor } };
      },
    },

    // ---- parties ----
    {
      ...finance,
      method: 'POST',
      path: '/v1/finance/parties',
      operationId: 'registerParty',
      body: 'json',
      async handle(call) {
        const registration = await parties.register(call.body as RegisterPartyInput, actor(call));
        // A replay answers the original status, 201, and says it is a replay (docs/interface.md §4).
        return { status: 201, body: serializeParty(registration.party), headers: registration.replayed ? { 'Idempotent-Replay': 'true' } : undefined };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/parties',
      operationId: 'listParties',
      body: 'none',
      async handle(call) {
        const role = call.query.role as PartyRole | undefined;
        const page = await parties.list(role === undefined ? {} : { role }, pageRequest(call.query));
        return { status: 200, body: { data: page.data.map(serializeParty), nextCursor: page.nextCursor } };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/parties/:appId',
      operationId: 'getParty',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeParty(await parties.get(param(call, 'appId'))) };
      },
    },
    {
      ...finance,
      method: 'PATCH',
      path: '/v1/finance/parties/:appId',
      operationId: 'updateParty',
      body: 'json',
      async handle(call) {
        return { status: 200, body: serializeParty(await parties.update(param(call, 'appId'), call.body as UpdatePartyInput, actor(call))) };
      },
    },
    {
      ...finance,
      method: 'POST',
      path: '/v1/finance/parties/:appId/keys',
      operationId: 'addPartyKey',
      body: 'json',
      async handle(call) {
        const { publicKey } = call.body as { publicKey: string };
        const result = await parties.addKey(param(call, 'appId'), publicKey, actor(call));
        return { status: result.created ? 201 : 200, body: serializeKeyRegistration(result.key) };
      },
    },
    {
      ...finance,
      method: 'DELETE',
      path: '/v1/finance/parties/:appId/keys/:keyId',
      operationId: 'retirePartyKey',
      body: 'none',
      async handle(call) {
        const key = await parties.retireKey(param(call, 'appId'), param(call, 'keyId'), actor(call));
        const { keyId, status } = serializePartyKey(key);
        return { status: 200, body: { keyId, status } };
      },
    },

    // ---- unit item authorisations ----
    {
      ...finance,
      method: 'PUT',
      path: '/v1/finance/units/:unitCode/items',
      operationId: 'putUnitItems',
      body: 'json',
      async handle(call) {
        return { status: 200, body: serializeUnitItems(await catalogue.putUnitItems(param(call, 'unitCode'), call.body as PutUnitItemsInput, actor(call))) };
      },
    },
    {
      ...finance,
      method: 'GET',
      path: '/v1/finance/units/:unitCode/items',
      operationId: 'getUnitItems',
      body: 'none',
      async handle(call) {
        return { status: 200, body: serializeUnitItems(await catalogue.getUnitItems(param(call, 'unitCode'))) };
      },
    },
  ];
}
