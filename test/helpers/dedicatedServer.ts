import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/database';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { ManualClock } from '../../src/domain/clock';
import { Runtime, startRuntime } from '../../src/runtime';
import { buildWorld, signedAs, SignedCall } from './builders';
import { shanghai } from './payments';
import { sendChecked, TestService } from './testService';

/**
 * A service on an embedded PostgreSQL of the test's own, for the tests that stop, kill or crash
 * the database server (the suite's shared server must stay up for everyone else). The service
 * runs in the test's process with jobs off, a manual business clock and the real clock for
 * signatures; a unit and an agency are registered and ready to sign.
 */
export interface DedicatedService {
  embedded: EmbeddedPostgres;
  runtime: Runtime;
  service: TestService;
  unit: SignedCall;
  agency: SignedCall;
  business: ManualClock;
  /** The embedded server's data directory (its cluster is in `pg/`). */
  dataDir: string;
  /** A fresh EmbeddedPostgres on the same data directory (to start the server again). */
  newEmbedded: () => EmbeddedPostgres;
  close: () => Promise<void>;
}

export interface DedicatedServiceOptions {
  /** The temporary data directory's name prefix. */
  prefix: string;
  /** Whether commits are flushed (a test that kills the server needs what committed to survive). */
  durable: boolean;
  poolMax: number;
  /** The business clock's start, Asia/Shanghai wall time. */
  now: string;
}

export async function startDedicatedService(options: DedicatedServiceOptions): Promise<DedicatedService> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix));
  fs.chmodSync(dataDir, 0o755);
  const newEmbedded = (): EmbeddedPostgres => new EmbeddedPostgres({ dataDir, log: pino({ level: 'silent' }), durable: options.durable, reuseLiveServer: false });
  const holder = { embedded: newEmbedded() };
  const connectionString = await holder.embedded.start();
  const db = createDb({ connectionString, poolMax: options.poolMax });
  const config = loadConfig({ DATABASE_URL: connectionString, TONGFU_JOBS: 'off', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://tongfu.test' });
  const business = new ManualClock(new Date(shanghai(options.now)));
  const clocks = { business, real: { now: () => new Date() } };
  const runtime = await startRuntime(config, pino({ level: 'silent' }), { database: { db, connectionString, embedded: undefined, close: () => db.destroy() }, clocks });
  const server = http.createServer(runtime.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const service: TestService = {
    baseUrl,
    runtime,
    database: { db, connectionString, name: 'tongfu', drop: () => db.destroy() },
    clocks,
    request: (method, target, requestOptions) => sendChecked(baseUrl, method, target, requestOptions),
    close: async () => undefined,
  };
  const world = await buildWorld(service);
  return {
    get embedded() {
      return holder.embedded;
    },
    set embedded(value: EmbeddedPostgres) {
      holder.embedded = value;
    },
    runtime,
    service,
    unit: signedAs(service, world.unit),
    agency: signedAs(service, world.agency),
    business,
    dataDir,
    newEmbedded,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.stopBackground(1000);
      await runtime.close();
      await holder.embedded.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
