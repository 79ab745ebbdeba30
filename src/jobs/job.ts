import type { Knex } from 'knex';
import type { Db } from '../db/database';
import type { Clocks } from '../domain/clock';
import type { Logger } from '../logger';

/** What a job is given for one run. */
export interface JobContext {
  db: Db;
  clocks: Clocks;
  log: Logger;
  runId: string;
  /** The business date the run works on, when the job has one (operations.md §4). */
  businessDate: string | undefined;
  params: JobParams;
  /**
   * Adds to the run's recorded counts in the caller's transaction, so the counts of work that
   * committed survive a crash with it: a run completed after a crash then records what a clean
   * run would have (quality.md §2). A job that records progress returns the same totals it
   * recorded; the runner adds what earlier, interrupted attempts recorded.
   */
  recordProgress(trx: Db | Knex.Transaction, counts: JobCounts): Promise<void>;
}

export interface JobParams {
  agencyCode?: string;
}

/** Counts a run reports (rows expired, nonces purged…); stored on its job_runs row. */
export type JobCounts = Record<string, number>;

export interface JobDefinition {
  /** The name in the CLI, in TONGFU_CRON_<NAME> (upper case, '-' → '_') and in job_runs. */
  name: string;
  /** node-cron expression in Asia/Shanghai. */
  defaultSchedule: string;
  /** The business date a run that starts at `businessNow` works on; omit for jobs without one. */
  businessDateFor?(businessNow: Date): string;
  /**
   * Does the work. Must be idempotent: a run interrupted by a crash is run again from the start,
   * and rerunning a finished run must change nothing.
   */
  run(context: JobContext): Promise<JobCounts>;
}
