import { withParallelWorkersFree } from '../../src/db/database';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/**
 * contracts/decisions/0185-parallel-classification.md: one statement of a transaction runs with
 * parallel workers costed free; the statements after it plan with the server's costs again, and a
 * failing statement's own error reaches the caller.
 */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase(2);
});

afterAll(async () => {
  await database.drop();
});

async function costs(trx: Parameters<Parameters<TestDatabase['db']['transaction']>[0]>[0]): Promise<[string, string]> {
  const setup = await trx.raw<{ rows: Array<{ parallel_setup_cost: string }> }>('SHOW parallel_setup_cost');
  const tuple = await trx.raw<{ rows: Array<{ parallel_tuple_cost: string }> }>('SHOW parallel_tuple_cost');
  return [setup.rows[0]!.parallel_setup_cost, tuple.rows[0]!.parallel_tuple_cost];
}

it('costs parallel workers free for the work only, then restores the server’s costs', async () => {
  await database.db.transaction(async (trx) => {
    const before = await costs(trx);
    const during = await withParallelWorkersFree(trx, () => costs(trx));
    expect(during).toEqual(['0', '0']);
    expect(await costs(trx)).toEqual(before);
  });
});

it('throws the work’s own error, not one from restoring the costs in the aborted transaction', async () => {
  await expect(
    database.db.transaction(async (trx) => {
      await withParallelWorkersFree(trx, () => trx.raw('SELECT 1 / 0'));
    }),
  ).rejects.toThrow(/division by zero/);
});
