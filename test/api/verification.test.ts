import crypto from 'node:crypto';
import { ManualClock } from '../../src/domain/clock';
import { FAILED_LOOKUPS_PER_PAY_CODE_MAX, LOOKUPS_PER_ADDRESS_MAX } from '../../src/services/publicLookupLimits';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { startSecondInstance } from '../helpers/instances';
import { startTestService, TestResponse, TestService } from '../helpers/testService';
import payCodeVectors from '../unit/domain/fixtures/paycodes.json';

/**
 * Verification (docs/interface.md §6.3): an agency looks a notice up before taking money; and the
 * payer's public lookup (§6), which needs the payer's name and is rate-limited across every
 * instance on the database.
 */

const PAYER = '阿拉坦·巴根';
const ID_NUMBER = '150102199001010019';

let service: TestService;
let second: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
/** The real clock of both instances, held inside one rate-limit window unless a test moves it. */
let real: ManualClock;

function windowStart(): Date {
  return new Date(Math.floor(Date.now() / 60_000) * 60_000 + 1_000);
}

beforeAll(async () => {
  real = new ManualClock(windowStart());
  service = await startTestService({ businessNow: new Date('2026-11-27T10:00:00+08:00'), real });
  second = await startSecondInstance(service);
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  await second.close();
  await service.close();
});

beforeEach(async () => {
  service.clocks.business.set(new Date('2026-11-27T10:00:00+08:00'));
  // Each test starts with fresh limits, in a window of its own that it cannot run out of.
  real.set(windowStart());
  await service.database.db('public_lookup_counters').delete();
});

async function issue(overrides: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const response = await unit('POST', '/v1/unit/notices', {
    bizRef: `V-${crypto.randomBytes(6).toString('hex')}`,
    noticeType: 1,
    payer: { name: PAYER, idNumber: ID_NUMBER, mobile: '13700001111' },
    items: [
      { itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' },
      { itemCode: ITEMS.fine, amount: '35.50' },
    ],
    dueDate: '2026-12-05',
    expireDate: '2026-12-20',
    ...overrides,
  });
  expect(response.status).toBe(201);
  return response.body;
}

function lookup(instance: TestService, payCode: string, payerName?: string): Promise<TestResponse> {
  return instance.request('GET', `/v1/public/notices/${payCode}${payerName === undefined ? '' : `?payerName=${encodeURIComponent(payerName)}`}`);
}

function withoutRequestId(response: TestResponse): unknown {
  return { status: response.status, error: { ...response.body.error, requestId: undefined } };
}

describe('verification by an agency', () => {
  it('answers the notice as an agency sees it, the payer name masked', async () => {
    const notice = await issue();
    const response = await agency('GET', `/v1/agency/notices/${notice.payCode}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      payCode: notice.payCode,
      status: 'ISSUED',
      payable: true,
      unitCode: 'UNIT_SCJ',
      unitName: '新城区市场监督管理局',
      payerNameMasked: '**根',
      items: [
        { itemName: '营业执照工本费', amount: '100.00' },
        { itemName: '交通违法罚款', amount: '35.50' },
      ],
      totalAmount: '135.50',
      lateFee: '0.00',
      amountDue: '135.50',
      dueDate: '2026-12-05',
      expireDate: '2026-12-20',
      asOf: '2026-11-27T10:00:00+08:00',
    });
    expect(response.text).not.toContain(ID_NUMBER);
    expect(response.text).not.toContain('阿拉坦');
  });

  it('says whether a given payer name matches, comparing names as §6 says', async () => {
    const notice = await issue();
    const matches = async (name: string) => (await agency('GET', `/v1/agency/notices/${notice.payCode}?payerName=${encodeURIComponent(name)}`)).body.payerNameMatches;
    expect(await matches(PAYER)).toBe(true);
    expect(await matches('阿拉坦•巴根')).toBe(true);
    expect(await matches(' 阿拉坦 ・ 巴根 ')).toBe(true);
    expect(await matches('阿拉坦巴根')).toBe(false);
    expect(await matches('巴根')).toBe(false);
  });

  it('answers paid, voided and expired notices with payable false', async () => {
    const voided = await issue();
    await unit('POST', `/v1/unit/notices/${voided.payCode}/void`, { reason: '错误' });
    const paid = await issue();
    await service.database.db('notices').where({ pay_code: paid.payCode }).update({ status: 'PAID', paid_at: new Date(), paid_amount: '135.50', late_fee_paid: '0.00' });
    const expiring = await issue({ dueDate: '2026-11-27', expireDate: '2026-11-28' });

    for (const [payCode, status] of [[voided.payCode, 'VOIDED'], [paid.payCode, 'PAID']]) {
      const response = await agency('GET', `/v1/agency/notices/${payCode}`);
      expect(response.body).toMatchObject({ status, payable: false, lateFee: '0.00', amountDue: '0.00', totalAmount: '135.50' });
    }
    // Past its expireDate: not payable even before the nightly job marks it EXPIRED.
    service.clocks.business.set(new Date('2026-11-29T09:00:00+08:00'));
    expect((await agency('GET', `/v1/agency/notices/${expiring.payCode}`)).body).toMatchObject({ status: 'ISSUED', payable: false });
    service.clocks.business.set(new Date('2026-11-28T23:59:00+08:00'));
    expect((await agency('GET', `/v1/agency/notices/${expiring.payCode}`)).body).toMatchObject({ status: 'ISSUED', payable: true, lateFee: '1.07' }); // 35.50 × 0.03 × 1 day = 1.065 → 1.07
  });

  it('refuses bad check digits with PAY_CODE_INVALID and answers NOTICE_NOT_FOUND for a code nobody issued', async () => {
    for (const code of payCodeVectors.invalid) {
      const response = await agency('GET', `/v1/agency/notices/${code}`);
      expect([code, response.status, response.body.error.code]).toEqual([code, 400, 'PAY_CODE_INVALID']);
    }
    const unknown = await agency('GET', '/v1/agency/notices/15010026300000004273');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'NOTICE_NOT_FOUND']);
  });

  it('is for agencies only', async () => {
    const notice = await issue();
    const asUnit = await unit('GET', `/v1/agency/notices/${notice.payCode}`);
    expect([asUnit.status, asUnit.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const unsigned = await service.request('GET', `/v1/agency/notices/${notice.payCode}`);
    expect([unsigned.status, unsigned.body.error.code]).toEqual([401, 'SIGNATURE_MISSING']);
  });

  it('stores the request nonce with its read (decision 0009): a copy is NONCE_REUSED, found, unknown or invalid', async () => {
    const notice = await issue();
    const cases: Array<[string, number]> = [
      [notice.payCode as string, 200],
      ['15010026300000004273', 404],
      [payCodeVectors.invalid[0]!, 400],
    ];
    for (const [code, status] of cases) {
      const nonce = `verify-${crypto.randomBytes(10).toString('hex')}`;
      expect([code, (await agency('GET', `/v1/agency/notices/${code}`, undefined, { nonce })).status]).toEqual([code, status]);
      const stored = await service.database.db('request_nonces').where({ app_id: world.agency.appId, nonce }).count({ n: '*' });
      expect([code, Number(stored[0]!.n)]).toEqual([code, 1]);
      const copy = await agency('GET', `/v1/agency/notices/${code}`, undefined, { nonce });
      expect([code, copy.status, copy.body.error?.code]).toEqual([code, 401, 'NONCE_REUSED']);
    }
  });
});

describe("the payer's public lookup", () => {
  it('answers the notice for its payer name, masked', async () => {
    const notice = await issue();
    const response = await lookup(service, notice.payCode, '阿拉坦・巴根');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      payCode: notice.payCode,
      unitName: '新城区市场监督管理局',
      payerNameMasked: '**根',
      items: [
        { itemName: '营业执照工本费', amount: '100.00' },
        { itemName: '交通违法罚款', amount: '35.50' },
      ],
      totalAmount: '135.50',
      lateFee: '0.00',
      amountDue: '135.50',
      dueDate: '2026-12-05',
      status: 'ISSUED',
      payable: true,
    });
    expect(response.text).not.toContain(ID_NUMBER);
    expect(response.text).not.toContain('13700001111');
  });

  it('answers a wrong or missing name exactly as an unknown code', async () => {
    const notice = await issue();
    // A code that passes its check digits and was never issued, with the same prefix.
    const unknownCode = payCodeVectors.valid[1] as string;
    const unknown = await lookup(service, unknownCode, PAYER);
    const wrong = await lookup(service, notice.payCode, '张三');
    const missing = await lookup(service, notice.payCode);
    const empty = await lookup(service, notice.payCode, '');
    for (const response of [unknown, wrong, missing, empty]) {
      expect([response.status, response.body.error.code]).toEqual([404, 'NOTICE_NOT_FOUND']);
      expect(Object.keys(response.body.error).sort()).toEqual(['code', 'details', 'message', 'requestId']);
    }
    // Same text but the code itself, which the caller sent anyway.
    const normalize = (response: TestResponse, code: string) => JSON.stringify(withoutRequestId(response)).split(code).join('<code>');
    expect(normalize(wrong, notice.payCode)).toBe(normalize(unknown, unknownCode));
    expect(normalize(missing, notice.payCode)).toBe(normalize(unknown, unknownCode));
    const invalid = await lookup(service, '15010226100000000104', PAYER);
    expect([invalid.status, invalid.body.error.code]).toEqual([400, 'PAY_CODE_INVALID']);
  });

  it(`allows ${LOOKUPS_PER_ADDRESS_MAX} lookups a minute per address, counted across instances`, async () => {
    const notice = await issue();
    const statuses: number[] = [];
    for (let index = 0; index < LOOKUPS_PER_ADDRESS_MAX; index += 1) {
      statuses.push((await lookup(index % 2 === 0 ? service : second, notice.payCode, PAYER)).status);
    }
    expect(statuses).toEqual(Array(LOOKUPS_PER_ADDRESS_MAX).fill(200));
    for (const instance of [service, second]) {
      const limited = await lookup(instance, notice.payCode, PAYER);
      expect([limited.status, limited.body.error.code]).toEqual([429, 'RATE_LIMITED']);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // The limit is per address and per minute: the next window admits again.
    real.advance(60_000);
    expect((await lookup(second, notice.payCode, PAYER)).status).toBe(200);
  });

  it(`refuses a payCode after ${FAILED_LOOKUPS_PER_PAY_CODE_MAX} failed lookups in a minute, across instances, even with the right name`, async () => {
    const notice = await issue();
    const other = await issue();
    const failures = await Promise.all(Array.from({ length: FAILED_LOOKUPS_PER_PAY_CODE_MAX }, (_, index) => lookup(index % 2 === 0 ? service : second, notice.payCode, `猜测${index}`)));
    expect(failures.map((response) => response.status)).toEqual(Array(FAILED_LOOKUPS_PER_PAY_CODE_MAX).fill(404));
    for (const instance of [service, second]) {
      const limited = await lookup(instance, notice.payCode, PAYER);
      expect([limited.status, limited.body.error.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Other codes are not affected; the code recovers in the next window.
    expect((await lookup(second, other.payCode, PAYER)).status).toBe(200);
    real.advance(60_000);
    expect((await lookup(service, notice.payCode, PAYER)).status).toBe(200);
  });

  it('holds the failure limit against guesses sent all at once to both instances', async () => {
    const notice = await issue();
    const guesses = await Promise.all(Array.from({ length: 25 }, (_, index) => lookup(index % 2 === 0 ? service : second, notice.payCode, `猜测${index}`)));
    const statuses = guesses.map((response) => response.status);
    expect(statuses.filter((status) => status === 404)).toHaveLength(FAILED_LOOKUPS_PER_PAY_CODE_MAX);
    expect(statuses.filter((status) => status === 429)).toHaveLength(25 - FAILED_LOOKUPS_PER_PAY_CODE_MAX);
  });

  it('does not count a successful lookup as a failure', async () => {
    const notice = await issue();
    for (let index = 0; index < FAILED_LOOKUPS_PER_PAY_CODE_MAX + 5; index += 1) expect((await lookup(service, notice.payCode, PAYER)).status).toBe(200);
    for (let index = 0; index < FAILED_LOOKUPS_PER_PAY_CODE_MAX; index += 1) expect((await lookup(second, notice.payCode, '错名')).status).toBe(404);
    expect((await lookup(service, notice.payCode, PAYER)).status).toBe(429);
  });

  it('counts unknown codes as failures too, so codes cannot be enumerated', async () => {
    const unknownCode = payCodeVectors.valid[2] as string;
    for (let index = 0; index < FAILED_LOOKUPS_PER_PAY_CODE_MAX; index += 1) expect((await lookup(service, unknownCode, PAYER)).status).toBe(404);
    expect((await lookup(second, unknownCode, PAYER)).status).toBe(429);
  });

  it('purges windows that have passed', async () => {
    const notice = await issue();
    await lookup(service, notice.payCode, PAYER);
    real.advance(3 * 60_000);
    // Each instance purges at most once a minute, in the background of a lookup.
    await lookup(service, notice.payCode, PAYER);
    await lookup(second, notice.payCode, PAYER);
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const old = await service.database.db('public_lookup_counters').where('window_start', '<', new Date(real.now().getTime() - 120_000)).count<{ count: string }[]>({ count: '*' });
      if (Number(old[0]?.count) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('old windows were not purged');
  });
});
