import crypto from 'node:crypto';
import { canonicalJsonSha256Hex } from '../../src/crypto/canonicalJson';
import { isValidPayCode } from '../../src/domain/payCode';
import { addUnit, buildWorld, ITEMS, itemInput, REGION, signedAs, SignedCall, World } from '../helpers/builders';
import { capturingLogger, startSecondInstance } from '../helpers/instances';
import { startTestService, TestResponse, TestService } from '../helpers/testService';
import payCodeVectors from '../unit/domain/fixtures/paycodes.json';

/**
 * 执收部门 notices through the API (docs/interface.md §6.2): creation and every check in its order,
 * idempotency, the payCode, masking and encryption of the payer's data, snapshots, lists, voids
 * and another unit's notices. Every answer is checked against contracts/ by the test service.
 */

const ID_NUMBER = '150102198506121238';
const MOBILE = '13812345678';
const PAYER_NAME = '乌力吉·巴特尔';
/** 10:00 on 27 November 2026 in Shanghai. */
const START = new Date('2026-11-27T10:00:00+08:00');

let service: TestService;
let world: World;
let unit: SignedCall;

function bizRef(): string {
  return `BR-${crypto.randomBytes(6).toString('hex')}`;
}

function noticeBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bizRef: bizRef(),
    noticeType: 1,
    payer: { name: PAYER_NAME, idNumber: ID_NUMBER, mobile: MOBILE },
    items: [
      { itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' },
      { itemCode: ITEMS.fine, amount: '200.00' },
    ],
    dueDate: '2026-12-10',
    expireDate: '2026-12-31',
    remark: '测试',
    ...overrides,
  };
}

function errorCode(response: TestResponse): string | undefined {
  return response.body?.error?.code;
}

function problemPaths(response: TestResponse): string[] {
  return ((response.body?.error?.details?.fields ?? []) as Array<{ path: string }>).map((field) => field.path);
}

/** Neither the id number nor the mobile appears anywhere in a response. */
function expectNoPayerSecrets(response: TestResponse): void {
  expect(response.text).not.toContain(ID_NUMBER);
  expect(response.text).not.toContain(MOBILE);
  expect(response.text).not.toContain(ID_NUMBER.slice(6, 14)); // the birth date
}

beforeAll(async () => {
  service = await startTestService({ businessNow: START });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
});

afterAll(async () => {
  await service.close();
});

beforeEach(() => {
  service.clocks.business.set(START);
});

describe('creating a notice', () => {
  it('issues a notice in exactly the shape of §6.2, with the payer data masked', async () => {
    const body = noticeBody();
    const response = await unit('POST', '/v1/unit/notices', body);
    expect(response.status).toBe(201);
    expect(response.headers.get('idempotent-replay')).toBeNull();
    const notice = response.body;
    expect(notice).toEqual({
      payCode: expect.stringMatching(/^150102261[0-9]{11}$/),
      bizRef: body.bizRef,
      unitCode: 'UNIT_SCJ',
      unitName: '新城区市场监督管理局',
      noticeType: 1,
      status: 'ISSUED',
      payer: { name: PAYER_NAME, idNumberMasked: '150102********1238', mobileMasked: '138****5678' },
      items: [
        { itemCode: ITEMS.fixedFee, itemName: '营业执照工本费', quantity: 2, amount: '100.00', incomeSortCode: '103040101', budgetLevel: 3 },
        { itemCode: ITEMS.fine, itemName: '交通违法罚款', quantity: 1, amount: '200.00', incomeSortCode: '1030501', budgetLevel: 4 },
      ],
      totalAmount: '300.00',
      dueDate: '2026-12-10',
      expireDate: '2026-12-31',
      amountDue: '300.00',
      lateFee: '0.00',
      paidAmount: '0.00',
      paidAt: null,
      receiptNo: null,
      voidedAt: null,
      voidReason: null,
      payUrl: `http://tongfu.test/pay/${notice.payCode}`,
      createdAt: '2026-11-27T10:00:00+08:00',
    });
    expect(isValidPayCode(notice.payCode)).toBe(true);
    expectNoPayerSecrets(response);
  });

  it('accepts a notice without id number, mobile, expireDate or remark, and one due today', async () => {
    const response = await unit('POST', '/v1/unit/notices', { bizRef: bizRef(), noticeType: 2, payer: { name: '张三' }, items: [{ itemCode: ITEMS.sharedFee, amount: '1.00' }], dueDate: '2026-11-27' });
    expect(response.status).toBe(201);
    expect(response.body.payer).toEqual({ name: '张三', idNumberMasked: null, mobileMasked: null });
    expect(response.body.expireDate).toBeNull();
    expect(response.body.noticeType).toBe(2);
    expect(response.body.items[0]).toMatchObject({ budgetLevel: 0, quantity: 1 });
  });

  it('prices RANGE items between min × quantity and max × quantity, both inclusive', async () => {
    const range = (quantity: number, amount: string) => unit('POST', '/v1/unit/notices', noticeBody({ items: [{ itemCode: ITEMS.sharedFee, quantity, amount }] }));
    expect((await range(3, '3.00')).status).toBe(201);
    expect((await range(3, '1500.00')).status).toBe(201);
    const below = await range(3, '2.99');
    expect([below.status, errorCode(below)]).toEqual([422, 'ITEM_AMOUNT_OUT_OF_RANGE']);
    const above = await range(3, '1500.01');
    expect([above.status, errorCode(above)]).toEqual([422, 'ITEM_AMOUNT_OUT_OF_RANGE']);
    const fixed = await unit('POST', '/v1/unit/notices', noticeBody({ items: [{ itemCode: ITEMS.fixedFee, quantity: 3, amount: '100.00' }] }));
    expect([fixed.status, errorCode(fixed), fixed.body.error.details.expected]).toEqual([422, 'ITEM_AMOUNT_OUT_OF_RANGE', '150.00']);
  });

  it('refuses each shape problem with VALIDATION_FAILED, listing every problem', async () => {
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ noticeType: 3 }, ['/noticeType']],
      [{ items: [] }, ['/items']],
      [{ items: Array.from({ length: 51 }, () => ({ itemCode: ITEMS.fixedFee, amount: '50.00' })) }, ['/items']],
      [{ items: [{ itemCode: ITEMS.fixedFee, quantity: 0, amount: '0.00' }] }, ['/items/0/quantity']],
      [{ items: [{ itemCode: ITEMS.fixedFee, quantity: 10000, amount: '50.00' }] }, ['/items/0/quantity']],
      [{ items: [{ itemCode: ITEMS.fixedFee, quantity: 1.5, amount: '50.00' }] }, ['/items/0/quantity']],
      [{ items: [{ itemCode: 'bad code!', amount: '50.00' }] }, ['/items/0/itemCode']],
      [{ bizRef: 'x'.repeat(65) }, ['/bizRef']],
      [{ dueDate: '2026-02-30' }, ['/dueDate']],
      [{ extra: true }, ['/extra']],
      [{ payer: { name: '张三', phone: MOBILE } }, ['/payer/phone']],
      [{ payer: { name: '   ' } }, ['/payer/name']],
      // Invisible format characters: a name of nothing but a zero-width space, one read backwards.
      [{ payer: { name: '\u200B\u200B' } }, ['/payer/name']],
      [{ payer: { name: '\u202E根巴坦拉阿' } }, ['/payer/name']],
      // Controls the body lets through, shown as nothing: DEL, a C1 control, a line separator.
      [{ payer: { name: '张\u007F三' } }, ['/payer/name']],
      [{ payer: { name: '张\u0085三' } }, ['/payer/name']],
      [{ payer: { name: '张\u2028三' } }, ['/payer/name']],
      [{ payer: { name: '张三', mobile: '12812345678' } }, ['/payer/mobile']],
      [{ payer: { name: '张三', idNumber: '15010219850612123x' } }, ['/payer/idNumber']],
      // The GB 11643 check character, and a birth date that does not exist.
      [{ payer: { name: '张三', idNumber: '150102198506121237' } }, ['/payer/idNumber']],
      [{ payer: { name: '张三', idNumber: '150102198502301230' } }, ['/payer/idNumber']],
      [{ dueDate: '2026-12-10', expireDate: '2026-12-09' }, ['/expireDate']],
      // Rules beyond the shapes are listed together.
      [{ payer: { name: '张三', idNumber: '150102198506121237' }, expireDate: '2026-12-01' }, ['/payer/idNumber', '/expireDate']],
    ];
    for (const [overrides, paths] of cases) {
      const response = await unit('POST', '/v1/unit/notices', noticeBody(overrides));
      expect({ overrides, status: response.status, code: errorCode(response) }).toEqual({ overrides, status: 400, code: 'VALIDATION_FAILED' });
      expect(problemPaths(response).sort()).toEqual([...paths].sort());
      expectNoPayerSecrets(response);
    }
    const bad = await unit('POST', '/v1/unit/notices', noticeBody({ payer: { name: '张三', idNumber: '150102198506121237' } }));
    expect(bad.text).not.toContain('150102198506121237');
  });

  it('issues a notice to a payer named in Mongolian script with a vowel separator, and the payer finds it by that name', async () => {
    const name = 'ᠰᠠᠷ\u180Eᠠ ᠪᠠᠭᠠᠲᠤᠷ';
    const created = await unit('POST', '/v1/unit/notices', noticeBody({ payer: { name } }));
    expect([created.status, created.body.payer?.name]).toEqual([201, name]);
    const found = await service.request('GET', `/v1/public/notices/${created.body.payCode}?payerName=${encodeURIComponent(name)}`);
    expect([found.status, found.body.payerNameMasked]).toEqual([200, '**ᠷ']);
    // The separator anywhere else is invisible, and refused as every other format character.
    const hidden = await unit('POST', '/v1/unit/notices', noticeBody({ payer: { name: '王\u180E建国' } }));
    expect([hidden.status, errorCode(hidden), problemPaths(hidden)]).toEqual([400, 'VALIDATION_FAILED', ['/payer/name']]);
  });

  it('answers AMOUNT_INVALID for an amount that is not a two-decimal string, before any other problem', async () => {
    for (const amount of [100, '100', '100.0', '100.000', '-1.00', '1e2', '01.00']) {
      const response = await unit('POST', '/v1/unit/notices', noticeBody({ noticeType: 7, items: [{ itemCode: ITEMS.fixedFee, quantity: 2, amount }] }));
      expect({ amount, status: response.status, code: errorCode(response) }).toEqual({ amount, status: 400, code: 'AMOUNT_INVALID' });
    }
  });

  it('checks the business rules in order: UNKNOWN_REFERENCE, ITEM_NOT_AUTHORIZED, ITEM_INACTIVE, ITEM_AMOUNT_OUT_OF_RANGE, DUE_DATE_IN_PAST', async () => {
    const create = (items: unknown[], dueDate = '2026-12-10') => unit('POST', '/v1/unit/notices', noticeBody({ items, dueDate }));
    const wrongAmount = { itemCode: ITEMS.fixedFee, amount: '49.00' };
    const inactive = { itemCode: ITEMS.retired, amount: '10.00' };
    const notGranted = { itemCode: ITEMS.notGranted, amount: '10.00' };
    const unknown = { itemCode: 'NO_SUCH_ITEM', amount: '10.00' };

    // Each rule wins over every later one, whatever the order of the lines.
    const unknownFirst = await create([wrongAmount, inactive, notGranted, unknown], '2026-11-01');
    expect([unknownFirst.status, errorCode(unknownFirst), problemPaths(unknownFirst)]).toEqual([422, 'UNKNOWN_REFERENCE', ['/items/3/itemCode']]);
    const notAuthorized = await create([wrongAmount, inactive, notGranted], '2026-11-01');
    expect([notAuthorized.status, errorCode(notAuthorized), problemPaths(notAuthorized)]).toEqual([403, 'ITEM_NOT_AUTHORIZED', ['/items/2/itemCode']]);
    const inactiveFirst = await create([wrongAmount, inactive], '2026-11-01');
    expect([inactiveFirst.status, errorCode(inactiveFirst)]).toEqual([422, 'ITEM_INACTIVE']);
    const outOfRange = await create([wrongAmount], '2026-11-01');
    expect([outOfRange.status, errorCode(outOfRange)]).toEqual([422, 'ITEM_AMOUNT_OUT_OF_RANGE']);
    const pastDue = await create([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], '2026-11-26');
    expect([pastDue.status, errorCode(pastDue)]).toEqual([422, 'DUE_DATE_IN_PAST']);
  });

  it('decides DUE_DATE_IN_PAST on the Shanghai date of the business clock', async () => {
    // 23:59 on the 26th in UTC is already 07:59 on the 27th in Shanghai.
    service.clocks.business.set(new Date('2026-11-26T23:59:00Z'));
    const yesterday = await unit('POST', '/v1/unit/notices', noticeBody({ dueDate: '2026-11-26' }));
    expect(errorCode(yesterday)).toBe('DUE_DATE_IN_PAST');
    const today = await unit('POST', '/v1/unit/notices', noticeBody({ dueDate: '2026-11-27' }));
    expect(today.status).toBe(201);
  });

  it('refuses callers that are not units, and unsigned requests', async () => {
    const asAgency = await signedAs(service, world.agency)('POST', '/v1/unit/notices', noticeBody());
    expect([asAgency.status, errorCode(asAgency)]).toEqual([403, 'FORBIDDEN']);
    const unsigned = await service.request('POST', '/v1/unit/notices', { body: noticeBody() });
    expect([unsigned.status, errorCode(unsigned)]).toEqual([401, 'SIGNATURE_MISSING']);
  });
});

describe('idempotency on (unit, bizRef)', () => {
  it('replays the original 201 and body for the same content, even after the notice changed', async () => {
    const body = noticeBody();
    const first = await unit('POST', '/v1/unit/notices', body);
    expect(first.status).toBe(201);
    const again = await unit('POST', '/v1/unit/notices', body);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    expect(again.body).toEqual(first.body);

    // Keys in another order are the same content (canonical JSON).
    const reordered = JSON.parse(JSON.stringify({ items: body.items, payer: body.payer, ...body }));
    expect((await unit('POST', '/v1/unit/notices', reordered)).headers.get('idempotent-replay')).toBe('true');

    // Voided, the due date passed and the item changed: the repeat still gets the original answer.
    expect((await unit('POST', `/v1/unit/notices/${first.body.payCode}/void`, { reason: '开错' })).status).toBe(200);
    service.clocks.business.set(new Date('2026-12-20T10:00:00+08:00'));
    const late = await unit('POST', '/v1/unit/notices', body);
    expect([late.status, late.headers.get('idempotent-replay')]).toEqual([201, 'true']);
    expect(late.body).toEqual(first.body);
    expectNoPayerSecrets(late);
  });

  it('answers IDEMPOTENCY_CONFLICT for other content, before the business rules', async () => {
    const body = noticeBody();
    expect((await unit('POST', '/v1/unit/notices', body)).status).toBe(201);
    const variants: Array<Record<string, unknown>> = [
      { ...body, remark: '另一个' },
      { ...body, items: [{ itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' }] },
      // Only the id number or the mobile differs: compared by decrypting the stored values.
      { ...body, payer: { name: PAYER_NAME, idNumber: '11010519491231002X', mobile: MOBILE } },
      { ...body, payer: { name: PAYER_NAME, idNumber: ID_NUMBER, mobile: '13900000000' } },
      { ...body, payer: { name: PAYER_NAME, idNumber: ID_NUMBER } },
      // A default taken and the same value given are different content (the parsed body differs).
      { ...body, items: [{ itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' }, { itemCode: ITEMS.fine, quantity: 1, amount: '200.00' }] },
      // A business rule would refuse it, but the conflict comes first.
      { ...body, items: [{ itemCode: 'NO_SUCH_ITEM', amount: '1.00' }] },
      { ...body, dueDate: '2026-01-01' },
    ];
    for (const variant of variants) {
      const response = await unit('POST', '/v1/unit/notices', variant);
      expect({ variant, status: response.status, code: errorCode(response) }).toEqual({ variant, status: 409, code: 'IDEMPOTENCY_CONFLICT' });
      expectNoPayerSecrets(response);
    }
  });

  it('binds a key only on success, and per unit', async () => {
    const body = noticeBody({ items: [{ itemCode: ITEMS.fixedFee, amount: '1.00' }] });
    expect((await unit('POST', '/v1/unit/notices', body)).status).toBe(422);
    const fixed = { ...body, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }] };
    expect((await unit('POST', '/v1/unit/notices', fixed)).status).toBe(201);

    const other = await addUnit(world, { itemCodes: [ITEMS.fixedFee] });
    const theirs = await signedAs(service, other)('POST', '/v1/unit/notices', fixed);
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replay')).toBeNull();
  });

  it('does not keep an unkeyed hash of the whole body, which would give the id number back', async () => {
    const body = noticeBody();
    await unit('POST', '/v1/unit/notices', body);
    const key = await service.database.db('notice_keys').where({ biz_ref: body.bizRef }).first();
    expect(key.request_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(key.request_hash).not.toBe(canonicalJsonSha256Hex(body));
  });
});

describe('the request nonce, stored with the pay code’s serial (decision 0009)', () => {
  it('refuses a copy of a creation, valid or not, with NONCE_REUSED and creates nothing more', async () => {
    for (const [body, status] of [[noticeBody(), 201], [noticeBody({ items: [] }), 400]] as const) {
      const nonce = `notice-${crypto.randomBytes(10).toString('hex')}`;
      const first = await unit('POST', '/v1/unit/notices', body, { nonce });
      expect(first.status).toBe(status);
      const stored = await service.database.db('request_nonces').where({ app_id: world.unit.appId, nonce }).count({ n: '*' });
      expect(Number(stored[0]!.n)).toBe(1);
      const copy = await unit('POST', '/v1/unit/notices', body, { nonce });
      expect([copy.status, errorCode(copy)]).toEqual([401, 'NONCE_REUSED']);
      const notices = await service.database.db('notices').where({ biz_ref: body.bizRef as string }).count({ n: '*' });
      expect(Number(notices[0]!.n)).toBe(status === 201 ? 1 : 0);
    }
  });
});

describe('the payCode', () => {
  it('is region + Shanghai year + notice type + serial + MOD 97-10 check digits, serials per (region, yy, T)', async () => {
    const codes: string[] = [];
    for (let index = 0; index < 3; index += 1) codes.push((await unit('POST', '/v1/unit/notices', noticeBody())).body.payCode);
    for (const code of codes) {
      expect(isValidPayCode(code)).toBe(true);
      expect(code.slice(0, 6)).toBe(REGION.district);
      expect(code.slice(6, 8)).toBe('26');
      expect(code[8]).toBe('1');
    }
    // Every single-digit mistake and every swap of neighbouring digits in an issued code fails its check.
    for (const code of codes) {
      for (let position = 0; position < 20; position += 1) {
        for (let digit = 0; digit <= 9; digit += 1) {
          const changed = `${code.slice(0, position)}${digit}${code.slice(position + 1)}`;
          if (changed !== code) expect(isValidPayCode(changed)).toBe(false);
        }
        const swapped = `${code.slice(0, position)}${code[position + 1] ?? ''}${code[position]}${code.slice(position + 2)}`;
        if (position < 19 && swapped !== code) expect(isValidPayCode(swapped)).toBe(false);
      }
    }
    const serials = codes.map((code) => Number(code.slice(9, 18)));
    expect(serials[1]).toBeGreaterThan(serials[0] as number);
    expect(serials[2]).toBeGreaterThan(serials[1] as number);

    // A penalty decision (T = 2) in a region never used before: its own serial, from 1.
    const cityUnit = await addUnit(world, { regionCode: REGION.city, itemCodes: [ITEMS.fixedFee] });
    const penalty = await signedAs(service, cityUnit)('POST', '/v1/unit/notices', noticeBody({ noticeType: 2, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }] }));
    expect(penalty.body.payCode.slice(0, 18)).toBe(`${REGION.city}262000000001`);
    expect(isValidPayCode(penalty.body.payCode)).toBe(true);

    // The year is the Shanghai year: 16:30 UTC on 31 December is already 1 January there.
    service.clocks.business.set(new Date('2026-12-31T16:30:00Z'));
    const newYear = await signedAs(service, cityUnit)('POST', '/v1/unit/notices', noticeBody({ noticeType: 2, dueDate: '2027-01-05', expireDate: undefined, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }] }));
    expect(newYear.body.payCode.slice(0, 18)).toBe(`${REGION.city}272000000001`);
  });

  it('refuses codes failing their check digits with PAY_CODE_INVALID and never looks them up', async () => {
    const issued = (await unit('POST', '/v1/unit/notices', noticeBody())).body.payCode as string;
    // Every single-digit change of an issued code fails the check.
    for (let position = 0; position < 20; position += 3) {
      const digit = Number(issued[position]);
      const changed = `${issued.slice(0, position)}${(digit + 1) % 10}${issued.slice(position + 1)}`;
      const response = await unit('GET', `/v1/unit/notices/${changed}`);
      expect([changed, response.status, errorCode(response)]).toEqual([changed, 400, 'PAY_CODE_INVALID']);
    }
    for (const code of payCodeVectors.invalid) {
      const response = await unit('GET', `/v1/unit/notices/${code}`);
      expect([code, response.status, errorCode(response)]).toEqual([code, 400, 'PAY_CODE_INVALID']);
    }
    // The spec's first worked example is exactly the first code this unit's region issued this
    // year (the first test above); the other valid vectors name nothing issued.
    const firstIssued = await unit('GET', '/v1/unit/notices/15010226100000000103');
    expect([firstIssued.status, firstIssued.body.payCode, firstIssued.body.createdAt]).toEqual([200, '15010226100000000103', '2026-11-27T10:00:00+08:00']);
    for (const code of payCodeVectors.valid.filter((vector) => vector !== '15010226100000000103')) {
      const response = await unit('GET', `/v1/unit/notices/${code}`);
      expect([code, response.status, errorCode(response)]).toEqual([code, 404, 'NOTICE_NOT_FOUND']);
    }
  });
});

describe('reading, listing and voiding', () => {
  it('shows a unit only its own notices: another unit gets NOTICE_NOT_FOUND, as for a code nobody issued', async () => {
    const mine = (await unit('POST', '/v1/unit/notices', noticeBody())).body;
    const other = signedAs(service, await addUnit(world, { itemCodes: [ITEMS.fixedFee] }));
    const read = await other('GET', `/v1/unit/notices/${mine.payCode}`);
    const voided = await other('POST', `/v1/unit/notices/${mine.payCode}/void`, { reason: 'x' });
    for (const response of [read, voided]) {
      expect([response.status, errorCode(response)]).toEqual([404, 'NOTICE_NOT_FOUND']);
      expect(response.body.error.details).toEqual({ payCode: mine.payCode });
    }
    const list = await other('GET', `/v1/unit/notices?bizRef=${mine.bizRef}`);
    expect(list.body.data).toEqual([]);
    // Untouched by the attempt.
    expect((await unit('GET', `/v1/unit/notices/${mine.payCode}`)).body.status).toBe('ISSUED');
  });

  it('reads the notice back as it was created', async () => {
    const created = await unit('POST', '/v1/unit/notices', noticeBody());
    const read = await unit('GET', `/v1/unit/notices/${created.body.payCode}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    expectNoPayerSecrets(read);
  });

  it('lists notices in issue order, page by page, with every filter', async () => {
    const lister = await addUnit(world, { itemCodes: [ITEMS.fixedFee] });
    const call = signedAs(service, lister);
    const create = async (day: string) => {
      service.clocks.business.set(new Date(`${day}T09:00:00+08:00`));
      return (await call('POST', '/v1/unit/notices', noticeBody({ dueDate: '2026-12-31', expireDate: undefined, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }] }))).body;
    };
    const notices = [await create('2026-11-27'), await create('2026-11-28'), await create('2026-11-28'), await create('2026-11-29'), await create('2026-11-30')];
    await call('POST', `/v1/unit/notices/${notices[1].payCode}/void`, { reason: '重复开具' });

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page += 1) {
      const response: TestResponse = await call('GET', `/v1/unit/notices?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.status).toBe(200);
      expect(response.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...response.body.data.map((notice: { payCode: string }) => notice.payCode));
      expectNoPayerSecrets(response);
      cursor = response.body.nextCursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(notices.map((notice) => notice.payCode));

    const codes = async (query: string) => ((await call('GET', `/v1/unit/notices?${query}`)).body.data as Array<{ payCode: string }>).map((notice) => notice.payCode);
    expect(await codes(`bizRef=${notices[2].bizRef}`)).toEqual([notices[2].payCode]);
    expect(await codes('status=VOIDED')).toEqual([notices[1].payCode]);
    expect(await codes('status=ISSUED&createdFrom=2026-11-28&createdTo=2026-11-29')).toEqual([notices[2].payCode, notices[3].payCode]);
    expect(await codes('createdFrom=2026-11-30')).toEqual([notices[4].payCode]);
    expect(await codes('createdTo=2026-11-27')).toEqual([notices[0].payCode]);

    const backwards = await call('GET', '/v1/unit/notices?createdFrom=2026-11-29&createdTo=2026-11-28');
    expect([backwards.status, errorCode(backwards)]).toEqual([400, 'VALIDATION_FAILED']);
    for (const query of ['limit=0', 'limit=501', 'status=LOST', 'createdFrom=2026-13-01', 'cursor=bm9wZQ', 'unknown=1']) {
      const response = await call('GET', `/v1/unit/notices?${query}`);
      expect([query, response.status, errorCode(response)]).toEqual([query, 400, 'VALIDATION_FAILED']);
    }
  });

  it('voids an ISSUED notice once; a VOIDED one answers 200 unchanged; others are NOTICE_NOT_VOIDABLE', async () => {
    const created = noticeBody();
    const notice = (await unit('POST', '/v1/unit/notices', created)).body;
    service.clocks.business.set(new Date('2026-11-28T08:00:00+08:00'));
    const voided = await unit('POST', `/v1/unit/notices/${notice.payCode}/void`, { reason: '开具错误' });
    expect(voided.status).toBe(200);
    // When and why it was voided is on the notice, for whoever at the unit reads it later.
    expect(voided.body).toEqual({ ...notice, status: 'VOIDED', amountDue: '0.00', lateFee: '0.00', voidedAt: '2026-11-28T08:00:00+08:00', voidReason: '开具错误' });
    expectNoPayerSecrets(voided);
    expect((await unit('GET', `/v1/unit/notices/${notice.payCode}`)).body).toEqual(voided.body);
    // A repeat of the creation answers as the creation did: the notice unvoided.
    const replay = await unit('POST', '/v1/unit/notices', created);
    expect([replay.status, replay.body]).toEqual([201, notice]);
    const row = await service.database.db('notices').where({ pay_code: notice.payCode }).first();
    expect(row.void_reason).toBe('开具错误');
    expect(row.voided_at.toISOString()).toBe('2026-11-28T00:00:00.000Z');

    const again = await unit('POST', `/v1/unit/notices/${notice.payCode}/void`, { reason: '另一个原因' });
    expect([again.status, again.body]).toEqual([200, voided.body]);

    // One notice.voided event for the unit, carrying the voided Notice; none for the repeat.
    const events = await unit('GET', '/v1/unit/events?after=0&limit=500');
    const voidedEvents = (events.body.data as Array<{ type: string; data: { notice: { payCode: string } } }>).filter((event) => event.type === 'notice.voided' && event.data.notice.payCode === notice.payCode);
    expect(voidedEvents).toEqual([expect.objectContaining({ type: 'notice.voided', occurredAt: '2026-11-28T08:00:00+08:00', data: { notice: voided.body } })]);
    const otherUnitEvents = await signedAs(service, await addUnit(world))('GET', '/v1/unit/events?after=0');
    expect(otherUnitEvents.body.data).toEqual([]);
    expect((await service.database.db('notices').where({ pay_code: notice.payCode }).first()).void_reason).toBe('开具错误');

    // A paid notice (the payment posting is a later capability: its effect is written here).
    const paid = (await unit('POST', '/v1/unit/notices', noticeBody())).body;
    await service.database.db('notices').where({ pay_code: paid.payCode }).update({ status: 'PAID', paid_at: new Date(), paid_amount: '300.00', late_fee_paid: '0.00' });
    const refused = await unit('POST', `/v1/unit/notices/${paid.payCode}/void`, { reason: 'x' });
    expect([refused.status, errorCode(refused)]).toEqual([409, 'NOTICE_NOT_VOIDABLE']);
    expect((await unit('GET', `/v1/unit/notices/${paid.payCode}`)).body).toMatchObject({ status: 'PAID', paidAmount: '300.00', amountDue: '0.00' });

    for (const body of [{}, { reason: '' }, { reason: '   ' }, { reason: 'x', extra: 1 }]) {
      const response = await unit('POST', `/v1/unit/notices/${notice.payCode}/void`, body);
      expect([response.status, errorCode(response)]).toEqual([400, 'VALIDATION_FAILED']);
    }
    const invalid = await unit('POST', '/v1/unit/notices/15010226100000000104/void', { reason: 'x' });
    expect(errorCode(invalid)).toBe('PAY_CODE_INVALID');
  });
});

describe('the snapshot of the catalogue', () => {
  it('keeps a notice exactly as issued when the item changes afterwards', async () => {
    const before = (await unit('POST', '/v1/unit/notices', noticeBody())).body;
    await world.services.catalogue.putItem(
      ITEMS.fixedFee,
      itemInput({ name: '营业执照工本费（新）', incomeSortCode: '103040199', budgetLevel: 2, receivingAccountNo: world.treasuryAccountNo, pricing: { type: 'FIXED', amount: '60.00' }, lateFee: { type: 'DAILY_RATE', ratePerDay: '0.01', capRatio: '0.5' } }),
      world.finance.appId,
    );
    try {
      const after = await unit('GET', `/v1/unit/notices/${before.payCode}`);
      expect(after.body).toEqual(before);
      const lines = await service.database.db('notice_items').join('notices', 'notices.id', 'notice_items.notice_id').where('notices.pay_code', before.payCode).orderBy('position');
      expect(lines[0]).toMatchObject({ item_code: ITEMS.fixedFee, item_version: 1, item_name: '营业执照工本费', receiving_account_no: world.fiscalAccountNo, pricing_type: 'FIXED', fixed_amount: '50.00', late_fee_type: 'NONE', rate_per_day: null });
      expect(lines[1]).toMatchObject({ item_code: ITEMS.fine, late_fee_type: 'DAILY_RATE', rate_per_day: '0.030000', cap_ratio: '1.0000', min_amount: '0.01', max_amount: '100000.00' });

      // New notices are priced from the new version; the old price is now out of range.
      const oldPrice = await unit('POST', '/v1/unit/notices', noticeBody());
      expect(errorCode(oldPrice)).toBe('ITEM_AMOUNT_OUT_OF_RANGE');
      const newPrice = (await unit('POST', '/v1/unit/notices', noticeBody({ items: [{ itemCode: ITEMS.fixedFee, amount: '60.00' }] }))).body;
      expect(newPrice.items[0]).toMatchObject({ itemName: '营业执照工本费（新）', budgetLevel: 2, incomeSortCode: '103040199' });
      const newLine = await service.database.db('notice_items').join('notices', 'notices.id', 'notice_items.notice_id').where('notices.pay_code', newPrice.payCode).first();
      expect(newLine.item_version).toBe(2);
    } finally {
      await world.services.catalogue.putItem(ITEMS.fixedFee, itemInput({ name: '营业执照工本费', incomeSortCode: '103040101', budgetLevel: 3, receivingAccountNo: world.fiscalAccountNo, pricing: { type: 'FIXED', amount: '50.00' } }), world.finance.appId);
    }
  });
});

describe("the payer's personal data", () => {
  it('is encrypted at rest: no column holds the id number or mobile in plain', async () => {
    const notice = (await unit('POST', '/v1/unit/notices', noticeBody())).body;
    const row = await service.database.db('notices').where({ pay_code: notice.payCode }).first();
    expect(row.payer_id_number_encrypted).toMatch(/^v1:[A-Za-z0-9+/]+=*$/);
    expect(row.payer_mobile_encrypted).toMatch(/^v1:[A-Za-z0-9+/]+=*$/);
    expect(world.services.fieldCipher.decrypt(row.payer_id_number_encrypted)).toBe(ID_NUMBER);
    expect(world.services.fieldCipher.decrypt(row.payer_mobile_encrypted)).toBe(MOBILE);
    expect([row.payer_id_number_masked, row.payer_mobile_masked]).toEqual(['150102********1238', '138****5678']);
    const everything = await service.database.db.raw(
      `SELECT (SELECT string_agg(row_to_json(n)::text, '') FROM notices n) || (SELECT string_agg(row_to_json(k)::text, '') FROM notice_keys k)
              || (SELECT string_agg(row_to_json(i)::text, '') FROM notice_items i) AS text`,
    );
    const text = everything.rows[0].text as string;
    expect(text).toContain(notice.payCode);
    expect(text).not.toContain(ID_NUMBER);
    expect(text).not.toContain(MOBILE);
    // Two encryptions of one value differ (random IV): equal ciphertexts reveal nothing.
    const second = (await unit('POST', '/v1/unit/notices', noticeBody())).body;
    const secondRow = await service.database.db('notices').where({ pay_code: second.payCode }).first();
    expect(secondRow.payer_id_number_encrypted).not.toBe(row.payer_id_number_encrypted);
  });

  it('never reaches the logs, whatever the request', async () => {
    const { log, lines } = capturingLogger();
    const instance = await startSecondInstance(service, { log });
    try {
      const call = signedAs(instance, world.unit);
      const body = noticeBody();
      const created = await call('POST', '/v1/unit/notices', body);
      expect(created.status).toBe(201);
      await call('POST', '/v1/unit/notices', body);
      await call('POST', '/v1/unit/notices', { ...body, remark: 'conflict' });
      await call('POST', '/v1/unit/notices', noticeBody({ payer: { name: PAYER_NAME, idNumber: '150102198506121237', mobile: MOBILE } }));
      await call('POST', '/v1/unit/notices', noticeBody({ items: [{ itemCode: 'NOPE', amount: '1.00' }] }));
      await call('GET', `/v1/unit/notices/${created.body.payCode}`);
      await call('GET', '/v1/unit/notices?limit=5');
      await signedAs(instance, world.agency)('GET', `/v1/agency/notices/${created.body.payCode}?payerName=${encodeURIComponent(PAYER_NAME)}`);
      await instance.request('GET', `/v1/public/notices/${created.body.payCode}?payerName=${encodeURIComponent(PAYER_NAME)}`);
      await call('POST', `/v1/unit/notices/${created.body.payCode}/void`, { reason: '测试' });
      expect(lines.length).toBeGreaterThan(10);
      const logged = lines.join('\n');
      expect(logged).toContain(created.body.payCode);
      expect(logged).not.toContain(ID_NUMBER);
      expect(logged).not.toContain('150102198506121237');
      expect(logged).not.toContain(MOBILE);
      expect(logged).not.toContain(PAYER_NAME);
      expect(logged).not.toContain(encodeURIComponent(PAYER_NAME));
    } finally {
      await instance.close();
    }
  });
});
