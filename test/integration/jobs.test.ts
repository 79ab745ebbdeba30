import { spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../src/config';
import { allJobs } from '../../src/jobs/registry';
import type { Services } from '../../src/services';
import { ManualClock, systemClock } from '../../src/domain/clock';
import { JobRunner } from '../../src/jobs/runner';
import { shanghaiDate } from '../../src/domain/businessDate';
import { fixedClock } from '../../src/domain/clock';
import type { JobDefinition } from '../../src/jobs/job';
import { CATCH_UP_SLOTS_MAX, parseScheduleList, previousSlot, resolveSchedules, Scheduler } from '../../src/jobs/scheduler';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { batchedJob, crashableJob, seedBatchedWork } from '../helpers/testJobs';

const log = pino({ level: 'silent' });
const clocks = { real: systemClock, business: systemClock };

describe('the job machinery', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });
  beforeEach(async () => {
    await database.db.raw('DROP TABLE IF EXISTS test_job_effects');
    await database.db('job_runs').delete();
  });

  const newRunner = () => new JobRunner({ db: database.db, connectionString: database.connectionString, clocks, log });
  const effects = async () => {
    const exists = await database.db.schema.hasTable('test_job_effects');
    return exists ? (await database.db('test_job_effects').select('run_id')).length : 0;
  };

  it('runs a scheduled slot exactly once when three instances race for it', async () => {
    const slot = new Date('2026-11-27T02:00:00.000Z');
    const job = crashableJob({ holdMs: 300 });
    for (let round = 0; round < 5; round += 1) {
      const roundSlot = new Date(slot.getTime() + round * 60_000);
      const outcomes = await Promise.all([newRunner(), newRunner(), newRunner()].map((runner) => runner.run({ job, trigger: 'SCHEDULE', scheduledFor: roundSlot })));
      expect(outcomes.filter((o) => o.outcome === 'SUCCEEDED')).toHaveLength(1);
      expect(outcomes.every((o) => ['SUCCEEDED', 'LOCKED', 'ALREADY_DONE'].includes(o.outcome))).toBe(true);
    }
    expect(await effects()).toBe(5);
    const runs = await database.db('job_runs').select('status', 'business_date', 'counts');
    expect(runs).toHaveLength(5);
    expect(runs.every((r) => r.status === 'SUCCEEDED' && r.business_date === '2026-11-26' && r.counts.effects === 1)).toBe(true);
  });

  it('does not repeat a finished run of the same slot', async () => {
    const slot = new Date('2026-11-27T03:00:00.000Z');
    const first = await newRunner().run({ job: crashableJob(), trigger: 'SCHEDULE', scheduledFor: slot });
    const again = await newRunner().run({ job: crashableJob(), trigger: 'CATCH_UP', scheduledFor: slot });
    expect(first.outcome).toBe('SUCCEEDED');
    expect(again.outcome).toBe('ALREADY_DONE');
    expect(await effects()).toBe(1);
  });

  it('completes a run whose process was killed in the middle of it', async () => {
    const slot = new Date('2026-11-27T04:00:00.000Z');
    const child = spawn(process.execPath, [path.resolve('scripts/run.js'), 'test/helpers/jobCrashChild.ts', database.connectionString, slot.toISOString()], { stdio: 'ignore' });
    // Wait until the child's run is under way (its row RUNNING, its effect written).
    const deadline = Date.now() + 15_000;
    while ((await effects()) === 0) {
      if (Date.now() > deadline) throw new Error('the child never started its run');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // While the child lives, it holds the job's lock: another instance cannot run the job.
    const blocked = await newRunner().run({ job: crashableJob(), trigger: 'SCHEDULE', scheduledFor: new Date(slot.getTime() + 60_000) });
    expect(blocked.outcome).toBe('LOCKED');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect((await database.db('job_runs').where({ run_key: `test-job@${slot.toISOString()}` }).first()).status).toBe('RUNNING');

    // The next run of the job (any slot) first finishes the interrupted one.
    let next;
    for (let attempt = 0; attempt < 50; attempt += 1) {
      next = await newRunner().run({ job: crashableJob(), trigger: 'SCHEDULE', scheduledFor: new Date(slot.getTime() + 120_000) });
      if (next.outcome !== 'LOCKED') break; // the server may take a moment to notice the dead connection
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(next?.outcome).toBe('SUCCEEDED');
    const interrupted = await database.db('job_runs').where({ run_key: `test-job@${slot.toISOString()}` }).first();
    expect(interrupted.status).toBe('SUCCEEDED');
    expect(interrupted.attempts).toBe(2);
  });

  it('records, after a crash and the completion of the run, the counts a clean run records', async () => {
    await seedBatchedWork(database.db, 10);
    const slot = new Date('2026-11-27T05:00:00.000Z');
    const runKey = `test-batched-job@${slot.toISOString()}`;
    const child = spawn(process.execPath, [path.resolve('scripts/run.js'), 'test/helpers/jobCrashChild.ts', database.connectionString, slot.toISOString(), 'batched'], { stdio: 'ignore' });
    // Three batches of 3 commit with their progress; then the child hangs and is killed.
    const deadline = Date.now() + 15_000;
    while ((await database.db('test_job_work').where({ done: true }).count<{ count: string }[]>({ count: '*' }))[0]?.count !== '9') {
      if (Date.now() > deadline) throw new Error('the child never worked through its batches');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await database.db('job_runs').where({ run_key: runKey }).first('status', 'counts')).toEqual({ status: 'RUNNING', counts: { done: 9 } });

    let completed;
    for (let attempt = 0; attempt < 50; attempt += 1) {
      completed = await newRunner().run({ job: batchedJob({ batchSize: 3 }), trigger: 'SCHEDULE', scheduledFor: new Date(slot.getTime() + 60_000) });
      if (completed.outcome !== 'LOCKED') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(completed?.outcome).toBe('SUCCEEDED');
    // The interrupted run did the last item and records all ten, as one clean run would.
    expect(await database.db('job_runs').where({ run_key: runKey }).first('status', 'attempts', 'counts')).toEqual({ status: 'SUCCEEDED', attempts: 2, counts: { done: 10 } });
    expect(completed).toMatchObject({ counts: { done: 0 } });
    expect((await database.db('test_job_work').where({ done: false }))).toEqual([]);
  });

  it('records a failed run with its error and retries it at the next catch-up', async () => {
    let fail = true;
    const job = { ...crashableJob({ name: 'flaky' }), defaultSchedule: '*/5 * * * *', async run() {
      if (fail) throw new Error('statement store unreachable');
      return { done: 1 };
    } };
    // Held still, so that both catch-ups see the same slot (see the next test).
    const scheduler = new Scheduler({ runner: newRunner(), schedules: resolveSchedules([job], {}), realClock: new ManualClock(new Date()), log, db: database.db });
    const [failed] = await scheduler.catchUp();
    expect(failed?.outcome).toBe('FAILED');
    const row = await database.db('job_runs').where({ job: 'flaky' }).first();
    expect(row.status).toBe('FAILED');
    expect(row.error).toBe('statement store unreachable');
    fail = false;
    const [retried] = await scheduler.catchUp();
    expect(retried?.outcome).toBe('SUCCEEDED');
    expect(await database.db('job_runs').where({ job: 'flaky' }).first()).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
  });

  it('catches up a missed slot at start-up, once', async () => {
    const job = crashableJob();
    // A clock held still: on the system clock a run that straddles a 5-minute boundary would see
    // two slots (CI did once, at 07:30:00).
    const clock = new ManualClock(new Date());
    const scheduler = new Scheduler({ runner: newRunner(), schedules: resolveSchedules([job], {}), realClock: clock, log, db: database.db });
    const first = await scheduler.catchUp();
    expect(first.map((o) => o.outcome)).toEqual(['SUCCEEDED']);
    const second = await scheduler.catchUp();
    expect(second).toEqual([]);
    const [run] = await database.db('job_runs').select('trigger', 'scheduled_for');
    expect(run.trigger).toBe('CATCH_UP');
    expect(run.scheduled_for.getTime()).toBe(previousSlot('*/5 * * * *', clock.now())?.getTime());
    await scheduler.stop(100);
  });

  /** A daily job that needs every date (as the close does): nothing to do but be recorded. */
  const everyDayJob: JobDefinition = { name: 'every-day', defaultSchedules: ['10 0 * * *'], catchUp: 'every', businessDateFor: (businessNow) => shanghaiDate(businessNow), run: async () => ({}) };
  const seedRun = (job: string, slot: Date) =>
    database.db('job_runs').insert({ job, run_key: `${job}@${slot.toISOString()}`, trigger: 'SCHEDULE', scheduled_for: slot, business_date: shanghaiDate(slot), status: 'SUCCEEDED', started_at: slot, finished_at: slot, instance: 'test' });

  it('catches up every missed slot of an `every` job, oldest first, each on its own business date', async () => {
    await seedRun('every-day', new Date('2026-12-05T00:10:00+08:00'));
    const now = fixedClock(new Date('2026-12-10T12:00:00+08:00'));
    const scheduler = new Scheduler({ runner: new JobRunner({ db: database.db, connectionString: database.connectionString, clocks: { real: now, business: now }, log }), schedules: resolveSchedules([everyDayJob], {}), realClock: now, log, db: database.db });
    const outcomes = await scheduler.catchUp();
    expect(outcomes.map((o) => o.outcome)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const runs = await database.db('job_runs').where({ trigger: 'CATCH_UP' }).orderBy('id').select('business_date', 'scheduled_for');
    expect(runs.map((run) => run.business_date)).toEqual(['2026-12-06', '2026-12-07', '2026-12-08', '2026-12-09', '2026-12-10']);
    expect(runs.map((run) => run.scheduled_for.toISOString())).toEqual(['2026-12-05T16:10:00.000Z', '2026-12-06T16:10:00.000Z', '2026-12-07T16:10:00.000Z', '2026-12-08T16:10:00.000Z', '2026-12-09T16:10:00.000Z']);
    expect(await scheduler.catchUp()).toEqual([]);
  });

  it('bounds the catch-up: at most CATCH_UP_SLOTS_MAX slots, the oldest within the lookback first', async () => {
    await seedRun('every-day', new Date('2026-10-01T00:10:00+08:00'));
    const now = fixedClock(new Date('2026-12-10T12:00:00+08:00'));
    const scheduler = new Scheduler({ runner: new JobRunner({ db: database.db, connectionString: database.connectionString, clocks: { real: now, business: now }, log }), schedules: resolveSchedules([everyDayJob], {}), realClock: now, log, db: database.db });
    const outcomes = await scheduler.catchUp();
    expect(outcomes).toHaveLength(CATCH_UP_SLOTS_MAX);
    const dates = (await database.db('job_runs').where({ trigger: 'CATCH_UP' }).orderBy('id').select('business_date')).map((run) => run.business_date);
    // The lookback (31 days) starts at 12:00 on 9 November: its first slot is 00:10 on the 10th.
    expect(dates[0]).toBe('2026-11-10');
    expect(dates[dates.length - 1]).toBe('2026-12-10');
  });

  it('catches up only the latest slot of a `latest` job, however many it missed', async () => {
    const latestJob: JobDefinition = { ...everyDayJob, name: 'latest-day', catchUp: 'latest' };
    await seedRun('latest-day', new Date('2026-12-05T00:10:00+08:00'));
    const now = fixedClock(new Date('2026-12-10T12:00:00+08:00'));
    const scheduler = new Scheduler({ runner: new JobRunner({ db: database.db, connectionString: database.connectionString, clocks: { real: now, business: now }, log }), schedules: resolveSchedules([latestJob], {}), realClock: now, log, db: database.db });
    expect((await scheduler.catchUp()).map((o) => o.outcome)).toEqual(['SUCCEEDED']);
    expect(await database.db('job_runs').where({ trigger: 'CATCH_UP' }).select('business_date')).toEqual([{ business_date: '2026-12-10' }]);
  });

  it('runs manual runs even after the scheduled one, waiting for the lock', async () => {
    const job = crashableJob({ holdMs: 200 });
    const scheduled = newRunner().run({ job, trigger: 'SCHEDULE', scheduledFor: new Date('2026-11-27T05:00:00Z') });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const manual = await newRunner().run({ job, trigger: 'MANUAL', businessDate: '2026-11-20', lockWaitMs: 5000 });
    expect((await scheduled).outcome).toBe('SUCCEEDED');
    expect(manual.outcome).toBe('SUCCEEDED');
    expect(await database.db('job_runs').where({ trigger: 'MANUAL' }).first()).toMatchObject({ business_date: '2026-11-20' });
  });
});

describe('schedules', () => {
  it('finds the latest slot in Asia/Shanghai', () => {
    // 03:00 in Shanghai on the 27th: the last 00:10 run was at 00:10 Shanghai the same day.
    expect(previousSlot('10 0 * * *', new Date('2026-11-27T03:00:00+08:00'))?.toISOString()).toBe('2026-11-26T16:10:00.000Z');
    expect(previousSlot('0 2,6 * * *', new Date('2026-11-27T05:59:00+08:00'))?.toISOString()).toBe('2026-11-26T18:00:00.000Z');
    expect(previousSlot('30 16 * * *', new Date('2026-11-27T16:30:00+08:00'))?.toISOString()).toBe('2026-11-27T08:30:00.000Z');
  });

  it('finds the latest slot of several expressions', () => {
    const reconcileLike = ['0 2 * * *', '30 6 * * *', '30 10 * * *'];
    expect(previousSlot(reconcileLike, new Date('2026-11-27T08:00:00+08:00'))?.toISOString()).toBe('2026-11-26T22:30:00.000Z');
    expect(previousSlot(reconcileLike, new Date('2026-11-27T01:59:00+08:00'))?.toISOString()).toBe('2026-11-26T02:30:00.000Z');
    expect(previousSlot('* * * * *', new Date('2026-11-27T01:59:30+08:00'))?.toISOString()).toBe('2026-11-26T17:59:00.000Z');
  });

  it('takes a ";"-separated list of expressions per job and refuses a bad one, naming the variable and the accepted form', () => {
    const job = crashableJob();
    expect(resolveSchedules([job], { 'test-job': '0 2 * * *; 30 6 * * * ;30 10 * * *' })[0]?.expressions).toEqual(['0 2 * * *', '30 6 * * *', '30 10 * * *']);
    expect(resolveSchedules([job], {})[0]?.expressions).toEqual(['*/5 * * * *']);
    for (const bad of ['0 2 * * *;not cron', '0 2 * * *;', ';', '', '0 2 * * *;;30 6 * * *', '61 2 * * *']) {
      expect(() => resolveSchedules([job], { 'test-job': bad })).toThrow(ConfigError);
      expect(() => resolveSchedules([job], { 'test-job': bad })).toThrow(/TONGFU_CRON_TEST_JOB: .*separated by ";"/);
    }
    expect(() => parseScheduleList('TONGFU_CRON_X', Array.from({ length: 25 }, (_, minute) => `${minute} 0 * * *`).join(';'))).toThrow(/at most 24/);
  });

  it("accepts the README's example and refuses a job that does not exist yet", () => {
    const readme = readFileSync(path.resolve('README.md'), 'utf8');
    const example = /TONGFU_CRON_EXPIRE_NOTICES="([^"]+)"/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const jobs = allJobs({} as Services);
    const schedules = resolveSchedules(jobs, loadConfig({ TONGFU_CRON_EXPIRE_NOTICES: example }).cronOverrides);
    expect(schedules.find((s) => s.job.name === 'expire-notices')?.expressions).toEqual(['10 0 * * *', '30 12 * * *']);
    expect(schedules.find((s) => s.job.name === 'purge-nonces')?.expressions).toEqual(['0 * * * *']);
    expect(schedules.find((s) => s.job.name === 'reconcile')?.expressions).toEqual(['0 2 * * *', '30 6 * * *', '30 10 * * *']);
    expect(() => resolveSchedules(jobs, loadConfig({ TONGFU_CRON_NO_SUCH_JOB: '0 2 * * *' }).cronOverrides)).toThrow(/TONGFU_CRON_NO_SUCH_JOB: no job is named no-such-job/);
  });

  it('refuses an unknown job or a bad expression, naming the variable', () => {
    const job = crashableJob();
    expect(() => resolveSchedules([job], { 'test-job': 'not cron' })).toThrow(ConfigError);
    expect(() => resolveSchedules([job], { 'test-job': 'not cron' })).toThrow(/TONGFU_CRON_TEST_JOB/);
    expect(() => resolveSchedules([job], { 'no-such': '0 * * * *' })).toThrow(/TONGFU_CRON_NO_SUCH/);
    expect(resolveSchedules([job], { 'test-job': '0 3 * * *' })[0]?.expressions).toEqual(['0 3 * * *']);
  });
});
