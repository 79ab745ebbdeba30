import { KeyAlgorithm, parsePublicKey } from '../crypto/keys';
import { BodyDigests, lineFiveDigest } from '../crypto/bodyDigests';
import { bodyDigest, createVerifier, decodeSignatureHeader, NONCE_PATTERN, RequestVerifier, SIGNATURE_HEADERS, stringToSign } from '../crypto/requestSigning';
import type { Db } from '../db/database';
import { findPartyAccess, PartyAccessRecord } from '../db/repositories/partyAccess';
import type { Clock } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import type { AuthenticatedParty, NonceClaim, PartyRole, RequestAuthenticator, SignedRequest } from '../domain/access';
import { aPartyOfRole, PARTY_ROLES } from '../domain/access';
import type { Logger } from '../logger';
import { claimRequestNonce, nonceClaimAt, nonceReused } from './nonces';

/** How far a request's timestamp may be from the real clock, either way (docs/interface.md §2). */
export const TIMESTAMP_WINDOW_SECONDS = 300;

/**
 * How long a cached party is trusted before it is read again. Another instance's change (a party
 * disabled, a key retired) takes effect here within this bound; see
 * contracts/decisions/0003-party-cache.md. It may be configured lower, never higher.
 */
export const PARTY_CACHE_TTL_MS_MAX = 5_000;
/**
 * Parties cached at most, least recently used evicted first. An SM2 verifier holds ≈ 100 KiB of
 * precomputed points (decision 0008), so 2,048 parties with a key each stay within ≈ 200 MB.
 */
export const PARTY_CACHE_ENTRIES_MAX = 2_048;
/**
 * When a signature does not verify with the cached keys (or names a Key-Id the cache does not
 * know), the party is read again — the key may have been added on another instance a moment ago —
 * but at most this often per party, so bad signatures cannot turn into a query each.
 */
export const RELOAD_ON_MISS_INTERVAL_MS = 1_000;
/**
 * A party used when its entry has lived this share of the TTL is read again in the background,
 * while the entry still serves: under steady traffic no request waits for the read, where every
 * TTL each process's requests of that party stalled behind it (decision 0245). The bound is kept:
 * an entry never serves past the TTL from its own read.
 */
export const PARTY_CACHE_REFRESH_AT_SHARE = 0.8;

const APP_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const TIMESTAMP_PATTERN = /^[0-9]{1,12}$/;

/** Lets the party service make a change take effect on this instance at once (after its commit). */
export interface PartyAccessInvalidator {
  /** Forget what is cached about this appId; the next request reads it again. */
  invalidate(appId: string): void;
}

export interface PartyAuthenticator extends RequestAuthenticator, StreamedRequestAuthenticator, PartyAccessInvalidator {
  /** Forget every cached party. */
  invalidateAll(): void;
}

export interface SignedAccessOptions {
  /** ≤ PARTY_CACHE_TTL_MS_MAX (default). */
  partyCacheTtlMs?: number;
  partyCacheEntriesMax?: number;
  reloadOnMissIntervalMs?: number;
}

interface CachedParty {
  party: AuthenticatedParty;
  status: 'ACTIVE' | 'DISABLED';
  /** Verifiers of the active keys by keyId, in registration order. */
  verifiers: Map<string, RequestVerifier>;
  /** Real-clock time of the read this entry reflects. */
  loadedAtMs: number;
  /** Set by invalidate() (or a read that raced with one): the next request reads again. */
  stale: boolean;
}

/** The signature headers, each present and non-empty; X-Tongfu-Key-Id is optional. */
interface SignatureHeaders {
  appId: string;
  keyId: string | undefined;
  timestamp: string;
  nonce: string;
  signature: string;
}

/** What the headers alone have established. */
interface HeaderCheck {
  headers: SignatureHeaders;
  entry: CachedParty;
  realNow: Date;
  signature: Buffer;
}

/** A streamed request before its body: what the string to sign needs besides line 5. */
export interface StreamedRequestHead {
  method: string;
  target: string;
  headers: SignedRequest['headers'];
}

/**
 * A streamed request whose headers passed (see SignedAccessAuthenticator.beginStreamed). The body
 * is hashed with `digestAlgorithms` while it arrives; `finish` runs the remaining checks of
 * docs/interface.md §2 in order and stores the nonce once the signature has verified.
 */
export interface StreamedAuthentication {
  /** The line-5 digests the party's keys may need; SHA-256 is computed in any case. */
  readonly digestAlgorithms: ReadonlySet<KeyAlgorithm>;
  finish(digests: BodyDigests): Promise<AuthenticatedParty>;
}

/** An authenticator that can check a request whose body is hashed as it streams in. */
export interface StreamedRequestAuthenticator {
  beginStreamed(request: StreamedRequestHead, role: PartyRole): Promise<StreamedAuthentication>;
}

/**
 * Signed access (docs/interface.md §2): checks a request's X-Tongfu-* headers in exactly the order of
 * the standard, and the first failure answers, before anything is processed:
 *
 *   SIGNATURE_MISSING → UNKNOWN_APP → TIMESTAMP_OUT_OF_WINDOW → SIGNATURE_INVALID →
 *   NONCE_REUSED → PARTY_DISABLED → FORBIDDEN
 *
 * The nonce is stored only once the signature has verified, so a forged request neither burns a
 * party's nonce nor leaves a row behind.
 *
 * Hot path: parties are cached by appId with their verifiers built (an SM2 verifier precomputes
 * the key's multiples once, ≈ 6 ms, and then verifies in ≈ 0.3 ms: decision 0008), so a request
 * costs one signature verification and one database round trip (the nonce) — none of its own on
 * the routes that store the nonce in their first statement (decision 0009). The cache is correct
 * across instances within PARTY_CACHE_TTL_MS_MAX and at once on the instance that made a change
 * (invalidate);
 * contracts/decisions/0003-party-cache.md explains why.
 */
export class SignedAccessAuthenticator implements PartyAuthenticator {
  private readonly entries = new Map<string, CachedParty>();
  private readonly loading = new Map<string, Promise<CachedParty | undefined>>();
  /** Counts invalidations, so a read that started before one is not trusted after it. */
  private invalidations = 0;
  private readonly ttlMs: number;
  private readonly entriesMax: number;
  private readonly reloadOnMissIntervalMs: number;

  constructor(
    private readonly deps: { db: Db; realClock: Clock; log: Logger },
    options: SignedAccessOptions = {},
  ) {
    this.ttlMs = options.partyCacheTtlMs ?? PARTY_CACHE_TTL_MS_MAX;
    this.entriesMax = options.partyCacheEntriesMax ?? PARTY_CACHE_ENTRIES_MAX;
    this.reloadOnMissIntervalMs = options.reloadOnMissIntervalMs ?? RELOAD_ON_MISS_INTERVAL_MS;
    assert(this.ttlMs >= 0 && this.ttlMs <= PARTY_CACHE_TTL_MS_MAX, `party cache TTL must be 0–${PARTY_CACHE_TTL_MS_MAX} ms`);
    assert(this.entriesMax >= 1, 'the party cache holds at least one entry');
  }

  async authenticate(request: SignedRequest, role: PartyRole): Promise<AuthenticatedParty> {
    return (await this.check(request, role, false)).party;
  }

  /**
   * As authenticate, but when the nonce is the last check left (the party is active and may call
   * this role), it is handed back unstored for the route's first statement (decision 0009).
   */
  authenticateDeferringNonce(request: SignedRequest, role: PartyRole): Promise<{ party: AuthenticatedParty; nonce: NonceClaim | null }> {
    return this.check(request, role, true);
  }

  async claimNonce(claim: NonceClaim): Promise<void> {
    if (!(await claimRequestNonce(this.deps.db, claim))) throw nonceReused();
  }

  /**
   * The checks a streamed body's headers decide — SIGNATURE_MISSING → UNKNOWN_APP →
   * TIMESTAMP_OUT_OF_WINDOW, and a malformed nonce or signature header (SIGNATURE_INVALID) — run
   * now, before the body is read; the rest once it has arrived and been hashed (`finish`). A
   * request refused here has had none of its body read, and nothing stored.
   */
  async beginStreamed(request: StreamedRequestHead, role: PartyRole): Promise<StreamedAuthentication> {
    const first = await this.checkHeaders(request.headers);
    const { keyId } = first.headers;
    const named = keyId === undefined ? undefined : first.entry.verifiers.get(keyId);
    // A Key-Id the cache does not know may have been added on another instance a moment ago
    // (finish reads the party again): hash for both kinds of key then.
    const digestAlgorithms = new Set<KeyAlgorithm>(
      named ? [named.algorithm] : keyId !== undefined ? ['SM2', 'RSA'] : [...first.entry.verifiers.values()].map((v) => v.algorithm),
    );
    let finished = false;
    return {
      digestAlgorithms,
      finish: async (digests) => {
        assert(!finished, 'a streamed request is verified once');
        finished = true;
        // Read the party again if its cache entry aged while the body arrived: a key retired or a
        // party disabled meanwhile counts, as for any request (decision 0003).
        const entry = await this.cachedParty(first.headers.appId);
        if (!entry) throw unknownApp(first.headers.appId);
        const message = new StringToSignCache(request.method, request.target, first.headers, (algorithm) => lineFiveDigest(digests, algorithm));
        const { party } = await this.checkSignature({ ...first, entry, realNow: this.deps.realClock.now() }, message, role, false);
        return party;
      },
    };
  }

  private async check(request: SignedRequest, role: PartyRole, deferNonce: boolean): Promise<{ party: AuthenticatedParty; nonce: NonceClaim | null }> {
    const first = await this.checkHeaders(request.headers);
    const message = new StringToSignCache(request.method, request.target, first.headers, (algorithm) => bodyDigest(algorithm, request.body));
    return this.checkSignature(first, message, role, deferNonce);
  }

  /** SIGNATURE_MISSING → UNKNOWN_APP → TIMESTAMP_OUT_OF_WINDOW → the header forms of SIGNATURE_INVALID. */
  private async checkHeaders(rawHeaders: SignedRequest['headers']): Promise<HeaderCheck> {
    const headers = readSignatureHeaders(rawHeaders);

    // UNKNOWN_APP. An appId that cannot exist is not looked up.
    const entry = APP_ID_PATTERN.test(headers.appId) ? await this.cachedParty(headers.appId) : undefined;
    if (!entry) throw unknownApp(headers.appId);

    // TIMESTAMP_OUT_OF_WINDOW, on the real clock: a moved business clock must never open a replay window.
    const realNow = this.deps.realClock.now();
    const nowSeconds = Math.floor(realNow.getTime() / 1000);
    if (!TIMESTAMP_PATTERN.test(headers.timestamp) || Math.abs(nowSeconds - Number(headers.timestamp)) > TIMESTAMP_WINDOW_SECONDS) {
      throw new TongfuError('TIMESTAMP_OUT_OF_WINDOW', `X-Tongfu-Timestamp must be Unix seconds within ${TIMESTAMP_WINDOW_SECONDS} s of the server's clock (now ${nowSeconds})`, { serverTime: nowSeconds });
    }

    // SIGNATURE_INVALID, as far as the headers decide it.
    if (!NONCE_PATTERN.test(headers.nonce)) {
      throw new TongfuError('SIGNATURE_INVALID', 'X-Tongfu-Nonce must be 16–64 characters of [A-Za-z0-9_-]');
    }
    const signature = decodeSignatureHeader(headers.signature);
    if (signature === null) throw new TongfuError('SIGNATURE_INVALID', 'X-Tongfu-Signature is not standard padded base64');
    return { headers, entry, realNow, signature };
  }

  /** SIGNATURE_INVALID → NONCE_REUSED → PARTY_DISABLED → FORBIDDEN. */
  private async checkSignature(first: HeaderCheck, message: StringToSignCache, role: PartyRole, deferNonce: boolean): Promise<{ party: AuthenticatedParty; nonce: NonceClaim | null }> {
    const { headers, realNow, signature } = first;
    let entry = first.entry;
    if (!verifiesWithAny(entry, headers.keyId, message, signature)) {
      // The key may have been added on another instance since this entry was read.
      const reloaded = await this.reloadAfterMiss(headers.appId, entry, realNow);
      if (reloaded && verifiesWithAny(reloaded, headers.keyId, message, signature)) {
        entry = reloaded;
      } else {
        throw new TongfuError('SIGNATURE_INVALID', headers.keyId === undefined || (reloaded ?? entry).verifiers.has(headers.keyId)
          ? 'the signature does not verify with any active key of this party'
          : `X-Tongfu-Key-Id ${JSON.stringify(headers.keyId.slice(0, 64))} is not an active key of this party`);
      }
    }

    // NONCE_REUSED: stored now that the signature has verified (never before) — or, when it is
    // the last check and the route asked, by the route's first statement.
    const nonce = nonceClaimAt(headers.appId, headers.nonce, realNow, new Date(Number(headers.timestamp) * 1000));
    const lastCheck = entry.status === 'ACTIVE' && entry.party.role === role;
    if (deferNonce && lastCheck) return { party: entry.party, nonce };
    await this.claimNonce(nonce);

    if (entry.status !== 'ACTIVE') throw new TongfuError('PARTY_DISABLED', `party ${headers.appId} is disabled`);
    if (entry.party.role !== role) {
      throw new TongfuError('FORBIDDEN', `${aPartyOfRole(entry.party.role)} may not call /v1/${role}`);
    }
    return { party: entry.party, nonce: null };
  }

  invalidate(appId: string): void {
    this.invalidations += 1;
    this.loading.delete(appId);
    const entry = this.entries.get(appId);
    // Keep the entry (its verifiers are reused when the keys are unchanged), but read it again.
    if (entry) entry.stale = true;
  }

  invalidateAll(): void {
    this.invalidations += 1;
    this.loading.clear();
    for (const entry of this.entries.values()) entry.stale = true;
  }

  /** The party by appId: from the cache while fresh, else read (once, however many requests wait). */
  private async cachedParty(appId: string): Promise<CachedParty | undefined> {
    const cached = this.entries.get(appId);
    if (cached && this.isFresh(cached)) {
      // Map order is the LRU order: move the entry to the young end.
      this.entries.delete(appId);
      this.entries.set(appId, cached);
      // Read ahead of the expiry, once (load shares a read in flight); a failed read leaves the
      // entry to expire, and the request after that reads, and answers, for itself.
      if (this.isDueForRefresh(cached)) this.load(appId).catch((error: unknown) => this.deps.log.warn({ err: error, appId }, 'reading a party ahead of its expiry failed'));
      return cached;
    }
    return this.load(appId);
  }

  private isDueForRefresh(entry: CachedParty): boolean {
    return this.deps.realClock.now().getTime() - entry.loadedAtMs >= this.ttlMs * PARTY_CACHE_REFRESH_AT_SHARE;
  }

  private isFresh(entry: CachedParty): boolean {
    const ageMs = this.deps.realClock.now().getTime() - entry.loadedAtMs;
    // A clock that stepped back makes the age negative: read again rather than trust longer.
    return !entry.stale && ageMs >= 0 && ageMs < this.ttlMs;
  }

  private async reloadAfterMiss(appId: string, entry: CachedParty, realNow: Date): Promise<CachedParty | undefined> {
    const ageMs = realNow.getTime() - entry.loadedAtMs;
    if (!entry.stale && ageMs >= 0 && ageMs < this.reloadOnMissIntervalMs) return undefined;
    const reloaded = await this.load(appId);
    if (!reloaded || sameKeys(reloaded, entry)) return undefined;
    return reloaded;
  }

  private load(appId: string): Promise<CachedParty | undefined> {
    const inFlight = this.loading.get(appId);
    if (inFlight) return inFlight;
    const invalidationsAtStart = this.invalidations;
    const loadedAtMs = this.deps.realClock.now().getTime();
    const promise = findPartyAccess(this.deps.db, appId)
      .then((record) => {
        if (!record) {
          // Not cached: a party registered a moment later must be found at once.
          this.entries.delete(appId);
          return undefined;
        }
        const entry = this.buildEntry(record, this.entries.get(appId), loadedAtMs);
        // An invalidation while reading means the read may predate the change it announces.
        entry.stale = this.invalidations !== invalidationsAtStart;
        this.remember(appId, entry);
        return entry;
      })
      .finally(() => {
        if (this.loading.get(appId) === promise) this.loading.delete(appId);
      });
    this.loading.set(appId, promise);
    return promise;
  }

  private remember(appId: string, entry: CachedParty): void {
    this.entries.delete(appId);
    this.entries.set(appId, entry);
    while (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Verifiers of keys already cached are reused: a keyId names one key for good (keys.ts). */
  private buildEntry(record: PartyAccessRecord, previous: CachedParty | undefined, loadedAtMs: number): CachedParty {
    const role = record.role as PartyRole;
    assert((PARTY_ROLES as readonly string[]).includes(role), `party ${record.appId} has an unknown role ${record.role}`);
    const verifiers = new Map<string, RequestVerifier>();
    for (const key of record.activeKeys) {
      const reused = previous?.verifiers.get(key.keyId);
      if (reused) {
        verifiers.set(key.keyId, reused);
        continue;
      }
      const publicKey = parsePublicKey(key.publicKeyPem);
      // The registration stored the key and its derived id together; disagreement is corruption.
      assert(publicKey.keyId === key.keyId && publicKey.algorithm === key.algorithm, `stored key ${key.keyId} of party ${record.appId} does not match its PEM`);
      verifiers.set(key.keyId, createVerifier(publicKey));
      this.deps.log.debug({ appId: record.appId, keyId: key.keyId, algorithm: key.algorithm }, 'verifier built for a party key');
    }
    return {
      party: { partyId: record.partyId, appId: record.appId, role, code: record.code, name: record.name },
      status: record.status,
      verifiers,
      loadedAtMs,
      stale: false,
    };
  }
}

function unknownApp(appId: string): TongfuError {
  return new TongfuError('UNKNOWN_APP', `no party has appId ${JSON.stringify(appId.slice(0, 64))}`);
}

function sameKeys(a: CachedParty, b: CachedParty): boolean {
  if (a.verifiers.size !== b.verifiers.size) return false;
  for (const keyId of a.verifiers.keys()) if (!b.verifiers.has(keyId)) return false;
  return true;
}

/** SIGNATURE_MISSING unless every required header is present and non-empty. */
function readSignatureHeaders(headers: SignedRequest['headers']): SignatureHeaders {
  const read = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()];
    // Node joins repeated custom headers with ", "; an array only comes from odd callers.
    const text = Array.isArray(value) ? value.join(', ') : value;
    return text === undefined || text === '' ? undefined : text;
  };
  const appId = read(SIGNATURE_HEADERS.appId);
  const timestamp = read(SIGNATURE_HEADERS.timestamp);
  const nonce = read(SIGNATURE_HEADERS.nonce);
  const signature = read(SIGNATURE_HEADERS.signature);
  if (appId === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
    const present: Array<[string, string | undefined]> = [
      [SIGNATURE_HEADERS.appId, appId],
      [SIGNATURE_HEADERS.timestamp, timestamp],
      [SIGNATURE_HEADERS.nonce, nonce],
      [SIGNATURE_HEADERS.signature, signature],
    ];
    const missing = present.filter(([, value]) => value === undefined).map(([name]) => name);
    throw new TongfuError('SIGNATURE_MISSING', `signed request without ${missing.join(', ')}`, { missingHeaders: missing });
  }
  return { appId, keyId: read(SIGNATURE_HEADERS.keyId), timestamp, nonce, signature };
}

/**
 * The UTF-8 bytes of the string to sign, per digest algorithm: line 5 is SM3 of the body for SM2
 * keys and SHA-256 for RSA keys, so a party with both kinds of key is checked against two strings.
 * Each is computed at most once per request.
 */
class StringToSignCache {
  private readonly bytes = new Map<KeyAlgorithm, Buffer>();

  constructor(
    private readonly method: string,
    private readonly target: string,
    private readonly headers: SignatureHeaders,
    /** Line 5 for a key of this algorithm; undefined when the body was not hashed for it. */
    private readonly digestFor: (algorithm: KeyAlgorithm) => string | undefined,
  ) {}

  bytesFor(verifier: RequestVerifier): Buffer | undefined {
    const cached = this.bytes.get(verifier.algorithm);
    if (cached) return cached;
    const bodyDigestHex = this.digestFor(verifier.algorithm);
    if (bodyDigestHex === undefined) return undefined;
    let text: string;
    try {
      text = stringToSign({ method: this.method, target: this.target, timestamp: this.headers.timestamp, nonce: this.headers.nonce, bodyDigestHex });
    } catch {
      // A line break in a part: no signature can be valid for it.
      return undefined;
    }
    const bytes = Buffer.from(text, 'utf8');
    this.bytes.set(verifier.algorithm, bytes);
    return bytes;
  }
}

/** With a Key-Id, only that active key; without, every active key (docs/interface.md §2). */
function verifiesWithAny(entry: CachedParty, keyId: string | undefined, message: StringToSignCache, signature: Buffer): boolean {
  const candidates = keyId === undefined ? [...entry.verifiers.values()] : [entry.verifiers.get(keyId)].filter((v): v is RequestVerifier => v !== undefined);
  for (const verifier of candidates) {
    const bytes = message.bytesFor(verifier);
    if (bytes && verifier.verify(bytes, signature)) return true;
  }
  return false;
}
