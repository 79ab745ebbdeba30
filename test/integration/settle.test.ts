import { settleJob } from '../../src/jobs/settle';
import { settledItemAmounts } from '../../src/domain/instructions';
import { Decimal } from '../../src/domain/money';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * The settle job (docs/settlement.md §1): per (agency, receiving account, date) one SETTLEMENT
 * instruction over the matched or accepted, not held money of a reconciled date, lines by
 * (itemCode, incomeSortCode, budgetLevel) summing exactly, reruns creating nothing, and one live
 * instruction per payment item as a database constraint.
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

/** Posts a payment of a notice with these items on the business clock's day; answers its row id. */
async function pay(items: Array<{ itemCode: string; amount: string }>, paidAt: string): Promise<string> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const due = await agency('GET', `/v1/agency/notices/${payCode}`);
  const agencyTxnId = newTxnId();
  const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt, agencyTxnId }));
  expect(posted.status).toBe(201);
  return paymentRowId(service.database.db, agencyTxnId);
}

async function runSettle(): Promise<Record<string, number>> {
  const outcome = await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
  expect(outcome).toMatchObject({ outcome: 'SUCCEEDED' });
  return (outcome as { counts: Record<string, number> }).counts;
}

async function instructionsOf(date: string): Promise<Array<Record<string, any>>> {
  return service.database.db('instructions').where({ business_date: date }).orderBy('id');
}

describe('settle', () => {
  it('creates one instruction per receiving account over matched and accepted money, lines summing exactly; held, unmatched and unreconciled money stays; a rerun creates nothing', async () => {
    const date = '2026-11-20';
    service.clocks.business.set(new Date(shanghai(`${date}T09:00:00`)));
    const mixed = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '30.25' }, { itemCode: ITEMS.sharedFee, amount: '12.34' }], shanghai(`${date}T08:00:00`));
    const fixed = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai(`${date}T08:01:00`));
    const fine = await pay([{ itemCode: ITEMS.fine, amount: '0.01' }], shanghai(`${date}T08:02:00`));
    const accepted = await pay([{ itemCode: ITEMS.sharedFee, amount: '1.11' }], shanghai(`${date}T08:03:00`));
    const held = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai(`${date}T08:04:00`));
    const unmatched = await pay([{ itemCode: ITEMS.fine, amount: '99.00' }], shanghai(`${date}T08:05:00`));
    void unmatched;

    // Not reconciled yet: nothing settles.
    service.clocks.business.set(new Date(shanghai('2026-11-21T03:00:00')));
    expect(await runSettle()).toEqual({ instructions: 0 });
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [mixed, fixed, fine, held], accepted: [accepted], held: [held], status: 'UNBALANCED' });

    expect(await runSettle()).toEqual({ instructions: 2 });
    const rows = await instructionsOf(date);
    expect(rows.map((row) => ({ type: row.type, status: row.status, credit: row.credit_account_no, debit: row.debit_account_no, amount: row.amount }))).toEqual([
      { type: 'SETTLEMENT', status: 'CREATED', credit: world.fiscalAccountNo, debit: world.clearingAccountNo, amount: '113.45' },
      { type: 'SETTLEMENT', status: 'CREATED', credit: world.treasuryAccountNo, debit: world.clearingAccountNo, amount: '30.26' },
    ]);
    for (const row of rows) {
      expect(row.instruction_no).toMatch(/^TFS20261121[0-9]{8}$/);
      expect(new Date(row.deadline).toISOString()).toBe('2026-11-22T08:00:00.000Z');
    }

    const fiscal = await agency('GET', `/v1/agency/instructions/${rows[0]!.instruction_no}`);
    expect(fiscal.status).toBe(200);
    expect(fiscal.body).toMatchObject({
      instructionNo: rows[0]!.instruction_no,
      type: 'SETTLEMENT',
      status: 'CREATED',
      businessDate: date,
      amount: '113.45',
      executorCode: world.agency.code,
      debitAccount: { accountNo: world.clearingAccountNo, bankCode: world.bankCode },
      creditAccount: { accountNo: world.fiscalAccountNo, bankCode: world.bankCode },
      reissueOf: null,
      deadline: '2026-11-22T16:00:00+08:00',
      createdAt: '2026-11-21T03:00:00+08:00',
    });
    expect(fiscal.body.lines).toEqual([
      { itemCode: ITEMS.sharedFee, incomeSortCode: '1030402', budgetLevel: 0, amount: '13.45', paymentCount: 2 },
      { itemCode: ITEMS.fixedFee, incomeSortCode: '103040101', budgetLevel: 3, amount: '100.00', paymentCount: 2 },
    ].sort((a, b) => (a.itemCode < b.itemCode ? -1 : 1)));
    const treasury = await agency('GET', `/v1/agency/instructions/${rows[1]!.instruction_no}`);
    expect(treasury.body.lines).toEqual([{ itemCode: ITEMS.fine, incomeSortCode: '1030501', budgetLevel: 4, amount: '30.26', paymentCount: 2 }]);

    // The held and the unmatched payments are in no instruction.
    const settledPayments = (await service.database.db('instruction_payment_items').distinct('payment_id')).map((row) => String(row.payment_id)).sort();
    expect(settledPayments).toEqual([mixed, fixed, fine, accepted].sort());

    // instruction.created to the agency, one per instruction.
    const agencyId = (await service.database.db('parties').where({ app_id: world.agency.appId }).first('id')).id;
    const created = await service.database.db('events').where({ type: 'instruction.created' });
    expect(created.map((event) => [String(event.recipient_party_id), event.data.instruction.instructionNo]).sort()).toEqual(rows.map((row) => [String(agencyId), row.instruction_no]).sort());

    // Reruns at the other slot create nothing.
    service.clocks.business.set(new Date(shanghai('2026-11-21T11:00:00')));
    expect(await runSettle()).toEqual({ instructions: 0 });
    expect(await instructionsOf(date)).toHaveLength(2);

    // The held payment's discrepancy is accepted later: the next run settles it alone.
    await service.database.db('reconciliation_discrepancies').where({ payment_id: held }).update({ status: 'RESOLVED', resolution_action: 'ACCEPT_PLATFORM', resolved_at: new Date() });
    expect(await runSettle()).toEqual({ instructions: 1 });
    const after = await instructionsOf(date);
    expect(after[2]).toMatchObject({ credit_account_no: world.fiscalAccountNo, amount: '50.00' });
    await expectLedgerVerified(service.database.db);
  });

  it('settles nothing of a date whose last run found no statement or is still running', async () => {
    const missing = '2026-11-22';
    service.clocks.business.set(new Date(shanghai(`${missing}T09:00:00`)));
    const payment = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai(`${missing}T08:00:00`));
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: missing, matched: [payment] });
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: missing, status: 'STATEMENT_MISSING' });
    service.clocks.business.set(new Date(shanghai('2026-11-23T03:00:00')));
    expect(await runSettle()).toEqual({ instructions: 0 });
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: missing, status: 'RUNNING' });
    expect(await runSettle()).toEqual({ instructions: 0 });
    expect(await instructionsOf(missing)).toEqual([]);
  });

  it('counts late fees, and takes the agency’s refunds off the items half-up with the remainder on the last', async () => {
    const date = '2026-11-24';
    // Issued when the due date was ahead, paid two days late.
    service.clocks.business.set(new Date(shanghai('2026-11-15T09:00:00')));
    const payCode = await issueNotice(unit, { items: [{ itemCode: ITEMS.fine, amount: '100.00' }, { itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '33.33' }], dueDate: '2026-11-20' });
    service.clocks.business.set(new Date(shanghai(`${date}T09:00:00`)));
    const due = await agency('GET', `/v1/agency/notices/${payCode}`);
    expect(new Decimal(due.body.lateFee as string).gt(0)).toBe(true);
    const agencyTxnId = newTxnId();
    expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt: shanghai(`${date}T08:00:00`), agencyTxnId }))).status).toBe(201);
    const payment = await paymentRowId(service.database.db, agencyTxnId);
    const items = await service.database.db('notice_items').where({ notice_id: (await service.database.db('payments').where({ id: payment }).first()).notice_id }).orderBy('position');
    const earned = items.map((item) => new Decimal(item.amount).plus(item.late_fee_paid ?? 0));
    // A refund the unit asked for and the agency paid (docs/settlement.md §3), written as that capability will.
    const unitId = (await service.database.db('parties').where({ app_id: world.unit.appId }).first('id')).id;
    const financeId = (await service.database.db('parties').where({ app_id: world.finance.appId }).first('id')).id;
    const now = new Date();
    await service.database.db('refunds').insert({
      refund_id: `RF${Date.now()}`, refund_no: 'RN-1', requested_by_party_id: unitId, payment_id: payment, pay_code: payCode, amount: '10.01', reason: '多缴',
      status: 'SUCCEEDED', approval: 'FINANCE', approved_by_party_id: financeId, approved_at: now, created_at: now, updated_at: now, succeeded_at: now,
    });
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [payment] });
    service.clocks.business.set(new Date(shanghai('2026-11-25T03:00:00')));
    expect(await runSettle()).toEqual({ instructions: 2 });
    const stored = await service.database.db('instruction_payment_items').where({ payment_id: payment }).orderBy('line_position');
    const expected = settledItemAmounts(earned.map((value) => ({ earned: value })), new Decimal('10.01'));
    expect(stored.map((row) => row.amount)).toEqual(expected.map((value) => value.toFixed(2)));
    const total = (await instructionsOf(date)).reduce((sum, row) => sum.plus(row.amount), new Decimal(0));
    expect(total.toFixed(2)).toBe(new Decimal(due.body.amountDue as string).minus('10.01').toFixed(2));
  });

  it('refuses a payment item in two live instructions (a database constraint), and frees it when its instruction fails', async () => {
    const [item] = await service.database.db('instruction_payment_items').where({ live: true }).limit(1);
    const [other] = await service.database.db('instructions').whereNot({ id: item.instruction_id }).limit(1);
    await expect(service.database.db('instruction_payment_items').insert({ ...item, instruction_id: other.id })).rejects.toThrow(/instruction_payment_items_live/);
    await expect(service.database.db('instruction_payment_items').insert({ ...item, instruction_id: other.id, live: false })).resolves.toBeDefined();
    await expect(service.database.db('instruction_payment_items').where({ instruction_id: other.id, payment_id: item.payment_id }).delete()).rejects.toThrow(/keeps its money/);
    await expect(service.database.db('instructions').where({ id: other.id }).update({ amount: '1.00' })).rejects.toThrow(/keeps its money/);
  });
});
