import { settleJob } from '../../src/jobs/settle';
import { reissueInstruction } from '../../src/services/instructions';
import { addUnit, buildWorld, ITEMS, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { executedBeforeNow, startTestService, type TestService } from '../helpers/testService';

/**
 * Refunds over signed HTTP (docs/settlement.md §3): a unit requests (idempotent on refundNo,
 * REFUND_EXCEEDS_PAID, NOTICE_NOT_PAYABLE, another unit's notice and refund not found), finance
 * approves and rejects, and the executor rule: the agency while the money is in its clearing
 * account (instructed in the approving transaction), waiting while it is on its way, the
 * receiving bank once the settlement is confirmed (instructed in the confirming posting's
 * transaction); the bank's DEBIT posting confirms a bank refund in its own transaction. Two
 * concurrent requests that together exceed the payment: exactly one succeeds. Every answer is
 * checked against contracts/ by the test service; `ledger verify` passes after each step.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let otherUnit: SignedCall;
let agency: SignedCall;
let bank: SignedCall;
let finance: SignedCall;
const db = () => service.database.db;

const PAYEE = { name: '张三丰', accountNo: '6222020200112233445', bankName: '中国工商银行呼和浩特分行' };

async function pay(amount: string, paidAt: string, itemCode: string = ITEMS.fixedFee): Promise<{ payCode: string; paymentRowId: string }> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items: [{ itemCode, amount }], dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount, paidAt, agencyTxnId }))).status).toBe(201);
  return { payCode, paymentRowId: await paymentRowId(db(), agencyTxnId) };
}

function refundBody(refundNo: string, payCode: string, amount: string, overrides: Record<string, unknown> = {}) {
  return { refundNo, payCode, amount, reason: '重复缴费', payee: PAYEE, ...overrides };
}

async function refundRow(refundId: string) {
  return db()('refunds').where({ refund_id: refundId }).first();
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-16T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  otherUnit = signedAs(service, await addUnit(world, { code: 'UNIT_OTHER', itemCodes: [ITEMS.fixedFee] }));
  agency = signedAs(service, world.agency);
  const holder = await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_HOLDER' }, world.finance.appId);
  await service.runtime.services.catalogue.putAccount(world.fiscalAccountNo, { name: '财政专户', bankCode: 'BANK_HOLDER', kind: 'FISCAL' }, world.finance.appId);
  bank = signedAs(service, holder);
  finance = signedAs(service, world.finance);
});

afterAll(async () => {
  await service.close();
});

describe('a unit requests a refund', () => {
  let paid: { payCode: string; paymentRowId: string };

  beforeAll(async () => {
    paid = await pay('50.00', shanghai('2026-11-16T10:00:00'));
  });

  it('answers 201 REQUESTED with the payee masked and encrypted at rest; the same content replays, other content conflicts', async () => {
    const created = await unit('POST', '/v1/unit/refunds', refundBody('RF-A-1', paid.payCode, '20.00'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ refundNo: 'RF-A-1', payCode: paid.payCode, amount: '20.00', status: 'REQUESTED', approval: null, instructionNo: null, succeededAt: null });
    expect(created.body.payee).toEqual({ name: '**丰', accountNo: '****3445', bankName: PAYEE.bankName });
    const row = await refundRow(created.body.refundId as string);
    expect(row.payee_account_no).not.toContain('3445');
    expect(row.payee_name).not.toContain('张');

    const replay = await unit('POST', '/v1/unit/refunds', refundBody('RF-A-1', paid.payCode, '20.00'));
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replay')).toBe('true');
    expect(replay.body).toEqual(created.body);
    for (const other of [refundBody('RF-A-1', paid.payCode, '21.00'), refundBody('RF-A-1', paid.payCode, '20.00', { payee: { ...PAYEE, accountNo: '6222020200112233446' } })]) {
      const conflict = await unit('POST', '/v1/unit/refunds', other);
      expect(conflict.status).toBe(409);
      expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    }
    expect(await db()('refunds').where({ refund_no: 'RF-A-1' }).count({ n: '*' })).toEqual([{ n: '1' }]);
  });

  it('reads it back for its unit only; finance lists it by status', async () => {
    const read = await unit('GET', '/v1/unit/refunds/RF-A-1');
    expect(read.status).toBe(200);
    expect(read.body.status).toBe('REQUESTED');
    const foreign = await otherUnit('GET', '/v1/unit/refunds/RF-A-1');
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
    const listed = await finance('GET', '/v1/finance/refunds?status=REQUESTED');
    expect(listed.status).toBe(200);
    expect((listed.body.data as Array<{ refundNo: string }>).map((r) => r.refundNo)).toContain('RF-A-1');
    const approved = await finance('GET', '/v1/finance/refunds?status=APPROVED');
    expect((approved.body.data as Array<{ refundNo: string }>).map((r) => r.refundNo)).not.toContain('RF-A-1');
  });

  it('refuses more than was paid less the standing refunds, an unpaid notice, and another unit\'s notice', async () => {
    const over = await unit('POST', '/v1/unit/refunds', refundBody('RF-A-2', paid.payCode, '30.01'));
    expect(over.status).toBe(422);
    expect(over.body.error.code).toBe('REFUND_EXCEEDS_PAID');
    const unpaid = await issueNotice(unit, { items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }], dueDate: '2026-12-31' });
    const notPaid = await unit('POST', '/v1/unit/refunds', refundBody('RF-A-3', unpaid, '1.00'));
    expect(notPaid.status).toBe(409);
    expect(notPaid.body.error.code).toBe('NOTICE_NOT_PAYABLE');
    const foreign = await otherUnit('POST', '/v1/unit/refunds', refundBody('RF-A-4', paid.payCode, '1.00'));
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOTICE_NOT_FOUND');
    expect(await db()('refunds').whereIn('refund_no', ['RF-A-2', 'RF-A-3', 'RF-A-4']).count({ n: '*' })).toEqual([{ n: '0' }]);
  });

  it('approved while the money is in the clearing account: an agency instruction in the approving transaction', async () => {
    const requested = (await unit('GET', '/v1/unit/refunds/RF-A-1')).body;
    const decided = await finance('POST', `/v1/finance/refunds/${requested.refundId as string}/decision`, { approve: true, comment: '' });
    expect(decided.status).toBe(200);
    expect(decided.body.status).toBe('INSTRUCTED');
    expect(decided.body.approval).toMatchObject({ by: world.finance.appId });
    expect(decided.body.instructionNo).toMatch(/^TFR[0-9]{16}$/);
    const instruction = await agency('GET', `/v1/agency/instructions/${decided.body.instructionNo as string}`);
    expect(instruction.status).toBe(200);
    expect(instruction.body).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '20.00', executorCode: world.agency.code, refundId: requested.refundId, payee: PAYEE });
    expect(instruction.body.debitAccount.accountNo).toBe(world.clearingAccountNo);

    const again = await finance('POST', `/v1/finance/refunds/${requested.refundId as string}/decision`, { approve: true, comment: '' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    const contrary = await finance('POST', `/v1/finance/refunds/${requested.refundId as string}/decision`, { approve: false, comment: '改判' });
    expect(contrary.status).toBe(409);
    expect(contrary.body.error.code).toBe('INVALID_STATE_TRANSITION');
    // The decision is in the finance audit log once (the replay and the refusal add nothing), the payee masked.
    const audited = await db()('audit_log').where({ target: `refund:${requested.refundId as string}` }).orderBy('seq');
    expect(audited.map((row: { action: string; actor_app_id: string }) => [row.action, row.actor_app_id])).toEqual([['refund.approved', world.finance.appId]]);
    const after = JSON.stringify(audited[0].after);
    expect(after).toContain('"status":"INSTRUCTED"');
    expect(after).not.toContain(PAYEE.accountNo);
    await expectLedgerVerified(db());
  });

  it('rejected: no longer standing, so its amount can be requested again', async () => {
    const second = await unit('POST', '/v1/unit/refunds', refundBody('RF-A-5', paid.payCode, '30.00'));
    expect(second.status).toBe(201);
    expect((await unit('POST', '/v1/unit/refunds', refundBody('RF-A-6', paid.payCode, '0.01'))).body.error.code).toBe('REFUND_EXCEEDS_PAID');
    const rejected = await finance('POST', `/v1/finance/refunds/${second.body.refundId as string}/decision`, { approve: false });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'REJECTED', approval: null, instructionNo: null });
    const audited = await db()('audit_log').where({ target: `refund:${second.body.refundId as string}` });
    expect(audited.map((row: { action: string }) => row.action)).toEqual(['refund.rejected']);
    // The unit hears it (decision 0192), the payee not in the event.
    const events = (await unit('GET', '/v1/unit/events?after=0&limit=500')).body.data as Array<{ type: string; data: { refund: Record<string, unknown> } }>;
    const heard = events.filter((event) => event.type === 'refund.rejected');
    expect(heard.map((event) => [event.data.refund.refundId, event.data.refund.status])).toEqual([[second.body.refundId, 'REJECTED']]);
    expect(heard[0]?.data.refund).not.toHaveProperty('payee');
    expect((await unit('POST', '/v1/unit/refunds', refundBody('RF-A-6', paid.payCode, '30.00'))).status).toBe(201);
  });

  it('holds the payment out of settlement while the agency is paying its refund back', async () => {
    await reconcileDay(db(), { agencyCode: world.agency.code, businessDate: '2026-11-16', matched: [paid.paymentRowId] });
    service.clocks.business.set(new Date(shanghai('2026-11-17T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    expect(await db()('instruction_payment_items').where({ payment_id: paid.paymentRowId }).count({ n: '*' })).toEqual([{ n: '0' }]);
    await expectLedgerVerified(db());
  });
});

describe('two concurrent refunds of one payment', () => {
  it('exactly one succeeds when together they exceed what was paid (real concurrent connections)', async () => {
    for (let round = 0; round < 4; round += 1) {
      const paid = await pay('100.00', shanghai(`2026-11-17T10:0${round}:00`), ITEMS.fine);
      const answers = await Promise.all([
        unit('POST', '/v1/unit/refunds', refundBody(`RF-C-${round}-a`, paid.payCode, '60.00')),
        unit('POST', '/v1/unit/refunds', refundBody(`RF-C-${round}-b`, paid.payCode, '60.00')),
      ]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 422]);
      expect(answers.find((a) => a.status === 422)?.body.error.code).toBe('REFUND_EXCEEDS_PAID');
      const standing = await db()('refunds').where({ payment_id: paid.paymentRowId }).sum({ total: 'amount' });
      expect(standing[0]?.total).toBe('60.00');
    }
  });
});

describe('a refund after its money left the clearing account', () => {
  let paid: { payCode: string; paymentRowId: string };
  let settlementNo: string;
  let refundId: string;

  beforeAll(async () => {
    paid = await pay('50.00', shanghai('2026-11-18T10:00:00'));
    await reconcileDay(db(), { agencyCode: world.agency.code, businessDate: '2026-11-18', matched: [paid.paymentRowId] });
    service.clocks.business.set(new Date(shanghai('2026-11-19T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const settlement = await db()('instructions as i').join('instruction_payment_items as x', 'x.instruction_id', 'i.id').where('x.payment_id', paid.paymentRowId).first('i.instruction_no');
    settlementNo = settlement.instruction_no as string;
    service.clocks.business.set(new Date(shanghai('2026-11-19T09:00:00')));
  });

  it('waits, APPROVED and uninstructed, while the settlement is not confirmed', async () => {
    const requested = await unit('POST', '/v1/unit/refunds', refundBody('RF-B-1', paid.payCode, '20.00'));
    refundId = requested.body.refundId as string;
    const decided = await finance('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: '同意' });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ status: 'APPROVED', instructionNo: null });
    expect(await db()('instructions').where({ refund_id: (await refundRow(refundId)).id }).count({ n: '*' })).toEqual([{ n: '0' }]);
  });

  it('is instructed to the receiving bank in the transaction of the posting that confirms the settlement', async () => {
    const settlement = await db()('instructions').where({ instruction_no: settlementNo }).first();
    const credit = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-S-1', accountNo: world.fiscalAccountNo, direction: 'CREDIT', amount: settlement.amount, valueDate: '2026-11-19', instructionNo: settlementNo });
    expect(credit.status).toBe(201);
    expect(credit.body.status).toBe('MATCHED');
    const refund = (await unit('GET', '/v1/unit/refunds/RF-B-1')).body;
    expect(refund.status).toBe('INSTRUCTED');
    const instruction = await bank('GET', `/v1/bank/instructions/${refund.instructionNo as string}`);
    expect(instruction.status).toBe(200);
    expect(instruction.body).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '20.00', executorCode: 'BANK_HOLDER' });
    expect(instruction.body.debitAccount.accountNo).toBe(world.fiscalAccountNo);
    await expectLedgerVerified(db());
  });

  it('a refund approved after the confirmation goes to the receiving bank at once', async () => {
    const requested = await unit('POST', '/v1/unit/refunds', refundBody('RF-B-2', paid.payCode, '5.00'));
    const decided = await finance('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: null });
    expect(decided.body.status).toBe('INSTRUCTED');
    const instruction = await bank('GET', `/v1/bank/instructions/${decided.body.instructionNo as string}`);
    expect(instruction.body.executorCode).toBe('BANK_HOLDER');
  });

  it('succeeds by the bank\'s DEBIT posting: payment and notice PARTIALLY_REFUNDED, the receipt reversed, refund.succeeded to the unit', async () => {
    const refund = (await unit('GET', '/v1/unit/refunds/RF-B-1')).body;
    service.clocks.business.set(new Date(shanghai('2026-11-19T15:00:00')));
    const debit = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-R-1', accountNo: world.fiscalAccountNo, direction: 'DEBIT', amount: '20.00', valueDate: '2026-11-19', memo: `退付 ${refund.instructionNo as string}` });
    expect(debit.status).toBe(201);
    expect(debit.body).toMatchObject({ status: 'MATCHED', instructionNo: refund.instructionNo });
    const succeeded = (await unit('GET', '/v1/unit/refunds/RF-B-1')).body;
    expect(succeeded.status).toBe('SUCCEEDED');
    expect(succeeded.succeededAt).toBe('2026-11-19T15:00:00+08:00');
    const notice = await unit('GET', `/v1/unit/notices/${paid.payCode}`);
    expect(notice.body.status).toBe('PARTIALLY_REFUNDED');
    expect((await db()('payments').where({ id: paid.paymentRowId }).first()).status).toBe('PARTIALLY_REFUNDED');
    const receipt = await unit('GET', `/v1/unit/receipts/${paid.payCode}`);
    expect(receipt.body.reversals).toEqual([expect.objectContaining({ refundId: refund.refundId, amount: '20.00' })]);
    const events = await unit('GET', '/v1/unit/events?after=0&limit=500');
    const succeededEvents = (events.body.data as Array<{ type: string; data: { refund: { refundId: string }; notice: { status: string } } }>).filter((e) => e.type === 'refund.succeeded');
    expect(succeededEvents.map((e) => e.data.refund.refundId)).toEqual([refund.refundId]);
    expect(succeededEvents[0]?.data.notice.status).toBe('PARTIALLY_REFUNDED');
    const entries = await db()('journal_entries').where({ refund_id: (await refundRow(refund.refundId as string)).id });
    expect(entries.map((e) => e.kind)).toEqual(['BANK_REFUND_CONFIRMED']);
    await expectLedgerVerified(db());
  });

  it('the rest of the payment refunded: payment and notice REFUNDED', async () => {
    const requested = await unit('POST', '/v1/unit/refunds', refundBody('RF-B-3', paid.payCode, '25.00'));
    const decided = await finance('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: null });
    for (const [bankRef, no, amount] of [
      ['BR-R-2', (await unit('GET', '/v1/unit/refunds/RF-B-2')).body.instructionNo, '5.00'],
      ['BR-R-3', decided.body.instructionNo, '25.00'],
    ] as const) {
      const debit = await bank('POST', '/v1/bank/postings', { bankRef, accountNo: world.fiscalAccountNo, direction: 'DEBIT', amount, valueDate: '2026-11-19', instructionNo: no });
      expect(debit.body.status).toBe('MATCHED');
    }
    expect((await unit('GET', `/v1/unit/notices/${paid.payCode}`)).body.status).toBe('REFUNDED');
    expect((await db()('payments').where({ id: paid.paymentRowId }).first()).status).toBe('REFUNDED');
    expect((await unit('GET', `/v1/unit/receipts/${paid.payCode}`)).body.status).toBe('REVERSED');
    expect((await unit('POST', '/v1/unit/refunds', refundBody('RF-B-4', paid.payCode, '0.01'))).body.error.code).toBe('REFUND_EXCEEDS_PAID');
    await expectLedgerVerified(db());
  });
});

/**
 * A payment of a fixed fee (50.00, to the fiscal account) and a fine (25.00, to the treasury
 * account), matched on `day`, settled the next morning `next` and both settlements confirmed by
 * the bank's CREDIT postings: its money is in two receiving accounts, both held by the test bank.
 */
async function paySettledToTwoAccounts(day: string, next: string, refPrefix: string): Promise<{ payCode: string; paymentRowId: string }> {
  await service.runtime.services.catalogue.putAccount(world.treasuryAccountNo, { name: '国库待报解户', bankCode: 'BANK_HOLDER', kind: 'TREASURY' }, world.finance.appId);
  const paidAt = shanghai(`${day}T10:00:00`);
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '25.00' }], dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '75.00', paidAt, agencyTxnId }))).status).toBe(201);
  const paid = { payCode, paymentRowId: await paymentRowId(db(), agencyTxnId) };
  await reconcileDay(db(), { agencyCode: world.agency.code, businessDate: day, matched: [paid.paymentRowId] });
  service.clocks.business.set(new Date(shanghai(`${next}T03:00:00`)));
  await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
  service.clocks.business.set(new Date(shanghai(`${next}T09:00:00`)));
  const settlements = (await db()('instructions as i')
    .join('instruction_payment_items as x', 'x.instruction_id', 'i.id')
    .where('x.payment_id', paid.paymentRowId)
    .distinct('i.instruction_no', 'i.amount', 'i.credit_account_no')
    .orderBy('i.credit_account_no')) as Array<{ instruction_no: string; amount: string; credit_account_no: string }>;
  expect(settlements.map((row) => row.credit_account_no)).toEqual([world.fiscalAccountNo, world.treasuryAccountNo]);
  for (const [index, settlement] of settlements.entries()) {
    const credit = await bank('POST', '/v1/bank/postings', { bankRef: `BR-${refPrefix}-${index}`, accountNo: settlement.credit_account_no, direction: 'CREDIT', amount: settlement.amount, valueDate: next, instructionNo: settlement.instruction_no });
    expect(credit.body.status).toBe('MATCHED');
  }
  return paid;
}

describe('a bank refund of a payment settled to two receiving accounts', () => {
  let paid: { payCode: string; paymentRowId: string };
  let refundId: string;
  let instructionNos: string[];

  beforeAll(async () => {
    paid = await paySettledToTwoAccounts('2026-11-20', '2026-11-21', 'MS');
  });

  it('is instructed to the receiving banks, one instruction per account, the refund split half-up by what each settled (the last the remainder)', async () => {
    const requested = await unit('POST', '/v1/unit/refunds', refundBody('RF-M-1', paid.payCode, '10.00'));
    refundId = requested.body.refundId as string;
    const decided = await finance('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: null });
    expect(decided.body.status).toBe('INSTRUCTED');
    const instructions = (await db()('instructions').where({ refund_id: (await refundRow(refundId)).id }).orderBy('id')) as Array<{ instruction_no: string; debit_account_no: string; amount: string; status: string }>;
    // 10.00 × 50/75 = 6.666… → 6.67 (ROUND_HALF_UP); the treasury account the remaining 3.33.
    expect(instructions.map((row) => [row.debit_account_no, row.amount, row.status])).toEqual([
      [world.fiscalAccountNo, '6.67', 'CREATED'],
      [world.treasuryAccountNo, '3.33', 'CREATED'],
    ]);
    instructionNos = instructions.map((row) => row.instruction_no);
    for (const no of instructionNos) expect((await bank('GET', `/v1/bank/instructions/${no}`)).body).toMatchObject({ type: 'REFUND', executorCode: 'BANK_HOLDER' });
    await expectLedgerVerified(db());
  });

  it('succeeds once, when the DEBIT posting of its last instruction confirms it; the ledger ties after each', async () => {
    service.clocks.business.set(new Date(shanghai('2026-11-21T15:00:00')));
    const first = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-MR-1', accountNo: world.fiscalAccountNo, direction: 'DEBIT', amount: '6.67', valueDate: '2026-11-21', instructionNo: instructionNos[0] });
    expect(first.body).toMatchObject({ status: 'MATCHED', instructionNo: instructionNos[0] });
    expect((await unit('GET', '/v1/unit/refunds/RF-M-1')).body.status).toBe('INSTRUCTED');
    const row = await refundRow(refundId);
    expect(await db()('journal_entries').where({ refund_id: row.id }).count({ n: '*' })).toEqual([{ n: '0' }]);
    await expectLedgerVerified(db());

    const second = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-MR-2', accountNo: world.treasuryAccountNo, direction: 'DEBIT', amount: '3.33', valueDate: '2026-11-21', instructionNo: instructionNos[1] });
    expect(second.body).toMatchObject({ status: 'MATCHED', instructionNo: instructionNos[1] });
    const succeeded = (await unit('GET', '/v1/unit/refunds/RF-M-1')).body;
    expect(succeeded.status).toBe('SUCCEEDED');
    expect(succeeded.succeededAt).toBe('2026-11-21T15:00:00+08:00');
    expect((await unit('GET', `/v1/unit/notices/${paid.payCode}`)).body.status).toBe('PARTIALLY_REFUNDED');
    expect((await unit('GET', `/v1/unit/receipts/${paid.payCode}`)).body.reversals).toEqual([expect.objectContaining({ refundId, amount: '10.00' })]);
    const events = (await unit('GET', '/v1/unit/events?after=0&limit=500')).body.data as Array<{ type: string; data: { refund: { refundId: string } } }>;
    expect(events.filter((e) => e.type === 'refund.succeeded' && e.data.refund.refundId === refundId)).toHaveLength(1);
    const credits = (await db()('journal_entries as e')
      .join('journal_lines as l', 'l.entry_id', 'e.id')
      .where({ 'e.refund_id': row.id, 'e.kind': 'BANK_REFUND_CONFIRMED', 'l.side': 'CREDIT' })
      .orderBy('l.account')
      .select('l.account', 'l.amount')) as Array<{ account: string; amount: string }>;
    expect(credits).toEqual([
      { account: `receiving:${world.fiscalAccountNo}`, amount: '6.67' },
      { account: `receiving:${world.treasuryAccountNo}`, amount: '3.33' },
    ]);
    await expectLedgerVerified(db());
  });
});

describe('a bank refund split over two accounts whose one instruction fails', () => {
  it('is FAILED with it while the other stands; its confirmation books nothing until the reissue completes the sum', async () => {
    const paid = await paySettledToTwoAccounts('2026-11-24', '2026-11-25', 'MF');
    const requested = await unit('POST', '/v1/unit/refunds', refundBody('RF-MF-1', paid.payCode, '7.50'));
    const refundId = requested.body.refundId as string;
    expect((await finance('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: null })).body.status).toBe('INSTRUCTED');
    const row = await refundRow(refundId);
    const [fiscal, treasury] = (await db()('instructions').where({ refund_id: row.id }).orderBy('id')) as Array<{ id: string; instruction_no: string; amount: string }>;
    expect([fiscal?.amount, treasury?.amount]).toEqual(['5.00', '2.50']);

    const failed = await bank('POST', `/v1/bank/instructions/${fiscal?.instruction_no as string}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-11-25T10:00:00')), reference: 'BK-MF-1', failureReason: '账户冻结' });
    expect(failed.status).toBe(200);
    expect((await unit('GET', '/v1/unit/refunds/RF-MF-1')).body.status).toBe('FAILED');
    const other = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-MF-R2', accountNo: world.treasuryAccountNo, direction: 'DEBIT', amount: '2.50', valueDate: '2026-11-25', instructionNo: treasury?.instruction_no });
    expect(other.body.status).toBe('MATCHED');
    expect((await unit('GET', '/v1/unit/refunds/RF-MF-1')).body.status).toBe('FAILED');
    expect(await db()('journal_entries').where({ refund_id: row.id }).count({ n: '*' })).toEqual([{ n: '0' }]);
    await expectLedgerVerified(db());

    const reissued = await db().transaction((trx) => reissueInstruction(trx, { instructionRowId: String(fiscal?.id), actor: world.finance.appId, now: service.clocks.business.now() }));
    expect((await unit('GET', '/v1/unit/refunds/RF-MF-1')).body.status).toBe('INSTRUCTED');
    const debit = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-MF-R1', accountNo: world.fiscalAccountNo, direction: 'DEBIT', amount: '5.00', valueDate: '2026-11-25', instructionNo: reissued.instructionNo });
    expect(debit.body.status).toBe('MATCHED');
    expect((await unit('GET', '/v1/unit/refunds/RF-MF-1')).body.status).toBe('SUCCEEDED');
    expect((await db()('journal_entries').where({ refund_id: row.id })).map((e) => e.kind)).toEqual(['BANK_REFUND_CONFIRMED']);
    await expectLedgerVerified(db());
  });
});

describe('a refund of a payment whose settlement FAILED', () => {
  it('waits for the reissue and its confirmation, then goes to the receiving bank: the agency never pays back money the reissue settles again (decision 0231)', async () => {
    const paid = await pay('50.00', shanghai('2026-11-26T10:00:00'));
    await reconcileDay(db(), { agencyCode: world.agency.code, businessDate: '2026-11-26', matched: [paid.paymentRowId] });
    service.clocks.business.set(new Date(shanghai('2026-11-27T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const settlement = (await db()('instructions as i').join('instruction_payment_items as x', 'x.instruction_id', 'i.id').where('x.payment_id', paid.paymentRowId).first('i.id', 'i.instruction_no', 'i.amount')) as { id: string; instruction_no: string; amount: string };
    expect(settlement.amount).toBe('50.00');
    service.clocks.business.set(new Date(shanghai('2026-11-27T09:00:00')));
    const failed = await agency('POST', `/v1/agency/instructions/${settlement.instruction_no}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-11-27T08:30:00')), reference: 'AG-RW-1', failureReason: '账户冻结' });
    expect([failed.status, failed.body.status]).toEqual([200, 'FAILED']);

    // Approved while the settlement waits for its reissue: no instruction, to the agency or anyone.
    const requested = await unit('POST', '/v1/unit/refunds', refundBody('RF-W-1', paid.payCode, '15.00'));
    const refundId = requested.body.refundId as string;
    const decided = await finance('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: null });
    expect(decided.body).toMatchObject({ status: 'APPROVED', instructionNo: null });
    expect(await db()('instructions').where({ refund_id: (await refundRow(refundId)).id }).count({ n: '*' })).toEqual([{ n: '0' }]);
    await expectLedgerVerified(db());

    // The reissue settles the whole 50.00 again; its confirmation instructs the refund to the bank.
    const reissued = await db().transaction((trx) => reissueInstruction(trx, { instructionRowId: String(settlement.id), actor: world.finance.appId, now: service.clocks.business.now() }));
    expect((await unit('GET', '/v1/unit/refunds/RF-W-1')).body.status).toBe('APPROVED');
    const credit = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-RW-S', accountNo: world.fiscalAccountNo, direction: 'CREDIT', amount: '50.00', valueDate: '2026-11-27', instructionNo: reissued.instructionNo });
    expect(credit.body.status).toBe('MATCHED');
    const refund = (await unit('GET', '/v1/unit/refunds/RF-W-1')).body;
    expect(refund.status).toBe('INSTRUCTED');
    const instruction = await bank('GET', `/v1/bank/instructions/${refund.instructionNo as string}`);
    expect(instruction.body).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '15.00', executorCode: 'BANK_HOLDER' });
    await expectLedgerVerified(db());
  });
});

describe('ledger verify knows refunds', () => {
  it('catches a refund marked SUCCEEDED that no confirmation booked', async () => {
    const row = await db()('refunds').where({ refund_no: 'RF-A-6' }).first();
    expect(row.status).toBe('REQUESTED');
    await db().raw(`UPDATE refunds SET status = 'SUCCEEDED', succeeded_at = now() WHERE id = ?`, [row.id]);
    try {
      const { verifyLedger } = await import('../../src/services/ledger');
      const verification = await verifyLedger(db());
      const broken = verification.checks.filter((check) => !check.ok).map((check) => check.name);
      expect(broken).toEqual(['refundsConfirmed']);
    } finally {
      await db().raw(`UPDATE refunds SET status = 'REQUESTED', succeeded_at = NULL WHERE id = ?`, [row.id]);
    }
    await expectLedgerVerified(db());
  });
});
