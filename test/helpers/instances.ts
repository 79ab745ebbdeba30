import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/database';
import type { OpenedDatabase } from '../../src/db/open';
import { createLogger, type Logger } from '../../src/logger';
import { startRuntime } from '../../src/runtime';
import { sendChecked, type TestService } from './testService';

/**
 * Another instance of the service on the database of an existing test service: its own process
 * state (caches, pool, HTTP server), the same PostgreSQL and the same clocks — what a second
 * instance behind a load balancer is. With `log`, its log lines can be read (e.g. to prove no
 * personal data reaches them). Closing it leaves the database to its owner.
 */
export async function startSecondInstance(owner: TestService, options: { log?: Logger; env?: Record<string, string> } = {}): Promise<TestService> {
  const db = createDb({ connectionString: owner.database.connectionString, poolMax: 10 });
  const config = loadConfig({ DATABASE_URL: owner.database.connectionString, TONGFU_JOBS: 'off', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://tongfu.test', ...options.env });
  const opened: OpenedDatabase = { db, connectionString: owner.database.connectionString, embedded: undefined, close: () => db.destroy() };
  const runtime = await startRuntime(config, options.log ?? pino({ level: 'silent' }), { database: opened, clocks: owner.clocks });
  const server = http.createServer(runtime.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    runtime,
    database: owner.database,
    clocks: owner.clocks,
    request: (method, path, requestOptions) => sendChecked(baseUrl, method, path, requestOptions),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.stopBackground(1000);
      await runtime.close();
    },
  };
}

/** The service's own logger (with its redaction) at every level, its JSON lines kept in `lines`. */
export function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger('trace', { write: (line: string) => lines.push(line) });
  return { log, lines };
}
