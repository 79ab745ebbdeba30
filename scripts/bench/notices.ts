/**
 * `bench:notices` (docs/quality.md §1): signed `POST /v1/unit/notices`, 3 items, payer id number and
 * mobile encrypted; target ≥ 0.35 Y (a defect below 0.15 Y), where Y is the write yardstick of
 * docs/quality.md §1 measured on the same server before and after the load (scripts/bench/lib.ts);
 * BENCH_REQUESTS ≥ 20,000 for a judged run. One unit issues every notice (each with its own bizRef);
 * requests are signed before the clock starts. Diagnostics in the same run: bare Koa requests/s,
 * and pgbench running the statements one creation sends (serial and items read, which stores the
 * request's nonce on its way — decision 0009 — then the notice-with-lines insert, which also
 * snapshots the shared lines' sharing-rule shares).
 */
import crypto from 'node:crypto';
import { Client } from 'pg';
import { nonceClaimCte } from '../../src/db/repositories/requestNonces';
import { buildWorld, CONCURRENCY_MAX, drive, driveSignedInChunks, envInteger, koaBaseline, machine, noticeBody, pgbench, prepare, printTable, ratioTo, REQUESTS_MAX, requirePgbench, runRow, serverCounters, settleStatistics, sm2VerifyBaseline, startTarget, workPerOperation, writeResult, yardstick, yardstickRun } from './lib';
import { serviceCpuMs } from './payLib';

/** docs/quality.md §1: ≥ 0.35 Y; a defect below 0.15 Y. */
const TARGET_Y_RATIO = 0.35;
const DEFECT_Y_RATIO = 0.15;

/** The three statements of one notice creation, with pgbench variables for what varies. */
async function creationScript(databaseUrl: string, unitCode: string, itemCodes: string[]): Promise<string> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('CREATE SEQUENCE IF NOT EXISTS bench_pgbench_seq');
    const unit = await client.query<{ id: string }>("SELECT id::text AS id FROM parties WHERE role = 'unit' AND code = $1", [unitCode]);
    const sequence = await client.query<{ relname: string }>("SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE 'pay_code_serial_150102_%_1' LIMIT 1");
    const items = await client.query<Record<string, unknown>>('SELECT id::text AS id, version, code, name, income_sort_code, budget_level, sharing_rule_code, receiving_account_no, pricing_type, fixed_amount::text, min_amount::text, max_amount::text, late_fee_type, rate_per_day::text, cap_ratio::text FROM items WHERE code = ANY($1) ORDER BY code', [itemCodes]);
    const unitId = unit.rows[0]?.id;
    const sequenceName = sequence.rows[0]?.relname;
    if (!unitId || !sequenceName) throw new Error('the world is not built');
    const lines = JSON.stringify(
      items.rows.map((item, position) => ({
        position, item_id: item.id, item_version: item.version, item_code: item.code, item_name: item.name, income_sort_code: item.income_sort_code,
        budget_level: item.budget_level, sharing_rule_code: item.sharing_rule_code, receiving_account_no: item.receiving_account_no, quantity: 1,
        amount: item.fixed_amount ?? item.min_amount, pricing_type: item.pricing_type, fixed_amount: item.fixed_amount, min_amount: item.min_amount,
        max_amount: item.max_amount, late_fee_type: item.late_fee_type, rate_per_day: item.rate_per_day, cap_ratio: item.cap_ratio,
      })),
    )
      // pgbench reads ":name" as a variable: a space after each JSON colon keeps it JSON.
      .replace(/":/g, '": ')
      .replace(/'/g, "''");
    // As long as a real token; no colon, for the same reason.
    const cipher = `v1_${crypto.randomBytes(64).toString('base64')}`;
    const nonceClaim = nonceClaimCte({ appId: "'pgbench'", nonce: "'pgb' || :client_id || '-' || :nonce", seenAt: 'now()', reusableAtOrBefore: "(now() - interval '15 minutes')" });
    return `\\set nonce random(1, 9000000000000000)
WITH ${nonceClaim}
SELECT s.serial::text AS serial, (ui.item_code IS NOT NULL) AS authorized, i.*, (SELECT count(*) FROM nonce_claim)::int AS nonce_claimed
  FROM (SELECT nextval('${sequenceName}'::regclass) AS serial) s
  LEFT JOIN items i ON i.code = ANY('{${itemCodes.join(',')}}'::text[])
  LEFT JOIN unit_items ui ON ui.unit_party_id = ${unitId}::bigint AND ui.item_code = i.code;
WITH seq AS (SELECT nextval('bench_pgbench_seq') AS n),
notice_key AS (
  INSERT INTO notice_keys (unit_party_id, biz_ref, request_hash, notice_id, created_at)
  SELECT ${unitId}, 'PGB-' || seq.n, '${'0'.repeat(64)}', nextval('notices_id_seq'), now() FROM seq
  ON CONFLICT (unit_party_id, biz_ref) DO NOTHING RETURNING notice_id, biz_ref
), notice AS (
  INSERT INTO notices (id, pay_code, unit_party_id, unit_code, unit_name, region_code, biz_ref, notice_type, status, payer_name,
                       payer_id_number_encrypted, payer_id_number_masked, payer_mobile_encrypted, payer_mobile_masked,
                       total_amount, due_date, expire_date, remark, created_at, updated_at)
  SELECT notice_key.notice_id, lpad(notice_key.notice_id::text, 20, '8'), ${unitId}, '${unitCode}', '基准', '150102', notice_key.biz_ref, 1, 'ISSUED', '张三',
         '${cipher}', '150102********1238', '${cipher}', '138****5678', 0, '2099-12-31', NULL, NULL, now(), now()
    FROM notice_key RETURNING id
), lines AS (
  INSERT INTO notice_items (notice_id, position, item_id, item_version, item_code, item_name, income_sort_code, budget_level, sharing_rule_code,
                            receiving_account_no, quantity, amount, pricing_type, fixed_amount, min_amount, max_amount, late_fee_type, rate_per_day, cap_ratio)
  SELECT notice.id, line.position, line.item_id, line.item_version, line.item_code, line.item_name, line.income_sort_code, line.budget_level,
         line.sharing_rule_code, line.receiving_account_no, line.quantity, line.amount, line.pricing_type, line.fixed_amount, line.min_amount,
         line.max_amount, line.late_fee_type, line.rate_per_day, line.cap_ratio
    FROM notice CROSS JOIN json_to_recordset('${lines}'::json) AS line(position smallint, item_id bigint, item_version integer, item_code text,
         item_name text, income_sort_code text, budget_level smallint, sharing_rule_code text, receiving_account_no text, quantity integer,
         amount numeric, pricing_type text, fixed_amount numeric, min_amount numeric, max_amount numeric, late_fee_type text, rate_per_day numeric, cap_ratio numeric)
  RETURNING notice_id, position, sharing_rule_code
), shares AS (
  INSERT INTO notice_item_shares (notice_id, line_position, position, budget_level, ratio)
  SELECT lines.notice_id, lines.position, s.position, s.budget_level, s.ratio
    FROM lines JOIN sharing_rules r ON r.code = lines.sharing_rule_code JOIN sharing_rule_shares s ON s.sharing_rule_id = r.id
  RETURNING line_position
)
SELECT notice.id::text AS id, (SELECT count(*) FROM lines)::int AS line_count,
       (SELECT count(DISTINCT line_position) FROM shares)::int AS shared_line_count FROM notice;
`;
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const requests = envInteger('BENCH_REQUESTS', 20_000, 1, REQUESTS_MAX);
  const concurrency = envInteger('BENCH_CONCURRENCY', 32, 1, CONCURRENCY_MAX);
  const warmup = envInteger('BENCH_WARMUP', 1_000, 0, REQUESTS_MAX);
  const pgbenchSeconds = envInteger('BENCH_PGBENCH_SECONDS', 10, 1, 300);
  const run = crypto.randomBytes(4).toString('hex');
  requirePgbench();
  const target = await startTarget();
  try {
    const world = await buildWorld(target);
    const sign = (label: string, count: number) => Array.from({ length: count }, (_, index) => prepare(world.unit, 'POST', '/v1/unit/notices', noticeBody(world, `${label}-${run}-${index}`)));

    const warm = warmup > 0 ? await drive(target.baseUrl, sign('W', warmup), concurrency) : undefined;
    const sm2Before = sm2VerifyBaseline();
    // Signed in chunks that the service answers within about half of a signature's 300 s window at
    // the warm-up's pace, the clock stopped while each is signed (contracts/decisions/0165-hot-path-measured.md).
    const chunkSize = envInteger('BENCH_CHUNK', warm ? Math.max(1_000, Math.min(requests, Math.floor(warm.throughputPerSecond * 120))) : requests, 1, REQUESTS_MAX);
    let signingMs = 0;
    const signChunk = (from: number, to: number) => {
      const signedAt = performance.now();
      const chunk = Array.from({ length: to - from }, (_, offset) => prepare(world.unit, 'POST', '/v1/unit/notices', noticeBody(world, `N-${run}-${from + offset}`)));
      signingMs += Math.round(performance.now() - signedAt);
      return chunk;
    };
    const yBefore = await yardstickRun(target.databaseUrl, 'write');
    const servicePort = Number(new URL(target.baseUrl).port);
    const pgPort = Number(new URL(target.databaseUrl).port);
    await settleStatistics();
    const countersBefore = await serverCounters(target.databaseUrl);
    const cpuBefore = serviceCpuMs(servicePort, pgPort);
    const service = await driveSignedInChunks(target.baseUrl, requests, chunkSize, signChunk, concurrency);
    const cpuAfter = serviceCpuMs(servicePort, pgPort);
    await settleStatistics();
    const work = workPerOperation(countersBefore, await serverCounters(target.databaseUrl), requests);
    // A run in which any creation failed is not a valid result; it is still written, marked, so that
    // an overloaded machine's run shows what happened, and the process exits non-zero (as bench:pay).
    const valid = (service.statuses['201'] ?? 0) === requests;
    const y = yardstick('write', yBefore, await yardstickRun(target.databaseUrl, 'write'));
    const ratio = ratioTo(service.throughputPerSecond, y);
    const cpu = { nodeMsPerNotice: Math.round(((cpuAfter.node - cpuBefore.node) / requests) * 1000) / 1000, postgresMsPerNotice: Math.round(((cpuAfter.postgres - cpuBefore.postgres) / requests) * 1000) / 1000 };

    const koa = await koaBaseline(Math.max(requests, 20_000), concurrency);
    const raw = await pgbench(target.databaseUrl, await creationScript(target.databaseUrl, world.unit.code, Object.values(world.itemCodes)), concurrency, pgbenchSeconds);

    const result = {
      benchmark: 'notices',
      valid,
      ...(valid ? {} : { invalid: { statuses: service.statuses } }),
      date: new Date().toISOString(),
      machine: machine(),
      layout: target.layout,
      load: `signed POST /v1/unit/notices from one unit, 3 items each, payer id number and mobile encrypted; ${requests} requests pre-signed (${signingMs} ms, in chunks of ${chunkSize}, each before its clock started) after ${warmup} warm-up requests`,
      goals: { yRatio: TARGET_Y_RATIO, defectBelowYRatio: DEFECT_Y_RATIO },
      summary: { perSecond: service.throughputPerSecond, y: y.transactionsPerSecond, ratio, p50Ms: service.latencyMs.p50, p99Ms: service.latencyMs.p99, nodeCpuMsPerNotice: cpu.nodeMsPerNotice, postgresCpuMsPerNotice: cpu.postgresMsPerNotice, walBytesPerNotice: work.walBytes, indexEntriesPerNotice: work.indexEntries },
      yardstick: y,
      service,
      cpu,
      serverWorkPerNotice: work,
      baselines: {
        sm2Verify: { before: sm2Before, after: sm2VerifyBaseline(), what: 'one precomputed SM2 request verification in the benchmark process, just before and just after the service run' },
        koa: { ...koa, what: 'bare Koa + router, one process, small JSON GET, same concurrency; by the same driver and by autocannon' },
        pgbench: raw === null ? null : { ...raw, what: 'pgbench -M extended: the two statements of one creation (serial + items read storing the nonce, notice + lines insert), autocommit' },
      },
      ratios: {
        serviceToKoa: Math.round((service.throughputPerSecond / koa.sameDriver.throughputPerSecond) * 1000) / 1000,
        serviceToPgbench: raw === null ? null : Math.round((service.throughputPerSecond / raw.transactionsPerSecond) * 1000) / 1000,
      },
      meetsTarget: ratio >= TARGET_Y_RATIO,
      verdict: ratio >= TARGET_Y_RATIO ? 'met' : ratio < DEFECT_Y_RATIO ? 'defect' : 'missed',
    };
    const file = writeResult('notices', result);
    if (!valid) {
      process.stdout.write(`\nNOT A VALID RUN: not every creation answered 201: ${JSON.stringify(service.statuses)}\n`);
      process.exitCode = 1;
    }
    printTable(`bench:notices — ${target.layout}`, [
      { ...runRow('service: POST /v1/unit/notices', service), 'ratio to Y': ratio },
      { run: 'Y (docs/quality.md §1), mean', 'req/s': y.transactionsPerSecond, 'p50 ms': `before ${y.before.transactionsPerSecond}`, 'p99 ms': `after ${y.after.transactionsPerSecond}` },
      runRow('baseline: bare Koa GET (same driver)', koa.sameDriver),
      ...(koa.autocannon === null ? [] : [{ run: 'baseline: bare Koa GET (autocannon)', concurrency, 'req/s': koa.autocannon.requestsPerSecond, 'p50 ms': koa.autocannon.latencyMs.p50, 'p99 ms': koa.autocannon.latencyMs.p99 }]),
      ...(raw === null ? [] : [{ run: 'baseline: pgbench (same statements)', concurrency: raw.clients, 'req/s': raw.transactionsPerSecond, 'p50 ms': '', 'p95 ms': '', 'p99 ms': '', 'avg ms': raw.latencyMsAverage ?? '' }]),
    ]);
    process.stdout.write(`\nCPU per notice: node ${cpu.nodeMsPerNotice} ms + PostgreSQL ${cpu.postgresMsPerNotice} ms; ${work.walBytes} WAL bytes, ≈ ${work.indexEntries} index entries`);
    process.stdout.write(`\nservice / Y = ${ratio} (target ≥ ${TARGET_Y_RATIO}): ${result.verdict}; service/pgbench (own statements) = ${result.ratios.serviceToPgbench}; written to ${file}\n`);
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
