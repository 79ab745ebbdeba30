import { ManualClock } from '../../src/domain/clock';
import { LOOKUPS_PER_ADDRESS_MAX } from '../../src/services/publicLookupLimits';
import { buildWorld, signedAs } from '../helpers/builders';
import { issueNotice } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';

// TONGFU_TRUSTED_PROXIES (contracts/decisions/0057-client-address-and-callbacks.md): the public
// lookup limits count the client X-Forwarded-For names only when the socket's peer is a trusted
// proxy, and count an IPv6 client by its /64. The tests' peer is always 127.0.0.1.

const PAYER = '阿拉坦·巴根';

function windowStart(): Date {
  return new Date(Math.floor(Date.now() / 60_000) * 60_000 + 1_000);
}

async function startWithNotice(env: Record<string, string>): Promise<{ service: TestService; payCode: string; real: ManualClock }> {
  const real = new ManualClock(windowStart());
  const service = await startTestService({ businessNow: new Date('2026-11-27T10:00:00+08:00'), real, env });
  const world = await buildWorld(service);
  const payCode = await issueNotice(signedAs(service, world.unit), { payer: { name: PAYER }, dueDate: '2026-12-05' });
  return { service, payCode, real };
}

function lookupFrom(service: TestService, payCode: string, forwardedFor?: string): Promise<number> {
  const headers: Record<string, string> = forwardedFor === undefined ? {} : { 'X-Forwarded-For': forwardedFor };
  return service.request('GET', `/v1/public/notices/${payCode}?payerName=${encodeURIComponent(PAYER)}`, { headers }).then((response) => response.status);
}

async function addressSubjects(service: TestService): Promise<string[]> {
  const rows = await service.database.db('public_lookup_counters').where({ scope: 'ADDRESS' }).select<Array<{ subject: string }>>('subject');
  return rows.map((row) => row.subject).sort();
}

describe('without trusted proxies (the default)', () => {
  let service: TestService;
  let payCode: string;
  beforeAll(async () => {
    ({ service, payCode } = await startWithNotice({}));
  });
  afterAll(async () => {
    await service?.close();
  });

  it('ignores X-Forwarded-For: a client cannot buy more lookups by spoofing it', async () => {
    const statuses: number[] = [];
    for (let index = 0; index <= LOOKUPS_PER_ADDRESS_MAX; index += 1) statuses.push(await lookupFrom(service, payCode, `198.51.100.${index + 1}`));
    expect(statuses).toEqual([...Array(LOOKUPS_PER_ADDRESS_MAX).fill(200), 429]);
    expect(await addressSubjects(service)).toEqual(['127.0.0.1']);
  });
});

describe('behind a trusted proxy', () => {
  let service: TestService;
  let payCode: string;
  let real: ManualClock;
  beforeAll(async () => {
    ({ service, payCode, real } = await startWithNotice({ TONGFU_TRUSTED_PROXIES: '127.0.0.1/32, 10.0.0.0/8' }));
  });
  afterAll(async () => {
    await service?.close();
  });
  beforeEach(async () => {
    real.set(windowStart());
    await service.database.db('public_lookup_counters').delete();
  });

  it('counts the right-most hop that is not a trusted proxy, whatever the client wrote left of it', async () => {
    const statuses: number[] = [];
    for (let index = 0; index < LOOKUPS_PER_ADDRESS_MAX; index += 1) statuses.push(await lookupFrom(service, payCode, `203.0.113.${index}, 198.51.100.7, 10.1.1.1`));
    expect(statuses).toEqual(Array(LOOKUPS_PER_ADDRESS_MAX).fill(200));
    expect(await lookupFrom(service, payCode, '198.51.100.7')).toBe(429);
    // Another client behind the same proxy has its own budget; the proxy itself too.
    expect(await lookupFrom(service, payCode, '198.51.100.8')).toBe(200);
    expect(await lookupFrom(service, payCode)).toBe(200);
    expect(await addressSubjects(service)).toEqual(['127.0.0.1', '198.51.100.7', '198.51.100.8']);
  });

  it('counts an IPv6 client by its /64', async () => {
    const statuses: number[] = [];
    for (let index = 0; index < LOOKUPS_PER_ADDRESS_MAX; index += 1) statuses.push(await lookupFrom(service, payCode, `2001:db8:5:6:${(index + 1).toString(16)}::1`));
    expect(statuses).toEqual(Array(LOOKUPS_PER_ADDRESS_MAX).fill(200));
    expect(await lookupFrom(service, payCode, '2001:db8:5:6:ffff:ffff:ffff:fffe')).toBe(429);
    expect(await lookupFrom(service, payCode, '2001:db8:5:7::1')).toBe(200);
    expect(await addressSubjects(service)).toEqual(['2001:db8:5:6::/64', '2001:db8:5:7::/64']);
  });
});
