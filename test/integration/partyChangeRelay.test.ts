import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import pino from 'pino';
import { PARTY_CHANGE_CONFIRM_TIMEOUT_MS, relayPartyChanges } from '../../src/partyChangeRelay';

/**
 * The party-change relay between the processes of one instance (decision 0003), with real
 * cluster workers: a change one worker announces is dropped by every other worker and by the main
 * process before the announcer's wait ends; a worker that does not confirm holds it up no longer
 * than the timeout, and both the main process and the announcer say so in the log.
 */
jest.setTimeout(60_000);

type ChildMessage = { test: 'ready' } | { test: 'dropped'; appId: string } | { test: 'announced'; appId: string; ms: number; warnings: string[] };

const root = path.resolve(__dirname, '..', '..');
const workers = new Set<Worker>();
const received: Array<{ worker: number; message: ChildMessage }> = [];
const droppedInMain: string[] = [];
const mainWarnings: string[] = [];

function fork(env: Record<string, string> = {}): Promise<Worker> {
  const worker = cluster.fork(env);
  workers.add(worker);
  worker.on('message', (message: ChildMessage) => received.push({ worker: worker.id, message }));
  worker.once('exit', () => workers.delete(worker));
  return new Promise((resolve) => {
    const onMessage = (message: ChildMessage): void => {
      if (message.test !== 'ready') return;
      worker.off('message', onMessage);
      resolve(worker);
    };
    worker.on('message', onMessage);
  });
}

async function announced(worker: Worker, appId: string): Promise<{ ms: number; warnings: string[] }> {
  worker.send({ test: 'announce', appId });
  for (;;) {
    const found = received.find((entry) => entry.worker === worker.id && entry.message.test === 'announced' && entry.message.appId === appId);
    if (found && found.message.test === 'announced') return found.message;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function droppedBy(appId: string): number[] {
  return received.filter((entry) => entry.message.test === 'dropped' && entry.message.appId === appId).map((entry) => entry.worker).sort();
}

beforeAll(() => {
  cluster.setupPrimary({ exec: path.join(root, 'scripts', 'run.js'), args: [path.join(root, 'test', 'helpers', 'relayWorkerChild.ts')], silent: false });
  const log = pino({ level: 'warn' }, { write: (line: string) => void mainWarnings.push(line) });
  relayPartyChanges(() => workers, (appId) => droppedInMain.push(appId), log);
});

afterAll(async () => {
  await Promise.all([...workers].map((worker) => new Promise<void>((resolve) => {
    worker.once('exit', () => resolve());
    worker.kill('SIGKILL');
  })));
});

it('has every other worker and the main process drop the party before the announcer hears back', async () => {
  const [first, second, third] = await Promise.all([fork(), fork(), fork()]);
  const result = await announced(first as Worker, 'APPID-ONE');
  // Every drop was reported before the answer: IPC messages from one worker arrive in order, and
  // the answer waits for every confirmation, which each worker sends after its drop.
  expect(droppedBy('APPID-ONE')).toEqual([(second as Worker).id, (third as Worker).id].sort());
  expect(droppedInMain).toContain('APPID-ONE');
  expect(result.warnings).toEqual([]);
  expect(result.ms).toBeLessThan(PARTY_CHANGE_CONFIRM_TIMEOUT_MS);
});

it('waits for a worker that does not confirm no longer than the timeout, and logs it on both sides', async () => {
  const deaf = await fork({ RELAY_CHILD_DEAF: '1' });
  const announcer = [...workers].find((worker) => worker !== deaf) as Worker;
  const result = await announced(announcer, 'APPID-TWO');
  expect(result.ms).toBeGreaterThanOrEqual(PARTY_CHANGE_CONFIRM_TIMEOUT_MS - 50);
  expect(result.ms).toBeLessThan(PARTY_CHANGE_CONFIRM_TIMEOUT_MS * 3);
  expect(result.warnings.join('')).toMatch(/not every HTTP worker confirmed a party change in time/);
  expect(mainWarnings.join('')).toMatch(new RegExp(`"worker":${deaf.id}.*did not confirm a party change in time`));
  // The workers that do answer dropped it all the same.
  expect(droppedBy('APPID-TWO').length).toBe(workers.size - 2);
});
