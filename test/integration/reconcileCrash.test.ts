import { spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { allJobs } from '../../src/jobs/registry';
import { JobRunner } from '../../src/jobs/runner';
import { addAgency, buildWorld, signedAs, type World } from '../helpers/builders';
import { expectLedgerVerified, newTxnId, shanghai, unknownPayCode } from '../helpers/payments';
import { insertStatement } from '../helpers/statements';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * SIGKILL in the middle of a reconcile run (docs/quality.md §2, contracts/decisions/0105): the
 * run is one transaction, so the kill leaves nothing of it (not even the supersede it had done),
 * and the next run of the job completes the interrupted one with the result of a clean run.
 */

let service: TestService;
let world: World;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-21T10:00:00')) });
  world = await buildWorld(service);
});

afterAll(async () => {
  await service.close();
});

/** Rows in posting order (payment row ids), the same in both scenarios — their agencyTxnIds are random. */
async function snapshot(agencyCode: string): Promise<unknown> {
  const db = service.database.db;
  const runs = await db('reconciliation_runs').where({ agency_code: agencyCode }).orderBy('id').select('status', 'outcomes', 'platform_total', 'statement_total');
  const discrepancies = await db('reconciliation_discrepancies').where({ agency_code: agencyCode }).orderBy(['payment_id', 'type', 'status']).select('agency_txn_id', 'type', 'status');
  const matches = await db('statement_matches as m').join('payments as p', 'p.id', 'm.payment_id').where({ 'p.agency_code': agencyCode }).orderBy(['p.id', 'm.statement_id']).select('p.agency_txn_id', 'm.statement_id', db.raw('m.released_at IS NULL AS live'));
  return { runs, discrepancies, matches };
}

/** The reconcile runs' work tables that exist (committed, or this session's own). */
async function workTables(): Promise<string[]> {
  const result = await service.database.db.raw(`SELECT relname FROM pg_class WHERE relname LIKE 'reconcile\\_run\\_lines\\_%'`);
  return (result.rows as Array<{ relname: string }>).map((row) => row.relname);
}

it('a run killed mid-way leaves nothing; the next job run completes it as a clean run would', async () => {
  const date = '2026-11-21';
  const scenario = async (): Promise<{ code: string }> => {
    const credentials = await addAgency(world);
    const agency = signedAs(service, credentials);
    const posted = [];
    for (const amount of ['10.00', '20.00', '30.00']) {
      const body = { agencyTxnId: newTxnId('K'), payCode: unknownPayCode(), amount, paidAt: shanghai(`${date}T09:00:00`), channel: 'MOBILE', fundsCaptured: true };
      expect((await agency('POST', '/v1/agency/payments', body)).status).toBe(201);
      posted.push(body);
    }
    const [a, b, c] = posted as [(typeof posted)[0], (typeof posted)[0], (typeof posted)[0]];
    await insertStatement(service.database.db, { agencyCode: credentials.code, businessDate: date, fileSeq: 1, lines: [{ agencyTxnId: a.agencyTxnId, payCode: a.payCode, amount: a.amount }, { agencyTxnId: b.agencyTxnId, payCode: b.payCode, amount: '21.00' }] });
    await service.runtime.services.reconciliation.reconcile(credentials.code, date);
    await insertStatement(service.database.db, {
      agencyCode: credentials.code,
      businessDate: date,
      fileSeq: 2,
      lines: [{ agencyTxnId: a.agencyTxnId, payCode: a.payCode, amount: a.amount }, { agencyTxnId: b.agencyTxnId, payCode: b.payCode, amount: b.amount }, { agencyTxnId: c.agencyTxnId, payCode: c.payCode, amount: '31.00' }],
    });
    return { code: credentials.code };
  };
  const services = service.runtime.services;
  const job = allJobs(services).find((candidate) => candidate.name === 'reconcile')!;
  const newRunner = (): JobRunner => new JobRunner({ db: service.database.db, connectionString: service.database.connectionString, clocks: services.deps.clocks, log: pino({ level: 'silent' }) });

  // The clean run, on an agency of its own.
  const clean = await scenario();
  expect((await newRunner().run({ job, trigger: 'MANUAL', businessDate: date, params: { agencyCode: clean.code } })).outcome).toBe('SUCCEEDED');

  const crashed = await scenario();
  const before = await snapshot(crashed.code);
  const child = spawn(process.execPath, [path.resolve('scripts/run.js'), 'test/helpers/reconcileCrashChild.ts', service.database.connectionString, crashed.code, date], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const sleeping = await service.database.db.raw(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'reconcile-crash-child' AND state = 'idle in transaction' AND query LIKE '%reconcile-crash-child%'`);
    if (sleeping.rows.length > 0) break;
    if (Date.now() > deadline) throw new Error('the child never reached the middle of its run');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  // Nothing of the killed run is visible; its job_runs row is RUNNING.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const waiting = await service.database.db.raw(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'reconcile-crash-child'`);
    if (waiting.rows.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(await snapshot(crashed.code)).toEqual(before);
  // No run work table is left (contracts/decisions/0160): each is created and dropped inside its run's transaction.
  expect(await workTables()).toEqual([]);
  expect((await service.database.db('job_runs').where({ job: 'reconcile', status: 'RUNNING' })).length).toBe(1);

  // The next job run (any) completes the interrupted one first.
  let next;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    next = await newRunner().run({ job, trigger: 'MANUAL', businessDate: '2026-11-01', params: { agencyCode: world.agency.code } });
    if (next.outcome !== 'LOCKED') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(next?.outcome).toBe('SUCCEEDED');
  expect((await service.database.db('job_runs').where({ job: 'reconcile', status: 'RUNNING' })).length).toBe(0);

  const completed = (await snapshot(crashed.code)) as { runs: unknown[]; discrepancies: unknown[]; matches: unknown[] };
  const reference = (await snapshot(clean.code)) as { runs: unknown[]; discrepancies: unknown[]; matches: unknown[] };
  expect(completed.runs).toEqual(reference.runs);
  expect(completed.discrepancies.map((d: any) => [d.type, d.status])).toEqual(reference.discrepancies.map((d: any) => [d.type, d.status]));
  expect(completed.matches.map((m: any) => m.live)).toEqual(reference.matches.map((m: any) => m.live));
  expect((completed.runs.at(-1) as any).status).toBe('UNBALANCED');
  expect(await workTables()).toEqual([]);
  await expectLedgerVerified(service.database.db);
}, 120_000);
