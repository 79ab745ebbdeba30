import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, parseClockSpec } from '../config';
import { migrateLatest } from '../db/database';
import { openDatabase, OpenedDatabase } from '../db/open';
import { generateSm2KeyPair, parsePublicKey } from '../crypto/keys';
import { Clocks, systemClock } from '../domain/clock';
import { isValidDate, shanghaiDate } from '../domain/businessDate';
import { TongfuError } from '../domain/errors';
import { allJobs } from '../jobs/registry';
import { JobRunner } from '../jobs/runner';
import { createLogger, Logger } from '../logger';
import { buildServices, Services } from '../services';
import { verifyAuditChain } from '../services/audit';
import { verifyLedger } from '../services/ledger';
import { startRuntime } from '../runtime';
import { demoWorldText, listenOnLoopback, seedDemo } from './demoSeed';
import { operatorPath, partyAddCommand } from './partyAdd';
import { partyKeyAddCommand, partyKeyRetireCommand } from './partyKey';

/**
 * `npm run cli -- <command>` (docs/operations.md §3): JSON on stdout, messages on stderr, a non-zero
 * exit on failure. Works whether or not the service runs, on the same database.
 */
export const USAGE = `usage: npm run cli -- <command>

  migrate                                  apply migrations
  keygen --out <prefix>                    write <prefix>.key (SM2 private key) and <prefix>.pub.pem;
                                           refuses (exit 1) if either exists
  party add --role <r> --code <c> --name <n> --public-key <file>
            [--region <code>] [--callback-url <url>] [--clearing-account <no>] [--cutoff HH:MM]
  party key add --app-id <appId> --public-key <file>
                                           add a public key to any party (finance parties included)
  party key retire --app-id <appId> --key-id <keyId>
                                           retire a key of any party; never its last active key
  job run <name> [--date YYYY-MM-DD] [--agency <code>]
  ledger verify                            check every ledger invariant; exit 1 on any break
  audit verify                             recompute the finance audit log's hash chain; exit 1 on a break
  close verify                             check the daily closes: contiguous dates, every hash and
                                           signature recomputed; exit 1 on a break
  demo seed [--json]                       build a demo world (sandbox agency included) on an empty database
`;

const JOB_LOCK_WAIT_MS = 10 * 60_000;

export class UsageError extends Error {}

export interface CliIo {
  out(value: unknown): void;
  err(message: string): void;
  /** Text for a person on stdout (commands that print JSON use `out`). */
  text?(message: string): void;
}

const defaultIo: CliIo = {
  out: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  text: (message) => process.stdout.write(message),
  err: (message) => process.stderr.write(`${message}\n`),
};

export async function runCli(argv: string[], io: CliIo = defaultIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'keygen':
        io.out(keygen(rest));
        return 0;
      case 'migrate':
        return await withDatabase(env, io, false, async ({ database }) => {
          const applied = await migrateLatest(database.db);
          io.out({ applied });
          return 0;
        });
      case 'party':
        if (rest[0] === 'key') {
          const [, subcommand, ...args] = rest;
          if (subcommand !== 'add' && subcommand !== 'retire') throw new UsageError('party key: the subcommands are "add" and "retire"');
          return await withDatabase(env, io, true, async ({ services }) => {
            io.out(subcommand === 'add' ? await partyKeyAddCommand(args, services) : await partyKeyRetireCommand(args, services));
            return 0;
          });
        }
        if (rest[0] !== 'add') throw new UsageError('party: the subcommands are "add" and "key add|retire"');
        return await withDatabase(env, io, true, async ({ services }) => {
          io.out(await partyAddCommand(rest.slice(1), services));
          return 0;
        });
      case 'ledger':
        if (rest[0] !== 'verify' || rest.length > 1) throw new UsageError('ledger: the only subcommand is "verify"');
        return await withDatabase(env, io, true, async ({ database, clocks }) => {
          // Ageing checks (every payment older than 8 days reconciled) count from the business clock's today.
          const verification = await verifyLedger(database.db, { businessToday: shanghaiDate(clocks.business.now()) });
          io.out(verification);
          if (!verification.ok) io.err(`ledger verify: broken — ${verification.checks.filter((check) => !check.ok).map((check) => check.name).join(', ')}`);
          return verification.ok ? 0 : 1;
        });
      case 'audit':
        if (rest[0] !== 'verify' || rest.length > 1) throw new UsageError('audit: the only subcommand is "verify"');
        return await withDatabase(env, io, true, async ({ database }) => {
          const verification = await verifyAuditChain(database.db);
          io.out(verification);
          if (!verification.ok) io.err(`audit verify: the chain breaks at seq ${verification.firstBrokenSeq}: ${verification.problem}`);
          return verification.ok ? 0 : 1;
        });
      case 'close':
        if (rest[0] !== 'verify' || rest.length > 1) throw new UsageError('close: the only subcommand is "verify"');
        return await withDatabase(env, io, true, async ({ services }) => {
          const verification = await services.dailyCloses.verifyChain();
          io.out(verification);
          if (!verification.ok) io.err(`close verify: the chain breaks at ${verification.breaks[0]?.businessDate}: ${verification.breaks[0]?.problem} (${verification.breaks[0]?.detail})`);
          return verification.ok ? 0 : 1;
        });
      case 'job':
        if (rest[0] !== 'run') throw new UsageError('job: the only subcommand is "run"');
        return await withDatabase(env, io, true, async ({ database, services, log }) => jobRun(rest.slice(1), database, services, log, io));
      case 'demo':
        if (rest[0] !== 'seed') throw new UsageError('demo: the only subcommand is "seed"');
        return await demoSeed(rest.slice(1), env, io);
      case undefined:
      case 'help':
      case '--help':
        io.err(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      io.err(error.message);
      return 2;
    }
    if (error instanceof KeygenRefused) {
      io.err(error.message);
      return 1;
    }
    if (error instanceof TongfuError) {
      io.out({ error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } });
      io.err(`${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

interface CliContext {
  database: OpenedDatabase;
  services: Services;
  clocks: Clocks;
  log: Logger;
}

async function withDatabase(env: NodeJS.ProcessEnv, _io: CliIo, migrate: boolean, work: (context: CliContext) => Promise<number>): Promise<number> {
  const config = loadConfig(env);
  // Logs go to stderr so stdout stays one JSON document.
  const log = createLogger(env.LOG_LEVEL ?? 'warn', process.stderr);
  const clocks: Clocks = { real: systemClock, business: parseClockSpec(config.clockSpec, systemClock) };
  const database = await openDatabase(config, log, 'cli', 5);
  try {
    if (migrate) await migrateLatest(database.db);
    const services = await buildServices({ db: database.db, config, clocks, log });
    return await work({ database, services, clocks, log });
  } finally {
    await database.close();
  }
}

/** keygen found one of its files already there: exit 1, naming the file. */
class KeygenRefused extends Error {}

function existsOrLinks(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Creates `file` with `mode` and writes `text`; refuses (KeygenRefused) when the name exists in any form. */
function writeExclusive(file: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') throw new KeygenRefused(`keygen: ${file} already exists; refusing to overwrite it (choose another --out)`);
    throw error;
  }
  try {
    fs.fchmodSync(fd, mode);
    fs.writeFileSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * `demo seed [--json]`: the demo world (src/cli/demoSeed.ts). Without --json it prints text for a
 * person on stdout; with it, one JSON object. The seed runs the service in this process, on a
 * loopback port of its own, so that the sandbox agency pays over HTTP.
 */
async function demoSeed(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true });
  const config = loadConfig(env);
  if (config.production) throw new TongfuError('INVALID_STATE_TRANSITION', 'demo seed is refused when NODE_ENV=production: it registers test parties and a sandbox agency');
  const log = createLogger(env.LOG_LEVEL ?? 'warn', process.stderr);
  const database = await openDatabase(config, log, 'cli', 5);
  let runtime;
  try {
    runtime = await startRuntime(config, log, { database });
  } catch (error) {
    await database.close();
    throw error;
  }
  try {
    const server = await listenOnLoopback(runtime);
    try {
      const world = await seedDemo(runtime, config, log, { selfUrl: server.url, keysDir: path.join(config.dataDir, 'demo-keys') });
      if (values.json) io.out({ portalUrl: world.portalUrl, notices: world.notices, parties: world.parties });
      else (io.text ?? ((message: string) => process.stdout.write(message)))(demoWorldText(world));
      return 0;
    } finally {
      await server.close();
    }
  } finally {
    await runtime.close();
  }
}

function keygen(args: string[]): Record<string, string> {
  const { values } = parseArgs({ args, options: { out: { type: 'string' } }, strict: true });
  if (!values.out) throw new UsageError('keygen needs --out <prefix>');
  const prefix = operatorPath(values.out);
  const pair = generateSm2KeyPair();
  const privateKeyFile = `${prefix}.key`;
  const publicKeyFile = `${prefix}.pub.pem`;
  fs.mkdirSync(path.dirname(prefix), { recursive: true });
  // Never overwrite nor follow what is there (a key, a symlink planted by someone else): both
  // names are checked first, so an existing .pub.pem refuses before the .key is written, and each
  // file is then created exclusively (O_EXCL refuses any existing name, a dangling symlink too;
  // O_NOFOLLOW is belt and braces). A .pub.pem that appears in between takes the new .key away.
  for (const file of [privateKeyFile, publicKeyFile]) {
    if (existsOrLinks(file)) throw new KeygenRefused(`keygen: ${file} already exists; refusing to overwrite it (choose another --out)`);
  }
  writeExclusive(privateKeyFile, `${pair.privateKeyHex}\n`, 0o600);
  try {
    writeExclusive(publicKeyFile, pair.publicKeyPem, 0o644);
  } catch (error) {
    fs.unlinkSync(privateKeyFile);
    throw error;
  }
  return { privateKeyFile, publicKeyFile, publicKeyHex: pair.publicKeyHex, keyId: parsePublicKey(pair.publicKeyPem).keyId, algorithm: 'SM2' };
}

async function jobRun(args: string[], database: OpenedDatabase, services: Services, log: Logger, io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { date: { type: 'string' }, agency: { type: 'string' } }, allowPositionals: true, strict: true });
  const name = positionals[0];
  const jobs = allJobs(services);
  const job = jobs.find((candidate) => candidate.name === name);
  const names = jobs.map((j) => j.name).join(', ') || '(none registered)';
  if (!job) throw new UsageError(name === undefined ? `job run needs a job name: ${names}` : `no job is named ${name}: ${names}`);
  if (values.date !== undefined && !isValidDate(values.date)) throw new UsageError('--date must be a calendar date YYYY-MM-DD');
  const latest = job.latestBusinessDate?.(services.deps.clocks.business.now());
  if (values.date !== undefined && latest !== undefined && values.date > latest) {
    throw new UsageError(`--date ${values.date} is refused for ${job.name}: the latest business date it runs for now is ${latest}`);
  }
  const runner = new JobRunner({ db: database.db, connectionString: database.connectionString, clocks: services.deps.clocks, log });
  const outcome = await runner.run({ job, trigger: 'MANUAL', businessDate: values.date, params: values.agency ? { agencyCode: values.agency } : {}, lockWaitMs: JOB_LOCK_WAIT_MS });
  io.out(outcome);
  if (outcome.outcome === 'FAILED') {
    io.err(`job ${job.name} failed: ${outcome.error}`);
    return 1;
  }
  if (outcome.outcome === 'LOCKED') {
    io.err(`job ${job.name} is still running elsewhere after ${JOB_LOCK_WAIT_MS / 1000} s`);
    return 1;
  }
  return 0;
}
