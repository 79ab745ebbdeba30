import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { TurnBatchedOutput } from '../../src/logger';

// The service's default log destination writes once per turn of the event loop (decision 0243): what was logged
// before the process exits must still all arrive, in order and redacted.
const ROOT = path.resolve(__dirname, '../..');

function logThenExit(lines: number, exitCode: number): { status: number | null; records: Array<Record<string, unknown>> } {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts/run.js'), path.join(ROOT, 'test/fixtures/logger/logThenExit.ts')], {
    cwd: ROOT,
    env: { ...process.env, LINES: String(lines), EXIT_CODE: String(exitCode) },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const records = result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { status: result.status, records };
}

describe('the default log destination', () => {
  it.each([
    [1, 0],
    [20_000, 0],
    [20_000, 3],
  ])('writes all of %i lines logged just before process.exit(%i), in order, redacted', (lines, exitCode) => {
    const { status, records } = logThenExit(lines, exitCode);
    expect(status).toBe(exitCode);
    expect(records).toHaveLength(lines);
    records.forEach((record, index) => {
      expect(record.index).toBe(index);
      expect(record.payer).toBe('[REDACTED]');
    });
  }, 60_000);
});

describe('TurnBatchedOutput', () => {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('writes the lines of one turn of the event loop with one write, and each later turn with its own', async () => {
    const writes: string[] = [];
    const output = new TurnBatchedOutput({ write: (text: string) => writes.push(text) });
    output.write('a\n');
    output.write('b\n');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['a\nb\n']);
    output.write('c\n');
    await nextTurn();
    await nextTurn();
    expect(writes).toEqual(['a\nb\n', 'c\n']);
    output.flush();
    expect(writes).toHaveLength(2);
  });

  it('drops lines past its bound and says how many in the next write', async () => {
    const writes: string[] = [];
    const output = new TurnBatchedOutput({ write: (text: string) => writes.push(text) }, 10);
    output.write('12345678\n');
    output.write('dropped\n');
    output.write('dropped\n');
    await nextTurn();
    expect(writes).toHaveLength(1);
    const [kept, notice] = writes[0]!.split('\n');
    expect(kept).toBe('12345678');
    expect(JSON.parse(notice!)).toMatchObject({ level: 'warn', droppedLines: 2 });
  });
});
