import { spawn } from 'node:child_process';
import path from 'node:path';
import { confirmCheckJob, settleJob } from '../../src/jobs/settle';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { startSecondInstance } from '../helpers/instances';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * docs/quality.md §2 for the settle job: SIGKILL in the middle of a settle run, then a rerun,
 * leaves exactly what a clean run does; three instances with every schedule firing create each
 * instruction once.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;

async function pay(items: Array<{ itemCode: string; amount: string }>, paidAt: string): Promise<string> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const due = await agency('GET', `/v1/agency/notices/${payCode}`);
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt, agencyTxnId }))).status).toBe(201);
  return paymentRowId(service.database.db, agencyTxnId);
}

/** What the instructions hold, without row ids or numbers: comparable between runs. */
async function snapshot(): Promise<unknown> {
  const rows = await service.database.db('instructions as i')
    .join('instruction_payment_items as x', 'x.instruction_id', 'i.id')
    .select('i.business_date', 'i.credit_account_no', 'i.amount', 'x.payment_id', 'x.line_position', 'x.amount as item_amount', 'x.live')
    .orderBy(['i.business_date', 'i.credit_account_no', 'x.payment_id', 'x.line_position']);
  return rows.map((row) => ({ ...row, payment_id: String(row.payment_id) }));
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  for (const date of ['2026-11-20', '2026-11-21']) {
    const payments = [
      await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.fine, amount: '3.21' }], shanghai(`${date}T08:00:00`)),
      await pay([{ itemCode: ITEMS.sharedFee, amount: '7.77' }], shanghai(`${date}T08:30:00`)),
    ];
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: payments });
  }
  service.clocks.business.set(new Date(shanghai('2026-11-22T03:00:00')));
});

afterAll(async () => {
  await service.close();
});

describe('settle under crashes and several instances', () => {
  it('SIGKILLed mid-settle (instructions written, not committed), a rerun gives exactly a clean run', async () => {
    const child = spawn(process.execPath, [path.resolve('scripts/run.js'), 'test/helpers/settleCrashChild.ts', service.database.connectionString, '2026-11-22', '2026-11-22T03:00:00+08:00'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('written')) resolve();
      });
      child.once('exit', () => reject(new Error('the child exited before writing')));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await service.database.db('instructions').count('* as n')).toEqual([{ n: '0' }]);

    // Three instances, every schedule firing at once: each instruction is created once.
    const second = await startSecondInstance(service);
    const third = await startSecondInstance(service);
    try {
      const slot = new Date('2026-11-21T19:00:00Z'); // 03:00 on the 22nd in Shanghai
      const outcomes = await Promise.all([service, second, third].map((instance) => instance.runtime.runner.run({ job: settleJob(instance.runtime.services), trigger: 'SCHEDULE', scheduledFor: slot })));
      expect(outcomes.filter((outcome) => outcome.outcome === 'SUCCEEDED').length).toBeGreaterThanOrEqual(1);
      const later = new Date('2026-11-22T03:00:00Z'); // 11:00
      await Promise.all([service, second, third].map((instance) => instance.runtime.runner.run({ job: settleJob(instance.runtime.services), trigger: 'SCHEDULE', scheduledFor: later })));
      await Promise.all([service, second, third].map((instance) => instance.runtime.runner.run({ job: confirmCheckJob(instance.runtime.services), trigger: 'SCHEDULE', scheduledFor: later })));
    } finally {
      await second.close();
      await third.close();
    }
    const rows = await service.database.db('instructions').orderBy('id');
    // Two dates × two receiving accounts, once each; every line of the four payments in one.
    expect(rows.map((row) => `${row.business_date} ${row.credit_account_no}`).sort()).toEqual([
      `2026-11-20 ${world.fiscalAccountNo}`,
      `2026-11-20 ${world.treasuryAccountNo}`,
      `2026-11-21 ${world.fiscalAccountNo}`,
      `2026-11-21 ${world.treasuryAccountNo}`,
    ]);
    expect(await service.database.db('instruction_payment_items').count('* as n')).toEqual([{ n: '6' }]);
    expect(await service.database.db('events').where({ type: 'instruction.created' }).count('* as n')).toEqual([{ n: '4' }]);
    // What a clean run settles: every line of every payment once, for what it earned, under the
    // receiving account it snapshotted; each instruction the sum of its lines.
    const expected = await service.database.db('payments as p')
      .join('notice_items as n', 'n.notice_id', 'p.notice_id')
      .select('p.business_date', 'n.receiving_account_no as credit_account_no', 'p.id as payment_id', 'n.position as line_position', service.database.db.raw('(n.amount + n.late_fee_paid)::text AS item_amount'))
      .orderBy(['p.business_date', 'n.receiving_account_no', 'p.id', 'n.position']);
    const settled = (await snapshot()) as Array<Record<string, unknown>>;
    expect(settled.map((row) => ({ business_date: row.business_date, credit_account_no: row.credit_account_no, payment_id: row.payment_id, line_position: row.line_position, item_amount: row.item_amount, live: row.live }))).toEqual(
      expected.map((row) => ({ ...row, payment_id: String(row.payment_id), live: true })),
    );
    await expectLedgerVerified(service.database.db);
  });
});
