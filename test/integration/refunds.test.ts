import { settleJob } from '../../src/jobs/settle';
import { buildWorld, ITEMS, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { insertDiscrepancy } from '../helpers/discrepancyRows';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { insertStatement } from '../helpers/statements';
import { executedBeforeNow, startTestService, type TestService } from '../helpers/testService';

/**
 * Agency refunds end to end (docs/settlement.md §3, docs/reconciliation.md §2): an approved refund
 * of money still in the clearing account is the agency's; the REFUND line of the agency's
 * statement confirms it in the reconciliation run's transaction (journal, payment and notice,
 * receipt reversal, refund.succeeded), and the settlement then settles the payment less the
 * refund; a REFUND line that matches nothing is a REFUND_MISMATCH. The refund obligations of
 * unapplied money: instructed to the agency in the reconciliation run that proves the capture
 * when the agency named the payer, and by a SET_PAYEE maker-checker otherwise. `ledger verify` after each step.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let maker: SignedCall;
let checker: SignedCall;
const db = () => service.database.db;
const PAYEE = { name: '李四', accountNo: '6217000011112222333', bankName: '中国建设银行' };

async function pay(amount: string, paidAt: string): Promise<{ payCode: string; agencyTxnId: string; paymentRowId: string }> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items: [{ itemCode: ITEMS.sharedFee, amount }], dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount, paidAt, agencyTxnId }))).status).toBe(201);
  return { payCode, agencyTxnId, paymentRowId: await paymentRowId(db(), agencyTxnId) };
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-16T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  maker = signedAs(service, world.finance);
  checker = signedAs(service, await registerParty(service.runtime.services, { role: 'finance', code: 'FIN_CHECK' }));
});

afterAll(async () => {
  await service.close();
});

describe('an agency refund confirmed by its statement', () => {
  let paid: { payCode: string; agencyTxnId: string; paymentRowId: string };
  let other: { payCode: string; agencyTxnId: string; paymentRowId: string };
  let instructionNo: string;
  let refundId: string;

  it('is instructed to the agency when approved, and the REFUND line confirms it in the reconciliation run', async () => {
    paid = await pay('100.00', shanghai('2026-11-16T10:00:00'));
    other = await pay('33.33', shanghai('2026-11-16T10:05:00'));
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-AG-1', payCode: paid.payCode, amount: '33.33', reason: '多缴', payee: PAYEE });
    refundId = requested.body.refundId as string;
    const approved = await maker('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: '' });
    expect(approved.body.status).toBe('INSTRUCTED');
    instructionNo = approved.body.instructionNo as string;
    expect((await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai('2026-11-16T15:00:00')), reference: 'AG-REF-1' })).status).toBe(200);

    await insertStatement(db(), {
      agencyCode: world.agency.code,
      businessDate: '2026-11-16',
      lines: [
        { agencyTxnId: paid.agencyTxnId, payCode: paid.payCode, amount: '100.00' },
        { agencyTxnId: other.agencyTxnId, payCode: other.payCode, amount: '33.33' },
        { kind: 'REFUND', agencyTxnId: 'AGR-1', instructionNo, amount: '33.33' },
        { kind: 'REFUND', agencyTxnId: 'AGR-2', instructionNo: 'TFR2026111699999999', amount: '5.00' },
      ],
    });
    service.clocks.business.set(new Date(shanghai('2026-11-17T02:00:00')));
    const run = (await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-16')) as unknown as { outcomes: Record<string, { count: number; amount: string }>; status: string };
    expect(run.outcomes.MATCHED).toEqual({ count: 2, amount: '133.33' });
    expect(run.outcomes.REFUND_MISMATCH).toEqual({ count: 1, amount: '5.00' });
    expect(run.status).toBe('UNBALANCED');

    const refund = (await unit('GET', '/v1/unit/refunds/RF-AG-1')).body;
    expect(refund).toMatchObject({ status: 'SUCCEEDED', succeededAt: '2026-11-17T02:00:00+08:00' });
    expect((await agency('GET', `/v1/agency/instructions/${instructionNo}`)).body.status).toBe('CONFIRMED');
    expect((await unit('GET', `/v1/unit/notices/${paid.payCode}`)).body.status).toBe('PARTIALLY_REFUNDED');
    expect((await unit('GET', `/v1/unit/receipts/${paid.payCode}`)).body.reversals).toEqual([expect.objectContaining({ refundId, amount: '33.33' })]);
    const events = (await unit('GET', '/v1/unit/events?after=0&limit=500')).body.data as Array<{ type: string; data: { refund: { refundId: string } } }>;
    expect(events.filter((e) => e.type === 'refund.succeeded').map((e) => e.data.refund.refundId)).toEqual([refundId]);
    const refundRow = await db()('refunds').where({ refund_id: refundId }).first();
    expect((await db()('journal_entries').where({ refund_id: refundRow.id })).map((e) => e.kind)).toEqual(['AGENCY_REFUND_CONFIRMED']);
    const mismatch = await db()('reconciliation_discrepancies').where({ type: 'REFUND_MISMATCH', status: 'OPEN' });
    expect(mismatch.map((d) => d.agency_txn_id)).toEqual(['AGR-2']);
    await expectLedgerVerified(db());
  });

  it('a rerun confirms nothing twice', async () => {
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-16');
    const refundRow = await db()('refunds').where({ refund_id: refundId }).first();
    expect(await db()('journal_entries').where({ refund_id: refundRow.id }).count({ n: '*' })).toEqual([{ n: '1' }]);
    await expectLedgerVerified(db());
  });

  it('settles the payment less its refund, spread half-up over its shares', async () => {
    service.clocks.business.set(new Date(shanghai('2026-11-17T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const items = await db()('instruction_payment_items').where({ payment_id: paid.paymentRowId });
    expect(items.map((x) => x.amount)).toEqual(['66.67']);
    await expectLedgerVerified(db());
  });
});

describe('the refund obligation of unapplied money', () => {
  it('with the payer named, is instructed to the agency in the reconciliation run that proves the money was captured', async () => {
    service.clocks.business.set(new Date(shanghai('2026-11-17T10:00:00')));
    const agencyTxnId = newTxnId();
    const payCode = unknownPayCode();
    const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '12.00', paidAt: shanghai('2026-11-17T09:59:00'), agencyTxnId, fundsCaptured: true, payerAccount: PAYEE }));
    expect(posted.status).toBe(201);
    expect(posted.body.status).toBe('UNAPPLIED');
    const refund = await db()('refunds').where({ refund_id: posted.body.refundId }).first();
    expect(refund.status).toBe('APPROVED');
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-17', lines: [{ agencyTxnId, payCode, amount: '12.00' }] });
    service.clocks.business.set(new Date(shanghai('2026-11-18T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-17');
    expect((await db()('refunds').where({ id: refund.id }).first()).status).toBe('INSTRUCTED');
    const instruction = await db()('instructions').where({ refund_id: refund.id }).first();
    expect(instruction).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '12.00', debit_account_no: world.clearingAccountNo });
    await expectLedgerVerified(db());
  });

  it('without a payee waits for SET_PAYEE, proposed by one finance party and approved by another, and the run that proves it instructs it', async () => {
    service.clocks.business.set(new Date(shanghai('2026-11-18T10:00:00')));
    const agencyTxnId = newTxnId();
    const payCode = unknownPayCode();
    const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '8.00', paidAt: shanghai('2026-11-18T09:58:00'), agencyTxnId, fundsCaptured: true }));
    const refundId = posted.body.refundId as string;
    const listed = (await maker('GET', '/v1/finance/refunds?status=APPROVED')).body.data as Array<{ refundId: string; payee: unknown; approval: unknown; refundNo: unknown }>;
    expect(listed.find((r) => r.refundId === refundId)).toMatchObject({ payee: null, approval: 'AUTO_POLICY', refundNo: null });

    const proposal = await maker('POST', `/v1/finance/refunds/${refundId}/proposals`, { proposalRef: 'SP-1', action: 'SET_PAYEE', reason: '联系到缴款人', payee: PAYEE });
    expect(proposal.status).toBe(201);
    const same = await maker('POST', `/v1/finance/refunds/${refundId}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
    expect(same.status).toBe(422);
    expect(same.body.error.code).toBe('APPROVER_SAME_AS_REQUESTER');
    const decided = await checker('POST', `/v1/finance/refunds/${refundId}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
    expect(decided.status).toBe(200);
    const withPayee = ((await maker('GET', '/v1/finance/refunds?status=APPROVED')).body.data as Array<{ refundId: string; payee: { name: string } | null; instructionNo: string | null }>).find((r) => r.refundId === refundId);
    expect(withPayee).toMatchObject({ payee: { name: '**四', accountNo: '****2333', bankName: PAYEE.bankName }, instructionNo: null });
    const again = await maker('POST', `/v1/finance/refunds/${refundId}/proposals`, { proposalRef: 'SP-2', action: 'SET_PAYEE', reason: '再改', payee: PAYEE });
    expect(again.status).toBe(422);
    expect(again.body.error.code).toBe('ACTION_NOT_APPLICABLE');

    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-18', lines: [{ agencyTxnId, payCode, amount: '8.00' }] });
    service.clocks.business.set(new Date(shanghai('2026-11-19T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-18');
    const instructed = ((await maker('GET', '/v1/finance/refunds?status=INSTRUCTED')).body.data as Array<{ refundId: string; instructionNo: string }>).find((r) => r.refundId === refundId);
    expect(instructed?.instructionNo).toMatch(/^TFR/);
    await expectLedgerVerified(db());
  });
});

describe('a refund of a payment that never happened', () => {
  it('is CANCELLED with its live instruction when finance reverses the payment', async () => {
    const paid = await pay('40.00', shanghai('2026-11-20T10:00:00'));
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-RV-1', payCode: paid.payCode, amount: '10.00', reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: '' });
    expect(approved.body.status).toBe('INSTRUCTED');
    const pending = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-RV-2', payCode: paid.payCode, amount: '5.00', reason: '多缴', payee: PAYEE });
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-20', lines: [] });
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-21', lines: [] });
    service.clocks.business.set(new Date(shanghai('2026-11-22T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-20');
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-21');
    const shortage = await db()('reconciliation_discrepancies').where({ type: 'SHORTAGE', status: 'OPEN', payment_id: paid.paymentRowId }).first();
    expect(shortage).toBeDefined();
    const proposal = await maker('POST', `/v1/finance/discrepancies/${shortage.discrepancy_id as string}/proposals`, { proposalRef: 'RV-1', action: 'REVERSE_PAYMENT', reason: '未收到款项' });
    expect(proposal.status).toBe(201);
    expect((await checker('POST', `/v1/finance/discrepancies/${shortage.discrepancy_id as string}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' })).status).toBe(200);

    expect((await unit('GET', '/v1/unit/refunds/RF-RV-1')).body.status).toBe('CANCELLED');
    expect((await agency('GET', `/v1/agency/instructions/${approved.body.instructionNo as string}`)).body.status).toBe('CANCELLED');
    const events = (await agency('GET', '/v1/agency/events?after=0&limit=500')).body.data as Array<{ type: string; data: { instruction: { instructionNo: string } } }>;
    expect(events.filter((e) => e.type === 'instruction.cancelled').map((e) => e.data.instruction.instructionNo)).toEqual([approved.body.instructionNo]);
    // A REQUESTED refund stays for finance, who can no longer approve it.
    expect((await unit('GET', '/v1/unit/refunds/RF-RV-2')).body.status).toBe('REQUESTED');
    const late = await maker('POST', `/v1/finance/refunds/${pending.body.refundId as string}/decision`, { approve: true, comment: '' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('INVALID_STATE_TRANSITION');
    expect((await maker('POST', `/v1/finance/refunds/${pending.body.refundId as string}/decision`, { approve: false, comment: '款项已冲正' })).body.status).toBe('REJECTED');
    await expectLedgerVerified(db());
  });
});

describe('a refund the agency reported executed', () => {
  it('holds its payment’s reversal — at proposal, and at approval when the report came in between — so that money paid out never loses its trace', async () => {
    const paid = await pay('40.00', shanghai('2026-11-23T10:00:00'));
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-EX-1', payCode: paid.payCode, amount: '10.00', reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: '' });
    expect(approved.body.status).toBe('INSTRUCTED');
    const instructionNo = approved.body.instructionNo as string;
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-23', lines: [] });
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-24', lines: [] });
    service.clocks.business.set(new Date(shanghai('2026-11-25T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-23');
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-24');
    const shortage = await db()('reconciliation_discrepancies').where({ type: 'SHORTAGE', status: 'OPEN', payment_id: paid.paymentRowId }).first();
    expect(shortage).toBeDefined();
    const id = shortage.discrepancy_id as string;

    // Proposed while the instruction is CREATED; the agency reports it executed before the approval.
    const proposal = await maker('POST', `/v1/finance/discrepancies/${id}/proposals`, { proposalRef: 'RV-EX-1', action: 'REVERSE_PAYMENT', reason: '未收到款项' });
    expect(proposal.status).toBe(201);
    expect((await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: shanghai('2026-11-25T01:30:00'), reference: 'AG-EX-1' })).status).toBe(200);
    const decided = await checker('POST', `/v1/finance/discrepancies/${id}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
    expect(decided.status).toBe(422);
    expect(decided.body.error.code).toBe('ACTION_NOT_APPLICABLE');
    expect(decided.body.error.message).toContain(`${instructionNo} EXECUTED`);
    expect((await agency('GET', `/v1/agency/instructions/${instructionNo}`)).body.status).toBe('EXECUTED');
    expect((await unit('GET', '/v1/unit/refunds/RF-EX-1')).body.status).toBe('INSTRUCTED');
    expect((await db()('payments').where({ id: paid.paymentRowId }).first()).status).toBe('SUCCEEDED');

    // A new proposal is refused at once; the other actions stay open.
    const again = await maker('POST', `/v1/finance/discrepancies/${id}/proposals`, { proposalRef: 'RV-EX-2', action: 'REVERSE_PAYMENT', reason: '未收到款项' });
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 422, code: 'ACTION_NOT_APPLICABLE' });
    await expectLedgerVerified(db());
  });
});

describe('a refund whose instruction failed', () => {
  it('is FAILED with it, and a reissue checks REFUND_EXCEEDS_PAID again before it is INSTRUCTED again', async () => {
    const paid = await pay('30.00', shanghai('2026-11-23T10:00:00'));
    const first = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-F-1', payCode: paid.payCode, amount: '10.00', reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${first.body.refundId as string}/decision`, { approve: true, comment: '' });
    const failedNo = approved.body.instructionNo as string;
    const failed = await agency('POST', `/v1/agency/instructions/${failedNo}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-11-23T11:00:00')), reference: 'AG-F-1', failureReason: '账户已销户' });
    expect(failed.status).toBe(200);
    expect((await unit('GET', '/v1/unit/refunds/RF-F-1')).body.status).toBe('FAILED');
    // The unit hears it: nothing was paid back (decision 0192).
    const heard = ((await unit('GET', '/v1/unit/events?after=0&limit=500')).body.data as Array<{ type: string; data: { refund: { refundNo: string; status: string } } }>).filter((event) => event.type === 'refund.failed');
    expect(heard.map((event) => [event.data.refund.refundNo, event.data.refund.status])).toEqual([['RF-F-1', 'FAILED']]);
    // A FAILED refund no longer stands: 25.00 of the 30.00 can be asked for meanwhile.
    const second = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-F-2', payCode: paid.payCode, amount: '25.00', reason: '多缴', payee: PAYEE });
    expect(second.status).toBe(201);

    const proposal = await maker('POST', `/v1/finance/instructions/${failedNo}/proposals`, { proposalRef: 'RI-1', action: 'REISSUE', reason: '更正账户后重发' });
    expect(proposal.status).toBe(201);
    const refused = await checker('POST', `/v1/finance/instructions/${failedNo}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('REFUND_EXCEEDS_PAID');
    expect((await unit('GET', '/v1/unit/refunds/RF-F-1')).body.status).toBe('FAILED');

    await maker('POST', `/v1/finance/refunds/${second.body.refundId as string}/decision`, { approve: false, comment: '' });
    const reissued = await checker('POST', `/v1/finance/instructions/${failedNo}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
    expect(reissued.status).toBe(200);
    const refund = (await unit('GET', '/v1/unit/refunds/RF-F-1')).body;
    expect(refund.status).toBe('INSTRUCTED');
    expect(refund.instructionNo).not.toBe(failedNo);
    expect((await agency('GET', `/v1/agency/instructions/${refund.instructionNo as string}`)).body).toMatchObject({ reissueOf: failedNo, status: 'CREATED', amount: '10.00' });
    await expectLedgerVerified(db());
  });

  it('is not reissued to the agency once a settlement took its payment\'s money meanwhile: the agency no longer holds it (decision 0231)', async () => {
    const paid = await pay('30.00', shanghai('2026-12-01T10:00:00'));
    const first = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-S-1', payCode: paid.payCode, amount: '10.00', reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${first.body.refundId as string}/decision`, { approve: true, comment: '' });
    const failedNo = approved.body.instructionNo as string;
    const failed = await agency('POST', `/v1/agency/instructions/${failedNo}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-12-01T11:00:00')), reference: 'AG-S-1', failureReason: '账户已销户' });
    expect(failed.status).toBe(200);
    // A FAILED refund holds nothing back: the next morning's settlement takes the whole 30.00.
    await reconcileDay(db(), { agencyCode: world.agency.code, businessDate: '2026-12-01', matched: [paid.paymentRowId] });
    service.clocks.business.set(new Date(shanghai('2026-12-02T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const settlement = (await db()('instructions as i').join('instruction_payment_items as x', 'x.instruction_id', 'i.id').where('x.payment_id', paid.paymentRowId).first('i.instruction_no', 'i.amount')) as { instruction_no: string; amount: string };
    expect(settlement.amount).toBe('30.00');

    service.clocks.business.set(new Date(shanghai('2026-12-02T09:00:00')));
    const proposal = await maker('POST', `/v1/finance/instructions/${failedNo}/proposals`, { proposalRef: 'RI-S-1', action: 'REISSUE', reason: '更正账户后重发' });
    expect([proposal.status, proposal.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect(proposal.body.error.message).toContain(`settlement instruction ${settlement.instruction_no} (CREATED)`);
    expect(await db()('instructions').where({ reissue_of: db()('instructions').where({ instruction_no: failedNo }).select('id') })).toEqual([]);
    expect((await unit('GET', '/v1/unit/refunds/RF-S-1')).body.status).toBe('FAILED');
    // A new request goes by where the money is now: on its way to the receiving account, so it waits.
    const second = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-S-2', payCode: paid.payCode, amount: '10.00', reason: '多缴', payee: PAYEE });
    expect((await maker('POST', `/v1/finance/refunds/${second.body.refundId as string}/decision`, { approve: true, comment: '' })).body).toMatchObject({ status: 'APPROVED', instructionNo: null });
    await expectLedgerVerified(db());
  });
});

describe('ACCEPT_STATEMENT of a REFUND_MISMATCH: the refund as the agency reports it stands', () => {
  async function approvedRefund(refundNo: string, amount: string, paidAt: string): Promise<{ refundId: string; instructionNo: string }> {
    const paid = await pay('50.00', paidAt);
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo, payCode: paid.payCode, amount, reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: '' });
    expect(approved.body.status).toBe('INSTRUCTED');
    return { refundId: requested.body.refundId as string, instructionNo: approved.body.instructionNo as string };
  }

  async function mismatchOf(key: string): Promise<string> {
    const row = await db()('reconciliation_discrepancies').where({ type: 'REFUND_MISMATCH', agency_txn_id: key, status: 'OPEN' }).first('discrepancy_id');
    expect(row).toBeDefined();
    return row.discrepancy_id as string;
  }

  function propose(discrepancyId: string, action: string) {
    return maker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals`, { proposalRef: `RM-${discrepancyId}-${action}`, action, reason: `退款差错 ${action}` });
  }

  async function accept(discrepancyId: string): Promise<void> {
    const proposal = await propose(discrepancyId, 'ACCEPT_STATEMENT');
    expect(proposal.status).toBe(201);
    const decided = await checker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
    expect(decided.status).toBe(200);
    expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: discrepancyId }).first()).status).toBe('RESOLVED');
  }

  async function refundEntries(refundId: string): Promise<string[]> {
    const refundRow = await db()('refunds').where({ refund_id: refundId }).first();
    return (await db()('journal_entries').where({ refund_id: refundRow.id })).map((e) => e.kind as string);
  }

  it('an instruction the agency reported executed that no statement contains FAILS, with its refund, and finance can REISSUE it', async () => {
    const { refundId, instructionNo } = await approvedRefund('RF-MM-1', '20.00', shanghai('2026-11-25T10:00:00'));
    expect((await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai('2026-11-25T15:00:00')), reference: 'AG-MM-1' })).status).toBe(200);
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-26', lines: [] });
    service.clocks.business.set(new Date(shanghai('2026-11-27T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-26');
    const discrepancyId = await mismatchOf(instructionNo);

    await accept(discrepancyId);
    expect((await agency('GET', `/v1/agency/instructions/${instructionNo}`)).body.status).toBe('FAILED');
    expect((await unit('GET', '/v1/unit/refunds/RF-MM-1')).body.status).toBe('FAILED');
    expect(await refundEntries(refundId)).toEqual([]);
    const events = (await agency('GET', '/v1/agency/events?after=0&limit=500')).body.data as Array<{ type: string; data: { instruction?: { instructionNo: string } } }>;
    expect(events.filter((e) => e.type === 'instruction.failed').map((e) => e.data.instruction?.instructionNo)).toContain(instructionNo);
    await expectLedgerVerified(db());

    const proposal = await maker('POST', `/v1/finance/instructions/${instructionNo}/proposals`, { proposalRef: 'RI-MM-1', action: 'REISSUE', reason: '代理行未退款，重发' });
    expect(proposal.status).toBe(201);
    expect((await checker('POST', `/v1/finance/instructions/${instructionNo}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' })).status).toBe(200);
    const refund = (await unit('GET', '/v1/unit/refunds/RF-MM-1')).body;
    expect(refund.status).toBe('INSTRUCTED');
    expect(refund.instructionNo).not.toBe(instructionNo);
    await expectLedgerVerified(db());
  });

  it('a REFUND line of another amount than its instruction is refused at proposal (422 ACTION_NOT_APPLICABLE naming WRITE_OFF); WRITE_OFF closes it and books nothing', async () => {
    const { refundId, instructionNo } = await approvedRefund('RF-MM-2', '10.00', shanghai('2026-11-27T10:00:00'));
    expect((await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai('2026-11-27T15:00:00')), reference: 'AG-MM-2' })).status).toBe(200);
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-11-27', lines: [{ kind: 'REFUND', agencyTxnId: 'AGR-MM-2', instructionNo, amount: '12.00' }] });
    service.clocks.business.set(new Date(shanghai('2026-11-28T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-27');
    const discrepancyId = await mismatchOf('AGR-MM-2');

    const refused = await propose(discrepancyId, 'ACCEPT_STATEMENT');
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('ACTION_NOT_APPLICABLE');
    expect(refused.body.error.message).toContain('12.00');
    expect(refused.body.error.message).toContain('WRITE_OFF');
    expect((await db()('finance_proposals').where({ proposal_ref: `RM-${discrepancyId}-ACCEPT_STATEMENT` })).length).toBe(0);

    const writeOff = await propose(discrepancyId, 'WRITE_OFF');
    expect(writeOff.status).toBe(201);
    expect((await checker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${writeOff.body.proposalId as string}/decision`, { approve: true, comment: '' })).status).toBe(200);
    expect((await unit('GET', '/v1/unit/refunds/RF-MM-2')).body.status).toBe('INSTRUCTED');
    expect((await agency('GET', `/v1/agency/instructions/${instructionNo}`)).body.status).toBe('EXECUTED');
    expect(await refundEntries(refundId)).toEqual([]);
    await expectLedgerVerified(db());
  });

  it('a REFUND line naming its unconfirmed instruction with its amount confirms the refund as a matching line would; once CONFIRMED, it stands and nothing is booked twice', async () => {
    const { refundId, instructionNo } = await approvedRefund('RF-MM-3', '15.00', shanghai('2026-11-28T10:00:00'));
    expect((await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai('2026-11-28T15:00:00')), reference: 'AG-MM-3' })).status).toBe(200);
    // A mismatch raised against the instruction while it still waited (the run confirms such a line itself; this one is older).
    const first = await insertDiscrepancy(db(), { agencyCode: world.agency.code, businessDate: '2026-11-28', type: 'REFUND_MISMATCH', agencyTxnId: 'AGR-MM-3', instructionNo, statement: { payCode: null, amount: '15.00' } });
    service.clocks.business.set(new Date(shanghai('2026-11-29T02:00:00')));
    await accept(first);
    expect((await agency('GET', `/v1/agency/instructions/${instructionNo}`)).body.status).toBe('CONFIRMED');
    expect((await unit('GET', '/v1/unit/refunds/RF-MM-3')).body).toMatchObject({ status: 'SUCCEEDED', succeededAt: '2026-11-29T02:00:00+08:00' });
    expect(await refundEntries(refundId)).toEqual(['AGENCY_REFUND_CONFIRMED']);
    await expectLedgerVerified(db());

    const duplicate = await insertDiscrepancy(db(), { agencyCode: world.agency.code, businessDate: '2026-11-28', type: 'REFUND_MISMATCH', agencyTxnId: 'AGR-MM-3B', instructionNo, statement: { payCode: null, amount: '15.00' } });
    await accept(duplicate);
    expect(await refundEntries(refundId)).toEqual(['AGENCY_REFUND_CONFIRMED']);
    await expectLedgerVerified(db());
  });
});

describe('a refund whose payee account is closed: REISSUE to a new payee', () => {
  const NEW_PAYEE = { name: '王五', accountNo: '6228480012345678901', bankName: '中国农业银行呼和浩特分行' };

  it('is reissued, maker and checker, to the payee finance names: the executor, its event and every later view pay the new account, never the closed one', async () => {
    const paid = await pay('40.00', shanghai('2026-11-30T10:00:00'));
    const request = { refundNo: 'RF-NP-1', payCode: paid.payCode, amount: '15.00', reason: '多缴', payee: PAYEE };
    const requested = await unit('POST', '/v1/unit/refunds', request);
    const refundId = requested.body.refundId as string;
    const approved = await maker('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: '' });
    const failedNo = approved.body.instructionNo as string;
    expect((await agency('POST', `/v1/agency/instructions/${failedNo}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-11-30T11:00:00')), reference: 'AG-NP-1', failureReason: '收款账户已销户' })).body.status).toBe('FAILED');
    expect((await unit('GET', '/v1/unit/refunds/RF-NP-1')).body.status).toBe('FAILED');
    const path = `/v1/finance/instructions/${failedNo}`;

    // A payee is validated as SET_PAYEE's: by the contract (a field missing) and by the service (blank).
    const missing = await maker('POST', `${path}/proposals`, { proposalRef: 'NP-X1', action: 'REISSUE', reason: '更换收款账户', payee: { name: '王五', bankName: '农行' } });
    expect([missing.status, missing.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    const blank = await maker('POST', `${path}/proposals`, { proposalRef: 'NP-X2', action: 'REISSUE', reason: '更换收款账户', payee: { ...NEW_PAYEE, name: '   ' } });
    expect([blank.status, blank.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(blank.body.error.details.fields).toEqual([expect.objectContaining({ path: '/payee/name' })]);
    expect(await db()('finance_proposals').whereIn('proposal_ref', ['NP-X1', 'NP-X2'])).toEqual([]);

    const proposed = await maker('POST', `${path}/proposals`, { proposalRef: 'NP-1', action: 'REISSUE', reason: '原账户已销户，改退至新账户', payee: NEW_PAYEE });
    expect(proposed.status).toBe(201);
    // The checker sees what is proposed, masked; the proposal stores it encrypted.
    expect(proposed.body).toMatchObject({ action: 'REISSUE', status: 'PENDING', payee: { name: '**五', accountNo: '****8901', bankName: NEW_PAYEE.bankName } });
    const stored = await db()('finance_proposals').where({ proposal_id: proposed.body.proposalId }).first('fields');
    expect(JSON.stringify(stored.fields)).not.toContain(NEW_PAYEE.accountNo);
    expect(JSON.stringify(stored.fields)).not.toContain(NEW_PAYEE.name);
    expect((await maker('POST', `${path}/proposals/${proposed.body.proposalId as string}/decision`, { approve: true, comment: '' })).body.error.code).toBe('APPROVER_SAME_AS_REQUESTER');
    expect((await unit('GET', '/v1/unit/refunds/RF-NP-1')).body.payee).toEqual({ name: '**四', accountNo: '****2333', bankName: PAYEE.bankName });

    const decided = await checker('POST', `${path}/proposals/${proposed.body.proposalId as string}/decision`, { approve: true, comment: '已核对新账户' });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ status: 'APPROVED', payee: { name: '**五', accountNo: '****8901' } });

    // The refund: INSTRUCTED again, to the new payee (masked, as refunds are shown).
    const refund = (await unit('GET', '/v1/unit/refunds/RF-NP-1')).body;
    expect(refund).toMatchObject({ status: 'INSTRUCTED', payee: { name: '**五', accountNo: '****8901', bankName: NEW_PAYEE.bankName } });
    const reissueNo = refund.instructionNo as string;
    expect(reissueNo).not.toBe(failedNo);
    const listed = (await maker('GET', '/v1/finance/refunds?status=INSTRUCTED')).body.data.find((r: { refundId: string }) => r.refundId === refundId);
    expect(listed.payee).toEqual({ name: '**五', accountNo: '****8901', bankName: NEW_PAYEE.bankName });

    // The executor: the reissue pays the new account, in clear; the failed one keeps what it was issued with.
    const reissue = (await agency('GET', `/v1/agency/instructions/${reissueNo}`)).body;
    expect(reissue).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '15.00', reissueOf: failedNo, refundId, payee: NEW_PAYEE });
    expect((await agency('GET', `/v1/agency/instructions/${failedNo}`)).body).toMatchObject({ status: 'FAILED', payee: PAYEE });
    const events = (await agency('GET', '/v1/agency/events?after=0&limit=500')).body.data as Array<{ type: string; data: { instruction?: { instructionNo: string; payee?: unknown } } }>;
    const created = events.filter((e) => e.type === 'instruction.created' && e.data.instruction?.instructionNo === reissueNo);
    // The bank that holds the agency's clearing account sees the instruction, the payee masked: it
    // does not pay it (decision 0204).
    const holder = await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_CLEARING_HOLDER' });
    await service.runtime.services.catalogue.putAccount(world.clearingAccountNo, { name: '汇缴户', bankCode: 'BANK_CLEARING_HOLDER', kind: 'CLEARING' }, world.finance.appId);
    const bankView = signedAs(service, holder);
    const masked = { name: '**五', accountNo: '****8901', bankName: NEW_PAYEE.bankName };
    expect((await bankView('GET', `/v1/bank/instructions/${reissueNo}`)).body).toMatchObject({ instructionNo: reissueNo, payee: masked });
    expect(((await bankView('GET', '/v1/bank/instructions')).body.data as Array<{ instructionNo: string; payee?: unknown }>).find((row) => row.instructionNo === reissueNo)?.payee).toEqual(masked);
    expect(((await maker('GET', '/v1/finance/instructions?type=REFUND')).body.data as Array<{ instructionNo: string; payee?: unknown }>).find((row) => row.instructionNo === reissueNo)?.payee).toEqual(NEW_PAYEE);

    // The event names the instruction; the executor reads the payee with GET (decision 0204).
    expect(created.map((e) => e.data.instruction?.payee)).toEqual([undefined]);
    const instructionEvents = await db().raw<{ rows: Array<{ data: string }> }>(`SELECT data::text AS data FROM event_bodies WHERE type LIKE 'instruction.%'`);
    for (const row of instructionEvents.rows) for (const value of [NEW_PAYEE.accountNo, NEW_PAYEE.name, PAYEE.accountNo, PAYEE.name]) expect(row.data).not.toContain(value);

    // At rest: encrypted on the refund and the instruction; in the audit log, masked.
    const refundRow = await db()('refunds').where({ refund_id: refundId }).first();
    const reissueRow = await db()('instructions').where({ instruction_no: reissueNo }).first();
    for (const value of [refundRow.payee_name, refundRow.payee_account_no, reissueRow.payee_name, reissueRow.payee_account_no]) {
      expect(String(value)).not.toContain(NEW_PAYEE.accountNo);
      expect(String(value)).not.toContain(NEW_PAYEE.name);
    }
    const audit = await db()('audit_log').where('target', 'like', `instruction:${failedNo}/proposal:%`).orderBy('seq');
    expect(audit.map((row) => row.action)).toEqual(['proposal.created', 'proposal.approved']);
    expect(audit.map((row) => row.after.payee)).toEqual([
      { name: '**五', accountNo: '****8901', bankName: NEW_PAYEE.bankName },
      { name: '**五', accountNo: '****8901', bankName: NEW_PAYEE.bankName },
    ]);
    expect(JSON.stringify(audit)).not.toContain(NEW_PAYEE.accountNo);

    // The unit's request again is still its request: a replay, showing the refund as it is now.
    const replay = await unit('POST', '/v1/unit/refunds', request);
    expect([replay.status, replay.headers.get('idempotent-replay'), replay.body.refundId, replay.body.payee.accountNo]).toEqual([201, 'true', refundId, '****8901']);
    await expectLedgerVerified(db());

    // Failed again (say, a timeout): a plain REISSUE pays the refund's payee — the new one, not the closed account.
    expect((await agency('POST', `/v1/agency/instructions/${reissueNo}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-11-30T15:00:00')), reference: 'AG-NP-2', failureReason: '通道超时' })).status).toBe(200);
    const again = await maker('POST', `/v1/finance/instructions/${reissueNo}/proposals`, { proposalRef: 'NP-2', action: 'REISSUE', reason: '通道超时，重发' });
    expect(again.status).toBe(201);
    expect(again.body.payee).toBeUndefined();
    expect((await checker('POST', `/v1/finance/instructions/${reissueNo}/proposals/${again.body.proposalId as string}/decision`, { approve: true, comment: '' })).status).toBe(200);
    const third = (await unit('GET', '/v1/unit/refunds/RF-NP-1')).body;
    expect(third.status).toBe('INSTRUCTED');
    expect((await agency('GET', `/v1/agency/instructions/${third.instructionNo as string}`)).body).toMatchObject({ reissueOf: reissueNo, payee: NEW_PAYEE });
    await expectLedgerVerified(db());
  });
});

describe('the lock order of a refund instruction and its payment', () => {
  it("an executor's report takes the payment before the instruction: it waits on a reversal holding the payment without holding the instruction that reversal needs (decision 0232)", async () => {
    const paid = await pay('20.00', shanghai('2026-12-04T10:00:00'));
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-L-1', payCode: paid.payCode, amount: '5.00', reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: '' });
    const instructionNo = approved.body.instructionNo as string;
    expect(approved.body.status).toBe('INSTRUCTED');
    const executedAt = executedBeforeNow(service, shanghai('2026-12-04T10:30:00'));

    // A transaction holding the payment, as REVERSE_PAYMENT's does before it takes the refund's instructions.
    const holder = await db().transaction();
    try {
      await holder.raw('SELECT id FROM payments WHERE id = ?::bigint FOR UPDATE', [paid.paymentRowId]);
      const report = agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'FAILED', executedAt, reference: 'AG-L-1', failureReason: '账户已销户' });
      for (let waited = 0; ; waited += 1) {
        const { rows } = await db().raw<{ rows: Array<{ n: number }> }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if ((rows[0]?.n ?? 0) >= 1) break;
        if (waited > 200) throw new Error('the report never waited for the payment');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // The report waits for the payment and holds nothing of the instruction: the holder takes it at once.
      await holder.raw('SELECT id FROM instructions WHERE instruction_no = ? FOR UPDATE NOWAIT', [instructionNo]);
      await holder.rollback();
      const answered = await report;
      expect([answered.status, answered.body.status]).toEqual([200, 'FAILED']);
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
    }
    await expectLedgerVerified(db());
  });
});

describe('a payment short on the statements after its refund succeeded', () => {
  it('cannot be written off: WRITE_OFF names the SUCCEEDED refund, and ACCEPT_PLATFORM resolves the shortage, booking nothing (decision 0219)', async () => {
    const paid = await pay('40.00', shanghai('2026-12-07T10:00:00'));
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: 'RF-WO-1', payCode: paid.payCode, amount: '15.00', reason: '多缴', payee: PAYEE });
    const refundId = requested.body.refundId as string;
    const approved = await maker('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: true, comment: '' });
    expect(approved.body.status).toBe('INSTRUCTED');
    const instructionNo = approved.body.instructionNo as string;
    expect((await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai('2026-12-07T11:00:00')), reference: 'AG-WO-1' })).status).toBe(200);

    // The agency's statements list the refund, and never the payment: carried over, then short.
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-12-07', lines: [{ kind: 'REFUND', agencyTxnId: 'AGR-WO-1', instructionNo, amount: '15.00' }] });
    service.clocks.business.set(new Date(shanghai('2026-12-08T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-12-07');
    expect((await unit('GET', '/v1/unit/refunds/RF-WO-1')).body.status).toBe('SUCCEEDED');
    await insertStatement(db(), { agencyCode: world.agency.code, businessDate: '2026-12-08', lines: [] });
    service.clocks.business.set(new Date(shanghai('2026-12-09T02:00:00')));
    await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-12-08');
    const shortage = await db()('reconciliation_discrepancies').where({ type: 'SHORTAGE', status: 'OPEN', payment_id: paid.paymentRowId }).first();
    expect(shortage).toBeDefined();
    const id = shortage.discrepancy_id as string;
    const paymentId = ((await db()('payments').where({ id: paid.paymentRowId }).first('payment_id')) as { payment_id: string }).payment_id;

    const refused = await maker('POST', `/v1/finance/discrepancies/${id}/proposals`, { proposalRef: 'WO-SUCC-1', action: 'WRITE_OFF', reason: '未收到款项' });
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect(refused.body.error.message).toContain(`refund ${refundId} of its payment ${paymentId} is SUCCEEDED`);
    expect(refused.body.error.message).toContain('ACCEPT_PLATFORM');
    const proposal = await maker('POST', `/v1/finance/discrepancies/${id}/proposals`, { proposalRef: 'AP-SUCC-1', action: 'ACCEPT_PLATFORM', reason: '平台记录为准' });
    expect(proposal.status).toBe(201);
    expect((await checker('POST', `/v1/finance/discrepancies/${id}/proposals/${proposal.body.proposalId as string}/decision`, { approve: true, comment: '' })).status).toBe(200);
    const row = await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).first();
    expect([row.status, row.resolution_action]).toEqual(['RESOLVED', 'ACCEPT_PLATFORM']);
    expect(await db()('journal_entries').where({ discrepancy_id: row.id })).toEqual([]);
    await expectLedgerVerified(db());
  });
});
