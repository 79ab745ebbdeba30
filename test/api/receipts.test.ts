import { canonicalJson } from '../../src/crypto/canonicalJson';
import { ManualClock } from '../../src/domain/clock';
import { Decimal } from '../../src/domain/money';
import { buildPayCode } from '../../src/domain/payCode';
import { recordReversal } from '../../src/services/receipts';
import { addUnit, buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { issueNotice, payNotice, storedReceiptBytes } from '../helpers/receipts';
import { startTestService, TestResponse, TestService } from '../helpers/testService';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';

// The receipt endpoints (docs/lifecycle.md §6, docs/interface.md §6 and §6.2) over HTTP: the unit's read,
// the public verification, what an integrator does to verify offline (with the independent
// sm-crypto and the key from GET /v1/platform/keys), reversals beside the signed object, and the
// 404s that must not tell anything apart. Every answer is checked against contracts/.

/** Before the due date of the notices issued here (2026-11-20). */
const START = new Date('2026-11-18T10:00:00+08:00');
/** Three days late: the fine of 200.00 owes 18.00, so 318.00 is paid. */
const PAID_AT = new Date('2026-11-23T09:30:00+08:00');

let service: TestService;
let world: World;
let unit: SignedCall;
/** The real clock is held still, so the public lookup limits' one-minute window never turns over mid-test. */
const realClock = new ManualClock(new Date());

beforeAll(async () => {
  service = await startTestService({ businessNow: START, real: realClock });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
});

afterAll(async () => {
  await service.close();
});

beforeEach(async () => {
  // Each test starts with fresh public lookup limits; one test is about them.
  await service.database.db.raw('DELETE FROM public_lookup_counters');
});

function services() {
  return service.runtime.services;
}

async function paidNotice(agencyTxnId?: string) {
  const payCode = await issueNotice(unit);
  const prepared = await payNotice(services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code, ...(agencyTxnId ? { agencyTxnId } : {}) });
  return { payCode, prepared };
}

async function platformPublicKeyHex(keyId: string): Promise<string> {
  const response = await service.request('GET', '/v1/platform/keys');
  expect(response.status).toBe(200);
  const key = (response.body.keys as Array<{ keyId: string; publicKeyHex: string }>).find((published) => published.keyId === keyId);
  if (key === undefined) throw new Error(`the platform does not publish key ${keyId}`);
  return key.publicKeyHex;
}

/** What an integrator does offline: canonicalise `receipt`, verify `signature` with sm-crypto. */
function verifiesOffline(body: { receipt: unknown; signature: string }, publicKeyHex: string): boolean {
  return smCryptoSm2.doVerifySignature(canonicalJson(body.receipt), Buffer.from(body.signature, 'base64').toString('hex'), publicKeyHex, { hash: true, der: true });
}

function publicPath(receiptNo: string, checkCode: string): string {
  return `/v1/public/receipts/${receiptNo}?checkCode=${encodeURIComponent(checkCode)}`;
}

function errorOf(response: TestResponse): { code?: string; message?: string } {
  return response.body?.error ?? {};
}

describe('GET /v1/unit/receipts/{payCode}', () => {
  it('answers the signed receipt, which verifies offline with sm-crypto and the published key', async () => {
    const { payCode, prepared } = await paidNotice('TXN-UNIT-1');
    const response = await unit('GET', `/v1/unit/receipts/${payCode}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      receipt: {
        receiptNo: prepared.receiptNo,
        checkCode: prepared.checkCode,
        payCode,
        unitCode: 'UNIT_SCJ',
        unitName: '新城区市场监督管理局',
        payerName: '乌力吉·巴特尔',
        items: [
          { itemCode: ITEMS.fixedFee, itemName: '营业执照工本费', amount: '100.00', lateFee: '0.00' },
          { itemCode: ITEMS.fine, itemName: '交通违法罚款', amount: '200.00', lateFee: '18.00' },
        ],
        totalAmount: '300.00',
        lateFee: '18.00',
        paidAmount: '318.00',
        paidAt: '2026-11-23T09:30:00+08:00',
        agencyCode: world.agency.code,
        agencyTxnId: 'TXN-UNIT-1',
        issuedAt: '2026-11-18T10:00:00+08:00',
      },
      signature: prepared.signature.toString('base64'),
      keyId: services().platformSigner.keyId,
      status: 'VALID',
      reversals: [],
      qrText: `http://tongfu.test/v1/public/receipts/${prepared.receiptNo}?checkCode=${prepared.checkCode}`,
    });
    expect(verifiesOffline(response.body, await platformPublicKeyHex(response.body.keyId))).toBe(true);
  });

  it('answers the stored signed bytes byte for byte', async () => {
    const { payCode, prepared } = await paidNotice();
    const stored = await storedReceiptBytes(services(), prepared.receiptNo);
    const response = await unit('GET', `/v1/unit/receipts/${payCode}`);
    // The receipt object appears in the raw answer as exactly the bytes that were signed.
    expect(Buffer.from(response.text, 'utf8').includes(stored)).toBe(true);
    expect(Buffer.from(canonicalJson(response.body.receipt), 'utf8').equals(stored)).toBe(true);
  });

  it('fails verification for a receipt changed by one character', async () => {
    const { payCode } = await paidNotice();
    const response = await unit('GET', `/v1/unit/receipts/${payCode}`);
    const publicKeyHex = await platformPublicKeyHex(response.body.keyId);
    const forgeries = [
      { ...response.body.receipt, paidAmount: '318.01' },
      { ...response.body.receipt, payerName: '乌力吉·巴特耳' },
      { ...response.body.receipt, receiptNo: response.body.receipt.receiptNo.replace(/.$/, (digit: string) => String((Number(digit) + 1) % 10)) },
      { ...response.body.receipt, items: [{ ...response.body.receipt.items[0], lateFee: '1.00' }, response.body.receipt.items[1]] },
    ];
    for (const receipt of forgeries) expect(verifiesOffline({ receipt, signature: response.body.signature }, publicKeyHex)).toBe(false);
    expect(verifiesOffline(response.body, publicKeyHex)).toBe(true);
  });

  it('lists reversals beside the receipt, derives the status from them, and leaves the signed object untouched', async () => {
    const { payCode, prepared } = await paidNotice();
    const before = await unit('GET', `/v1/unit/receipts/${payCode}`);
    await services().deps.db.transaction((trx) => recordReversal(trx, prepared.receiptNo, { refundId: 'RF_0001', amount: new Decimal('18.00'), reason: '滞纳金减免', at: new Date('2026-11-25T14:00:00+08:00') }));
    const partly = await unit('GET', `/v1/unit/receipts/${payCode}`);
    expect(partly.status).toBe(200);
    expect(partly.body.status).toBe('PARTIALLY_REVERSED');
    expect(partly.body.reversals).toEqual([{ refundId: 'RF_0001', amount: '18.00', reason: '滞纳金减免', reversedAt: '2026-11-25T14:00:00+08:00' }]);
    expect(partly.body.receipt).toEqual(before.body.receipt);
    expect(partly.body.signature).toBe(before.body.signature);
    expect(JSON.stringify(partly.body.receipt)).not.toContain('RF_0001');

    await services().deps.db.transaction((trx) => recordReversal(trx, prepared.receiptNo, { refundId: 'RF_0002', amount: new Decimal('300.00'), reason: '撤销处罚', at: new Date('2026-11-26T09:00:00+08:00') }));
    const reversed = await unit('GET', `/v1/unit/receipts/${payCode}`);
    expect(reversed.body.status).toBe('REVERSED');
    expect(reversed.body.reversals.map((reversal: { refundId: string }) => reversal.refundId)).toEqual(['RF_0001', 'RF_0002']);
    expect(verifiesOffline(reversed.body, await platformPublicKeyHex(reversed.body.keyId))).toBe(true);
  });

  it('answers NOTICE_NOT_FOUND for another unit’s paid notice exactly as for a notice that does not exist', async () => {
    const { payCode } = await paidNotice();
    const otherUnit = await addUnit(world, { itemCodes: [ITEMS.fixedFee] });
    const asOther = await signedAs(service, otherUnit)('GET', `/v1/unit/receipts/${payCode}`);
    // A valid payCode that no notice has: a serial far beyond what the tests issue.
    const unknownPayCode = buildPayCode({ regionCode: world.unit.regionCode, year2: '26', noticeType: 2, serial: 999_999_999 });
    const missing = await signedAs(service, otherUnit)('GET', `/v1/unit/receipts/${unknownPayCode}`);
    expect(asOther.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(errorOf(asOther).code).toBe('NOTICE_NOT_FOUND');
    expect(errorOf(missing).code).toBe('NOTICE_NOT_FOUND');
    expect(errorOf(asOther).message?.replace(payCode, '<payCode>')).toBe(errorOf(missing).message?.replace(unknownPayCode, '<payCode>'));
    expect(Object.keys(asOther.body.error).sort()).toEqual(Object.keys(missing.body.error).sort());
  });

  it('answers NOT_FOUND for the unit’s own notice that has not been paid', async () => {
    const payCode = await issueNotice(unit);
    const response = await unit('GET', `/v1/unit/receipts/${payCode}`);
    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe('NOT_FOUND');
  });

  it('refuses a payCode that fails its check digits before looking anything up', async () => {
    const response = await unit('GET', '/v1/unit/receipts/15010226100000000000');
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe('PAY_CODE_INVALID');
  });

  it('is for units only', async () => {
    const { payCode } = await paidNotice();
    const response = await signedAs(service, world.agency)('GET', `/v1/unit/receipts/${payCode}`);
    expect(response.status).toBe(403);
    expect(errorOf(response).code).toBe('FORBIDDEN');
  });
});

describe('GET /v1/public/receipts/{receiptNo}?checkCode=', () => {
  it('answers the receipt verified online, at the address its QR code holds', async () => {
    const { payCode, prepared } = await paidNotice();
    const qrPath = prepared.qrText.replace('http://tongfu.test', '');
    const response = await service.request('GET', qrPath);
    expect(response.status).toBe(200);
    expect(response.body.verified).toBe(true);
    const fromUnit = await unit('GET', `/v1/unit/receipts/${payCode}`);
    const { verified: _verified, ...rest } = response.body;
    expect(rest).toEqual(fromUnit.body);
    expect(verifiesOffline(response.body, await platformPublicKeyHex(response.body.keyId))).toBe(true);
    expect(Buffer.from(response.text, 'utf8').includes(await storedReceiptBytes(services(), prepared.receiptNo))).toBe(true);
  });

  it('accepts the check code in lower case, as people type it from paper', async () => {
    const { prepared } = await paidNotice();
    const response = await service.request('GET', publicPath(prepared.receiptNo, prepared.checkCode.toLowerCase()));
    expect(response.status).toBe(200);
    expect(response.body.receipt.checkCode).toBe(prepared.checkCode);
  });

  it('answers the same 404 NOT_FOUND for a wrong check code and an unknown receipt number', async () => {
    const { prepared } = await paidNotice();
    const wrong = prepared.checkCode === 'AAAAAA' ? 'AAAAAB' : 'AAAAAA';
    const wrongCode = await service.request('GET', publicPath(prepared.receiptNo, wrong));
    const unknown = await service.request('GET', publicPath('150401269999999999', prepared.checkCode));
    for (const response of [wrongCode, unknown]) {
      expect(response.status).toBe(404);
      expect(errorOf(response).code).toBe('NOT_FOUND');
    }
    expect(errorOf(wrongCode).message).toBe(errorOf(unknown).message);
    expect(wrongCode.text).not.toContain(prepared.checkCode);
  });

  it('refuses a malformed receipt number or check code as VALIDATION_FAILED', async () => {
    const { prepared } = await paidNotice();
    for (const path of [publicPath('15040126', prepared.checkCode), publicPath(prepared.receiptNo, 'ABC'), publicPath(prepared.receiptNo, 'ABCDE!'), `/v1/public/receipts/${prepared.receiptNo}`]) {
      const response = await service.request('GET', path);
      expect(response.status).toBe(400);
      expect(errorOf(response).code).toBe('VALIDATION_FAILED');
    }
  });

  it('stops guessing: after 10 wrong check codes a minute even the right one is refused with 429', async () => {
    const { prepared } = await paidNotice();
    const wrong = prepared.checkCode === 'AAAAAA' ? 'AAAAAB' : 'AAAAAA';
    for (let attempt = 0; attempt < 10; attempt += 1) expect((await service.request('GET', publicPath(prepared.receiptNo, wrong))).status).toBe(404);
    const limited = await service.request('GET', publicPath(prepared.receiptNo, prepared.checkCode));
    expect(limited.status).toBe(429);
    expect(errorOf(limited).code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another receipt is still answered, and the next minute this one is again.
    const other = await paidNotice();
    expect((await service.request('GET', publicPath(other.prepared.receiptNo, other.prepared.checkCode))).status).toBe(200);
    realClock.advance(60_000);
    try {
      expect((await service.request('GET', publicPath(prepared.receiptNo, prepared.checkCode))).status).toBe(200);
    } finally {
      realClock.advance(-60_000);
    }
  });

  it('limits lookups per client address, apart from notice lookups', async () => {
    const { prepared } = await paidNotice();
    for (let attempt = 0; attempt < 30; attempt += 1) expect((await service.request('GET', publicPath(prepared.receiptNo, prepared.checkCode))).status).toBe(200);
    expect((await service.request('GET', publicPath(prepared.receiptNo, prepared.checkCode))).status).toBe(429);
    // The notice lookups of the same address have their own budget.
    const notice = await service.request('GET', `/v1/public/notices/${prepared.content.payCode}?payerName=${encodeURIComponent('乌力吉·巴特尔')}`);
    expect(notice.status).toBe(200);
  });
});

describe('a receipt issued by a real payment (POST /v1/agency/payments)', () => {
  it('is answered to the unit and the public, verifies offline, and names the payment', async () => {
    // Paid on the business clock's day, before the due date: no late fee.
    const payCode = await issueNotice(unit);
    const agency = signedAs(service, world.agency);
    const posted = await agency('POST', '/v1/agency/payments', { agencyTxnId: 'TXN-E2E-RECEIPT', payCode, amount: '300.00', paidAt: '2026-11-18T09:59:00+08:00', channel: 'MOBILE' });
    expect(posted.status).toBe(201);
    expect(posted.body.status).toBe('SUCCEEDED');
    const receiptNo = posted.body.receiptNo as string;
    expect(receiptNo).toMatch(/^15040126[0-9]{10}$/);

    const fromUnit = await unit('GET', `/v1/unit/receipts/${payCode}`);
    expect(fromUnit.status).toBe(200);
    expect(fromUnit.body.receipt).toMatchObject({ receiptNo, payCode, agencyCode: world.agency.code, agencyTxnId: 'TXN-E2E-RECEIPT', totalAmount: '300.00', lateFee: '0.00', paidAmount: '300.00', paidAt: '2026-11-18T09:59:00+08:00' });
    expect(fromUnit.body.status).toBe('VALID');
    expect(verifiesOffline(fromUnit.body, await platformPublicKeyHex(fromUnit.body.keyId))).toBe(true);
    expect(Buffer.from(canonicalJson(fromUnit.body.receipt), 'utf8').equals(await storedReceiptBytes(services(), receiptNo))).toBe(true);

    const notice = await unit('GET', `/v1/unit/notices/${payCode}`);
    expect(notice.body.receiptNo).toBe(receiptNo);

    const fromPublic = await service.request('GET', fromUnit.body.qrText.replace('http://tongfu.test', ''));
    expect(fromPublic.status).toBe(200);
    expect(fromPublic.body.verified).toBe(true);
    expect(fromPublic.body.receipt).toEqual(fromUnit.body.receipt);
  });
});
