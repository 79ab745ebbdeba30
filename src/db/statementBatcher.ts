import { assert } from '../domain/errors';

/**
 * Gathers concurrent calls of one statement into batches: one round trip, one statement and one
 * transaction for every call that arrived while the previous batches were in flight
 * (contracts/decisions/0173-batched-verification.md). Nothing waits for company: a call that finds
 * a free slot goes out at the end of the current turn of the event loop, with whatever else
 * arrived in that turn; calls arriving while `inFlightMax` batches are out wait for the first of
 * them to return, then go out together (at most `batchMax` at a time).
 *
 * `run` answers one output per input, in the inputs' order. If it throws, every call of that batch
 * is rejected with the same error (and the other batches are not affected).
 */
export class StatementBatcher<Input, Output> {
  private queue: Array<{ input: Input; resolve: (output: Output) => void; reject: (error: unknown) => void }> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (inputs: Input[]) => Promise<Output[]>,
    private readonly options: { batchMax: number; inFlightMax: number },
  ) {
    assert(Number.isInteger(options.batchMax) && options.batchMax >= 1, 'a batch holds at least one call');
    assert(Number.isInteger(options.inFlightMax) && options.inFlightMax >= 1, 'at least one batch may be in flight');
  }

  submit(input: Input): Promise<Output> {
    return new Promise<Output>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.schedule();
    });
  }

  /** Batches sent and not yet answered (for tests and metrics). */
  get batchesInFlight(): number {
    return this.inFlight;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.inFlightMax || this.queue.length === 0) return;
    this.scheduled = true;
    // The end of this turn: the requests whose bytes arrived together go out together.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.inFlightMax && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchMax);
      this.inFlight += 1;
      void this.send(batch);
    }
  }

  private async send(batch: typeof this.queue): Promise<void> {
    try {
      const outputs = await this.run(batch.map((call) => call.input));
      assert(outputs.length === batch.length, `a batch of ${batch.length} answered ${outputs.length}`);
      batch.forEach((call, index) => call.resolve(outputs[index] as Output));
    } catch (error) {
      for (const call of batch) call.reject(error);
    } finally {
      this.inFlight -= 1;
      this.schedule();
    }
  }
}
