import cron, { ScheduledTask } from 'node-cron';
import { ConfigError } from '../config';
import type { Db } from '../db/database';
import * as runs from '../db/repositories/jobRuns';
import type { Clock } from '../domain/clock';
import { assert } from '../domain/errors';
import type { Logger } from '../logger';
import type { JobDefinition } from './job';
import type { JobRunner, RunOutcome } from './runner';

export const SCHEDULE_TIME_ZONE = 'Asia/Shanghai';
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** The most cron expressions one job may have. */
export const SCHEDULES_PER_JOB_MAX = 24;
/** How far back the catch-up looks for missed slots. */
export const CATCH_UP_LOOKBACK_DAYS = 31;
/** The most missed slots one job catches up at one start (the oldest first; the rest wait for the next start or an operator). */
export const CATCH_UP_SLOTS_MAX = 31;
/** Windows, shortest first, in which the latest slot is looked for (forward walks stay short for frequent and rare schedules alike). */
const LATEST_SLOT_WINDOWS_MS = [60 * MINUTE_MS, DAY_MS, 8 * DAY_MS, CATCH_UP_LOOKBACK_DAYS * DAY_MS];

export interface ScheduledJob {
  job: JobDefinition;
  expressions: readonly string[];
}

/** `TONGFU_CRON_<NAME>` of a job. */
export function cronVariable(jobName: string): string {
  return `TONGFU_CRON_${jobName.toUpperCase().replace(/-/g, '_')}`;
}

const SCHEDULE_LIST_FORM =
  'expected one or more node-cron expressions in Asia/Shanghai, separated by ";" (five fields "minute hour day-of-month month weekday", or six with seconds first), e.g. "0 2 * * *;30 6 * * *"';

/** Splits and checks a `;`-separated list of cron expressions; throws naming the variable and the accepted form. */
export function parseScheduleList(variable: string, raw: string): string[] {
  const expressions = raw.split(';').map((part) => part.trim());
  if (expressions.some((expression) => expression === '')) {
    throw new ConfigError(variable, `"${raw}" has an empty entry; ${SCHEDULE_LIST_FORM}`);
  }
  if (expressions.length > SCHEDULES_PER_JOB_MAX) {
    throw new ConfigError(variable, `has ${expressions.length} expressions, at most ${SCHEDULES_PER_JOB_MAX}; ${SCHEDULE_LIST_FORM}`);
  }
  for (const expression of expressions) {
    if (!isCronExpression(expression)) throw new ConfigError(variable, `"${expression}" is not a cron expression; ${SCHEDULE_LIST_FORM}`);
  }
  return [...new Set(expressions)];
}

function isCronExpression(expression: string): boolean {
  try {
    return cron.validate(expression);
  } catch {
    return false;
  }
}

/** The expressions each job runs on: `TONGFU_CRON_<JOB>` or its defaults. Throws naming a bad variable. */
export function resolveSchedules(jobs: JobDefinition[], overrides: Record<string, string>): ScheduledJob[] {
  for (const name of Object.keys(overrides)) {
    if (!jobs.some((job) => job.name === name)) {
      throw new ConfigError(cronVariable(name), `no job is named ${name}; the jobs are ${jobs.map((job) => job.name).join(', ')}`);
    }
  }
  return jobs.map((job) => {
    const override = overrides[job.name];
    const expressions = override === undefined ? parseScheduleList(`${job.name} (default)`, job.defaultSchedules.join(';')) : parseScheduleList(cronVariable(job.name), override);
    return { job, expressions };
  });
}

interface Matcher {
  getNextMatch(date: Date): Date;
}

/**
 * The slots of `expressions` after `afterExclusive` up to `untilInclusive`, oldest first, at most
 * `slotsMax`. It walks node-cron's own matcher forward (the one its tasks fire by), so a slot here
 * is exactly a minute at which the task fires.
 */
export function slotsBetween(expressions: readonly string[], afterExclusive: Date, untilInclusive: Date, slotsMax: number): Date[] {
  const found = new Map<number, Date>();
  for (const expression of expressions) {
    const task = cron.createTask(expression, () => undefined, { timezone: SCHEDULE_TIME_ZONE });
    try {
      const matcher = (task as unknown as { timeMatcher?: Matcher }).timeMatcher;
      assert(matcher !== undefined && typeof matcher.getNextMatch === 'function', 'node-cron exposes its time matcher (node-cron 4.6)');
      let cursor = afterExclusive;
      for (let count = 0; count < slotsMax; count += 1) {
        const next = matcher.getNextMatch(cursor);
        if (next.getTime() > untilInclusive.getTime()) break;
        const slot = Math.floor(next.getTime() / MINUTE_MS) * MINUTE_MS;
        found.set(slot, new Date(slot));
        cursor = next;
      }
    } finally {
      void task.destroy();
    }
  }
  return [...found.values()].sort((a, b) => a.getTime() - b.getTime()).slice(0, slotsMax);
}

/** The latest slot of the expression(s) at or before `now` (minute precision), within the catch-up lookback. */
export function previousSlot(expressions: string | readonly string[], now: Date): Date | undefined {
  const list = typeof expressions === 'string' ? [expressions] : expressions;
  for (const windowMs of LATEST_SLOT_WINDOWS_MS) {
    // A walk from the start of the window: at most one slot a minute, so bounded by the window.
    const slots = slotsBetween(list, new Date(now.getTime() - windowMs), now, Math.ceil(windowMs / MINUTE_MS) + 1);
    const latest = slots[slots.length - 1];
    if (latest) return latest;
  }
  return undefined;
}

/**
 * Fires jobs on the real clock with node-cron, one task per expression. node-cron never catches
 * up on slots missed while no instance ran, so `catchUp()` at start-up runs the slots each job
 * declares it needs (`catchUp` of src/jobs/job.ts); the run key of a slot is the same for the
 * cron firing and the catch-up (and for two expressions that meet on one minute), so either way
 * a slot runs once.
 */
export class Scheduler {
  private tasks: ScheduledTask[] = [];
  private readonly inFlight = new Set<Promise<RunOutcome>>();
  private stopped = false;

  constructor(
    private readonly deps: {
      runner: JobRunner;
      schedules: ScheduledJob[];
      realClock: Clock;
      /** Dates the slots an `every` job catches up (default: the real clock). */
      businessClock?: Clock;
      log: Logger;
      db: Db;
    },
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
    for (const { job, expressions } of this.deps.schedules) {
      for (const expression of expressions) {
        const task = cron.schedule(
          expression,
          (context) => {
            const slot = new Date(Math.floor(context.date.getTime() / MINUTE_MS) * MINUTE_MS);
            this.track(this.deps.runner.run({ job, trigger: 'SCHEDULE', scheduledFor: slot }));
          },
          { timezone: SCHEDULE_TIME_ZONE, name: `${job.name} ${expression}`, noOverlap: true },
        );
        this.tasks.push(task);
      }
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
    for (const scheduled of this.deps.schedules) {
      for (const slot of await this.missedSlots(scheduled)) {
        if (this.stopped) return outcomes;
        outcomes.push(await this.track(this.deps.runner.run({ job: scheduled.job, trigger: 'CATCH_UP', scheduledFor: slot.at, ...(slot.businessDate ? { businessDate: slot.businessDate } : {}) })));
      }
    }
    return outcomes;
  }

  /**
   * The slots a job's catch-up runs, oldest first. `latest`: the latest slot, if it has no
   * finished run or the job has a crashed or failed run to finish (the runner finishes crashed
   * runs before anything new). `every`: each slot within the lookback, from the job's first
   * recorded slot on (a new installation does not run a month of history), that has no finished
   * run; each on the business date of its own slot.
   */
  async missedSlots({ job, expressions }: ScheduledJob): Promise<Array<{ at: Date; businessDate?: string }>> {
    const now = this.deps.realClock.now();
    const latest = previousSlot(expressions, now);
    if (!latest) return [];
    const keyOf = (slot: Date): string => this.deps.runner.runKeyFor({ job, trigger: 'CATCH_UP', scheduledFor: slot });
    if (job.catchUp === 'latest') {
      const done = await runs.succeededRunKeys(this.deps.db, [keyOf(latest)]);
      if (done.has(keyOf(latest)) && !(await runs.hasUnfinishedRun(this.deps.db, job.name))) return [];
      return [{ at: latest }];
    }
    const first = await runs.firstScheduledSlot(this.deps.db, job.name);
    const lookbackStart = new Date(now.getTime() - CATCH_UP_LOOKBACK_DAYS * DAY_MS);
    const candidates = first === undefined ? [latest] : slotsBetween(expressions, new Date(Math.max(first.getTime() - 1, lookbackStart.getTime())), now, CATCH_UP_LOOKBACK_DAYS * 24 * 60);
    const done = await runs.succeededRunKeys(this.deps.db, candidates.map(keyOf));
    const missed = candidates.filter((slot) => !done.has(keyOf(slot)));
    if (missed.length > CATCH_UP_SLOTS_MAX) {
      this.deps.log.warn({ job: job.name, missed: missed.length, caughtUp: CATCH_UP_SLOTS_MAX }, 'more slots were missed than one catch-up runs; the oldest run now, the rest at the next start or by `job run`');
    }
    // A slot's business date is the job's date for the business instant of that slot: the business
    // clock's current offset from the real clock, applied to the slot.
    const businessOffsetMs = (this.deps.businessClock ?? this.deps.realClock).now().getTime() - now.getTime();
    return missed.slice(0, CATCH_UP_SLOTS_MAX).map((slot) => {
      const businessDate = job.businessDateFor?.(new Date(slot.getTime() + businessOffsetMs));
      return businessDate === undefined ? { at: slot } : { at: slot, businessDate };
    });
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
