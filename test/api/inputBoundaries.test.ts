import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, expectNothingRecorded, issueNotice, newTxnId, postingBody, rowsOf, shanghai } from '../helpers/payments';
import { startTestService, TestResponse, TestService } from '../helpers/testService';

/**
 * The trust boundary of text, JSON and time (docs/lifecycle.md §3.6, docs/interface.md §3): text with
 * U+0000, a lone surrogate or another C0 control, a JSON object with a duplicate key, a `|`, CR or
 * LF in a field that can reach a `|`-separated file, and a `paidAt` outside its bounds are
 * refused as 400 VALIDATION_FAILED naming the field — never a 500, nothing written, captured funds
 * or not. A posting dated more than 5 minutes before its notice was issued does not apply
 * (PAID_BEFORE_ISSUE). The bodies are sent as raw text, signed, exactly as an integrator's
 * escaped JSON would arrive.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;

const NOW = '2026-11-20T09:00:00';
const PAYER_ACCOUNT = { name: '斯琴·图雅', accountNo: '6222020200112233445', bankName: '内蒙古银行呼和浩特分行' };

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(NOW)) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

beforeEach(() => {
  service.clocks.business.set(new Date(shanghai(NOW)));
});

afterEach(async () => {
  await expectLedgerVerified(service.database.db);
});

afterAll(async () => {
  await service.close();
});

/** Row counts of every table a refused request must leave alone (nonces and counters are written by design). */
async function tableCounts(): Promise<Record<string, number>> {
  const tables = await service.database.db('pg_tables').where({ schemaname: 'public' }).pluck('tablename');
  const counts: Record<string, number> = {};
  for (const table of (tables as string[]).sort()) {
    if (['request_nonces', 'public_lookup_counters', 'knex_migrations', 'knex_migrations_lock'].includes(table)) continue;
    const [row] = await service.database.db(table).count<{ count: string }[]>({ count: '*' });
    counts[table] = Number(row?.count ?? 0);
  }
  return counts;
}

function expectValidationFailed(response: TestResponse, path: string, problem?: RegExp): void {
  expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  const fields = response.body.error.details.fields as Array<{ path: string; problem: string }>;
  expect(fields.map((field) => field.path)).toContain(path);
  if (problem) expect(fields.find((field) => field.path === path)?.problem).toMatch(problem);
}

/** A posting body as JSON text with `fragment` spliced in raw, so escapes reach the server as written. */
function rawPosting(fields: Record<string, unknown>, fragment: string): string {
  const text = JSON.stringify(fields);
  return `${text.slice(0, -1)},${fragment}}`;
}

const BAD_TEXT: Array<[string, string]> = [
  ['U+0000', '\\u0000'],
  ['a lone high surrogate', '\\ud800'],
  ['the last high surrogate U+DBFF', '\\udbff'],
  ['a lone low surrogate', '\\udc00'],
  ['a reversed surrogate pair', '\\udc00\\ud800'],
  ['U+0001', '\\u0001'],
  ['backspace', '\\b'],
  ['form feed', '\\f'],
  ['U+001F', '\\u001f'],
  ['vertical tab', '\\u000b'],
];

describe('control characters and lone surrogates in text', () => {
  it.each(BAD_TEXT)('a captured posting with %s in payerAccount.name is 400 VALIDATION_FAILED, nothing written, and a retry without it is recorded', async (_what, escape) => {
    const payCode = await issueNotice(unit);
    const fields = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:59:00'), fundsCaptured: true });
    const before = await tableCounts();
    const text = rawPosting(fields, `"payerAccount":{"name":"斯琴${escape}图雅","accountNo":"${PAYER_ACCOUNT.accountNo}","bankName":"${PAYER_ACCOUNT.bankName}"}`);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const response = await agency('POST', '/v1/agency/payments', undefined, { rawBody: text });
      expectValidationFailed(response, '/payerAccount/name', /control character|surrogate/);
    }
    expect(await tableCounts()).toEqual(before);
    await expectNothingRecorded(service.database.db, fields.agencyTxnId as string);

    const corrected = await agency('POST', '/v1/agency/payments', { ...fields, payerAccount: PAYER_ACCOUNT });
    expect(corrected.status).toBe(201);
    expect(corrected.body.status).toBe('SUCCEEDED');
  });

  it('a captured posting with U+0000 in payerAccount.bankName (stored as text) is 400, not 500, on every retry', async () => {
    const payCode = await issueNotice(unit);
    const fields = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW), fundsCaptured: true });
    const before = await tableCounts();
    const text = rawPosting(fields, `"payerAccount":{"name":"${PAYER_ACCOUNT.name}","accountNo":"${PAYER_ACCOUNT.accountNo}","bankName":"内蒙古银行\\u0000"}`);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expectValidationFailed(await agency('POST', '/v1/agency/payments', undefined, { rawBody: text }), '/payerAccount/bankName', /U\+0000/);
    }
    expect(await tableCounts()).toEqual(before);
  });

  it('names every bad field, in nested objects and arrays, on the generic JSON path (a notice)', async () => {
    const before = await tableCounts();
    const text = JSON.stringify({ bizRef: 'CTRL-1', noticeType: 1, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }], dueDate: '2026-11-20' }).slice(0, -1);
    const response = await unit('POST', '/v1/unit/notices', undefined, { rawBody: `${text},"payer":{"name":"a\\u0000b"},"remark":"x\\ud800y"}` });
    expectValidationFailed(response, '/payer/name', /U\+0000/);
    expectValidationFailed(response, '/remark', /surrogate/);
    expect(await tableCounts()).toEqual(before);
  });

  it('keeps TAB, LF and CR in free text that never reaches a file, and a well-formed surrogate pair anywhere', async () => {
    const payCode = await issueNotice(unit, { payer: { name: '𠮷野家' }, remark: 'line one\r\nline\ttwo' });
    expect(payCode).toMatch(/^[0-9]{20}$/);
    const notice = await service.database.db('notices').where({ pay_code: payCode }).first('payer_name', 'remark');
    expect(notice).toEqual({ payer_name: '𠮷野家', remark: 'line one\r\nline\ttwo' });
  });

  it('keeps the order of docs/interface.md §3: an amount that is not an amount is AMOUNT_INVALID before the bad text', async () => {
    const response = await agency('POST', '/v1/agency/payments', undefined, {
      rawBody: rawPosting({ agencyTxnId: newTxnId(), payCode: '12345678901234567890', amount: '1', paidAt: shanghai(NOW), channel: 'MOBILE' }, '"payerAccount":{"name":"\\u0000","accountNo":"1","bankName":"b"}'),
    });
    expect(response.body.error.code).toBe('AMOUNT_INVALID');
  });
});

describe('duplicate keys', () => {
  it('a posting with "amount" twice is 400 VALIDATION_FAILED naming it, and posts nothing (the last value does not win)', async () => {
    const payCode = await issueNotice(unit, { items: [{ itemCode: ITEMS.fine, amount: '100.00' }] });
    const agencyTxnId = newTxnId();
    const before = await tableCounts();
    const text = `{"agencyTxnId":"${agencyTxnId}","payCode":"${payCode}","amount":"1.00","amount":"100.00","paidAt":"${shanghai(NOW)}","channel":"MOBILE"}`;
    const response = await agency('POST', '/v1/agency/payments', undefined, { rawBody: text });
    expectValidationFailed(response, '/amount', /duplicate/);
    expect(await tableCounts()).toEqual(before);
    await expectNothingRecorded(service.database.db, agencyTxnId);
  });

  it('finds a duplicate at any depth, spelled with escapes or not, and on the generic JSON path', async () => {
    const payCode = await issueNotice(unit);
    const nested = `{"agencyTxnId":"${newTxnId()}","payCode":"${payCode}","amount":"50.00","paidAt":"${shanghai(NOW)}","channel":"MOBILE","fundsCaptured":true,"payerAccount":{"name":"a","accountNo":"1","bankName":"b","n\u0061me":"c"}}`;
    expectValidationFailed(await agency('POST', '/v1/agency/payments', undefined, { rawBody: nested }), '/payerAccount/name', /duplicate/);
    const notice = `{"bizRef":"DUP-1","noticeType":1,"payer":{"name":"x"},"items":[{"itemCode":"${ITEMS.fixedFee}","amount":"50.00"},{"itemCode":"${ITEMS.fixedFee}","amount":"50.00","amount":"50.00"}],"dueDate":"2026-11-20"}`;
    expectValidationFailed(await unit('POST', '/v1/unit/notices', undefined, { rawBody: notice }), '/items/1/amount', /duplicate/);
  });

  it('keeps the same key in sibling objects and equal values in one object', async () => {
    const payCode = await issueNotice(unit);
    const text = `{"agencyTxnId":"${newTxnId()}","payCode":"${payCode}","amount":"50.00","paidAt":"${shanghai(NOW)}","channel":"MOBILE","fundsCaptured":false,"payerAccount":{"name":"amount","accountNo":"amount","bankName":"payCode"}}`;
    const response = await agency('POST', '/v1/agency/payments', undefined, { rawBody: text });
    expect(response.status).toBe(201);
  });
});

describe('fields that can reach a |-separated file', () => {
  it.each([
    ['payerAccount.name', '/payerAccount/name', { ...PAYER_ACCOUNT, name: '斯琴|图雅' }],
    ['payerAccount.bankName', '/payerAccount/bankName', { ...PAYER_ACCOUNT, bankName: '内蒙古银行\n呼和浩特分行' }],
    ['payerAccount.bankName', '/payerAccount/bankName', { ...PAYER_ACCOUNT, bankName: '内蒙古银行\r' }],
    ['payerAccount.accountNo', '/payerAccount/accountNo', { ...PAYER_ACCOUNT, accountNo: '6222|0202' }],
  ])('a captured posting with | or a line break in %s is 400 VALIDATION_FAILED, nothing written', async (_what, path, payerAccount) => {
    const payCode = await issueNotice(unit);
    const fields = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW), fundsCaptured: true });
    const before = await tableCounts();
    const text = rawPosting(fields, `"payerAccount":${JSON.stringify(payerAccount)}`);
    expectValidationFailed(await agency('POST', '/v1/agency/payments', undefined, { rawBody: text }), path);
    expect(await tableCounts()).toEqual(before);
  });

  it.each([
    ['payer.name', '/payer/name', { payer: { name: '张|三' } }],
    ['payer.name', '/payer/name', { payer: { name: '张\n三' } }],
  ])('a notice with | or a line break in %s is 400 VALIDATION_FAILED', async (_what, path, overrides) => {
    const before = await tableCounts();
    const body = JSON.stringify({ bizRef: 'PIPE-1', noticeType: 1, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }], dueDate: '2026-11-20', ...overrides });
    expectValidationFailed(await unit('POST', '/v1/unit/notices', undefined, { rawBody: body }), path, /\|/);
    expect(await tableCounts()).toEqual(before);
  });

  it('a void reason with | is 400 VALIDATION_FAILED and the notice stays issued', async () => {
    const payCode = await issueNotice(unit);
    expectValidationFailed(await unit('POST', `/v1/unit/notices/${payCode}/void`, { reason: 'duplicate|notice' }), '/reason');
    expect((await service.database.db('notices').where({ pay_code: payCode }).first('status')).status).toBe('ISSUED');
  });
});

describe('paidAt bounds', () => {
  it.each([
    ['an offset beyond +14:00', '2026-11-20T08:59:00+23:59'],
    ['an offset beyond -14:00', '2026-11-20T08:59:00-14:01'],
    ['the year 0001', '0001-01-01T00:00:00+08:00'],
    ['the year 1999', '1999-12-31T23:59:59+08:00'],
    ['the year 2100 (also in the future)', '2100-01-01T00:00:00+08:00'],
  ])('a captured posting with %s is 400 VALIDATION_FAILED naming paidAt, nothing written', async (_what, paidAt) => {
    const payCode = await issueNotice(unit);
    const fields = postingBody({ payCode, amount: '50.00', paidAt, fundsCaptured: true });
    const before = await tableCounts();
    expectValidationFailed(await agency('POST', '/v1/agency/payments', fields), '/paidAt');
    expect(await tableCounts()).toEqual(before);
  });

  it('accepts the bounds themselves: offsets of ±14:00', async () => {
    const payCode = await issueNotice(unit);
    // 2026-11-20T09:00+08:00 is 2026-11-20T15:00+14:00 and 2026-11-19T11:00-14:00.
    const response = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: '2026-11-20T14:59:00+14:00' }));
    expect(response.status).toBe(201);
    const other = await issueNotice(unit);
    const west = await agency('POST', '/v1/agency/payments', postingBody({ payCode: other, amount: '50.00', paidAt: '2026-11-19T10:59:00-14:00', fundsCaptured: true }));
    expect(west.status).toBe(201);
  });
});

describe('other dates in requests', () => {
  it.each([
    ['dueDate 0000-01-01', { dueDate: '0000-01-01' }],
    ['dueDate 2026-02-30', { dueDate: '2026-02-30' }],
    ['dueDate 9999-12-31', { dueDate: '9999-12-31' }],
    ['expireDate 9999-12-31', { expireDate: '9999-12-31' }],
    ['expireDate +275760-09-13', { expireDate: '+275760-09-13' }],
  ])('a notice with %s is answered without a 500', async (_what, overrides) => {
    const response = await unit('POST', '/v1/unit/notices', { bizRef: `DATE-${newTxnId()}`, noticeType: 1, payer: { name: 'x' }, items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }], dueDate: '2026-11-20', ...overrides });
    expect([201, 400]).toContain(response.status);
  });

  it.each(['0000-01-01', '9999-12-31', '0001-01-01', '2026-13-01', '4713-01-01', '5874898-01-01'])('a notice list from %s never answers 500', async (date) => {
    const response = await unit('GET', `/v1/unit/notices?createdFrom=${date}&createdTo=${date}`);
    expect(response.status).toBeLessThan(500);
  });

  it('a notice list to 9999-12-31 lists what was issued; one from the year 0000 is VALIDATION_FAILED', async () => {
    const payCode = await issueNotice(unit);
    const all = await unit('GET', '/v1/unit/notices?createdFrom=0001-01-01&createdTo=9999-12-31&limit=500');
    expect(all.status).toBe(200);
    expect(all.body.data.map((notice: { payCode: string }) => notice.payCode)).toContain(payCode);
    expectValidationFailed(await unit('GET', '/v1/unit/notices?createdFrom=0000-01-01'), '/query/createdFrom');
  });
});

describe('a posting dated before its notice was issued', () => {
  it('more than 5 minutes before: 422 PAID_BEFORE_ISSUE when funds are not captured, nothing recorded', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:54:59') });
    const response = await agency('POST', '/v1/agency/payments', body);
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({ code: 'PAID_BEFORE_ISSUE', details: { payCode, issuedAt: '2026-11-20T09:00:00+08:00' } });
    await expectNothingRecorded(service.database.db, body.agencyTxnId as string);
  });

  it('exactly 5 minutes before still applies', async () => {
    const payCode = await issueNotice(unit);
    const response = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:55:00') }));
    expect(response.status).toBe(201);
    expect(response.body.status).toBe('SUCCEEDED');
  });

  it('an hour before with captured funds: UNAPPLIED, suspense entry, refund obligation and payment.unapplied — no receipt', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:00:00'), fundsCaptured: true, payerAccount: PAYER_ACCOUNT });
    const response = await agency('POST', '/v1/agency/payments', body);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ status: 'UNAPPLIED', unappliedReason: 'PAID_BEFORE_ISSUE', refundId: expect.any(String) });
    expect(response.body.receiptNo).toBeUndefined();
    const rows = await rowsOf(service.database.db, body.agencyTxnId as string);
    expect(rows.payments[0]).toMatchObject({ status: 'UNAPPLIED', unapplied_reason: 'PAID_BEFORE_ISSUE' });
    expect(rows.entries.map((entry) => entry.kind)).toEqual(['PAYMENT_UNAPPLIED']);
    expect(rows.refunds).toHaveLength(1);
    expect(rows.refunds[0]).toMatchObject({ reason: 'PAID_BEFORE_ISSUE', status: 'APPROVED' });
    expect(rows.receipts).toEqual([]);
    expect(rows.events.length).toBeGreaterThan(0);
    expect([...new Set(rows.events.map((event) => event.type))]).toEqual(['payment.unapplied']);
    expect((await service.database.db('notices').where({ pay_code: payCode }).first('status')).status).toBe('ISSUED');
    // A repeat is the original answer.
    const repeat = await agency('POST', '/v1/agency/payments', body);
    expect(repeat.status).toBe(201);
    expect(repeat.headers.get('idempotent-replay')).toBe('true');
    expect(repeat.body).toEqual(response.body);
  });

  it('comes after the notice\'s own state: a voided notice answers NOTICE_VOIDED, and before the amount: a wrong amount answers PAID_BEFORE_ISSUE', async () => {
    const voided = await issueNotice(unit);
    expect((await unit('POST', `/v1/unit/notices/${voided}/void`, { reason: 'issued twice' })).status).toBe(200);
    const first = await agency('POST', '/v1/agency/payments', postingBody({ payCode: voided, amount: '50.00', paidAt: shanghai('2026-11-20T08:00:00'), fundsCaptured: true }));
    expect(first.body).toMatchObject({ status: 'UNAPPLIED', unappliedReason: 'NOTICE_VOIDED' });
    const payCode = await issueNotice(unit);
    const second = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '49.00', paidAt: shanghai('2026-11-20T08:00:00') }));
    expect(second.body.error.code).toBe('PAID_BEFORE_ISSUE');
  });
});
