/**
 * `bench:verify` (docs/quality.md §1): signed `GET /v1/agency/notices/{payCode}`; target ≥ 2,500/s with
 * p99 ≤ 30 ms. One agency verifies, round-robin, notices that one unit issued through the API
 * before the clock starts; requests are signed beforehand. Baselines in the same run: bare Koa
 * requests/s, and pgbench running the statement one verification sends (the notice with its lines
 * by payCode, storing the request's nonce on its way: decision 0009).
 */
import { Client } from 'pg';
import { FIND_NOTICES_STORING_NONCES_SQL } from '../../src/db/repositories/notices';
import { NONCE_REUSE_WINDOW_MS } from '../../src/services/nonces';
import { buildWorld, CONCURRENCY_MAX, drive, envInteger, koaBaseline, machine, noticeBody, pgbench, prepare, printTable, ratioTo, REQUESTS_MAX, requirePgbench, runRow, sm2VerifyBaseline, startTarget, writeResult, yardstick, yardstickRun } from './lib';
import { serviceCpuMs } from './payLib';

/** docs/quality.md §1: ≥ 0.10 Y_r; a defect below 0.05 Y_r. */
const TARGET_YR_RATIO = 0.1;
const DEFECT_YR_RATIO = 0.05;

/** The statements of one verification; `bench_verify_codes` maps 1…n to the notices' codes. */
async function verificationScript(databaseUrl: string, payCodes: string[]): Promise<string> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('DROP TABLE IF EXISTS bench_verify_codes');
    await client.query('CREATE TABLE bench_verify_codes (i integer PRIMARY KEY, pay_code text NOT NULL)');
    await client.query('INSERT INTO bench_verify_codes (i, pay_code) SELECT ordinality, code FROM unnest($1::text[]) WITH ORDINALITY AS t(code, ordinality)', [payCodes]);
  } finally {
    await client.end();
  }
  // The service's statement for a batch of one verification (decision 0173): its dearest use per verification.
  const one = (expression: string, type: string) => `ARRAY[${expression}]::${type}[]`;
  const statement = FIND_NOTICES_STORING_NONCES_SQL.replace(/@app_ids::text\[\]/, one("'pgbench'", 'text'))
    .replace(/@nonces::text\[\]/, one("'pgv' || :client_id || '-' || :nonce", 'text'))
    .replace(/@seen_ats::timestamptz\[\]/, one('now()', 'timestamptz'))
    .replace(/@signed_ats::timestamptz\[\]/, one('now()', 'timestamptz'))
    .replace(/@pay_codes::text\[\]/, one('(SELECT pay_code FROM bench_verify_codes WHERE i = :i)', 'text'))
    .replace(/@reuse_window_ms/, String(NONCE_REUSE_WINDOW_MS));
  if (statement.includes('@')) throw new Error(`the verification statement has parameters this script does not fill: ${statement}`);
  return `\\set nonce random(1, 9000000000000000)
\\set i random(1, ${payCodes.length})
${statement.replace(/\s+/g, ' ')};
`;
}

async function main(): Promise<void> {
  const requests = envInteger('BENCH_REQUESTS', 20_000, 1, REQUESTS_MAX);
  const concurrency = envInteger('BENCH_CONCURRENCY', 32, 1, CONCURRENCY_MAX);
  const warmup = envInteger('BENCH_WARMUP', 2_000, 0, REQUESTS_MAX);
  const noticeCount = envInteger('BENCH_NOTICES', 2_000, 1, 100_000);
  const pgbenchSeconds = envInteger('BENCH_PGBENCH_SECONDS', 10, 1, 300);
  requirePgbench();
  const target = await startTarget();
  try {
    const world = await buildWorld(target);
    const payCodes: string[] = [];
    // Setting up, not measured: a notice refused 503 (a pool opening its connections on a loaded
    // machine, contracts/decisions/0165-hot-path-measured.md) is issued again, freshly signed.
    let missing = Array.from({ length: noticeCount }, (_, index) => index);
    for (let round = 0; round < 3 && missing.length > 0; round += 1) {
      const issue = missing.map((index) => prepare(world.unit, 'POST', '/v1/unit/notices', noticeBody(world, `V-${index}`)));
      const failed: number[] = [];
      await drive(target.baseUrl, issue, concurrency, (position, status, body) => {
        if (status === 201) payCodes.push((JSON.parse(body.toString('utf8')) as { payCode: string }).payCode);
        else failed.push(missing[position] as number);
      });
      missing = failed;
    }
    if (payCodes.length !== noticeCount) throw new Error(`issued ${payCodes.length} of ${noticeCount} notices`);
    const sign = (count: number, offset: number) => Array.from({ length: count }, (_, index) => prepare(world.agency, 'GET', `/v1/agency/notices/${payCodes[(offset + index) % payCodes.length]}`));

    await drive(target.baseUrl, sign(warmup, 0), concurrency);
    const sm2Before = sm2VerifyBaseline();
    const signedAt = performance.now();
    const load = sign(requests, warmup);
    const signingMs = Math.round(performance.now() - signedAt);
    const servicePort = Number(new URL(target.baseUrl).port);
    const pgPort = Number(new URL(target.databaseUrl).port);
    const yrBefore = await yardstickRun(target.databaseUrl, 'read');
    const cpuBefore = serviceCpuMs(servicePort, pgPort);
    const driverBefore = process.cpuUsage();
    const service = await drive(target.baseUrl, load, concurrency);
    const driverUsage = process.cpuUsage(driverBefore);
    const cpuAfter = serviceCpuMs(servicePort, pgPort);
    const yr = yardstick('read', yrBefore, await yardstickRun(target.databaseUrl, 'read'));
    const ratio = ratioTo(service.throughputPerSecond, yr);
    const perRequest = (ms: number) => Math.round((ms / requests) * 1000) / 1000;
    const cpu = {
      nodeMsPerRequest: perRequest(cpuAfter.node - cpuBefore.node),
      postgresMsPerRequest: perRequest(cpuAfter.postgres - cpuBefore.postgres),
      loadDriverMsPerRequest: perRequest((driverUsage.user + driverUsage.system) / 1000),
      what: "CPU time (utime+stime) per verification of the service's node processes, of every PostgreSQL process, and of this benchmark's load driver: independent of what else the machine runs",
    };
    if ((service.statuses['200'] ?? 0) !== requests) throw new Error(`not every verification answered 200: ${JSON.stringify(service.statuses)}`);

    const koa = await koaBaseline(Math.max(requests, 20_000), concurrency);
    const raw = await pgbench(target.databaseUrl, await verificationScript(target.databaseUrl, payCodes), concurrency, pgbenchSeconds, 'prepared');

    const result = {
      benchmark: 'verify',
      date: new Date().toISOString(),
      machine: machine(),
      layout: target.layout,
      load: `signed GET /v1/agency/notices/{payCode} from one agency over ${noticeCount} notices of 3 items (round-robin); ${requests} requests pre-signed (${signingMs} ms) after ${warmup} warm-up requests`,
      goals: { yrRatio: TARGET_YR_RATIO, defectBelowYrRatio: DEFECT_YR_RATIO },
      summary: { perSecond: service.throughputPerSecond, yR: yr.transactionsPerSecond, ratio, p50Ms: service.latencyMs.p50, p99Ms: service.latencyMs.p99, nodeCpuMsPerRequest: cpu.nodeMsPerRequest, postgresCpuMsPerRequest: cpu.postgresMsPerRequest },
      yardstick: yr,
      service,
      cpu,
      baselines: {
        sm2Verify: { before: sm2Before, after: sm2VerifyBaseline(), what: 'one precomputed SM2 request verification in the benchmark process, just before and just after the service run' },
        koa: { ...koa, what: 'bare Koa + router, one process, small JSON GET, same concurrency; by the same driver and by autocannon' },
        pgbench: raw === null ? null : { ...raw, what: 'pgbench -M prepared (as the service runs it): the statement of one verification (the notice with its lines by payCode, storing the nonce), autocommit' },
      },
      ratios: {
        serviceToKoa: Math.round((service.throughputPerSecond / koa.sameDriver.throughputPerSecond) * 1000) / 1000,
        serviceToPgbench: raw === null ? null : Math.round((service.throughputPerSecond / raw.transactionsPerSecond) * 1000) / 1000,
      },
      meetsTarget: ratio >= TARGET_YR_RATIO,
      verdict: ratio >= TARGET_YR_RATIO ? 'met' : ratio < DEFECT_YR_RATIO ? 'defect' : 'missed',
    };
    const file = writeResult('verify', result);
    printTable(`bench:verify — ${target.layout}`, [
      { ...runRow('service: GET /v1/agency/notices/{payCode}', service), 'ratio to Y_r': ratio },
      { run: 'Y_r (docs/quality.md §1), mean', 'req/s': yr.transactionsPerSecond, 'p50 ms': `before ${yr.before.transactionsPerSecond}`, 'p99 ms': `after ${yr.after.transactionsPerSecond}` },
      runRow('baseline: bare Koa GET (same driver)', koa.sameDriver),
      ...(koa.autocannon === null ? [] : [{ run: 'baseline: bare Koa GET (autocannon)', concurrency, 'req/s': koa.autocannon.requestsPerSecond, 'p50 ms': koa.autocannon.latencyMs.p50, 'p99 ms': koa.autocannon.latencyMs.p99 }]),
      ...(raw === null ? [] : [{ run: 'baseline: pgbench (same statements)', concurrency: raw.clients, 'req/s': raw.transactionsPerSecond, 'p50 ms': '', 'p95 ms': '', 'p99 ms': '', 'avg ms': raw.latencyMsAverage ?? '' }]),
    ]);
    process.stdout.write(`\nCPU per verification: node ${cpu.nodeMsPerRequest} ms + PostgreSQL ${cpu.postgresMsPerRequest} ms (+ load driver ${cpu.loadDriverMsPerRequest} ms)`);
    process.stdout.write(`\nservice / Y_r = ${ratio} (target ≥ ${TARGET_YR_RATIO}): ${result.verdict}; service/pgbench (own statement) = ${result.ratios.serviceToPgbench}; written to ${file}\n`);
  } finally {
    await target.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
