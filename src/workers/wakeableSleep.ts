/**
 * A sleep that can be cut short: a background loop sleeps between turns and is woken when there
 * is work (a wake-up that arrives while the loop is busy is kept for its next sleep, so none is
 * lost).
 */
export class WakeableSleep {
  private wakeUp: (() => void) | undefined;
  private requested = false;

  wake(): void {
    this.requested = true;
    this.wakeUp?.();
  }

  sleep(ms: number): Promise<void> {
    if (this.requested) {
      this.requested = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.wakeUp === finish) this.wakeUp = undefined;
        this.requested = false;
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, ms));
      this.wakeUp = finish;
    });
  }
}
