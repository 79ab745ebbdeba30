import { Client } from 'pg';
import type { Db } from '../db/database';
import { claimPendingJobRequest, finishJobRequest, JOB_REQUESTS_CHANNEL, type JobRequestRow } from '../db/repositories/jobRequests';
import type { Clock } from '../domain/clock';
import type { Logger } from '../logger';
import { WakeableSleep } from '../workers/wakeableSleep';
import type { JobDefinition } from './job';
import type { JobRunner, RunOutcome } from './runner';

export interface JobRequestWorkerOptions {
  /** How often the queue is read when no notification arrives (a lost connection, a missed NOTIFY). */
  pollIntervalMs: number;
  /** How long a request waits for another run of the same job to finish before it is left for the next turn. */
  lockWaitMs: number;
  /** The most requests one turn carries out before it sleeps (a named bound on the loop). */
  requestsPerTurnMax: number;
}

const DEFAULT_OPTIONS: JobRequestWorkerOptions = { pollIntervalMs: 5_000, lockWaitMs: 60_000, requestsPerTurnMax: 100 };
const ERROR_CHARS_MAX = 2000;

/**
 * Carries out the job request queue (docs/operations.md §4) in the process that runs jobs
 * (TONGFU_JOBS=on), never in an HTTP worker. A dedicated connection LISTENs on the channel a
 * request notifies when its transaction commits; a poll every `pollIntervalMs` is the fallback.
 *
 * Each request is claimed with FOR UPDATE SKIP LOCKED inside a transaction that stays open while
 * the run goes on and is committed with the request's outcome, so any number of instances each
 * take a different request, and a crash rolls the claim back: the request is pending again and
 * its next run (same run key, `<job>@request:<id>`) completes the interrupted one.
 */
export class JobRequestWorker {
  private readonly options: JobRequestWorkerOptions;
  private readonly sleep = new WakeableSleep();
  private listener: Client | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: { db: Db; connectionString: string; runner: JobRunner; jobs: readonly JobDefinition[]; realClock: Clock; log: Logger },
    options: Partial<JobRequestWorkerOptions> = {},
  ) {
    this.options = { ...DEFAULT_OPTIONS, ...options };
  }

  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  wake(): void {
    this.sleep.wake();
  }

  /** Stops after the request in hand (waiting up to `graceMs`); an unfinished one is pending again for the next start. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.sleep.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop ?? Promise.resolve(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    await this.closeListener();
    this.loop = undefined;
  }

  /** Carries out pending requests until none is left or the turn's bound is reached; returns how many it finished. */
  async drain(): Promise<number> {
    let finished = 0;
    for (let count = 0; count < this.options.requestsPerTurnMax && !this.stopped; count += 1) {
      const outcome = await this.carryOutOne();
      if (outcome === 'NONE' || outcome === 'LOCKED') break;
      finished += 1;
    }
    return finished;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.ensureListening();
      try {
        await this.drain();
      } catch (error) {
        this.deps.log.error({ err: error }, 'job request queue turn failed');
      }
      if (this.stopped) break;
      await this.sleep.sleep(this.options.pollIntervalMs);
    }
  }

  private async carryOutOne(): Promise<'NONE' | 'LOCKED' | 'FINISHED'> {
    return this.deps.db.transaction(async (trx) => {
      const request = await claimPendingJobRequest(trx);
      if (!request) return 'NONE';
      const log = this.deps.log.child({ jobRequestId: request.id, job: request.job, agencyCode: request.agency_code, businessDate: request.business_date });
      const job = this.deps.jobs.find((candidate) => candidate.name === request.job);
      if (!job) {
        log.error('a job request names no job this service has');
        await finishJobRequest(trx, request.id, { status: 'FAILED', jobRunId: null, error: `no job is named ${request.job}`, finishedAt: this.deps.realClock.now() });
        return 'FINISHED';
      }
      const outcome = await this.deps.runner.run({
        job,
        trigger: 'UPLOAD',
        requestId: request.id,
        businessDate: request.business_date,
        params: paramsOf(request),
        lockWaitMs: this.options.lockWaitMs,
      });
      if (outcome.outcome === 'LOCKED') {
        log.info('the job is busy elsewhere; the request waits for the next turn');
        return 'LOCKED';
      }
      await finishJobRequest(trx, request.id, finishOf(outcome, this.deps.realClock.now()));
      return 'FINISHED';
    });
  }

  private async ensureListening(): Promise<void> {
    if (this.listener || this.stopped) return;
    const client = new Client({ connectionString: this.deps.connectionString, application_name: 'tongfu-job-requests' });
    client.on('notification', () => this.sleep.wake());
    client.on('error', (error) => {
      this.deps.log.warn({ err: error }, 'job request listener lost its connection; polling until it is back');
      if (this.listener === client) this.listener = undefined;
    });
    // A connection the server closed: listen again at the next turn.
    client.on('end', () => {
      if (this.listener === client) this.listener = undefined;
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_REQUESTS_CHANNEL}`);
      this.listener = client;
    } catch (error) {
      this.deps.log.warn({ err: error }, 'job request listener could not connect; polling');
      await client.end().catch(() => undefined);
    }
  }

  private async closeListener(): Promise<void> {
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }
}

function paramsOf(request: JobRequestRow): { agencyCode: string; statementId?: string } {
  return request.statement_id === null ? { agencyCode: request.agency_code } : { agencyCode: request.agency_code, statementId: request.statement_id };
}

function finishOf(outcome: Exclude<RunOutcome, { outcome: 'LOCKED' }>, at: Date): { status: 'SUCCEEDED' | 'FAILED'; jobRunId: string; error: string | null; finishedAt: Date } {
  if (outcome.outcome === 'FAILED') return { status: 'FAILED', jobRunId: outcome.runId, error: outcome.error.slice(0, ERROR_CHARS_MAX), finishedAt: at };
  return { status: 'SUCCEEDED', jobRunId: outcome.runId, error: null, finishedAt: at };
}
