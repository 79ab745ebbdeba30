import fs from 'node:fs';
import path from 'node:path';
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
import type { RouteDefinition } from './http/call';
import { buildRoutes } from './http/routes';
import { StreamedRouteDefinition, UploadSpool } from './http/streamedBody';
import { portalMiddleware } from './http/portal/routes';
import { allJobs } from './jobs/registry';
import { JobRequestWorker } from './jobs/requests';
import { JobRunner } from './jobs/runner';
import { resolveSchedules, Scheduler } from './jobs/scheduler';
import { SandboxNight, SandboxNightLoop } from './sandbox/night';
import type { Logger } from './logger';
import { clientAddressOf } from './net/addresses';
import { buildServices, Services } from './services';
import { INBOX_SUBDIRECTORY } from './services/statementInbox';
import { CallbackDeliveryWorker } from './workers/callbackDelivery';
import { EventSequencerLoop } from './workers/eventSequencer';

export interface Runtime {
  /**
   * The HTTP application, built on first use: a main process whose HTTP workers serve never builds
   * it, nor parses the contract (contracts/decisions/0187-main-process-builds-no-http-app.md).
   */
  readonly app: Koa;
  services: Services;
  database: OpenedDatabase;
  runner: JobRunner;
  /** Carries out the job request queue (runs an upload asked for) where TONGFU_JOBS=on. */
  jobRequests: JobRequestWorker;
  /** Starts the scheduler (with its catch-up), the workers and the sandbox's night, where TONGFU_JOBS=on. */
  /**
   * Tells the runtime where its HTTP server listens, so that the sandbox agency reaches the
   * service over HTTP (contracts/decisions/0081). Until then it uses PUBLIC_BASE_URL.
   */
  setListeningAddress(address: string | AddressInfo | null): void;
  /** The sandbox's night on a timer (contracts/decisions/0220): only where TONGFU_SANDBOX is on; started with the workers. */
  readonly sandboxNight: SandboxNightLoop | undefined;
  startBackground(): void;
  stopBackground(graceMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Everything the process runs, wired once; the CLI and the tests use the same wiring. */
export async function startRuntime(
  config: Config,
  log: Logger,
  options: {
    database?: OpenedDatabase;
    clocks?: Clocks;
    migrate?: boolean;
    announcePartyChange?: (appId: string) => Promise<void>;
    /** Routes mounted after buildRoutes' — for tests that exercise the pipeline with a route of their own. */
    extraRoutes?: (services: Services) => Array<RouteDefinition | StreamedRouteDefinition>;
  } = {},
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
  options: { migrate?: boolean; announcePartyChange?: (appId: string) => Promise<void>; extraRoutes?: (services: Services) => Array<RouteDefinition | StreamedRouteDefinition> },
  clocks: Clocks,
  database: OpenedDatabase,
): Promise<Runtime> {
  if (options.migrate !== false) {
    const applied = await migrateLatest(database.db);
    if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');
  }

  // The workers need the services (the signer, the event service), and the event service wakes
  // the delivery worker: the wake goes through this indirection, set once the worker exists.
  let wakeDeliveries: () => void = () => undefined;
  const services = await buildServices({
    db: database.db,
    config,
    clocks,
    log,
    onDeliveriesDue: () => wakeDeliveries(),
    ...(options.announcePartyChange ? { announcePartyChange: options.announcePartyChange } : {}),
  });
  // Callbacks (docs/lifecycle.md §5): the sequencer numbers committed events and creates their
  // deliveries; the worker delivers them. Both run only where TONGFU_JOBS=on (startBackground).
  const callbackWorker = new CallbackDeliveryWorker({ db: database.db, signer: services.platformSigner, realClock: clocks.real, log, callbackPolicy: { production: config.production, allow: config.callbackAllow } });
  wakeDeliveries = () => callbackWorker.wake();
  const eventSequencer = new EventSequencerLoop({ events: services.events, log });
  const jobs = allJobs(services);
  const schedules = resolveSchedules(jobs, config.cronOverrides);
  const metrics = new Metrics(database.db);
  const uploadSpool = new UploadSpool(path.join(config.dataDir, 'tmp'));
  await uploadSpool.sweepAbandoned(log);
  // The statement inbox exists from the first start, for the agencies' file transfers to write into.
  await fs.promises.mkdir(path.join(config.dataDir, INBOX_SUBDIRECTORY), { recursive: true });
  let migrationsCurrent = false;
  let selfUrl = config.publicBaseUrl;
  let app: Koa | undefined;
  const buildApp = (): Koa => createApp({
    log,
    contract: new Contract(),
    metrics,
    routes: [...buildRoutes(services), ...(options.extraRoutes?.(services) ?? [])],
    authenticator: services.authenticator,
    clientAddress: (peer, forwardedFor) => clientAddressOf(peer, forwardedFor, config.trustedProxies),
    uploadSpool,
    pages: portalMiddleware({ services, publicBaseUrl: config.publicBaseUrl, sandbox: config.sandbox, log, selfUrl: () => selfUrl }),
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
  const scheduler = new Scheduler({ runner, schedules, realClock: clocks.real, businessClock: clocks.business, log, db: database.db });
  const jobRequests = new JobRequestWorker({ db: database.db, connectionString: database.connectionString, runner, jobs, realClock: clocks.real, log });
  // The sandbox's night (contracts/decisions/0220): where TONGFU_SANDBOX and TONGFU_JOBS are on.
  const sandboxNight = config.sandbox ? new SandboxNightLoop(new SandboxNight({ db: database.db, clocks, log, selfUrl: () => selfUrl }), log) : undefined;
  let backgroundStarted = false;

  return {
    get app() {
      app ??= buildApp();
      return app;
    },
    services,
    database,
    runner,
    jobRequests,
    sandboxNight,
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
      eventSequencer.start();
      callbackWorker.start();
      jobRequests.start();
      sandboxNight?.start();
      void scheduler.catchUp().catch((error: unknown) => log.error({ err: error }, 'job catch-up failed'));
    },
    async stopBackground(graceMs: number) {
      if (!backgroundStarted) return;
      await Promise.all([scheduler.stop(graceMs), eventSequencer.stop(graceMs), callbackWorker.stop(graceMs), jobRequests.stop(graceMs), sandboxNight?.stop(graceMs)]);
    },
    async close() {
      await database.close();
    },
  };
}
