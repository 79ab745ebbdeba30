import type { Knex } from 'knex';

/**
 * A run records what started it (docs/operations.md §4): besides the schedule, the start-up
 * catch-up and an operator's `job run`, an upload of a statement now starts a run (`UPLOAD`),
 * executed by the process that runs jobs from the job request queue.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE job_runs DROP CONSTRAINT job_runs_trigger_check;
    ALTER TABLE job_runs ADD CONSTRAINT job_runs_trigger_check CHECK (trigger IN ('SCHEDULE', 'CATCH_UP', 'MANUAL', 'UPLOAD'));
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
