import { findRefundsByRowIds, firstInstructedPayee, lockRefundInstructionsOfPayment, refundInstructionsIn } from '../../src/db/repositories/refunds';
import { buildWorld } from '../helpers/builders';
import { copyPayments, unappliedRefundTemplates } from '../helpers/ledgerScale';
import { shanghai } from '../helpers/payments';
import { rowsReadInTransaction } from '../helpers/tableReads';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * A refund's instructions are found by index (migration 20261211000200,
 * contracts/decisions/0216-resolved-discrepancies-by-index.md): every read of a refund names its
 * newest instruction, and its use cases lock its instructions, by `instructions.refund_id`.
 * Without the index each lookup scanned every instruction ever written, and a page of 100 refunds
 * scanned them 100 times.
 *
 * No clock: inside one transaction, PostgreSQL's own count of the rows read from `instructions`
 * (pg_stat_xact_user_tables) must stay below two whole scans of the table (84,315 rows read
 * without the index, 1,426 with it, for 803 refund instructions).
 */

const COPIES = 400;
const PAGE = 100;

let service: TestService;
const db = () => service.database.db;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-17T08:00:00')) });
  const world = await buildWorld(service);
  const templates = await unappliedRefundTemplates(service, world, { day: '2026-11-17', next: '2026-11-18' });
  await copyPayments(db(), [templates.instructed, templates.succeeded], COPIES);
}, 120_000);

afterAll(async () => {
  await service.close();
});


it('reads a page of refunds, and locks a refund’s instructions, without scanning every instruction', async () => {
  const instructions = Number((await db()('instructions').whereNotNull('refund_id').count<Array<{ count: string }>>({ count: '*' }))[0]?.count);
  expect(instructions).toBeGreaterThanOrEqual(2 * COPIES);
  const refunds = await db()('refunds as r').join('instructions as i', 'i.refund_id', 'r.id').orderBy('r.id').limit(PAGE).select<Array<{ id: string; payment_id: string }>>(db().raw('r.id::text AS id, r.payment_id::text AS payment_id'));
  expect(refunds).toHaveLength(PAGE);

  await db().transaction(async (trx) => {
    const before = await rowsReadInTransaction(trx, 'instructions');
    const read = await findRefundsByRowIds(trx, refunds.map((refund) => refund.id));
    expect(read).toHaveLength(PAGE);
    expect(read.every((refund) => refund.instruction_no !== null)).toBe(true);
    const [first] = refunds as [{ id: string; payment_id: string }];
    expect(await refundInstructionsIn(trx, first.id, ['CREATED', 'EXECUTED', 'CONFIRMED'])).not.toHaveLength(0);
    expect(await lockRefundInstructionsOfPayment(trx, first.payment_id)).not.toHaveLength(0);
    await firstInstructedPayee(trx, first.id);
    // A join may still scan this small table once where the planner finds that cheaper; a scan per refund read reads it 100 times over.
    expect((await rowsReadInTransaction(trx, 'instructions')) - before).toBeLessThan(2 * instructions);
  });
});
