/**
 * `bench:settle` (docs/quality.md §1): the settle job over 1,000,000 reconciled payments of one
 * business date, 50 agencies and 20 receiving accounts; target ≤ 4 × S, where S is the same run's
 * baseline: one `INSERT … SELECT … GROUP BY` over the same payment items into an unlogged table.
 *
 * The data is seeded set-based in SQL, mirroring the rows posting and reconciliation write that
 * settlement reads: paid notices with their items (one item, every fourth notice two; every tenth
 * item with a late fee; 40 items over budget levels 1–5 on 20 receiving accounts), SUCCEEDED
 * payments, and per agency a statement with a PAY line per payment, a BALANCED run and a live
 * match per payment. Not seeded, because settlement never reads them: journal entries, receipts,
 * payment keys, events. The settle job itself runs exactly as scheduled (InstructionService.settle):
 * per (agency, date) one transaction under its lock, set-based.
 *
 *   BENCH_PAYMENTS (default 1,000,000), BENCH_DATABASE_URL (a database to use instead of a fresh
 *   embedded one; it must be empty of Tongfu data).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import type { FieldCipher } from '../../src/crypto/fieldCipher';
import { createDb, migrateLatest } from '../../src/db/database';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { fixedClock, systemClock } from '../../src/domain/clock';
import { InstructionService } from '../../src/services/instructions';
import { envInteger, machine, printTable, writeResult } from './lib';

const TARGET_RATIO = 4;
const AGENCIES = 50;
const ACCOUNTS = 20;
const ITEMS = 40;
const DATE = '2026-11-20';

async function main(): Promise<void> {
  const payments = envInteger('BENCH_PAYMENTS', 1_000_000, AGENCIES, 5_000_000);
  let embedded: EmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  let databaseUrl = process.env.BENCH_DATABASE_URL;
  if (databaseUrl === undefined) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-bench-settle-'));
    fs.chmodSync(dataDir, 0o755);
    embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'warn' }), durable: true, reuseLiveServer: false });
    databaseUrl = await embedded.start();
  }
  const db = createDb({ connectionString: databaseUrl, poolMax: 4 });
  const log = pino({ level: 'warn' });
  // Seeding and the baseline run on a connection without the service's statement timeout.
  const client = new Client({ connectionString: databaseUrl, statement_timeout: 0 });
  await client.connect();
  try {
    await migrateLatest(db);
    const seedStart = performance.now();
    await seed(client, payments);
    const seedMs = Math.round(performance.now() - seedStart);
    process.stdout.write(`seeded ${payments} payments in ${seedMs} ms\n`);

    const baseline = async (): Promise<number> => {
      await client.query('DROP TABLE IF EXISTS bench_settle_baseline');
      await client.query(`CREATE UNLOGGED TABLE bench_settle_baseline (agency_party_id bigint, receiving_account_no text, item_code text, income_sort_code text, budget_level smallint, amount numeric(18, 2), payment_count bigint)`);
      const started = performance.now();
      await client.query(
        `INSERT INTO bench_settle_baseline
         SELECT p.agency_party_id, i.receiving_account_no, i.item_code, i.income_sort_code, i.budget_level, sum(i.amount + COALESCE(i.late_fee_paid, 0)), count(DISTINCT p.id)
           FROM payments p JOIN notice_items i ON i.notice_id = p.notice_id
          WHERE p.business_date = $1::date
          GROUP BY 1, 2, 3, 4, 5`,
        [DATE],
      );
      return Math.round(performance.now() - started);
    };
    const baselineBefore = await baseline();

    const service = new InstructionService({ db, clocks: { business: fixedClock(new Date('2026-11-21T03:00:00+08:00')), real: systemClock }, log, fieldCipher: undefined as unknown as FieldCipher });
    const settleStart = performance.now();
    const counts = await service.settle(DATE);
    const settleMs = Math.round(performance.now() - settleStart);
    const rerunStart = performance.now();
    const rerun = await service.settle(DATE);
    const rerunMs = Math.round(performance.now() - rerunStart);
    const baselineAfter = await baseline();

    const check = await db.raw<{ rows: Array<{ settled: string; paid: string; items: string; instructions: string }> }>(
      `SELECT (SELECT sum(amount) FROM instructions)::text AS settled, (SELECT sum(amount) FROM payments)::text AS paid,
              (SELECT count(*) FROM instruction_payment_items)::text AS items, (SELECT count(*) FROM instructions)::text AS instructions`,
    );
    const tie = check.rows[0];
    if (tie === undefined || tie.settled !== tie.paid) throw new Error(`settled ${tie?.settled} ≠ paid ${tie?.paid}`);
    if (rerun.instructions !== 0) throw new Error(`a rerun created ${rerun.instructions} instructions`);
    const baselineMs = Math.round((baselineBefore + baselineAfter) / 2);
    const ratio = Math.round((settleMs / baselineMs) * 100) / 100;
    const rows = [
      { run: 'baseline S (INSERT … SELECT … GROUP BY, unlogged)', ms: baselineMs, detail: `${baselineBefore} / ${baselineAfter} ms` },
      { run: 'settle', ms: settleMs, detail: `${counts.instructions} instructions, ${counts.items} items, ${counts.pairs} (agency, date) pairs` },
      { run: 'settle again (nothing to do)', ms: rerunMs, detail: `${rerun.instructions} instructions` },
      { run: 'ratio settle / S', ms: ratio, detail: `target ≤ ${TARGET_RATIO}: ${ratio <= TARGET_RATIO ? 'met' : 'NOT met'}` },
    ];
    printTable(`bench:settle — ${payments} payments, ${AGENCIES} agencies, ${ACCOUNTS} receiving accounts`, rows);
    const file = writeResult('settle', {
      benchmark: 'settle',
      payments,
      agencies: AGENCIES,
      receivingAccounts: ACCOUNTS,
      paymentItems: Number(tie.items),
      instructions: Number(tie.instructions),
      seedMs,
      settleMs,
      rerunMs,
      baselineMs,
      baselineRunsMs: [baselineBefore, baselineAfter],
      ratio,
      targetRatio: TARGET_RATIO,
      met: ratio <= TARGET_RATIO,
      database: embedded === undefined ? 'BENCH_DATABASE_URL' : 'embedded PostgreSQL (fsync on), same machine',
      machine: machine(),
      at: new Date().toISOString(),
    });
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), file)}\n`);
  } finally {
    await client.end();
    await db.destroy();
    if (embedded !== undefined) await embedded.stop();
    if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The rows posting and reconciliation would have written (see the header), set-based. */
async function seed(client: Client, n: number): Promise<void> {
  const trx = { raw: (sql: string) => client.query(sql) };
  await client.query('BEGIN');
  {
    await trx.raw(`INSERT INTO parties (app_id, role, code, name, request_hash, created_at, updated_at) VALUES ('bench-bank', 'bank', 'BENCH_BANK', '收款银行', 'x', now(), now())`);
    await trx.raw(`INSERT INTO regions (code, name, created_at, updated_at) VALUES ('150000', '内蒙古自治区', now(), now())`);
    await trx.raw(`INSERT INTO parties (app_id, role, code, name, region_code, request_hash, created_at, updated_at) VALUES ('bench-unit', 'unit', 'BENCH_UNIT', '执收单位', '150000', 'x', now(), now())`);
    await trx.raw(`INSERT INTO accounts (account_no, name, bank_code, kind, created_at, updated_at)
                   SELECT 'RCV_' || g, '财政专户 ' || g, 'BENCH_BANK', 'FISCAL', now(), now() FROM generate_series(1, ${ACCOUNTS}) g
                   UNION ALL SELECT 'CLR_' || g, '汇缴户 ' || g, 'BENCH_BANK', 'CLEARING', now(), now() FROM generate_series(1, ${AGENCIES}) g`);
    await trx.raw(`INSERT INTO parties (app_id, role, code, name, clearing_account_no, cutoff_time, request_hash, created_at, updated_at)
                   SELECT 'bench-agency-' || g, 'agency', 'AG_' || lpad(g::text, 2, '0'), '代收机构 ' || g, 'CLR_' || g, '24:00', 'x', now(), now() FROM generate_series(1, ${AGENCIES}) g`);
    await trx.raw(`INSERT INTO items (code, name, income_sort_code, budget_level, receiving_account_no, pricing_type, min_amount, max_amount, late_fee_type, status, version, created_at, updated_at)
                   SELECT 'IT_' || g, '项目 ' || g, '10304' || lpad((g % 7)::text, 2, '0'), (g % 5) + 1, 'RCV_' || (((g - 1) % ${ACCOUNTS}) + 1), 'RANGE', 0.01, 100000, 'NONE', 'ACTIVE', 1, now(), now()
                     FROM generate_series(1, ${ITEMS}) g`);
    await trx.raw(`CREATE TABLE bench_agencies AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, code FROM parties WHERE role = 'agency'`);
    const amounts = `((g * 7919) % 50000 + 1) / 100.0`;
    const second = `((g * 104729) % 30000 + 1) / 100.0`;
    const lateFee = `CASE WHEN g % 10 = 0 THEN 0.37 ELSE 0 END`;
    await trx.raw(`INSERT INTO notices (id, pay_code, unit_party_id, unit_code, unit_name, region_code, biz_ref, notice_type, status, payer_name, total_amount, due_date,
                                        paid_at, paid_amount, late_fee_paid, created_at, updated_at)
                   SELECT g, lpad(g::text, 20, '0'), (SELECT id FROM parties WHERE code = 'BENCH_UNIT'), 'BENCH_UNIT', '执收单位', '150000', 'B' || g, 1, 'PAID', '缴款人',
                          ${amounts} + CASE WHEN g % 4 = 0 THEN ${second} ELSE 0 END, '${DATE}',
                          '${DATE}T10:00:00+08:00', ${amounts} + CASE WHEN g % 4 = 0 THEN ${second} ELSE 0 END + ${lateFee}, ${lateFee}, now(), now()
                     FROM generate_series(1::bigint, ${n}) g`);
    await trx.raw(`SELECT setval('notices_id_seq', ${n})`);
    await trx.raw(`INSERT INTO notice_items (notice_id, position, item_id, item_version, item_code, item_name, income_sort_code, budget_level, receiving_account_no, quantity, amount,
                                             pricing_type, min_amount, max_amount, late_fee_type, late_fee_paid)
                   SELECT g, 0, it.id, 1, it.code, it.name, it.income_sort_code, it.budget_level, it.receiving_account_no, 1, ${amounts}, 'RANGE', 0.01, 100000, 'NONE', ${lateFee}
                     FROM generate_series(1::bigint, ${n}) g JOIN items it ON it.code = 'IT_' || ((g % ${ITEMS}) + 1)
                   UNION ALL
                   SELECT g, 1, it.id, 1, it.code, it.name, it.income_sort_code, it.budget_level, it.receiving_account_no, 1, ${second}, 'RANGE', 0.01, 100000, 'NONE', 0
                     FROM generate_series(4::bigint, ${n}, 4) g JOIN items it ON it.code = 'IT_' || (((g / 4) % ${ITEMS}) + 1)`);
    await trx.raw(`INSERT INTO payments (id, payment_id, agency_party_id, agency_code, agency_txn_id, pay_code, notice_id, amount, paid_at, business_date, channel, funds_captured, status, created_at, updated_at)
                   SELECT g, 'P' || g, a.id, a.code, 'T' || g, lpad(g::text, 20, '0'), g, ${amounts} + CASE WHEN g % 4 = 0 THEN ${second} ELSE 0 END + ${lateFee},
                          '${DATE}T10:00:00+08:00', '${DATE}', 'MOBILE', true, 'SUCCEEDED', now(), now()
                     FROM generate_series(1::bigint, ${n}) g JOIN bench_agencies a ON a.n = g % ${AGENCIES}`);
    await trx.raw(`SELECT setval('payments_id_seq', ${n})`);
    await trx.raw(`INSERT INTO agency_statements (statement_id, agency_party_id, agency_code, business_date, file_seq, format, source, sha256, size_bytes, pay_count, pay_total, refund_count, refund_total, received_at)
                   SELECT 'S' || a.n, a.id, a.code, '${DATE}', 1, 'TFS1', 'UPLOAD', lpad(to_hex(a.n), 64, '0'), 1, x.c, x.t, 0, 0, now()
                     FROM bench_agencies a JOIN (SELECT agency_party_id, count(*) AS c, sum(amount) AS t FROM payments GROUP BY 1) x ON x.agency_party_id = a.id`);
    await trx.raw(`INSERT INTO agency_statement_lines (statement_id, line_no, kind, agency_txn_id, pay_code, amount, occurred_at, channel)
                   SELECT s.id, (p.id - 1) / ${AGENCIES} + 1, 'PAY', p.agency_txn_id, p.pay_code, p.amount, p.paid_at, 'MOBILE'
                     FROM payments p JOIN agency_statements s ON s.agency_party_id = p.agency_party_id`);
    await trx.raw(`INSERT INTO reconciliation_runs (run_id, agency_party_id, agency_code, business_date, statement_id, status, started_at, finished_at)
                   SELECT 'R' || s.id, s.agency_party_id, s.agency_code, s.business_date, s.id, 'BALANCED', now(), now() FROM agency_statements s`);
    await trx.raw(`INSERT INTO statement_matches (payment_id, statement_id, line_no, run_id, backfilled, matched_at)
                   SELECT p.id, s.id, (p.id - 1) / ${AGENCIES} + 1, r.id, false, now()
                     FROM payments p JOIN agency_statements s ON s.agency_party_id = p.agency_party_id JOIN reconciliation_runs r ON r.statement_id = s.id`);
    await trx.raw('DROP TABLE bench_agencies');
  }
  await client.query('COMMIT');
  await client.query('VACUUM ANALYZE');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
