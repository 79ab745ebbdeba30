import type { Knex } from 'knex';

/** One row per run of a scheduled job (docs/operations.md §4); `run_key` makes each run happen once. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE job_runs (
      id            bigserial PRIMARY KEY,
      job           text NOT NULL,
      run_key       text NOT NULL UNIQUE,
      trigger       text NOT NULL CHECK (trigger IN ('SCHEDULE', 'CATCH_UP', 'MANUAL')),
      scheduled_for timestamptz,
      business_date date,
      params        jsonb NOT NULL DEFAULT '{}'::jsonb,
      status        text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
      attempts      integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
      counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
      started_at    timestamptz NOT NULL,
      finished_at   timestamptz,
      error         text,
      instance      text NOT NULL
    );
    CREATE INDEX job_runs_job_started ON job_runs (job, started_at DESC);
    CREATE INDEX job_runs_running ON job_runs (status) WHERE status = 'RUNNING';
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
