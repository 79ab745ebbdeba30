import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Real HTTP servers on 127.0.0.1 that play a party receiving callbacks, each in a behaviour a
 * test can switch at any time: answer 2xx, answer 500, hang without answering, reset the
 * connection, redirect, or stream an endless body. Every request is kept, with its exact body
 * bytes and headers, for the test to verify signatures and count deliveries.
 */
export type ReceiverBehaviour =
  | { kind: 'ok'; status?: number; delayMs?: number }
  | { kind: 'fail'; status: number; body?: string }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'redirect'; location: string }
  | { kind: 'endless'; status: number };

export interface ReceivedCallback {
  method: string;
  /** Path and query as the request line carried them. */
  target: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Parsed JSON body. */
  json: any;
  receivedAtMs: number;
}

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedCallback[];
  behaviour: ReceiverBehaviour;
  /** Bytes written by `endless` answers before the client went away. */
  endlessBytesWritten: number;
  /** Event ids received, in arrival order (with repeats). */
  eventIds(): string[];
  close(): Promise<void>;
}

const ENDLESS_CHUNK = Buffer.alloc(16 * 1024, 'x');
/** An `endless` answer stops by itself after this much, so a broken client cannot hang a test. */
const ENDLESS_BYTES_MAX = 64 * 1024 * 1024;

export async function startReceiver(behaviour: ReceiverBehaviour = { kind: 'ok' }, path = '/callbacks/tongfu?tenant=t1'): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    behaviour,
    endlessBytesWritten: 0,
    eventIds: () => receiver.received.map((callback) => String(callback.json?.eventId)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
      receiver.received.push({ method: request.method ?? '', target: request.url ?? '', headers: request.headers, body, json, receivedAtMs: Date.now() });
      answer(receiver, request, response);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}${path}`;
  return receiver;
}

function answer(receiver: Receiver, request: http.IncomingMessage, response: http.ServerResponse): void {
  const behaviour = receiver.behaviour;
  switch (behaviour.kind) {
    case 'ok': {
      const send = (): void => {
        response.writeHead(behaviour.status ?? 200, { 'content-type': 'text/plain' }).end('ok');
      };
      if (behaviour.delayMs) setTimeout(send, behaviour.delayMs);
      else send();
      return;
    }
    case 'fail':
      response.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end(behaviour.body ?? 'internal error');
      return;
    case 'hang':
      return; // never answers; the socket is destroyed by close()
    case 'reset':
      request.socket.resetAndDestroy();
      return;
    case 'redirect':
      response.writeHead(302, { location: behaviour.location }).end();
      return;
    case 'endless': {
      response.writeHead(behaviour.status, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (!response.destroyed && receiver.endlessBytesWritten < ENDLESS_BYTES_MAX) {
          receiver.endlessBytesWritten += ENDLESS_CHUNK.length;
          if (!response.write(ENDLESS_CHUNK)) {
            response.once('drain', pump);
            return;
          }
        }
        response.end();
      };
      pump();
      return;
    }
  }
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPortUrl(path = '/callbacks'): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}
