import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import { TongfuError } from '../domain/errors';
import type { Logger } from '../logger';
import { ERROR_STATUS } from './errorStatus';
import { Contract } from './contract';
import { Metrics } from './metrics';
import { routeMiddleware } from './pipeline';
import type { RequestAuthenticator } from '../domain/access';
import type { RouteDefinition } from './call';
import type { StreamedRequestAuthenticator } from '../services/authentication';
import { StreamedRouteDefinition, streamedRouteMiddleware, UploadSpool } from './streamedBody';

export interface AppDependencies {
  log: Logger;
  contract: Contract;
  metrics: Metrics;
  /** Routes with a buffered body, and streamed uploads (src/http/streamedBody.ts). */
  routes: Array<RouteDefinition | StreamedRouteDefinition>;
  authenticator?: RequestAuthenticator & Partial<StreamedRequestAuthenticator>;
  /** The client's address from the socket's peer and X-Forwarded-For (net/addresses.ts); the peer when absent. */
  clientAddress?: (peer: string, forwardedFor: string | undefined) => string;
  /** Where streamed uploads are spooled (default: a spool in the system's temporary directory). */
  uploadSpool?: UploadSpool;
  /** The payer portal's HTML pages (src/http/portal), outside the contract-validated API. */
  pages?: Koa.Middleware;
  /** `GET /readyz`: undefined when ready, else the reason. */
  readiness(): Promise<string | undefined>;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const RETRY_AFTER_UNAVAILABLE_SECONDS = '5';

/** The Koa application: request ids, logs and metrics, one error boundary, the routes. */
export function createApp(deps: AppDependencies): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  app.use(requestContext(deps));
  app.use(errorBoundary());

  // Paths are matched exactly as docs/interface.md writes them: `/V1/AGENCY/events` and
  // `/v1/agency/events/` are 404, not second names.
  const router = new Router({ sensitive: true, strict: true });
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const reason = await deps.readiness();
    ctx.status = reason === undefined ? 200 : 503;
    ctx.body = reason === undefined ? { status: 'ready' } : { status: 'not-ready', reason };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  let uploadSpool = deps.uploadSpool;
  for (const route of deps.routes) {
    if (route.body === 'stream') {
      uploadSpool ??= new UploadSpool(path.join(os.tmpdir(), 'tongfu-uploads'));
      router.register(route.path, [route.method], streamedRouteMiddleware(route, deps.contract, deps.authenticator, uploadSpool), { name: route.operationId ?? route.path });
      continue;
    }
    router.register(route.path, [route.method], routeMiddleware(route, deps.contract, deps.authenticator), { name: route.operationId });
  }
  app.use(router.routes());
  if (deps.pages) app.use(deps.pages);
  // Whatever no route matched — including a known path with another method — is 404 NOT_FOUND,
  // before any other check (docs/interface.md §3).
  app.use((ctx) => {
    throw new TongfuError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
  });
  return app;
}

function requestContext(deps: AppDependencies): Koa.Middleware {
  return async (ctx, next) => {
    const startedNs = process.hrtime.bigint();
    const given = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID_PATTERN.test(given) ? given : crypto.randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const peer = ctx.request.ip;
    ctx.state.clientAddress = deps.clientAddress ? deps.clientAddress(peer, ctx.get('X-Forwarded-For') || undefined) : peer;
    const log = deps.log.child({ requestId });
    ctx.state.log = log;
    try {
      await next();
    } finally {
      const route = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      const routeLabel = typeof route === 'string' ? route : 'unmatched';
      const status = String(ctx.status);
      const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9;
      deps.metrics.requests.inc({ method: ctx.method, route: routeLabel, status });
      deps.metrics.latency.observe({ method: ctx.method, route: routeLabel, status }, seconds);
      if (routeLabel !== '/metrics' && routeLabel !== '/healthz' && routeLabel !== '/readyz') {
        // The path only: query strings can carry a payer's name (public lookups).
        log.info({ method: ctx.method, path: ctx.path, route: routeLabel, status: ctx.status, latencyMs: Math.round(seconds * 1e4) / 10, appId: (ctx.state.party as { appId?: string } | undefined)?.appId }, 'request');
      }
    }
  };
}

function errorBoundary(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const log = ctx.state.log as Logger;
      const requestId = ctx.state.requestId as string;
      let error: TongfuError;
      if (caught instanceof TongfuError) {
        error = caught;
        if (error.code === 'INTERNAL') log.error({ err: caught }, 'internal error');
      } else if (isDatabaseUnavailable(caught)) {
        log.warn({ err: caught }, 'database unavailable');
        error = new TongfuError('UNAVAILABLE', 'the service is temporarily unavailable; retry later');
        ctx.set('Retry-After', RETRY_AFTER_UNAVAILABLE_SECONDS);
      } else if (isBodyAbort(caught)) {
        error = new TongfuError('MALFORMED_JSON', 'the request body was cut off');
      } else {
        log.error({ err: caught }, 'unhandled error');
        error = new TongfuError('INTERNAL', 'internal error; quote the requestId to the operator');
      }
      ctx.status = ERROR_STATUS[error.code];
      ctx.body = { error: { code: error.code, message: error.message, requestId, ...(error.details ? { details: error.details } : {}) } };
      if (error.code === 'UNAVAILABLE') ctx.set('Retry-After', RETRY_AFTER_UNAVAILABLE_SECONDS);
      const retryAfter = error.details?.retryAfterSeconds;
      if (error.code === 'RATE_LIMITED' && typeof retryAfter === 'number') ctx.set('Retry-After', String(retryAfter));
    }
  };
}

const UNAVAILABLE_PG_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/** Errors that mean "the database cannot be reached", which callers see as 503, not 500. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, name, message, syscall } = error as { code?: string; name?: string; message?: string; syscall?: string };
  if (code && (UNAVAILABLE_PG_CODES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
  // A server stopped cleanly removes its Unix socket: connecting then finds no such file.
  if (code === 'ENOENT' && syscall === 'connect') return true;
  if (name === 'KnexTimeoutError') return true;
  // pg's own connect timeout (connectionTimeoutMillis) under a saturated machine: "timeout expired".
  return typeof message === 'string' && /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error/i.test(message);
}

function isBodyAbort(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}
