import { agencyDateLockKey, withAgencyDateLock, withAgencyDateSessionLock } from '../../src/db/repositories/agencyDateLocks';
import { createDb, Db } from '../../src/db/database';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * The lock per (agency, business date) (docs/reconciliation.md §2): holders of one pair never
 * overlap, whether they hold it in a transaction or on a dedicated connection, and different pairs
 * never wait for each other. Each holder runs on its own pool, so the holders are real concurrent
 * connections, and records its interval in the database.
 */

let database: TestDatabase;
const pools: Db[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.raw('CREATE TABLE lock_intervals (holder text NOT NULL, pair text NOT NULL, entered timestamptz NOT NULL, left_at timestamptz NOT NULL)');
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.destroy()));
  await database.drop();
});

function pool(): Db {
  const created = createDb({ connectionString: database.connectionString, poolMax: 2 });
  pools.push(created);
  return created;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the pair's lock for `holdMs`, recording when it entered and left (clock_timestamp, so intervals are comparable across connections). */
async function hold(kind: 'transaction' | 'session', holder: string, agencyCode: string, date: string, holdMs: number): Promise<void> {
  const db = pool();
  const work = async (): Promise<void> => {
    const [{ entered }] = (await db.raw('SELECT clock_timestamp() AS entered')).rows;
    await pause(holdMs);
    await db('lock_intervals').insert({ holder, pair: `${agencyCode}|${date}`, entered, left_at: db.raw('clock_timestamp()') });
  };
  if (kind === 'transaction') await withAgencyDateLock(db, agencyCode, date, work);
  else await withAgencyDateSessionLock(database.connectionString, agencyCode, date, work);
}

it('derives a stable 64-bit key per pair', () => {
  expect(agencyDateLockKey('AG01', '2026-11-30')).toBe(agencyDateLockKey('AG01', '2026-11-30'));
  expect(agencyDateLockKey('AG01', '2026-11-30')).not.toBe(agencyDateLockKey('AG01', '2026-12-01'));
  expect(agencyDateLockKey('AG01', '2026-11-30')).not.toBe(agencyDateLockKey('AG02', '2026-11-30'));
  const key = BigInt(agencyDateLockKey('AG01', '2026-11-30'));
  expect(key >= -(2n ** 63n) && key < 2n ** 63n).toBe(true);
});

it('lets no two holders of one pair overlap, in a transaction or on a dedicated connection', async () => {
  await database.db('lock_intervals').delete();
  const kinds = ['transaction', 'session', 'transaction', 'session', 'transaction', 'session'] as const;
  await Promise.all(kinds.map((kind, index) => hold(kind, `${kind}-${index}`, 'AG01', '2026-11-30', 120)));
  const intervals = await database.db('lock_intervals').where({ pair: 'AG01|2026-11-30' }).orderBy('entered').select('holder', 'entered', 'left_at');
  expect(intervals).toHaveLength(kinds.length);
  for (let index = 1; index < intervals.length; index += 1) {
    // Each holder entered only after the one before it had left.
    expect(intervals[index].entered.getTime()).toBeGreaterThanOrEqual(intervals[index - 1].left_at.getTime());
  }
});

it('does not make different pairs wait for each other', async () => {
  await database.db('lock_intervals').delete();
  const holdMs = 600;
  const started = Date.now();
  await Promise.all([
    hold('transaction', 'a', 'AG01', '2026-11-30', holdMs),
    hold('session', 'b', 'AG01', '2026-12-01', holdMs),
    hold('transaction', 'c', 'AG02', '2026-11-30', holdMs),
    hold('session', 'd', 'AG02', '2026-12-01', holdMs),
  ]);
  const intervals = await database.db('lock_intervals').select('entered', 'left_at');
  expect(intervals).toHaveLength(4);
  // All four held their locks at one moment: the latest entry precedes the earliest exit.
  const latestEntry = Math.max(...intervals.map((row) => row.entered.getTime()));
  const earliestExit = Math.min(...intervals.map((row) => row.left_at.getTime()));
  expect(latestEntry).toBeLessThan(earliestExit);
  expect(Date.now() - started).toBeLessThan(4 * holdMs);
});

it('releases a transaction holder at rollback and a session holder when its work throws', async () => {
  const db = pool();
  await expect(withAgencyDateLock(db, 'AG03', '2026-11-30', async () => {
    throw new Error('refused');
  })).rejects.toThrow('refused');
  await expect(withAgencyDateSessionLock(database.connectionString, 'AG03', '2026-11-30', async () => {
    throw new Error('refused');
  })).rejects.toThrow('refused');
  // Free again at once: a try-lock from another connection succeeds.
  const locked = await pool().transaction(async (trx) => (await trx.raw('SELECT pg_try_advisory_xact_lock(?::bigint) AS locked', [agencyDateLockKey('AG03', '2026-11-30')])).rows[0].locked);
  expect(locked).toBe(true);
});
