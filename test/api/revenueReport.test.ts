import { signRequest } from '../../src/crypto/requestSigning';
import { settleJob } from '../../src/jobs/settle';
import { confirmInstructionByPosting } from '../../src/services/instructions';
import { buildWorld, ITEMS, registerParty, signedAs, SignedCall, World } from '../helpers/builders';
import { insertDiscrepancy } from '../helpers/discrepancyRows';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * `GET /v1/finance/reports/revenue` (docs/settlement.md §4, contracts/decisions/0156-revenue-report.md):
 * every grouping, on the payments' business dates, collected / refunded / net / settled / byLevel,
 * JSON checked against contracts/ (by the test service) and CSV with a BOM and a header row, and
 * VALIDATION_FAILED for bad parameters.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let finance: SignedCall;
let first: string;

async function pay(items: Array<{ itemCode: string; amount: string }>, paidAt: string): Promise<string> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const due = await agency('GET', `/v1/agency/notices/${payCode}`);
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt, agencyTxnId }))).status).toBe(201);
  return paymentRowId(service.database.db, agencyTxnId);
}

const zeroLevels = { '1': '0.00', '2': '0.00', '3': '0.00', '4': '0.00', '5': '0.00' };

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  finance = signedAs(service, world.finance);
  // The 20th: two payments, matched and settled; the fiscal account's settlement is confirmed, the treasury's is not.
  first = await pay([{ itemCode: ITEMS.sharedFee, amount: '100.01' }, { itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '30.25' }], shanghai('2026-11-20T08:00:00'));
  const second = await pay([{ itemCode: ITEMS.sharedFee, amount: '33.37' }], shanghai('2026-11-20T08:05:00'));
  await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: '2026-11-20', matched: [first, second] });
  service.clocks.business.set(new Date(shanghai('2026-11-21T03:00:00')));
  await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
  const fiscal = await service.database.db('instructions').where({ business_date: '2026-11-20', credit_account_no: world.fiscalAccountNo }).first();
  await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: String(fiscal.id), postingRowId: '1', amount: fiscal.amount, at: new Date(shanghai('2026-11-21T14:00:00')) }));
  // The 21st: one payment, not settled.
  await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai('2026-11-21T09:00:00'));
  await expectLedgerVerified(service.database.db);
});

afterAll(async () => {
  await service.close();
});

async function report(query: string): Promise<Array<Record<string, unknown>>> {
  const response = await finance('GET', `/v1/finance/reports/revenue?${query}`);
  expect(response.status).toBe(200);
  return response.body.data as Array<Record<string, unknown>>;
}

describe('the revenue report', () => {
  it('groups by item: collected, settled and byLevel after the split, sorted by code, names beside', async () => {
    expect(await report('from=2026-11-20&to=2026-11-21&groupBy=item')).toEqual([
      { itemCode: ITEMS.fixedFee, itemName: '营业执照工本费', paymentCount: 2, collected: '100.00', refunded: '0.00', writtenOff: '0.00', net: '100.00', settled: '50.00', byLevel: { ...zeroLevels, '3': '50.00' }, refundedByLevel: zeroLevels },
      // 100.01 → 40.00 / 60.01 and 33.37 → 13.35 / 20.02 (half-up, the remainder on the last share).
      { itemCode: ITEMS.sharedFee, itemName: '分成收费', paymentCount: 2, collected: '133.38', refunded: '0.00', writtenOff: '0.00', net: '133.38', settled: '133.38', byLevel: { ...zeroLevels, '2': '53.35', '3': '80.03' }, refundedByLevel: zeroLevels },
      { itemCode: ITEMS.fine, itemName: '交通违法罚款', paymentCount: 1, collected: '30.25', refunded: '0.00', writtenOff: '0.00', net: '30.25', settled: '0.00', byLevel: zeroLevels, refundedByLevel: zeroLevels },
    ]);
  });

  it('groups by budget level, income sort code, receiving account, business date, unit, region and agency', async () => {
    const range = 'from=2026-11-20&to=2026-11-21';
    expect((await report(`${range}&groupBy=budgetLevel`)).map((row) => [row.budgetLevel, row.paymentCount, row.collected, row.settled])).toEqual([
      [0, 2, '133.38', '133.38'],
      [3, 2, '100.00', '50.00'],
      [4, 1, '30.25', '0.00'],
    ]);
    expect((await report(`${range}&groupBy=incomeSortCode`)).map((row) => [row.incomeSortCode, row.collected])).toEqual([
      ['103040101', '100.00'],
      ['1030402', '133.38'],
      ['1030501', '30.25'],
    ]);
    expect((await report(`${range}&groupBy=receivingAccount`)).map((row) => [row.receivingAccountNo, row.paymentCount, row.collected, row.settled])).toEqual([
      [world.fiscalAccountNo, 3, '233.38', '183.38'],
      [world.treasuryAccountNo, 1, '30.25', '0.00'],
    ]);
    expect((await report(`${range}&groupBy=businessDate`)).map((row) => [row.businessDate, row.paymentCount, row.collected, row.settled])).toEqual([
      ['2026-11-20', 2, '213.63', '183.38'],
      ['2026-11-21', 1, '50.00', '0.00'],
    ]);
    expect(await report('from=2026-11-21&to=2026-11-21&groupBy=unit,region,agency')).toEqual([
      { unitCode: world.unit.code, unitName: '新城区市场监督管理局', regionCode: world.unit.regionCode, agencyCode: world.agency.code, paymentCount: 1, collected: '50.00', refunded: '0.00', writtenOff: '0.00', net: '50.00', settled: '0.00', byLevel: zeroLevels, refundedByLevel: zeroLevels },
    ]);
    expect(await report(range)).toEqual([{ paymentCount: 3, collected: '263.63', refunded: '0.00', writtenOff: '0.00', net: '263.63', settled: '183.38', byLevel: { ...zeroLevels, '2': '53.35', '3': '130.03' }, refundedByLevel: zeroLevels }]);
    // A range without payments: no groups, or one row of zeros without a grouping.
    expect(await report('from=2026-10-01&to=2026-10-31&groupBy=item')).toEqual([]);
    expect(await report('from=2026-10-01&to=2026-10-31')).toEqual([{ paymentCount: 0, collected: '0.00', refunded: '0.00', writtenOff: '0.00', net: '0.00', settled: '0.00', byLevel: zeroLevels, refundedByLevel: zeroLevels }]);
  });

  it('answers CSV: UTF-8 with a BOM, a header row, the JSON columns in order', async () => {
    const target = '/v1/finance/reports/revenue?from=2026-11-20&to=2026-11-21&groupBy=item,businessDate&format=csv';
    const headers = signRequest({ method: 'GET', target, appId: world.finance.appId, keyId: world.finance.keyId, privateKey: world.finance.privateKey, timestampSeconds: Math.floor(Date.now() / 1000) });
    const response = await fetch(`${service.baseUrl}${target}`, { headers });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = bytes.subarray(3).toString('utf8').split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual([
      'itemCode,itemName,businessDate,paymentCount,collected,refunded,net,settled,byLevel.1,byLevel.2,byLevel.3,byLevel.4,byLevel.5,refundedByLevel.1,refundedByLevel.2,refundedByLevel.3,refundedByLevel.4,refundedByLevel.5,writtenOff',
      `${ITEMS.fixedFee},营业执照工本费,2026-11-20,1,50.00,0.00,50.00,50.00,0.00,0.00,50.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00`,
      `${ITEMS.fixedFee},营业执照工本费,2026-11-21,1,50.00,0.00,50.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00`,
      `${ITEMS.sharedFee},分成收费,2026-11-20,2,133.38,0.00,133.38,133.38,0.00,53.35,80.03,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00`,
      `${ITEMS.fine},交通违法罚款,2026-11-20,1,30.25,0.00,30.25,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00`,
    ]);
    // The same rows as the JSON.
    const json = await report('from=2026-11-20&to=2026-11-21&groupBy=item,businessDate');
    expect(json.map((row) => [row.itemCode, row.itemName, row.businessDate, row.paymentCount, row.collected, row.refunded, row.net, row.settled, ...Object.values(row.byLevel as object), ...Object.values(row.refundedByLevel as object), row.writtenOff].join(','))).toEqual(lines.slice(1));
  });

  it('refuses bad parameters with VALIDATION_FAILED, and callers other than finance', async () => {
    for (const query of ['to=2026-11-21', 'from=2026-11-20', 'from=2026-11-22&to=2026-11-21', 'from=2026-02-30&to=2026-03-01', 'from=2026-11-20&to=2026-11-21&groupBy=payer', 'from=2026-11-20&to=2026-11-21&groupBy=item,item', 'from=2026-11-20&to=2026-11-21&groupBy=item,', 'from=2026-11-20&to=2026-11-21&format=xml']) {
      const response = await finance('GET', `/v1/finance/reports/revenue?${query}`);
      expect([query, response.status, response.body.error.code]).toEqual([query, 400, 'VALIDATION_FAILED']);
    }
    const response = await agency('GET', '/v1/finance/reports/revenue?from=2026-11-20&to=2026-11-21');
    expect(response.status).toBe(403);
  });

  it('takes a write-off off the items it took from pending revenue: writtenOff, and net without it (decision 0211)', async () => {
    // The 25th: a payment the agency's statement never had, written off by two finance parties.
    const written = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '30.25' }], shanghai('2026-11-25T10:00:00'));
    const payment = await service.database.db('payments').where({ id: written }).first();
    const discrepancyId = await insertDiscrepancy(service.database.db, { agencyCode: world.agency.code, businessDate: '2026-11-25', type: 'SHORTAGE', status: 'OPEN', agencyTxnId: payment.agency_txn_id, paymentId: payment.payment_id });
    const checker = signedAs(service, await registerParty(world.services, { role: 'finance', code: 'FIN_REPORT_CHECK' }));
    const proposed = await finance('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals`, { proposalRef: 'write-off-1', action: 'WRITE_OFF', reason: '机构未收到款项' });
    expect(proposed.status).toBe(201);
    expect((await checker('POST', `/v1/finance/discrepancies/${discrepancyId}/proposals/${proposed.body.proposalId as string}/decision`, { approve: true })).status).toBe(200);
    await expectLedgerVerified(service.database.db);

    // The money never reaches revenue: net is what is still to settle, nothing.
    expect((await report('from=2026-11-25&to=2026-11-25&groupBy=item')).map((row) => [row.itemCode, row.collected, row.writtenOff, row.net, row.settled])).toEqual([
      [ITEMS.fixedFee, '50.00', '50.00', '0.00', '0.00'],
      [ITEMS.fine, '30.25', '30.25', '0.00', '0.00'],
    ]);
    // Per receiving account, exactly what the WRITE_OFF entry took from its pending revenue.
    const entry = await service.database.db('journal_entries').where({ kind: 'WRITE_OFF' }).first('id');
    const debits = (await service.database.db('journal_lines').where({ entry_id: entry.id, side: 'DEBIT' }).orderBy('account').select('account', 'amount')) as Array<{ account: string; amount: string }>;
    const byAccount = await report('from=2026-11-25&to=2026-11-25&groupBy=receivingAccount');
    expect(byAccount.map((row) => [`revenue_pending:${row.receivingAccountNo as string}`, row.writtenOff])).toEqual(debits.map((line) => [line.account, line.amount]));
    expect((await report('from=2026-11-25&to=2026-11-25'))[0]).toMatchObject({ paymentCount: 1, collected: '80.25', refunded: '0.00', writtenOff: '80.25', net: '0.00' });

    const target = '/v1/finance/reports/revenue?from=2026-11-25&to=2026-11-25&format=csv';
    const headers = signRequest({ method: 'GET', target, appId: world.finance.appId, keyId: world.finance.keyId, privateKey: world.finance.privateKey, timestampSeconds: Math.floor(Date.now() / 1000) });
    const lines = Buffer.from(await (await fetch(`${service.baseUrl}${target}`, { headers })).arrayBuffer()).subarray(3).toString('utf8').split('\r\n');
    expect(lines.slice(0, 2).map((line) => line.split(',').slice(-1)[0])).toEqual(['writtenOff', '80.25']);
    expect(lines[1]?.split(',').slice(0, 5)).toEqual(['1', '80.25', '0.00', '0.00', '0.00']);
  });

  it('takes SUCCEEDED refunds off the items in proportion, half-up, the remainder on the last item', async () => {
    // A refund as the refunds part of the service records it once it succeeded.
    const payment = await service.database.db('payments').where({ id: first }).first();
    const financeParty = await service.database.db('parties').where({ app_id: world.finance.appId }).first();
    const unitParty = await service.database.db('parties').where({ app_id: world.unit.appId }).first();
    const at = new Date(shanghai('2026-11-22T10:00:00'));
    await service.database.db('refunds').insert({
      refund_id: 'RFD_REPORT_1', refund_no: 'RN1', requested_by_party_id: unitParty.id, payment_id: first, pay_code: payment.pay_code, amount: '18.03', reason: '多缴',
      status: 'SUCCEEDED', approval: 'FINANCE', approved_by_party_id: financeParty.id, approved_at: at, created_at: at, updated_at: at, succeeded_at: at,
    });
    // 18.03 over 100.01 / 50.00 / 30.25 (of 180.26): 10.00, 5.00, and the remainder 3.03.
    expect((await report('from=2026-11-20&to=2026-11-21&groupBy=item')).map((row) => [row.itemCode, row.refunded, row.net])).toEqual([
      [ITEMS.fixedFee, '5.00', '95.00'],
      [ITEMS.sharedFee, '10.00', '123.38'],
      [ITEMS.fine, '3.03', '27.22'],
    ]);
    expect((await report('from=2026-11-20&to=2026-11-21'))[0]).toMatchObject({ collected: '263.63', refunded: '18.03', net: '245.60' });
  });

  it('names an item by its latest version, whatever version the range\'s notices were issued under', async () => {
    const item = (await finance('GET', `/v1/finance/items/${ITEMS.fine}`)).body as Record<string, unknown>;
    const { name: _old, itemCode: _code, version: _version, createdAt: _created, updatedAt: _updated, ...content } = item;
    expect((await finance('PUT', `/v1/finance/items/${ITEMS.fine}`, { ...content, name: '道路交通安全违法罚款' })).status).toBe(200);
    // The range's notices were all issued under the first version and its name.
    const rows = await report('from=2026-11-20&to=2026-11-20&groupBy=item');
    expect(rows.find((row) => row.itemCode === ITEMS.fine)?.itemName).toBe('道路交通安全违法罚款');
    expect((await finance('GET', `/v1/finance/items/${ITEMS.fine}`)).body.version).toBe((item.version as number) + 1);
  });
});
