import { migrateLatest } from '../../src/db/database';
import { listNoticeItemShares } from '../../src/db/repositories/noticeItemShares';
import { buildWorld, ITEMS, signedAs, World } from '../helpers/builders';
import { startTestService, TestService } from '../helpers/testService';

// The sharing snapshot (docs/settlement.md §4, contracts/decisions/0076): a notice's shared lines
// keep their sharing rule's shares as they were at issue, written by the notice's own insert;
// a later change of the rule never reaches an issued notice; the database refuses edits; and the
// backfill migration gives notices issued before the snapshot existed the rule's current shares.

const START = new Date('2026-12-01T10:00:00+08:00');
const BACKFILL_MIGRATION = '20261201000552_backfill_notice_item_shares.ts';
const RULE = 'SHARE_40_60';

let service: TestService;
let world: World;
let counter = 0;

beforeAll(async () => {
  service = await startTestService({ businessNow: START });
  world = await buildWorld(service);
});
afterAll(async () => {
  await service.close();
});

/** Issues a notice with a level-3 line and a shared (level 0) line; answers its id. */
async function issue(): Promise<string> {
  counter += 1;
  const response = await signedAs(service, world.unit)('POST', '/v1/unit/notices', {
    bizRef: `SHARES-${counter}`,
    noticeType: 1,
    payer: { name: '张三' },
    items: [
      { itemCode: ITEMS.fixedFee, amount: '50.00' },
      { itemCode: ITEMS.sharedFee, amount: '100.00' },
    ],
    dueDate: '2026-12-10',
  });
  expect(response.status).toBe(201);
  const row = await service.database.db('notices').where({ pay_code: response.body.payCode }).first('id');
  return String(row.id);
}

async function putRule(shares: Array<{ budgetLevel: number; ratio: string }>): Promise<void> {
  await world.services.catalogue.putSharingRule(RULE, { name: '区市分成', shares }, world.finance.appId);
}

async function sharesOf(noticeId: string): Promise<Array<[number, number, number, string]>> {
  return (await listNoticeItemShares(service.database.db, [noticeId])).map((share) => [share.line_position, share.position, share.budget_level, share.ratio]);
}

it('snapshots the shared line\'s shares at issue, and a later change of the rule never reaches the notice', async () => {
  const issued = await issue();
  // Only the shared line (position 1) has shares, in the rule's order.
  expect(await sharesOf(issued)).toEqual([
    [1, 0, 2, '0.4000'],
    [1, 1, 3, '0.6000'],
  ]);

  await putRule([{ budgetLevel: 3, ratio: '0.75' }, { budgetLevel: 4, ratio: '0.25' }]);
  try {
    expect(await sharesOf(issued)).toEqual([
      [1, 0, 2, '0.4000'],
      [1, 1, 3, '0.6000'],
    ]);
    // A notice issued after the change snapshots the new shares.
    expect(await sharesOf(await issue())).toEqual([
      [1, 0, 3, '0.7500'],
      [1, 1, 4, '0.2500'],
    ]);
  } finally {
    await putRule([{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.6' }]);
  }
});

it('refuses UPDATE, DELETE and TRUNCATE of the snapshot', async () => {
  const issued = await issue();
  const db = service.database.db;
  await expect(db.raw("UPDATE notice_item_shares SET ratio = 0.5 WHERE notice_id = ?", [issued])).rejects.toThrow(/notice_item_shares is append-only: UPDATE/);
  await expect(db.raw('DELETE FROM notice_item_shares WHERE notice_id = ?', [issued])).rejects.toThrow(/notice_item_shares is append-only: DELETE/);
  await expect(db.raw('TRUNCATE notice_item_shares')).rejects.toThrow(/append-only: TRUNCATE/);
});

it('backfills notices issued before the snapshot existed from the rules as they are now', async () => {
  const db = service.database.db;
  const older = await issue();
  // The state before the snapshot: the notice's shares gone (as superuser, triggers off), the
  // backfill not applied, and the rule changed since the notice was issued.
  await db.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    await trx.raw('DELETE FROM notice_item_shares WHERE notice_id = ?', [older]);
  });
  await db('knex_migrations').where({ name: BACKFILL_MIGRATION }).delete();
  const untouched = await issue();
  await putRule([{ budgetLevel: 1, ratio: '0.1' }, { budgetLevel: 5, ratio: '0.9' }]);
  try {
    expect(await sharesOf(older)).toEqual([]);
    expect(await migrateLatest(db)).toEqual([BACKFILL_MIGRATION]);
    expect(await sharesOf(older)).toEqual([
      [1, 0, 1, '0.1000'],
      [1, 1, 5, '0.9000'],
    ]);
    // A notice that had its snapshot keeps it.
    expect(await sharesOf(untouched)).toEqual([
      [1, 0, 2, '0.4000'],
      [1, 1, 3, '0.6000'],
    ]);
  } finally {
    await putRule([{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.6' }]);
  }
});
