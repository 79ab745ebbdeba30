import { signRequest } from '../../src/crypto/requestSigning';
import { settleJob } from '../../src/jobs/settle';
import { verifyLedger } from '../../src/services/ledger';
import { BACKFILL_REFUNDED_SHARES } from '../../migrations/20261210000100_refunded_revenue_shares';
import { buildWorld, itemInput, ITEMS, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId } from '../helpers/reconciledDay';
import { insertStatement } from '../helpers/statements';
import { executedBeforeNow, startTestService, type TestService } from '../helpers/testService';

/**
 * The revenue report after refunds (docs/settlement.md §4, contracts/decisions/0215-refunded-revenue-shares.md):
 * payments of an item shared 40/30/30 with a remainder fen, an agency refund before settlement,
 * settlements confirmed, then bank refunds — one of a payment settled to one account, one split
 * over two receiving accounts (decision 0170) — confirmed by the bank's DEBIT postings. The
 * report's `byLevel` then equals the ledger's `revenue:` balances to the fen, for the totals and
 * per revenue account, `refundedByLevel` shows what the bank refunds took back, and the CSV says
 * what the JSON says. `ledger verify` ties the stored refund shares to the journal, and the
 * migration's backfill of earlier refunds computes exactly the stored rows.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let bank: SignedCall;
let finance: SignedCall;
const db = () => service.database.db;

const SHARED_433 = 'FEE_SHARED_433';
const PAYEE = { name: '王五', accountNo: '6228480012345678901', bankName: '中国农业银行呼和浩特分行' };
const zeros = { '1': '0.00', '2': '0.00', '3': '0.00', '4': '0.00', '5': '0.00' };

interface Paid {
  payCode: string;
  agencyTxnId: string;
  paymentRowId: string;
  amount: string;
}

async function pay(items: Array<{ itemCode: string; amount: string }>, paidAt: string): Promise<Paid> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const amount = (await agency('GET', `/v1/agency/notices/${payCode}`)).body.amountDue as string;
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount, paidAt, agencyTxnId }))).status).toBe(201);
  return { payCode, agencyTxnId, paymentRowId: await paymentRowId(db(), agencyTxnId), amount };
}

async function refund(refundNo: string, paid: Paid, amount: string): Promise<{ refundId: string; status: string; instructionNo: string | null }> {
  const requested = await unit('POST', '/v1/unit/refunds', { refundNo, payCode: paid.payCode, amount, reason: '多缴', payee: PAYEE });
  expect(requested.status).toBe(201);
  const decided = await finance('POST', `/v1/finance/refunds/${requested.body.refundId as string}/decision`, { approve: true, comment: '' });
  expect(decided.status).toBe(200);
  return decided.body as { refundId: string; status: string; instructionNo: string | null };
}

async function report(query: string): Promise<Array<Record<string, any>>> {
  const response = await finance('GET', `/v1/finance/reports/revenue?${query}`);
  expect(response.status).toBe(200);
  return response.body.data as Array<Record<string, any>>;
}

/** The ledger's revenue accounts, `revenue:{acct}:{level}:{code}` → balance (credits − debits). */
async function revenueAccounts(): Promise<Map<string, string>> {
  const result = await db().raw<{ rows: Array<{ account: string; balance: string }> }>(
    `SELECT account, sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END)::text AS balance
       FROM journal_lines WHERE starts_with(account, 'revenue:') GROUP BY account ORDER BY account`,
  );
  return new Map(result.rows.map((row) => [row.account, row.balance]));
}

/** The ledger's revenue by budget level: every revenue account of that level added up, as byLevel lists them. */
async function ledgerByLevel(filter: (account: string) => boolean = () => true): Promise<Record<string, string>> {
  const byLevel: Record<string, number> = { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 };
  for (const [account, balance] of await revenueAccounts()) {
    if (!filter(account)) continue;
    const level = account.split(':')[2] as string;
    byLevel[level] = (byLevel[level] as number) + Math.round(Number(balance) * 100);
  }
  return Object.fromEntries(Object.entries(byLevel).map(([level, fen]) => [level, (fen / 100).toFixed(2)]));
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T07:00:00')) });
  world = await buildWorld(service);
  const actor = world.finance.appId;
  const { catalogue } = service.runtime.services;
  // A bank of our own holds both receiving accounts, so that it can post their credits and debits.
  const holder = await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_HOLDER' }, actor);
  await catalogue.putAccount(world.fiscalAccountNo, { name: '财政专户', bankCode: 'BANK_HOLDER', kind: 'FISCAL' }, actor);
  await catalogue.putAccount(world.treasuryAccountNo, { name: '国库待报解户', bankCode: 'BANK_HOLDER', kind: 'TREASURY' }, actor);
  await catalogue.putSharingRule('SHARE_40_30_30', { name: '区市旗四三三分成', shares: [{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.3' }, { budgetLevel: 4, ratio: '0.3' }] }, actor);
  await catalogue.putItem(SHARED_433, itemInput({ name: '四三三分成收费', incomeSortCode: '1030404', budgetLevel: 0, sharingRuleCode: 'SHARE_40_30_30', receivingAccountNo: world.fiscalAccountNo, pricing: { type: 'RANGE', min: '0.01', max: '1000.00' } }), actor);
  await catalogue.putUnitItems(world.unit.code, { itemCodes: [ITEMS.fixedFee, ITEMS.fine, ITEMS.sharedFee, SHARED_433] }, actor);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  bank = signedAs(service, holder);
  finance = signedAs(service, world.finance);
});

afterAll(async () => {
  await service.close();
});

describe('the revenue report after agency and bank refunds', () => {
  let single: Paid;
  let split: Paid;
  let early: Paid;

  it('an agency refund before settlement: the settlement moves the rest, and byLevel is what the revenue accounts were credited', async () => {
    // Three payments on the 20th: 100.01 shared 40/30/30 (a remainder fen) three times, one with a
    // fixed fee (fiscal account) and a fine (treasury account) beside it.
    single = await pay([{ itemCode: SHARED_433, amount: '100.01' }], shanghai('2026-11-20T08:00:00'));
    split = await pay([{ itemCode: SHARED_433, amount: '100.01' }, { itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '30.25' }], shanghai('2026-11-20T08:05:00'));
    early = await pay([{ itemCode: SHARED_433, amount: '100.01' }], shanghai('2026-11-20T08:10:00'));
    // The agency pays 33.33 of `early` back out of its clearing account; its statement confirms it.
    const agencyRefund = await refund('RF-EARLY', early, '33.33');
    expect(agencyRefund.status).toBe('INSTRUCTED');
    expect((await agency('POST', `/v1/agency/instructions/${agencyRefund.instructionNo as string}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai('2026-11-20T15:00:00')), reference: 'AG-EARLY' })).status).toBe(200);
    await insertStatement(db(), {
      agencyCode: world.agency.code,
      businessDate: '2026-11-20',
      lines: [
        ...[single, split, early].map((paid) => ({ agencyTxnId: paid.agencyTxnId, payCode: paid.payCode, amount: paid.amount })),
        { kind: 'REFUND' as const, agencyTxnId: 'AGR-EARLY', instructionNo: agencyRefund.instructionNo as string, amount: '33.33' },
      ],
    });
    service.clocks.business.set(new Date(shanghai('2026-11-21T02:00:00')));
    expect(((await service.runtime.services.reconciliation.reconcile(world.agency.code, '2026-11-20')) as unknown as { status: string }).status).toBe('BALANCED');
    expect((await unit('GET', '/v1/unit/refunds/RF-EARLY')).body.status).toBe('SUCCEEDED');

    // Settled the next morning and confirmed by the bank's credits.
    service.clocks.business.set(new Date(shanghai('2026-11-21T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    service.clocks.business.set(new Date(shanghai('2026-11-21T10:00:00')));
    const settlements = (await db()('instructions').where({ type: 'SETTLEMENT', business_date: '2026-11-20' }).orderBy('credit_account_no')) as Array<{ instruction_no: string; amount: string; credit_account_no: string }>;
    // Fiscal: 100.01 + 150.01 + (100.01 − 33.33 = 66.68); treasury: the fine.
    expect(settlements.map((row) => [row.credit_account_no, row.amount])).toEqual([
      [world.fiscalAccountNo, '316.70'],
      [world.treasuryAccountNo, '30.25'],
    ]);
    for (const [index, settlement] of settlements.entries()) {
      const credit = await bank('POST', '/v1/bank/postings', { bankRef: `BR-S-${index}`, accountNo: settlement.credit_account_no, direction: 'CREDIT', amount: settlement.amount, valueDate: '2026-11-21', instructionNo: settlement.instruction_no });
      expect(credit.body.status).toBe('MATCHED');
    }

    // 100.01 → 40.00 / 30.00 / 30.01 twice; 66.68 → 26.67 / 20.00 / 20.01; the fixed fee 50.00 at
    // level 3, the fine 30.25 at level 4. The agency's refund never reached any level.
    const [totals] = await report('from=2026-11-20&to=2026-11-20');
    expect(totals).toEqual({ paymentCount: 3, collected: '380.28', refunded: '33.33', writtenOff: '0.00', net: '346.95', settled: '346.95', byLevel: { ...zeros, '2': '106.67', '3': '130.00', '4': '110.28' }, refundedByLevel: zeros });
    expect(totals?.byLevel).toEqual(await ledgerByLevel());
    await expectLedgerVerified(db());
  });

  it('bank refunds, on one account and split over two: byLevel nets them out exactly as their entries did, refundedByLevel shows them', async () => {
    service.clocks.business.set(new Date(shanghai('2026-11-22T10:00:00')));
    // 33.33 of `single`, from the fiscal account: 13.33 (13.332) / 10.00 (9.999) / the remainder 10.00.
    const one = await refund('RF-BANK-1', single, '33.33');
    // 33.33 of `split`, over the accounts by what each settled (150.01 and 30.25 of 180.26):
    // fiscal 27.74 (27.7366…), treasury the remainder 5.59; the fiscal part over its items (100.01
    // and 50.00 of 150.01): 18.49 (18.4926…) and the remainder 9.25; 18.49 → 7.40 (7.396) / 5.55
    // (5.547) / the remainder 5.54.
    const two = await refund('RF-BANK-2', split, '33.33');
    expect([one.status, two.status]).toEqual(['INSTRUCTED', 'INSTRUCTED']);
    const instructions = (await db()('instructions as i').join('refunds as r', 'r.id', 'i.refund_id').whereIn('r.refund_id', [one.refundId, two.refundId]).orderBy('i.id').select('i.instruction_no', 'i.debit_account_no', 'i.amount')) as Array<{
      instruction_no: string;
      debit_account_no: string;
      amount: string;
    }>;
    expect(instructions.map((row) => [row.debit_account_no, row.amount])).toEqual([
      [world.fiscalAccountNo, '33.33'],
      [world.fiscalAccountNo, '27.74'],
      [world.treasuryAccountNo, '5.59'],
    ]);
    for (const [index, instruction] of instructions.entries()) {
      const debit = await bank('POST', '/v1/bank/postings', { bankRef: `BR-R-${index}`, accountNo: instruction.debit_account_no, direction: 'DEBIT', amount: instruction.amount, valueDate: '2026-11-22', instructionNo: instruction.instruction_no });
      expect(debit.body.status).toBe('MATCHED');
    }
    expect((await unit('GET', '/v1/unit/refunds/RF-BANK-1')).body.status).toBe('SUCCEEDED');
    expect((await unit('GET', '/v1/unit/refunds/RF-BANK-2')).body.status).toBe('SUCCEEDED');

    // Taken back: level 2 13.33 + 7.40, level 3 10.00 + 5.55 + 9.25 (the fixed fee), level 4 10.00 + 5.54 + 5.59 (the fine).
    const [totals] = await report('from=2026-11-20&to=2026-11-20');
    expect(totals).toEqual({
      paymentCount: 3,
      collected: '380.28',
      refunded: '99.99',
      writtenOff: '0.00',
      net: '280.29',
      settled: '346.95',
      byLevel: { ...zeros, '2': '85.94', '3': '105.20', '4': '89.15' },
      refundedByLevel: { ...zeros, '2': '20.73', '3': '24.80', '4': '21.13' },
    });
    // The same money as the ledger's revenue accounts, to the fen.
    expect(totals?.byLevel).toEqual(await ledgerByLevel());

    // And per revenue account: grouped by receiving account and income sort code, each row's
    // byLevel is its revenue:{acct}:{level}:{code} accounts' balances.
    const rows = await report('from=2026-11-20&to=2026-11-20&groupBy=receivingAccount,incomeSortCode');
    expect(rows.map((row) => row.incomeSortCode)).toEqual(['103040101', '1030404', '1030501']);
    for (const row of rows) {
      expect([row.receivingAccountNo, row.incomeSortCode, row.byLevel]).toEqual([row.receivingAccountNo, row.incomeSortCode, await ledgerByLevel((account) => account.startsWith(`revenue:${row.receivingAccountNo as string}:`) && account.endsWith(`:${row.incomeSortCode as string}`))]);
      // What settled is what the levels hold plus what bank refunds took back.
      const fen = (amounts: Record<string, string>) => Object.values(amounts).reduce((sum, amount) => sum + Math.round(Number(amount) * 100), 0);
      expect(fen(row.byLevel) + fen(row.refundedByLevel)).toBe(Math.round(Number(row.settled) * 100));
    }
    await expectLedgerVerified(db());
  });

  it('answers the same figures as CSV', async () => {
    const query = 'from=2026-11-20&to=2026-11-20&groupBy=item,receivingAccount';
    const target = `/v1/finance/reports/revenue?${query}&format=csv`;
    const headers = signRequest({ method: 'GET', target, appId: world.finance.appId, keyId: world.finance.keyId, privateKey: world.finance.privateKey, timestampSeconds: Math.floor(Date.now() / 1000) });
    const response = await fetch(`${service.baseUrl}${target}`, { headers });
    expect(response.status).toBe(200);
    const lines = Buffer.from(await response.arrayBuffer()).subarray(3).toString('utf8').split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines[0]).toBe(
      'itemCode,itemName,receivingAccountNo,paymentCount,collected,refunded,net,settled,byLevel.1,byLevel.2,byLevel.3,byLevel.4,byLevel.5,refundedByLevel.1,refundedByLevel.2,refundedByLevel.3,refundedByLevel.4,refundedByLevel.5,writtenOff',
    );
    const json = await report(query);
    // `refunded` takes each item's part as the entries did (the fixed fee's 9.25 and the fine's
    // 5.59 of the split refund, not a spread of its own), so once everything settled, each row's
    // net is what its levels hold.
    expect(json.map((row) => [row.itemCode, row.refunded, row.net, Object.values(row.byLevel as Record<string, string>).reduce((sum, amount) => sum + Math.round(Number(amount) * 100), 0) / 100])).toEqual([
      [ITEMS.fixedFee, '9.25', '40.75', 40.75],
      [SHARED_433, '85.15', '214.88', 214.88],
      [ITEMS.fine, '5.59', '24.66', 24.66],
    ]);
    expect(json.map((row) => [row.itemCode, row.itemName, row.receivingAccountNo, row.paymentCount, row.collected, row.refunded, row.net, row.settled, ...Object.values(row.byLevel as object), ...Object.values(row.refundedByLevel as object), row.writtenOff].join(','))).toEqual(lines.slice(1));
    expect(lines.find((line) => line.startsWith(`${SHARED_433},`))).toBe(`${SHARED_433},四三三分成收费,${world.fiscalAccountNo},3,300.03,85.15,214.88,266.70,0.00,85.94,64.45,64.49,0.00,0.00,20.73,15.55,15.54,0.00,0.00`);
  });

  it('stores the refunds\' shares per notice line, the split half-up with the remainder on the last share, and the backfill computes the same rows', async () => {
    const stored = (await db()('refunded_revenue_shares as s')
      .join('refunds as r', 'r.id', 's.refund_id')
      .orderBy(['s.refund_id', 's.line_position', 's.share_position'])
      .select('r.refund_id', 's.line_position', 's.share_position', 's.budget_level', 's.amount')) as Array<{ refund_id: string; line_position: number; share_position: number; budget_level: number; amount: string }>;
    const [first, second] = [(await unit('GET', '/v1/unit/refunds/RF-BANK-1')).body.refundId, (await unit('GET', '/v1/unit/refunds/RF-BANK-2')).body.refundId];
    expect(stored.map((row) => [row.refund_id, row.line_position, row.share_position, row.budget_level, row.amount])).toEqual([
      [first, 0, 0, 2, '13.33'],
      [first, 0, 1, 3, '10.00'],
      [first, 0, 2, 4, '10.00'],
      [second, 0, 0, 2, '7.40'],
      [second, 0, 1, 3, '5.55'],
      [second, 0, 2, 4, '5.54'],
      [second, 1, 0, 3, '9.25'],
      [second, 2, 0, 4, '5.59'],
    ]);
    const backfill = await db().raw<{ rows: Array<Record<string, unknown>> }>(
      `SELECT refund_id::text, instruction_id::text, payment_id::text, line_position, share_position, budget_level, amount::text, refunded_at FROM (${BACKFILL_REFUNDED_SHARES}) b ORDER BY refund_id, line_position, share_position`,
    );
    const rows = await db().raw<{ rows: Array<Record<string, unknown>> }>(
      `SELECT refund_id::text, instruction_id::text, payment_id::text, line_position, share_position, budget_level, amount::text, refunded_at FROM refunded_revenue_shares ORDER BY refund_id, line_position, share_position`,
    );
    expect(backfill.rows).toEqual(rows.rows);
    await expect(db()('refunded_revenue_shares').where({ line_position: 0 }).update({ amount: '1.00' })).rejects.toThrow(/append-only/);
  });

  it('ledger verify catches refund shares that do not tie to the refund entries, and a report that would not hold what the revenue accounts hold', async () => {
    const row = (await db()('refunded_revenue_shares').orderBy(['refund_id', 'line_position']).first()) as Record<string, unknown>;
    await db()('refunded_revenue_shares').insert({ ...row, share_position: 4, budget_level: 5, amount: '0.01' });
    const verification = await verifyLedger(db());
    const broken = Object.fromEntries(verification.checks.filter((check) => !check.ok).map((check) => [check.name, check.breaks.map((b) => b.subject)]));
    const account = `account revenue:${world.fiscalAccountNo}:5:1030404`;
    expect(broken).toEqual({ refundedShares: [account, expect.stringMatching(/^refund \S+ instruction TFR/)], revenueByLevel: [account] });
  });
});
