import { StatementBatcher } from '../../src/db/statementBatcher';

/** contracts/decisions/0173-batched-verification.md: the batching rules, on a fake statement. */

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

it('sends the calls of one turn together and answers each its own output', async () => {
  const batches: number[][] = [];
  const batcher = new StatementBatcher<number, string>(async (inputs) => {
    batches.push(inputs);
    return inputs.map((input) => `answer ${input}`);
  }, { batchMax: 64, inFlightMax: 2 });
  const answers = await Promise.all([1, 2, 3, 4, 5].map((input) => batcher.submit(input)));
  expect(answers).toEqual(['answer 1', 'answer 2', 'answer 3', 'answer 4', 'answer 5']);
  expect(batches).toEqual([[1, 2, 3, 4, 5]]);
});

it('holds calls while inFlightMax batches are out, then sends them together, at most batchMax at a time', async () => {
  const pending: Array<{ inputs: number[]; done: ReturnType<typeof deferred<void>> }> = [];
  const batcher = new StatementBatcher<number, number>(async (inputs) => {
    const done = deferred<void>();
    pending.push({ inputs, done });
    await done.promise;
    return inputs.map((input) => input * 10);
  }, { batchMax: 3, inFlightMax: 1 });
  const first = batcher.submit(1);
  await new Promise((resolve) => setImmediate(resolve));
  expect(pending.map((batch) => batch.inputs)).toEqual([[1]]);
  // Five more arrive while the first batch is out: none is sent.
  const later = [2, 3, 4, 5, 6].map((input) => batcher.submit(input));
  await new Promise((resolve) => setImmediate(resolve));
  expect(pending).toHaveLength(1);
  expect(batcher.batchesInFlight).toBe(1);
  pending[0]!.done.resolve();
  expect(await first).toBe(10);
  await new Promise((resolve) => setImmediate(resolve));
  expect(pending.map((batch) => batch.inputs)).toEqual([[1], [2, 3, 4]]);
  pending[1]!.done.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  expect(pending.map((batch) => batch.inputs)).toEqual([[1], [2, 3, 4], [5, 6]]);
  pending[2]!.done.resolve();
  expect(await Promise.all(later)).toEqual([20, 30, 40, 50, 60]);
  expect(batcher.batchesInFlight).toBe(0);
});

it('rejects every call of a failed batch with its error, and goes on with the next batch', async () => {
  let calls = 0;
  const batcher = new StatementBatcher<string, string>(async (inputs) => {
    calls += 1;
    if (calls === 1) throw new Error('database unavailable');
    return inputs.map((input) => input.toUpperCase());
  }, { batchMax: 10, inFlightMax: 1 });
  const failed = await Promise.allSettled(['a', 'b'].map((input) => batcher.submit(input)));
  expect(failed.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : 'fulfilled'))).toEqual(['database unavailable', 'database unavailable']);
  expect(await batcher.submit('c')).toBe('C');
});

it('refuses a statement that answers another number of outputs than inputs', async () => {
  const batcher = new StatementBatcher<number, number>(async () => [1], { batchMax: 10, inFlightMax: 1 });
  await expect(Promise.all([batcher.submit(1), batcher.submit(2)])).rejects.toThrow(/a batch of 2 answered 1/);
});
