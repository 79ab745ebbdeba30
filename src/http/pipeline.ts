import type Koa from 'koa';
import { FieldProblem, TongfuError } from '../domain/errors';
import { isValidPayCode } from '../domain/payCode';
import { Contract, errorsToTongfuError, describeErrors } from './contract';
import { declaresUtf8OrNoCharset, JSON_BODY_LIMIT_BYTES, mediaType, parseJsonBody, readRawBody } from './body';
import type { AuthenticatedParty, DeferredNonce, NonceClaim, RequestAuthenticator } from '../domain/access';
import type { Call, RouteDefinition } from './call';
import type { Logger } from '../logger';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** A verified nonce left for the handler's first statement (decision 0009), until it takes it. */
class PendingNonce implements DeferredNonce {
  private taken = false;

  constructor(private readonly claim: NonceClaim) {}

  take(): NonceClaim {
    if (this.taken) throw new Error('a request nonce is taken once');
    this.taken = true;
    return this.claim;
  }

  get pending(): boolean {
    return !this.taken;
  }

  /** Stores the nonce on its own unless the handler took it; throws NONCE_REUSED if it was used. */
  async settle(authenticator: RequestAuthenticator): Promise<void> {
    if (this.taken) return;
    this.taken = true;
    if (!authenticator.claimNonce) throw new Error('an authenticator that defers nonces stores them too');
    await authenticator.claimNonce(this.claim);
  }
}

/**
 * Runs one matched route through the checks of docs/interface.md §3 in their precedence:
 * 415 → 413 → signature → MALFORMED_JSON → AMOUNT_INVALID → PAY_CODE_INVALID →
 * VALIDATION_FAILED; then the handler, which owns the resource's 404 and the business rules.
 *
 * On a route with `storesNonce` the nonce is the handler's to store (decision 0009): if the
 * request ends before the handler took it — any later check failed, or the handler threw first —
 * it is stored here, and NONCE_REUSED takes the place of that answer, as the order demands.
 */
export function routeMiddleware(route: RouteDefinition, contract: Contract, authenticator: RequestAuthenticator | undefined): Koa.Middleware {
  // Checked now, compiled on the route's first request (contracts/decisions/0079-idle-memory.md).
  contract.requireOperation(route.operationId);
  const limitBytes = route.bodyLimitBytes ?? JSON_BODY_LIMIT_BYTES;
  return async (ctx) => {
    const type = mediaType(ctx);
    const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('Transfer-Encoding') !== '';
    if (METHODS_WITH_BODY.has(route.method) && hasBody) {
      const accepted = route.body === 'raw' ? (route.rawContentTypes ?? []) : ['application/json'];
      if (route.body !== 'none' && !accepted.includes(type)) {
        throw new TongfuError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${accepted.join(' or ')}`, { accepted });
      }
      if (route.body !== 'none' && !declaresUtf8OrNoCharset(ctx)) throw new TongfuError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8: a charset other than UTF-8 is refused', { accepted });
    }
    const rawBody = await readRawBody(ctx, limitBytes);

    let party: AuthenticatedParty | undefined;
    let pendingNonce: PendingNonce | undefined;
    if (route.access !== 'public') {
      if (!authenticator) throw new Error('signed route registered without an authenticator');
      const request = { method: ctx.method, target: ctx.originalUrl, headers: ctx.headers, body: rawBody };
      if (route.storesNonce && authenticator.authenticateDeferringNonce) {
        const checked = await authenticator.authenticateDeferringNonce(request, route.access);
        party = checked.party;
        if (checked.nonce) pendingNonce = new PendingNonce(checked.nonce);
      } else {
        party = await authenticator.authenticate(request, route.access);
      }
      ctx.state.party = party;
    }
    const validators = contract.operation(route.operationId);
    if (!pendingNonce) return runChecked(ctx, route, validators, rawBody, party, undefined);
    try {
      await runChecked(ctx, route, validators, rawBody, party, pendingNonce);
    } catch (error) {
      // A replay is refused as such, whatever else was wrong with it.
      await pendingNonce.settle(authenticator!);
      throw error;
    }
    if (pendingNonce.pending) {
      // A bug in the route: it answered without storing the nonce. Store it now, so that a copy
      // of this request is still refused, and say so.
      const log = ctx.state.log as Logger;
      log.error({ route: route.operationId }, 'a route that stores its nonce answered without taking it');
      await pendingNonce.settle(authenticator!).catch((error: unknown) => log.error({ err: error }, 'storing the nonce afterwards failed'));
    }
  };
}

/** The checks after the signature, then the handler; the reply is set on ctx. */
async function runChecked(
  ctx: Koa.Context,
  route: RouteDefinition,
  validators: ReturnType<Contract['operation']>,
  rawBody: Buffer,
  party: AuthenticatedParty | undefined,
  nonce: DeferredNonce | undefined,
): Promise<void> {
  let body: unknown = undefined;
  const problems: FieldProblem[] = [];
  if (route.body === 'json' && METHODS_WITH_BODY.has(route.method)) {
    const parsed = parseJsonBody(rawBody);
    body = parsed.value;
    if (validators.body && !validators.body(body)) {
      const error = errorsToTongfuError(validators.body.errors ?? [], '');
      if (error.code === 'AMOUNT_INVALID') throw error;
      problems.push(...((error.details?.fields as FieldProblem[] | undefined) ?? []));
    }
    // Duplicate keys and text that is not text: VALIDATION_FAILED, listed with the schema's.
    problems.push(...parsed.problems);
  }

  const params = { ...(ctx.params as Record<string, string>) };
  if (params.payCode !== undefined && !isValidPayCode(params.payCode)) {
    throw new TongfuError('PAY_CODE_INVALID', 'payCode must be 20 digits with valid MOD 97-10 check digits', { payCode: params.payCode });
  }
  for (const [name, validate] of validators.pathParams) {
    if (name === 'payCode') continue;
    if (params[name] !== undefined && !validate(params[name])) problems.push(...describeErrors(validate.errors ?? [], `/path/${name}`));
  }
  // No prototype: a parameter named __proto__ is a parameter like any other (and refused as unknown).
  const query = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(ctx.query)) query[name] = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (validators.query && !validators.query(query)) problems.push(...describeErrors(validators.query.errors ?? [], '/query'));
  if (problems.length > 0) {
    throw new TongfuError('VALIDATION_FAILED', `request is invalid: ${problems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`, { fields: problems });
  }

  const call: Call = {
    body,
    query,
    params,
    party,
    rawBody,
    requestId: ctx.state.requestId as string,
    log: ctx.state.log as Logger,
    clientAddress: (ctx.state.clientAddress as string | undefined) ?? ctx.request.ip,
    ...(nonce ? { nonce } : {}),
    koa: ctx,
  };
  const reply = await route.handle(call);
  ctx.status = reply.status;
  for (const [name, value] of Object.entries(reply.headers ?? {})) ctx.set(name, value);
  if (reply.body !== undefined) ctx.body = reply.body;
}
