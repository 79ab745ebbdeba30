import fc from 'fast-check';
import { settleJob } from '../../src/jobs/settle';
import { accountPrefix } from '../../src/domain/ledger';
import { Decimal } from '../../src/domain/money';
import { REVENUE_GROUP_KEYS, type RevenueGroupKey, type RevenueReportRow } from '../../src/domain/revenueReport';
import { confirmInstructionByPosting } from '../../src/services/instructions';
import { addAgency, addUnit, buildWorld, itemInput, ITEMS, REGION, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * A property over random data (docs/settlement.md §4: "a test proves on random data that the
 * reports tie to the ledger"): random payments of shared and unshared items by two agencies and two
 * units over four days, randomly matched, held or left unmatched, settled, and randomly confirmed;
 * then, for random groupings (any subset of the keys, in any order) and random date ranges, every
 * report ties to the journal to the fen — collected to the PAYMENT_SUCCEEDED entries' pending
 * revenue, settled and byLevel to the SETTLEMENT_CONFIRMED entries' revenue accounts — on every
 * projection the journal can tell (business date, agency, receiving account, income sort code,
 * budget level), and every grouping adds up to the report's totals.
 */

const SEED = 20261203;
const DATES = ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23'];
const SHARED3 = 'FEE_SHARED3';

let service: TestService;
let world: World;
let units: SignedCall[];
let agencies: Array<{ code: string; call: SignedCall }>;
let finance: SignedCall;

interface PaymentPlan {
  unit: number;
  agency: number;
  items: Array<{ itemCode: string; amount: string }>;
  fate: 'matched' | 'held' | 'unmatched';
}
const money = (minFen: number, maxFen: number) => fc.integer({ min: minFen, max: maxFen }).map((fen) => new Decimal(fen).dividedBy(100).toFixed(2));
const itemArb = fc.oneof(
  fc.constant({ itemCode: ITEMS.fixedFee, amount: '50.00' }),
  money(1, 10_000_000).map((amount) => ({ itemCode: ITEMS.fine, amount })),
  money(100, 50_000).map((amount) => ({ itemCode: ITEMS.sharedFee, amount })),
  money(1, 100_000).map((amount) => ({ itemCode: SHARED3, amount })),
);
const paymentArb: fc.Arbitrary<PaymentPlan> = fc.record({
  unit: fc.integer({ min: 0, max: 1 }),
  agency: fc.integer({ min: 0, max: 1 }),
  items: fc.array(itemArb, { minLength: 1, maxLength: 3 }),
  fate: fc.constantFrom('matched', 'matched', 'held', 'unmatched'),
});
const worldArb = fc.record({
  days: fc.tuple(...DATES.map(() => fc.array(paymentArb, { minLength: 1, maxLength: 4 }))),
  confirm: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
});

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T07:00:00')) });
  world = await buildWorld(service);
  const actor = world.finance.appId;
  const { catalogue } = service.runtime.services;
  await catalogue.putSharingRule('SHARE_THIRDS', { name: '三级分成', shares: [{ budgetLevel: 1, ratio: '0.3333' }, { budgetLevel: 2, ratio: '0.3333' }, { budgetLevel: 5, ratio: '0.3334' }] }, actor);
  await catalogue.putItem(SHARED3, itemInput({ name: '三级分成收费', incomeSortCode: '1030403', budgetLevel: 0, sharingRuleCode: 'SHARE_THIRDS', receivingAccountNo: world.treasuryAccountNo, pricing: { type: 'RANGE', min: '0.01', max: '1000.00' } }), actor);
  await catalogue.putUnitItems(world.unit.code, { itemCodes: [ITEMS.fixedFee, ITEMS.fine, ITEMS.sharedFee, SHARED3] }, actor);
  const second = await addUnit(world, { code: 'UNIT_CITY', name: '呼和浩特市公安局', regionCode: REGION.city, itemCodes: [ITEMS.fixedFee, ITEMS.fine, ITEMS.sharedFee, SHARED3] });
  units = [signedAs(service, world.unit), signedAs(service, second)];
  const otherAgency = await addAgency(world, 'AGENCY_TWO');
  agencies = [
    { code: world.agency.code, call: signedAs(service, world.agency) },
    { code: otherAgency.code, call: signedAs(service, otherAgency) },
  ];
  finance = signedAs(service, world.finance);

  const [plan] = fc.sample(worldArb, { seed: SEED, numRuns: 1 });
  if (plan === undefined) throw new Error('no plan');
  let confirmIndex = 0;
  for (const [day, payments] of plan.days.entries()) {
    const date = DATES[day] as string;
    const fates = new Map<string, { matched: string[]; held: string[] }>();
    for (const [k, payment] of payments.entries()) {
      const paidAt = new Date(shanghai(`${date}T08:${String(10 + k * 5).padStart(2, '0')}:00`));
      service.clocks.business.set(new Date(paidAt.getTime() - 60_000));
      const payCode = await issueNotice(units[payment.unit] as SignedCall, { items: payment.items, dueDate: '2026-12-31' });
      service.clocks.business.set(new Date(paidAt.getTime() + 60_000));
      const agency = agencies[payment.agency] as { code: string; call: SignedCall };
      const due = await agency.call('GET', `/v1/agency/notices/${payCode}`);
      const agencyTxnId = newTxnId();
      expect((await agency.call('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt: paidAt.toISOString(), agencyTxnId }))).status).toBe(201);
      const id = await paymentRowId(service.database.db, agencyTxnId);
      const fate = fates.get(agency.code) ?? { matched: [], held: [] };
      if (payment.fate !== 'unmatched') fate.matched.push(id);
      if (payment.fate === 'held') fate.held.push(id);
      fates.set(agency.code, fate);
    }
    for (const agency of agencies) {
      const fate = fates.get(agency.code) ?? { matched: [], held: [] };
      await reconcileDay(service.database.db, { agencyCode: agency.code, businessDate: date, matched: fate.matched, held: fate.held });
    }
    service.clocks.business.set(new Date(shanghai(`${DATES[day + 1] ?? '2026-11-24'}T03:00:00`)));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    for (const row of await service.database.db('instructions').where({ business_date: date, type: 'SETTLEMENT' }).orderBy('id')) {
      if (plan.confirm[confirmIndex++ % plan.confirm.length]) {
        await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: String(row.id), postingRowId: '1', amount: row.amount, at: service.clocks.business.now() }));
      }
    }
  }
  await expectLedgerVerified(service.database.db);
  // The data is worth testing: some settled shared revenue, some not settled.
  expect(Number((await service.database.db('settled_revenue_shares').count('* as n'))[0]?.n)).toBeGreaterThan(0);
  expect(Number((await service.database.db('instructions').whereNot({ status: 'CONFIRMED' }).count('* as n'))[0]?.n)).toBeGreaterThan(0);
});

afterAll(async () => {
  await service.close();
});

/** The journal's own figures, by what it can tell: collected per (date, agency, account); settled per (date, agency, account, code, level). */
interface LedgerFact {
  businessDate: string;
  agencyCode: string;
  receivingAccountNo: string;
  incomeSortCode?: string;
  budgetLevel?: number;
  amount: Decimal;
}

async function ledgerCollected(): Promise<LedgerFact[]> {
  const pending = accountPrefix('revenuePending');
  const result = await service.database.db.raw(
    `SELECT to_char(p.business_date, 'YYYY-MM-DD') AS business_date, p.agency_code, substr(l.account, length(?) + 1) AS account_no, sum(CASE l.side WHEN 'CREDIT' THEN l.amount ELSE -l.amount END)::text AS amount
       FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id JOIN payments p ON p.id = e.payment_id
      WHERE e.kind = 'PAYMENT_SUCCEEDED' AND starts_with(l.account, ?)
      GROUP BY 1, 2, 3`,
    [pending, pending],
  );
  return (result.rows as Array<Record<string, string>>).map((row) => ({ businessDate: row.business_date as string, agencyCode: row.agency_code as string, receivingAccountNo: row.account_no as string, amount: new Decimal(row.amount as string) }));
}

async function ledgerSettled(): Promise<LedgerFact[]> {
  const revenue = accountPrefix('revenue');
  const result = await service.database.db.raw(
    `SELECT to_char(s.business_date, 'YYYY-MM-DD') AS business_date, s.agency_code, l.account, sum(CASE l.side WHEN 'CREDIT' THEN l.amount ELSE -l.amount END)::text AS amount
       FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id JOIN instructions s ON s.id = e.instruction_id
      WHERE e.kind = 'SETTLEMENT_CONFIRMED' AND starts_with(l.account, ?)
      GROUP BY 1, 2, 3`,
    [revenue],
  );
  return (result.rows as Array<Record<string, string>>).map((row) => {
    // revenue:{receivingAccountNo}:{level}:{incomeSortCode}
    const [, accountNo, level, code] = (row.account as string).split(':');
    return { businessDate: row.business_date as string, agencyCode: row.agency_code as string, receivingAccountNo: accountNo as string, budgetLevel: Number(level), incomeSortCode: code as string, amount: new Decimal(row.amount as string) };
  });
}

const PROJECTABLE: Partial<Record<RevenueGroupKey, keyof LedgerFact>> = { businessDate: 'businessDate', agency: 'agencyCode', receivingAccount: 'receivingAccountNo', incomeSortCode: 'incomeSortCode' };
const ROW_COLUMN: Partial<Record<RevenueGroupKey, string>> = { businessDate: 'businessDate', agency: 'agencyCode', receivingAccount: 'receivingAccountNo', incomeSortCode: 'incomeSortCode' };

function add(map: Map<string, Decimal>, key: string, amount: Decimal | string): void {
  map.set(key, (map.get(key) ?? new Decimal(0)).plus(amount));
}
function nonZero(map: Map<string, Decimal>): Record<string, string> {
  return Object.fromEntries([...map.entries()].filter(([, value]) => !value.isZero()).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => [key, value.toFixed(2)]));
}

it('every grouping of every date range ties to the ledger to the fen, and adds up to the totals', async () => {
  const collectedFacts = await ledgerCollected();
  const settledFacts = await ledgerSettled();
  const groupingArb = fc.shuffledSubarray([...REVENUE_GROUP_KEYS]);
  const rangeArb = fc.tuple(fc.integer({ min: 0, max: DATES.length - 1 }), fc.integer({ min: 0, max: DATES.length - 1 })).map(([a, b]) => [DATES[Math.min(a, b)] as string, DATES[Math.max(a, b)] as string] as const);
  await fc.assert(
    fc.asyncProperty(groupingArb, rangeArb, async (groupBy, [from, to]) => {
      const response = await finance('GET', `/v1/finance/reports/revenue?from=${from}&to=${to}${groupBy.length > 0 ? `&groupBy=${groupBy.join(',')}` : ''}`);
      expect(response.status).toBe(200);
      const rows = response.body.data as RevenueReportRow[];
      const totals = ((await finance('GET', `/v1/finance/reports/revenue?from=${from}&to=${to}`)).body.data as RevenueReportRow[])[0] as RevenueReportRow;
      const inRange = (fact: LedgerFact) => fact.businessDate >= from && fact.businessDate <= to;

      // Collected, on the keys the journal knows for it.
      const collectedKeys = groupBy.filter((key) => key === 'businessDate' || key === 'agency' || key === 'receivingAccount');
      const fromReport = new Map<string, Decimal>();
      for (const row of rows) add(fromReport, JSON.stringify(collectedKeys.map((key) => row[ROW_COLUMN[key] as string])), row.collected);
      const fromLedger = new Map<string, Decimal>();
      for (const fact of collectedFacts.filter(inRange)) add(fromLedger, JSON.stringify(collectedKeys.map((key) => fact[PROJECTABLE[key] as keyof LedgerFact])), fact.amount);
      expect(nonZero(fromReport)).toEqual(nonZero(fromLedger));

      // Settled by level, on the keys the journal knows for it.
      const settledKeys = groupBy.filter((key) => PROJECTABLE[key] !== undefined);
      const levelsFromReport = new Map<string, Decimal>();
      for (const row of rows) {
        expect(Object.values(row.byLevel).reduce((sum, value) => sum.plus(value), new Decimal(0)).toFixed(2)).toBe(row.settled);
        for (const [level, amount] of Object.entries(row.byLevel)) add(levelsFromReport, JSON.stringify([...settledKeys.map((key) => row[ROW_COLUMN[key] as string]), Number(level)]), amount);
      }
      const levelsFromLedger = new Map<string, Decimal>();
      for (const fact of settledFacts.filter(inRange)) add(levelsFromLedger, JSON.stringify([...settledKeys.map((key) => fact[PROJECTABLE[key] as keyof LedgerFact]), fact.budgetLevel]), fact.amount);
      expect(nonZero(levelsFromReport)).toEqual(nonZero(levelsFromLedger));

      // The totals count the payments the journal posted in the range.
      const posted = await service.database.db.raw(
        "SELECT count(DISTINCT p.id)::int AS n FROM journal_entries e JOIN payments p ON p.id = e.payment_id WHERE e.kind = 'PAYMENT_SUCCEEDED' AND p.business_date BETWEEN ?::date AND ?::date",
        [from, to],
      );
      expect(totals.paymentCount).toBe(posted.rows[0].n);

      // Every grouping adds up to the totals, and net is collected − refunded in every row.
      const sum = (pick: (row: RevenueReportRow) => string) => rows.reduce((total, row) => total.plus(pick(row)), new Decimal(0)).toFixed(2);
      expect([sum((row) => row.collected), sum((row) => row.refunded), sum((row) => row.net), sum((row) => row.settled)]).toEqual([totals.collected, totals.refunded, totals.net, totals.settled]);
      for (const row of rows) expect(new Decimal(row.collected).minus(row.refunded).toFixed(2)).toBe(row.net);
      // Payments are counted once per group; keys that partition payments partition the count.
      if (groupBy.every((key) => key === 'businessDate' || key === 'agency' || key === 'unit' || key === 'region')) expect(rows.reduce((n, row) => n + row.paymentCount, 0)).toBe(totals.paymentCount);
    }),
    { seed: SEED, numRuns: 40 },
  );
});
