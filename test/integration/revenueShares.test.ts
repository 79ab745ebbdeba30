import { settleJob } from '../../src/jobs/settle';
import { confirmInstructionByPosting } from '../../src/services/instructions';
import { verifyLedger } from '../../src/services/ledger';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * Revenue sharing (docs/settlement.md §4, contracts/decisions/0155-settled-revenue-shares.md): a
 * confirmed settlement stores each item it settled per budget level — level 0 split by the shares
 * the notice snapshotted, half-up with the remainder on the last —, append-only, in the
 * confirmation's transaction; `ledger verify` ties the stored shares to the settlements and to the
 * revenue the journal recognised.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  await service.close();
});

async function pay(items: Array<{ itemCode: string; amount: string }>, paidAt: string): Promise<string> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const due = await agency('GET', `/v1/agency/notices/${payCode}`);
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt, agencyTxnId }))).status).toBe(201);
  return paymentRowId(service.database.db, agencyTxnId);
}

async function sharesOf(paymentId: string): Promise<Array<{ line_position: number; share_position: number; budget_level: number; amount: string }>> {
  return service.database.db('settled_revenue_shares').where({ payment_id: paymentId }).orderBy(['line_position', 'share_position']).select('line_position', 'share_position', 'budget_level', 'amount', 'business_date');
}

describe('settled revenue shares', () => {
  let shared: string;
  let plain: string;
  let fiscal: Record<string, any>;

  it('are stored per budget level when the settlement is confirmed, level 0 split half-up with the remainder on the last share', async () => {
    const date = '2026-11-20';
    // 100.01 shared 0.4 / 0.6: 40.004 → 40.00 (half-up), the last share the remainder 60.01.
    shared = await pay([{ itemCode: ITEMS.sharedFee, amount: '100.01' }, { itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '30.25' }], shanghai(`${date}T08:00:00`));
    // 33.37 × 0.4 = 13.348 → 13.35, the last 20.02.
    plain = await pay([{ itemCode: ITEMS.sharedFee, amount: '33.37' }], shanghai(`${date}T08:05:00`));
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [shared, plain] });
    service.clocks.business.set(new Date(shanghai('2026-11-21T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const instructions = await service.database.db('instructions').where({ business_date: date, type: 'SETTLEMENT' }).orderBy('id');
    fiscal = instructions.find((row) => row.credit_account_no === world.fiscalAccountNo) as Record<string, any>;
    expect(fiscal).toBeDefined();

    // Nothing is stored before the confirmation.
    expect(await sharesOf(shared)).toEqual([]);
    const at = new Date(shanghai('2026-11-21T14:00:00'));
    await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: String(fiscal.id), postingRowId: '1', amount: fiscal.amount, at }));

    expect(await sharesOf(shared)).toEqual([
      { line_position: 0, share_position: 0, budget_level: 2, amount: '40.00', business_date: date },
      { line_position: 0, share_position: 1, budget_level: 3, amount: '60.01', business_date: date },
      { line_position: 1, share_position: 0, budget_level: 3, amount: '50.00', business_date: date },
      // The fine goes to the treasury account, whose settlement is not confirmed yet.
    ]);
    expect(await sharesOf(plain)).toEqual([
      { line_position: 0, share_position: 0, budget_level: 2, amount: '13.35', business_date: date },
      { line_position: 0, share_position: 1, budget_level: 3, amount: '20.02', business_date: date },
    ]);
    const total = await service.database.db('settled_revenue_shares').where({ instruction_id: fiscal.id }).sum('amount as s');
    expect(total[0]?.s).toBe(fiscal.amount);
    await expectLedgerVerified(service.database.db);
  });

  it('are append-only', async () => {
    await expect(service.database.db('settled_revenue_shares').where({ payment_id: shared }).update({ amount: '1.00' })).rejects.toThrow(/append-only/);
    await expect(service.database.db('settled_revenue_shares').where({ payment_id: shared }).delete()).rejects.toThrow(/append-only/);
  });

  it('are stored once: a second confirmation of the same settlement is refused and stores nothing', async () => {
    const before = await service.database.db('settled_revenue_shares').count('* as n');
    await expect(service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: String(fiscal.id), postingRowId: '1', amount: fiscal.amount, at: new Date() }))).rejects.toThrow();
    expect(await service.database.db('settled_revenue_shares').count('* as n')).toEqual(before);
  });

  it('ledger verify catches shares that no longer tie to the settlement or to the recognised revenue', async () => {
    await service.database.db('settled_revenue_shares').insert({ instruction_id: fiscal.id, payment_id: plain, line_position: 0, share_position: 4, budget_level: 5, amount: '0.01', business_date: '2026-11-20', recognised_at: new Date() });
    const verification = await verifyLedger(service.database.db);
    const check = verification.checks.find((c) => c.name === 'settledShares');
    expect(check?.ok).toBe(false);
    expect(check?.breaks.map((b) => b.subject)).toEqual([`account revenue:${world.fiscalAccountNo}:5:1030402`, `instruction ${fiscal.instruction_no} payment ${plain} line 0`]);
    expect(check?.breaks[1]?.detail).toEqual({ settled: '33.37', shares: '33.38' });
  });
});
