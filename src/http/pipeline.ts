import type Koa from 'koa';
import { FieldProblem, TongfuError } from '../domain/errors';
import { isValidPayCode } from '../domain/payCode';
import { Contract, errorsToTongfuError, describeErrors } from './contract';
import { JSON_BODY_LIMIT_BYTES, mediaType, parseJsonBody, readRawBody } from './body';
import type { AuthenticatedParty, Call, RequestAuthenticator, RouteDefinition } from './call';
import type { Logger } from '../logger';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Runs one matched route through the checks of interface.md §3 in their precedence:
 * 415 → 413 → signature → MALFORMED_JSON → AMOUNT_INVALID → PAY_CODE_INVALID →
 * VALIDATION_FAILED; then the handler, which owns the resource's 404 and the business rules.
 */
export function routeMiddleware(route: RouteDefinition, contract: Contract, authenticator: RequestAuthenticator | undefined): Koa.Middleware {
  const validators = contract.operation(route.operationId);
  const limitBytes = route.bodyLimitBytes ?? JSON_BODY_LIMIT_BYTES;
  return async (ctx) => {
    const type = mediaType(ctx);
    const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('Transfer-Encoding') !== '';
    if (METHODS_WITH_BODY.has(route.method) && hasBody) {
      const accepted = route.body === 'raw' ? (route.rawContentTypes ?? []) : ['application/json'];
      if (route.body !== 'none' && !accepted.includes(type)) {
        throw new TongfuError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${accepted.join(' or ')}`, { accepted });
      }
    }
    const rawBody = await readRawBody(ctx, limitBytes);

    let party: AuthenticatedParty | undefined;
    if (route.access !== 'public') {
      if (!authenticator) throw new Error('signed route registered without an authenticator');
      party = await authenticator.authenticate({ method: ctx.method, target: ctx.originalUrl, headers: ctx.headers, body: rawBody }, route.access);
      ctx.state.party = party;
    }

    let body: unknown = undefined;
    const problems: FieldProblem[] = [];
    if (route.body === 'json' && METHODS_WITH_BODY.has(route.method)) {
      body = parseJsonBody(rawBody);
      if (validators.body && !validators.body(body)) {
        const error = errorsToTongfuError(validators.body.errors ?? [], '');
        if (error.code === 'AMOUNT_INVALID') throw error;
        problems.push(...((error.details?.fields as FieldProblem[] | undefined) ?? []));
      }
    }

    const params = { ...(ctx.params as Record<string, string>) };
    if (params.payCode !== undefined && !isValidPayCode(params.payCode)) {
      throw new TongfuError('PAY_CODE_INVALID', 'payCode must be 20 digits with valid MOD 97-10 check digits', { payCode: params.payCode });
    }
    for (const [name, validate] of validators.pathParams) {
      if (name === 'payCode') continue;
      if (params[name] !== undefined && !validate(params[name])) problems.push(...describeErrors(validate.errors ?? [], `/path/${name}`));
    }
    const query: Record<string, unknown> = {};
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
      clientAddress: ctx.request.ip,
      koa: ctx,
    };
    const reply = await route.handle(call);
    ctx.status = reply.status;
    for (const [name, value] of Object.entries(reply.headers ?? {})) ctx.set(name, value);
    if (reply.body !== undefined) ctx.body = reply.body;
  };
}
