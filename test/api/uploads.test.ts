import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { SIGNATURE_HEADERS, generateNonce, stringToSign } from '../../src/crypto/requestSigning';
import { sm2Sign } from '../../src/crypto/sm2';
import { exemptUploadsFromRequestTimeout, STATEMENT_UPLOAD_LIMIT_BYTES, StreamedRouteDefinition, UPLOADS_IN_FLIGHT_MAX } from '../../src/http/streamedBody';
import { newRsaCredentials } from '../helpers/signedClient';
import { insertParty, PartyRow } from '../helpers/partyRows';
import { startTestService, TestService } from '../helpers/testService';

// Signed uploads of large files (src/http/streamedBody.ts, decision 0070) over real HTTP on the
// real app pipeline, with the real authenticator and PostgreSQL. No statement endpoint exists
// yet, so the test mounts routes of its own through startTestService's `extraRoutes`; their
// handler plays the consumer: it reads the verified upload and reports what it saw.

const MIB = 1024 * 1024;
/** The statement limit of docs/interface.md §1. */
const STATEMENT_LIMIT_BYTES = STATEMENT_UPLOAD_LIMIT_BYTES;
const SMALL_LIMIT_BYTES = 8 * MIB;
const PATH = '/v1/agency/test-uploads';
const SMALL_PATH = '/v1/agency/test-uploads-small';
const IDLE_PATH = '/v1/agency/test-uploads-idle';
const IDLE_TIMEOUT_MS = 400;

interface Seen {
  sizeBytes: number;
  sha256Hex: string;
  /** SHA-256 the consumer computed by reading the spooled file itself. */
  readSha256Hex: string;
  mode: number;
  spoolPath: string;
  appId: string;
}

const seen: Seen[] = [];

function testRoute(routePath: string, limitBytes: number, idleTimeoutMs?: number): StreamedRouteDefinition {
  return {
    method: 'POST',
    path: routePath,
    operationId: null,
    access: 'agency',
    body: 'stream',
    contentTypes: ['text/plain', 'text/csv'],
    limitBytes,
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
    async handle(call) {
      const hash = crypto.createHash('sha256');
      for await (const chunk of call.upload.open()) hash.update(chunk as Buffer);
      const stat = await fs.promises.stat(call.upload.path);
      const record: Seen = { sizeBytes: call.upload.sizeBytes, sha256Hex: call.upload.sha256Hex, readSha256Hex: hash.digest('hex'), mode: stat.mode & 0o777, spoolPath: call.upload.path, appId: call.party.appId };
      seen.push(record);
      return { status: 201, body: record };
    },
  };
}

// ---- the body: deterministic pseudo-random bytes, generated chunk by chunk, never held whole ----

const CHUNK_BYTES = MIB;
const BASES = new Map<number, Buffer>();

/**
 * Chunk i is the seed's random MiB with i in its first four bytes. With `scratch`, every chunk is
 * written into that one buffer (for hashing, which copies at once); without, each is a new buffer
 * (for sending, which may hold it until the socket takes it).
 */
function* bodyChunks(sizeBytes: number, seed: number, scratch?: Buffer): Generator<Buffer> {
  let base = BASES.get(seed);
  if (!base) {
    base = crypto.randomBytes(CHUNK_BYTES);
    BASES.set(seed, base);
  }
  for (let offset = 0, index = 0; offset < sizeBytes; offset += CHUNK_BYTES, index += 1) {
    const length = Math.min(CHUNK_BYTES, sizeBytes - offset);
    const chunk = scratch ? scratch.subarray(0, length) : Buffer.allocUnsafe(length);
    base.copy(chunk, 0, 0, length);
    if (length >= 4) chunk.writeUInt32BE(index, 0);
    yield chunk;
  }
}

function digestsOf(sizeBytes: number, seed: number): { sha256Hex: string; sm3Hex: string } {
  const sha256 = crypto.createHash('sha256');
  const sm3 = crypto.createHash('sm3');
  for (const chunk of bodyChunks(sizeBytes, seed, Buffer.allocUnsafe(CHUNK_BYTES))) {
    sha256.update(chunk);
    sm3.update(chunk);
  }
  return { sha256Hex: sha256.digest('hex'), sm3Hex: sm3.digest('hex') };
}

// ---- signing a file as an integrator does: hash it, then sign the five lines ---------------------

interface Signer {
  appId: string;
  algorithm: 'SM2' | 'RSA';
  sign(text: string): Buffer;
}

function signedHeaders(signer: Signer, target: string, digests: { sha256Hex: string; sm3Hex: string }, overrides: { timestampSeconds?: number; nonce?: string } = {}): Record<string, string> {
  const timestamp = String(overrides.timestampSeconds ?? Math.floor(Date.now() / 1000));
  const nonce = overrides.nonce ?? generateNonce();
  const text = stringToSign({ method: 'POST', target, timestamp, nonce, bodyDigestHex: signer.algorithm === 'SM2' ? digests.sm3Hex : digests.sha256Hex });
  return {
    [SIGNATURE_HEADERS.appId]: signer.appId,
    [SIGNATURE_HEADERS.timestamp]: timestamp,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: signer.sign(text).toString('base64'),
  };
}

// ---- a raw HTTP client that streams the body and notes what it sent when the answer came ---------

interface UploadResult {
  status: number;
  body: any;
  /** Body bytes written when the answer arrived (or when the client gave up). */
  sentBytes: number;
  /** True when the answer arrived before the client had sent the whole body. */
  answeredEarly: boolean;
}

interface UploadOptions {
  headers: Record<string, string>;
  sizeBytes: number;
  seed: number;
  contentType?: string;
  chunked?: boolean;
  /** Declare this Content-Length instead of the real size. */
  declaredBytes?: number;
  /** Stop writing after this many bytes and wait for the answer (the rest is never sent). */
  pauseAfterBytes?: number;
  /** Write this many bytes, then cut the connection; resolves with status 0. */
  abortAfterBytes?: number;
  /** Runs just before the abort (e.g. to wait until the spool file exists). */
  beforeAbort?: () => Promise<void>;
  /** Wait this long after each chunk. */
  delayPerChunkMs?: number;
}

function sendUpload(baseUrl: string, target: string, options: UploadOptions): Promise<UploadResult> {
  return new Promise<UploadResult>((resolve, reject) => {
    let sentBytes = 0;
    let bodySent = false;
    let settled = false;
    const settle = (result: UploadResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const headers: Record<string, string> = { ...options.headers, 'content-type': options.contentType ?? 'text/plain' };
    if (options.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(options.declaredBytes ?? options.sizeBytes);
    const request = http.request(`${baseUrl}${target}`, { method: 'POST', headers, agent: false }, (response) => {
      const answeredEarly = !bodySent;
      const sentAtAnswer = sentBytes;
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        settle({ status: response.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text), sentBytes: sentAtAnswer, answeredEarly });
        request.destroy();
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      // A server that answered and closed may reset the connection under a client still writing.
      if (settled || options.abortAfterBytes !== undefined) return;
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') setTimeout(() => settle({ status: 0, body: undefined, sentBytes, answeredEarly: !bodySent }), 200);
      else reject(error);
    });
    void (async () => {
      for (const chunk of bodyChunks(options.sizeBytes, options.seed)) {
        if (settled || request.destroyed) return;
        if (options.pauseAfterBytes !== undefined && sentBytes >= options.pauseAfterBytes) return;
        if (options.abortAfterBytes !== undefined && sentBytes >= options.abortAfterBytes) {
          await options.beforeAbort?.();
          request.destroy();
          settle({ status: 0, body: undefined, sentBytes, answeredEarly: false });
          return;
        }
        sentBytes += chunk.length;
        if (!request.write(chunk)) {
          await new Promise<void>((resume) => {
            const done = (): void => {
              request.off('drain', done);
              request.off('close', done);
              resume();
            };
            request.on('drain', done);
            request.on('close', done);
          });
        }
        if (options.delayPerChunkMs) await new Promise((wait) => setTimeout(wait, options.delayPerChunkMs));
      }
      bodySent = true;
      request.end();
    })();
  });
}

describe('signed uploads of large files', () => {
  let service: TestService;
  let dataDir: string;
  let spoolDir: string;
  let sm2: Signer;
  let rsa: Signer;
  let agency: PartyRow;

  beforeAll(async () => {
    dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'tongfu-uploads-'));
    spoolDir = path.join(dataDir, 'tmp');
    service = await startTestService({
      env: { TONGFU_DATA_DIR: dataDir },
      extraRoutes: () => [testRoute(PATH, STATEMENT_LIMIT_BYTES), testRoute(SMALL_PATH, SMALL_LIMIT_BYTES), testRoute(IDLE_PATH, STATEMENT_LIMIT_BYTES, IDLE_TIMEOUT_MS)],
    });
    const sm2Pair = generateSm2KeyPair();
    agency = await insertParty(service.database.db, { role: 'agency', publicKeys: [sm2Pair.publicKeyPem] });
    sm2 = { appId: agency.appId, algorithm: 'SM2', sign: (text) => sm2Sign(Buffer.from(text, 'utf8'), sm2Pair.privateKeyHex) };
    const rsaPair = newRsaCredentials();
    const rsaAgency = await insertParty(service.database.db, { role: 'agency', publicKeys: [rsaPair.publicKeyPem] });
    const rsaKey = rsaPair.privateKey.algorithm === 'RSA' ? rsaPair.privateKey.privateKeyPem : '';
    rsa = { appId: rsaAgency.appId, algorithm: 'RSA', sign: (text) => crypto.sign('sha256', Buffer.from(text, 'utf8'), { key: rsaKey, padding: crypto.constants.RSA_PKCS1_PADDING }) };
  });
  afterAll(async () => {
    await service?.close();
    await fs.promises.rm(dataDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen.length = 0;
  });

  async function spoolFiles(): Promise<string[]> {
    try {
      return await fs.promises.readdir(spoolDir);
    } catch {
      return [];
    }
  }

  /** Waits until the spool directory holds `count` files (the server works on after a client left). */
  async function spoolFilesBecome(predicate: (files: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const files = await spoolFiles();
      if (predicate(files) || Date.now() > deadline) return files;
      await new Promise((wait) => setTimeout(wait, 20));
    }
  }

  async function nonceStored(appId: string, nonce: string): Promise<boolean> {
    const row = await service.database.db('request_nonces').where({ app_id: appId, nonce }).first();
    return row !== undefined;
  }

  it('accepts a correctly signed 50 MB body (SM2, SM3 on line 5): the consumer sees exactly its bytes, in a 0600 file that is gone afterwards', async () => {
    const sizeBytes = 50 * 1000 * 1000;
    const digests = digestsOf(sizeBytes, 1);
    const result = await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digests), sizeBytes, seed: 1 });
    expect(result.status).toBe(201);
    expect(seen).toHaveLength(1);
    const [record] = seen as [Seen];
    expect(record).toMatchObject({ sizeBytes, sha256Hex: digests.sha256Hex, readSha256Hex: digests.sha256Hex, mode: 0o600, appId: agency.appId });
    expect(path.dirname(record.spoolPath)).toBe(spoolDir);
    expect(await spoolFiles()).toEqual([]);
  });

  it("accepts an RSA party's upload, with SHA-256 on line 5", async () => {
    const sizeBytes = 3 * MIB + 17;
    const digests = digestsOf(sizeBytes, 2);
    const result = await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(rsa, PATH, digests), sizeBytes, seed: 2, contentType: 'text/csv' });
    expect(result.status).toBe(201);
    expect(seen[0]).toMatchObject({ sizeBytes, readSha256Hex: digests.sha256Hex, appId: rsa.appId });
  });

  it('refuses a wrong signature on a large body with 401 SIGNATURE_INVALID: no consumer call, no spool file, no nonce', async () => {
    const sizeBytes = 50 * 1000 * 1000;
    // Signed over another body of the same size: every header is well formed.
    const headers = signedHeaders(sm2, PATH, digestsOf(sizeBytes, 3));
    const result = await sendUpload(service.baseUrl, PATH, { headers, sizeBytes, seed: 4 });
    expect(result.status).toBe(401);
    expect(result.body.error.code).toBe('SIGNATURE_INVALID');
    expect(result.answeredEarly).toBe(false);
    expect(seen).toHaveLength(0);
    expect(await spoolFiles()).toEqual([]);
    expect(await nonceStored(sm2.appId, headers[SIGNATURE_HEADERS.nonce] as string)).toBe(false);
  });

  it.each([
    ['TIMESTAMP_OUT_OF_WINDOW', (headers: Record<string, string>) => ({ ...headers, [SIGNATURE_HEADERS.timestamp]: String(Math.floor(Date.now() / 1000) - 301) })],
    ['UNKNOWN_APP', (headers: Record<string, string>) => ({ ...headers, [SIGNATURE_HEADERS.appId]: 'no_such_app' })],
    ['SIGNATURE_MISSING', (headers: Record<string, string>) => ({ ...headers, [SIGNATURE_HEADERS.signature]: '' })],
    ['SIGNATURE_INVALID', (headers: Record<string, string>) => ({ ...headers, [SIGNATURE_HEADERS.nonce]: 'short' })],
  ])('answers %s from the headers, before the body is read', async (code, breakHeaders) => {
    const sizeBytes = 200 * MIB;
    // The digest does not matter: these checks never get that far. The client sends 1 MiB of the
    // declared 200 MiB and then waits: only an answer that needs none of the rest can arrive.
    const headers = breakHeaders(signedHeaders(sm2, PATH, { sha256Hex: '0'.repeat(64), sm3Hex: '0'.repeat(64) }, { timestampSeconds: Math.floor(Date.now() / 1000) }));
    const result = await sendUpload(service.baseUrl, PATH, { headers, sizeBytes, seed: 5, pauseAfterBytes: MIB });
    expect(result.status).toBe(401);
    expect(result.body.error.code).toBe(code);
    expect(result.answeredEarly).toBe(true);
    expect(result.sentBytes).toBe(MIB);
    expect(await spoolFiles()).toEqual([]);
  });

  it('answers 415 for a media type the route does not take, before the body', async () => {
    const result = await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digestsOf(MIB, 6)), sizeBytes: 100 * MIB, seed: 6, contentType: 'application/json', pauseAfterBytes: MIB });
    expect(result.status).toBe(415);
    expect(result.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(result.answeredEarly).toBe(true);
  });

  it('answers 415 for a file declared in a charset other than UTF-8, before the body', async () => {
    const result = await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digestsOf(MIB, 7)), sizeBytes: 100 * MIB, seed: 7, contentType: 'text/plain; charset=GBK', pauseAfterBytes: MIB });
    expect(result.status).toBe(415);
    expect(result.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(result.answeredEarly).toBe(true);
  });

  it('answers 413 for a Content-Length over 256 MiB at once, before the signature and the body', async () => {
    expect(STATEMENT_LIMIT_BYTES).toBe(256 * 1024 * 1024);
    const headers = { ...signedHeaders(sm2, PATH, digestsOf(MIB, 7)), [SIGNATURE_HEADERS.signature]: '' };
    const result = await sendUpload(service.baseUrl, PATH, { headers, sizeBytes: 4 * MIB, declaredBytes: STATEMENT_LIMIT_BYTES + 1, seed: 7, pauseAfterBytes: MIB });
    expect(result.status).toBe(413);
    expect(result.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(result.body.error.details).toEqual({ limitBytes: STATEMENT_LIMIT_BYTES });
    expect(result.answeredEarly).toBe(true);
    expect(await spoolFiles()).toEqual([]);
  });

  it('answers 413 for a chunked body as soon as the count passes the limit, and keeps no spool file', async () => {
    const sizeBytes = 3 * SMALL_LIMIT_BYTES;
    const headers = signedHeaders(sm2, SMALL_PATH, digestsOf(sizeBytes, 8));
    const result = await sendUpload(service.baseUrl, SMALL_PATH, { headers, sizeBytes, seed: 8, chunked: true });
    expect(result.status).toBe(413);
    expect(result.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(result.answeredEarly).toBe(true);
    expect(seen).toHaveLength(0);
    expect(await spoolFiles()).toEqual([]);
    expect(await nonceStored(sm2.appId, headers[SIGNATURE_HEADERS.nonce] as string)).toBe(false);
  });

  it('leaves nothing behind when the client cuts the connection midway', async () => {
    const sizeBytes = 50 * MIB;
    const headers = signedHeaders(sm2, PATH, digestsOf(sizeBytes, 9));
    let spooling: string[] = [];
    await sendUpload(service.baseUrl, PATH, {
      headers,
      sizeBytes,
      seed: 9,
      abortAfterBytes: 10 * MIB,
      beforeAbort: async () => {
        spooling = await spoolFilesBecome((files) => files.length === 1);
      },
    });
    // The upload was being spooled when the client left …
    expect(spooling).toHaveLength(1);
    // … and its file goes with it.
    expect(await spoolFilesBecome((files) => files.length === 0)).toEqual([]);
    expect(seen).toHaveLength(0);
    expect(await nonceStored(sm2.appId, headers[SIGNATURE_HEADERS.nonce] as string)).toBe(false);
  });

  it('drops an upload that stalls longer than its idle timeout, leaving nothing behind', async () => {
    const sizeBytes = 4 * MIB;
    const headers = signedHeaders(sm2, IDLE_PATH, digestsOf(sizeBytes, 10));
    const result = await sendUpload(service.baseUrl, IDLE_PATH, { headers, sizeBytes, seed: 10, pauseAfterBytes: MIB });
    // The server closes the connection without an answer.
    expect(result.status).toBe(0);
    expect(await spoolFilesBecome((files) => files.length === 0)).toEqual([]);
    expect(seen).toHaveLength(0);
  });

  it('refuses a replayed upload with 401 NONCE_REUSED, after reading and verifying it', async () => {
    const sizeBytes = 2 * MIB;
    const headers = signedHeaders(sm2, PATH, digestsOf(sizeBytes, 11));
    const first = await sendUpload(service.baseUrl, PATH, { headers, sizeBytes, seed: 11 });
    expect(first.status).toBe(201);
    expect(await nonceStored(sm2.appId, headers[SIGNATURE_HEADERS.nonce] as string)).toBe(true);
    const replay = await sendUpload(service.baseUrl, PATH, { headers, sizeBytes, seed: 11 });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('NONCE_REUSED');
    expect(seen).toHaveLength(1);
    expect(await spoolFiles()).toEqual([]);
  });

  it('answers 403 FORBIDDEN for a party of another role, once its signature verified (and stores the nonce)', async () => {
    const pair = generateSm2KeyPair();
    const unit = await insertParty(service.database.db, { role: 'unit', publicKeys: [pair.publicKeyPem] });
    const signer: Signer = { appId: unit.appId, algorithm: 'SM2', sign: (text) => sm2Sign(Buffer.from(text, 'utf8'), pair.privateKeyHex) };
    const headers = signedHeaders(signer, PATH, digestsOf(MIB, 12));
    const result = await sendUpload(service.baseUrl, PATH, { headers, sizeBytes: MIB, seed: 12 });
    expect(result.status).toBe(403);
    expect(result.body.error.code).toBe('FORBIDDEN');
    expect(await nonceStored(unit.appId, headers[SIGNATURE_HEADERS.nonce] as string)).toBe(true);
  });

  it('answers 429 RATE_LIMITED while UPLOADS_IN_FLIGHT_MAX uploads are arriving, before reading the body', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sizeBytes = 20 * MIB;
    const holders = Array.from({ length: UPLOADS_IN_FLIGHT_MAX }, (_, index) =>
      sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digestsOf(sizeBytes, 20 + index)), sizeBytes, seed: 20 + index, abortAfterBytes: MIB, beforeAbort: () => released }),
    );
    expect(await spoolFilesBecome((files) => files.length === UPLOADS_IN_FLIGHT_MAX)).toHaveLength(UPLOADS_IN_FLIGHT_MAX);
    const refused = await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digestsOf(MIB, 30)), sizeBytes: 4 * MIB, seed: 30, pauseAfterBytes: MIB });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    expect(refused.answeredEarly).toBe(true);
    release();
    await Promise.all(holders);
    expect(await spoolFilesBecome((files) => files.length === 0)).toEqual([]);
    // The places are free again.
    const digests = digestsOf(MIB, 31);
    expect((await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digests), sizeBytes: MIB, seed: 31 })).status).toBe(201);
  });

  it('keeps memory bounded: a 200 MB upload raises the RSS by far less than its size', async () => {
    const sizeBytes = 200 * 1000 * 1000;
    const digests = digestsOf(sizeBytes, 13);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    const startedMs = performance.now();
    const result = await sendUpload(service.baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digests), sizeBytes, seed: 13 });
    const elapsedMs = performance.now() - startedMs;
    clearInterval(sampler);
    expect(result.status).toBe(201);
    expect(seen[0]).toMatchObject({ sizeBytes, readSha256Hex: digests.sha256Hex });
    const deltaMiB = (rssPeak - rssBefore) / MIB;
    process.stdout.write(`200 MB upload (client and server in one process): ${Math.round(elapsedMs)} ms, RSS peak +${deltaMiB.toFixed(1)} MiB\n`);
    // A buffered body alone would be +190 MiB; the spool holds one chunk at a time.
    expect(deltaMiB).toBeLessThan(96);
  }, 120_000);

  it('spares an upload the server requestTimeout that protects the JSON routes (its own limits bound it)', async () => {
    const run = async (exempt: boolean): Promise<UploadResult> => {
      const server = http.createServer({ requestTimeout: 600, connectionsCheckingInterval: 100 }, service.runtime.app.callback());
      if (exempt) exemptUploadsFromRequestTimeout(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const sizeBytes = 12 * MIB;
        // 12 chunks, 150 ms apart: ≈ 1.8 s to arrive, three times the server's requestTimeout.
        return await sendUpload(baseUrl, PATH, { headers: signedHeaders(sm2, PATH, digestsOf(sizeBytes, 14)), sizeBytes, seed: 14, delayPerChunkMs: 150 });
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    };
    const exempted = await run(true);
    expect(exempted.status).toBe(201);
    const cut = await run(false);
    expect(cut.status).not.toBe(201);
    expect(await spoolFilesBecome((files) => files.length === 0)).toEqual([]);
  }, 30_000);
});
