import pino from 'pino';
import { systemClock } from '../../src/domain/clock';
import type { JobDefinition } from '../../src/jobs/job';
import { JobRequestWorker } from '../../src/jobs/requests';
import { JobRunner } from '../../src/jobs/runner';
import { requestJobRun } from '../../src/services/jobRequests';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * The job request queue end to end (docs/operations.md §4): a request inserted in the caller's
 * transaction is carried out by the process that runs jobs — woken by NOTIFY, found by polling
 * when no notification comes — once per (job, agency, date, statement), with the trigger UPLOAD,
 * under the lock of its (agency, date), by any number of workers without doing one twice.
 */

const log = pino({ level: 'silent' });
const clocks = { real: systemClock, business: systemClock };
const LONG_POLL_MS = 60_000;

let database: TestDatabase;
const workers: JobRequestWorker[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.raw('CREATE TABLE test_upload_runs (id bigserial PRIMARY KEY, run_id bigint NOT NULL, agency_code text NOT NULL, business_date date NOT NULL, statement_id text, entered timestamptz NOT NULL, left_at timestamptz NOT NULL)');
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop(1000)));
  await database.drop();
});

beforeEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop(1000)));
  await database.db('job_requests').delete();
  await database.db('job_runs').delete();
  await database.db('test_upload_runs').delete();
});

/** A job that works on one (agency, date, statement) under the pair's lock, recording what it did and when. */
function uploadJob(options: { holdMs?: number; fail?: boolean } = {}): JobDefinition {
  return {
    name: 'test-upload-job',
    defaultSchedules: ['0 0 29 2 1'],
    catchUp: 'latest',
    async run({ db, runId, businessDate, params, withAgencyDateLock }) {
      if (options.fail) throw new Error('the statement cannot be read');
      return withAgencyDateLock(params.agencyCode as string, businessDate as string, async () => {
        const [{ entered }] = (await db.raw('SELECT clock_timestamp() AS entered')).rows;
        if (options.holdMs) await new Promise((resolve) => setTimeout(resolve, options.holdMs));
        await db('test_upload_runs').insert({ run_id: runId, agency_code: params.agencyCode, business_date: businessDate, statement_id: params.statementId ?? null, entered, left_at: db.raw('clock_timestamp()') });
        return { lines: 1 };
      });
    },
  };
}

function startWorker(job: JobDefinition, pollIntervalMs: number): JobRequestWorker {
  const runner = new JobRunner({ db: database.db, connectionString: database.connectionString, clocks, log });
  const worker = new JobRequestWorker({ db: database.db, connectionString: database.connectionString, runner, jobs: [job], realClock: systemClock, log }, { pollIntervalMs, lockWaitMs: 10_000 });
  workers.push(worker);
  worker.start();
  return worker;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const finished = async (count: number) => Number((await database.db('job_requests').whereNot({ status: 'PENDING' }).count<{ count: string }[]>({ count: '*' }))[0]?.count) >= count;

it('runs a committed request at once when notified, and never a rolled-back one', async () => {
  startWorker(uploadJob(), LONG_POLL_MS);
  await new Promise((resolve) => setTimeout(resolve, 300)); // the worker is listening
  await expect(database.db.transaction(async (trx) => {
    await requestJobRun(trx, { job: 'test-upload-job', agencyCode: 'AG01', businessDate: '2026-11-30', statementId: 'ST-ROLLED-BACK', requestedAt: new Date() });
    throw new Error('the upload failed');
  })).rejects.toThrow('the upload failed');

  const started = Date.now();
  const asked = await database.db.transaction((trx) => requestJobRun(trx, { job: 'test-upload-job', agencyCode: 'AG01', businessDate: '2026-11-30', statementId: 'ST-1', requestedBy: 'agency-app', requestedAt: new Date() }));
  expect(asked).toMatchObject({ created: true, status: 'PENDING' });
  // The poll is a minute away: only the notification can have woken the worker this soon.
  await waitFor(() => finished(1), 10_000);
  expect(Date.now() - started).toBeLessThan(LONG_POLL_MS);

  const request = await database.db('job_requests').where({ id: asked.requestId }).first();
  expect(request).toMatchObject({ status: 'SUCCEEDED', agency_code: 'AG01', business_date: '2026-11-30', statement_id: 'ST-1', requested_by: 'agency-app', error: null });
  const run = await database.db('job_runs').where({ id: request.job_run_id }).first();
  expect(run).toMatchObject({ job: 'test-upload-job', trigger: 'UPLOAD', run_key: `test-upload-job@request:${asked.requestId}`, business_date: '2026-11-30', status: 'SUCCEEDED', counts: { lines: 1 }, params: { agencyCode: 'AG01', statementId: 'ST-1' } });
  expect(await database.db('test_upload_runs').select('statement_id')).toEqual([{ statement_id: 'ST-1' }]);
  expect(await database.db('job_requests').where({ statement_id: 'ST-ROLLED-BACK' })).toEqual([]);
});

it('runs once per (job, agency, date, statement), however often it is asked', async () => {
  const ask = (statementId: string | undefined) =>
    database.db.transaction((trx) => requestJobRun(trx, { job: 'test-upload-job', agencyCode: 'AG01', businessDate: '2026-11-30', ...(statementId ? { statementId } : {}), requestedAt: new Date() }));
  const first = await ask('ST-2');
  const again = await Promise.all([ask('ST-2'), ask('ST-2'), ask('ST-2')]);
  expect(again.every((answer) => answer.requestId === first.requestId && !answer.created)).toBe(true);
  const withoutStatement = await ask(undefined);
  expect((await ask(undefined)).requestId).toBe(withoutStatement.requestId);
  expect(withoutStatement.requestId).not.toBe(first.requestId);

  startWorker(uploadJob(), 50);
  await waitFor(() => finished(2), 10_000);
  expect((await ask('ST-2')).status).toBe('SUCCEEDED');
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await database.db('job_runs').count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '2' }]);
  expect(await database.db('test_upload_runs').count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '2' }]);
});

it('finds requests by polling when no notification arrives, and shares them among workers without doing one twice', async () => {
  // Rows written without NOTIFY (as if the notification were lost).
  const now = new Date();
  await database.db('job_requests').insert(
    Array.from({ length: 12 }, (_, index) => ({ job: 'test-upload-job', agency_code: `AG${index % 3}`, business_date: '2026-11-30', statement_id: `ST-P${index}`, trigger: 'UPLOAD', requested_at: now })),
  );
  const job = uploadJob({ holdMs: 40 });
  for (let count = 0; count < 3; count += 1) startWorker(job, 100);
  await waitFor(() => finished(12), 20_000);
  expect(await database.db('job_requests').whereNot({ status: 'SUCCEEDED' })).toEqual([]);
  const done = await database.db('test_upload_runs').orderBy('entered').select('statement_id', 'agency_code', 'entered', 'left_at');
  expect(done.map((row) => row.statement_id).sort()).toEqual(Array.from({ length: 12 }, (_, index) => `ST-P${index}`).sort());
  // Runs of one (agency, date) never overlapped.
  for (const agency of ['AG0', 'AG1', 'AG2']) {
    const mine = done.filter((row) => row.agency_code === agency);
    for (let index = 1; index < mine.length; index += 1) expect(mine[index].entered.getTime()).toBeGreaterThanOrEqual(mine[index - 1].left_at.getTime());
  }
});

it('records a failed run and a request for a job the service does not have as FAILED', async () => {
  startWorker(uploadJob({ fail: true }), 50);
  const failing = await database.db.transaction((trx) => requestJobRun(trx, { job: 'test-upload-job', agencyCode: 'AG01', businessDate: '2026-11-30', statementId: 'ST-BAD', requestedAt: new Date() }));
  const unknown = await database.db.transaction((trx) => requestJobRun(trx, { job: 'no-such-job', agencyCode: 'AG01', businessDate: '2026-11-30', requestedAt: new Date() }));
  await waitFor(() => finished(2), 10_000);
  expect(await database.db('job_requests').where({ id: failing.requestId }).first()).toMatchObject({ status: 'FAILED', error: 'the statement cannot be read' });
  expect(await database.db('job_requests').where({ id: unknown.requestId }).first()).toMatchObject({ status: 'FAILED', error: 'no job is named no-such-job', job_run_id: null });
});
