import type { Worker } from 'node:cluster';
import http from 'node:http';
import net from 'node:net';
import type { Logger } from './logger';

/**
 * How the HTTP workers share the port (contracts/decisions/0244-connections-to-the-least-busy-worker.md).
 * The main process listens and hands every accepted connection to the worker holding the fewest
 * open connections, ties taken in turn; the worker serves it and says when it closes. Node's own
 * cluster scheduling hands a connection to whichever worker acknowledged its previous one first, so
 * a burst of keep-alive connections arriving while the workers are busy could be split 13 to 19,
 * and the worker with more served every one of its clients more slowly, for as long as they stayed
 * connected.
 */
const CONNECTION = 'tongfu:connection';
const CONNECTION_CLOSED = 'tongfu:connection-closed';
const READY = 'tongfu:http-ready';
const LISTENING = 'tongfu:listening';

interface HandOffMessage {
  type: typeof CONNECTION | typeof CONNECTION_CLOSED | typeof READY | typeof LISTENING;
}

/** Where the main process listens, as a worker learns it (its portal's sandbox calls the service there). */
interface ListeningMessage extends HandOffMessage {
  type: typeof LISTENING;
  address: net.AddressInfo;
}

function isHandOffMessage(message: unknown, type: HandOffMessage['type']): boolean {
  return typeof message === 'object' && message !== null && (message as Partial<HandOffMessage>).type === type;
}

/** The workers' open connections, counted; `pick` answers the one with the fewest, ties in turn. */
export class LeastConnections<Id> {
  private readonly open = new Map<Id, number>();
  private lastPicked: Id | undefined;

  add(id: Id): void {
    if (!this.open.has(id)) this.open.set(id, 0);
  }

  remove(id: Id): void {
    this.open.delete(id);
  }

  opened(id: Id): void {
    const count = this.open.get(id);
    if (count !== undefined) this.open.set(id, count + 1);
  }

  closed(id: Id): void {
    const count = this.open.get(id);
    if (count !== undefined && count > 0) this.open.set(id, count - 1);
  }

  count(id: Id): number | undefined {
    return this.open.get(id);
  }

  /** The id with the fewest open connections; among equals, the first after the one picked last. */
  pick(): Id | undefined {
    const ids = [...this.open.keys()];
    if (ids.length === 0) return undefined;
    const start = this.lastPicked === undefined ? 0 : ids.indexOf(this.lastPicked) + 1;
    let best: Id | undefined;
    let bestCount = Infinity;
    for (let step = 0; step < ids.length; step += 1) {
      const id = ids[(start + step) % ids.length] as Id;
      const count = this.open.get(id) as number;
      if (count < bestCount) {
        best = id;
        bestCount = count;
      }
    }
    this.lastPicked = best;
    return best;
  }
}

/**
 * The main process's side: a listener that never reads a byte (each connection stays paused until
 * its worker resumes it) and the count of each worker's open connections. A worker takes
 * connections once it says it is ready, and none after it exits.
 */
export class ConnectionHandOff {
  readonly listener: net.Server;
  private readonly workers = new Map<number, Worker>();
  private readonly balance = new LeastConnections<number>();

  constructor(private readonly log: Logger) {
    this.listener = net.createServer({ pauseOnConnect: true }, (socket) => this.handOff(socket));
    // A failed accept (out of file descriptors) loses that connection, not the process; a failure
    // to listen is the caller's to report.
    this.listener.on('error', (error) => {
      if (this.listener.listening) this.log.error({ err: error }, 'accepting a connection failed');
    });
  }

  /** Follows a forked worker: resolves when it is ready to take connections. */
  follow(worker: Worker): Promise<void> {
    return new Promise((resolve) => {
      worker.on('message', (message: unknown) => {
        if (isHandOffMessage(message, CONNECTION_CLOSED)) this.balance.closed(worker.id);
        else if (isHandOffMessage(message, READY)) {
          this.workers.set(worker.id, worker);
          this.balance.add(worker.id);
          this.tellAddress(worker);
          resolve();
        }
      });
      worker.once('exit', () => {
        this.workers.delete(worker.id);
        this.balance.remove(worker.id);
      });
    });
  }

  /** Tells every ready worker where the listener listens; call once it listens, before any connection. */
  announceAddress(): void {
    for (const worker of this.workers.values()) this.tellAddress(worker);
  }

  private tellAddress(worker: Worker): void {
    const address = this.listener.address();
    if (address === null || typeof address === 'string') return;
    const message: ListeningMessage = { type: LISTENING, address };
    worker.send(message, undefined, {}, () => undefined);
  }

  private handOff(socket: net.Socket): void {
    const id = this.balance.pick();
    const worker = id === undefined ? undefined : this.workers.get(id);
    if (id === undefined || worker === undefined) {
      // No worker is ready (all exited, another is being started): the client retries.
      socket.destroy();
      return;
    }
    this.balance.opened(id);
    worker.send({ type: CONNECTION }, socket, { keepOpen: false }, (error: Error | null) => {
      if (!error) return;
      // The worker exited meanwhile: this connection is lost, its client retries.
      this.balance.closed(id);
      socket.destroy();
      this.log.warn({ err: error, worker: id }, 'could not hand a connection to an HTTP worker');
    });
  }
}

/**
 * A worker's side: serves each connection the main process hands it on `server`, which never
 * listens itself, and says when each closes. Answers a drain that, on stop, closes the idle
 * connections at once and the busy ones when their responses are sent, and after `limitMs` every
 * connection left.
 */
export function serveHandedConnections(server: http.Server, log: Logger, onAddress: (address: net.AddressInfo) => void): { ready(): void; drain(limitMs: number): Promise<void> } {
  const open = new Set<net.Socket>();
  let draining = false;
  // Node's HTTP server tracks its connections (closeIdleConnections, the request and header
  // timeouts) from its 'listening' event; this server takes its connections from the main process
  // instead of a port, so it is told once that it is serving.
  server.emit('listening');
  const tellClosed = (): void => {
    if (process.connected) process.send?.({ type: CONNECTION_CLOSED }, undefined, {}, () => undefined);
  };
  process.on('message', (message: unknown, socket: unknown) => {
    if (isHandOffMessage(message, LISTENING)) {
      onAddress((message as ListeningMessage).address);
      return;
    }
    if (!isHandOffMessage(message, CONNECTION) || !(socket instanceof net.Socket)) return;
    if (draining) {
      socket.destroy();
      tellClosed();
      return;
    }
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      tellClosed();
    });
    server.emit('connection', socket);
    socket.resume();
  });
  return {
    ready() {
      if (process.connected) process.send?.({ type: READY }, undefined, {}, (error: Error | null) => error && log.error({ err: error }, 'could not tell the main process this worker is ready'));
    },
    async drain(limitMs: number) {
      draining = true;
      const deadline = Date.now() + limitMs;
      // A connection whose response is on its way becomes idle when it is sent, and closes then.
      while (open.size > 0 && Date.now() < deadline) {
        server.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      server.closeAllConnections();
      server.close(() => undefined);
    },
  };
}
