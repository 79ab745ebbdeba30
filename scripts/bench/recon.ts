/**
 * `bench:recon` (docs/reconciliation.md §4, docs/quality.md §1): a generated TFS1 statement of
 * 1,000,000 lines against 1,000,000 posted payments, from upload to finished run; its same-run raw
 * baseline R; the peak RSS of the service's Node.js processes; and a 100,000-line run to check that
 * time is linear in lines. Targets: run ≤ 4 × R, peak RSS ≤ 256 MB, t(100k) ≤ 0.15 × t(1M) + 1 s.
 *
 * - The service: `npm start`'s entry on an embedded PostgreSQL of its own (scripts/bench/lib.ts), or
 *   BENCH_TARGET_URL + BENCH_DATABASE_URL.
 * - The payments are SEEDED BY SQL, not posted through the API (a million signed postings would
 *   take longer than everything else together): one notice issued through the unit API, cloned
 *   per payment (payLib.cloneNotices), then per chunk one statement that writes what a SUCCEEDED
 *   posting writes — payment (business date T), key, notice PAID with its lines' late fees,
 *   journal entry PAYMENT_SUCCEEDED with one credit per item (the entry succeededPaymentEntry
 *   builds). Left out on purpose: receipts (a million SM2 signatures, ≈ 7 min of CPU) and events;
 *   reconciliation reads neither. `ledger verify` runs over the seeded payments.
 * - The mix, per size N: N payments; the statement has a line for every payment except 1 % (the
 *   shortages), 0.1 % of those with an amount 1.00 lower (AMOUNT_MISMATCH), plus 1 % lines for
 *   notices never paid (the overages, backfilled as SUCCEEDED payments with receipts).
 * - R, in the same run: the same D lines `COPY`ed (pg-copy-streams, as `psql \copy` does) into an
 *   unlogged table, then one `INSERT … SELECT` joining them to the payments on
 *   (agency, agencyTxnId) into another unlogged table.
 * - The run: `POST /v1/agency/statements` (TFS1, signed), then finance's `GET
 *   /v1/finance/reconciliations?businessDate=&agencyCode=` polled every 100 ms until the run is no
 *   longer RUNNING; the agency's `GET /v1/agency/reconciliations/{businessDate}` (the run and its
 *   discrepancies) is read once after the clock stops. While it
 *   runs, the RSS of every Node.js process of the service is sampled; VmHWM (each process's peak)
 *   is read at the end. If the upload endpoint is not in this build (404/405), the result records
 *   the seeding and R only.
 *
 * Environment: BENCH_RECON_SIZES (default "100000,1000000"), BENCH_RECON_POLL_TIMEOUT_S (1800).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { runCli } from '../../src/cli/main';
import { signRequest } from '../../src/crypto/requestSigning';
import { formatInstant, shanghaiDate } from '../../src/domain/businessDate';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { buildWorld, type Credentials, machine, prepare, printTable, send, startTarget, writeResult } from './lib';
import { benchPayCodes, cloneNotices } from './payLib';

const NOTICE_AMOUNT = '300.00';
const SEED_CHUNK = 50_000;
const TARGET_RATIO = 4;
const TARGET_RSS_MB = 256;
/** How often the harness asks whether the run finished: the run's time is measured to within this. */
const RUN_POLL_MS = 100;

function seconds(fromMs: number): number {
  return Math.round((performance.now() - fromMs) / 10) / 100;
}

async function withClient<T>(databaseUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function registerAgency(baseUrl: string, finance: Credentials, clearingAccountNo: string): Promise<Credentials & { code: string }> {
  const pair = generateSm2KeyPair();
  const code = `RECON_${crypto.randomBytes(3).toString('hex').toUpperCase()}`;
  const response = await send(baseUrl, prepare(finance, 'POST', '/v1/finance/parties', { role: 'agency', code, name: `代收机构 ${code}`, publicKey: pair.publicKeyPem, clearingAccountNo }));
  if (response.status !== 201) throw new Error(`registering an agency failed: ${response.status} ${JSON.stringify(response.body)}`);
  return { appId: response.body.appId, keyId: response.body.keys[0].keyId, privateKey: { algorithm: 'SM2', privateKeyHex: pair.privateKeyHex }, code };
}

/**
 * The seeded payments of one chunk of notices: what a SUCCEEDED posting writes, set-based (see the
 * header for what is left out). `serial` in the agencyTxnId is the notice's serial.
 */
const SEED_PAYMENTS_SQL = `
WITH n AS (
  SELECT n.id, n.pay_code, n.total_amount, ltrim(substr(n.pay_code, 10, 9), '0') AS serial
    FROM notices n WHERE n.pay_code = ANY($1::text[])
),
p AS (
  INSERT INTO payments (id, payment_id, agency_party_id, agency_code, agency_txn_id, pay_code, notice_id, amount, paid_at, business_date,
                        channel, funds_captured, status, unapplied_reason, receipt_no, created_at, updated_at)
  SELECT nextval('payments_id_seq'), 'PRB' || $3 || n.serial, $2::bigint, $3, $3 || '-' || n.serial, n.pay_code, n.id, n.total_amount,
         $4::timestamptz, $5::date, 'MOBILE', false, 'SUCCEEDED', NULL, NULL, $6::timestamptz, $6::timestamptz
    FROM n
  RETURNING id, agency_txn_id, notice_id, pay_code, amount
),
k AS (
  INSERT INTO payment_keys (agency_party_id, agency_txn_id, request_hash, payment_id, pay_code, amount, created_at)
  SELECT $2::bigint, p.agency_txn_id, repeat('0', 64), p.id, p.pay_code, p.amount, $6::timestamptz FROM p
  RETURNING 1
),
paid AS (
  UPDATE notices SET status = 'PAID', paid_at = $4::timestamptz, paid_amount = p.amount, late_fee_paid = 0, updated_at = $6::timestamptz
    FROM p WHERE notices.id = p.notice_id
  RETURNING 1
),
paid_lines AS (
  UPDATE notice_items SET late_fee_paid = 0 FROM p WHERE notice_items.notice_id = p.notice_id
  RETURNING 1
),
e AS (
  INSERT INTO journal_entries (id, kind, accounting_date, payment_id, created_at)
  SELECT nextval('journal_entries_id_seq'), 'PAYMENT_SUCCEEDED', $7::date, p.id, $6::timestamptz FROM p
  RETURNING id, payment_id
),
l AS (
  INSERT INTO journal_lines (entry_id, line_no, account, side, amount)
  SELECT e.id, 1, 'agency_clearing:' || $3, 'DEBIT', p.amount FROM e JOIN p ON p.id = e.payment_id
  UNION ALL
  SELECT e.id, 1 + row_number() OVER (PARTITION BY e.id ORDER BY i.position), 'revenue_pending:' || i.receiving_account_no, 'CREDIT', i.amount
    FROM e JOIN p ON p.id = e.payment_id JOIN notice_items i ON i.notice_id = p.notice_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM p)::int AS payments, (SELECT count(*) FROM k)::int AS keys, (SELECT count(*) FROM paid)::int AS notices,
       (SELECT count(*) FROM e)::int AS entries, (SELECT count(*) FROM l)::int AS lines, (SELECT count(*) FROM paid_lines)::int AS notice_lines`;

interface SizeFigures {
  lines: number;
  payments: number;
  mix: { matched: number; shortages: number; mismatches: number; overages: number };
  seedSeconds: { notices: number; payments: number };
  /** The seeded tables vacuumed and a CHECKPOINT, before R and the run (settleSeededDatabase). */
  settled: { vacuumSeconds: number; checkpoint: boolean; checkpointSeconds?: number; checkpointRefused?: string };
  statementBytes: number;
  baseline: { copySeconds: number; joinSeconds: number; totalSeconds: number; copied: number; joined: number };
  run: Record<string, unknown>;
}

async function benchSize(
  target: { baseUrl: string; databaseUrl: string },
  world: { finance: Credentials; unit: Credentials },
  templatePayCode: string,
  clearingAccountNo: string,
  size: number,
  year2: string,
): Promise<SizeFigures> {
  const agency = await registerAgency(target.baseUrl, world.finance, clearingAccountNo);
  const agencyPartyId = await withClient(target.databaseUrl, async (client) => (await client.query<{ id: string }>('SELECT id::text AS id FROM parties WHERE code = $1', [agency.code])).rows[0]?.id as string);
  const overages = Math.floor(size / 100);
  const shortageEvery = 100;
  const mismatchEvery = 1000;

  // Notices: `size` paid by seeded payments, `overages` left unpaid for the statement's extra lines.
  const paidCodes = benchPayCodes(year2, 1, size);
  const overageCodes = benchPayCodes(year2, size + 1, overages);
  let started = performance.now();
  await cloneNotices(target.databaseUrl, templatePayCode, [...paidCodes, ...overageCodes]);
  const noticeSeconds = seconds(started);
  process.stderr.write(`bench:recon — ${size}: ${paidCodes.length + overageCodes.length} notices cloned in ${noticeSeconds} s\n`);
  // Paid now, after every notice was issued (cloned just above): the overage lines' backfills find
  // notices that existed when the payer paid, as real overages do, and apply with receipts.
  const now = new Date();
  const T = shanghaiDate(now);
  const paidAt = now;

  started = performance.now();
  await withClient(target.databaseUrl, async (client) => {
    for (let start = 0; start < paidCodes.length; start += SEED_CHUNK) {
      const chunk = paidCodes.slice(start, start + SEED_CHUNK);
      const result = await client.query(SEED_PAYMENTS_SQL, [chunk, agencyPartyId, agency.code, paidAt, T, now, shanghaiDate(now)]);
      const row = result.rows[0] as Record<string, number>;
      if (row.payments !== chunk.length || row.keys !== chunk.length || row.notices !== chunk.length || row.entries !== chunk.length) throw new Error(`seeded ${JSON.stringify(row)} of ${chunk.length}`);
    }
  });
  const paymentSeconds = seconds(started);
  process.stderr.write(`bench:recon — ${size}: ${size} payments seeded by SQL in ${paymentSeconds} s\n`);
  const settled = await settleSeededDatabase(target.databaseUrl);
  process.stderr.write(`bench:recon — ${size}: the seeded tables vacuumed in ${settled.vacuumSeconds} s, ${settled.checkpoint ? `checkpointed in ${settled.checkpointSeconds} s` : `no CHECKPOINT (${settled.checkpointRefused})`}\n`);

  // The statement: TFS1, LF, written to a file (the harness reads it whole to sign it; the service streams it).
  const file = path.join(os.tmpdir(), `tongfu-recon-${agency.code}-${size}.txt`);
  const out = fs.createWriteStream(file);
  const paidAtText = formatInstant(paidAt);
  let lines = 0;
  let totalCents = 0n;
  const mix = { matched: 0, shortages: 0, mismatches: 0, overages: 0 };
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve())));
  await write(`H|TFS1|${agency.code}|${T}|1|${formatInstant(now)}\n`);
  for (let index = 0; index < paidCodes.length; index += 1) {
    if (index % shortageEvery === shortageEvery - 1) {
      mix.shortages += 1;
      continue;
    }
    const serial = String(index + 1);
    const mismatch = index % mismatchEvery === 7;
    const amount = mismatch ? '299.00' : NOTICE_AMOUNT;
    if (mismatch) mix.mismatches += 1;
    else mix.matched += 1;
    totalCents += mismatch ? 29_900n : 30_000n;
    lines += 1;
    await write(`D|PAY|${agency.code}-${serial}|${paidCodes[index]}|${amount}|${paidAtText}|MOBILE\n`);
  }
  for (const [index, payCode] of overageCodes.entries()) {
    mix.overages += 1;
    totalCents += 30_000n;
    lines += 1;
    await write(`D|PAY|${agency.code}-OV${index + 1}|${payCode}|${NOTICE_AMOUNT}|${paidAtText}|COUNTER\n`);
  }
  const total = `${totalCents / 100n}.${String(totalCents % 100n).padStart(2, '0')}`;
  await write(`T|${lines}|${total}|0|0.00\n`);
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  const statementBytes = fs.statSync(file).size;

  // R: COPY of the same D lines into an unlogged table, then one joining INSERT … SELECT.
  const baseline = await withClient(target.databaseUrl, async (client) => {
    const suffix = crypto.randomBytes(4).toString('hex');
    await client.query(`CREATE UNLOGGED TABLE bench_recon_lines_${suffix} (rec text, kind text, agency_txn_id text, pay_code text, amount numeric(18,2), paid_at timestamptz, channel text)`);
    await client.query(`CREATE UNLOGGED TABLE bench_recon_joined_${suffix} (agency_txn_id text, payment_id bigint, line_amount numeric(18,2), payment_amount numeric(18,2), line_pay_code text, payment_pay_code text)`);
    const copyStarted = performance.now();
    let pending = '';
    const dLinesOnly = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        const text = pending + chunk.toString('utf8');
        const end = text.lastIndexOf('\n');
        pending = text.slice(end + 1);
        done(null, text.slice(0, end + 1).split('\n').filter((line) => line.startsWith('D|')).map((line) => `${line}\n`).join(''));
      },
      flush(done) {
        done(null, pending.startsWith('D|') ? `${pending}\n` : '');
      },
    });
    await pipeline(fs.createReadStream(file), dLinesOnly, client.query(copyFrom(`COPY bench_recon_lines_${suffix} FROM STDIN WITH (FORMAT text, DELIMITER '|')`)));
    const copySeconds = seconds(copyStarted);
    const joinStarted = performance.now();
    const joined = await client.query(
      `INSERT INTO bench_recon_joined_${suffix}
       SELECT l.agency_txn_id, k.payment_id, l.amount, p.amount, l.pay_code, p.pay_code
         FROM bench_recon_lines_${suffix} l
         LEFT JOIN payment_keys k ON k.agency_party_id = $1::bigint AND k.agency_txn_id = l.agency_txn_id
         LEFT JOIN payments p ON p.id = k.payment_id`,
      [agencyPartyId],
    );
    const joinSeconds = seconds(joinStarted);
    const copied = Number((await client.query(`SELECT count(*) AS count FROM bench_recon_lines_${suffix}`)).rows[0].count);
    await client.query(`DROP TABLE bench_recon_lines_${suffix}, bench_recon_joined_${suffix}`);
    return { copySeconds, joinSeconds, totalSeconds: Math.round((copySeconds + joinSeconds) * 100) / 100, copied, joined: joined.rowCount ?? 0 };
  });
  process.stderr.write(`bench:recon — ${size}: R = ${baseline.totalSeconds} s (COPY ${baseline.copySeconds} s + join ${baseline.joinSeconds} s)\n`);

  const run = await uploadAndRun(target, agency, world.finance, T, file);
  fs.rmSync(file, { force: true });
  return { lines, payments: size, mix, seedSeconds: { notices: noticeSeconds, payments: paymentSeconds }, settled, statementBytes, baseline, run };
}

/**
 * What a day of postings leaves behind before the 02:00 run, done for a database seeded in minutes:
 * the seeded tables vacuumed and analyzed (autovacuum would have done it as the payments came in;
 * left to it here, its insert-triggered vacuums of a million rows per table ran during R and the
 * run), then a CHECKPOINT, so that the seeding's gigabytes of WAL do not start a checkpoint in the
 * middle of the measurement (one did at 2026-12-03 11:02 UTC). R and the run are both measured
 * after it. A role that may not CHECKPOINT (a server through BENCH_DATABASE_URL) skips that part,
 * and the result says so.
 */
async function settleSeededDatabase(databaseUrl: string): Promise<{ vacuumSeconds: number; checkpoint: boolean; checkpointSeconds?: number; checkpointRefused?: string }> {
  return withClient(databaseUrl, async (client) => {
    const started = performance.now();
    await client.query('VACUUM (ANALYZE) payments, payment_keys, journal_entries, journal_lines, notices, notice_items, notice_keys');
    const vacuumSeconds = seconds(started);
    const checkpointStarted = performance.now();
    try {
      await client.query('CHECKPOINT');
      return { vacuumSeconds, checkpoint: true, checkpointSeconds: seconds(checkpointStarted) };
    } catch (error) {
      return { vacuumSeconds, checkpoint: false, checkpointRefused: error instanceof Error ? error.message : String(error) };
    }
  });
}

/** The service's Node.js processes (the PORT in their environment, main.ts or main.js in their command line) and their RSS, kB. */
/** The service's processes (main.js with PORT=port in their environment): found by a scan of /proc. */
function servicePids(port: number): string[] {
  const pids: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (environ.split('\0').includes(`PORT=${port}`) && /main\.[jt]s\0/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) pids.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/**
 * The memory of the service's processes `pids` (servicePids, found once before the upload). The
 * sampler used to scan every process's environment each 100 ms: with the polls, the harness's
 * own process was 6–8 % busy on the cores the service is measured on (2026-12-03).
 */
function serviceMemory(pids: readonly string[]): { rssKb: number; hwmKb: number; maxHwmKb: number; processes: number } {
  let rssKb = 0;
  let hwmKb = 0;
  let maxHwmKb = 0;
  let processes = 0;
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const processHwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwmKb += processHwmKb;
      maxHwmKb = Math.max(maxHwmKb, processHwmKb);
      processes += 1;
    } catch {
      // gone
    }
  }
  return { rssKb, hwmKb, maxHwmKb, processes };
}

/** POSTs `body` with node:http, written whole: fetch added 0.7 s of its own to the upload (decision 0230). */
function postBuffer(baseUrl: string, pathAndQuery: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, method: 'POST', path: pathAndQuery, headers: { ...headers, 'content-length': String(body.length) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function uploadAndRun(target: { baseUrl: string }, agency: Credentials & { code: string }, finance: Credentials, businessDate: string, file: string): Promise<Record<string, unknown>> {
  const body = fs.readFileSync(file);
  const pathAndQuery = '/v1/agency/statements';
  const headers = signRequest({ method: 'POST', target: pathAndQuery, body, appId: agency.appId, keyId: agency.keyId, privateKey: agency.privateKey, timestampSeconds: Math.floor(Date.now() / 1000) });
  const port = Number(new URL(target.baseUrl).port);
  let peakSumRssKb = 0;
  const pids = servicePids(port);
  const sampler = setInterval(() => {
    peakSumRssKb = Math.max(peakSumRssKb, serviceMemory(pids).rssKb);
  }, 100);
  const started = performance.now();
  try {
    const response = await postBuffer(target.baseUrl, pathAndQuery, { ...headers, 'content-type': 'text/plain; charset=utf-8' }, body);
    const answer = response.body;
    if (response.status === 404 || response.status === 405) return { skipped: `POST ${pathAndQuery} answered ${response.status}: the upload endpoint is not in this build` };
    if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${answer.slice(0, 500)}`);
    const uploadSeconds = seconds(started);
    const deadline = Date.now() + Number(process.env.BENCH_RECON_POLL_TIMEOUT_S ?? 1800) * 1000;
    for (;;) {
      // Polled through finance's list of runs, which carries no discrepancies: the run is finished
      // when its row is committed, and the agency's read of its ~21,000 discrepancies (≈ 0.6 s) is
      // a read after the run, made once the clock has stopped.
      const poll = await send(target.baseUrl, prepare(finance, 'GET', `/v1/finance/reconciliations?businessDate=${businessDate}&agencyCode=${agency.code}`));
      const listed = Array.isArray(poll.body?.data) ? (poll.body.data as Array<{ status?: string }>)[0] : undefined;
      if (poll.status === 200 && listed?.status && listed.status !== 'RUNNING') {
        const totalSeconds = seconds(started);
        const memory = serviceMemory(pids);
        const read = await send(target.baseUrl, prepare(agency, 'GET', `/v1/agency/reconciliations/${businessDate}`));
        if (read.status !== 200) throw new Error(`the agency's read of its run answered ${read.status}`);
        return { uploadSeconds, totalSeconds, run: read.body.run, peakRssMb: { sampledSumOfProcesses: Math.round(peakSumRssKb / 1024), sumOfPerProcessHighWater: Math.round(memory.hwmKb / 1024), largestProcessHighWater: Math.round(memory.maxHwmKb / 1024), processes: memory.processes } };
      }
      if (Date.now() > deadline) throw new Error(`the run did not finish in time; last answer ${poll.status} ${JSON.stringify(poll.body).slice(0, 300)}`);
      await new Promise((resolve) => setTimeout(resolve, RUN_POLL_MS));
    }
  } finally {
    clearInterval(sampler);
  }
}

async function ledgerVerify(databaseUrl: string): Promise<{ ok: boolean; broken: string[] }> {
  const out: unknown[] = [];
  const code = await runCli(['ledger', 'verify'], { out: (value) => out.push(value), err: (message) => process.stderr.write(`${message}\n`) }, { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' });
  const result = out[0] as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
  return { ok: code === 0 && result.ok, broken: result.checks.filter((check) => !check.ok).map((check) => check.name) };
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_RECON_SIZES ?? '100000,1000000').split(',').map((text) => Number(text.trim()));
  for (const size of sizes) if (!Number.isInteger(size) || size < 100 || size > 2_000_000) throw new Error(`BENCH_RECON_SIZES: ${size} is not a size of 100–2,000,000`);
  const target = await startTarget();
  try {
    process.stderr.write(`bench:recon — building the world on ${target.baseUrl}\n`);
    const world = await buildWorld(target);
    const clearing = await withClient(target.databaseUrl, async (client) => (await client.query<{ clearing_account_no: string }>('SELECT clearing_account_no FROM parties WHERE code = $1', [world.agency.code])).rows[0]?.clearing_account_no as string);
    const template = await send(
      target.baseUrl,
      prepare(world.unit, 'POST', '/v1/unit/notices', {
        bizRef: `RECON-TEMPLATE-${crypto.randomBytes(4).toString('hex')}`,
        noticeType: 1,
        payer: { name: '张三' },
        items: [
          { itemCode: world.itemCodes.fee, quantity: 2, amount: '100.00' },
          { itemCode: world.itemCodes.fine, amount: '200.00' },
        ],
        dueDate: '2099-12-31',
      }),
    );
    if (template.status !== 201 || template.body.amountDue !== NOTICE_AMOUNT) throw new Error(`the template notice failed: ${template.status} ${JSON.stringify(template.body)}`);

    const figures: Record<string, SizeFigures> = {};
    for (const [index, size] of sizes.entries()) figures[String(size)] = await benchSize(target, world, template.body.payCode, clearing, size, String(30 + index));
    const verified = await ledgerVerify(target.databaseUrl);

    const seconds1M = (figures['1000000']?.run.totalSeconds as number | undefined) ?? null;
    const seconds100k = (figures['100000']?.run.totalSeconds as number | undefined) ?? null;
    const verdict = {
      ratio: Object.fromEntries(Object.entries(figures).map(([size, f]) => [size, typeof f.run.totalSeconds === 'number' ? Math.round(((f.run.totalSeconds as number) / f.baseline.totalSeconds) * 100) / 100 : null])),
      ratioTarget: TARGET_RATIO,
      // The target is per process (docs/quality.md §1): the largest process's high-water mark.
      largestProcessRssMb: Object.fromEntries(Object.entries(figures).map(([size, f]) => [size, (f.run.peakRssMb as { largestProcessHighWater?: number } | undefined)?.largestProcessHighWater ?? null])),
      peakRssTargetMb: TARGET_RSS_MB,
      linear: seconds1M !== null && seconds100k !== null ? { t100k: seconds100k, limit: Math.round((0.15 * seconds1M + 1) * 100) / 100, met: seconds100k <= 0.15 * seconds1M + 1 } : null,
    };
    const result = {
      benchmark: 'bench:recon',
      at: new Date().toISOString(),
      machine: machine(),
      target: { layout: target.layout, seeding: 'payments seeded by set-based SQL mirroring a SUCCEEDED posting (payment, key, notice PAID, journal entry); no receipts or events for them (see scripts/bench/recon.ts)' },
      sizes: figures,
      afterRun: { ledgerVerify: verified },
      verdict,
    };
    const file = writeResult('recon', result);
    printTable(
      'bench:recon — statement upload to finished run, against R (COPY + joining INSERT … SELECT)',
      Object.entries(figures).map(([size, f]) => ({
        lines: f.lines,
        'seed notices s': f.seedSeconds.notices,
        'seed payments s': f.seedSeconds.payments,
        'R s': f.baseline.totalSeconds,
        'run s': typeof f.run.totalSeconds === 'number' ? (f.run.totalSeconds as number) : 'n/a',
        'run / R': verdict.ratio[size] ?? 'n/a',
        'peak RSS MB (sum)': (f.run.peakRssMb as { sumOfPerProcessHighWater?: number } | undefined)?.sumOfPerProcessHighWater ?? 'n/a',
        'largest process MB': verdict.largestProcessRssMb[size] ?? 'n/a',
      })),
    );
    process.stdout.write(`\nledger verify after the run: ${verified.ok ? 'ok' : `BROKEN ${verified.broken.join(', ')}`}\nwritten to ${path.relative(process.cwd(), file)}\n`);
  } finally {
    await target.stop();
  }
}

if (path.resolve(process.argv[1] ?? '') === __filename) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:recon failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
