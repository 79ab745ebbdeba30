import type { Knex } from 'knex';

/**
 * The job request queue (docs/operations.md §4): a request (an upload) asks for a run of a job on
 * an (agency, business date, statement) in its own transaction; the process that runs jobs picks
 * it up (woken by NOTIFY, polling as a fallback), claims it with FOR UPDATE SKIP LOCKED and runs
 * it. One request per (job, agency, date, statement): asking again returns the same request.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE job_requests (
      id             bigserial PRIMARY KEY,
      job            text NOT NULL,
      agency_code    text NOT NULL,
      business_date  date NOT NULL,
      statement_id   text,
      trigger        text NOT NULL CHECK (trigger IN ('UPLOAD')),
      status         text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
      requested_by   text,
      requested_at   timestamptz NOT NULL,
      job_run_id     bigint REFERENCES job_runs (id),
      finished_at    timestamptz,
      error          text,
      CHECK ((status = 'PENDING') = (finished_at IS NULL))
    );
    CREATE UNIQUE INDEX job_requests_once ON job_requests (job, agency_code, business_date, statement_id) NULLS NOT DISTINCT;
    CREATE INDEX job_requests_pending ON job_requests (id) WHERE status = 'PENDING';
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
