import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import type { OpenedDatabase } from '../../src/db/open';
import { Clocks, ManualClock } from '../../src/domain/clock';
import type { RouteDefinition } from '../../src/http/call';
import type { StreamedRouteDefinition } from '../../src/http/streamedBody';
import { Runtime, startRuntime } from '../../src/runtime';
import type { Services } from '../../src/services';
import { contractErrors } from './contract';
import { createTestDatabase, TestDatabase } from './database';

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined for a body that is not JSON. */
  body: any;
}

export interface RequestOptions {
  body?: unknown;
  /** Bytes sent as they are (no JSON encoding). */
  rawBody?: Buffer | string;
  headers?: Record<string, string>;
  /** Skip the contract check (only for requests the contract cannot describe on purpose). */
  skipContract?: boolean;
}

export interface TestService {
  baseUrl: string;
  runtime: Runtime;
  database: TestDatabase;
  clocks: { business: ManualClock; real: ManualClock | Clocks['real'] };
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
}

/**
 * The whole service in-process on a fresh database of its own, listening on a free port, with a
 * business clock the test moves. Every response is checked against contracts/.
 */
export async function startTestService(
  options: {
    env?: Record<string, string>;
    businessNow?: Date;
    real?: Clocks['real'];
    /** A database the test owns and drops itself: close() leaves it (a restart on the same data). */
    database?: TestDatabase;
    /** Routes of the test's own, mounted on the real pipeline after the service's (see startRuntime). */
    extraRoutes?: (services: Services) => Array<RouteDefinition | StreamedRouteDefinition>;
  } = {},
): Promise<TestService> {
  const database = options.database ?? (await createTestDatabase());
  const config = loadConfig({ DATABASE_URL: database.connectionString, TONGFU_JOBS: 'off', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://tongfu.test', ...options.env });
  const business = new ManualClock(options.businessNow ?? new Date());
  const real = options.real ?? { now: () => new Date() };
  const opened: OpenedDatabase = { db: database.db, connectionString: database.connectionString, embedded: undefined, close: () => (options.database === undefined ? database.drop() : Promise.resolve()) };
  const runtime = await startRuntime(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), { database: opened, clocks: { business, real }, ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}) });
  const server = http.createServer(runtime.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    runtime,
    database,
    clocks: { business, real },
    request(method, path, requestOptions = {}) {
      return sendChecked(baseUrl, method, path, requestOptions);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.stopBackground(1000);
      await runtime.close();
    },
  };
}

/** Sends a request and checks the answer against contracts/ (unless told not to). */
export async function sendChecked(baseUrl: string, method: string, path: string, requestOptions: RequestOptions = {}): Promise<TestResponse> {
  const headers: Record<string, string> = { ...requestOptions.headers };
  let body: Buffer | string | undefined = requestOptions.rawBody;
  if (body === undefined && requestOptions.body !== undefined) {
    body = JSON.stringify(requestOptions.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!requestOptions.skipContract) {
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0] as string;
    const problems = contractErrors(method, path, response.status, contentType === 'application/json' ? parsed : text, contentType || 'application/json');
    if (problems.length > 0) {
      throw new Error(`${method} ${path} → ${response.status} breaks contracts/:\n  ${problems.join('\n  ')}\nbody: ${text.slice(0, 2000)}`);
    }
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/**
 * `instant` as an executor's `executedAt`, with the business clock moved on to a minute after it
 * when it is earlier: an executor reports once it has executed, and an `executedAt` later than
 * the platform's time is refused (contracts/decisions/0201-executed-at-bounds.md).
 */
export function executedBeforeNow(service: { clocks: { business: ManualClock } }, instant: string): string {
  const after = new Date(instant).getTime() + 60_000;
  if (service.clocks.business.now().getTime() < after) service.clocks.business.set(new Date(after));
  return instant;
}
