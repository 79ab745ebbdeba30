/**
 * The clocks. Domain rules never read the system time: they are given a `Clock`.
 *
 * Two clocks exist on purpose. The *business* clock decides dates, late fees, expiry and which
 * business date a job works on, and `TONGFU_CLOCK` may move it (tests, the sandbox). The *real*
 * clock checks signature timestamps and nonce windows and drives callback retries, and nothing
 * moves it — a moved clock must never open a replay window.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(instant: Date): Clock {
  const at = new Date(instant.getTime());
  return { now: () => new Date(at.getTime()) };
}

export function offsetClock(base: Clock, offsetMs: number): Clock {
  return { now: () => new Date(base.now().getTime() + offsetMs) };
}

/** A clock tests can move by hand. */
export class ManualClock implements Clock {
  private currentMs: number;

  constructor(start: Date) {
    this.currentMs = start.getTime();
  }

  now(): Date {
    return new Date(this.currentMs);
  }

  set(instant: Date): void {
    this.currentMs = instant.getTime();
  }

  advance(deltaMs: number): void {
    this.currentMs += deltaMs;
  }
}

/** The pair every service is given. */
export interface Clocks {
  business: Clock;
  real: Clock;
}
