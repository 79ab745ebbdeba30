import type { JobDefinition } from '../../src/jobs/job';

/**
 * A job for testing the machinery: each execution inserts one row into `test_job_effects`
 * (created on demand), so a test counts executions in the database, not in memory.
 */
export function crashableJob(options: { hang?: boolean; holdMs?: number; name?: string } = {}): JobDefinition {
  return {
    name: options.name ?? 'test-job',
    defaultSchedule: '*/5 * * * *',
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
