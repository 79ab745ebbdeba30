import type { Db, Queryable } from '../db/database';
import type { RunCounts } from '../db/repositories/jobRuns';
import type { Clocks } from '../domain/clock';
import type { Logger } from '../logger';

/** What a job is given for one run. */
export interface JobContext {
  db: Db;
  clocks: Clocks;
  log: Logger;
  runId: string;
  /** The business date the run works on, when the job has one (docs/operations.md §4). */
  businessDate: string | undefined;
  params: JobParams;
  /**
   * Adds to the run's recorded counts in the caller's transaction, so the counts of work that
   * committed survive a crash with it: a run completed after a crash then records what a clean
   * run would have (docs/quality.md §2). A job that records progress returns the same totals it
   * recorded; the runner adds what earlier, interrupted attempts recorded.
   */
  recordProgress(trx: Queryable, counts: JobCounts): Promise<void>;
  /**
   * Runs `work` while holding the lock of (agency, business date) that every job and request
   * working on that pair shares (docs/reconciliation.md §2), on a dedicated connection, so `work`
   * may commit as many transactions as it likes. Work done in one transaction can instead take
   * the lock inside it (src/db/repositories/agencyDateLocks.ts).
   */
  withAgencyDateLock<T>(agencyCode: string, businessDate: string, work: () => Promise<T>): Promise<T>;
}

export interface JobParams {
  agencyCode?: string;
  /** The statement an upload's run works on. */
  statementId?: string;
}

/** Counts a run reports (rows expired, nonces purged…); stored on its job_runs row. */
export type JobCounts = RunCounts;

/**
 * Which missed slots the start-up catch-up runs (docs/operations.md §4): `latest` runs the latest
 * slot if it has no finished run (one run brings the job up to date: expiring notices, purging
 * nonces); `every` runs each missed slot since the job's history began, oldest first, each on its
 * own business date (a job whose dates must be contiguous, like the daily close). Both are bounded
 * by the scheduler's limits.
 */
export type CatchUpMode = 'latest' | 'every';

export interface JobDefinition {
  /** The name in the CLI, in TONGFU_CRON_<NAME> (upper case, '-' → '_') and in job_runs. */
  name: string;
  /** node-cron expressions in Asia/Shanghai; the job runs at each (`TONGFU_CRON_<NAME>` replaces them). */
  defaultSchedules: readonly string[];
  catchUp: CatchUpMode;
  /** The business date a run that starts at `businessNow` works on; omit for jobs without one. */
  businessDateFor?(businessNow: Date): string;
  /**
   * The latest business date a run may be asked for at `businessNow` (`job run --date`); a later
   * one is refused before the run starts. Omit when any date may be asked for.
   */
  latestBusinessDate?(businessNow: Date): string;
  /**
   * Does the work. Must be idempotent: a run interrupted by a crash is run again from the start,
   * and rerunning a finished run must change nothing.
   */
  run(context: JobContext): Promise<JobCounts>;
}
