import { loadedUnknownPayCodes } from '../../src/db/repositories/agencyStatements';
import { buildWorld, signedAs, type World } from '../helpers/builders';
import { copyPayments } from '../helpers/ledgerScale';
import { badCheckDigits, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { paymentRowId } from '../helpers/reconciledDay';
import { signedRequest } from '../helpers/signedClient';
import { payLine, tfs1 } from '../helpers/statementFiles';
import { rowsReadInTransaction } from '../helpers/tableReads';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * A statement's invalid payCodes are looked up by index (migration 20261211000400,
 * contracts/decisions/0217-index-audit.md): a PAY line whose payCode is not a valid one is
 * accepted when it is the posted code of an UNAPPLIED payment of the agency recorded with
 * PAY_CODE_INVALID. Without an index on the code, the upload read every payment the agency ever
 * posted to answer that.
 *
 * No clock: inside one transaction, PostgreSQL's own count of the rows read from `payments`
 * (pg_stat_xact_user_tables) must stay below half of the agency's payments.
 */

const DATE = '2026-12-01';
/** Payments the agency posted before: copies of one UNAPPLIED payment (its code names no notice). */
const COPIES = 3_000;

let service: TestService;
let world: World;
const db = () => service.database.db;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(`${DATE}T12:00:00`)) });
  world = await buildWorld(service);
}, 120_000);

afterAll(async () => {
  await service.close();
});

it('checks a statement’s invalid payCode without reading every payment of the agency', async () => {
  const agency = signedAs(service, world.agency);
  const templateTxn = newTxnId('IC');
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode: unknownPayCode(), amount: '20.00', paidAt: shanghai(`${DATE}T10:00:00`), agencyTxnId: templateTxn, fundsCaptured: true }))).status).toBe(201);
  await copyPayments(db(), [await paymentRowId(db(), templateTxn)], COPIES);

  const mistyped = badCheckDigits(unknownPayCode());
  const txn = newTxnId('IC');
  const posting = await agency('POST', '/v1/agency/payments', postingBody({ payCode: mistyped, amount: '30.00', paidAt: shanghai(`${DATE}T11:00:00`), agencyTxnId: txn, fundsCaptured: true }));
  expect(posting.body).toMatchObject({ status: 'UNAPPLIED', unappliedReason: 'PAY_CODE_INVALID' });
  const uploaded = await signedRequest(service, world.agency, 'POST', '/v1/agency/statements', {
    rawBody: tfs1({ agency: world.agency.code, date: DATE, lines: [payLine({ id: txn, code: mistyped, amount: '30.00', at: shanghai(`${DATE}T11:00:00`) })] }),
    headers: { 'content-type': 'text/plain' },
  });
  expect(uploaded.status).toBe(201);
  const payments = Number((await db()('payments').where({ agency_code: world.agency.code }).count<Array<{ count: string }>>({ count: '*' }))[0]?.count);
  expect(payments).toBeGreaterThan(COPIES);

  const statement = await db()('agency_statements').where({ statement_id: uploaded.body.statementId as string }).first<{ id: string; agency_party_id: string }>('id', 'agency_party_id');
  await db().transaction(async (trx) => {
    // The counters may still hold reads of this connection's earlier transactions (PostgreSQL
    // flushes them at most once a second): only what the lookup adds counts.
    const before = await rowsReadInTransaction(trx, 'payments');
    // The same lookup the upload ran: the line's code is the UNAPPLIED payment's, so nothing is unknown.
    expect(await loadedUnknownPayCodes(trx, String(statement?.id), String(statement?.agency_party_id), 100)).toEqual([]);
    expect((await rowsReadInTransaction(trx, 'payments')) - before).toBeLessThan(payments / 2);
  });
});
