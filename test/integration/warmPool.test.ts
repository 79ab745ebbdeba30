import net from 'node:net';
import { createDb, Db, warmPool } from '../../src/db/database';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * contracts/decisions/0172-warm-pools.md: an HTTP worker opens its connections before it listens
 * and keeps them while idle, so a burst of requests does not open a dozen connections at once.
 */
let database: TestDatabase;
let db: Db | undefined;

beforeAll(async () => {
  database = await createTestDatabase(2);
});

afterEach(async () => {
  await db?.destroy();
  db = undefined;
});

afterAll(async () => {
  await database.drop();
});

async function backendsNamed(applicationName: string): Promise<number> {
  const result = await database.db.raw<{ rows: Array<{ count: number }> }>(
    'SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = ? AND datname = current_database()',
    [applicationName],
  );
  return result.rows[0]!.count;
}

it('opens the connections at once, keeps them in the pool, and serves from them', async () => {
  db = createDb({ connectionString: database.connectionString, poolMax: 10, poolMin: 6, applicationName: 'warm-pool-test' });
  expect(await backendsNamed('warm-pool-test')).toBe(0);
  expect(await warmPool(db, 6)).toBe(6);
  expect(await backendsNamed('warm-pool-test')).toBe(6);
  const pool = (db.client as { pool: { numFree(): number; numUsed(): number } }).pool;
  expect(pool.numFree()).toBe(6);
  expect(pool.numUsed()).toBe(0);
  // Six queries at once are served by the six warm connections: none is opened.
  await Promise.all(Array.from({ length: 6 }, () => db!.raw('SELECT pg_sleep(0.05)')));
  expect(await backendsNamed('warm-pool-test')).toBe(6);
  // The reaper keeps poolMin idle connections: a check after the idle timeout destroys none.
  const tarn = pool as unknown as { idleTimeoutMillis: number; check(): void };
  tarn.idleTimeoutMillis = 0;
  tarn.check();
  expect(pool.numFree()).toBe(6);
});

it('answers the first failure when the server cannot be reached, having opened nothing', async () => {
  // A port nothing listens on: connections are refused at once.
  const port = await new Promise<number>((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
  db = createDb({ connectionString: `postgres://nobody:none@127.0.0.1:${port}/none`, poolMax: 4, poolMin: 4 });
  const started = performance.now();
  await expect(warmPool(db, 4)).rejects.toThrow(/ECONNREFUSED|connect/);
  expect(performance.now() - started).toBeLessThan(5_000);
  expect((db.client as { pool: { numFree(): number } }).pool.numFree()).toBe(0);
});
