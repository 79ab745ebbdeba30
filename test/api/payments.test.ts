import crypto from 'node:crypto';
import { canonicalJson } from '../../src/crypto/canonicalJson';

import { expireNotices } from '../../src/services/notices';
import { addAgency, buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { schemaErrors } from '../helpers/contract';
import { badCheckDigits, expectLedgerVerified, expectNothingRecorded, issueNotice, newTxnId, postingBody, rowsOf, shanghai, unknownPayCode } from '../helpers/payments';
import { newSm2Credentials } from '../helpers/signedClient';
import { startTestService, TestService } from '../helpers/testService';

/**
 * Posting payments (docs/lifecycle.md §3) over signed HTTP, every response checked against contracts/:
 * what applies, every reason a posting does not — refused when the funds are not captured (and
 * then nothing at all is recorded), recorded as unapplied money when they are — idempotent
 * repeats, and reading payments back. The ledger is verified after every test.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let financePartyIds: string[];

const NOW = '2026-11-20T09:00:00';
const PAYER_ACCOUNT = { name: '斯琴·图雅', accountNo: '6222020200112233445', bankName: '内蒙古银行呼和浩特分行' };

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(NOW)) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  financePartyIds = (await service.database.db('parties').where({ role: 'finance' }).select('id')).map((row) => row.id as string);
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

async function partyId(appId: string): Promise<string> {
  return (await service.database.db('parties').where({ app_id: appId }).first('id')).id as string;
}

async function noticeRow(payCode: string): Promise<Record<string, any>> {
  return service.database.db('notices').where({ pay_code: payCode }).first();
}

describe('a posting that applies', () => {
  it('pays the notice: SUCCEEDED, notice PAID, one balanced entry, a receipt and payment.succeeded to unit and agency — in one go', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:59:30') });
    const response = await agency('POST', '/v1/agency/payments', body);
    expect(response.status).toBe(201);
    expect(response.headers.get('idempotent-replay')).toBeNull();
    expect(response.body).toEqual({
      paymentId: expect.stringMatching(/^P[0-9a-z]{9}[A-Za-z0-9_-]{12}$/),
      agencyCode: world.agency.code,
      agencyTxnId: body.agencyTxnId,
      payCode,
      amount: '50.00',
      paidAt: '2026-11-20T08:59:30+08:00',
      businessDate: '2026-11-20',
      channel: 'MOBILE',
      status: 'SUCCEEDED',
      receiptNo: expect.stringMatching(/^15040126[0-9]{10}$/),
      createdAt: '2026-11-20T09:00:00+08:00',
    });

    const notice = await unit('GET', `/v1/unit/notices/${payCode}`);
    expect(notice.body).toMatchObject({ status: 'PAID', paidAmount: '50.00', paidAt: '2026-11-20T08:59:30+08:00', receiptNo: response.body.receiptNo });
    const stored = await noticeRow(payCode);
    expect({ paid: stored.paid_amount, lateFee: stored.late_fee_paid }).toEqual({ paid: '50.00', lateFee: '0.00' });

    const rows = await rowsOf(service.database.db, body.agencyTxnId as string);
    expect(rows.payments).toHaveLength(1);
    expect(rows.payments[0]).toMatchObject({ status: 'SUCCEEDED', unapplied_reason: null, funds_captured: false, notice_id: stored.id, receipt_no: response.body.receiptNo });
    expect(rows.keys).toBe(1);
    expect(rows.entries).toEqual([
      {
        id: expect.any(String),
        kind: 'PAYMENT_SUCCEEDED',
        accounting_date: '2026-11-20',
        lines: [
          { account: `agency_clearing:${world.agency.code}`, side: 'DEBIT', amount: '50.00' },
          { account: `revenue_pending:${world.fiscalAccountNo}`, side: 'CREDIT', amount: '50.00' },
        ],
      },
    ]);
    expect(rows.refunds).toEqual([]);
    expect(rows.receipts).toHaveLength(1);
    expect(rows.receipts[0]).toMatchObject({ receipt_no: response.body.receiptNo, pay_code: payCode, agency_code: world.agency.code, paid_amount: '50.00' });
    expect(rows.events.map((event) => event.recipient_party_id).sort()).toEqual([await partyId(world.unit.appId), await partyId(world.agency.appId)].sort());
    for (const event of rows.events) {
      expect(event.type).toBe('payment.succeeded');
      expect(event.data).toEqual({ payment: response.body, notice: { payCode, bizRef: expect.any(String), status: 'PAID' }, receiptNo: response.body.receiptNo });
      expect(schemaErrors('PaymentSucceededEventData', event.data)).toEqual([]);
      expect(schemaErrors('Payment', event.data.payment)).toEqual([]);
    }
    // The agency and the unit pull it (the sequencer numbers it on demand).
    const pulled = await agency('GET', '/v1/agency/events?after=0&limit=500');
    expect(pulled.body.data.some((event: { type: string; data: { payment: { paymentId: string } } }) => event.type === 'payment.succeeded' && event.data.payment.paymentId === response.body.paymentId)).toBe(true);
  });

  it('credits each item of a notice to its own receiving account with the late fee it earned', async () => {
    const payCode = await issueNotice(unit, {
      items: [
        { itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' },
        { itemCode: ITEMS.fine, amount: '200.00' },
        { itemCode: ITEMS.sharedFee, amount: '333.33' },
      ],
    });
    // Three days late: the fine earns 200.00 × 0.03 × 3 = 18.00; the shared fee 333.33 × 0.0005 × 3
    // = 0.499995 → 0.50; the fixed fee none. 633.33 + 18.50 = 651.83.
    service.clocks.business.set(new Date(shanghai('2026-11-23T10:00:00')));
    const refused = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '633.33', paidAt: shanghai('2026-11-23T09:00:00') }));
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'AMOUNT_MISMATCH', details: { amountDue: '651.83' } });

    const body = postingBody({ payCode, amount: '651.83', paidAt: shanghai('2026-11-23T09:00:00') });
    const response = await agency('POST', '/v1/agency/payments', body);
    expect(response.status).toBe(201);
    expect(response.body.status).toBe('SUCCEEDED');
    const stored = await noticeRow(payCode);
    expect({ paid: stored.paid_amount, lateFee: stored.late_fee_paid, total: stored.total_amount }).toEqual({ paid: '651.83', lateFee: '18.50', total: '633.33' });
    const lines = await service.database.db('notice_items').where({ notice_id: stored.id }).orderBy('position').select('item_code', 'late_fee_paid');
    expect(lines).toEqual([
      { item_code: ITEMS.fixedFee, late_fee_paid: '0.00' },
      { item_code: ITEMS.fine, late_fee_paid: '18.00' },
      { item_code: ITEMS.sharedFee, late_fee_paid: '0.50' },
    ]);
    const rows = await rowsOf(service.database.db, body.agencyTxnId as string);
    expect(rows.entries[0]?.lines).toEqual([
      { account: `agency_clearing:${world.agency.code}`, side: 'DEBIT', amount: '651.83' },
      { account: `revenue_pending:${world.fiscalAccountNo}`, side: 'CREDIT', amount: '100.00' },
      { account: `revenue_pending:${world.treasuryAccountNo}`, side: 'CREDIT', amount: '218.00' },
      { account: `revenue_pending:${world.fiscalAccountNo}`, side: 'CREDIT', amount: '333.83' },
    ]);
    const receipt = JSON.parse((rows.receipts[0]?.content as Buffer).toString('utf8'));
    expect(receipt).toMatchObject({ totalAmount: '633.33', lateFee: '18.50', paidAmount: '651.83', paidAt: '2026-11-23T09:00:00+08:00', agencyTxnId: body.agencyTxnId });
    expect(receipt.items.map((item: { lateFee: string }) => item.lateFee)).toEqual(['0.00', '18.00', '0.50']);
  });

  it('counts late fees to the Shanghai date of paidAt: 23:30 on the due date is on time, and 40 days late is capped', async () => {
    const onTime = await issueNotice(unit, { items: [{ itemCode: ITEMS.fine, amount: '200.00' }] });
    service.clocks.business.set(new Date(shanghai('2026-11-21T00:10:00')));
    // Posted after midnight, paid before it: the payment's date is the due date.
    const paidOnTime = await agency('POST', '/v1/agency/payments', postingBody({ payCode: onTime, amount: '200.00', paidAt: '2026-11-20T15:30:00Z' }));
    expect(paidOnTime.status).toBe(201);
    expect(paidOnTime.body.status).toBe('SUCCEEDED');

    service.clocks.business.set(new Date(shanghai(NOW)));
    const capped = await issueNotice(unit, { items: [{ itemCode: ITEMS.fine, amount: '200.00' }] });
    service.clocks.business.set(new Date(shanghai('2026-12-30T12:00:00')));
    const threeDaysMore = await agency('POST', '/v1/agency/payments', postingBody({ payCode: capped, amount: '200.00', paidAt: shanghai('2026-12-30T11:00:00') }));
    expect(threeDaysMore.body.error).toMatchObject({ code: 'AMOUNT_MISMATCH', details: { amountDue: '400.00' } });
    const response = await agency('POST', '/v1/agency/payments', postingBody({ payCode: capped, amount: '400.00', paidAt: shanghai('2026-12-30T11:00:00') }));
    expect(response.status).toBe(201);
    expect((await noticeRow(capped)).late_fee_paid).toBe('200.00');
  });

  it('pays an EXPIRED notice with a payment dated on or before its expireDate, posted late', async () => {
    const payCode = await issueNotice(unit, { items: [{ itemCode: ITEMS.fine, amount: '200.00' }], expireDate: '2026-11-22' });
    service.clocks.business.set(new Date(shanghai('2026-11-23T00:20:00')));
    await expireNotices(service.database.db, { today: '2026-11-23', at: service.clocks.business.now() });
    expect((await noticeRow(payCode)).status).toBe('EXPIRED');
    // Paid at 23:50 on the expiry date, two days late (2 × 6.00), posted after midnight.
    const response = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '212.00', paidAt: shanghai('2026-11-22T23:50:00') }));
    expect(response.status).toBe(201);
    expect(response.body.status).toBe('SUCCEEDED');
    expect(await noticeRow(payCode)).toMatchObject({ status: 'PAID', paid_amount: '212.00', late_fee_paid: '12.00' });
  });
});

describe('a payCode typed in groups of four (docs/payment-code.md)', () => {
  const grouped = (payCode: string) => payCode.replace(/(\d{4})(?=\d)/g, '$1 ');

  it('is posted without its spaces: the notice is paid, and a retry with or without them is the same posting', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode: grouped(payCode), amount: '50.00', paidAt: shanghai(NOW) });
    expect(body.payCode).toMatch(/^\d{4} \d{4} \d{4} \d{4} \d{4}$/);
    const posted = await agency('POST', '/v1/agency/payments', body);
    expect(posted.status).toBe(201);
    expect(posted.body).toMatchObject({ payCode, status: 'SUCCEEDED' });
    const retry = await agency('POST', '/v1/agency/payments', { ...body, payCode });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replay')).toBe('true');
    expect(retry.body).toEqual(posted.body);
  });

  it('with captured funds and a wrong check digit: recorded as unapplied money under the code without its spaces', async () => {
    const wrong = badCheckDigits(await issueNotice(unit));
    const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode: ` ${grouped(wrong)} `, amount: '50.00', paidAt: shanghai(NOW), fundsCaptured: true }));
    expect(posted.status).toBe(201);
    expect(posted.body).toMatchObject({ payCode: wrong, status: 'UNAPPLIED', unappliedReason: 'PAY_CODE_INVALID' });
  });

  it('of spaces only, or not a string, is refused alike whether the funds are captured or not', async () => {
    for (const fundsCaptured of [false, true]) {
      const spaces = await agency('POST', '/v1/agency/payments', postingBody({ payCode: '    ', amount: '50.00', paidAt: shanghai(NOW), fundsCaptured }));
      expect({ status: spaces.status, code: spaces.body.error?.code }).toEqual({ status: 400, code: fundsCaptured ? 'VALIDATION_FAILED' : 'PAY_CODE_INVALID' });
      for (const payCode of [null, 1501002620, ['1501']]) {
        const body: Record<string, unknown> = { ...postingBody({ payCode: 'x', amount: '50.00', paidAt: shanghai(NOW), fundsCaptured }), payCode };
        const response = await agency('POST', '/v1/agency/payments', body);
        expect({ status: response.status, code: response.body.error?.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
        await expectNothingRecorded(service.database.db, body.agencyTxnId as string);
      }
    }
  });
});

describe('a posting whose funds are not captured and that does not apply is refused, and nothing is recorded', () => {
  async function refused(body: Record<string, unknown>, status: number, code: string): Promise<Record<string, any>> {
    const response = await agency('POST', '/v1/agency/payments', body);
    expect({ status: response.status, code: response.body.error?.code }).toEqual({ status, code });
    await expectNothingRecorded(service.database.db, body.agencyTxnId as string);
    return response.body.error;
  }

  it('PAY_CODE_INVALID (400) for a code failing its check digits, or not a code at all — before any other problem', async () => {
    const payCode = await issueNotice(unit);
    await refused(postingBody({ payCode: badCheckDigits(payCode), amount: '50.00', paidAt: shanghai(NOW) }), 400, 'PAY_CODE_INVALID');
    await refused(postingBody({ payCode: 'ABC-123', amount: '50.00', paidAt: shanghai(NOW), fundsCaptured: false }), 400, 'PAY_CODE_INVALID');
    // Precedence (docs/interface.md §3): PAY_CODE_INVALID before VALIDATION_FAILED, after AMOUNT_INVALID.
    await refused({ ...postingBody({ payCode: '123', amount: '50.00', paidAt: 'yesterday' }), channel: 'CARRIER_PIGEON' }, 400, 'PAY_CODE_INVALID');
    await refused(postingBody({ payCode: '123', amount: '50.0', paidAt: shanghai(NOW) }), 400, 'AMOUNT_INVALID');
    expect((await noticeRow(payCode)).status).toBe('ISSUED');
  });

  it('NOTICE_NOT_FOUND (404) for a valid code that names no notice', async () => {
    await refused(postingBody({ payCode: unknownPayCode(), amount: '50.00', paidAt: shanghai(NOW) }), 404, 'NOTICE_NOT_FOUND');
  });

  it('NOTICE_ALREADY_PAID (409) for a paid notice, and the refused key stays free', async () => {
    const payCode = await issueNotice(unit);
    expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) }))).status).toBe(201);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) });
    await refused(body, 409, 'NOTICE_ALREADY_PAID');
    // Only a recorded posting binds its key: the same agencyTxnId now pays another notice.
    const other = await issueNotice(unit);
    const reused = await agency('POST', '/v1/agency/payments', { ...body, payCode: other });
    expect(reused.status).toBe(201);
    expect(reused.body.status).toBe('SUCCEEDED');
  });

  it('NOTICE_NOT_PAYABLE (409) for a voided notice', async () => {
    const payCode = await issueNotice(unit);
    expect((await unit('POST', `/v1/unit/notices/${payCode}/void`, { reason: '重复开具' })).status).toBe(200);
    const error = await refused(postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) }), 409, 'NOTICE_NOT_PAYABLE');
    expect(error.details).toMatchObject({ reason: 'NOTICE_VOIDED' });
  });

  it('NOTICE_NOT_PAYABLE (409) for a notice that expired before the payment’s date, EXPIRED or not yet moved there', async () => {
    const expired = await issueNotice(unit, { expireDate: '2026-11-21' });
    const stillIssued = await issueNotice(unit, { expireDate: '2026-11-21' });
    service.clocks.business.set(new Date(shanghai('2026-11-22T09:00:00')));
    await service.database.db('notices').where({ pay_code: expired }).update({ status: 'EXPIRED' });
    for (const payCode of [expired, stillIssued]) {
      const error = await refused(postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-22T08:00:00') }), 409, 'NOTICE_NOT_PAYABLE');
      expect(error.details).toMatchObject({ reason: 'NOTICE_EXPIRED' });
    }
  });

  it('AMOUNT_MISMATCH (422) with the amount due at paidAt', async () => {
    const payCode = await issueNotice(unit);
    const error = await refused(postingBody({ payCode, amount: '49.99', paidAt: shanghai(NOW) }), 422, 'AMOUNT_MISMATCH');
    expect(error.details).toMatchObject({ amountDue: '50.00' });
  });
});

describe('captured funds that do not apply are recorded as unapplied money with a refund due', () => {
  async function unapplied(payCode: string, amount: string, reason: string, payerAccount?: typeof PAYER_ACCOUNT): Promise<void> {
    const body = postingBody({ payCode, amount, paidAt: shanghai(NOW), fundsCaptured: true, ...(payerAccount ? { payerAccount } : {}) });
    const noticeBefore = await noticeRow(payCode);
    const response = await agency('POST', '/v1/agency/payments', body);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ status: 'UNAPPLIED', unappliedReason: reason, payCode, amount, refundId: expect.stringMatching(/^R/) });
    expect(response.body.receiptNo).toBeUndefined();

    const rows = await rowsOf(service.database.db, body.agencyTxnId as string);
    expect(rows.payments).toHaveLength(1);
    expect(rows.payments[0]).toMatchObject({ status: 'UNAPPLIED', unapplied_reason: reason, funds_captured: true, receipt_no: null, notice_id: noticeBefore?.id ?? null });
    expect(rows.keys).toBe(1);
    expect(rows.entries).toEqual([
      {
        id: expect.any(String),
        kind: 'PAYMENT_UNAPPLIED',
        accounting_date: '2026-11-20',
        lines: [
          { account: `agency_clearing:${world.agency.code}`, side: 'DEBIT', amount },
          { account: `suspense:unapplied:${world.agency.code}`, side: 'CREDIT', amount },
        ],
      },
    ]);
    expect(rows.refunds).toHaveLength(1);
    expect(rows.refunds[0]).toMatchObject({
      refund_id: response.body.refundId,
      refund_no: null,
      amount,
      reason,
      status: 'APPROVED',
      approval: 'AUTO_POLICY',
      pay_code: payCode,
      payee_bank_name: payerAccount?.bankName ?? null,
    });
    // The payer's account name and number are kept encrypted, in the payment and its refund alike.
    const { fieldCipher } = service.runtime.services;
    const [refund, payment] = [rows.refunds[0] as Record<string, string | null>, rows.payments[0] as Record<string, string | null>];
    for (const [name, accountNo] of [
      [refund.payee_name, refund.payee_account_no],
      [payment.payer_account_name, payment.payer_account_no],
    ]) {
      if (payerAccount === undefined) {
        expect([name, accountNo]).toEqual([null, null]);
        continue;
      }
      expect(`${name} ${accountNo}`).not.toContain(payerAccount.accountNo);
      expect(`${name} ${accountNo}`).not.toContain(payerAccount.name);
      expect([fieldCipher.decrypt(name as string), fieldCipher.decrypt(accountNo as string)]).toEqual([payerAccount.name, payerAccount.accountNo]);
    }
    expect(rows.receipts).toEqual([]);
    const recipients = rows.events.map((event) => event.recipient_party_id).sort();
    expect(recipients).toEqual([await partyId(world.agency.appId), ...financePartyIds].sort());
    for (const event of rows.events) {
      expect(event.type).toBe('payment.unapplied');
      expect(event.data).toEqual({ payment: response.body, refund: { refundId: response.body.refundId, status: 'APPROVED', amount } });
      expect(schemaErrors('PaymentUnappliedEventData', event.data)).toEqual([]);
    }
    // The notice is untouched.
    if (noticeBefore) expect(await noticeRow(payCode)).toEqual(noticeBefore);
    const read = await agency('GET', `/v1/agency/payments/${body.agencyTxnId}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(response.body);
  }

  it('PAY_CODE_INVALID: a code failing its check digits, and one that is not a code at all', async () => {
    await unapplied(badCheckDigits(await issueNotice(unit)), '50.00', 'PAY_CODE_INVALID', PAYER_ACCOUNT);
    await unapplied('QR-0042', '12.30', 'PAY_CODE_INVALID');
  });

  it('NOTICE_NOT_FOUND', async () => {
    await unapplied(unknownPayCode(), '50.00', 'NOTICE_NOT_FOUND', PAYER_ACCOUNT);
  });

  it('NOTICE_ALREADY_PAID', async () => {
    const payCode = await issueNotice(unit);
    expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) }))).status).toBe(201);
    await unapplied(payCode, '50.00', 'NOTICE_ALREADY_PAID');
  });

  it('NOTICE_VOIDED', async () => {
    const payCode = await issueNotice(unit);
    await unit('POST', `/v1/unit/notices/${payCode}/void`, { reason: '撤销' });
    await unapplied(payCode, '50.00', 'NOTICE_VOIDED', PAYER_ACCOUNT);
  });

  it('NOTICE_EXPIRED', async () => {
    const payCode = await issueNotice(unit, { dueDate: '2026-11-20', expireDate: '2026-11-20' });
    service.clocks.business.set(new Date(shanghai('2026-11-21T09:00:00')));
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-21T08:00:00'), fundsCaptured: true });
    const response = await agency('POST', '/v1/agency/payments', body);
    expect(response.body).toMatchObject({ status: 'UNAPPLIED', unappliedReason: 'NOTICE_EXPIRED', businessDate: '2026-11-21' });
    expect((await rowsOf(service.database.db, body.agencyTxnId as string)).refunds).toHaveLength(1);
  });

  it('AMOUNT_MISMATCH, over or under', async () => {
    await unapplied(await issueNotice(unit), '50.01', 'AMOUNT_MISMATCH', PAYER_ACCOUNT);
    await unapplied(await issueNotice(unit), '0.01', 'AMOUNT_MISMATCH');
  });
});

describe('repeats of one agencyTxnId', () => {
  it('replay the original answer with Idempotent-Replay: true, and write nothing more', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) });
    const first = await agency('POST', '/v1/agency/payments', body);
    expect(first.status).toBe(201);
    service.clocks.business.set(new Date(shanghai('2026-11-20T11:00:00')));
    for (const repeat of [body, { ...body, fundsCaptured: false }, Object.fromEntries(Object.entries(body).reverse())]) {
      const again = await agency('POST', '/v1/agency/payments', repeat);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replay')).toBe('true');
      expect(again.body).toEqual(first.body);
    }
    const rows = await rowsOf(service.database.db, body.agencyTxnId as string);
    expect({ payments: rows.payments.length, keys: rows.keys, entries: rows.entries.length, receipts: rows.receipts.length, events: rows.events.length }).toEqual({ payments: 1, keys: 1, entries: 1, receipts: 1, events: 2 });
  });

  it('answer the status as first posted, while GET shows the current one', async () => {
    const body = postingBody({ payCode: unknownPayCode(), amount: '20.00', paidAt: shanghai(NOW), fundsCaptured: true });
    const first = await agency('POST', '/v1/agency/payments', body);
    expect(first.body.status).toBe('UNAPPLIED');
    // A later refund moves the payment on (the refunds capability will do this through its use case).
    await service.database.db('payments').where({ agency_txn_id: body.agencyTxnId }).update({ status: 'REFUNDED', updated_at: new Date() });
    const again = await agency('POST', '/v1/agency/payments', body);
    expect(again.body).toEqual(first.body);
    expect((await agency('GET', `/v1/agency/payments/${body.agencyTxnId}`)).body.status).toBe('REFUNDED');
    await service.database.db('payments').where({ agency_txn_id: body.agencyTxnId }).update({ status: 'UNAPPLIED', updated_at: new Date() });
  });

  it('with other content are IDEMPOTENCY_CONFLICT (409), whatever else they say', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) });
    expect((await agency('POST', '/v1/agency/payments', body)).status).toBe(201);
    for (const changed of [{ ...body, channel: 'QR' }, { ...body, fundsCaptured: true }, { ...body, paidAt: shanghai('2026-11-20T08:00:00') }, { ...body, payCode: await issueNotice(unit) }]) {
      const conflict = await agency('POST', '/v1/agency/payments', changed);
      expect(conflict.status).toBe(409);
      expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    }
    expect((await rowsOf(service.database.db, body.agencyTxnId as string)).payments).toHaveLength(1);
  });

  it('with a payer account compare its name and number decrypted, and keep them out of the stored fingerprint', async () => {
    const body = postingBody({ payCode: unknownPayCode(), amount: '20.00', paidAt: shanghai(NOW), fundsCaptured: true, payerAccount: PAYER_ACCOUNT });
    const first = await agency('POST', '/v1/agency/payments', body);
    expect(first.status).toBe(201);
    const again = await agency('POST', '/v1/agency/payments', body);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    expect(again.body).toEqual(first.body);
    for (const payerAccount of [{ ...PAYER_ACCOUNT, accountNo: '6222020200112233446' }, { ...PAYER_ACCOUNT, name: '斯琴' }, { ...PAYER_ACCOUNT, bankName: '工商银行' }]) {
      const conflict = await agency('POST', '/v1/agency/payments', { ...body, payerAccount });
      expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    }
    const { request_hash: stored } = await service.database.db('payment_keys').where({ agency_txn_id: body.agencyTxnId }).first('request_hash');
    expect(stored).not.toBe(crypto.createHash('sha256').update(canonicalJson({ ...body })).digest('hex'));
    expect(stored).toBe(crypto.createHash('sha256').update(canonicalJson({ ...body, payerAccount: { ...PAYER_ACCOUNT, name: '[encrypted]', accountNo: '[encrypted]' } })).digest('hex'));
  });

  it('of a key bound by reconciliation’s backfill (no request body) replay on the same payCode, amount and paidAt', async () => {
    // Issued before the payer paid at 08:00 (a notice is never paid before it was issued).
    service.clocks.business.set(new Date(shanghai('2026-11-20T07:30:00')));
    const payCode = await issueNotice(unit);
    service.clocks.business.set(new Date(shanghai(NOW)));
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:00:00'), channel: 'COUNTER' });
    const first = await agency('POST', '/v1/agency/payments', body);
    // A backfilled key has no fingerprint; made here by clearing one (keys are otherwise immutable).
    const db = service.database.db;
    await db.raw('ALTER TABLE payment_keys DISABLE TRIGGER payment_keys_append_only');
    await db('payment_keys').where({ agency_txn_id: body.agencyTxnId }).update({ request_hash: null });
    await db.raw('ALTER TABLE payment_keys ENABLE TRIGGER payment_keys_append_only');
    // The statement line knew neither the channel nor how the payer paid: only code, amount and time count.
    const online = await agency('POST', '/v1/agency/payments', { ...body, channel: 'MOBILE', paidAt: '2026-11-20T00:00:00Z', fundsCaptured: true });
    expect(online.status).toBe(201);
    expect(online.headers.get('idempotent-replay')).toBe('true');
    expect(online.body).toEqual(first.body);
    const other = await agency('POST', '/v1/agency/payments', { ...body, amount: '50.01' });
    expect(other.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('are each agency’s own: another agency may use the same agencyTxnId', async () => {
    const other = await addAgency(world);
    const otherCall = signedAs(service, other);
    const agencyTxnId = newTxnId('SHARED');
    const mine = await agency('POST', '/v1/agency/payments', postingBody({ agencyTxnId, payCode: await issueNotice(unit), amount: '50.00', paidAt: shanghai(NOW) }));
    const theirs = await otherCall('POST', '/v1/agency/payments', postingBody({ agencyTxnId, payCode: await issueNotice(unit), amount: '50.00', paidAt: shanghai(NOW) }));
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.body.agencyCode).toBe(other.code);
    expect(theirs.headers.get('idempotent-replay')).toBeNull();
  });
});

describe('paidAt bounds (the business clock)', () => {
  it('refuses a paidAt more than 60 s ahead, even with captured funds', async () => {
    const payCode = await issueNotice(unit);
    for (const fundsCaptured of [false, true]) {
      const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T09:01:01'), fundsCaptured });
      const response = await agency('POST', '/v1/agency/payments', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: '/paidAt', problem: expect.stringMatching(/60 s/) }] } });
      await expectNothingRecorded(service.database.db, body.agencyTxnId as string);
    }
    const justInTime = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T09:01:00') }));
    expect(justInTime.status).toBe(201);
  });

  it('refuses a paidAt more than 7 days old when the funds are not captured, and records it when they are', async () => {
    const payCode = await issueNotice(unit);
    service.clocks.business.set(new Date(shanghai('2026-11-27T09:00:01')));
    const stale = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) });
    const refused = await agency('POST', '/v1/agency/payments', stale);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: '/paidAt', problem: expect.stringMatching(/7 days/) }] } });
    await expectNothingRecorded(service.database.db, stale.agencyTxnId as string);

    const captured = await agency('POST', '/v1/agency/payments', { ...stale, fundsCaptured: true });
    expect(captured.status).toBe(201);
    expect(captured.body).toMatchObject({ status: 'SUCCEEDED', businessDate: '2026-11-20', createdAt: '2026-11-27T09:00:01+08:00' });
    const entry = (await rowsOf(service.database.db, stale.agencyTxnId as string)).entries[0];
    // The entry belongs to the date it was written on, not to the payment's business date.
    expect(entry?.accounting_date).toBe('2026-11-27');
  });
});

describe('businessDate and the agency’s cut-off', () => {
  async function businessDateOf(call: SignedCall, paidAt: string): Promise<string> {
    const body = postingBody({ payCode: unknownPayCode(), amount: '1.00', paidAt, fundsCaptured: true });
    const response = await call('POST', '/v1/agency/payments', body);
    expect(response.status).toBe(201);
    return response.body.businessDate;
  }

  it('moves a payment at or after 23:00 to the next day for a 23:00 cut-off, and none for 24:00', async () => {
    const cutoff2300 = await registerAgency('23:00');
    const midnight = await registerAgency('24:00');
    const cutoff0000 = await registerAgency('00:00');
    service.clocks.business.set(new Date(shanghai('2026-11-21T00:00:30')));
    expect(await businessDateOf(cutoff2300, shanghai('2026-11-20T22:59:59'))).toBe('2026-11-20');
    expect(await businessDateOf(cutoff2300, shanghai('2026-11-20T23:00:00'))).toBe('2026-11-21');
    expect(await businessDateOf(cutoff2300, shanghai('2026-11-20T23:59:59'))).toBe('2026-11-21');
    expect(await businessDateOf(cutoff2300, shanghai('2026-11-21T00:00:00'))).toBe('2026-11-21');
    expect(await businessDateOf(midnight, shanghai('2026-11-20T23:59:59'))).toBe('2026-11-20');
    expect(await businessDateOf(midnight, shanghai('2026-11-21T00:00:00'))).toBe('2026-11-21');
    // UTC 15:59:59 is 23:59:59 in Shanghai.
    expect(await businessDateOf(midnight, '2026-11-20T15:59:59Z')).toBe('2026-11-20');
    expect(await businessDateOf(cutoff0000, shanghai('2026-11-20T00:00:00'))).toBe('2026-11-21');
  });
});

async function registerAgency(cutoffTime: string): Promise<SignedCall> {
  const credentials = newSm2Credentials();
  const code = `AG_${cutoffTime.replace(':', '')}_${Math.random().toString(36).slice(2, 8)}`;
  const registration = await world.services.parties.register({ role: 'agency', code, name: `代收 ${code}`, publicKey: credentials.publicKeyPem, clearingAccountNo: world.clearingAccountNo, cutoffTime }, world.finance.appId);
  return signedAs(service, { appId: registration.party.appId, keyId: registration.keyId, privateKey: credentials.privateKey, publicKey: credentials.publicKeyPem });
}

describe('reading a payment back', () => {
  it('answers the agency’s own payment, and PAYMENT_NOT_FOUND for another agency’s or none', async () => {
    const body = postingBody({ payCode: await issueNotice(unit), amount: '50.00', paidAt: shanghai(NOW) });
    const posted = await agency('POST', '/v1/agency/payments', body);
    const read = await agency('GET', `/v1/agency/payments/${body.agencyTxnId}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(posted.body);
    const other = signedAs(service, await addAgency(world));
    const theirs = await other('GET', `/v1/agency/payments/${body.agencyTxnId}`);
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('PAYMENT_NOT_FOUND');
    expect((await agency('GET', `/v1/agency/payments/${newTxnId()}`)).body.error.code).toBe('PAYMENT_NOT_FOUND');
    expect((await agency('GET', '/v1/agency/payments/not%20an%20id')).body.error.code).toBe('VALIDATION_FAILED');
  });
});

describe('requests that cannot be understood are refused, whatever the funds', () => {
  async function problems(body: unknown, raw?: string): Promise<{ status: number; code: string; fields: Array<{ path: string }> }> {
    const response = await agency('POST', '/v1/agency/payments', raw === undefined ? body : undefined, raw === undefined ? {} : { rawBody: raw });
    return { status: response.status, code: response.body.error?.code, fields: response.body.error?.details?.fields ?? [] };
  }

  it('lists every problem of a body in one VALIDATION_FAILED', async () => {
    const payCode = await issueNotice(unit);
    const result = await problems({ payCode, amount: '50.00', paidAt: '2026-11-20 09:00', channel: 'PIGEON', fundsCaptured: true, extra: 1 });
    expect(result.status).toBe(400);
    expect(result.code).toBe('VALIDATION_FAILED');
    expect(result.fields.map((field) => field.path).sort()).toEqual(['/agencyTxnId', '/channel', '/extra', '/paidAt'].sort());
  });

  it('refuses amounts that are not amounts (AMOUNT_INVALID), zero, and broken JSON', async () => {
    const payCode = await issueNotice(unit);
    for (const amount of [50, '50', '-50.00', '5e1', '50.001']) {
      expect(await problems(postingBody({ payCode, amount: amount as string, paidAt: shanghai(NOW), fundsCaptured: true }))).toMatchObject({ status: 400, code: 'AMOUNT_INVALID' });
    }
    expect(await problems(postingBody({ payCode, amount: '0.00', paidAt: shanghai(NOW), fundsCaptured: true }))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', fields: [{ path: '/amount' }] });
    // Past the largest single amount (decision 0190), even for money already captured.
    expect(await problems(postingBody({ payCode, amount: '100000000000.00', paidAt: shanghai(NOW), fundsCaptured: true }))).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      fields: [{ path: '/amount', problem: 'must be at most 99999999999.99, the largest single amount the platform takes in' }],
    });
    expect(await problems(undefined, '{"payCode": ')).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
    expect(await problems(postingBody({ payCode: 'has/slash', amount: '1.00', paidAt: shanghai(NOW), fundsCaptured: true }))).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', fields: [{ path: '/payCode' }] });
  });
});

describe('the request nonce, stored by the posting’s own read (decision 0009)', () => {
  const nonceOf = () => `nonce-${crypto.randomBytes(12).toString('hex')}`;
  const posting = (nonce: string, body: unknown, rawBody?: string) =>
    agency('POST', '/v1/agency/payments', rawBody === undefined ? body : undefined, { nonce, ...(rawBody === undefined ? {} : { rawBody }) });

  async function storedNonces(nonce: string): Promise<number> {
    return Number((await service.database.db('request_nonces').where({ app_id: world.agency.appId, nonce }).count({ n: '*' }))[0]!.n);
  }

  it('is stored once by a posting; a copy is NONCE_REUSED and records nothing more; a freshly signed repeat replays', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) });
    const nonce = nonceOf();
    const first = await posting(nonce, body);
    expect(first.status).toBe(201);
    expect(await storedNonces(nonce)).toBe(1);

    const copy = await posting(nonce, body);
    expect(copy.status).toBe(401);
    expect(copy.body.error.code).toBe('NONCE_REUSED');
    const fresh = await posting(nonceOf(), body);
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get('idempotent-replay')).toBe('true');
    expect(fresh.body).toEqual(first.body);
    const rows = await rowsOf(service.database.db, body.agencyTxnId as string);
    expect({ payments: rows.payments.length, receipts: rows.receipts.length, events: rows.events.length }).toEqual({ payments: 1, receipts: 1, events: 2 });
  });

  it('is stored whatever the request fails on, so its copy is NONCE_REUSED before any other answer', async () => {
    const payCode = await issueNotice(unit);
    const cases: Array<{ label: string; body?: unknown; raw?: string; status: number; code: string }> = [
      { label: 'broken JSON (edge)', raw: '{"payCode": ', status: 400, code: 'MALFORMED_JSON' },
      { label: 'an invalid body (edge)', body: { payCode, amount: '50.00' }, status: 400, code: 'VALIDATION_FAILED' },
      { label: 'a bad check digit, funds not captured (before the read)', body: postingBody({ payCode: badCheckDigits(payCode), amount: '50.00', paidAt: shanghai(NOW) }), status: 400, code: 'PAY_CODE_INVALID' },
      { label: 'paidAt ahead of the clock (after the read)', body: postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T09:05:00') }), status: 400, code: 'VALIDATION_FAILED' },
      { label: 'no such notice (after the read)', body: postingBody({ payCode: unknownPayCode(), amount: '50.00', paidAt: shanghai(NOW) }), status: 404, code: 'NOTICE_NOT_FOUND' },
      { label: 'a wrong amount (after the read)', body: postingBody({ payCode, amount: '49.00', paidAt: shanghai(NOW) }), status: 422, code: 'AMOUNT_MISMATCH' },
    ];
    for (const { label, body, raw, status, code } of cases) {
      const nonce = nonceOf();
      const first = await posting(nonce, body, raw);
      expect({ label, status: first.status, code: first.body.error?.code }).toEqual({ label, status, code });
      expect({ label, stored: await storedNonces(nonce) }).toEqual({ label, stored: 1 });
      // The copy fails the same way and more, but the nonce comes first (docs/interface.md §2, §3).
      const copy = await posting(nonce, body, raw);
      expect({ label, status: copy.status, code: copy.body.error?.code }).toEqual({ label, status: 401, code: 'NONCE_REUSED' });
    }
    // None of it paid the notice.
    expect((await noticeRow(payCode)).status).toBe('ISSUED');
  });

  it('lets exactly one of many simultaneous copies through', async () => {
    const payCode = await issueNotice(unit);
    const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai(NOW) });
    const nonce = nonceOf();
    const answers = await Promise.all(Array.from({ length: 12 }, () => posting(nonce, body)));
    const statuses = answers.map((answer) => (answer.status === 201 ? 'posted' : answer.body.error.code)).sort();
    expect(statuses).toEqual(['posted', ...Array<string>(11).fill('NONCE_REUSED')].sort());
    expect((await rowsOf(service.database.db, body.agencyTxnId as string)).payments).toHaveLength(1);
  });
});
