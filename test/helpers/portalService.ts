import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DemoWorld, seedDemo } from '../../src/cli/demoSeed';
import { Config, loadConfig } from '../../src/config';
import type { OpenedDatabase } from '../../src/db/open';
import type { Clocks } from '../../src/domain/clock';
import { Runtime, startRuntime } from '../../src/runtime';
import { createTestDatabase, TestDatabase } from './database';

/**
 * The whole service on a database of its own, listening on a loopback port that is also its
 * PUBLIC_BASE_URL (so that receipt QR codes and the sandbox's way back point at it), on the real
 * clock, with the demo world of `demo seed` built in it.
 */
export interface PortalTestService {
  baseUrl: string;
  runtime: Runtime;
  config: Config;
  database: TestDatabase;
  world: DemoWorld;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startPortalService(env: Record<string, string> = {}, options: { clocks?: Clocks } = {}): Promise<PortalTestService> {
  const database = await createTestDatabase();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const config = loadConfig({ DATABASE_URL: database.connectionString, TONGFU_JOBS: 'off', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: baseUrl, PORT: String(port), ...env });
  const log = pino({ level: 'silent' });
  const opened: OpenedDatabase = { db: database.db, connectionString: database.connectionString, embedded: undefined, close: () => database.drop() };
  const runtime = await startRuntime(config, log, { database: opened, ...(options.clocks ? { clocks: options.clocks } : {}) });
  const server = http.createServer(runtime.app.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  runtime.setListeningAddress(server.address());
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-demo-keys-'));
  const world = await seedDemo(runtime, config, log, { selfUrl: baseUrl, keysDir });
  return {
    baseUrl,
    runtime,
    config,
    database,
    world,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.close();
      fs.rmSync(keysDir, { recursive: true, force: true });
    },
  };
}

/** The demo notice of this payer. */
export function demoNotice(world: DemoWorld, payerName: string): DemoWorld['notices'][number] {
  const notice = world.notices.find((candidate) => candidate.payerName === payerName);
  if (notice === undefined) throw new Error(`the demo world has no notice of ${payerName}`);
  return notice;
}
