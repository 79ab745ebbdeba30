import { purgeNoncesJob } from '../../src/jobs/purgeNonces';
import { JobRunner } from '../../src/jobs/runner';
import { startTestService, TestService } from '../helpers/testService';

/**
 * A purge-nonces run that dies between batches is completed by the next attempt with a clean
 * run's count (docs/operations.md §4): each batch's deletion and its count commit together.
 */
jest.setTimeout(60_000);

let service: TestService;

beforeAll(async () => {
  service = await startTestService();
});

afterAll(async () => {
  await service?.close();
});

it('counts every nonce a purge run deleted, across an attempt that died after its first batch', async () => {
  const db = service.database.db;
  await db.raw(`INSERT INTO request_nonces (app_id, nonce, seen_at) SELECT 'app_old', 'n' || i, now() - interval '1 hour' FROM generate_series(1, 25000) AS i`);
  // The first attempt dies at its second batch (10,000 a batch), after the first committed.
  await db.raw('CREATE SEQUENCE test_purge_deletes');
  await db.raw(`CREATE FUNCTION test_purge_dies() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF nextval('test_purge_deletes') = 2 THEN RAISE EXCEPTION 'killed at the second batch'; END IF; RETURN NULL; END $$`);
  await db.raw('CREATE TRIGGER test_purge_dies AFTER DELETE ON request_nonces FOR EACH STATEMENT EXECUTE FUNCTION test_purge_dies()');

  const services = service.runtime.services;
  const runner = new JobRunner({ db, connectionString: service.database.connectionString, clocks: services.deps.clocks, log: services.deps.log });
  const request = { job: purgeNoncesJob, trigger: 'SCHEDULE' as const, scheduledFor: new Date('2026-11-26T10:00:00.000Z') };
  expect(await runner.run(request)).toMatchObject({ outcome: 'FAILED' });
  expect(Number((await db('request_nonces').where({ app_id: 'app_old' }).count<Array<{ count: string }>>('* as count'))[0]!.count)).toBe(15_000);

  await db.raw('DROP TRIGGER test_purge_dies ON request_nonces');
  const second = await runner.run(request);
  expect(second).toMatchObject({ outcome: 'SUCCEEDED', attempts: 2, counts: { purged: 25_000 } });
  expect(await db('job_runs').where({ run_key: second.runKey }).first('status', 'counts')).toEqual({ status: 'SUCCEEDED', counts: { purged: 25_000 } });
  expect(await db('request_nonces').where({ app_id: 'app_old' }).first('nonce')).toBeUndefined();
});
