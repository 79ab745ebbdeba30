/**
 * A measurement of the statement load alone (docs/reconciliation.md §4,
 * contracts/decisions/0100-statement-files.md) — not `bench:recon`, which times upload to
 * finished run. It writes a TFS1 file of BENCH_LINES lines (default 1,000,000), then in the same
 * run on one embedded PostgreSQL (fsync on):
 *   - baseline: COPY of the detail lines into an unlogged table (what `psql \copy` does) plus one
 *     INSERT … SELECT of them into a second table;
 *   - the service's load: StatementService.load (parse, validate, COPY into staging, set-based
 *     checks, INSERT … SELECT into agency_statement_lines, commit), with this process's peak RSS.
 * Run: node scripts/run.js scripts/bench/statementLoad.ts
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import pino from 'pino';
import { createDb, migrateLatest } from '../../src/db/database';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { buildPayCode } from '../../src/domain/payCode';
import { StatementService } from '../../src/services/statements';
import { insertParty } from '../../test/helpers/partyRows';
import { envInteger } from './lib';

const AGENCY = 'BENCHAG';

function writeFile(file: string, lines: number): { sha256: string; size: number } {
  const fd = fs.openSync(file, 'w');
  const hash = crypto.createHash('sha256');
  let size = 0;
  const write = (text: string) => {
    const buffer = Buffer.from(text);
    hash.update(buffer);
    size += buffer.length;
    fs.writeSync(fd, buffer);
  };
  write(`H|TFS1|${AGENCY}|2026-12-01|1|2026-12-02T01:30:00+08:00\n`);
  let batch: string[] = [];
  let fen = 0n;
  for (let index = 1; index <= lines; index += 1) {
    const payCode = buildPayCode({ regionCode: '150102', year2: '26', noticeType: 1, serial: index });
    const amountFen = BigInt(100 + (index % 50_000));
    fen += amountFen;
    const amount = `${amountFen / 100n}.${String(amountFen % 100n).padStart(2, '0')}`;
    batch.push(`D|PAY|${AGENCY}2026120100${String(index).padStart(7, '0')}|${payCode}|${amount}|2026-12-01T10:15:00+08:00|MOBILE\n`);
    if (batch.length === 10_000) {
      write(batch.join(''));
      batch = [];
    }
  }
  write(batch.join(''));
  write(`T|${lines}|${fen / 100n}.${String(fen % 100n).padStart(2, '0')}|0|0.00\n`);
  fs.closeSync(fd);
  return { sha256: hash.digest('hex'), size };
}

async function main(): Promise<void> {
  const lines = envInteger('BENCH_LINES', 1_000_000, 1, 5_000_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-stmt-'));
  fs.chmodSync(dir, 0o755);
  const file = path.join(dir, 'statement.txt');
  const { sha256, size } = writeFile(file, lines);
  const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'info' });
  const embedded = new EmbeddedPostgres({ dataDir: path.join(dir, 'pg'), log, durable: true, reuseLiveServer: false });
  const databaseUrl = await embedded.start();
  const db = createDb({ connectionString: databaseUrl });
  try {
    await migrateLatest(db);
    const party = await insertParty(db, { role: 'agency', publicKeys: [] });
    const partyId = party.partyId;
    await db('parties').where({ id: partyId }).update({ code: AGENCY });

    // Baseline R: COPY the detail lines (| separated) into an unlogged table + one INSERT … SELECT.
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query('CREATE UNLOGGED TABLE r_lines (d text, kind text, txn text, pay_code text, amount numeric(18,2), paid_at timestamptz, channel text)');
    await client.query('CREATE TABLE r_out (txn text, pay_code text, amount numeric(18,2), paid_at timestamptz, channel text)');
    const baselineStart = performance.now();
    // The body lines only: header and trailer are not rows.
    const body = fs.createReadStream(file);
    async function* details() {
      let rest = '';
      for await (const chunk of body as AsyncIterable<Buffer>) {
        const text = rest + chunk.toString('utf8');
        const cut = text.lastIndexOf('\n');
        rest = text.slice(cut + 1);
        yield text.slice(0, cut + 1).split('\n').filter((l) => l.startsWith('D|')).join('\n') + '\n';
      }
    }
    await pipeline(details, client.query(copyFrom("COPY r_lines FROM STDIN WITH (DELIMITER '|')")));
    const copyMs = performance.now() - baselineStart;
    await client.query('INSERT INTO r_out SELECT txn, pay_code, amount, paid_at, channel FROM r_lines');
    const baselineMs = performance.now() - baselineStart;
    await client.end();

    const statements = new StatementService({ db, clocks: { business: { now: () => new Date('2026-12-02T01:00:00Z') }, real: { now: () => new Date() } }, log });
    let peakRss = process.memoryUsage.rss();
    const rssBefore = peakRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 50);
    const loadStart = performance.now();
    const loaded = await statements.load({ agency: { partyId, code: AGENCY }, format: 'TFS1', file: { open: () => fs.createReadStream(file), sha256Hex: sha256, sizeBytes: size }, source: 'UPLOAD', requestedBy: 'bench' });
    const loadMs = performance.now() - loadStart;
    clearInterval(sampler);
    const result = {
      lines,
      fileBytes: size,
      baselineCopyMs: Math.round(copyMs),
      baselineR_ms: Math.round(baselineMs),
      loadMs: Math.round(loadMs),
      loadOverR: Math.round((loadMs / baselineMs) * 100) / 100,
      rssBeforeMiB: Math.round(rssBefore / 1048576),
      rssPeakMiB: Math.round(peakRss / 1048576),
      accepted: loaded.statement.payCount,
      loadavg: os.loadavg().map((v) => Math.round(v * 10) / 10),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    if (process.env.BENCH_VARIANTS) {
      const variants: Record<string, string> = {
        plain: 'CREATE TABLE v_plain (LIKE agency_statement_lines)',
        checks: 'CREATE TABLE v_checks (LIKE agency_statement_lines INCLUDING CONSTRAINTS)',
        indexes: 'CREATE TABLE v_indexes (LIKE agency_statement_lines INCLUDING INDEXES)',
        all: 'CREATE TABLE v_all (LIKE agency_statement_lines INCLUDING ALL)',
      };
      for (const [name, ddl] of Object.entries(variants)) {
        await db.raw(ddl);
        const t = performance.now();
        await db.raw(`INSERT INTO v_${name} SELECT * FROM agency_statement_lines`);
        process.stdout.write(`${name}: ${Math.round(performance.now() - t)} ms\n`);
      }
    }
    if (process.env.BENCH_EXPLAIN) {
      await db.transaction(async (trx) => {
        const [row] = await trx('agency_statements').insert({ statement_id: 'explain', agency_party_id: partyId, agency_code: AGENCY, business_date: '2026-11-30', file_seq: 1, format: 'TFS1', source: 'UPLOAD', sha256: 'a'.repeat(64), size_bytes: 1, pay_count: 0, pay_total: '0', refund_count: 0, refund_total: '0', received_at: new Date() }).returning('id');
        const plan = await trx.raw(`EXPLAIN (ANALYZE, BUFFERS) INSERT INTO agency_statement_lines SELECT ?::bigint, line_no, kind, agency_txn_id, pay_code, instruction_no, amount, occurred_at, channel FROM agency_statement_lines WHERE statement_id = ?`, [(row as { id: string }).id, loaded.rowId]);
        process.stdout.write(`${plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')}\n`);
        throw new Error('rollback');
      }).catch(() => undefined);
    }
  } finally {
    await db.destroy();
    await embedded.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
  process.exitCode = 1;
});
