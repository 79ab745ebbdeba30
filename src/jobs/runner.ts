import crypto from 'node:crypto';
import os from 'node:os';
import { Client } from 'pg';
import type { Db, Queryable } from '../db/database';
import { withAgencyDateSessionLock } from '../db/repositories/agencyDateLocks';
import * as runs from '../db/repositories/jobRuns';
import type { RunTrigger } from '../db/repositories/jobRuns';
import type { Clocks } from '../domain/clock';
import type { Logger } from '../logger';
import type { JobCounts, JobDefinition, JobParams } from './job';

export type { RunTrigger };

export interface RunRequest {
  job: JobDefinition;
  trigger: RunTrigger;
  /** The schedule slot a SCHEDULE or CATCH_UP run belongs to (real clock, minute precision). */
  scheduledFor?: Date;
  /** The job request an UPLOAD run carries out (src/jobs/requests.ts). */
  requestId?: string;
  businessDate?: string;
  params?: JobParams;
  /** How long to wait for another instance running the same job; 0 = skip at once. */
  lockWaitMs?: number;
}

export type RunOutcome =
  | { outcome: 'SUCCEEDED'; runId: string; runKey: string; counts: JobCounts; attempts: number }
  | { outcome: 'FAILED'; runId: string; runKey: string; error: string }
  | { outcome: 'ALREADY_DONE'; runId: string; runKey: string }
  | { outcome: 'LOCKED'; runKey: string };

const LOCK_NAMESPACE = 0x7f_0b_10; // a constant first key so our advisory locks never collide with others'
const LOCK_POLL_MS = 200;
/** The longest error message a failed run keeps. */
const ERROR_CHARS_MAX = 2000;

/**
 * Runs jobs exactly once across any number of instances (docs/operations.md §4).
 *
 * The lock is a PostgreSQL session advisory lock on a *dedicated* connection that this runner
 * opens for the run and closes after it — never a pooled connection, where a session lock would
 * stay with whatever request borrows that connection next. If the process dies, the connection
 * dies and the lock goes with it. Under the lock, the `job_runs` row with the run's unique key
 * decides: a finished run is not repeated; a RUNNING row whose owner is gone (we hold the lock,
 * so it is gone) is completed by running the job again, which jobs allow by being idempotent.
 */
/** Counts added key by key. */
export function addCounts(a: JobCounts, b: JobCounts): JobCounts {
  const sum: JobCounts = { ...a };
  for (const [key, value] of Object.entries(b)) sum[key] = (sum[key] ?? 0) + value;
  return sum;
}

export class JobRunner {
  private readonly instance = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;

  constructor(
    private readonly deps: { db: Db; connectionString: string; clocks: Clocks; log: Logger },
  ) {}

  runKeyFor(request: RunRequest): string {
    const parameters = [request.businessDate ?? '', request.params?.agencyCode ?? ''].join('|');
    if (request.trigger === 'MANUAL') return `${request.job.name}@manual:${parameters}:${crypto.randomUUID()}`;
    if (request.trigger === 'UPLOAD') {
      if (!request.requestId) throw new Error('an upload run needs its job request');
      return `${request.job.name}@request:${request.requestId}`;
    }
    if (!request.scheduledFor) throw new Error('a scheduled run needs its slot');
    return `${request.job.name}@${request.scheduledFor.toISOString()}`;
  }

  async run(request: RunRequest): Promise<RunOutcome> {
    const runKey = this.runKeyFor(request);
    const lockClient = new Client({ connectionString: this.deps.connectionString, application_name: `tongfu-job-${request.job.name}` });
    lockClient.on('error', () => undefined);
    await lockClient.connect();
    try {
      if (!(await this.acquireLock(lockClient, request.job.name, request.lockWaitMs ?? 0))) {
        this.deps.log.info({ job: request.job.name, runKey }, 'job is running on another instance; skipped');
        return { outcome: 'LOCKED', runKey };
      }
      await this.completeInterruptedRuns(request.job, runKey);
      return await this.runLocked(request, runKey);
    } finally {
      // Closing the dedicated connection releases the lock even if the unlock is never sent.
      await lockClient.end().catch(() => undefined);
    }
  }

  private async acquireLock(client: Client, jobName: string, waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [LOCK_NAMESPACE, jobName]);
      if (result.rows[0]?.locked) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }

  /** Runs of this job left RUNNING by a crashed instance are finished before anything new. */
  private async completeInterruptedRuns(job: JobDefinition, currentRunKey: string): Promise<void> {
    const interrupted = await runs.findRunningRuns(this.deps.db, job.name, currentRunKey);
    for (const row of interrupted) {
      this.deps.log.warn({ job: job.name, runKey: row.run_key }, 'completing a run interrupted by a crash');
      await this.runLocked(
        { job, trigger: row.trigger, scheduledFor: row.scheduled_for ?? undefined, businessDate: row.business_date ?? undefined, params: row.params },
        row.run_key,
      );
    }
  }

  private async runLocked(request: RunRequest, runKey: string): Promise<RunOutcome> {
    const { db, clocks } = this.deps;
    const job = request.job;
    const businessDate = request.businessDate ?? job.businessDateFor?.(clocks.business.now());
    const existing = await runs.findRunByKey(db, runKey);
    // What earlier attempts of this run committed and recorded (a crashed or failed attempt).
    const earlier: JobCounts = existing?.status === 'SUCCEEDED' ? {} : (existing?.counts ?? {});
    let runId: string;
    let attempts: number;
    if (existing?.status === 'SUCCEEDED') {
      return { outcome: 'ALREADY_DONE', runId: existing.id, runKey };
    } else if (existing) {
      attempts = existing.attempts + 1;
      runId = existing.id;
      await runs.restartRun(db, runId, { attempts, instance: this.instance, startedAt: clocks.real.now() });
    } else {
      attempts = 1;
      runId = await runs.insertRun(db, {
        job: job.name,
        runKey,
        trigger: request.trigger,
        scheduledFor: request.scheduledFor ?? null,
        businessDate: businessDate ?? null,
        params: { ...(request.params ?? {}) },
        startedAt: clocks.real.now(),
        instance: this.instance,
      });
    }
    const log = this.deps.log.child({ job: job.name, jobRunId: runId, businessDate });
    log.info({ runKey, attempts, trigger: request.trigger }, 'job run started');
    try {
      let recorded = earlier;
      const recordProgress = async (trx: Queryable, delta: JobCounts): Promise<void> => {
        recorded = addCounts(recorded, delta);
        await runs.recordRunCounts(trx, runId, recorded);
      };
      const connectionString = this.deps.connectionString;
      const withAgencyDateLock = <T>(agencyCode: string, date: string, work: () => Promise<T>): Promise<T> => withAgencyDateSessionLock(connectionString, agencyCode, date, work);
      const attemptCounts = await job.run({ db, clocks, log, runId, businessDate, params: request.params ?? {}, recordProgress, withAgencyDateLock });
      const counts = addCounts(earlier, attemptCounts);
      await runs.finishRun(db, runId, { status: 'SUCCEEDED', counts, finishedAt: clocks.real.now() });
      log.info({ counts }, 'job run finished');
      return { outcome: 'SUCCEEDED', runId, runKey, counts, attempts };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await runs.finishRun(db, runId, { status: 'FAILED', error: message.slice(0, ERROR_CHARS_MAX), finishedAt: clocks.real.now() }).catch(() => undefined);
      log.error({ err: error }, 'job run failed');
      return { outcome: 'FAILED', runId, runKey, error: message };
    }
  }
}
