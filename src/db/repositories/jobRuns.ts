import type { Queryable } from '../database';

/**
 * The runs of the nightly jobs (migrations 20261127000001, 20261201000400): one row per run,
 * `run_key` unique so that each scheduled slot, each upload's request and each operator's run
 * happens once (docs/operations.md §4).
 */

/** What started a run: its cron slot, the start-up catch-up, an operator's `job run`, or an upload. */
export const RUN_TRIGGERS = ['SCHEDULE', 'CATCH_UP', 'MANUAL', 'UPLOAD'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

/** Counts a run reports (rows expired, nonces purged…), by name. */
export type RunCounts = Record<string, number>;

export interface InterruptedRunRow {
  run_key: string;
  trigger: RunTrigger;
  scheduled_for: Date | null;
  business_date: string | null;
  params: Record<string, string>;
}

export interface RunRow {
  id: string;
  status: RunStatus;
  attempts: number;
  counts: RunCounts | null;
}

/** Runs of `job` left RUNNING (by a crashed instance), other than `exceptRunKey`, oldest first. */
export async function findRunningRuns(db: Queryable, job: string, exceptRunKey: string): Promise<InterruptedRunRow[]> {
  return db('job_runs')
    .where({ job, status: 'RUNNING' })
    .whereNot({ run_key: exceptRunKey })
    .orderBy('id')
    .select<InterruptedRunRow[]>('run_key', 'trigger', 'scheduled_for', 'business_date', 'params');
}

export async function findRunByKey(db: Queryable, runKey: string): Promise<RunRow | undefined> {
  return db('job_runs').where({ run_key: runKey }).first<RunRow | undefined>('id', 'status', 'attempts', 'counts');
}

export async function insertRun(
  db: Queryable,
  run: { job: string; runKey: string; trigger: RunTrigger; scheduledFor: Date | null; businessDate: string | null; params: Record<string, string>; startedAt: Date; instance: string },
): Promise<string> {
  const [inserted] = await db('job_runs')
    .insert({
      job: run.job,
      run_key: run.runKey,
      trigger: run.trigger,
      scheduled_for: run.scheduledFor,
      business_date: run.businessDate,
      params: JSON.stringify(run.params),
      status: 'RUNNING',
      started_at: run.startedAt,
      instance: run.instance,
    })
    .returning<Array<{ id: string }>>('id');
  return (inserted as { id: string }).id;
}

/** Starts another attempt of a run that crashed or failed. */
export async function restartRun(db: Queryable, id: string, attempt: { attempts: number; instance: string; startedAt: Date }): Promise<void> {
  await db('job_runs').where({ id }).update({ status: 'RUNNING', attempts: attempt.attempts, error: null, instance: attempt.instance, started_at: attempt.startedAt, finished_at: null });
}

/** Records a run's counts so far; called in the transaction of the work they count. */
export async function recordRunCounts(db: Queryable, id: string, counts: RunCounts): Promise<void> {
  await db('job_runs').where({ id }).update({ counts: JSON.stringify(counts) });
}

export async function finishRun(db: Queryable, id: string, finish: { status: 'SUCCEEDED'; counts: RunCounts; finishedAt: Date } | { status: 'FAILED'; error: string; finishedAt: Date }): Promise<void> {
  await db('job_runs')
    .where({ id })
    .update(finish.status === 'SUCCEEDED' ? { status: 'SUCCEEDED', counts: JSON.stringify(finish.counts), finished_at: finish.finishedAt } : { status: 'FAILED', error: finish.error, finished_at: finish.finishedAt });
}

/** Whether `job` has a run that crashed (RUNNING) or failed, which a catch-up must finish. */
export async function hasUnfinishedRun(db: Queryable, job: string): Promise<boolean> {
  return (await db('job_runs').where({ job }).whereIn('status', ['RUNNING', 'FAILED']).first('id')) !== undefined;
}

/** The run keys among `runKeys` whose run SUCCEEDED. */
export async function succeededRunKeys(db: Queryable, runKeys: readonly string[]): Promise<Set<string>> {
  if (runKeys.length === 0) return new Set();
  const rows = await db('job_runs').whereIn('run_key', runKeys).where({ status: 'SUCCEEDED' }).select<Array<{ run_key: string }>>('run_key');
  return new Set(rows.map((row) => row.run_key));
}

/** The earliest slot `job` ever ran for (on schedule or caught up): where its history starts. */
export async function firstScheduledSlot(db: Queryable, job: string): Promise<Date | undefined> {
  const row = await db('job_runs').where({ job }).whereIn('trigger', ['SCHEDULE', 'CATCH_UP']).min<{ first: Date | null }>('scheduled_for as first').first();
  return row?.first ?? undefined;
}
