/**
 * `bench:startup` (docs/quality.md §1): `npm start`'s command on an installed checkout (the
 * compiled dist/src/main.js with the start script's node flags, read from package.json), from the
 * spawn to the first `GET /readyz` 200 — the first start on an empty data directory (initdb,
 * server start, database, migrations, generated keys, HTTP workers) and a second start on the same
 * data. Target ≤ 15 s for the first start; a defect above 30 s.
 *
 * After each start has answered, the service is left idle for BENCH_STARTUP_IDLE_MS (default
 * 6,000) and the resident memory of each of its Node.js processes — the main process and every
 * HTTP worker, not PostgreSQL — is read from VmRSS in /proc/<pid>/status. Target ≤ 90 MB each
 * (contracts/decisions/0079-idle-memory.md).
 *
 * Baselines in the same run: the embedded PostgreSQL alone (the service's own EmbeddedPostgres
 * class: initdb and start, then a start on the initialised cluster), and node starting a bare Koa
 * server to its first answer through the same TypeScript loader. BENCH_STARTUP_RUNS (default 3)
 * fresh data directories each; the median is reported.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { envInteger, freePort, machine, printTable, ROOT, writeResult } from './lib';

const TARGET_FIRST_START_MS = 15_000;
const DEFECT_FIRST_START_MS = 30_000;
const READY_TIMEOUT_MS = 120_000;
const TARGET_IDLE_RSS_KB = 90 * 1024;
const POLL_MS = 25;

function freshDataDir(): string {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-startup-'));
  fs.chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user and must enter it
  return dataDir;
}

/** `npm start`'s command as node arguments: the start script less its `exec node`. */
function startArguments(): string[] {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const words = (scripts.start ?? '').trim().split(/\s+/);
  if (words[0] === 'exec') words.shift();
  if (words.shift() !== 'node') throw new Error(`the start script is not a node command: ${scripts.start}`);
  return words;
}

/** Spawns `node args…` and times it to the first 200 on `probePath`. */
async function timeToFirstAnswer(args: string[], env: Record<string, string>, probePath: string): Promise<{ ms: number; child: ChildProcess }> {
  const script = args[args.length - 1] as string;
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' };
  delete childEnv.DATABASE_URL;
  const startedMs = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${path.basename(script)} ended (${child.exitCode ?? child.signalCode}) before answering`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}${probePath}`)).status === 200) return { ms: Math.round(performance.now() - startedMs), child };
      } catch {
        // not listening yet
      }
      if (performance.now() - startedMs > READY_TIMEOUT_MS) throw new Error(`${path.basename(script)} did not answer within ${READY_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch (error) {
    // Leave nothing running behind a failed run (the service stops its PostgreSQL on SIGTERM).
    await stopChild(child);
    throw error;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

interface ProcessMemory {
  role: 'main' | 'http-worker';
  rssKb: number;
}

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** The resident memory of the service's Node.js processes (its children that run node), after idling. */
async function idleMemory(child: ChildProcess, idleMs: number): Promise<ProcessMemory[]> {
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const main = child.pid as number;
  const children = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(main)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, command]) => pid && command === 'node')
    .map(([pid]) => Number(pid));
  return [{ role: 'main', rssKb: rssKb(main) }, ...children.map((pid) => ({ role: 'http-worker' as const, rssKb: rssKb(pid) }))];
}

interface ServiceRun {
  firstMs: number;
  secondMs: number;
  firstIdle: ProcessMemory[];
  secondIdle: ProcessMemory[];
}

async function serviceStarts(idleMs: number): Promise<ServiceRun> {
  const dataDir = freshDataDir();
  try {
    const env = { TONGFU_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    const args = startArguments();
    const first = await timeToFirstAnswer(args, env, '/readyz');
    const firstIdle = await idleMemory(first.child, idleMs);
    await stopChild(first.child);
    const second = await timeToFirstAnswer(args, env, '/readyz');
    const secondIdle = await idleMemory(second.child, idleMs);
    await stopChild(second.child);
    return { firstMs: first.ms, secondMs: second.ms, firstIdle, secondIdle };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function embeddedStarts(): Promise<{ firstMs: number; secondMs: number }> {
  const dataDir = freshDataDir();
  const timeStart = async (): Promise<number> => {
    const embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'warn' }), durable: true, reuseLiveServer: false });
    const startedMs = performance.now();
    await embedded.start();
    const ms = Math.round(performance.now() - startedMs);
    await embedded.stop();
    return ms;
  };
  try {
    return { firstMs: await timeStart(), secondMs: await timeStart() };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

async function main(): Promise<void> {
  const runs = envInteger('BENCH_STARTUP_RUNS', 3, 1, 20);
  const idleMs = envInteger('BENCH_STARTUP_IDLE_MS', 6_000, 0, 600_000);
  // What npm start would run: dist/ built from the current sources (npm start's prestart).
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js'), '--if-stale'], { stdio: 'inherit' });
  const service: ServiceRun[] = [];
  const embedded: Array<{ firstMs: number; secondMs: number }> = [];
  const koa: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    process.stderr.write(`bench:startup — run ${run + 1} of ${runs}\n`);
    service.push(await serviceStarts(idleMs));
    embedded.push(await embeddedStarts());
    const bare = await timeToFirstAnswer([path.join(ROOT, 'scripts', 'run.js'), path.join(__dirname, 'koaHello.ts')], {}, '/hello');
    await stopChild(bare.child);
    koa.push(bare.ms);
  }
  const firstMs = median(service.map((s) => s.firstMs));
  const idle = service.flatMap((s) => [...s.firstIdle, ...s.secondIdle]);
  const maxIdleKb = (role: ProcessMemory['role']): number => Math.max(...idle.filter((p) => p.role === role).map((p) => p.rssKb));
  const result = {
    benchmark: 'startup',
    date: new Date().toISOString(),
    machine: machine(),
    load: `${runs} fresh data directories; npm start's command (node ${startArguments().join(' ')}, its default HTTP workers) on the embedded PostgreSQL (fsync on), timed from the spawn to the first GET /readyz 200, left idle ${idleMs} ms and its processes' VmRSS read, then stopped with SIGTERM and started again on the same data`,
    targetFirstStartMs: TARGET_FIRST_START_MS,
    targetIdleRssKb: TARGET_IDLE_RSS_KB,
    service: { firstStartMs: service.map((s) => s.firstMs), secondStartMs: service.map((s) => s.secondMs), medianFirstMs: firstMs, medianSecondMs: median(service.map((s) => s.secondMs)) },
    idleRss: {
      idleMs,
      afterFirstStart: service.map((s) => s.firstIdle),
      afterSecondStart: service.map((s) => s.secondIdle),
      maxMainKb: maxIdleKb('main'),
      maxHttpWorkerKb: idle.some((p) => p.role === 'http-worker') ? maxIdleKb('http-worker') : null,
    },
    baselines: {
      embeddedPostgres: { firstStartMs: embedded.map((e) => e.firstMs), secondStartMs: embedded.map((e) => e.secondMs), medianFirstMs: median(embedded.map((e) => e.firstMs)), medianSecondMs: median(embedded.map((e) => e.secondMs)), what: 'the service\'s EmbeddedPostgres class alone, in this process: initdb and start (then a start on the initialised cluster) to the tongfu database accepting connections' },
      bareKoa: { ms: koa, medianMs: median(koa), what: 'node scripts/run.js koaHello.ts to its first 200: node, the TypeScript loader and Koa, nothing else' },
    },
    meetsTarget: firstMs <= TARGET_FIRST_START_MS,
    meetsIdleRssTarget: idle.every((p) => p.rssKb <= TARGET_IDLE_RSS_KB),
  };
  const file = writeResult('startup', result);
  printTable('bench:startup — spawn to the first 200 (median of the runs)', [
    { run: 'service: first start (empty data directory)', 'median ms': firstMs, 'each run ms': service.map((s) => s.firstMs).join(' / '), target: `≤ ${TARGET_FIRST_START_MS} (defect > ${DEFECT_FIRST_START_MS})` },
    { run: 'service: second start (same data)', 'median ms': result.service.medianSecondMs, 'each run ms': service.map((s) => s.secondMs).join(' / '), target: '' },
    { run: 'baseline: embedded PostgreSQL first start (initdb)', 'median ms': result.baselines.embeddedPostgres.medianFirstMs, 'each run ms': embedded.map((e) => e.firstMs).join(' / '), target: '' },
    { run: 'baseline: embedded PostgreSQL second start', 'median ms': result.baselines.embeddedPostgres.medianSecondMs, 'each run ms': embedded.map((e) => e.secondMs).join(' / '), target: '' },
    { run: 'baseline: bare Koa', 'median ms': result.baselines.bareKoa.medianMs, 'each run ms': koa.join(' / '), target: '' },
  ]);
  printTable(`bench:startup — idle resident memory (VmRSS) ${idleMs} ms after ready, MB`, [
    { process: 'main', 'largest MB': (result.idleRss.maxMainKb / 1024).toFixed(1), 'each start MB': idle.filter((p) => p.role === 'main').map((p) => (p.rssKb / 1024).toFixed(1)).join(' / '), target: '≤ 90' },
    { process: 'HTTP workers', 'largest MB': result.idleRss.maxHttpWorkerKb === null ? '-' : (result.idleRss.maxHttpWorkerKb / 1024).toFixed(1), 'each start MB': idle.filter((p) => p.role === 'http-worker').map((p) => (p.rssKb / 1024).toFixed(1)).join(' / '), target: '≤ 90' },
  ]);
  process.stdout.write(`\nidle RSS: target ≤ 90 MB per process ${result.meetsIdleRssTarget ? 'met' : 'NOT met'}`);
  process.stdout.write(`\nfirst start ${firstMs} ms: target ≤ ${TARGET_FIRST_START_MS} ms ${result.meetsTarget ? 'met' : 'NOT met'}; written to ${path.relative(process.cwd(), file)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
