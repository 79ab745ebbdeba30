import crypto from 'node:crypto';
import { Client } from 'pg';
import { buildWorld, registerParty, signedAs, SignedCall, World } from '../helpers/builders';
import { entriesOfDiscrepancy, insertDiscrepancy, type DiscrepancyRowInput } from '../helpers/discrepancyRows';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';
import { verifyLedger } from '../../src/services/ledger';
import { settlementsHoldingPayment } from '../../src/db/repositories/refunds';
import { instructionRowFor } from '../helpers/journalReferences';

/**
 * Resolving discrepancies with maker-checker (docs/reconciliation.md §3) over signed HTTP, every
 * response checked against contracts/: every action of the table with its journal entry, notice,
 * receipt and events; the refusals; idempotent proposals; decisions by another finance party, once;
 * the audit log. The ledger is verified after every test.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let maker: SignedCall;
let checker: SignedCall;
let thirdAppId: string;
let checkerAppId: string;
let makerAppId: string;
let third: SignedCall;

const NOW = '2026-11-20T09:00:00';
const PAYEE = { name: '李四', accountNo: '6217000011112222333', bankName: '中国建设银行' };
const DATE = '2026-11-20';

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(NOW)) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  maker = signedAs(service, world.finance);
  makerAppId = world.finance.appId;
  const second = await registerParty(world.services, { role: 'finance', code: 'FIN_CHECK' });
  checker = signedAs(service, second);
  checkerAppId = second.appId;
  const thirdParty = await registerParty(world.services, { role: 'finance', code: 'FIN_THIRD' });
  third = signedAs(service, thirdParty);
  thirdAppId = thirdParty.appId;
});

afterEach(async () => {
  await expectLedgerVerified(service.database.db);
});

afterAll(async () => {
  await service.close();
});

const db = () => service.database.db;

async function applied(amount = '50.00'): Promise<{ payCode: string; paymentId: string; agencyTxnId: string; receiptNo: string }> {
  const payCode = await issueNotice(unit, amount === '50.00' ? {} : { items: [{ itemCode: 'FINE_TRAFFIC', amount }] });
  const body = postingBody({ payCode, amount, paidAt: shanghai(NOW) });
  const response = await agency('POST', '/v1/agency/payments', body);
  expect(response.status).toBe(201);
  return { payCode, paymentId: response.body.paymentId, agencyTxnId: body.agencyTxnId as string, receiptNo: response.body.receiptNo };
}

async function unapplied(amount = '30.00'): Promise<{ paymentId: string; agencyTxnId: string; refundId: string }> {
  const body = postingBody({ payCode: unknownPayCode(), amount, paidAt: shanghai(NOW), fundsCaptured: true });
  const response = await agency('POST', '/v1/agency/payments', body);
  expect(response.status).toBe(201);
  expect(response.body.status).toBe('UNAPPLIED');
  return { paymentId: response.body.paymentId, agencyTxnId: body.agencyTxnId as string, refundId: response.body.refundId };
}

function discrepancy(fields: Omit<DiscrepancyRowInput, 'agencyCode' | 'businessDate'>): Promise<string> {
  return insertDiscrepancy(db(), { agencyCode: world.agency.code, businessDate: DATE, ...fields });
}

function ref(): string {
  return `REF-${crypto.randomBytes(6).toString('hex')}`;
}

async function propose(discrepancyId: string, action: string, as: SignedCall = maker, proposalRef = ref()) {
  return as('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals`, { proposalRef, action, reason: `对账差错 ${action}` });
}

async function decide(discrepancyId: string, proposalId: string, approve: boolean, as: SignedCall = checker, comment?: string) {
  return as('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${proposalId}/decision`, { approve, ...(comment === undefined ? {} : { comment }) });
}

/** Proposes and approves; answers the approved proposal. */
async function resolve(discrepancyId: string, action: string): Promise<Record<string, any>> {
  const proposed = await propose(discrepancyId, action);
  expect(proposed.status).toBe(201);
  const decided = await decide(discrepancyId, proposed.body.proposalId, true);
  expect(decided.status).toBe(200);
  return decided.body;
}

async function eventsAbout(type: string, match: (data: any) => boolean): Promise<string[]> {
  const rows = await db()('events').where({ type }).orderBy('id');
  const parties = await db()('parties').select('id', 'app_id');
  const appIdOf = new Map(parties.map((party) => [String(party.id), party.app_id as string]));
  return rows.filter((row) => match(row.data)).map((row) => appIdOf.get(String(row.recipient_party_id)) as string).sort();
}

describe('SHORTAGE', () => {
  it('a payment any settlement instruction took, a FAILED one included (its items wait for its reissue), is found where its money went (the check REVERSE_PAYMENT and WRITE_OFF make, decision 0219)', async () => {
    const payment = await applied();
    const paymentRow = await db()('payments').where({ payment_id: payment.paymentId }).first('id', 'notice_id');
    // The instruction and its item live only in this transaction: the ledger never sees them.
    const trx = await db().transaction();
    try {
      expect(await settlementsHoldingPayment(trx, String(paymentRow.id))).toEqual([]);
      const instructionId = await instructionRowFor(trx, { agencyCode: world.agency.code, clearingAccountNo: world.clearingAccountNo, accountNo: world.clearingAccountNo, amount: '50.00' });
      const { instruction_no: instructionNo } = await trx('instructions').where({ id: instructionId }).first('instruction_no');
      await trx('instruction_payment_items').insert({ instruction_id: instructionId, payment_id: paymentRow.id, notice_id: paymentRow.notice_id, line_position: 1, amount: '50.00', live: true });
      expect(await settlementsHoldingPayment(trx, String(paymentRow.id))).toMatchObject([{ instruction_no: instructionNo, status: 'CREATED' }]);
      await trx('instructions').where({ id: instructionId }).update({ status: 'FAILED', failure_reason: '账户冻结' });
      await trx('instruction_payment_items').where({ instruction_id: instructionId }).update({ live: false });
      expect(await settlementsHoldingPayment(trx, String(paymentRow.id))).toMatchObject([{ instruction_no: instructionNo, status: 'FAILED' }]);
    } finally {
      await trx.rollback();
    }
  });

  it('REVERSE_PAYMENT of an applied payment: REVERSED, notice ISSUED again, receipt reversed, the mirror entry, events to unit and agency', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposal = await resolve(id, 'REVERSE_PAYMENT');
    expect(proposal).toMatchObject({ action: 'REVERSE_PAYMENT', status: 'APPROVED', proposedBy: makerAppId, decidedBy: checkerAppId, comment: null });

    const read = await agency('GET', `/v1/agency/payments/${payment.agencyTxnId}`);
    expect(read.body.status).toBe('REVERSED');
    const notice = await unit('GET', `/v1/unit/notices/${payment.payCode}`);
    expect(notice.body.status).toBe('ISSUED');
    expect(notice.body.paidAmount).toBe('0.00');
    expect(notice.body.receiptNo ?? null).toBeNull();
    expect(notice.body.paidAt ?? null).toBeNull();
    const receipt = await unit('GET', `/v1/unit/receipts/${payment.payCode}`);
    expect(receipt.body).toMatchObject({ status: 'REVERSED' });

    const row = await db()('payments').where({ payment_id: payment.paymentId }).first('id');
    const posting = await db()('journal_entries').where({ payment_id: row.id, kind: 'PAYMENT_SUCCEEDED' }).first('id');
    const reversal = await db()('journal_entries').where({ reverses_entry_id: posting.id }).first();
    expect(reversal).toMatchObject({ kind: 'REVERSAL' });
    expect(reversal.discrepancy_id).not.toBeNull();
    expect(await eventsAbout('payment.reversed', (data) => data.payment.paymentId === payment.paymentId)).toEqual([world.agency.appId, world.unit.appId].sort());
    expect(await eventsAbout('discrepancy.resolved', (data) => data.discrepancyId === id)).toEqual([world.agency.appId, makerAppId, checkerAppId, thirdAppId].sort());

    // The reopened notice can be paid again.
    const again = await agency('POST', '/v1/agency/payments', postingBody({ payCode: payment.payCode, amount: '50.00', paidAt: shanghai(NOW) }));
    expect(again.status).toBe(201);
    expect(again.body.status).toBe('SUCCEEDED');

    const view = await maker('GET', `/v1/finance/discrepancies/${id}`);
    expect(view.body).toMatchObject({ status: 'RESOLVED', resolution: { action: 'REVERSE_PAYMENT', proposedBy: makerAppId, approvedBy: checkerAppId }, proposal: { status: 'APPROVED' } });
  });

  it('REVERSE_PAYMENT of unapplied money: REVERSED, its refund CANCELLED, the mirror entry, the event to the agency only', async () => {
    const payment = await unapplied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    await resolve(id, 'REVERSE_PAYMENT');
    const refund = await db()('refunds').where({ refund_id: payment.refundId }).first('status');
    expect(refund.status).toBe('CANCELLED');
    expect((await db()('payments').where({ payment_id: payment.paymentId }).first('status')).status).toBe('REVERSED');
    expect(await eventsAbout('payment.reversed', (data) => data.payment.paymentId === payment.paymentId)).toEqual([world.agency.appId]);
  });

  it('ACCEPT_PLATFORM: resolved, nothing booked, the payment stands', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    await resolve(id, 'ACCEPT_PLATFORM');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);
    expect((await db()('payments').where({ payment_id: payment.paymentId }).first('status')).status).toBe('SUCCEEDED');
    expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).first()).resolution_action).toBe('ACCEPT_PLATFORM');
  });

  it('WRITE_OFF of an applied payment: revenue_pending / agency_clearing for its amount', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    await resolve(id, 'WRITE_OFF');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([
      { kind: 'WRITE_OFF', lines: [[`revenue_pending:${world.fiscalAccountNo}`, 'DEBIT', '50.00'], [`agency_clearing:${world.agency.code}`, 'CREDIT', '50.00']] },
    ]);
  });

  it('WRITE_OFF is refused while a refund of its payment stands — at proposal, and at approval when the refund was asked for in between, writing nothing; once rejected, it is written off as before (decision 0219)', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposed = await propose(id, 'WRITE_OFF');
    expect(proposed.status).toBe(201);
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: ref(), payCode: payment.payCode, amount: '10.00', reason: '多缴', payee: PAYEE });
    expect([requested.status, requested.body.status]).toEqual([201, 'REQUESTED']);
    const refundId = requested.body.refundId as string;

    const refused = await decide(id, proposed.body.proposalId, true);
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect(refused.body.error.message).toContain(`refund ${refundId} of its payment ${payment.paymentId} is REQUESTED`);
    expect(refused.body.error.message).toContain('reject the refund first, or ACCEPT_PLATFORM');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);
    expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).first('status')).status).toBe('OPEN');
    expect((await db()('finance_proposals').where({ proposal_id: proposed.body.proposalId }).first('status')).status).toBe('PENDING');
    expect((await decide(id, proposed.body.proposalId, false)).body.status).toBe('REJECTED');

    const again = await propose(id, 'WRITE_OFF');
    expect([again.status, again.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect((await maker('POST', `/v1/finance/refunds/${refundId}/decision`, { approve: false, comment: '款项未到账' })).body.status).toBe('REJECTED');
    await resolve(id, 'WRITE_OFF');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([
      { kind: 'WRITE_OFF', lines: [[`revenue_pending:${world.fiscalAccountNo}`, 'DEBIT', '50.00'], [`agency_clearing:${world.agency.code}`, 'CREDIT', '50.00']] },
    ]);
  });

  it('WRITE_OFF is refused for a payment whose refund is instructed to the agency: ACCEPT_PLATFORM resolves it; a mismatch names ACCEPT_STATEMENT too, and one whose statement lacks nothing is closed (decision 0219)', async () => {
    const payment = await applied();
    const requested = await unit('POST', '/v1/unit/refunds', { refundNo: ref(), payCode: payment.payCode, amount: '20.00', reason: '多缴', payee: PAYEE });
    const approved = await maker('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: '' });
    expect(approved.body.status).toBe('INSTRUCTED');
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const refused = await propose(id, 'WRITE_OFF');
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect(refused.body.error.message).toContain(`refund ${requested.body.refundId as string} of its payment ${payment.paymentId} is INSTRUCTED`);
    expect(refused.body.error.message).toContain('ACCEPT_PLATFORM');
    expect(refused.body.error.message).not.toContain('reject');
    await resolve(id, 'ACCEPT_PLATFORM');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);

    const other = await applied();
    await unit('POST', '/v1/unit/refunds', { refundNo: ref(), payCode: other.payCode, amount: '5.00', reason: '多缴', payee: PAYEE });
    const lacking = await discrepancy({ type: 'AMOUNT_MISMATCH', agencyTxnId: other.agencyTxnId, paymentId: other.paymentId, statement: { payCode: other.payCode, amount: '48.00' } });
    const mismatch = await propose(lacking, 'WRITE_OFF');
    expect([mismatch.status, mismatch.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect(mismatch.body.error.message).toContain('ACCEPT_STATEMENT');
    const third = await applied();
    await unit('POST', '/v1/unit/refunds', { refundNo: ref(), payCode: third.payCode, amount: '5.00', reason: '多缴', payee: PAYEE });
    const surplus = await discrepancy({ type: 'AMOUNT_MISMATCH', agencyTxnId: third.agencyTxnId, paymentId: third.paymentId, statement: { payCode: third.payCode, amount: '51.00' } });
    await resolve(surplus, 'WRITE_OFF');
    expect(await entriesOfDiscrepancy(db(), surplus)).toEqual([]);
  });

  it('WRITE_OFF of unapplied money: suspense:unapplied / agency_clearing', async () => {
    const payment = await unapplied('12.34');
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    await resolve(id, 'WRITE_OFF');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([
      { kind: 'WRITE_OFF', lines: [[`suspense:unapplied:${world.agency.code}`, 'DEBIT', '12.34'], [`agency_clearing:${world.agency.code}`, 'CREDIT', '12.34']] },
    ]);
  });
});

describe('AMOUNT_MISMATCH and PAY_CODE_MISMATCH', () => {
  it('ACCEPT_STATEMENT of a surplus books MISMATCH_SURPLUS (agency_clearing / suspense:unapplied)', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'AMOUNT_MISMATCH', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, statement: { payCode: payment.payCode, amount: '55.50' } });
    await resolve(id, 'ACCEPT_STATEMENT');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([
      { kind: 'MISMATCH_SURPLUS', lines: [[`agency_clearing:${world.agency.code}`, 'DEBIT', '5.50'], [`suspense:unapplied:${world.agency.code}`, 'CREDIT', '5.50']] },
    ]);
  });

  it('ACCEPT_STATEMENT of a deficit books MISMATCH_DEFICIT (suspense:unapplied / agency_clearing)', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'AMOUNT_MISMATCH', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, statement: { payCode: payment.payCode, amount: '45.00' } });
    await resolve(id, 'ACCEPT_STATEMENT');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([
      { kind: 'MISMATCH_DEFICIT', lines: [[`suspense:unapplied:${world.agency.code}`, 'DEBIT', '5.00'], [`agency_clearing:${world.agency.code}`, 'CREDIT', '5.00']] },
    ]);
  });

  it('ACCEPT_STATEMENT of a pay-code mismatch of the same amount books nothing; ACCEPT_PLATFORM never books', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'PAY_CODE_MISMATCH', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, statement: { payCode: unknownPayCode(), amount: '50.00' } });
    await resolve(id, 'ACCEPT_STATEMENT');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);
    const other = await applied();
    const id2 = await discrepancy({ type: 'AMOUNT_MISMATCH', agencyTxnId: other.agencyTxnId, paymentId: other.paymentId, statement: { payCode: other.payCode, amount: '40.00' } });
    await resolve(id2, 'ACCEPT_PLATFORM');
    expect(await entriesOfDiscrepancy(db(), id2)).toEqual([]);
  });

  it('WRITE_OFF charges what the statement lacks to the agency; a statement that lacks nothing books nothing', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'AMOUNT_MISMATCH', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, statement: { payCode: payment.payCode, amount: '48.00' } });
    await resolve(id, 'WRITE_OFF');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([
      { kind: 'WRITE_OFF', lines: [[`revenue_pending:${world.fiscalAccountNo}`, 'DEBIT', '2.00'], [`agency_clearing:${world.agency.code}`, 'CREDIT', '2.00']] },
    ]);
    const other = await applied();
    const id2 = await discrepancy({ type: 'PAY_CODE_MISMATCH', agencyTxnId: other.agencyTxnId, paymentId: other.paymentId, statement: { payCode: unknownPayCode(), amount: '60.00' } });
    await resolve(id2, 'WRITE_OFF');
    expect(await entriesOfDiscrepancy(db(), id2)).toEqual([]);
  });
});

describe('REFUND_MISMATCH', () => {
  it('WRITE_OFF resolves it with a reason and books nothing', async () => {
    const id = await discrepancy({ type: 'REFUND_MISMATCH', agencyTxnId: newTxnId('RF'), statement: { payCode: null, amount: '10.00' } });
    const proposal = await resolve(id, 'WRITE_OFF');
    expect(proposal.status).toBe('APPROVED');
    expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).first()).status).toBe('RESOLVED');
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);
  });

  it('ACCEPT_STATEMENT of a REFUND line naming no refund instruction is refused at proposal: 422 ACTION_NOT_APPLICABLE naming WRITE_OFF', async () => {
    const id = await discrepancy({ type: 'REFUND_MISMATCH', agencyTxnId: newTxnId('RF'), statement: { payCode: null, amount: '10.00' } });
    const response = await propose(id, 'ACCEPT_STATEMENT');
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('ACTION_NOT_APPLICABLE');
    expect(response.body.error.message).toContain('WRITE_OFF');
    expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).first()).status).toBe('OPEN');
  });
});

describe('refusals', () => {
  const wrongPairs: Array<[DiscrepancyRowInput['type'], string]> = [
    ['SHORTAGE', 'ACCEPT_STATEMENT'],
    ['AMOUNT_MISMATCH', 'REVERSE_PAYMENT'],
    ['PAY_CODE_MISMATCH', 'REVERSE_PAYMENT'],
    ['REFUND_MISMATCH', 'REVERSE_PAYMENT'],
    ['REFUND_MISMATCH', 'ACCEPT_PLATFORM'],
    ['OVERAGE', 'WRITE_OFF'],
    ['OVERAGE', 'ACCEPT_PLATFORM'],
    ['SHORTAGE', 'LINK'],
  ];
  it.each(wrongPairs)('%s cannot be resolved by %s: 422 ACTION_NOT_APPLICABLE', async (type, action) => {
    const payment = await applied();
    const id = await discrepancy({ type, agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, ...(type === 'SHORTAGE' ? {} : { statement: { payCode: type === 'REFUND_MISMATCH' ? null : payment.payCode, amount: '51.00' } }) });
    const response = await propose(id, action);
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('ACTION_NOT_APPLICABLE');
  });

  it.each(['CARRIED_OVER', 'RESOLVED', 'SUPERSEDED'] as const)('a %s discrepancy is not resolved by finance: 422 ACTION_NOT_APPLICABLE', async (status) => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', status, agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const response = await propose(id, 'ACCEPT_PLATFORM');
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('ACTION_NOT_APPLICABLE');
  });

  it('a proposal whose discrepancy was superseded since: approving it is 422 ACTION_NOT_APPLICABLE, rejecting it clears it', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposed = await propose(id, 'ACCEPT_PLATFORM');
    expect(proposed.status).toBe(201);
    // What a rerun's supersede step does to the date's open discrepancies.
    await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).update({ status: 'SUPERSEDED', updated_at: new Date() });
    const approved = await decide(id, proposed.body.proposalId, true, checker, '');
    expect(approved.status).toBe(422);
    expect(approved.body.error).toMatchObject({ code: 'ACTION_NOT_APPLICABLE', message: expect.stringContaining('a discrepancy that is SUPERSEDED is not resolved by finance') });
    expect((await db()('finance_proposals').where({ proposal_id: proposed.body.proposalId }).first()).status).toBe('PENDING');
    const rejected = await decide(id, proposed.body.proposalId, false, checker, '已被重新对账取代');
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'REJECTED' });
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);
  });

  it('one pending proposal per discrepancy: 409 PROPOSAL_PENDING; rejected, a new one may follow', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const first = await propose(id, 'WRITE_OFF');
    expect(first.status).toBe(201);
    const second = await propose(id, 'ACCEPT_PLATFORM', checker);
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('PROPOSAL_PENDING');
    const rejected = await decide(id, first.body.proposalId, false, checker, '');
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'REJECTED', decidedBy: checkerAppId, comment: null });
    expect(await entriesOfDiscrepancy(db(), id)).toEqual([]);
    expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).first()).status).toBe('OPEN');
    const next = await propose(id, 'ACCEPT_PLATFORM', checker);
    expect(next.status).toBe(201);
    const approved = await decide(id, next.body.proposalId, true, maker, '代收机构确认到账');
    expect(approved.body).toMatchObject({ status: 'APPROVED', decidedBy: makerAppId, comment: '代收机构确认到账' });
  });

  it('the proposer cannot decide: 422 APPROVER_SAME_AS_REQUESTER, and nothing happens', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposed = await propose(id, 'REVERSE_PAYMENT');
    const response = await decide(id, proposed.body.proposalId, true, maker);
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('APPROVER_SAME_AS_REQUESTER');
    expect((await db()('payments').where({ payment_id: payment.paymentId }).first('status')).status).toBe('SUCCEEDED');
    expect((await db()('finance_proposals').where({ proposal_id: proposed.body.proposalId }).first('status')).status).toBe('PENDING');
  });

  it('proposalRef is idempotent: the same request replays (201, Idempotent-Replay), other content is 409 IDEMPOTENCY_CONFLICT', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposalRef = ref();
    const first = await propose(id, 'ACCEPT_PLATFORM', maker, proposalRef);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replay')).toBeNull();
    const replay = await propose(id, 'ACCEPT_PLATFORM', maker, proposalRef);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replay')).toBe('true');
    expect(replay.body).toEqual(first.body);
    const conflict = await propose(id, 'WRITE_OFF', maker, proposalRef);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    // Another party's same ref is its own.
    const theirs = await propose(id, 'WRITE_OFF', checker, proposalRef);
    expect(theirs.status).toBe(409);
    expect(theirs.body.error.code).toBe('PROPOSAL_PENDING');
    // After the decision, the same request still replays: the proposal, as it stands.
    await decide(id, first.body.proposalId, true);
    const late = await propose(id, 'ACCEPT_PLATFORM', maker, proposalRef);
    expect(late.status).toBe(201);
    expect(late.body).toMatchObject({ proposalId: first.body.proposalId, status: 'APPROVED' });
    expect(late.headers.get('idempotent-replay')).toBe('true');
    // The same decision again by the same party replays; another decision is refused.
    const again = await decide(id, first.body.proposalId, true);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    const otherMind = await decide(id, first.body.proposalId, false);
    expect(otherMind.status).toBe(409);
    expect(otherMind.body.error.code).toBe('INVALID_STATE_TRANSITION');
  });

  it('two finance parties racing to decide one proposal on separate connections: one decision, the other 409', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposed = await propose(id, 'REVERSE_PAYMENT');
    // Hold the discrepancy's row lock so both decisions queue behind it, then let them go.
    const blocker = new Client({ connectionString: service.database.connectionString });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM reconciliation_discrepancies WHERE discrepancy_id = $1 FOR UPDATE', [id]);
    const racing = Promise.all([decide(id, proposed.body.proposalId, true, checker), decide(id, proposed.body.proposalId, true, third)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await blocker.query('COMMIT');
    await blocker.end();
    const results = await racing;
    expect(results.map((response) => response.status).sort()).toEqual([200, 409]);
    expect(results.find((response) => response.status === 409)?.body.error.code).toBe('INVALID_STATE_TRANSITION');
    const row = await db()('payments').where({ payment_id: payment.paymentId }).first('id');
    expect(await db()('journal_entries').where({ kind: 'REVERSAL', payment_id: row.id }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '1' }]);
  });

  it('units and agencies are refused (403), an unknown discrepancy or proposal is 404', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    for (const caller of [unit, agency]) {
      expect((await caller('GET', '/v1/finance/discrepancies')).status).toBe(403);
      expect((await propose(id, 'ACCEPT_PLATFORM', caller)).status).toBe(403);
    }
    expect((await maker('GET', '/v1/finance/discrepancies/DNOPE')).status).toBe(404);
    expect((await propose('DNOPE', 'ACCEPT_PLATFORM')).status).toBe(404);
    expect((await decide(id, 'QNOPE', true)).status).toBe(404);
  });
});

describe('lists and the audit log', () => {
  it('lists discrepancies by status, type and agency, page by page', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'PAY_CODE_MISMATCH', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, statement: { payCode: unknownPayCode(), amount: '50.00' } });
    const filtered = await maker('GET', `/v1/finance/discrepancies?status=OPEN&type=PAY_CODE_MISMATCH&agencyCode=${world.agency.code}`);
    expect(filtered.status).toBe(200);
    expect(filtered.body.data.map((d: { discrepancyId: string }) => d.discrepancyId)).toContain(id);
    expect(filtered.body.data.every((d: { status: string; type: string }) => d.status === 'OPEN' && d.type === 'PAY_CODE_MISMATCH')).toBe(true);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: Array<{ discrepancyId: string }>; nextCursor: string | null } } = await maker('GET', `/v1/finance/discrepancies?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      ids.push(...page.body.data.map((d) => d.discrepancyId));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(ids).toHaveLength(Number((await db()('reconciliation_discrepancies').count<{ count: string }[]>({ count: '*' }))[0]!.count));
    expect((await maker('GET', '/v1/finance/discrepancies?agencyCode=NOBODY')).body.data).toEqual([]);
  });

  it('every proposal and decision is in the audit log, by its actor', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'SHORTAGE', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId });
    const proposed = await propose(id, 'ACCEPT_PLATFORM');
    await decide(id, proposed.body.proposalId, true);
    const rows = await db()('audit_log').where('target', `discrepancy:${id}/proposal:${proposed.body.proposalId}`).orderBy('seq');
    expect(rows.map((row) => [row.action, row.actor_app_id])).toEqual([
      ['proposal.created', makerAppId],
      ['proposal.approved', checkerAppId],
    ]);
    const audit = await maker('GET', '/v1/finance/audit?after=0&limit=500');
    expect(audit.status).toBe(200);
  });
});



describe('ledger verify', () => {
  it('reports a resolved discrepancy whose correction entry is missing', async () => {
    const payment = await applied();
    const id = await discrepancy({ type: 'AMOUNT_MISMATCH', status: 'RESOLVED', agencyTxnId: payment.agencyTxnId, paymentId: payment.paymentId, statement: { payCode: payment.payCode, amount: '52.00' } });
    // Resolved by ACCEPT_PLATFORM: nothing to book, the ledger holds.
    await expectLedgerVerified(db());
    // Claimed ACCEPT_STATEMENT without its MISMATCH_SURPLUS: broken.
    await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).update({ resolution_action: 'ACCEPT_STATEMENT' });
    const verification = await verifyLedger(db());
    const broken = verification.checks.filter((check) => !check.ok);
    expect(broken.map((check) => check.name)).toEqual(['discrepancyCorrections']);
    expect(broken[0]?.breaks[0]).toMatchObject({ subject: `discrepancy ${id}`, detail: { expectedKind: 'MISMATCH_SURPLUS', expectedAmount: '2.00', entries: 0 } });
    await db()('reconciliation_discrepancies').where({ discrepancy_id: id }).update({ resolution_action: 'ACCEPT_PLATFORM' });
  });
});
