import { settleJob } from '../../src/jobs/settle';
import { verifyLedger } from '../../src/services/ledger';
import { buildWorld, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { accountBalance } from '../helpers/discrepancyRows';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { signedRequest } from '../helpers/signedClient';
import { payLine, tfs1, type FileLine } from '../helpers/statementFiles';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * A superseding statement that leaves out payments already settled and confirmed
 * (docs/reconciliation.md §2–§3, contracts/decisions/0194-settled-payments-held-by-a-later-statement.md):
 * the statement is accepted, the rerun carries the left-out payments as shortages, and the books
 * still verify — the money is in the treasury, and finance resolves each shortage with
 * ACCEPT_PLATFORM (REVERSE_PAYMENT is refused for settled money, and so is WRITE_OFF: the
 * settlement took the pending revenue it would debit, contracts/decisions/0219-write-off-of-settled-payments.md). `ledger verify`
 * still catches a settled payment whose hold is older than its instruction: settle never takes
 * held money.
 */

let service: TestService;
let world: World;
let agency: SignedCall;
let bank: SignedCall;
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
  const actor = world.finance.appId;
  // A bank of our own holds the fiscal account, so that it can confirm the settlement.
  const holder = await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_HOLDER' }, actor);
  await service.runtime.services.catalogue.putAccount(world.fiscalAccountNo, { name: '财政专户', bankCode: 'BANK_HOLDER', kind: 'FISCAL' }, actor);
  agency = signedAs(service, world.agency);
  bank = signedAs(service, holder);
  maker = signedAs(service, world.finance);
  checker = signedAs(service, await registerParty(service.runtime.services, { role: 'finance', code: 'FIN_CHECK' }));
});

afterAll(async () => {
  await service.close();
});

async function pay(at: string): Promise<Paid> {
  service.clocks.business.set(new Date(new Date(at).getTime() + 60_000));
  const payCode = await issueNotice(signedAs(service, world.unit), { dueDate: '2026-12-31' });
  const agencyTxnId = newTxnId('SS');
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

async function discrepancyOf(paid: Paid): Promise<Record<string, any>> {
  const response = await maker('GET', `/v1/finance/discrepancies?agencyCode=${world.agency.code}&type=SHORTAGE`);
  expect(response.status).toBe(200);
  const found = (response.body.data as Array<Record<string, any>>).filter((row) => row.paymentId === paid.paymentId && ['CARRIED_OVER', 'OPEN'].includes(row.status as string));
  expect(found).toHaveLength(1);
  return found[0] as Record<string, any>;
}

async function decide(paid: Paid, action: string, ref: string): Promise<void> {
  const discrepancy = await discrepancyOf(paid);
  const proposed = await maker('POST', `/v1/finance/discrepancies/${discrepancy.discrepancyId as string}/proposals`, { proposalRef: ref, action, reason: '补正对账单漏列已清算款项' });
  expect(proposed.status).toBe(201);
  const decided = await checker('POST', `/v1/finance/discrepancies/${discrepancy.discrepancyId as string}/proposals/${proposed.body.proposalId as string}/decision`, { approve: true, comment: '' });
  expect(decided.status).toBe(200);
  expect(decided.body.status).toBe('APPROVED');
}

it('accepts a statement that leaves out settled payments, holds them as shortages without breaking the books, and lets finance resolve them', async () => {
  // The 20th: three payments, all on the agency's first statement, reconciled and settled.
  const paid = [await pay(shanghai(`${DATE}T08:00:00`)), await pay(shanghai(`${DATE}T08:05:00`)), await pay(shanghai(`${DATE}T08:10:00`))];
  const [kept, writtenOff, accepted] = paid as [Paid, Paid, Paid];
  await upload(DATE, 1, paid.map((p) => p.line));
  service.clocks.business.set(new Date(shanghai(`${NEXT}T02:00:00`)));
  expect((await reconcile(DATE)).status).toBe('BALANCED');
  service.clocks.business.set(new Date(shanghai(`${NEXT}T03:00:00`)));
  expect(await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' })).toMatchObject({ outcome: 'SUCCEEDED' });
  const [settlement] = (await db()('instructions').where({ type: 'SETTLEMENT', business_date: DATE })) as Array<{ instruction_no: string; amount: string; credit_account_no: string; created_at: Date }>;
  expect(settlement?.amount).toBe('150.00');
  service.clocks.business.set(new Date(shanghai(`${NEXT}T10:00:00`)));
  const executed = await agency('POST', `/v1/agency/instructions/${settlement?.instruction_no as string}/result`, { status: 'EXECUTED', executedAt: shanghai(`${NEXT}T09:30:00`), reference: 'AG-SET-1' });
  expect(executed.status).toBe(200);
  const credit = await bank('POST', '/v1/bank/postings', { bankRef: 'BR-SS-1', accountNo: settlement?.credit_account_no, direction: 'CREDIT', amount: '150.00', valueDate: NEXT, instructionNo: settlement?.instruction_no });
  expect(credit.body.status).toBe('MATCHED');
  await expectLedgerVerified(db());

  // A corrected statement of the 20th lists only the first: the other two are carried as shortages,
  // and the books still verify (their money is where the settlement put it).
  service.clocks.business.set(new Date(shanghai(`${NEXT}T11:00:00`)));
  await upload(DATE, 2, [kept.line]);
  const rerun = await reconcile(DATE);
  expect(rerun.outcomes).toMatchObject({ MATCHED: { count: 1, amount: '50.00' }, CARRIED_OVER: { count: 2, amount: '100.00' } });
  await expectLedgerVerified(db());

  // The 21st's statement does not list them either: their shortages become OPEN.
  await upload(NEXT, 1, []);
  service.clocks.business.set(new Date(shanghai('2026-11-22T02:00:00')));
  expect((await reconcile(NEXT)).outcomes).toMatchObject({ SHORTAGE: { count: 2, amount: '100.00' } });
  expect((await discrepancyOf(writtenOff)).status).toBe('OPEN');
  await expectLedgerVerified(db());

  // A hold older than the instruction would mean settle took held money: still a break.
  const held = await db()('reconciliation_discrepancies').where({ discrepancy_id: (await discrepancyOf(writtenOff)).discrepancyId }).first<{ id: string; created_at: Date }>('id', 'created_at');
  await db()('reconciliation_discrepancies').where({ id: held.id }).update({ created_at: new Date((settlement?.created_at as Date).getTime() - 60_000) });
  const tampered = await verifyLedger(db());
  expect(tampered.checks.filter((check) => !check.ok).map((check) => check.name)).toEqual(['settledPaymentsReconciled']);
  expect(tampered.checks.find((check) => check.name === 'settledPaymentsReconciled')?.breaks).toEqual([{ subject: `payment ${writtenOff.paymentId}`, detail: { instructionNo: settlement?.instruction_no } }]);
  await db()('reconciliation_discrepancies').where({ id: held.id }).update({ created_at: held.created_at });

  // Settled money can be neither reversed nor written off (decision 0219: its pending revenue went
  // to the receiving account with the settlement, and a write-off would drive revenue_pending below
  // zero); finance accepts the platform's figure for both — the agency's debt stands.
  const reverse = await maker('POST', `/v1/finance/discrepancies/${(await discrepancyOf(writtenOff)).discrepancyId as string}/proposals`, { proposalRef: 'SS-REV', action: 'REVERSE_PAYMENT', reason: '冲正' });
  expect(reverse.status).toBe(422);
  expect(reverse.body.error.code).toBe('ACTION_NOT_APPLICABLE');
  const writeOff = await maker('POST', `/v1/finance/discrepancies/${(await discrepancyOf(writtenOff)).discrepancyId as string}/proposals`, { proposalRef: 'SS-WO', action: 'WRITE_OFF', reason: '核销' });
  expect(writeOff.status).toBe(422);
  expect(writeOff.body.error.code).toBe('ACTION_NOT_APPLICABLE');
  expect(writeOff.body.error.message).toContain(`settlement instruction ${settlement?.instruction_no as string} (CONFIRMED)`);
  expect(writeOff.body.error.message).toContain('ACCEPT_PLATFORM');
  expect(await db()('journal_entries').where({ kind: 'WRITE_OFF' })).toEqual([]);
  expect(await db()('finance_proposals').where({ proposal_ref: 'SS-WO' })).toEqual([]);
  expect(await accountBalance(db(), `revenue_pending:${world.fiscalAccountNo}`)).toBe('0.00');
  await decide(writtenOff, 'ACCEPT_PLATFORM', 'SS-AP-1');
  await decide(accepted, 'ACCEPT_PLATFORM', 'SS-AP');
  await expectLedgerVerified(db());

  // The days close, and their chain verifies.
  service.clocks.business.set(new Date(shanghai('2026-11-23T17:00:00')));
  expect(await service.runtime.services.dailyCloses.closeThrough('2026-11-22')).toEqual([DATE, NEXT, '2026-11-22']);
  expect(await service.runtime.services.dailyCloses.verifyChain()).toMatchObject({ ok: true });
  await expectLedgerVerified(db());
});
