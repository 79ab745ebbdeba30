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
  return typeof candidate === 'object' && candidate !== null && candidate.type === CONFIRMED && typeof candidate.id === 'number';
}

/** Waits for confirmations by id; each wait ends on its confirmation or after the timeout. */
class Confirmations {
  private nextId = 1;
  private readonly waiting = new Map<number, () => void>();

  /** Answers a fresh id and a promise that resolves true when it is confirmed, false on timeout. */
  expect(): { id: number; confirmed: Promise<boolean> } {
    const id = this.nextId++;
    const confirmed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(false);
      }, PARTY_CHANGE_CONFIRM_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(id, () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(true);
      });
    });
    return { id, confirmed };
  }

  confirm(id: number): void {
    this.waiting.get(id)?.();
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
      confirmations.confirm(message.id);
    }
  });
  return async (appId) => {
    if (!process.send || !process.connected) return;
    const { id, confirmed } = confirmations.expect();
    sendQuietly(process.send.bind(process), { type: CHANGED, appId, id });
    if (!(await confirmed)) log.warn({ appId }, 'the other HTTP workers did not confirm a party change in time; their caches expire within 5 s');
  };
}

/**
 * In the main process: relays each change a worker announces to every other live worker, and
 * confirms it to the announcer once they all confirmed (or the timeout passed). `invalidate`
 * drops the party in the main process's own cache.
 */
export function relayPartyChanges(workers: () => Iterable<Worker>, invalidate: (appId: string) => void): void {
  const confirmations = new Confirmations();
  cluster.on('message', (from: Worker, message: unknown) => {
    if (isConfirmed(message)) {
      confirmations.confirm(message.id);
      return;
    }
    if (!isChanged(message)) return;
    invalidate(message.appId);
    const others = [...workers()].filter((worker) => worker !== from && !worker.isDead() && worker.isConnected());
    const waits = others.map((worker) => {
      const { id, confirmed } = confirmations.expect();
      sendQuietly(worker.send.bind(worker), { type: CHANGED, appId: message.appId, id });
      return confirmed;
    });
    void Promise.all(waits).then(() => {
      if (!from.isDead() && from.isConnected()) sendQuietly(from.send.bind(from), { type: CONFIRMED, id: message.id });
    });
  });
}
