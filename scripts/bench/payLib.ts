/**
 * What `bench:pay` adds to scripts/bench/lib.ts: notices made in bulk, the pgbench baseline of
 * the posting's own statements (with variables for what each transaction changes), and a summary
 * of V8 CPU profiles.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import type { CompiledStatement } from '../../src/db/statements';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { buildPayCode } from '../../src/domain/payCode';
import { findPgbench, npmStartArguments, pgbench, ROOT, type Target } from './lib';

/** Notices cloned per statement; 10,000 keep one statement's memory and WAL modest. */
const CLONE_BATCH_SIZE = 10_000;

/** Valid payCodes of the sandbox kind (9) in region 150102, year `yy`, serials first…first+count−1. */
export function benchPayCodes(year2: string, first: number, count: number): string[] {
  return Array.from({ length: count }, (_, index) => buildPayCode({ regionCode: '150102', year2, noticeType: '9', serial: first + index }));
}

/**
 * Copies the template notice (one issued through the API, so every column is exactly what the
 * service writes) once per payCode — the notice, its lines and its key — in set-based
 * statements. This is how the benchmark makes tens of thousands of notices in seconds; each
 * copy is an ISSUED notice of its own, indistinguishable to the posting from an issued one.
 */
export async function cloneNotices(databaseUrl: string, templatePayCode: string, payCodes: readonly string[]): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const template = await client.query<{ id: string }>('SELECT id::text AS id FROM notices WHERE pay_code = $1', [templatePayCode]);
    const templateId = template.rows[0]?.id;
    if (templateId === undefined) throw new Error(`template notice ${templatePayCode} not found`);
    for (let start = 0; start < payCodes.length; start += CLONE_BATCH_SIZE) {
      const batch = payCodes.slice(start, start + CLONE_BATCH_SIZE);
      const result = await client.query<{ notices: number; lines: number; keys: number }>(
        `WITH codes AS (SELECT code FROM unnest($1::text[]) AS c(code)),
         copies AS (
           INSERT INTO notices (pay_code, unit_party_id, unit_code, unit_name, region_code, biz_ref, notice_type, status, payer_name,
                                payer_id_number_encrypted, payer_id_number_masked, payer_mobile_encrypted, payer_mobile_masked,
                                total_amount, due_date, expire_date, remark, created_at, updated_at)
           SELECT codes.code, t.unit_party_id, t.unit_code, t.unit_name, t.region_code, 'BENCH-' || codes.code, t.notice_type, 'ISSUED', t.payer_name,
                  t.payer_id_number_encrypted, t.payer_id_number_masked, t.payer_mobile_encrypted, t.payer_mobile_masked,
                  t.total_amount, t.due_date, t.expire_date, t.remark, now(), now()
             FROM codes, notices t WHERE t.id = $2::bigint
           RETURNING id, unit_party_id, biz_ref
         ),
         lines AS (
           INSERT INTO notice_items (notice_id, position, item_id, item_version, item_code, item_name, income_sort_code, budget_level,
                                     sharing_rule_code, receiving_account_no, quantity, amount, pricing_type, fixed_amount, min_amount,
                                     max_amount, late_fee_type, rate_per_day, cap_ratio)
           SELECT copies.id, i.position, i.item_id, i.item_version, i.item_code, i.item_name, i.income_sort_code, i.budget_level,
                  i.sharing_rule_code, i.receiving_account_no, i.quantity, i.amount, i.pricing_type, i.fixed_amount, i.min_amount,
                  i.max_amount, i.late_fee_type, i.rate_per_day, i.cap_ratio
             FROM copies, notice_items i WHERE i.notice_id = $2::bigint
           RETURNING notice_id
         ),
         keys AS (
           INSERT INTO notice_keys (unit_party_id, biz_ref, request_hash, notice_id, created_at)
           SELECT copies.unit_party_id, copies.biz_ref, repeat('0', 64), copies.id, now() FROM copies
           RETURNING notice_id
         )
         SELECT (SELECT count(*) FROM copies)::int AS notices, (SELECT count(*) FROM lines)::int AS lines, (SELECT count(*) FROM keys)::int AS keys`,
        [batch, templateId],
      );
      const row = result.rows[0];
      if (!row || row.notices !== batch.length || row.keys !== batch.length) throw new Error(`cloned ${JSON.stringify(row)} of ${batch.length} notices`);
    }
    await client.query('ANALYZE notices, notice_items, notice_keys');
  } finally {
    await client.end();
  }
}

/**
 * A compiled statement as pgbench runs it: each `?` becomes `:name` (a pgbench variable, sent as
 * a parameter under -M prepared), renamed through `rename`, or the literal NULL for a name in
 * `nulls` (pgbench variables cannot be NULL).
 */
export function pgbenchText(statement: CompiledStatement, options: { rename?: Record<string, string>; nulls?: ReadonlySet<string> } = {}): string {
  let index = 0;
  return statement.knexText.replace(/\?/g, () => {
    const name = statement.parameters[index++] as string;
    if (options.nulls?.has(name)) return 'NULL';
    return `:${options.rename?.[name] ?? name}`;
  });
}

export interface PgbenchPayFigures {
  transactionsPerSecond: number;
  latencyMsAverage: number | null;
  clients: number;
  transactions: number;
  failed: number;
  protocol: string;
}

/** pgbench `-M prepared`, `-t` transactions per client, with string variables (-D). Null when pgbench is absent. */
export async function pgbenchWithVariables(databaseUrl: string, script: string, variables: Record<string, string>, clients: number, transactionsPerClient: number, options: { perStatement?: boolean } = {}): Promise<(PgbenchPayFigures & { output: string }) | null> {
  const binary = findPgbench();
  if (!binary) return null;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-pgbench-pay-'));
  const file = path.join(directory, 'posting.sql');
  fs.writeFileSync(file, script);
  const defines = Object.entries(variables).flatMap(([name, value]) => ['-D', `${name}=${value}`]);
  const args = ['-n', ...(options.perStatement ? ['-r'] : []), '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, os.availableParallelism())), '-t', String(transactionsPerClient), ...defines, '-f', file, databaseUrl];
  const output = await new Promise<string>((resolve, reject) => {
    execFile(binary, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`pgbench failed: ${stderr.slice(0, 4000) || error.message}`));
      else resolve(stdout);
    });
  }).finally(() => fs.rmSync(directory, { recursive: true, force: true }));
  const tps = /tps = ([0-9.]+)/.exec(output);
  const latency = /latency average = ([0-9.]+) ms/.exec(output);
  const processed = /number of transactions actually processed: ([0-9]+)/.exec(output);
  const failed = /number of failed transactions: ([0-9]+)/.exec(output);
  if (!tps) throw new Error(`pgbench printed no tps:\n${output}`);
  return {
    transactionsPerSecond: Math.round(Number(tps[1])),
    latencyMsAverage: latency ? Number(latency[1]) : null,
    clients,
    transactions: processed ? Number(processed[1]) : 0,
    failed: failed ? Number(failed[1]) : 0,
    protocol: 'pgbench -M prepared',
    output,
  };
}

// ---- CPU profiles --------------------------------------------------------------------------------

const PROFILED_READY_TIMEOUT_MS = 60_000;

/**
 * As lib.ts's startTarget, with the service's node started with `--cpu-prof` (which NODE_OPTIONS
 * may not carry): the HTTP workers inherit the flag from the main process through node:cluster, so
 * every process writes a .cpuprofile into `profileDir` when it exits.
 */
export async function startProfiledTarget(profileDir: string): Promise<Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-bench-'));
  fs.chmodSync(dataDir, 0o755);
  const embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'warn' }), durable: true, reuseLiveServer: false });
  const databaseUrl = await embedded.start();
  const port = await new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...npmStartArguments()], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, TONGFU_DATA_DIR: dataDir, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', PUBLIC_BASE_URL: 'http://bench.tongfu.test' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + PROFILED_READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode} during start`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the profiled service did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    baseUrl,
    databaseUrl,
    layout: 'npm start entry under node --cpu-prof (workers inherit it), embedded PostgreSQL (fsync on)',
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
      await embedded.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  /** Share of the profile's samples not idle. */
  busyMs: number;
  byArea: Array<{ area: string; selfMs: number; percentOfBusy: number }>;
  topFunctions: Array<{ function: string; where: string; selfMs: number; percentOfBusy: number }>;
}

/** Where a frame's code lives, in words an operator reads. */
function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)') return 'V8 / native (program)';
  if (url.includes('sm-crypto-v2') || url.includes('/src/crypto/sm')) return 'SM2/SM3 cryptography';
  if (url.includes('node_modules/pg') || url.includes('node_modules/pg-protocol') || url.includes('pg-types')) return 'pg driver';
  if (url.includes('node_modules/knex') || url.includes('node_modules/tarn')) return 'knex / pool';
  if (url.includes('node_modules/koa') || url.includes('@koa/router') || url.includes('node_modules/path-to-regexp')) return 'koa / router';
  if (url.includes('node_modules/pino') || url.includes('sonic-boom') || url.includes('fast-redact')) return 'logging (pino)';
  if (url.includes('node_modules/ajv')) return 'JSON schema validation (ajv)';
  if (url.includes('decimal.js')) return 'decimal.js';
  if (url.includes('prom-client')) return 'metrics (prom-client)';
  if (url.includes('/src/')) return 'tongfu code';
  if (url.startsWith('node:') || url === '') return 'node runtime (http, net, streams, JSON)';
  return 'other dependencies';
}

/** Self time per function and per area, from a .cpuprofile. */
export function summarizeCpuProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((nodeId, index) => {
    selfUs.set(nodeId, (selfUs.get(nodeId) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const byFunction = new Map<string, { function: string; where: string; selfUs: number }>();
  const byArea = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [nodeId, us] of selfUs) {
    const node = nodes.get(nodeId);
    if (!node) continue;
    totalUs += us;
    const area = areaOf(node.callFrame);
    if (area === 'idle') {
      idleUs += us;
      continue;
    }
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const where = `${node.callFrame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
    const key = `${node.callFrame.functionName}@${where}`;
    const entry = byFunction.get(key) ?? { function: node.callFrame.functionName || '(anonymous)', where, selfUs: 0 };
    entry.selfUs += us;
    byFunction.set(key, entry);
  }
  const busyUs = totalUs - idleUs;
  const percent = (us: number) => Math.round((us / Math.max(1, busyUs)) * 1000) / 10;
  return {
    file,
    sampledMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    byArea: [...byArea.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, selfMs: Math.round(us / 1000), percentOfBusy: percent(us) })),
    topFunctions: [...byFunction.values()]
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, top)
      .map((entry) => ({ function: entry.function, where: entry.where, selfMs: Math.round(entry.selfUs / 1000), percentOfBusy: percent(entry.selfUs) })),
  };
}

// ---- CPU time per process group ------------------------------------------------------------------

const CLOCK_TICKS_PER_SECOND = 100;

function readProc(pid: string, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of a process, in milliseconds (Linux /proc, 100 ticks a second); with
 * `reapedChildren`, also the CPU of its children that have exited (cutime + cstime) — how the
 * backends of finished connections (pgbench's) are still counted through the postmaster.
 */
function cpuMsOf(pid: string, reapedChildren = false): number {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]) + (reapedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * The CPU time used so far by the service's processes (node: the main process and its HTTP
 * workers, found by the PORT in their environment) and by the PostgreSQL server on `pgPort` (the
 * postmaster and every backend). CPU time, unlike throughput, does not depend on what else the
 * machine is running, so it says what one posting costs each side.
 */
export function serviceCpuMs(servicePort: number, pgPort: number): { node: number; postgres: number } {
  let node = 0;
  let postgres = 0;
  const pids = fs.readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name));
  const postmasters = new Set<string>();
  for (const pid of pids) {
    const cmdline = readProc(pid, 'cmdline')?.split('\0') ?? [];
    const portIndex = cmdline.indexOf('-p');
    if (cmdline[0]?.endsWith('/postgres') && portIndex >= 0 && cmdline[portIndex + 1] === String(pgPort)) postmasters.add(pid);
  }
  for (const pid of pids) {
    const stat = readProc(pid, 'stat');
    if (stat === undefined) continue;
    const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] as string;
    if (postmasters.has(pid) || postmasters.has(ppid)) {
      postgres += cpuMsOf(pid, postmasters.has(pid));
      continue;
    }
    const environ = readProc(pid, 'environ');
    if (environ !== undefined && environ.split('\0').includes(`PORT=${servicePort}`) && /main\.[jt]s\0/.test(readProc(pid, 'cmdline') ?? '')) node += cpuMsOf(pid);
  }
  return { node, postgres };
}

// ---- the reference machine's yardstick -----------------------------------------------------------

/** docs/quality.md §1: the reference machine's pgbench figure for the payment-shaped transaction below. */
export const REFERENCE_SHAPED_TPS = 6_000;

/**
 * The transaction docs/quality.md §1 calibrates its targets with — one payment insert, one notice
 * update, two ledger lines, one outbox row — on tables of its own, run by pgbench on the same
 * server in the same run. Its rate divided by the reference figure says how this machine compares
 * with the one the targets were set on, at the moment of the run (the figures drift on shared
 * machines). Null when pgbench is absent. The tables are dropped afterwards.
 */
export async function referenceShapedPgbench(databaseUrl: string, clients: number, seconds: number): Promise<{ transactionsPerSecond: number; referenceTransactionsPerSecond: number; machineFactor: number } | null> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const drop = 'DROP TABLE IF EXISTS bench_ref_outbox, bench_ref_ledger_lines, bench_ref_payments, bench_ref_notices';
  try {
    await client.query(drop);
    await client.query(`CREATE TABLE bench_ref_notices (id bigint PRIMARY KEY, status text NOT NULL, paid_at timestamptz, amount numeric(18,2) NOT NULL)`);
    await client.query(`INSERT INTO bench_ref_notices SELECT g, 'ISSUED', NULL, 100.00 FROM generate_series(1, 200000) AS g`);
    await client.query(`CREATE TABLE bench_ref_payments (id bigserial PRIMARY KEY, notice_id bigint NOT NULL REFERENCES bench_ref_notices, amount numeric(18,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE bench_ref_ledger_lines (id bigserial PRIMARY KEY, payment_id bigint NOT NULL REFERENCES bench_ref_payments, account text NOT NULL, side text NOT NULL, amount numeric(18,2) NOT NULL)`);
    await client.query(`CREATE TABLE bench_ref_outbox (id bigserial PRIMARY KEY, payload jsonb NOT NULL)`);
    await client.query('VACUUM ANALYZE bench_ref_notices');
    const raw = await pgbench(
      databaseUrl,
      `\\set notice random(1, 200000)
BEGIN;
INSERT INTO bench_ref_payments (notice_id, amount) VALUES (:notice, 100.00);
UPDATE bench_ref_notices SET status = 'PAID', paid_at = now() WHERE id = :notice;
INSERT INTO bench_ref_ledger_lines (payment_id, account, side, amount) VALUES (currval('bench_ref_payments_id_seq'), 'CLEARING', 'DEBIT', 100.00), (currval('bench_ref_payments_id_seq'), 'UNIT', 'CREDIT', 100.00);
INSERT INTO bench_ref_outbox (payload) VALUES ('{"type": "payment.succeeded"}');
COMMIT;
`,
      clients,
      seconds,
      'prepared',
    );
    if (raw === null) return null;
    return { transactionsPerSecond: raw.transactionsPerSecond, referenceTransactionsPerSecond: REFERENCE_SHAPED_TPS, machineFactor: Math.round((raw.transactionsPerSecond / REFERENCE_SHAPED_TPS) * 1000) / 1000 };
  } finally {
    await client.query(drop);
    await client.end();
  }
}
