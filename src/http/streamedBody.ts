import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import type Koa from 'koa';

import { BodyDigester, BodyDigests } from '../crypto/bodyDigests';
import { assert, FieldProblem, TongfuError } from '../domain/errors';
import type { Logger } from '../logger';
import type { StreamedAuthentication, StreamedRequestAuthenticator } from '../services/authentication';
import { declaresUtf8OrNoCharset, mediaType } from './body';
import type { AuthenticatedParty, PartyRole } from '../domain/access';
import type { Reply } from './call';
import { Contract, describeErrors } from './contract';

/**
 * Signed uploads of large files (docs/interface.md §1–§3, docs/reconciliation.md §1;
 * contracts/decisions/0070-streamed-signed-uploads.md).
 *
 * A streamed route never holds its body in memory. The body is hashed as it arrives (line 5 of
 * the string to sign: SM3 for SM2 keys, SHA-256 for RSA keys — one pass computes what the party's
 * keys need) and written to a spool file of its own; the signature is verified once the last
 * byte is in, and only then does the handler see the file. The handler therefore cannot commit
 * anything for a body whose signature fails, and a refused, cut-off or timed-out upload leaves no
 * file, no row and no nonce behind.
 *
 * The checks run in the order of docs/interface.md §3, each as early as what it needs allows:
 *   415 (Content-Type) → 413 (Content-Length) → SIGNATURE_MISSING → UNKNOWN_APP →
 *   TIMESTAMP_OUT_OF_WINDOW → malformed nonce or signature header (SIGNATURE_INVALID)
 *     — all from the headers, before one byte of the body is read —
 *   → 429 (uploads in flight) → the body: 413 as soon as the count passes the limit →
 *   SIGNATURE_INVALID → NONCE_REUSED → PARTY_DISABLED → FORBIDDEN → VALIDATION_FAILED (query and
 *   path) → the handler.
 */

/** The largest statement file (docs/interface.md §1), for the statement routes to declare. */
export const STATEMENT_UPLOAD_LIMIT_BYTES = 256 * 1024 * 1024;

/**
 * How long a whole body may take to arrive, in milliseconds. A statement of 1,000,000 lines is
 * about 100–130 MB (docs/reconciliation.md §1 line shapes); 10 minutes lets it arrive at
 * ≥ 0.25 MB/s, and the largest file allowed (256 MiB) at ≥ 0.45 MB/s.
 */
export const UPLOAD_TIMEOUT_MS = 600_000;
/** How long an upload may send nothing before it is dropped, in milliseconds (a stalled client). */
export const UPLOAD_IDLE_TIMEOUT_MS = 30_000;
/**
 * Uploads one process receives at once. Each holds one spool file of at most its route's limit,
 * so this bounds the spool's disk use (4 × 256 MiB = 1 GiB per process for statements).
 */
export const UPLOADS_IN_FLIGHT_MAX = 4;
/** Retry-After for an upload refused because UPLOADS_IN_FLIGHT_MAX are arriving. */
export const UPLOAD_RETRY_AFTER_SECONDS = 30;
/** Spool file names: `upload-<pid>-<uuid>.part`, so a sweep can tell a dead process's files. */
const SPOOL_FILE_PATTERN = /^upload-(\d+)-[0-9a-f-]{36}\.part$/;

/** A route whose body is streamed, hashed and spooled rather than buffered and parsed. */
export interface StreamedRouteDefinition {
  method: 'POST' | 'PUT';
  /** Koa router syntax, as RouteDefinition.path. */
  path: string;
  /**
   * The operation in contracts/ that validates the query and path parameters. `null` only for a
   * route a test mounts to exercise this mechanism (it is no part of the interface); every route
   * of buildRoutes names its operation.
   */
  operationId: string | null;
  /** Uploads are always signed. */
  access: PartyRole;
  body: 'stream';
  /** Media types accepted (without parameters, lower case); anything else is 415. */
  contentTypes: readonly string[];
  /** Largest body accepted, in bytes: 413 as soon as Content-Length or the bytes received pass it. */
  limitBytes: number;
  /** How long the whole body may take to arrive (default UPLOAD_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long the body may pause (default UPLOAD_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  handle(call: UploadCall): Promise<Reply>;
}

/**
 * A body whose signature has verified, spooled to a file. The file is the handler's to read
 * while `handle` runs and is removed when it settles; a handler that must keep the bytes copies
 * them (or what it makes of them) before it returns.
 */
export interface VerifiedUpload {
  /** The spool file (mode 0600); read it, never write or move it. */
  readonly path: string;
  readonly sizeBytes: number;
  /** The media type the caller declared (without parameters). */
  readonly contentType: string;
  /** SHA-256 of the body, lowercase hex: the file's fingerprint. */
  readonly sha256Hex: string;
  /** SM3 of the body, when the caller has an SM2 key (line 5 for SM2 signatures). */
  readonly sm3Hex?: string;
  /** A fresh stream of the body's bytes from the start. */
  open(): fs.ReadStream;
}

/** One upload as its handler sees it: the verified caller and the verified body. */
export interface UploadCall {
  party: AuthenticatedParty;
  upload: VerifiedUpload;
  query: Record<string, unknown>;
  params: Record<string, string>;
  requestId: string;
  log: Logger;
  clientAddress: string;
  koa: Koa.Context;
}

/** Where uploads are spooled and how many may arrive at once in this process. */
export class UploadSpool {
  private inFlight = 0;
  private directoryReady: Promise<void> | undefined;

  constructor(
    readonly directory: string,
    readonly inFlightMax = UPLOADS_IN_FLIGHT_MAX,
  ) {
    assert(inFlightMax >= 1, 'at least one upload may arrive at a time');
  }

  /** Uploads arriving or being handled now. */
  get uploadsInFlight(): number {
    return this.inFlight;
  }

  /** A place for one upload, or undefined when inFlightMax are taken. */
  acquire(): { release(): void } | undefined {
    if (this.inFlight >= this.inFlightMax) return undefined;
    this.inFlight += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight -= 1;
      },
    };
  }

  /** A new spool file, created exclusively with mode 0600 (the directory 0700). */
  async create(): Promise<{ path: string; handle: fs.promises.FileHandle }> {
    this.directoryReady ??= fs.promises.mkdir(this.directory, { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.directoryReady;
    const filePath = path.join(this.directory, `upload-${process.pid}-${randomUUID()}.part`);
    const handle = await fs.promises.open(filePath, 'wx', 0o600);
    return { path: filePath, handle };
  }

  /**
   * Removes spool files left by processes that no longer run (a crash between receiving and
   * handling). Files of live processes — other HTTP workers sharing the directory — are kept.
   */
  async sweepAbandoned(log: Logger): Promise<number> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    let removed = 0;
    for (const name of names) {
      const match = SPOOL_FILE_PATTERN.exec(name);
      if (!match || processIsAlive(Number(match[1]))) continue;
      await fs.promises.rm(path.join(this.directory, name), { force: true });
      removed += 1;
    }
    if (removed > 0) log.warn({ directory: this.directory, removed }, 'removed upload spool files of processes that no longer run');
    return removed;
  }
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sockets whose request is a streamed upload now arriving (see exemptUploadsFromRequestTimeout). */
const receivingUploads = new WeakSet<Socket>();

/**
 * The server's requestTimeout bounds how long a whole request may take to arrive; it protects the
 * JSON routes (main.ts sets 30 s) but would cut a 256 MiB upload on a slow link. With this
 * listener a socket receiving a streamed upload is spared that timeout — the upload's own
 * `timeoutMs` and `idleTimeoutMs` bound it instead — and every other client error is answered
 * as Node does by default (408 for a timeout, 431 for oversized headers, else 400) and the socket
 * destroyed.
 */
export function exemptUploadsFromRequestTimeout(server: http.Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && receivingUploads.has(socket)) return;
    const responseStarted = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (socket.writable && !responseStarted && error.code !== 'ECONNRESET') {
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
}

/** Koa middleware for one streamed route: the checks in the order listed at the top of this file. */
export function streamedRouteMiddleware(route: StreamedRouteDefinition, contract: Contract, authenticator: Partial<StreamedRequestAuthenticator> | undefined, spool: UploadSpool): Koa.Middleware {
  const validators = route.operationId === null ? undefined : contract.operation(route.operationId);
  const beginStreamed = authenticator?.beginStreamed?.bind(authenticator);
  if (!beginStreamed) throw new Error(`streamed route ${route.path} registered without an authenticator that checks streamed requests`);
  assert(route.limitBytes > 0 && route.contentTypes.length > 0, 'a streamed route declares its limit and media types');
  const timeoutMs = route.timeoutMs ?? UPLOAD_TIMEOUT_MS;
  const idleTimeoutMs = route.idleTimeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS;

  return async (ctx) => {
    const log = ctx.state.log as Logger;
    const contentType = mediaType(ctx);
    let authentication: StreamedAuthentication;
    let place: { release(): void } | undefined;
    try {
      if (!route.contentTypes.includes(contentType)) {
        throw new TongfuError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${route.contentTypes.join(' or ')}`, { accepted: [...route.contentTypes] });
      }
      if (!declaresUtf8OrNoCharset(ctx)) throw new TongfuError('UNSUPPORTED_MEDIA_TYPE', 'the file must be UTF-8: a charset other than UTF-8 is refused', { accepted: [...route.contentTypes] });
      const declared = ctx.request.length;
      if (declared !== undefined && declared > route.limitBytes) throw payloadTooLarge(route.limitBytes);
      authentication = await beginStreamed({ method: ctx.method, target: ctx.originalUrl, headers: ctx.headers }, route.access);
      place = spool.acquire();
      if (!place) {
        throw new TongfuError('RATE_LIMITED', `${spool.inFlightMax} uploads are arriving; retry in ${UPLOAD_RETRY_AFTER_SECONDS} s`, { retryAfterSeconds: UPLOAD_RETRY_AFTER_SECONDS });
      }
    } catch (error) {
      // Refused on its headers: none of the body is read. Closing the connection after the answer
      // stops it from being drained (up to the route's limit) to keep the connection alive.
      ctx.set('Connection', 'close');
      throw error;
    }

    try {
      const received = await receive(ctx, spool, { limitBytes: route.limitBytes, timeoutMs, idleTimeoutMs, digestAlgorithms: authentication.digestAlgorithms }, log);
      try {
        const party = await authentication.finish(received.digests);
        ctx.state.party = party;
        const { query, params } = checkParameters(ctx, validators);
        const upload: VerifiedUpload = {
          path: received.path,
          sizeBytes: received.sizeBytes,
          contentType,
          sha256Hex: received.digests.sha256Hex,
          ...(received.digests.sm3Hex !== undefined ? { sm3Hex: received.digests.sm3Hex } : {}),
          open: () => fs.createReadStream(received.path),
        };
        const reply = await route.handle({ party, upload, query, params, requestId: ctx.state.requestId as string, log, clientAddress: ctx.request.ip, koa: ctx });
        ctx.status = reply.status;
        for (const [name, value] of Object.entries(reply.headers ?? {})) ctx.set(name, value);
        if (reply.body !== undefined) ctx.body = reply.body;
      } finally {
        await fs.promises.rm(received.path, { force: true });
      }
    } finally {
      place.release();
    }
  };
}

interface ReceiveLimits {
  limitBytes: number;
  timeoutMs: number;
  idleTimeoutMs: number;
  digestAlgorithms: ReadonlySet<'SM2' | 'RSA'>;
}

/**
 * Reads the body into a new spool file, hashing it on the way, with memory bounded by one chunk
 * (each write is awaited before the next chunk is read). On any failure the file is removed
 * before the error is thrown.
 */
async function receive(ctx: Koa.Context, spool: UploadSpool, limits: ReceiveLimits, log: Logger): Promise<{ path: string; sizeBytes: number; digests: BodyDigests }> {
  const request = ctx.req;
  const socket = request.socket;
  const digester = new BodyDigester(limits.digestAlgorithms);
  const file = await spool.create();
  let receivedBytes = 0;
  let timedOut: string | undefined;
  const stop = (reason: string): void => {
    timedOut = reason;
    // A client too slow to finish gets no answer: its connection is closed, as if cut.
    request.destroy();
  };
  const overallTimer = setTimeout(() => stop(`the body did not arrive within ${limits.timeoutMs} ms`), limits.timeoutMs);
  const idleTimer = setTimeout(() => stop(`the body paused for ${limits.idleTimeoutMs} ms`), limits.idleTimeoutMs);
  receivingUploads.add(socket);
  try {
    // destroyOnReturn: false — a body refused for its size is left unread, not torn down, so the
    // 413 still reaches the client; the connection closes after it.
    for await (const chunk of request.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      idleTimer.refresh();
      receivedBytes += chunk.length;
      if (receivedBytes > limits.limitBytes) throw payloadTooLarge(limits.limitBytes);
      digester.update(chunk);
      await file.handle.write(chunk);
    }
    await file.handle.close();
    return { path: file.path, sizeBytes: receivedBytes, digests: digester.digests() };
  } catch (error) {
    await file.handle.close().catch(() => undefined);
    await fs.promises.rm(file.path, { force: true });
    ctx.set('Connection', 'close');
    if (error instanceof TongfuError) throw error;
    if (timedOut !== undefined || request.destroyed || isCutOff(error)) {
      log.warn({ receivedBytes, reason: timedOut ?? 'the client closed the connection' }, 'upload abandoned; its spool file is removed');
      // No one is left to read the answer; the code is the one the edge uses for a cut-off body.
      throw new TongfuError('MALFORMED_JSON', `the request body was cut off after ${receivedBytes} bytes${timedOut ? `: ${timedOut}` : ''}`);
    }
    throw error;
  } finally {
    clearTimeout(overallTimer);
    clearTimeout(idleTimer);
    receivingUploads.delete(socket);
  }
}

function isCutOff(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'ECONNRESET' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as Error | null)?.message === 'aborted';
}

function payloadTooLarge(limitBytes: number): TongfuError {
  return new TongfuError('PAYLOAD_TOO_LARGE', `request body exceeds ${limitBytes} bytes`, { limitBytes });
}

/** VALIDATION_FAILED for query and path parameters the route's operation does not accept. */
function checkParameters(ctx: Koa.Context, validators: ReturnType<Contract['operation']> | undefined): { query: Record<string, unknown>; params: Record<string, string> } {
  const params = { ...(ctx.params as Record<string, string>) };
  // No prototype: a parameter named __proto__ is a parameter like any other.
  const query = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(ctx.query)) query[name] = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (!validators) return { query, params };
  const problems: FieldProblem[] = [];
  for (const [name, validate] of validators.pathParams) {
    if (params[name] !== undefined && !validate(params[name])) problems.push(...describeErrors(validate.errors ?? [], `/path/${name}`));
  }
  if (validators.query && !validators.query(query)) problems.push(...describeErrors(validators.query.errors ?? [], '/query'));
  if (problems.length > 0) {
    throw new TongfuError('VALIDATION_FAILED', `request is invalid: ${problems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`, { fields: problems });
  }
  return { query, params };
}
