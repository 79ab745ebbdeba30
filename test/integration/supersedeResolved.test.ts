import { buildWorld, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { signedRequest } from '../helpers/signedClient';
import { payLine, tfs1, type FileLine } from '../helpers/statementFiles';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * A superseding statement never re-opens what finance resolved
 * (docs/reconciliation.md §2, contracts/decisions/0202-resolved-discrepancies-stay-resolved.md):
 * an AMOUNT_MISMATCH accepted as the statement says (its difference booked) and a
 * PAY_CODE_MISMATCH accepted as the platform says, listed again the same way by a corrected file
 * of the date, stay RESOLVED — no second discrepancy, no second correction, the payments not held
 * again — while the corrected file's new difference is opened as usual.
 */

let service: TestService;
let world: World;
let agency: SignedCall;
let maker: SignedCall;
let checker: SignedCall;
const db = () => service.database.db;
const DATE = '2026-11-20';

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

async function pay(at: string): Promise<{ payCode: string; agencyTxnId: string; paymentId: string }> {
  service.clocks.business.set(new Date(new Date(at).getTime() + 60_000));
  const payCode = await issueNotice(signedAs(service, world.unit), { dueDate: '2026-12-31' });
  const agencyTxnId = newTxnId('SR');
  const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: at, agencyTxnId }));
  expect(posted.status).toBe(201);
  return { payCode, agencyTxnId, paymentId: posted.body.paymentId as string };
}

async function upload(seq: number, lines: FileLine[]): Promise<void> {
  const response = await signedRequest(service, world.agency, 'POST', '/v1/agency/statements', { rawBody: tfs1({ agency: world.agency.code, date: DATE, seq, lines }), headers: { 'content-type': 'text/plain' } });
  expect(response.status).toBe(201);
}

async function discrepancies(): Promise<Array<Record<string, any>>> {
  return db()('reconciliation_discrepancies').where({ agency_code: world.agency.code }).orderBy('id');
}

async function resolve(discrepancyId: string, action: string, ref: string): Promise<void> {
  const proposed = await maker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals`, { proposalRef: ref, action, reason: '核对一致' });
  expect(proposed.status).toBe(201);
  expect((await checker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${proposed.body.proposalId as string}/decision`, { approve: true, comment: '' })).status).toBe(200);
}

it('keeps resolved mismatches resolved when a corrected statement lists them again, booking each correction once', async () => {
  const at = shanghai(`${DATE}T08:00:00`);
  const [short, recoded, later] = [await pay(at), await pay(at), await pay(shanghai(`${DATE}T09:00:00`))];
  const lines = [
    payLine({ id: short.agencyTxnId, code: short.payCode, amount: '51.00', at }),
    payLine({ id: recoded.agencyTxnId, code: unknownPayCode(), amount: '50.00', at }),
  ];
  await upload(1, lines);
  service.clocks.business.set(new Date(shanghai('2026-11-21T02:00:00')));
  expect(await service.runtime.services.reconciliation.reconcile(world.agency.code, DATE)).toMatchObject({ status: 'UNBALANCED', outcomes: { AMOUNT_MISMATCH: { count: 1 }, PAY_CODE_MISMATCH: { count: 1 }, CARRIED_OVER: { count: 1 } } });
  const opened = await discrepancies();
  const byType = (rows: Array<Record<string, any>>, type: string) => rows.filter((row) => row.type === type);
  await resolve(byType(opened, 'AMOUNT_MISMATCH')[0]?.discrepancy_id as string, 'ACCEPT_STATEMENT', 'SR-AS');
  await resolve(byType(opened, 'PAY_CODE_MISMATCH')[0]?.discrepancy_id as string, 'ACCEPT_PLATFORM', 'SR-AP');
  const corrections = () => db()('journal_entries').whereIn('kind', ['MISMATCH_SURPLUS', 'MISMATCH_DEFICIT']).count<Array<{ count: string }>>({ count: '*' });
  expect((await corrections())[0]?.count).toBe('1');

  // The corrected file adds the payment the first one lacked and lists the two resolved lines as before.
  service.clocks.business.set(new Date(shanghai('2026-11-21T09:00:00')));
  await upload(2, [...lines, payLine({ id: later.agencyTxnId, code: later.payCode, amount: '50.00', at: shanghai(`${DATE}T09:00:00`) })]);
  for (let run = 0; run < 2; run += 1) {
    const rerun = await service.runtime.services.reconciliation.reconcile(world.agency.code, DATE);
    expect(rerun).toMatchObject({ status: 'BALANCED', outcomes: { MATCHED: { count: 1 }, AMOUNT_MISMATCH: { count: 1 }, PAY_CODE_MISMATCH: { count: 1 }, CARRIED_OVER: { count: 0 } } });
  }
  const after = await discrepancies();
  expect(after.filter((row) => ['OPEN', 'CARRIED_OVER'].includes(row.status as string))).toEqual([]);
  expect(byType(after, 'AMOUNT_MISMATCH').map((row) => row.status)).toEqual(['RESOLVED']);
  expect(byType(after, 'PAY_CODE_MISMATCH').map((row) => row.status)).toEqual(['RESOLVED']);
  expect((await corrections())[0]?.count).toBe('1');
  await expectLedgerVerified(db());
});
