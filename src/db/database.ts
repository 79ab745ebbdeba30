import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../logger';

/**
 * The knex instance and the migrations. pg returns `numeric` and `bigint` as strings; we keep it
 * that way and parse amounts into `Decimal` where they are used, so no money ever passes through
 * a JavaScript number.
 */
export type Db = Knex;

/** A connection or a transaction: what every repository function runs on, so a use case keeps its reads and writes in one transaction. */
export type Queryable = Knex | Knex.Transaction;

// DATE columns are business days, not instants: keep them as 'YYYY-MM-DD' strings.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);

export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');

export interface DbOptions {
  connectionString: string;
  log?: Logger;
  poolMax?: number;
  /**
   * Idle connections the pool keeps instead of closing them after 30 s (default 0): an HTTP
   * worker keeps what warmPool opened, so a burst of requests does not wait for new connections
   * (contracts/decisions/0172-warm-pools.md).
   */
  poolMin?: number;
  applicationName?: string;
}

/**
 * How long one connection attempt may take. A server that is down refuses at once (its socket is
 * gone, or the port refuses); this bounds a server that is up but slow to fork and authenticate a
 * backend — on a loaded machine that can take seconds, and an attempt given up is work thrown
 * away that the next request starts again (decision 0172). A request still waits no longer than
 * the pool's acquire timeout.
 */
const CONNECT_TIMEOUT_MS = 10_000;
const ACQUIRE_TIMEOUT_MS = 5_000;

export function createDb(options: DbOptions): Db {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: options.connectionString,
      application_name: options.applicationName ?? 'tongfu',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: 60_000,
    } as Knex.PgConnectionConfig,
    // Fail fast when the database is unreachable: a request waits at most ACQUIRE_TIMEOUT_MS for a
    // connection, then gets 503, not a hung request.
    pool: { min: options.poolMin ?? 0, max: options.poolMax ?? 20, acquireTimeoutMillis: ACQUIRE_TIMEOUT_MS, idleTimeoutMillis: 30_000 },
    acquireConnectionTimeout: ACQUIRE_TIMEOUT_MS,
    migrations: { migrationSource: new DirectoryMigrationSource(MIGRATIONS_DIR), tableName: 'knex_migrations' },
    // knex writes its own warnings with console.log, which would put non-JSON lines on stdout;
    // they go to the structured log instead (or nowhere when none is given).
    log: {
      warn: (message: unknown) => options.log?.warn({ knex: String(message) }, 'knex warning'),
      error: (message: unknown) => options.log?.error({ knex: String(message) }, 'knex error'),
      deprecate: (message: unknown) => options.log?.warn({ knex: String(message) }, 'knex deprecation'),
      debug: () => undefined,
    },
  });
}

/**
 * A bulk step's sorts and hashes — a million statement lines hashed against a million payment keys,
 * or checked for duplicates — fit in memory with this much per operation instead of spilling to
 * temporary files in batches (contracts/decisions/0160-one-pass-reconcile-run.md, 0180).
 */
const BULK_WORK_MEM = '128MB';

/** Gives the transaction a bulk step's `work_mem` (SET LOCAL: the pool's other sessions keep the server's default). */
export async function useBulkWorkMem(trx: Knex.Transaction): Promise<void> {
  await trx.raw(`SET LOCAL work_mem = '${BULK_WORK_MEM}'`);
}

/**
 * Runs `work` — one `CREATE TABLE … AS SELECT` over large tables — with parallel workers costed
 * free, then restores the transaction's costs. PostgreSQL may run the SELECT of a CREATE TABLE AS
 * in parallel, but its default costs for starting workers and for passing rows to the leader
 * price a million output rows above the joins the workers share: the plan stays serial
 * (contracts/decisions/0185-parallel-classification.md). Small tables still get no workers (the
 * minimum table size for a parallel scan is unchanged). When `work` fails, its error is thrown as
 * it is: the transaction is aborted then, and the settings (SET LOCAL) end with it.
 */
export async function withParallelWorkersFree<T>(trx: Knex.Transaction, work: () => Promise<T>): Promise<T> {
  await trx.raw('SET LOCAL parallel_setup_cost = 0');
  await trx.raw('SET LOCAL parallel_tuple_cost = 0');
  const result = await work();
  await trx.raw('SET LOCAL parallel_setup_cost TO DEFAULT');
  await trx.raw('SET LOCAL parallel_tuple_cost TO DEFAULT');
  return result;
}

/**
 * Opens `count` connections at once and returns them to the pool, before a process serves
 * requests: with `poolMin` ≥ `count` they stay open, so the first burst of requests finds them
 * (decision 0172). A failure is the caller's to log; the pool opens connections on demand anyway.
 */
export async function warmPool(db: Db, count: number): Promise<number> {
  const client = db.client as { acquireConnection(): Promise<unknown>; releaseConnection(connection: unknown): Promise<unknown> };
  const opened = await Promise.allSettled(Array.from({ length: count }, () => client.acquireConnection()));
  const connections = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  await Promise.all(connections.map((connection) => client.releaseConnection(connection)));
  const failed = opened.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
  return connections.length;
}

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down?(knex: Knex): Promise<void>;
}

/**
 * Migrations are TypeScript files in migrations/, compiled to .js files in dist/migrations/ for the
 * compiled service (contracts/decisions/0078-compiled-service.md). A migration's name is always its
 * TypeScript file name (`…_job_runs.ts`), which is what knex_migrations has recorded since the
 * first release, whichever form runs; it is loaded without an extension, so Node finds the .js
 * file in dist/ and the loader of the running process (scripts/run.js, @swc/jest) the .ts file in
 * migrations/. They are forward-only: `down` is never run.
 */
export class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly directory: string) {}

  getMigrations(): Promise<string[]> {
    return Promise.resolve(migrationFileNames(this.directory));
  }

  getMigrationName(name: string): string {
    return name;
  }

  getMigration(name: string): Promise<Knex.Migration> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(path.join(this.directory, name.replace(/\.ts$/, ''))) as MigrationModule;
    return Promise.resolve({ up: loaded.up, down: loaded.down ?? (() => Promise.reject(new Error('migrations are forward-only'))) });
  }
}

/** The migrations' names (their TypeScript file names), from .ts sources or compiled .js files. */
export function migrationFileNames(directory = MIGRATIONS_DIR): string[] {
  const names = fs
    .readdirSync(directory)
    .filter((name) => /^\d{14}_[a-z0-9_]+\.(ts|js)$/.test(name))
    .map((name) => name.replace(/\.js$/, '.ts'));
  return [...new Set(names)].sort();
}

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}

/** Names of migrations on disk that the database has not applied. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const exists = await db.schema.hasTable('knex_migrations');
  const applied = exists ? new Set((await db('knex_migrations').select('name')).map((row: { name: string }) => row.name)) : new Set<string>();
  return migrationFileNames().filter((name) => !applied.has(name));
}
