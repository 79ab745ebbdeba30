import crypto from 'node:crypto';
import { runCli } from '../../src/cli/main';
import { allJobs } from '../../src/jobs/registry';
import { expireNoticesJob } from '../../src/jobs/expireNotices';
import { expireNotices } from '../../src/services/notices';
import { addUnit, buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { schemaErrors } from '../helpers/contract';
import { startTestService, TestService } from '../helpers/testService';

/**
 * The expire-notices job (docs/operations.md §4, docs/lifecycle.md §1): at 00:10 Asia/Shanghai, ISSUED
 * notices whose expireDate is before the business date become EXPIRED — run here through the job
 * runner exactly as the schedule runs it, and through `job run` as an operator does.
 */

let service: TestService;
let world: World;
let unit: SignedCall;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date('2026-11-27T10:00:00+08:00') });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
});

afterAll(async () => {
  await service.close();
});

async function issue(expireDate: string | undefined): Promise<string> {
  service.clocks.business.set(new Date('2026-11-27T10:00:00+08:00'));
  const response = await unit('POST', '/v1/unit/notices', {
    bizRef: `EX-${crypto.randomBytes(6).toString('hex')}`,
    noticeType: 1,
    payer: { name: '其其格' },
    items: [{ itemCode: ITEMS.fine, amount: '120.00' }],
    dueDate: '2026-11-28',
    ...(expireDate === undefined ? {} : { expireDate }),
  });
  expect(response.status).toBe(201);
  return response.body.payCode;
}

async function statusOf(payCode: string): Promise<string> {
  return (await service.database.db('notices').where({ pay_code: payCode }).first()).status;
}

describe('expire-notices', () => {
  it('is registered to run at 00:10 every day', () => {
    const job = allJobs(service.runtime.services).find((candidate) => candidate.name === 'expire-notices');
    expect(job).toMatchObject({ defaultSchedules: ['10 0 * * *'], catchUp: 'latest' });
  });

  it('expires ISSUED notices past their expireDate, on the business date, once', async () => {
    const endsNov30 = await issue('2026-11-30');
    const endsDec1 = await issue('2026-12-01');
    const neverEnds = await issue(undefined);
    const voided = await issue('2026-11-29');
    await unit('POST', `/v1/unit/notices/${voided}/void`, { reason: '作废' });
    const paid = await issue('2026-11-29');
    await service.database.db('notices').where({ pay_code: paid }).update({ status: 'PAID', paid_at: new Date(), paid_amount: '120.00', late_fee_paid: '0.00' });

    // 00:10 on 1 December: the 30 November notice was payable all of the 30th and expires now.
    service.clocks.business.set(new Date('2026-12-01T00:10:00+08:00'));
    const first = await service.runtime.runner.run({ job: expireNoticesJob, trigger: 'SCHEDULE', scheduledFor: new Date('2026-11-30T16:10:00Z') });
    expect(first).toMatchObject({ outcome: 'SUCCEEDED', counts: { expired: 1 } });
    expect(await Promise.all([endsNov30, endsDec1, neverEnds, voided, paid].map(statusOf))).toEqual(['EXPIRED', 'ISSUED', 'ISSUED', 'VOIDED', 'PAID']);
    const run = await service.database.db('job_runs').where({ id: first.outcome === 'SUCCEEDED' ? first.runId : '0' }).first();
    expect(run).toMatchObject({ job: 'expire-notices', business_date: '2026-12-01', status: 'SUCCEEDED' });

    // The unit learns of it: one notice.expired, in the job's transaction.
    const expiredEvents = async () =>
      ((await unit('GET', '/v1/unit/events?after=0&limit=500')).body.data as Array<{ type: string; occurredAt: string; data: unknown }>).filter((event) => event.type === 'notice.expired');
    const bizRef = (await service.database.db('notices').where({ pay_code: endsNov30 }).first()).biz_ref as string;
    expect(await expiredEvents()).toEqual([
      expect.objectContaining({ type: 'notice.expired', occurredAt: '2026-12-01T00:10:00+08:00', data: { notice: { payCode: endsNov30, bizRef, status: 'EXPIRED', expireDate: '2026-11-30' } } }),
    ]);
    expect(schemaErrors('NoticeExpiredEventData', (await expiredEvents())[0]?.data)).toEqual([]);
    // Another unit hears nothing of it.
    const other = signedAs(service, await addUnit(world, { code: 'UNIT_OTHER_EX', name: '其他执收单位', itemCodes: [ITEMS.fine] }));
    expect(((await other('GET', '/v1/unit/events?after=0&limit=500')).body.data as Array<{ type: string }>).filter((event) => event.type === 'notice.expired')).toEqual([]);

    // Rerunning changes nothing, and tells nobody again.
    const again = await service.runtime.runner.run({ job: expireNoticesJob, trigger: 'MANUAL' });
    expect(again).toMatchObject({ outcome: 'SUCCEEDED', counts: { expired: 0 } });
    expect(await expiredEvents()).toHaveLength(1);

    // Readers see it: not payable, nothing owed, and no longer voidable.
    const verified = await signedAs(service, world.agency)('GET', `/v1/agency/notices/${endsNov30}`);
    expect(verified.body).toMatchObject({ status: 'EXPIRED', payable: false, lateFee: '0.00', amountDue: '0.00' });
    const notice = await unit('GET', `/v1/unit/notices/${endsNov30}`);
    expect(notice.body).toMatchObject({ status: 'EXPIRED', amountDue: '0.00' });
    const voidExpired = await unit('POST', `/v1/unit/notices/${endsNov30}/void`, { reason: 'x' });
    expect([voidExpired.status, voidExpired.body.error.code]).toEqual([409, 'NOTICE_NOT_VOIDABLE']);
    expect((await unit('GET', '/v1/unit/notices?status=EXPIRED')).body.data.map((n: { payCode: string }) => n.payCode)).toEqual([endsNov30]);
  });

  it('runs from the CLI for a given date', async () => {
    const codes = await Promise.all(Array.from({ length: 12 }, () => issue('2026-12-02')));
    const out: unknown[] = [];
    const code = await runCli(['job', 'run', 'expire-notices', '--date', '2026-12-03'], { out: (value) => out.push(value), err: () => undefined }, {
      DATABASE_URL: service.database.connectionString,
      LOG_LEVEL: 'silent',
      TONGFU_JOBS: 'off',
    });
    expect(code).toBe(0);
    expect(out[0]).toMatchObject({ outcome: 'SUCCEEDED', counts: { expired: expect.any(Number) } });
    expect((out[0] as { counts: { expired: number } }).counts.expired).toBeGreaterThanOrEqual(12);
    expect(new Set(await Promise.all(codes.map(statusOf)))).toEqual(new Set(['EXPIRED']));
  });

  it('works through any number of notices batch by batch', async () => {
    const codes = await Promise.all(Array.from({ length: 23 }, () => issue('2026-12-04')));
    const later = await issue('2026-12-06');
    expect(await expireNotices(service.database.db, { today: '2026-12-05', at: new Date(), batchRows: 5 })).toBe(23);
    expect(new Set(await Promise.all(codes.map(statusOf)))).toEqual(new Set(['EXPIRED']));
    expect(await statusOf(later)).toBe('ISSUED');
    expect(await expireNotices(service.database.db, { today: '2026-12-05', at: new Date(), batchRows: 5 })).toBe(0);
  });
});
