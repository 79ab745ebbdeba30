import http from 'node:http';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { startRuntime } from './runtime';

/**
 * The process: configuration → database → HTTP → jobs, and a graceful shutdown on SIGTERM
 * (operations.md §6): stop accepting, finish requests in flight, stop the workers, close the
 * database and the embedded server if we started it, exit 0 — all within 10 s.
 */
const SHUTDOWN_LIMIT_MS = 10_000;
const REQUEST_DRAIN_MS = 7_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const startedMs = Date.now();
  const runtime = await startRuntime(config, log);
  const server = http.createServer(runtime.app.callback());
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : config.port, host: config.host, startMs: Date.now() - startedMs }, 'Tongfu is listening');
  runtime.startBackground();

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    hardStop.unref();
    void (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const drainTimer = setTimeout(() => server.closeAllConnections(), REQUEST_DRAIN_MS);
      await Promise.all([drained, runtime.stopBackground(REQUEST_DRAIN_MS)]);
      clearTimeout(drainTimer);
      await runtime.close();
      log.info('stopped');
      log.flush?.();
      process.exit(0);
    })().catch((error: unknown) => {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`Tongfu failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
