import type { Knex } from 'knex';
import type { JobDefinition } from '../../src/jobs/job';

/**
 * A job for testing the machinery: each execution inserts one row into `test_job_effects`
 * (created on demand), so a test counts executions in the database, not in memory.
 */
export function crashableJob(options: { hang?: boolean; holdMs?: number; name?: string } = {}): JobDefinition {
  return {
    name: options.name ?? 'test-job',
    defaultSchedules: ['*/5 * * * *'],
    catchUp: 'latest',
    businessDateFor: () => '2026-11-26',
    async run({ db, runId }) {
      await db.raw('CREATE TABLE IF NOT EXISTS test_job_effects (id bigserial PRIMARY KEY, run_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())');
      await db('test_job_effects').insert({ run_id: runId });
      if (options.hang) await new Promise(() => undefined);
      if (options.holdMs) await new Promise((resolve) => setTimeout(resolve, options.holdMs));
      return { effects: 1 };
    },
  };
}

/**
 * A job that works through `test_job_work` (rows made by `seedBatchedWork`) in batches, each
 * batch committing its rows and its recorded progress together, as a real job does; with
 * `hangAfterBatches` it stops working after that many batches, for a test to kill it there.
 */
export function batchedJob(options: { batchSize: number; hangAfterBatches?: number; name?: string }): JobDefinition {
  return {
    name: options.name ?? 'test-batched-job',
    defaultSchedules: ['*/5 * * * *'],
    catchUp: 'latest',
    async run({ db, recordProgress }) {
      let done = 0;
      for (let batch = 0; ; batch += 1) {
        if (options.hangAfterBatches !== undefined && batch === options.hangAfterBatches) await new Promise(() => undefined);
        const count = await db.transaction(async (trx) => {
          const result = await trx.raw<{ rowCount: number }>('UPDATE test_job_work SET done = true WHERE id IN (SELECT id FROM test_job_work WHERE NOT done ORDER BY id LIMIT ?)', [options.batchSize]);
          if (result.rowCount > 0) await recordProgress(trx, { done: result.rowCount });
          return result.rowCount;
        });
        done += count;
        if (count < options.batchSize) return { done };
      }
    },
  };
}

export async function seedBatchedWork(db: Knex, items: number): Promise<void> {
  await db.raw('DROP TABLE IF EXISTS test_job_work');
  await db.raw('CREATE TABLE test_job_work (id bigserial PRIMARY KEY, done boolean NOT NULL DEFAULT false)');
  await db.raw('INSERT INTO test_job_work (done) SELECT false FROM generate_series(1, ?)', [items]);
}
