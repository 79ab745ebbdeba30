import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Config } from './config';
import { parseClockSpec } from './config';
import { migrateLatest, pendingMigrations } from './db/database';
import { openDatabase, OpenedDatabase } from './db/open';
import { Clocks, systemClock } from './domain/clock';
import { createApp } from './http/app';
import { Contract } from './http/contract';
import { Metrics } from './http/metrics';
import { buildRoutes } from './http/routes';
import { portalMiddleware } from './http/portal/routes';
import { allJobs } from './jobs/registry';
import { JobRunner } from './jobs/runner';
import { resolveSchedules, Scheduler } from './jobs/scheduler';
import type { Logger } from './logger';
import { buildServices, Services } from './services';

export interface Runtime {
  app: Koa;
  services: Services;
  database: OpenedDatabase;
  runner: JobRunner;
  /** Starts the scheduler (with its catch-up) and the workers, where TONGFU_JOBS=on. */
  /**
   * Tells the runtime where its HTTP server listens, so that the sandbox agency reaches the
   * service over HTTP (contracts/decisions/0081). Until then it uses PUBLIC_BASE_URL.
   */
  setListeningAddress(address: string | AddressInfo | null): void;
  startBackground(): void;
  stopBackground(graceMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Everything the process runs, wired once; the CLI and the tests use the same wiring. */
export async function startRuntime(
  config: Config,
  log: Logger,
  options: { database?: OpenedDatabase; clocks?: Clocks; migrate?: boolean; announcePartyChange?: (appId: string) => Promise<void> } = {},
): Promise<Runtime> {
  const clocks: Clocks = options.clocks ?? { real: systemClock, business: parseClockSpec(config.clockSpec, systemClock) };
  const database = options.database ?? (await openDatabase(config, log, 'service'));
  // A start refused after the embedded PostgreSQL started (a bad TONGFU_CRON_*, a key that does not
  // parse, …) must leave nothing running: the server this call started stops with it.
  try {
    return await assembleRuntime(config, log, options, clocks, database);
  } catch (error) {
    if (options.database === undefined) {
      await database.close().catch((closeError: unknown) => log.error({ err: closeError }, 'could not stop the database after a failed start'));
    }
    throw error;
  }
}

async function assembleRuntime(
  config: Config,
  log: Logger,
  options: { migrate?: boolean; announcePartyChange?: (appId: string) => Promise<void> },
  clocks: Clocks,
  database: OpenedDatabase,
): Promise<Runtime> {
  if (options.migrate !== false) {
    const applied = await migrateLatest(database.db);
    if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');
  }

  const services = await buildServices({ db: database.db, config, clocks, log, ...(options.announcePartyChange ? { announcePartyChange: options.announcePartyChange } : {}) });
  const schedules = resolveSchedules(allJobs(services), config.cronOverrides);
  const metrics = new Metrics(database.db);
  const contract = new Contract();
  let migrationsCurrent = false;
  let selfUrl = config.publicBaseUrl;
  const app = createApp({
    log,
    contract,
    metrics,
    routes: buildRoutes(services),
    authenticator: services.authenticator,
    pages: portalMiddleware({ services, publicBaseUrl: config.publicBaseUrl, production: config.production, log, selfUrl: () => selfUrl }),
    async readiness() {
      try {
        await database.db.raw('SELECT 1').timeout(2000, { cancel: false });
        if (!migrationsCurrent) {
          const pending = await pendingMigrations(database.db);
          if (pending.length > 0) return `migrations behind: ${pending.join(', ')}`;
          migrationsCurrent = true;
        }
        return undefined;
      } catch {
        return 'database unreachable';
      }
    },
  });

  const runner = new JobRunner({ db: database.db, connectionString: database.connectionString, clocks, log });
  const scheduler = new Scheduler({ runner, schedules, realClock: clocks.real, log, db: database.db });
  let backgroundStarted = false;

  return {
    app,
    services,
    database,
    runner,
    setListeningAddress(address) {
      if (address === null || typeof address === 'string') return;
      // A wildcard bind is reachable on loopback; an IPv6 literal needs brackets in a URL.
      const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
      selfUrl = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
    },
    startBackground() {
      if (!config.jobsEnabled || backgroundStarted) return;
      backgroundStarted = true;
      scheduler.start();
      services.startWorkers();
      void scheduler.catchUp().catch((error: unknown) => log.error({ err: error }, 'job catch-up failed'));
    },
    async stopBackground(graceMs: number) {
      if (!backgroundStarted) return;
      await Promise.all([scheduler.stop(graceMs), services.stopWorkers(graceMs)]);
    },
    async close() {
      await database.close();
    },
  };
}
