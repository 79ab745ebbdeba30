import pino from 'pino';
import { closeJob } from '../../src/jobs/close';
import { JobRunner } from '../../src/jobs/runner';
import { shanghai } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';

/**
 * A close run killed after sealing some of its dates is completed by the next attempt with the
 * counts of a clean run (docs/operations.md §4, docs/quality.md §2): each sealed date is counted in
 * the transaction that writes its close, so what an interrupted attempt sealed is not forgotten.
 */
jest.setTimeout(60_000);

let service: TestService;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-24T18:00:00')) });
});

afterAll(async () => {
  await service?.close();
});

it('counts every date a close run sealed, across an attempt that died half-way', async () => {
  const services = service.runtime.services;
  // The chain starts on the 20th; the run below seals the 21st, 22nd and 23rd.
  expect(await services.dailyCloses.closeThrough('2026-11-20')).toEqual(['2026-11-20']);

  // The first attempt dies right after the 21st committed (here: its log line throws).
  let killed = false;
  const dying = pino({
    level: 'info',
    hooks: {
      logMethod(args, method) {
        if (!killed && args.some((arg) => arg === 'daily close sealed')) {
          killed = true;
          throw new Error('killed after the first sealed date');
        }
        method.apply(this, args);
      },
    },
  }, pino.destination('/dev/null'));
  const deps = { db: service.database.db, connectionString: service.database.connectionString, clocks: services.deps.clocks };
  const request = { job: closeJob(services.dailyCloses), trigger: 'SCHEDULE' as const, scheduledFor: new Date('2026-11-24T09:00:00.000Z'), businessDate: '2026-11-23' };
  const first = await new JobRunner({ ...deps, log: dying }).run(request);
  expect(first).toMatchObject({ outcome: 'FAILED' });
  expect((await service.database.db('daily_closes').orderBy('business_date').pluck('business_date')).length).toBe(2);

  const second = await new JobRunner({ ...deps, log: services.deps.log }).run(request);
  expect(second).toMatchObject({ outcome: 'SUCCEEDED', attempts: 2, counts: { sealed: 3 } });
  const row = await service.database.db('job_runs').where({ run_key: second.runKey }).first('status', 'counts');
  expect(row).toEqual({ status: 'SUCCEEDED', counts: { sealed: 3 } });
  const dates = await service.database.db.raw<{ rows: Array<{ d: string }> }>(`SELECT to_char(business_date, 'YYYY-MM-DD') AS d FROM daily_closes ORDER BY business_date`);
  expect(dates.rows.map((r) => r.d)).toEqual(['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23']);
  expect((await services.dailyCloses.verifyChain()).breaks).toEqual([]);
});
