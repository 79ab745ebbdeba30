import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isAcknowledgement } from '../domain/callbacks';
import type { ResolvedAddress } from '../net/callbackTarget';

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
  /**
   * Connect to this address, not to what the host name resolves to now (the address checked by
   * checkCallbackTarget: no DNS rebinding in between). The URL's host still names the Host
   * header and the TLS server name and certificate.
   */
  pinned?: ResolvedAddress;
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
  /** The first bytes of the answer's body (at most RESPONSE_EXCERPT_BYTES_MAX, whole characters), null when none arrived. */
  responseExcerpt: string | null;
}

/** Bytes of an answer's body kept with the attempt (and in a failed attempt's error), for the operator. */
export const RESPONSE_EXCERPT_BYTES_MAX = 200;

/**
 * `text` cut to at most `bytesMax` bytes of UTF-8 without splitting a character, with NUL (which
 * PostgreSQL's text cannot hold) replaced by U+FFFD.
 */
export function truncateUtf8(text: string, bytesMax: number): string {
  const clean = text.replaceAll('\u0000', '\ufffd');
  if (Buffer.byteLength(clean, 'utf8') <= bytesMax) return clean;
  let bytes = 0;
  let end = 0;
  for (const character of clean) {
    const size = Buffer.byteLength(character, 'utf8');
    if (bytes + size > bytesMax) break;
    bytes += size;
    end += character.length;
  }
  return clean.slice(0, end);
}

/** The answer's first bytes as text: invalid UTF-8 becomes U+FFFD, then the text is cut to the byte cap. */
function excerptOf(chunks: Buffer[], receivedAny: boolean): string | null {
  if (!receivedAny) return null;
  const head = Buffer.concat(chunks).subarray(0, RESPONSE_EXCERPT_BYTES_MAX);
  // A character cut by the byte cap decodes as U+FFFD at the end: drop that one.
  const decoded = new TextDecoder('utf-8', { fatal: false }).decode(head, { stream: true });
  return truncateUtf8(decoded, RESPONSE_EXCERPT_BYTES_MAX);
}

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
      const responseExcerpt = statusCode === null ? null : excerptOf(excerpt, true);
      resolve({ delivered, statusCode, latencyMs: elapsedMs(), error: delivered ? null : (error ?? describeAnswer(statusCode, location, responseExcerpt ?? '')), aborted, responseExcerpt });
    };
    const onAbort = (): void => finish('aborted: the worker stopped', true);

    const transport = request.url.protocol === 'https:' ? https : http;
    const pinned = request.pinned;
    const lookup: LookupFunction | undefined =
      pinned === undefined
        ? undefined
        : (_hostname, options, callback) => {
            if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
            else callback(null, pinned.address, pinned.family);
          };
    const outgoing = transport.request(request.url, {
      method: 'POST',
      agent: false,
      ...(lookup ? { lookup } : {}),
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
        if (excerptBytes < RESPONSE_EXCERPT_BYTES_MAX) {
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

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_RUNS = /[\s\u0000-\u001f\u007f]+/g;

function describeAnswer(statusCode: number | null, location: string | undefined, excerpt: string): string {
  if (statusCode === null) return 'no answer';
  if (statusCode >= 300 && statusCode <= 399) return `HTTP ${statusCode}: redirect not followed${location ? ` (Location: ${truncateUtf8(location, RESPONSE_EXCERPT_BYTES_MAX)})` : ''}`;
  // White space and other control characters become single spaces: the error is one line.
  const text = excerpt.replace(CONTROL_RUNS, ' ').trim();
  return text === '' ? `HTTP ${statusCode}` : `HTTP ${statusCode}: ${text}`;
}

function describeError(error: NodeJS.ErrnoException): string {
  const code = error.code ? `${error.code}: ` : '';
  return truncateUtf8(`${code}${error.message}`, 500);
}
