/**
 * `bench:pay` (docs/quality.md §1): signed `POST /v1/agency/payments` on distinct notices, each posting
 * applying (SUCCEEDED: payment, notice PAID, journal entry, receipt signed and stored, two
 * events); target ≥ 0.25 Y with p99 ≤ 2.5 × p50 at concurrency 32, where Y is the payment-shaped
 * pgbench yardstick of docs/quality.md §1 measured on the same server before and after the load
 * (scripts/bench/lib.ts, yardstickRun), its mean used.
 *
 * - The service: `npm start`'s command (dist/src/main.js with the start script's node flags, its
 *   HTTP worker processes) on an embedded PostgreSQL of its own with the service's durability
 *   (fsync on), or BENCH_TARGET_URL + BENCH_DATABASE_URL (scripts/bench/lib.ts).
 * - The notices: one issued through the unit API (2 items: a FIXED fee × 2 and a RANGE fine, due
 *   in the future, 300.00), then cloned by set-based SQL into one notice per posting — tens of
 *   thousands in seconds, where the API would take about as long as the benchmark itself.
 * - The load: two agencies, alternating; every request signed before the clock starts (the
 *   measured load in chunks that fit the signatures' 300 s window, the clock stopped while each is
 *   signed); a warm-up that is not measured; then BENCH_REQUESTS (default 20,000) at
 *   BENCH_CONCURRENCY (32).
 * - Afterwards: every answer 201 SUCCEEDED, one payment per posting, and `ledger verify` passes.
 * - The server's work per posting during the measured load: WAL bytes and records (pg_stat_wal),
 *   transactions, rows and index entries written (pg_stat_user_tables), CPU of node and PostgreSQL.
 * - A diagnostic (BENCH_PGBENCH_TRANSACTIONS per client, 0 to skip): pgbench running the
 *   posting's own statements — src/db/repositories/payments.ts's read (with the request's nonce
 *   claim) and APPLIED write — each transaction on a notice of its own: what PostgreSQL alone
 *   reaches with this SQL, and its work per posting.
 * - BENCH_CPU_PROFILE=1 runs the service under `--cpu-prof` and summarises where the HTTP
 *   workers spend their CPU (the figures of such a run are slower; measure without it).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { runCli } from '../../src/cli/main';
import { canonicalJson, sha256Hex } from '../../src/crypto/canonicalJson';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { POSTING_STATEMENTS } from '../../src/db/repositories/payments';
import { formatInstant, shanghaiDate } from '../../src/domain/businessDate';
import { journalEntryParameters } from '../../src/db/repositories/ledger';
import { succeededPaymentEntry } from '../../src/domain/ledger';
import { Decimal } from '../../src/domain/money';
import { buildWorld, type Credentials, CONCURRENCY_MAX, drive, driveSignedInChunks, envInteger, machine, prepare, type PreparedRequest, printTable, ratioTo, REQUESTS_MAX, requirePgbench, runRow, send, serverCounters, settleStatistics, startTarget, type WorkPerOperation, workPerOperation, writeResult, yardstick, yardstickRun } from './lib';
import { benchPayCodes, cloneNotices, type PgbenchPayFigures, pgbenchText, pgbenchWithVariables, serviceCpuMs, startProfiledTarget, summarizeCpuProfile } from './payLib';

/** docs/quality.md §1: ≥ 0.25 Y with p99 ≤ 2.5 × p50; a defect below 0.12 Y. */
const TARGET_Y_RATIO = 0.25;
const TARGET_P99_OVER_P50 = 2.5;
const DEFECT_Y_RATIO = 0.12;
/**
 * The posting path (src/services/payments.ts): a read that also stores the nonce, shared with the
 * postings arriving meanwhile (decision 0175), and the posting's own write; each one statement.
 * The measured `transactions` per posting (pg_stat_database) shows how far the reads are shared.
 */
const ROUND_TRIPS_PER_POSTING = 'a share of one batched read + 1 write';
const STATEMENTS_PER_POSTING = 'a share of one batched read + 1 write';
const NOTICE_AMOUNT = '300.00';
/** A chunk of the measured load takes about this long at the warm-up's pace (signatures live 300 s). */
const SIGNED_CHUNK_SECONDS = 120;

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

async function registerAgency(baseUrl: string, finance: Credentials, clearingAccountNo: string): Promise<Credentials & { code: string }> {
  const pair = generateSm2KeyPair();
  const code = `AGENCY_${crypto.randomBytes(3).toString('hex').toUpperCase()}`;
  const response = await send(baseUrl, prepare(finance, 'POST', '/v1/finance/parties', { role: 'agency', code, name: '代收机构二', publicKey: pair.publicKeyPem, clearingAccountNo }));
  if (response.status !== 201) throw new Error(`registering a second agency failed: ${response.status} ${JSON.stringify(response.body)}`);
  return { appId: response.body.appId, keyId: response.body.keys[0].keyId, privateKey: { algorithm: 'SM2', privateKeyHex: pair.privateKeyHex }, code };
}

/** The figures without pgbench's raw output. */
function baselineFigures(baseline: PgbenchPayFigures & { output: string }): PgbenchPayFigures {
  const { output: _output, ...figures } = baseline;
  return figures;
}

/**
 * The pgbench script: what this transaction varies (drawn from a sequence by a read-only SELECT,
 * a round trip the service does not make), then the posting's read with its nonce claim, and its
 * write — the service's own SQL text.
 */
export function postingScript(): string {
  const n = "lpad(nextval('bench_pay_seq')::text, 9, '0')";
  const draw = `SELECT pay_code_body || lpad((98 - ((pay_code_body || '00')::numeric % 97))::text, 2, '0') AS pay_code,
       'PGB-' || n AS agency_txn_id, 'PPGB' || n AS payment_id, 'EPGB' || n AS event_id,
       '15040199' || lpad(n, 10, '0') AS receipt_no, 'pgb-' || n AS nonce
  FROM (SELECT n, '150102269' || n AS pay_code_body FROM (SELECT ${n} AS n) AS drawn) AS codes
\\gset`;
  const read = `${pgbenchText(POSTING_STATEMENTS.readClaimingNonce).trim()}\n\\gset`;
  const write = pgbenchText(POSTING_STATEMENTS.writes.APPLIED, {
    // The receipt INSERT's bindings, in the receipts repository's order, named as the rest.
    // The read's \gset sets notice_status to the status it read; the write's is the status after.
    // The journal entry references the payment row the read drew (payment_row_id) and nothing else.
    rename: { receipt_0: 'receipt_no', receipt_2: 'notice_id', receipt_3: 'pay_code', receipt_4: 'agency_code', receipt_5: 'agency_txn_id', notice_status: 'paid_notice_status', entry_payment_id: 'payment_row_id' },
    nulls: new Set(['unapplied_reason', 'entry_instruction_id', 'entry_refund_id', 'entry_bank_posting_id', 'entry_discrepancy_id', 'entry_reverses_entry_id']),
  }).trim();
  // pgbench ends a statement at a line's final semicolon; \gset ends it instead where given.
  return `${draw}\n${read}\n${write};\n`;
}

/** The write's values that are the same for every pgbench transaction, as a SUCCEEDED posting of a bench notice has them. */
export async function constantVariables(databaseUrl: string, agencyCode: string, now: Date): Promise<Record<string, string>> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const agency = await client.query<{ id: string }>("SELECT id::text AS id FROM parties WHERE role = 'agency' AND code = $1", [agencyCode]);
    const template = await client.query<{ unit_party_id: string; items: Array<{ position: number; amount: string; receiving_account_no: string; item_code: string; item_name: string }> }>(
      `SELECT n.unit_party_id::text AS unit_party_id,
              json_agg(json_build_object('position', i.position, 'amount', i.amount::text, 'receiving_account_no', i.receiving_account_no, 'item_code', i.item_code, 'item_name', i.item_name) ORDER BY i.position) AS items
         FROM notices n JOIN notice_items i ON i.notice_id = n.id
        WHERE n.pay_code LIKE '15010226%' GROUP BY n.id LIMIT 1`,
    );
    const agencyPartyId = agency.rows[0]?.id;
    const notice = template.rows[0];
    if (!agencyPartyId || !notice) throw new Error('the pgbench notices are not there');
    const accountingDate = shanghaiDate(now);
    // Any row id will do to build the entry: the script writes the payment_row_id its read drew.
    const entry = succeededPaymentEntry({ paymentId: '1', agencyCode, amount: new Decimal(NOTICE_AMOUNT), items: notice.items.map((item) => ({ receivingAccountNo: item.receiving_account_no, amount: new Decimal(item.amount), lateFee: new Decimal(0) })), accountingDate });
    const entryParameters = journalEntryParameters(entry, now);
    const payment = { paymentId: 'P000000000000000000000', agencyCode, agencyTxnId: 'PGB-0000000000', payCode: '15010226900000000000', amount: NOTICE_AMOUNT, paidAt: formatInstant(now), businessDate: accountingDate, channel: 'MOBILE', status: 'SUCCEEDED', receiptNo: '150401990000000000', createdAt: formatInstant(now) };
    const receiptContent = canonicalJson({
      receiptNo: payment.receiptNo, checkCode: 'BENCH1', payCode: payment.payCode, unitCode: 'UNIT', unitName: '市场监督管理局', payerName: '张三',
      items: notice.items.map((item) => ({ itemCode: item.item_code, itemName: item.item_name, amount: item.amount, lateFee: '0.00' })),
      totalAmount: NOTICE_AMOUNT, lateFee: '0.00', paidAmount: NOTICE_AMOUNT, paidAt: payment.paidAt, agencyCode, agencyTxnId: payment.agencyTxnId, issuedAt: payment.createdAt,
    });
    return {
      agency_party_id: agencyPartyId,
      request_hash: sha256Hex('pgbench'),
      now: now.toISOString(),
      nonce_app_id: 'pgbench-pay',
      nonce_seen_at: now.toISOString(),
      nonce_reusable_at: new Date(now.getTime() - 15 * 60_000).toISOString(),
      amount: NOTICE_AMOUNT,
      paid_at: now.toISOString(),
      business_date: accountingDate,
      channel: 'MOBILE',
      funds_captured: 'false',
      payer_account_name: '张三',
      payer_account_no: '6222020200112233445',
      payer_bank_name: '内蒙古银行',
      payment_status: 'SUCCEEDED',
      entry_kind: entryParameters.entry_kind,
      entry_accounting_date: entryParameters.entry_accounting_date,
      entry_created_at: now.toISOString(),
      entry_lines: entryParameters.entry_lines,
      event_type: 'payment.succeeded',
      event_recipients: JSON.stringify([notice.unit_party_id, agencyPartyId]),
      event_to_finance: 'false',
      event_data: JSON.stringify({ payment, notice: { payCode: payment.payCode, bizRef: 'BENCH-15010226900000000000', status: 'PAID' }, receiptNo: payment.receiptNo }),
      paid_notice_status: 'PAID',
      late_fee_paid: '0.00',
      line_late_fees: JSON.stringify(notice.items.map((item) => ({ position: item.position, late_fee_paid: '0.00' }))),
      receipt_1: 'BENCH1',
      receipt_6: NOTICE_AMOUNT,
      receipt_7: now.toISOString(),
      receipt_8: `\\x${Buffer.from(receiptContent, 'utf8').toString('hex')}`,
      receipt_9: `\\x${crypto.randomBytes(71).toString('hex')}`,
      receipt_10: 'BENCHKEY',
    };
  } finally {
    await client.end();
  }
}

async function countPayments(databaseUrl: string, where: string): Promise<Record<string, number>> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ status: string; count: string }>(`SELECT status, count(*)::text AS count FROM payments WHERE ${where} GROUP BY status`);
    return Object.fromEntries(result.rows.map((row) => [row.status, Number(row.count)]));
  } finally {
    await client.end();
  }
}

async function ledgerVerify(databaseUrl: string): Promise<{ ok: boolean; totals: unknown; broken: string[] }> {
  const out: unknown[] = [];
  const code = await runCli(['ledger', 'verify'], { out: (value) => out.push(value), err: (message) => process.stderr.write(`${message}\n`) }, { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' });
  const result = out[0] as { ok: boolean; totals: unknown; checks: Array<{ name: string; ok: boolean }> };
  return { ok: code === 0 && result.ok, totals: result.totals, broken: result.checks.filter((check) => !check.ok).map((check) => check.name) };
}

async function main(): Promise<void> {
  const requests = envInteger('BENCH_REQUESTS', 20_000, 1, REQUESTS_MAX);
  const concurrency = envInteger('BENCH_CONCURRENCY', 32, 1, CONCURRENCY_MAX);
  const warmup = envInteger('BENCH_WARMUP', 2_000, 0, REQUESTS_MAX);
  const pgbenchClients = envInteger('BENCH_PGBENCH_CLIENTS', 32, 1, 256);
  // The posting's own statements under pgbench: a diagnostic (what PostgreSQL alone reaches with
  // this SQL), 0 to skip it. Not the yardstick: that is Y, which never changes with our SQL.
  const pgbenchTransactionsPerClient = envInteger('BENCH_PGBENCH_TRANSACTIONS', 300, 0, 100_000);
  const profileDir = process.env.BENCH_CPU_PROFILE === '1' ? fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-pay-profile-')) : undefined;
  requirePgbench();

  const target = profileDir ? await startProfiledTarget(profileDir) : await startTarget();
  let stopped = false;
  try {
    process.stderr.write(`bench:pay — building the world on ${target.baseUrl}\n`);
    const world = await buildWorld(target);
    const clearing = await (async () => {
      const client = new Client({ connectionString: target.databaseUrl });
      await client.connect();
      try {
        return (await client.query<{ clearing_account_no: string }>("SELECT clearing_account_no FROM parties WHERE role = 'agency' AND code = $1", [world.agency.code])).rows[0]?.clearing_account_no as string;
      } finally {
        await client.end();
      }
    })();
    const agencies = [world.agency, await registerAgency(target.baseUrl, world.finance, clearing)];

    const template = await send(
      target.baseUrl,
      prepare(world.unit, 'POST', '/v1/unit/notices', {
        bizRef: `BENCH-TEMPLATE-${crypto.randomBytes(4).toString('hex')}`,
        noticeType: 1,
        payer: { name: '张三', idNumber: '150102198506121238', mobile: '13812345678' },
        items: [
          { itemCode: world.itemCodes.fee, quantity: 2, amount: '100.00' },
          { itemCode: world.itemCodes.fine, amount: '200.00' },
        ],
        dueDate: '2099-12-31',
      }),
    );
    if (template.status !== 201 || template.body.amountDue !== NOTICE_AMOUNT) throw new Error(`the template notice failed: ${template.status} ${JSON.stringify(template.body)}`);

    const servicePayCodes = benchPayCodes('25', 1, warmup + requests);
    const pgbenchPayCodes = benchPayCodes('26', 1, pgbenchClients * pgbenchTransactionsPerClient);
    const cloneStarted = performance.now();
    await cloneNotices(target.databaseUrl, template.body.payCode, [...servicePayCodes, ...pgbenchPayCodes]);
    const cloneSeconds = Math.round((performance.now() - cloneStarted) / 100) / 10;
    process.stderr.write(`bench:pay — ${servicePayCodes.length + pgbenchPayCodes.length} notices cloned in ${cloneSeconds} s\n`);

    const paidAt = formatInstant(new Date(Date.now() - 1000));
    // Signed in parts, each just before it is sent (but before its clock starts): a request's
    // signature is valid for 300 s, and on a loaded machine 20,000 postings take longer than that
    // (contracts/decisions/0165-hot-path-measured.md).
    const sign = (from: number, to: number): PreparedRequest[] =>
      servicePayCodes.slice(from, to).map((payCode, offset) => {
        const index = from + offset;
        return prepare(agencies[index % agencies.length] as Credentials, 'POST', '/v1/agency/payments', { agencyTxnId: `BENCH-${index}`, payCode, amount: NOTICE_AMOUNT, paidAt, channel: 'MOBILE' });
      });
    const notSucceeded: string[] = [];
    const check = (index: number, status: number, body: Buffer) => {
      if (status !== 201 || !body.includes('"status":"SUCCEEDED"')) notSucceeded.push(`#${index}: ${status} ${body.toString('utf8').slice(0, 200)}`);
    };
    const warm = warmup > 0 ? await drive(target.baseUrl, sign(0, warmup), concurrency, check) : undefined;
    // The measured load is signed in chunks that the service answers within about half of a
    // signature's 300 s window at the warm-up's pace (scripts/bench/lib.ts, driveSignedInChunks).
    const chunkSize = envInteger('BENCH_CHUNK', warm ? Math.max(1_000, Math.min(requests, Math.floor(warm.throughputPerSecond * SIGNED_CHUNK_SECONDS))) : requests, 1, REQUESTS_MAX);

    process.stderr.write('bench:pay — the yardstick Y before the load (docs/quality.md §1)\n');
    const yBefore = await yardstickRun(target.databaseUrl, 'write');
    process.stderr.write(`bench:pay — Y before: ${yBefore.transactionsPerSecond} tps; measuring ${requests} postings at concurrency ${concurrency}, signed in chunks of ${chunkSize}\n`);
    const servicePort = Number(new URL(target.baseUrl).port);
    const pgPort = Number(new URL(target.databaseUrl).port);
    await settleStatistics();
    const countersBefore = await serverCounters(target.databaseUrl);
    const cpuBefore = serviceCpuMs(servicePort, pgPort);
    const measured = await driveSignedInChunks(target.baseUrl, requests, chunkSize, (from, to) => sign(warmup + from, warmup + to), concurrency, (index, status, body) => check(warmup + index, status, body));
    const cpuAfter = serviceCpuMs(servicePort, pgPort);
    // The sequencer numbers the last events within ~50 ms: its work is part of a posting's.
    await settleStatistics();
    const countersAfter = await serverCounters(target.databaseUrl);
    const work = workPerOperation(countersBefore, countersAfter, requests);
    const serviceCpu = { nodeMsPerPosting: round3((cpuAfter.node - cpuBefore.node) / requests), postgresMsPerPosting: round3((cpuAfter.postgres - cpuBefore.postgres) / requests) };
    // A run in which any posting failed is not a valid result; it is still written (marked, with
    // the failures) so that an overloaded machine's run shows what happened, and the process
    // exits non-zero.
    const stored = await countPayments(target.databaseUrl, "agency_txn_id LIKE 'BENCH-%'");
    const verified = await ledgerVerify(target.databaseUrl);
    if (!verified.ok) throw new Error(`after the run: ledger ${JSON.stringify(verified)}`);
    const invalid = notSucceeded.length > 0 || stored.SUCCEEDED !== warmup + requests ? { postingsNotSucceeded: notSucceeded.length, paymentsStored: stored, examples: notSucceeded.slice(0, 3) } : null;

    process.stderr.write('bench:pay — the yardstick Y after the load\n');
    const y = yardstick('write', yBefore, await yardstickRun(target.databaseUrl, 'write'));

    let baseline: (PgbenchPayFigures & { output: string }) | null = null;
    let baselineCpu: { postgresMsPerTransaction: number } | undefined;
    let baselineWork: WorkPerOperation | undefined;
    const script = postingScript();
    if (pgbenchTransactionsPerClient > 0) {
      process.stderr.write(`bench:pay — diagnostic: the posting's own statements under pgbench, ${pgbenchClients} clients × ${pgbenchTransactionsPerClient}\n`);
      const setup = new Client({ connectionString: target.databaseUrl });
      await setup.connect();
      await setup.query('CREATE SEQUENCE IF NOT EXISTS bench_pay_seq');
      await setup.end();
      const variables = await constantVariables(target.databaseUrl, world.agency.code, new Date(Date.now() - 1000));
      await settleStatistics();
      const baselineCountersBefore = await serverCounters(target.databaseUrl);
      const pgBefore = serviceCpuMs(servicePort, pgPort);
      baseline = await pgbenchWithVariables(target.databaseUrl, script, variables, pgbenchClients, pgbenchTransactionsPerClient);
      const pgAfter = serviceCpuMs(servicePort, pgPort);
      await settleStatistics();
      baselineCpu = baseline ? { postgresMsPerTransaction: round3((pgAfter.postgres - pgBefore.postgres) / Math.max(1, baseline.transactions)) } : undefined;
      baselineWork = baseline ? workPerOperation(baselineCountersBefore, await serverCounters(target.databaseUrl), baseline.transactions) : undefined;
      const baselineStored = await countPayments(target.databaseUrl, "agency_txn_id LIKE 'PGB-%'");
      if (baseline && (baseline.failed > 0 || baselineStored.SUCCEEDED !== baseline.transactions)) throw new Error(`the pgbench baseline did not post what it ran: ${JSON.stringify({ baseline, baselineStored })}`);
    }

    await target.stop();
    stopped = true;
    const profiles = profileDir
      ? fs
          .readdirSync(profileDir)
          .filter((name) => name.endsWith('.cpuprofile'))
          .map((name) => summarizeCpuProfile(path.join(profileDir, name)))
          .sort((a, b) => b.busyMs - a.busyMs)
      : [];

    const ratio = ratioTo(measured.throughputPerSecond, y);
    const tailRatio = Math.round((measured.latencyMs.p99 / Math.max(0.001, measured.latencyMs.p50)) * 100) / 100;
    const verdict = {
      throughput: ratio >= TARGET_Y_RATIO ? 'met' : ratio < DEFECT_Y_RATIO ? 'defect' : 'missed',
      p99: tailRatio <= TARGET_P99_OVER_P50 ? 'met' : 'missed',
    };
    const result = {
      benchmark: 'bench:pay',
      at: new Date().toISOString(),
      valid: invalid === null,
      ...(invalid ? { invalid } : {}),
      machine: machine(),
      target: {
        layout: target.layout,
        load: `${agencies.length} agencies alternating; every posting on a notice of its own (2 items, ${NOTICE_AMOUNT}), applying; signed before the clock starts`,
        notices: `1 issued through the unit API, ${servicePayCodes.length + pgbenchPayCodes.length} cloned from it by set-based SQL in ${cloneSeconds} s`,
        goals: { yRatio: TARGET_Y_RATIO, p99OverP50: TARGET_P99_OVER_P50, defectBelowYRatio: DEFECT_Y_RATIO },
        verdict,
      },
      summary: {
        perSecond: measured.throughputPerSecond,
        y: y.transactionsPerSecond,
        ratio,
        p50Ms: measured.latencyMs.p50,
        p99Ms: measured.latencyMs.p99,
        p99OverP50: tailRatio,
        nodeCpuMsPerPosting: serviceCpu.nodeMsPerPosting,
        postgresCpuMsPerPosting: serviceCpu.postgresMsPerPosting,
        walBytesPerPosting: work.walBytes,
        indexEntriesPerPosting: work.indexEntries,
        roundTripsPerPosting: ROUND_TRIPS_PER_POSTING,
        statementsPerPosting: STATEMENTS_PER_POSTING,
      },
      yardstick: y,
      warmup,
      measured,
      cpu: { service: serviceCpu, baseline: baselineCpu, note: "CPU time (utime+stime) of the service's node processes and of every PostgreSQL process, per posting: independent of what else the machine runs" },
      serverWorkPerPosting: { ...work, roundTrips: ROUND_TRIPS_PER_POSTING, statements: STATEMENTS_PER_POSTING, note: 'WAL is the whole cluster\'s (the postings, the sequencer, autovacuum) during the measured load; rows and index entries from pg_stat_user_tables; round trips and statements are the posting path\'s (src/services/payments.ts): a read that also stores the nonce, shared by the postings of a batch (decision 0175), and one write' },
      afterRun: { payments: stored, ledgerVerify: verified },
      ownStatements: baseline
        ? { ...baselineFigures(baseline), statements: "a read-only SELECT drawing the variables, then the posting read with its nonce claim and the posting write (APPLIED), the service's SQL text", serverWorkPerTransaction: baselineWork, script }
        : { skipped: 'BENCH_PGBENCH_TRANSACTIONS=0' },
      ...(profiles.length > 0 ? { cpuProfiles: profiles.slice(0, 3), cpuProfileDirectory: profileDir } : {}),
    };
    const file = writeResult('pay', result);
    printTable('bench:pay — signed POST /v1/agency/payments (each applying: payment, notice, ledger, receipt, events)', [
      { ...runRow('service', measured, `≥ ${TARGET_Y_RATIO} Y, p99 ≤ ${TARGET_P99_OVER_P50} × p50`), 'ratio to Y': ratio },
      { run: 'Y (docs/quality.md §1), mean', 'req/s': y.transactionsPerSecond, target: `before ${y.before.transactionsPerSecond}, after ${y.after.transactionsPerSecond}` },
      ...(baseline ? [{ run: 'diagnostic: pgbench, own statements', requests: baseline.transactions, concurrency: baseline.clients, 'req/s': baseline.transactionsPerSecond, 'non-2xx': baseline.failed, target: `avg ${baseline.latencyMsAverage} ms` }] : []),
    ]);
    process.stdout.write(`\nCPU per posting: node ${serviceCpu.nodeMsPerPosting} ms + PostgreSQL ${serviceCpu.postgresMsPerPosting} ms (own statements under pgbench: PostgreSQL ${baselineCpu?.postgresMsPerTransaction ?? 'n/a'} ms)`);
    process.stdout.write(`\nper posting: ${work.walBytes} WAL bytes, ${work.walRecords} WAL records, ${work.walSyncs} WAL flushes, ${work.rowsInserted} rows inserted, ${work.rowsUpdated} updated, ${work.rowsDeleted} deleted, ≈ ${work.indexEntries} index entries, ${work.transactions} transactions (round trips: ${ROUND_TRIPS_PER_POSTING})`);
    process.stdout.write(`\nservice / Y = ${ratio} (goal ≥ ${TARGET_Y_RATIO}), p99 / p50 = ${tailRatio} (goal ≤ ${TARGET_P99_OVER_P50}); verdict ${JSON.stringify(verdict)}\nledger verify after the run: ${verified.ok ? 'ok' : 'BROKEN'}\n`);
    for (const profile of profiles.slice(0, 2)) {
      printTable(`CPU profile ${path.basename(profile.file)}: busy ${profile.busyMs} ms of ${profile.sampledMs} ms`, profile.byArea.map((area) => ({ area: area.area, 'self ms': area.selfMs, '% of busy': area.percentOfBusy })));
      printTable('top functions (self time)', profile.topFunctions.slice(0, 15).map((entry) => ({ function: entry.function, where: entry.where, 'self ms': entry.selfMs, '% of busy': entry.percentOfBusy })));
    }
    process.stdout.write(`\nwritten to ${path.relative(process.cwd(), file)}\n`);
    if (invalid) {
      process.stdout.write(`\nNOT A VALID RUN: ${invalid.postingsNotSucceeded} postings did not succeed, e.g. ${invalid.examples.join('; ')}\n`);
      process.exitCode = 1;
    }
  } finally {
    if (!stopped) await target.stop();
  }
}

// Run when it is the entry (scripts/run.js puts the entry's path in argv[1]), not when imported.
if (path.resolve(process.argv[1] ?? '') === __filename) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:pay failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
