import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logger';

/**
 * Party changes across the processes of one instance (decisions 0003 and 0004). Each HTTP worker
 * caches parties; the worker that commits a change (a party disabled, a key retired) drops its
 * own entry, then announces the change through the main process to every other worker and waits
 * for each to confirm it dropped the entry too, before the change is answered. So once finance
 * hears "done", no process of this instance accepts the retired key or the disabled party.
 *
 * A worker that does not confirm within PARTY_CHANGE_CONFIRM_TIMEOUT_MS (hung, or exiting) does
 * not hold the change up: the 5-second cache bound still applies to it, and the delay is logged.
 * Other instances are covered by that bound alone (decision 0003).
 */
export const PARTY_CHANGE_CONFIRM_TIMEOUT_MS = 1_000;
/** How much longer the announcer waits than the main process, for the main process's verdict. */
const RELAY_MARGIN_MS = 250;

const CHANGED = 'tongfu:party-changed';
const CONFIRMED = 'tongfu:party-change-confirmed';

interface ChangedMessage {
  type: typeof CHANGED;
  appId: string;
  id: number;
}

interface ConfirmedMessage {
  type: typeof CONFIRMED;
  id: number;
  /** To the announcer: false when some worker did not confirm in time. */
  everyWorker?: boolean;
}

/**
 * A send whose failure (the other process exiting meanwhile) is not an 'error' event that would
 * take this process down: the unconfirmed wait simply runs out.
 */
function sendQuietly(send: (message: ChangedMessage | ConfirmedMessage, callback: (error: Error | null) => void) => boolean, message: ChangedMessage | ConfirmedMessage): void {
  send(message, () => undefined);
}

function isChanged(message: unknown): message is ChangedMessage {
  const candidate = message as Partial<ChangedMessage> | null;
  return typeof candidate === 'object' && candidate !== null && candidate.type === CHANGED && typeof candidate.appId === 'string' && typeof candidate.id === 'number';
}

function isConfirmed(message: unknown): message is ConfirmedMessage {
  const candidate = message as Partial<ConfirmedMessage> | null;
  return typeof candidate === 'object' && candidate !== null && candidate.type === CONFIRMED && typeof candidate.id === 'number' && (candidate.everyWorker === undefined || typeof candidate.everyWorker === 'boolean');
}

/** Waits for confirmations by id; each wait ends on its confirmation or after the timeout. */
class Confirmations {
  private nextId = 1;
  private readonly waiting = new Map<number, (verdict: boolean) => void>();

  /**
   * Answers a fresh id and a promise that resolves with the confirmation's verdict (true when it
   * carries none), or false on timeout.
   */
  expect(timeoutMs: number): { id: number; confirmed: Promise<boolean> } {
    const id = this.nextId++;
    const confirmed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, (verdict) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(verdict);
      });
    });
    return { id, confirmed };
  }

  confirm(message: ConfirmedMessage): void {
    this.waiting.get(message.id)?.(message.everyWorker ?? true);
  }
}

/**
 * In an HTTP worker: `invalidate` is called for every change another worker announces (then the
 * change is confirmed); the answer is the worker's own `announce`, for its party service.
 */
export function workerPartyChanges(invalidate: (appId: string) => void, log: Logger): (appId: string) => Promise<void> {
  const confirmations = new Confirmations();
  process.on('message', (message: unknown) => {
    if (isChanged(message)) {
      invalidate(message.appId);
      if (process.send) sendQuietly(process.send.bind(process), { type: CONFIRMED, id: message.id });
    } else if (isConfirmed(message)) {
      confirmations.confirm(message);
    }
  });
  return async (appId) => {
    if (!process.send || !process.connected) return;
    // A little longer than the main process waits for the others, so its verdict arrives first.
    const { id, confirmed } = confirmations.expect(PARTY_CHANGE_CONFIRM_TIMEOUT_MS + RELAY_MARGIN_MS);
    sendQuietly(process.send.bind(process), { type: CHANGED, appId, id });
    if (!(await confirmed)) log.warn({ appId }, 'not every HTTP worker confirmed a party change in time; the others drop it within 5 s');
  };
}

/**
 * In the main process: relays each change a worker announces to every other live worker, and
 * confirms it to the announcer once they all confirmed (or the timeout passed). `invalidate`
 * drops the party in the main process's own cache.
 */
export function relayPartyChanges(workers: () => Iterable<Worker>, invalidate: (appId: string) => void, log: Logger): void {
  const confirmations = new Confirmations();
  cluster.on('message', (from: Worker, message: unknown) => {
    if (isConfirmed(message)) {
      confirmations.confirm(message);
      return;
    }
    if (!isChanged(message)) return;
    invalidate(message.appId);
    const others = [...workers()].filter((worker) => worker !== from && !worker.isDead() && worker.isConnected());
    const waits = others.map(async (worker) => {
      const { id, confirmed } = confirmations.expect(PARTY_CHANGE_CONFIRM_TIMEOUT_MS);
      sendQuietly(worker.send.bind(worker), { type: CHANGED, appId: message.appId, id });
      const ok = await confirmed;
      if (!ok) log.warn({ appId: message.appId, worker: worker.id }, 'an HTTP worker did not confirm a party change in time');
      return ok;
    });
    void Promise.all(waits).then((verdicts) => {
      if (!from.isDead() && from.isConnected()) sendQuietly(from.send.bind(from), { type: CONFIRMED, id: message.id, everyWorker: verdicts.every(Boolean) });
    });
  });
}
