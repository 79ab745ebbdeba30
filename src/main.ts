import cluster, { Worker } from 'node:cluster';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Config, ConfigError, loadConfig } from './config';
import { createDb, warmPool } from './db/database';
import { createLogger, Logger } from './logger';
import { collectStartUpGarbage } from './memory';
import { ConnectionHandOff, serveHandedConnections } from './connectionHandOff';
import { relayPartyChanges, workerPartyChanges } from './partyChangeRelay';
import { Runtime, startRuntime } from './runtime';
import { exemptUploadsFromRequestTimeout } from './http/streamedBody';

/**
 * The process: configuration → database → HTTP → jobs, and a graceful shutdown on SIGTERM
 * (docs/operations.md §6): stop accepting, finish requests in flight, stop the workers, close the
 * database and the embedded server if we started it, exit 0 — all within 10 s.
 *
 * Layout: the main process owns the database (starting the embedded server when DATABASE_URL is
 * unset), the migrations, the scheduler and the callback worker. HTTP is served by
 * `TONGFU_HTTP_WORKERS` forked processes sharing the port, because one Node.js process spends
 * ~0.7 ms of CPU on the cryptography of every payment and the targets need both cores
 * (docs/quality.md §1). With one worker the main process serves HTTP itself.
 */
const SHUTDOWN_LIMIT_MS = 10_000;
const REQUEST_DRAIN_MS = 6_000;
const WORKER_EXIT_WAIT_MS = 8_000;
const WORKER_RESTART_DELAY_MS = 1_000;
const WORKER_DATABASE_URL = 'TONGFU_WORKER_DATABASE_URL';
// Long enough for the catch-up of the jobs to have run, short enough to be done before anyone
// measures an idle process (contracts/decisions/0079-idle-memory.md).
const START_UP_GARBAGE_DELAY_MS = 3_000;
/**
 * An HTTP worker's young-generation semi-space, in MB (V8 takes the last flag, so this overrides
 * the start script's 1 MB, which the main process keeps): ≈ 10 % less CPU per posting than 1 MB,
 * idle at ≈ 87 MB (contracts/decisions/0174-worker-semi-space.md).
 */
const WORKER_SEMI_SPACE_MB = 4;
/**
 * An HTTP worker's connections: all opened before it listens and kept while idle (decision 0172),
 * and never more (decision 0177): on two cores, 16 busy backends serve the load faster, and with a
 * narrower tail, than the up to 40 that 20 a worker allowed; requests beyond them wait in the pool's
 * queue (at most its acquire timeout).
 */
const WORKER_CONNECTIONS = 8;

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

function httpServer(runtime: Runtime): http.Server {
  const server = http.createServer(runtime.app.callback());
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  // A streamed upload may take longer to arrive; its own limits bound it (src/http/streamedBody.ts).
  exemptUploadsFromRequestTimeout(server);
  return server;
}

/** Listens on the configured port and host; a port or host it cannot take is a ConfigError. */
async function listen(server: net.Server, config: Config): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, config)));
    server.listen(config.port, config.host, () => resolve());
  });
}

async function serve(runtime: Runtime, config: Config): Promise<http.Server> {
  const server = httpServer(runtime);
  await listen(server, config);
  runtime.setListeningAddress(server.address());
  return server;
}

/** A port or address the server cannot take is a setting to change: say which, and what it takes. */
function listenError(error: NodeJS.ErrnoException, config: Config): Error {
  if (error.code === 'EADDRINUSE') return new ConfigError('PORT', `port ${config.port} on ${config.host} is already in use; set PORT to a free port number 0–65535`);
  if (error.code === 'EACCES') return new ConfigError('PORT', `port ${config.port} needs privileges this process lacks; set PORT to a port number 1024–65535`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new ConfigError('HOST', `${config.host} is not an address of this machine; set HOST to one of its addresses or a host name, e.g. 127.0.0.1 or 0.0.0.0`);
  }
  return error;
}

/** Stops accepting and waits for the connections to end: an HTTP server's idle ones are closed at once, the rest after REQUEST_DRAIN_MS. */
async function drain(server: net.Server): Promise<void> {
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  if (!(server instanceof http.Server)) return drained;
  server.closeIdleConnections();
  const forceTimer = setTimeout(() => server.closeAllConnections(), REQUEST_DRAIN_MS);
  await drained;
  clearTimeout(forceTimer);
}

/**
 * Installs the SIGTERM/SIGINT handlers at once — a signal during start-up must not kill the
 * process with the default action — and runs `stop` when both a signal has arrived and the
 * process has registered how to stop.
 */
function stopSignals(log: Logger): { onStop(stop: () => Promise<void>): void } {
  let stopFunction: (() => Promise<void>) | undefined;
  let signalled: string | undefined;
  let started = false;
  const run = (): void => {
    if (started || !signalled || !stopFunction) return;
    started = true;
    log.info({ signal: signalled }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    hardStop.unref();
    stopFunction().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const handler = (signal: string): void => {
    signalled ??= signal;
    run();
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
  return {
    onStop(stop) {
      stopFunction = stop;
      run();
    },
  };
}

/**
 * What a worker runs: this very file. Compiled (dist/src/main.js, what `npm start` runs) it is
 * plain JavaScript and no compiler is loaded; as TypeScript (the e2e tests, `node scripts/run.js
 * src/main.ts`) the worker goes through the same loader as this process
 * (contracts/decisions/0078-compiled-service.md).
 */
function workerEntry(): { exec: string; args: string[] } {
  if (__filename.endsWith('.js')) return { exec: __filename, args: [] };
  return { exec: path.resolve(__dirname, '..', 'scripts', 'run.js'), args: [__filename] };
}

/** An HTTP worker: serves requests on the database the main process opened. */
async function runWorker(config: Config): Promise<void> {
  const log = createLogger(config.logLevel).child({ worker: cluster.worker?.id });
  const signals = stopSignals(log);
  const connectionString = process.env[WORKER_DATABASE_URL] as string;
  const db = createDb({ connectionString, applicationName: 'tongfu-http', log, poolMin: WORKER_CONNECTIONS, poolMax: WORKER_CONNECTIONS });
  // Changes other workers announce drop the party here too (a change that arrives before the
  // runtime exists has nothing to drop).
  const started: { runtime?: Runtime } = {};
  const announcePartyChange = workerPartyChanges((appId) => started.runtime?.services.authenticator.invalidate(appId), log);
  const runtime = await startRuntime(config, log, {
    migrate: false,
    database: { db, connectionString, embedded: undefined, close: () => db.destroy() },
    announcePartyChange,
  });
  started.runtime = runtime;
  // Connections are opened before this worker says it is ready, not by the first burst of requests
  // (contracts/decisions/0172-warm-pools.md).
  await warmPool(db, WORKER_CONNECTIONS).catch((error: unknown) => log.warn({ err: error }, 'could not open the pool\'s connections before serving; they open on demand'));
  // The main process listens and hands this worker its share of the connections (decision 0244).
  const connections = serveHandedConnections(httpServer(runtime), log, (address) => runtime.setListeningAddress(address));
  connections.ready();
  setTimeout(collectStartUpGarbage, START_UP_GARBAGE_DELAY_MS).unref();
  signals.onStop(async () => {
    await connections.drain(REQUEST_DRAIN_MS);
    await runtime.close();
  });
}

async function runMain(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const signals = stopSignals(log);
  const startedMs = Date.now();
  const runtime = await startRuntime(config, log);
  let server: net.Server | undefined;
  const workers = new Set<Worker>();
  let stopping = false;

  // Whatever refuses the start from here on stops what has started: the workers, the database.
  try {
    server = await startHttp();
  } catch (error) {
    stopping = true;
    for (const worker of workers) worker.process.kill('SIGTERM');
    await runtime.close();
    throw error;
  }
  log.info({ port: config.port, host: config.host, httpWorkers: config.httpWorkers, startMs: Date.now() - startedMs }, 'Tongfu is listening');
  runtime.startBackground();
  setTimeout(collectStartUpGarbage, START_UP_GARBAGE_DELAY_MS).unref();

  async function startHttp(): Promise<net.Server> {
    if (config.httpWorkers === 1) {
      return serve(runtime, config);
    } else {
      const handOff = new ConnectionHandOff(log);
      relayPartyChanges(
        () => workers,
        (appId) => runtime.services.authenticator.invalidate(appId),
        log,
      );
      cluster.setupPrimary({ ...workerEntry(), execArgv: [...process.execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`], silent: false });
      const fork = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const worker = cluster.fork({ [WORKER_DATABASE_URL]: runtime.database.connectionString });
          workers.add(worker);
          void handOff.follow(worker).then(resolve);
          worker.once('exit', (code, signal) => {
            workers.delete(worker);
            if (stopping) return;
            log.error({ worker: worker.id, code, signal }, 'HTTP worker exited; starting another');
            reject(new Error(`HTTP worker exited during start (code ${String(code)})`));
            setTimeout(() => void fork().catch(() => undefined), WORKER_RESTART_DELAY_MS).unref();
          });
        });
      await Promise.all(Array.from({ length: config.httpWorkers }, fork));
      // Listening once every worker is ready: the first connections find one to serve them.
      await listen(handOff.listener, config);
      // The main process serves nothing itself; its sandbox pass, and the workers' portals, reach the workers here.
      runtime.setListeningAddress(handOff.listener.address());
      handOff.announceAddress();
      return handOff.listener;
    }
  }

  signals.onStop(async () => {
    stopping = true;
    const workersExited = Promise.all(
      [...workers].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
            setTimeout(() => {
              if (!worker.isDead()) worker.process.kill('SIGKILL');
            }, WORKER_EXIT_WAIT_MS).unref();
          }),
      ),
    );
    await Promise.all([server ? drain(server) : Promise.resolve(), workersExited, runtime.stopBackground(REQUEST_DRAIN_MS)]);
    await runtime.close();
  });
}

const config = readConfig();
(cluster.isWorker ? runWorker(config) : runMain(config)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`Tongfu failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
