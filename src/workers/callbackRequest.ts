import http from 'node:http';
import https from 'node:https';
import { isAcknowledgement } from '../domain/callbacks';

/**
 * One callback attempt over HTTP: a POST of the exact body bytes, with a deadline, a cap on what
 * is read back, and no redirects. node:http rather than fetch, because fetch follows redirects
 * by default, buffers whole bodies and has no socket-level control of the deadline.
 *
 * Each attempt opens its own connection (`agent: false`): a recipient that hangs holds only its
 * own sockets, and nothing of one attempt (a half-read body, a stalled TLS session) can leak into
 * the next one.
 */
export interface CallbackRequest {
  url: URL;
  body: Buffer;
  /** The X-Tongfu-* signature headers (and any others); Content-Type and Content-Length are set here. */
  headers: Record<string, string>;
  /** Everything — connect, send, the answer's status — must happen within this. */
  timeoutMs: number;
  /** Bytes of the answer read at most; the connection is closed after that. */
  responseBytesMax: number;
  /** Aborts the attempt (the worker is stopping); the result is then `aborted`. */
  signal?: AbortSignal;
}

export interface CallbackResult {
  /** A 2xx arrived within the deadline. */
  delivered: boolean;
  /** The answer's status, or null when none arrived. */
  statusCode: number | null;
  /** From sending to the end of the attempt (answer read, cap reached, error or deadline). */
  latencyMs: number;
  /** What went wrong, for the attempt's record and the operator; null when delivered. */
  error: string | null;
  aborted: boolean;
}

/** Characters of a failed answer's body kept in the attempt's error, for the operator. */
export const RESPONSE_EXCERPT_CHARS_MAX = 200;

const USER_AGENT = 'Tongfu-Callback/1';

export function sendCallback(request: CallbackRequest): Promise<CallbackResult> {
  const startedNs = process.hrtime.bigint();
  const elapsedMs = (): number => Math.round(Number(process.hrtime.bigint() - startedNs) / 1e6);
  return new Promise<CallbackResult>((resolve) => {
    let settled = false;
    let statusCode: number | null = null;
    let location: string | undefined;
    const excerpt: Buffer[] = [];
    let excerptBytes = 0;
    let receivedBytes = 0;

    const finish = (error: string | null, aborted = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      outgoing.destroy();
      const delivered = !aborted && isAcknowledgement(statusCode);
      resolve({ delivered, statusCode, latencyMs: elapsedMs(), error: delivered ? null : (error ?? describeAnswer(statusCode, location, excerpt)), aborted });
    };
    const onAbort = (): void => finish('aborted: the worker stopped', true);

    const transport = request.url.protocol === 'https:' ? https : http;
    const outgoing = transport.request(request.url, {
      method: 'POST',
      agent: false,
      headers: {
        ...request.headers,
        'Content-Type': 'application/json',
        'Content-Length': String(request.body.length),
        'User-Agent': USER_AGENT,
      },
    });
    const timer = setTimeout(() => {
      // A 2xx that arrived in time counts even if its body is still dribbling in.
      finish(statusCode === null ? `no answer within ${request.timeoutMs} ms` : null);
    }, request.timeoutMs);
    if (request.signal?.aborted) {
      onAbort();
      return;
    }
    request.signal?.addEventListener('abort', onAbort, { once: true });

    outgoing.on('response', (response) => {
      statusCode = response.statusCode ?? null;
      const header = response.headers.location;
      location = typeof header === 'string' ? header : undefined;
      response.on('data', (chunk: Buffer) => {
        receivedBytes += chunk.length;
        if (excerptBytes < RESPONSE_EXCERPT_CHARS_MAX * 4) {
          excerpt.push(chunk);
          excerptBytes += chunk.length;
        }
        // Stop reading at the cap: the answer's status is all that counts.
        if (receivedBytes >= request.responseBytesMax) finish(null);
      });
      response.on('end', () => finish(null));
      response.on('error', () => finish(null));
      response.on('aborted', () => finish(null));
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => finish(describeError(error)));
    outgoing.end(request.body);
  });
}

function describeAnswer(statusCode: number | null, location: string | undefined, excerpt: Buffer[]): string {
  if (statusCode === null) return 'no answer';
  if (statusCode >= 300 && statusCode <= 399) return `HTTP ${statusCode}: redirect not followed${location ? ` (Location: ${location.slice(0, RESPONSE_EXCERPT_CHARS_MAX)})` : ''}`;
  const text = Buffer.concat(excerpt).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, RESPONSE_EXCERPT_CHARS_MAX);
  return text === '' ? `HTTP ${statusCode}` : `HTTP ${statusCode}: ${text}`;
}

function describeError(error: NodeJS.ErrnoException): string {
  const code = error.code ? `${error.code}: ` : '';
  return `${code}${error.message}`.slice(0, 500);
}
