import { settleJob } from '../../src/jobs/settle';
import { buildWorld, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { accountBalance, entriesOfDiscrepancy } from '../helpers/discrepancyRows';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { signedRequest } from '../helpers/signedClient';
import { payLine, tfs1, type FileLine } from '../helpers/statementFiles';
import { executedBeforeNow, startTestService, type TestService } from '../helpers/testService';

/**
 * WRITE_OFF takes a shortfall from the pending revenue the payment's posting credited, so it is
 * refused once a settlement instruction took that revenue (contracts/decisions/0219-write-off-of-settled-payments.md),
 * a FAILED one included: its REISSUE settles the same items again, so a write-off (or a reversal)
 * while it waits would let the revenue be taken twice. A shortage whose revenue is all still
 * pending is written off as before, and the books verify.
 */

let service: TestService;
let world: World;
let agency: SignedCall;
let maker: SignedCall;
let checker: SignedCall;
const db = () => service.database.db;
const DATE = '2026-11-20';
const NEXT = '2026-11-21';

interface Paid {
  payCode: string;
  agencyTxnId: string;
  paymentId: string;
  line: FileLine;
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(`${DATE}T07:00:00`)) });
  world = await buildWorld(service);
  agency = signedAs(service, world.agency);
  maker = signedAs(service, world.finance);
  checker = signedAs(service, await registerParty(service.runtime.services, { role: 'finance', code: 'FIN_CHECK' }));
});

afterAll(async () => {
  await service.close();
});

async function pay(at: string): Promise<Paid> {
  service.clocks.business.set(new Date(new Date(at).getTime() + 60_000));
  const payCode = await issueNotice(signedAs(service, world.unit), { dueDate: '2026-12-31' });
  const agencyTxnId = newTxnId('WO');
  const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: at, agencyTxnId }));
  expect(posted.status).toBe(201);
  return { payCode, agencyTxnId, paymentId: posted.body.paymentId as string, line: payLine({ id: agencyTxnId, code: payCode, amount: '50.00', at }) };
}

async function upload(date: string, seq: number, lines: FileLine[]): Promise<void> {
  const response = await signedRequest(service, world.agency, 'POST', '/v1/agency/statements', { rawBody: tfs1({ agency: world.agency.code, date, seq, lines }), headers: { 'content-type': 'text/plain' } });
  expect(response.status).toBe(201);
}

async function reconcile(date: string): Promise<Record<string, any>> {
  return (await service.runtime.services.reconciliation.reconcile(world.agency.code, date)) as Record<string, any>;
}

async function shortageOf(paid: Paid): Promise<string> {
  const response = await maker('GET', `/v1/finance/discrepancies?agencyCode=${world.agency.code}&type=SHORTAGE&status=OPEN`);
  expect(response.status).toBe(200);
  const found = (response.body.data as Array<Record<string, any>>).filter((row) => row.paymentId === paid.paymentId);
  expect(found).toHaveLength(1);
  return (found[0] as Record<string, any>).discrepancyId as string;
}

const propose = (discrepancyId: string, action: string, proposalRef: string) =>
  maker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals`, { proposalRef, action, reason: '对账单未列此笔' });
const decide = (discrepancyId: string, proposalId: string, approve = true) =>
  checker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${proposalId}/decision`, { approve, comment: '' });

async function resolve(discrepancyId: string, action: string, proposalRef: string): Promise<void> {
  const proposed = await propose(discrepancyId, action, proposalRef);
  expect(proposed.status).toBe(201);
  const decided = await decide(discrepancyId, proposed.body.proposalId as string);
  expect([decided.status, decided.body.status]).toEqual([200, 'APPROVED']);
}

it('refuses WRITE_OFF (and REVERSE_PAYMENT) of a shortage once a settlement instruction took its payment — a FAILED one waiting for its reissue included — and writes off an unsettled one as before', async () => {
  // The 20th: A and B on the agency's statement and settled; C left out (carried over, then a shortage).
  const a = await pay(shanghai(`${DATE}T08:00:00`));
  const b = await pay(shanghai(`${DATE}T08:05:00`));
  const c = await pay(shanghai(`${DATE}T08:10:00`));
  await upload(DATE, 1, [a.line, b.line]);
  service.clocks.business.set(new Date(shanghai(`${NEXT}T02:00:00`)));
  expect(['BALANCED', 'UNBALANCED']).toContain((await reconcile(DATE)).status);
  service.clocks.business.set(new Date(shanghai(`${NEXT}T03:00:00`)));
  expect(await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' })).toMatchObject({ outcome: 'SUCCEEDED' });
  const [settlement] = (await db()('instructions').where({ type: 'SETTLEMENT', business_date: DATE })) as Array<{ instruction_no: string; amount: string }>;
  expect(settlement?.amount).toBe('100.00');
  const settlementNo = settlement?.instruction_no as string;

  // The agency cannot execute it: FAILED, its items wait for a reissue, the money stays in clearing.
  const failed = await agency('POST', `/v1/agency/instructions/${settlementNo}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai(`${NEXT}T09:00:00`)), reference: 'AG-WO-1', failureReason: '账户冻结' });
  expect([failed.status, failed.body.status]).toEqual([200, 'FAILED']);

  // A corrected statement of the 20th lists nothing, nor does the 21st's: A, B and C are OPEN shortages.
  service.clocks.business.set(new Date(shanghai(`${NEXT}T11:00:00`)));
  await upload(DATE, 2, []);
  await reconcile(DATE);
  await upload(NEXT, 1, []);
  service.clocks.business.set(new Date(shanghai('2026-11-22T02:00:00')));
  await reconcile(NEXT);
  const [shortA, shortB, shortC] = [await shortageOf(a), await shortageOf(b), await shortageOf(c)];
  await expectLedgerVerified(db());
  const pending = `revenue_pending:${world.fiscalAccountNo}`;
  const clearing = `agency_clearing:${world.agency.code}`;
  expect(await accountBalance(db(), pending)).toBe('150.00');

  // A refund of C the agency could not pay: FAILED, so it no longer stands, and C can be written off.
  const payee = { name: '张三丰', accountNo: '6222020200112233445', bankName: '中国工商银行呼和浩特分行' };
  const refundC = await signedAs(service, world.unit)('POST', '/v1/unit/refunds', { refundNo: 'RF-WO-C1', payCode: c.payCode, amount: '10.00', reason: '多缴', payee });
  const approvedC = await maker('POST', `/v1/finance/refunds/${refundC.body.refundId as string}/decision`, { approve: true, comment: '' });
  const refundNoC = approvedC.body.instructionNo as string;
  expect(approvedC.body.status).toBe('INSTRUCTED');
  service.clocks.business.set(new Date(shanghai('2026-11-22T03:00:00')));
  const failedC = await agency('POST', `/v1/agency/instructions/${refundNoC}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, shanghai('2026-11-22T02:30:00')), reference: 'AG-WO-R1', failureReason: '账户已销户' });
  expect([failedC.status, failedC.body.status]).toEqual([200, 'FAILED']);

  // C was never settled: written off as before, its whole amount from its pending revenue.
  await resolve(shortC, 'WRITE_OFF', 'WO-C');
  expect(await entriesOfDiscrepancy(db(), shortC)).toEqual([{ kind: 'WRITE_OFF', lines: [[pending, 'DEBIT', '50.00'], [clearing, 'CREDIT', '50.00']] }]);
  expect(await accountBalance(db(), pending)).toBe('100.00');
  await expectLedgerVerified(db());

  // C's money never reached the agency: nothing of it is refunded to the payer.
  const refund = await signedAs(service, world.unit)('POST', '/v1/unit/refunds', { refundNo: 'RF-WO-C', payCode: c.payCode, amount: '0.01', reason: '多缴', payee: { name: '张三丰', accountNo: '6222020200112233445', bankName: '中国工商银行呼和浩特分行' } });
  expect([refund.status, refund.body.error?.code]).toEqual([422, 'REFUND_EXCEEDS_PAID']);
  expect(refund.body.error.message).toContain('finance wrote off 50.00 of the payment');
  expect(refund.body.error.details).toMatchObject({ paid: '50.00', writtenOff: '50.00', refundable: '0.00' });
  expect(await db()('refunds').where({ refund_no: 'RF-WO-C' })).toEqual([]);
  // Nor is the failed refund reissued: at its approval the write-off leaves nothing to refund.
  const reissueC = await maker('POST', `/v1/finance/instructions/${refundNoC}/proposals`, { proposalRef: 'WO-RI-C', action: 'REISSUE', reason: '更正账户后重发' });
  expect(reissueC.status).toBe(201);
  const refusedC = await checker('POST', `/v1/finance/instructions/${refundNoC}/proposals/${reissueC.body.proposalId as string}/decision`, { approve: true, comment: '' });
  expect([refusedC.status, refusedC.body.error?.code]).toEqual([422, 'REFUND_EXCEEDS_PAID']);
  expect(refusedC.body.error.message).toContain('finance wrote off 50.00 of the payment');
  expect((await db()('refunds').where({ refund_no: 'RF-WO-C1' }).first('status')).status).toBe('FAILED');

  // A's settlement is FAILED and not yet reissued: its items wait for the REISSUE, which would
  // settle A's revenue again after a write-off or a reversal took it. Both are refused at proposal.
  const clearingBefore = await accountBalance(db(), clearing, 'DEBIT');
  for (const [action, ref] of [['WRITE_OFF', 'WO-A'], ['REVERSE_PAYMENT', 'RV-A']] as const) {
    const refusedA = await propose(shortA, action, ref);
    expect([refusedA.status, refusedA.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect(refusedA.body.error.message).toContain(`settlement instruction ${settlementNo} (FAILED), whose REISSUE settles it`);
    expect(refusedA.body.error.message).toContain('ACCEPT_PLATFORM');
    expect(await db()('finance_proposals').where({ proposal_ref: ref })).toEqual([]);
  }
  expect(await entriesOfDiscrepancy(db(), shortA)).toEqual([]);
  expect((await db()('reconciliation_discrepancies').where({ discrepancy_id: shortA }).first('status')).status).toBe('OPEN');

  // Finance reissues the settlement, which takes A's and B's items again.
  const reissueProposal = await maker('POST', `/v1/finance/instructions/${settlementNo}/proposals`, { proposalRef: 'WO-RE-1', action: 'REISSUE', reason: '账户解冻后重发' });
  expect(reissueProposal.status).toBe(201);
  const reissued = await checker('POST', `/v1/finance/instructions/${settlementNo}/proposals/${reissueProposal.body.proposalId as string}/decision`, { approve: true, comment: '' });
  expect([reissued.status, reissued.body.status]).toEqual([200, 'APPROVED']);
  const reissue = (await db()('instructions').where({ reissue_of: db()('instructions').where({ instruction_no: settlementNo }).select('id') }).first('instruction_no', 'status')) as { instruction_no: string; status: string };
  expect(reissue.status).toBe('CREATED');
  expect(await accountBalance(db(), pending)).toBe('100.00');
  expect(await accountBalance(db(), clearing, 'DEBIT')).toBe(clearingBefore);
  expect(await db()('journal_entries').where({ kind: 'WRITE_OFF' }).count({ n: '*' })).toEqual([{ n: '1' }]);

  // B, settled before anyone proposed anything: refused at proposal, and no proposal is stored.
  const proposedB = await propose(shortB, 'WRITE_OFF', 'WO-B');
  expect([proposedB.status, proposedB.body.error?.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
  expect(proposedB.body.error.message).toContain(`settlement instruction ${reissue.instruction_no} (CREATED)`);
  expect(await db()('finance_proposals').where({ proposal_ref: 'WO-B' })).toEqual([]);

  // Finance accepts the platform's figure for both (the agency's debt stands), and the books verify.
  await resolve(shortA, 'ACCEPT_PLATFORM', 'AP-A');
  await resolve(shortB, 'ACCEPT_PLATFORM', 'AP-B');
  expect(await accountBalance(db(), pending)).toBe('100.00');
  await expectLedgerVerified(db());
});
