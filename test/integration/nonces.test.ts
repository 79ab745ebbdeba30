import pino from 'pino';
import { generateNonce } from '../../src/crypto/requestSigning';
import { ManualClock } from '../../src/domain/clock';
import { purgeNoncesJob } from '../../src/jobs/purgeNonces';
import { allJobs } from '../../src/jobs/registry';
import { JobRunner } from '../../src/jobs/runner';
import type { Services } from '../../src/services';
import { claimRequestNonce, NONCE_REUSE_WINDOW_MS, nonceClaimAt, purgeExpiredNonces } from '../../src/services/nonces';
import { createTestDatabase, TestDatabase } from '../helpers/database';

// Nonces of signed requests (docs/interface.md §2): used once per appId within 15 minutes, on the real
// clock, race-free across concurrent connections; purged hourly by `purge-nonces`.

const log = pino({ level: 'silent' });

describe('request nonces', () => {
  let database: TestDatabase;
  const real = new ManualClock(new Date('2026-11-27T02:00:00Z'));
  // The business clock is elsewhere on purpose: the nonce window must not follow it.
  const business = new ManualClock(new Date('2030-01-01T00:00:00Z'));

  beforeAll(async () => {
    database = await createTestDatabase(25);
  });
  afterAll(async () => {
    await database.drop();
  });
  beforeEach(async () => {
    // Every nonce but the table's sentinel (contracts/decisions/0059-nonces-after-a-database-crash.md).
    await database.db('request_nonces').whereNot({ app_id: '' }).delete();
  });

  const claim = (appId: string, nonce: string, at: Date = real.now()) => claimRequestNonce(database.db, nonceClaimAt(appId, nonce, at));
  const count = async () => Number((await database.db('request_nonces').whereNot({ app_id: '' }).count<Array<{ count: string }>>('* as count'))[0]!.count);

  it('is free once, refused within 15 minutes, and free again after them', async () => {
    const nonce = generateNonce();
    const t0 = real.now();
    expect(await claim('app_a', nonce, t0)).toBe(true);
    expect(await claim('app_a', nonce, t0)).toBe(false);
    expect(await claim('app_b', nonce, t0)).toBe(true);
    expect(await claim('app_a', nonce, new Date(t0.getTime() + NONCE_REUSE_WINDOW_MS - 1))).toBe(false);
    const later = new Date(t0.getTime() + NONCE_REUSE_WINDOW_MS);
    expect(await claim('app_a', nonce, later)).toBe(true);
    // Reusing an expired nonce restarts its window.
    expect(await claim('app_a', nonce, new Date(later.getTime() + 1000))).toBe(false);
    const row = await database.db('request_nonces').where({ app_id: 'app_a', nonce }).first<{ seen_at: Date }>('seen_at');
    expect(row!.seen_at.getTime()).toBe(later.getTime());
  });

  it('lets exactly one of many concurrent requests with one nonce through', async () => {
    for (let round = 0; round < 5; round += 1) {
      const nonce = generateNonce();
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => claim('app_race', nonce)));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
    }
  });

  it('lets exactly one of many concurrent reuses of an expired nonce through', async () => {
    const nonce = generateNonce();
    const t0 = real.now();
    expect(await claim('app_race', nonce, t0)).toBe(true);
    const later = new Date(t0.getTime() + NONCE_REUSE_WINDOW_MS + 1);
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => claim('app_race', nonce, later)));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
  });

  it('purges in bounded batches only what has expired', async () => {
    const now = real.now();
    for (let i = 0; i < 10; i += 1) await claim('app_old', generateNonce(), new Date(now.getTime() - NONCE_REUSE_WINDOW_MS - 1000 * (i + 1)));
    const fresh = generateNonce();
    await claim('app_new', fresh, new Date(now.getTime() - NONCE_REUSE_WINDOW_MS + 1000));
    expect(await purgeExpiredNonces(database.db, now, 3)).toBe(10);
    expect(await database.db('request_nonces').whereNot({ app_id: '' }).select('nonce')).toEqual([{ nonce: fresh }]);
  });

  describe('the purge-nonces job', () => {
    it('is registered to run hourly', () => {
      // The registry builds this job without any service.
      const job = allJobs({} as Services).find((candidate) => candidate.name === 'purge-nonces');
      expect(job).toBe(purgeNoncesJob);
      expect(job).toMatchObject({ defaultSchedules: ['0 * * * *'], catchUp: 'latest' });
      expect(job!.businessDateFor).toBeUndefined();
    });

    it('runs through the JobRunner on the real clock and reports what it purged', async () => {
      const runner = new JobRunner({ db: database.db, connectionString: database.connectionString, clocks: { real, business }, log });
      const now = real.now();
      for (let i = 0; i < 4; i += 1) await claim('app_job', generateNonce(), new Date(now.getTime() - NONCE_REUSE_WINDOW_MS - 60_000));
      await claim('app_job', generateNonce(), new Date(now.getTime() - 60_000));

      const first = await runner.run({ job: purgeNoncesJob, trigger: 'SCHEDULE', scheduledFor: new Date('2026-11-27T02:00:00Z') });
      expect(first).toMatchObject({ outcome: 'SUCCEEDED', counts: { purged: 4 } });
      expect(await count()).toBe(1);
      const row = await database.db('job_runs').where({ id: first.outcome === 'SUCCEEDED' ? first.runId : '0' }).first<{ counts: unknown; status: string }>('counts', 'status');
      expect(row).toEqual({ counts: { purged: 4 }, status: 'SUCCEEDED' });

      // Rerunning changes nothing; an hour later the remaining nonce has expired too.
      const again = await runner.run({ job: purgeNoncesJob, trigger: 'MANUAL' });
      expect(again).toMatchObject({ outcome: 'SUCCEEDED', counts: { purged: 0 } });
      real.advance(3_600_000);
      const nextHour = await runner.run({ job: purgeNoncesJob, trigger: 'SCHEDULE', scheduledFor: new Date('2026-11-27T03:00:00Z') });
      expect(nextHour).toMatchObject({ outcome: 'SUCCEEDED', counts: { purged: 1 } });
      expect(await count()).toBe(0);
    });
  });
});
