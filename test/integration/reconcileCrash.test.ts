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
 * SIGKILL in the middle of a reconcile run (docs/quality.md §2, contracts/decisions/0105, 0239):
 * the run is its own transaction beside its backfill's. Killed before the backfill commits, it
 * leaves nothing (not even the supersede it had done); killed after, it leaves the run RUNNING with
 * the backfill's payments. Either way the next run of the job completes the interrupted one with
 * the result of a clean run.
 */

const DATE = '2026-11-21';
const BUSINESS_NOW = shanghai('2026-11-21T10:00:00');

let service: TestService;
let world: World;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(BUSINESS_NOW) });
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

/**
 * An agency with three payments of DATE, a first statement reconciled, and a second statement
 * (listing the third payment with another amount, and an overage) left for the job.
 */
async function scenario(): Promise<{ code: string; overageTxnId: string; agency: ReturnType<typeof signedAs> }> {
  const credentials = await addAgency(world);
  const agency = signedAs(service, credentials);
  const posted = [];
  for (const amount of ['10.00', '20.00', '30.00']) {
    const body = { agencyTxnId: newTxnId('K'), payCode: unknownPayCode(), amount, paidAt: shanghai(`${DATE}T09:00:00`), channel: 'MOBILE', fundsCaptured: true };
    expect((await agency('POST', '/v1/agency/payments', body)).status).toBe(201);
    posted.push(body);
  }
  const [a, b, c] = posted as [(typeof posted)[0], (typeof posted)[0], (typeof posted)[0]];
  await insertStatement(service.database.db, { agencyCode: credentials.code, businessDate: DATE, fileSeq: 1, lines: [{ agencyTxnId: a.agencyTxnId, payCode: a.payCode, amount: a.amount }, { agencyTxnId: b.agencyTxnId, payCode: b.payCode, amount: '21.00' }] });
  await service.runtime.services.reconciliation.reconcile(credentials.code, DATE);
  const overageTxnId = newTxnId('O');
  await insertStatement(service.database.db, {
    agencyCode: credentials.code,
    businessDate: DATE,
    fileSeq: 2,
    lines: [
      { agencyTxnId: a.agencyTxnId, payCode: a.payCode, amount: a.amount },
      { agencyTxnId: b.agencyTxnId, payCode: b.payCode, amount: b.amount },
      { agencyTxnId: c.agencyTxnId, payCode: c.payCode, amount: '31.00' },
      { agencyTxnId: overageTxnId, payCode: unknownPayCode(), amount: '40.00' },
    ],
  });
  return { code: credentials.code, overageTxnId, agency };
}

const reconcileJobOf = () => allJobs(service.runtime.services).find((candidate) => candidate.name === 'reconcile')!;
const newRunner = (): JobRunner => new JobRunner({ db: service.database.db, connectionString: service.database.connectionString, clocks: service.runtime.services.deps.clocks, log: pino({ level: 'silent' }) });

/** Starts the crash child for the agency, waits until it stops `where`, and SIGKILLs it. */
async function killMidRun(agencyCode: string, where: 'in-backfill' | 'after-backfill'): Promise<void> {
  const child = spawn(process.execPath, [path.resolve('scripts/run.js'), 'test/helpers/reconcileCrashChild.ts', service.database.connectionString, agencyCode, DATE, where, BUSINESS_NOW], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const sleeping = await service.database.db.raw(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'reconcile-crash-child' AND state = 'idle in transaction' AND query LIKE '%reconcile-crash-child%'`);
    if (sleeping.rows.length > 0) break;
    if (Date.now() > deadline) throw new Error('the child never reached the middle of its run');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const waiting = await service.database.db.raw(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'reconcile-crash-child'`);
    if (waiting.rows.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The next job run (any) completes the interrupted one first; then the agency's rows equal the clean run's. */
async function expectCompletedAsClean(crashed: { code: string }, clean: { code: string }): Promise<void> {
  let next;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    next = await newRunner().run({ job: reconcileJobOf(), trigger: 'MANUAL', businessDate: '2026-11-01', params: { agencyCode: world.agency.code } });
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
}

let clean: { code: string; overageTxnId: string; agency: ReturnType<typeof signedAs> };

beforeAll(async () => {
  // The clean run, on an agency of its own.
  clean = await scenario();
  expect((await newRunner().run({ job: reconcileJobOf(), trigger: 'MANUAL', businessDate: DATE, params: { agencyCode: clean.code } })).outcome).toBe('SUCCEEDED');
  expect((await service.database.db('reconciliation_discrepancies').where({ agency_code: clean.code, agency_txn_id: clean.overageTxnId }).first())?.status).toBe('AUTO_RESOLVED');
});

it('a run killed before its backfill commits leaves nothing; the next job run completes it as a clean run would', async () => {
  const crashed = await scenario();
  const before = await snapshot(crashed.code);
  await killMidRun(crashed.code, 'in-backfill');
  // Nothing of the killed run is visible (not even the supersede it had done); its job_runs row is RUNNING.
  expect(await snapshot(crashed.code)).toEqual(before);
  // No run work table is left (contracts/decisions/0160): each is created and dropped inside its run's transaction.
  expect(await workTables()).toEqual([]);
  expect((await service.database.db('job_runs').where({ job: 'reconcile', status: 'RUNNING' })).length).toBe(1);
  await expectCompletedAsClean(crashed, clean);
}, 120_000);

it('a run killed after its backfill committed leaves a RUNNING run with the backfill; the next job run takes it over and completes it as a clean run would', async () => {
  const crashed = await scenario();
  const runsBefore = await service.database.db('reconciliation_runs').where({ agency_code: crashed.code });
  await killMidRun(crashed.code, 'after-backfill');
  // The backfill's transaction committed (decision 0239): the run row RUNNING, the overage's payment,
  // its match and its AUTO_RESOLVED discrepancy; nothing of the run's own transaction.
  const runs = await service.database.db('reconciliation_runs').where({ agency_code: crashed.code }).orderBy('id').select('status');
  expect(runs.length).toBe(runsBefore.length + 1);
  expect(runs.at(-1)?.status).toBe('RUNNING');
  const backfilled = await service.database.db('payments').where({ agency_code: crashed.code, agency_txn_id: crashed.overageTxnId }).first('id');
  expect(backfilled).toBeDefined();
  expect((await service.database.db('reconciliation_discrepancies').where({ agency_code: crashed.code, agency_txn_id: crashed.overageTxnId }).first())?.status).toBe('AUTO_RESOLVED');
  expect(await service.database.db('statement_matches').where({ payment_id: backfilled.id }).first()).toMatchObject({ backfilled: true, released_at: null });
  expect(await workTables()).toEqual([]);
  // The agency reads the run RUNNING, with no totals yet (the response checked against the contract).
  const read = await crashed.agency('GET', `/v1/agency/reconciliations/${DATE}`);
  expect(read.status).toBe(200);
  expect(read.body.run).toMatchObject({ status: 'RUNNING', outcomes: null, platformTotal: null, finishedAt: null });
  await expectCompletedAsClean(crashed, clean);
  // Taken over, not doubled: the interrupted run finished as the date's last run.
  expect((await service.database.db('reconciliation_runs').where({ agency_code: crashed.code, status: 'RUNNING' })).length).toBe(0);
  expect(await service.database.db('payments').where({ agency_code: crashed.code, agency_txn_id: crashed.overageTxnId }).count<Array<{ count: string }>>('* as count')).toEqual([{ count: '1' }]);
}, 120_000);
