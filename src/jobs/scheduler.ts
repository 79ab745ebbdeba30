import cron, { ScheduledTask } from 'node-cron';
import { ConfigError } from '../config';
import type { Db } from '../db/database';
import type { Clock } from '../domain/clock';
import type { Logger } from '../logger';
import type { JobDefinition } from './job';
import type { JobRunner, RunOutcome } from './runner';

export const SCHEDULE_TIME_ZONE = 'Asia/Shanghai';
const CATCH_UP_LOOKBACK_MINUTES = 8 * 24 * 60;
const MINUTE_MS = 60_000;

export interface ScheduledJob {
  job: JobDefinition;
  expression: string;
}

/** The expression each job runs on: `TONGFU_CRON_<JOB>` or its default. Throws naming a bad variable. */
export function resolveSchedules(jobs: JobDefinition[], overrides: Record<string, string>): ScheduledJob[] {
  for (const name of Object.keys(overrides)) {
    if (!jobs.some((job) => job.name === name)) {
      throw new ConfigError(`TONGFU_CRON_${name.toUpperCase().replace(/-/g, '_')}`, `no job is named ${name}; the jobs are ${jobs.map((job) => job.name).join(', ')} (TONGFU_CRON_<JOB> with the name in capitals and - as _)`);
    }
  }
  return jobs.map((job) => {
    const expression = overrides[job.name] ?? job.defaultSchedule;
    if (!cron.validate(expression)) {
      throw new ConfigError(`TONGFU_CRON_${job.name.toUpperCase().replace(/-/g, '_')}`, `"${expression}" is not a cron expression; give 5 fields (minute hour day-of-month month day-of-week, Asia/Shanghai), e.g. "10 0 * * *", or 6 with seconds first`);
    }
    return { job, expression };
  });
}

/** The latest slot of `expression` at or before `now` (minute precision), within eight days. */
export function previousSlot(expression: string, now: Date): Date | undefined {
  const task = cron.createTask(expression, () => undefined, { timezone: SCHEDULE_TIME_ZONE });
  try {
    let candidate = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
    for (let step = 0; step < CATCH_UP_LOOKBACK_MINUTES; step += 1) {
      if (task.match(new Date(candidate))) return new Date(candidate);
      candidate -= MINUTE_MS;
    }
    return undefined;
  } finally {
    void task.destroy();
  }
}

/**
 * Fires jobs on the real clock with node-cron. node-cron never catches up on slots missed while
 * no instance ran, so `catchUp()` at start-up runs every job whose latest slot has no run; the
 * run key of a slot is the same for the cron firing and the catch-up, so either way it runs once.
 */
export class Scheduler {
  private tasks: ScheduledTask[] = [];
  private readonly inFlight = new Set<Promise<RunOutcome>>();
  private stopped = false;

  constructor(
    private readonly deps: { runner: JobRunner; schedules: ScheduledJob[]; realClock: Clock; log: Logger; db: Db },
  ) {}

  start(): void {
    // node-cron logs through console by default; its notes belong in the JSON log.
    const log = this.deps.log.child({ component: 'node-cron' });
    cron.setLogger({
      info: (message) => log.debug(message),
      warn: (message) => log.warn(message),
      error: (message, error) => log.error({ err: error ?? message }, String(message)),
      debug: () => undefined,
    });
    for (const { job, expression } of this.deps.schedules) {
      const task = cron.schedule(
        expression,
        (context) => {
          const slot = new Date(Math.floor(context.date.getTime() / MINUTE_MS) * MINUTE_MS);
          this.track(this.deps.runner.run({ job, trigger: 'SCHEDULE', scheduledFor: slot }));
        },
        { timezone: SCHEDULE_TIME_ZONE, name: job.name, noOverlap: true },
      );
      this.tasks.push(task);
    }
  }

  /**
   * Runs each job whose latest slot is missing from job_runs, and finishes interrupted runs.
   * `stop()` waits for it like for any run in flight.
   */
  catchUp(): Promise<RunOutcome[]> {
    const work = this.catchUpAll();
    const tracked = work.then(
      () => ({ outcome: 'LOCKED', runKey: 'catch-up' }) as RunOutcome,
      () => ({ outcome: 'LOCKED', runKey: 'catch-up' }) as RunOutcome,
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return work;
  }

  private async catchUpAll(): Promise<RunOutcome[]> {
    const outcomes: RunOutcome[] = [];
    for (const { job, expression } of this.deps.schedules) {
      if (this.stopped) break;
      const slot = previousSlot(expression, this.deps.realClock.now());
      const interrupted = await this.deps.db('job_runs').where({ job: job.name }).whereIn('status', ['RUNNING', 'FAILED']).first('id');
      let missing = false;
      if (slot) {
        const done = await this.deps.db('job_runs').where({ run_key: `${job.name}@${slot.toISOString()}` }).first('status');
        missing = done === undefined || done.status !== 'SUCCEEDED';
      }
      if (!missing && !interrupted) continue;
      if (slot) {
        outcomes.push(await this.track(this.deps.runner.run({ job, trigger: 'CATCH_UP', scheduledFor: slot })));
      }
    }
    return outcomes;
  }

  /**
   * Stops firing and waits up to `graceMs` for runs in flight. A run still going after that is
   * abandoned with the process: its row stays RUNNING and the next start completes it.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const task of this.tasks) await task.destroy();
    this.tasks = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), timeout]);
    clearTimeout(timer);
  }

  private track(run: Promise<RunOutcome>): Promise<RunOutcome> {
    const guarded = run.catch((error: unknown) => {
      this.deps.log.error({ err: error }, 'job run could not start');
      return { outcome: 'LOCKED', runKey: 'unknown' } as RunOutcome;
    });
    this.inFlight.add(guarded);
    void guarded.finally(() => this.inFlight.delete(guarded));
    return guarded;
  }
}
