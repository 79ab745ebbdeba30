import type { Logger } from '../logger';
import type { EventService } from '../services/events';
import { WakeableSleep } from './wakeableSleep';

/**
 * Runs the event sequencer continuously on an instance with TONGFU_JOBS=on (see
 * src/services/events.ts for why numbering happens after commit). Every instance runs one; the
 * sequencer's advisory lock lets one number at a time, and an instance that finds the lock taken
 * simply waits for its next turn. A pass that finds nothing to number costs one probe of the
 * small inbox table (contracts/decisions/0120-event-storage.md), so the interval can be short: it is the bound on how long a committed event
 * waits for its number (and so for its callback) when nothing else asks for it.
 */
export interface SequencerLoopOptions {
  intervalMs: number;
  /** The pause after a failed pass (e.g. the database is down) before the next. */
  errorBackoffMs: number;
}

export const DEFAULT_SEQUENCER_LOOP_OPTIONS: SequencerLoopOptions = { intervalMs: 50, errorBackoffMs: 1_000 };

export class EventSequencerLoop {
  private readonly options: SequencerLoopOptions;
  private readonly sleeper = new WakeableSleep();
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly deps: { events: EventService; log: Logger },
    options: Partial<SequencerLoopOptions> = {},
  ) {
    this.options = { ...DEFAULT_SEQUENCER_LOOP_OPTIONS, ...options };
  }

  start(): void {
    if (this.running || this.stopping) return;
    this.running = this.loop();
  }

  /** Stops after the pass in progress, whose transaction is short; `graceMs` bounds the wait. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.sleeper.wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, graceMs))))]);
    clearTimeout(timer);
  }

  /** One pass per turn until stop(); a pass is bounded by the sequencer's own batch limits. */
  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        const result = await this.deps.events.sequence({ wait: false });
        // A pass cut short by its batch limit has more to do: go again without sleeping.
        if (result.more) continue;
      } catch (error) {
        this.deps.log.warn({ err: error }, 'the event sequencer failed; retrying');
        await this.sleeper.sleep(this.options.errorBackoffMs);
        continue;
      }
      await this.sleeper.sleep(this.options.intervalMs);
    }
  }
}
