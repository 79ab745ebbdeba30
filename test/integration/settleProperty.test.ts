import { settleJob } from '../../src/jobs/settle';
import { confirmInstructionByPosting, reissueInstruction } from '../../src/services/instructions';
import { Decimal } from '../../src/domain/money';
import { formatInstant } from '../../src/domain/businessDate';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * A property over random reconciled days (docs/quality.md): whatever is matched, accepted, held or
 * left unmatched, and whatever then happens to the instructions (executed, confirmed, failed and
 * reissued), the live instructions hold exactly the settleable money, no payment line is in two,
 * and `ledger verify` passes — the instructions tie to the ledger.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let seed = 20261202;
function random(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
}
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  await service.close();
});

it('live instructions hold exactly the settleable money and tie to the ledger, over random days', async () => {
  const settleable = new Map<string, Decimal>();
  for (let day = 0; day < 3; day += 1) {
    const date = `2026-11-${String(20 + day).padStart(2, '0')}`;
    const groups: Record<'matched' | 'accepted' | 'held' | 'unmatched', string[]> = { matched: [], accepted: [], held: [], unmatched: [] };
    const count = 3 + Math.floor(random() * 4);
    for (let k = 0; k < count; k += 1) {
      const items = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        pick([
          { itemCode: ITEMS.fixedFee, amount: '50.00' },
          { itemCode: ITEMS.fine, amount: (1 + Math.floor(random() * 99_999) / 100).toFixed(2) },
          { itemCode: ITEMS.sharedFee, amount: (1 + Math.floor(random() * 40_000) / 100).toFixed(2) },
        ]),
      );
      const paidAt = new Date(shanghai(`${date}T08:00:00`).replace('08:00:00', `08:${String(k * 5).padStart(2, '0')}:00`));
      service.clocks.business.set(new Date(paidAt.getTime() - 60_000));
      const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
      service.clocks.business.set(new Date(paidAt.getTime() + 60_000));
      const due = await agency('GET', `/v1/agency/notices/${payCode}`);
      const agencyTxnId = newTxnId();
      expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt: paidAt.toISOString(), agencyTxnId }))).status).toBe(201);
      const id = await paymentRowId(service.database.db, agencyTxnId);
      const kind = pick(['matched', 'matched', 'accepted', 'held', 'unmatched'] as const);
      groups[kind].push(id);
      if (kind === 'matched' || kind === 'accepted') settleable.set(id, new Decimal(due.body.amountDue as string));
    }
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [...groups.matched, ...groups.held], accepted: groups.accepted, held: groups.held, status: pick(['BALANCED', 'UNBALANCED'] as const) });
    service.clocks.business.set(new Date(shanghai(`2026-11-${String(21 + day).padStart(2, '0')}T03:00:00`)));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });

    // Random fates for the day's instructions.
    const rows = await service.database.db('instructions').where({ business_date: date, status: 'CREATED' });
    for (const row of rows) {
      const fate = pick(['none', 'executed', 'confirmed', 'executedConfirmed', 'failed'] as const);
      const report = (status: 'EXECUTED' | 'FAILED') =>
        agency('POST', `/v1/agency/instructions/${row.instruction_no}/result`, { status, executedAt: formatInstant(service.clocks.business.now()), reference: `R${row.id}`, ...(status === 'FAILED' ? { failureReason: '退回' } : {}) });
      if (fate === 'executed' || fate === 'executedConfirmed') expect((await report('EXECUTED')).status).toBe(200);
      if (fate === 'confirmed' || fate === 'executedConfirmed') {
        await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: String(row.id), postingRowId: '1', amount: row.amount, at: service.clocks.business.now() }));
      }
      if (fate === 'failed') {
        expect((await report('FAILED')).status).toBe(200);
        if (random() < 0.5) await service.database.db.transaction((trx) => reissueInstruction(trx, { instructionRowId: String(row.id), actor: world.finance.appId, now: service.clocks.business.now() }));
      }
    }

    // The live instructions (and the FAILED ones awaiting reissue) hold exactly the settleable money.
    const failedUnreissued = await service.database.db('instructions as i').where('i.status', 'FAILED').whereNotExists((q) => void q.select(1).from('instructions as r').whereRaw('r.reissue_of = i.id')).sum('amount as s');
    const live = await service.database.db('instructions').whereNot({ status: 'FAILED' }).sum('amount as s');
    const total = [...settleable.values()].reduce((sum, value) => sum.plus(value), new Decimal(0));
    expect(new Decimal(live[0]?.s ?? 0).plus(failedUnreissued[0]?.s ?? 0).toFixed(2)).toBe(total.toFixed(2));
    const doubled = await service.database.db('instruction_payment_items').where({ live: true }).groupBy('payment_id', 'line_position').havingRaw('count(*) > 1').select('payment_id');
    expect(doubled).toEqual([]);
    await expectLedgerVerified(service.database.db);
  }
});
