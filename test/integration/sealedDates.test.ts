import { buildWorld, registerParty, signedAs, SignedCall, World } from '../helpers/builders';
import { insertDiscrepancy } from '../helpers/discrepancyRows';
import { expectLedgerVerified, issueNotice, postingBody, shanghai } from '../helpers/payments';
import { signedRequest } from '../helpers/signedClient';
import { payLine, tfs1 } from '../helpers/statementFiles';
import { insertStatement } from '../helpers/statements';
import { startTestService, TestService } from '../helpers/testService';

/**
 * A sealed business date never changes (docs/settlement.md §5, contracts/decisions/0157-corrections-of-sealed-dates.md):
 * a statement for it — a first one or a corrected, superseding one — is refused with
 * 409 BUSINESS_DATE_CLOSED and nothing is written; a correction of one of its discrepancies is
 * booked on the first open date and listed there under `adjustments`, for the sealed date.
 */

let service: TestService;
let world: World;
let agency: SignedCall;
let maker: SignedCall;
let checker: SignedCall;
let finance: SignedCall;
const DATE = '2026-11-20';

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(`${DATE}T09:00:00`)) });
  world = await buildWorld(service);
  agency = signedAs(service, world.agency);
  maker = signedAs(service, world.finance);
  finance = maker;
  checker = signedAs(service, await registerParty(world.services, { role: 'finance', code: 'FIN_CHECK' }));
});

afterAll(async () => {
  await service.close();
});

it('refuses a corrected statement for a sealed date, and books a correction of its discrepancy as an adjustment of the first open date', async () => {
  // The 20th: a payment the agency's statement lacks (a SHORTAGE, on the statement of fileSeq 1).
  const payCode = await issueNotice(signedAs(service, world.unit));
  const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai(`${DATE}T09:00:00`) });
  const posted = await agency('POST', '/v1/agency/payments', body);
  expect(posted.status).toBe(201);
  await insertStatement(service.database.db, { agencyCode: world.agency.code, businessDate: DATE, fileSeq: 1, lines: [] });
  const discrepancyId = await insertDiscrepancy(service.database.db, { agencyCode: world.agency.code, businessDate: DATE, type: 'SHORTAGE', agencyTxnId: body.agencyTxnId as string, paymentId: posted.body.paymentId as string });

  // The close of the 20th, at 17:00 on the 21st.
  service.clocks.business.set(new Date(shanghai('2026-11-21T17:00:00')));
  expect(await service.runtime.services.dailyCloses.closeThrough(DATE)).toEqual([DATE]);
  const sealed = (await finance('GET', `/v1/finance/closes/${DATE}`)).body;

  // A corrected statement (a higher fileSeq) for the sealed 20th: refused, nothing written.
  const statements = () => service.database.db('agency_statements').where({ agency_code: world.agency.code, business_date: DATE }).orderBy('id');
  const before = await statements();
  expect(before.map((row) => row.file_seq)).toEqual([1]);
  const corrected = tfs1({ agency: world.agency.code, date: DATE, seq: 2, lines: [payLine({ id: body.agencyTxnId as string, code: payCode, amount: '50.00', at: shanghai(`${DATE}T09:00:00`) })] });
  const refused = await signedRequest(service, world.agency, 'POST', '/v1/agency/statements', { rawBody: corrected, headers: { 'content-type': 'text/plain' } });
  expect(refused.status).toBe(409);
  expect(refused.body.error.code).toBe('BUSINESS_DATE_CLOSED');
  expect(await statements()).toEqual(before);

  // The correction of the 20th's shortage, decided on the 22nd: accepted, booked on the 22nd for the 20th.
  service.clocks.business.set(new Date(shanghai('2026-11-22T10:00:00')));
  const proposed = await maker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals`, { proposalRef: 'SEALED-WO-1', action: 'WRITE_OFF', reason: '对账差错 核销' });
  expect(proposed.status).toBe(201);
  const decided = await checker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${proposed.body.proposalId}/decision`, { approve: true });
  expect(decided.status).toBe(200);
  const { rows } = await service.database.db.raw<{ rows: Array<{ id: string; kind: string; accounting_date: string; for_date: string | null }> }>(
    `SELECT e.id::text AS id, e.kind, to_char(e.accounting_date, 'YYYY-MM-DD') AS accounting_date, to_char(e.for_date, 'YYYY-MM-DD') AS for_date
       FROM journal_entries e JOIN reconciliation_discrepancies d ON d.id = e.discrepancy_id WHERE d.discrepancy_id = ?`,
    [discrepancyId],
  );
  expect(rows).toEqual([{ id: expect.any(String), kind: 'WRITE_OFF', accounting_date: '2026-11-22', for_date: DATE }]);

  // The sealed 20th is unchanged; the 22nd's close lists the correction under its adjustments.
  service.clocks.business.set(new Date(shanghai('2026-11-23T17:00:00')));
  expect(await service.runtime.services.dailyCloses.closeThrough('2026-11-22')).toEqual(['2026-11-21', '2026-11-22']);
  expect((await finance('GET', `/v1/finance/closes/${DATE}`)).body).toEqual(sealed);
  const day = (await finance('GET', '/v1/finance/closes/2026-11-22')).body;
  expect(day.close.adjustments).toEqual([{ entryId: rows[0]?.id, forDate: DATE, amount: '50.00', reason: 'WRITE_OFF' }]);
  expect((await finance('GET', '/v1/finance/closes/2026-11-21')).body.close.adjustments).toEqual([]);
  await expectLedgerVerified(service.database.db);
});
