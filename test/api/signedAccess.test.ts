import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { bodyDigest, generateNonce, SIGNATURE_HEADERS, stringToSign } from '../../src/crypto/requestSigning';
import { createSm2Signer } from '../../src/crypto/sm2';
import { ManualClock } from '../../src/domain/clock';
import { createApp } from '../../src/http/app';
import { PARTY_ROLES, PartyRole } from '../../src/domain/access';
import type { RouteDefinition } from '../../src/http/call';
import { Contract, loadContractDocument } from '../../src/http/contract';
import { Metrics } from '../../src/http/metrics';
import { PARTY_CACHE_TTL_MS_MAX, RELOAD_ON_MISS_INTERVAL_MS } from '../../src/services/authentication';
import { NONCE_REUSE_WINDOW_MS } from '../../src/services/nonces';
import { TongfuError } from '../../src/domain/errors';
import { schemaErrors } from '../helpers/contract';
import { capturingLogger } from '../helpers/instances';
import { newSm2Credentials, PartyCredentials, signedRequest } from '../helpers/signedClient';
import { insertParty, insertPartyKey, PartyRow, retirePartyKey, setPartyStatus } from '../helpers/partyRows';
import { startTestService, TestService } from '../helpers/testService';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';

// Signed access (docs/interface.md §2) end to end over HTTP, before any party endpoint exists: parties
// are written straight into the database, and a tiny app with the real pipeline serves one signed
// route per role prefix (GET /v1/{role}/ping, POST /v1/{role}/echo). Its authenticator is the one
// the service wires, on the service's database; the real clock is a ManualClock, so timestamps and
// the cache's TTL are exact.

/** A party's private key as an integrator holds it: signs the UTF-8 string to sign. */
interface TestSigner {
  algorithm: 'SM2' | 'RSA';
  /** What is registered: PEM, or the 130-hex SM2 point. */
  publicKey: string;
  sign(text: string): Buffer;
}

function sm2Signer(): TestSigner {
  const pair = generateSm2KeyPair();
  const signer = createSm2Signer(pair.privateKeyHex);
  return { algorithm: 'SM2', publicKey: pair.publicKeyPem, sign: (text) => signer.sign(text) };
}

/** Keys and signatures from `sm-crypto`, the independent SM2 implementation integrators use. */
function smCryptoSigner(): TestSigner {
  const { privateKey, publicKey } = smCryptoSm2.generateKeyPairHex();
  return {
    algorithm: 'SM2',
    publicKey,
    sign: (text) => Buffer.from(smCryptoSm2.doSignature(text, privateKey, { hash: true, der: true }), 'hex'),
  };
}

function rsaSigner(): TestSigner {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    algorithm: 'RSA',
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (text) => crypto.sign('sha256', Buffer.from(text, 'utf8'), { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }),
  };
}

interface Attempt {
  party: Pick<PartyRow, 'appId'>;
  signer: TestSigner;
  keyId?: string;
  method?: 'GET' | 'POST';
  path?: string;
  body?: string;
  timestamp?: string;
  nonce?: string;
  /** What the signature covers, where it must differ from what is sent (tampering). */
  signed?: { method?: string; target?: string; body?: string };
  /** Header overrides; undefined removes the header. */
  headers?: Record<string, string | undefined>;
}

interface Sent {
  status: number;
  body: any;
  headers: Record<string, string>;
}

describe('signed access', () => {
  let service: TestService;
  let server: http.Server;
  let baseUrl: string;
  const clock = new ManualClock(new Date());
  const handled: Array<{ appId: string; path: string }> = [];
  const appLog = capturingLogger();
  const nowSeconds = (): number => Math.floor(clock.now().getTime() / 1000);

  beforeAll(async () => {
    service = await startTestService({ real: clock });
    const document = loadContractDocument();
    const routes: RouteDefinition[] = [];
    for (const role of PARTY_ROLES) {
      document.paths[`/v1/${role}/ping`] = {
        get: { operationId: `testPing_${role}`, parameters: [{ name: 'x', in: 'query', required: false, schema: { type: 'string' } }], responses: {} },
      };
      document.paths[`/v1/${role}/echo`] = {
        post: { operationId: `testEcho_${role}`, requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: {} },
      };
      routes.push(
        { method: 'GET', path: `/v1/${role}/ping`, operationId: `testPing_${role}`, access: role, body: 'none', handle: (call) => answer(call.party!, call.koa.path, call.query) },
        { method: 'POST', path: `/v1/${role}/echo`, operationId: `testEcho_${role}`, access: role, body: 'json', handle: (call) => answer(call.party!, call.koa.path, call.body) },
      );
    }
    // Routes that store their own nonce (decision 0009): one takes it and stores it as the real
    // routes do, one throws before taking it, one (a bug) never takes it.
    for (const [name, behaviour] of [['takes', 'takes'], ['throws', 'throws'], ['forgets', 'forgets']] as const) {
      document.paths[`/v1/agency/own-nonce/${name}`] = {
        post: { operationId: `testOwnNonce_${name}`, requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: {} },
      };
      routes.push({
        method: 'POST',
        path: `/v1/agency/own-nonce/${name}`,
        operationId: `testOwnNonce_${name}`,
        access: 'agency',
        body: 'json',
        storesNonce: true,
        handle: async (call) => {
          if (behaviour === 'throws') throw new TongfuError('NOTICE_NOT_FOUND', 'thrown before the nonce was taken');
          if (behaviour === 'takes') await service.runtime.services.authenticator.claimNonce!(call.nonce!.take());
          return answer(call.party!, call.koa.path, call.body);
        },
      });
    }
    async function answer(party: { appId: string; role: PartyRole; partyId: string }, path: string, echo: unknown) {
      handled.push({ appId: party.appId, path });
      return { status: 200, body: { appId: party.appId, role: party.role, partyId: party.partyId, echo } };
    }
    const app = createApp({
      log: appLog.log,
      contract: new Contract(document),
      metrics: new Metrics(),
      routes,
      authenticator: service.runtime.services.authenticator,
      readiness: async () => undefined,
    });
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await service?.close();
  });

  function signedHeaders(attempt: Attempt): Record<string, string> {
    const method = attempt.method ?? 'GET';
    const path = attempt.path ?? defaultPath(attempt);
    const timestamp = attempt.timestamp ?? String(nowSeconds());
    const nonce = attempt.nonce ?? generateNonce();
    const text = stringToSign({
      method: attempt.signed?.method ?? method,
      target: attempt.signed?.target ?? path,
      timestamp,
      nonce,
      bodyDigestHex: bodyDigest(attempt.signer.algorithm, attempt.signed?.body ?? attempt.body),
    });
    const headers: Record<string, string> = {
      [SIGNATURE_HEADERS.appId]: attempt.party.appId,
      [SIGNATURE_HEADERS.timestamp]: timestamp,
      [SIGNATURE_HEADERS.nonce]: nonce,
      [SIGNATURE_HEADERS.signature]: attempt.signer.sign(text).toString('base64'),
    };
    if (attempt.keyId !== undefined) headers[SIGNATURE_HEADERS.keyId] = attempt.keyId;
    for (const [name, value] of Object.entries(attempt.headers ?? {})) {
      if (value === undefined) delete headers[name];
      else headers[name] = value;
    }
    return headers;
  }

  function defaultPath(attempt: Attempt): string {
    return attempt.method === 'POST' ? '/v1/agency/echo' : '/v1/agency/ping';
  }

  async function sendHeaders(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Sent> {
    const response = await fetch(`${baseUrl}${path}`, { method, headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' }, body });
    const text = await response.text();
    const parsed = text === '' ? undefined : JSON.parse(text);
    if (response.status >= 400) expect(schemaErrors('ErrorEnvelope', parsed)).toEqual([]);
    return { status: response.status, body: parsed, headers };
  }

  function send(attempt: Attempt): Promise<Sent> {
    return sendHeaders(attempt.method ?? 'GET', attempt.path ?? defaultPath(attempt), signedHeaders(attempt), attempt.body);
  }

  function expectRefused(sent: Sent, status: number, code: string): void {
    expect({ status: sent.status, code: sent.body?.error?.code }).toEqual({ status, code });
  }

  async function agency(signers: TestSigner[] = [sm2Signer()]): Promise<PartyRow & { signers: TestSigner[] }> {
    const row = await insertParty(service.database.db, { role: 'agency', publicKeys: signers.map((s) => s.publicKey) });
    return { ...row, signers };
  }

  async function storedNonces(appId: string): Promise<string[]> {
    const rows = await service.database.db('request_nonces').where({ app_id: appId }).select<Array<{ nonce: string }>>('nonce');
    return rows.map((row) => row.nonce);
  }

  describe('accepts', () => {
    it('an SM2 party, with and without X-Tongfu-Key-Id, for GET and POST', async () => {
      const party = await agency();
      const signer = party.signers[0]!;
      const withKeyId = await send({ party, signer, keyId: party.keyIds[0] });
      expect(withKeyId.status).toBe(200);
      expect(withKeyId.body).toMatchObject({ appId: party.appId, role: 'agency', partyId: party.partyId });
      expect((await send({ party, signer })).status).toBe(200);
      const posted = await send({ party, signer, method: 'POST', body: '{"amount":"100.00","名":"张三"}' });
      expect(posted.status).toBe(200);
      expect(posted.body.echo).toEqual({ amount: '100.00', 名: '张三' });
    });

    it('signatures made by the independent sm-crypto package, for a key registered as its 130-hex point', async () => {
      const signer = smCryptoSigner();
      const party = await agency([signer]);
      expect((await send({ party, signer, keyId: party.keyIds[0], method: 'POST', body: '{"payCode":"12345678901234567890"}' })).status).toBe(200);
      const withQuery = await send({ party, signer, path: '/v1/agency/ping?x=%E7%BC%B4%20a' });
      expect(withQuery.status).toBe(200);
      expect(withQuery.body.echo).toEqual({ x: '缴 a' });
    });

    it('an RSA-2048 party (SHA-256 body digest, PKCS#1 v1.5)', async () => {
      const signer = rsaSigner();
      const party = await agency([signer]);
      expect((await send({ party, signer, keyId: party.keyIds[0], method: 'POST', body: '{"a":1}' })).status).toBe(200);
      expect((await send({ party, signer })).status).toBe(200);
    });

    it('a party with an SM2 and an RSA key, trying each key with its own body digest', async () => {
      const sm2 = sm2Signer();
      const rsa = rsaSigner();
      const party = await agency([sm2, rsa]);
      expect((await send({ party, signer: rsa, method: 'POST', body: '{"by":"rsa"}' })).status).toBe(200);
      expect((await send({ party, signer: sm2, method: 'POST', body: '{"by":"sm2"}' })).status).toBe(200);
    });

    it('timestamps exactly 300 s either side of the real clock', async () => {
      const party = await agency();
      expect((await send({ party, signer: party.signers[0]!, timestamp: String(nowSeconds() - 300) })).status).toBe(200);
      expect((await send({ party, signer: party.signers[0]!, timestamp: String(nowSeconds() + 300) })).status).toBe(200);
    });

    it('the path prefix of each role for a party of that role', async () => {
      for (const role of PARTY_ROLES) {
        const signer = sm2Signer();
        const party = await insertParty(service.database.db, { role, publicKeys: [signer.publicKey] });
        const sent = await send({ party, signer, path: `/v1/${role}/ping` });
        expect({ role, status: sent.status, body: sent.body.role }).toEqual({ role, status: 200, body: role });
      }
    });
  });

  describe('refuses, with 401 or 403 and the first failing check', () => {
    it.each([SIGNATURE_HEADERS.appId, SIGNATURE_HEADERS.timestamp, SIGNATURE_HEADERS.nonce, SIGNATURE_HEADERS.signature])('without %s: SIGNATURE_MISSING', async (header) => {
      const party = await agency();
      expectRefused(await send({ party, signer: party.signers[0]!, headers: { [header]: undefined } }), 401, 'SIGNATURE_MISSING');
      expectRefused(await send({ party, signer: party.signers[0]!, headers: { [header]: '' } }), 401, 'SIGNATURE_MISSING');
    });

    it('an unsigned request: SIGNATURE_MISSING', async () => {
      const sent = await sendHeaders('GET', '/v1/finance/ping', {});
      expectRefused(sent, 401, 'SIGNATURE_MISSING');
      expect(sent.body.error.details.missingHeaders).toHaveLength(4);
    });

    it('an unknown appId: UNKNOWN_APP', async () => {
      const signer = sm2Signer();
      expectRefused(await send({ party: { appId: 'app_nobody' }, signer }), 401, 'UNKNOWN_APP');
      expectRefused(await send({ party: { appId: 'not an/app id' }, signer }), 401, 'UNKNOWN_APP');
    });

    it.each([
      ['stale by 301 s', -301],
      ['ahead by 301 s', 301],
      ['stale by a day', -86_400],
    ])('a timestamp %s: TIMESTAMP_OUT_OF_WINDOW', async (_label, offsetSeconds) => {
      const party = await agency();
      expectRefused(await send({ party, signer: party.signers[0]!, timestamp: String(nowSeconds() + offsetSeconds) }), 401, 'TIMESTAMP_OUT_OF_WINDOW');
    });

    it.each([
      ['with decimals', (now: number) => `${now}.0`],
      ['with a sign', (now: number) => `+${now}`],
      ['in milliseconds', (now: number) => `${now}000`],
      ['with an exponent', () => '1e9'],
      ['in words', () => 'now'],
    ])('a timestamp %s, not Unix seconds: TIMESTAMP_OUT_OF_WINDOW', async (_label, timestampOf) => {
      const party = await agency();
      expectRefused(await send({ party, signer: party.signers[0]!, timestamp: timestampOf(nowSeconds()) }), 401, 'TIMESTAMP_OUT_OF_WINDOW');
    });

    it('checks the timestamp against the real clock, never the business clock', async () => {
      const party = await agency();
      service.clocks.business.advance(3 * 86_400_000);
      try {
        expect((await send({ party, signer: party.signers[0]!, timestamp: String(nowSeconds()) })).status).toBe(200);
        const businessSeconds = Math.floor(service.clocks.business.now().getTime() / 1000);
        expectRefused(await send({ party, signer: party.signers[0]!, timestamp: String(businessSeconds) }), 401, 'TIMESTAMP_OUT_OF_WINDOW');
      } finally {
        service.clocks.business.advance(-3 * 86_400_000);
      }
    });

    it('a tampered body, path, query or method: SIGNATURE_INVALID', async () => {
      const party = await agency();
      const signer = party.signers[0]!;
      expectRefused(await send({ party, signer, method: 'POST', body: '{"amount":"100.01"}', signed: { body: '{"amount":"100.00"}' } }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer, method: 'POST', body: '{"amount":"100.00"} ', signed: { body: '{"amount":"100.00"}' } }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer, path: '/v1/agency/ping', signed: { target: '/v1/agency/echo' } }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer, path: '/v1/agency/ping?x=2', signed: { target: '/v1/agency/ping?x=1' } }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer, path: '/v1/agency/ping?x=1', signed: { target: '/v1/agency/ping' } }), 401, 'SIGNATURE_INVALID');
      // The target is verified exactly as sent: an equivalent encoding is another target.
      expectRefused(await send({ party, signer, path: '/v1/agency/ping?x=%41', signed: { target: '/v1/agency/ping?x=A' } }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer, method: 'POST', body: '{}', signed: { method: 'PUT' } }), 401, 'SIGNATURE_INVALID');
      expect(handled.filter((call) => call.appId === party.appId)).toEqual([]);
    });

    it('a signature by a key the party did not register: SIGNATURE_INVALID', async () => {
      const party = await agency();
      expectRefused(await send({ party, signer: sm2Signer() }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer: sm2Signer(), keyId: party.keyIds[0] }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer: rsaSigner() }), 401, 'SIGNATURE_INVALID');
    });

    it('an unknown X-Tongfu-Key-Id, even with a signature by an active key: SIGNATURE_INVALID', async () => {
      const party = await agency();
      const other = await agency();
      expectRefused(await send({ party, signer: party.signers[0]!, keyId: 'k000000000000000000000000' }), 401, 'SIGNATURE_INVALID');
      // Another party's key id names no key of this party.
      expectRefused(await send({ party, signer: party.signers[0]!, keyId: other.keyIds[0] }), 401, 'SIGNATURE_INVALID');
    });

    it('a retired key, named or not: SIGNATURE_INVALID', async () => {
      const [kept, retired] = [sm2Signer(), sm2Signer()];
      const party = await agency([kept, retired]);
      await retirePartyKey(service.database.db, party.partyId, party.keyIds[1]!);
      service.runtime.services.authenticator.invalidate(party.appId);
      expectRefused(await send({ party, signer: retired, keyId: party.keyIds[1] }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer: retired }), 401, 'SIGNATURE_INVALID');
      expect((await send({ party, signer: kept, keyId: party.keyIds[0] })).status).toBe(200);
    });

    it.each([
      ['too short', 'abcdefghijklmno'],
      ['too long', 'a'.repeat(65)],
      ['with a character outside [A-Za-z0-9_-]', 'abcdefghijklmnop.'],
    ])('a nonce %s, even correctly signed: SIGNATURE_INVALID', async (_label, nonce) => {
      const party = await agency();
      expectRefused(await send({ party, signer: party.signers[0]!, nonce }), 401, 'SIGNATURE_INVALID');
    });

    it.each([
      ['not base64', 'not base64!'],
      ['unpadded base64', 'MEUCIQ'],
      ['base64 of garbage', Buffer.from('garbage').toString('base64')],
    ])('a signature that is %s: SIGNATURE_INVALID', async (_label, signature) => {
      const party = await agency();
      expectRefused(await send({ party, signer: party.signers[0]!, headers: { [SIGNATURE_HEADERS.signature]: signature } }), 401, 'SIGNATURE_INVALID');
    });

    it('an identical copy of a request: NONCE_REUSED', async () => {
      const party = await agency();
      const first = await send({ party, signer: party.signers[0]!, method: 'POST', body: '{"n":1}' });
      expect(first.status).toBe(200);
      expectRefused(await sendHeaders('POST', '/v1/agency/echo', first.headers, '{"n":1}'), 401, 'NONCE_REUSED');
      expect(handled.filter((call) => call.appId === party.appId)).toHaveLength(1);
    });

    it('a freshly signed request that reuses a nonce within 15 minutes: NONCE_REUSED; after them it is free', async () => {
      const party = await agency();
      const other = await agency();
      const nonce = generateNonce();
      expect((await send({ party, signer: party.signers[0]!, nonce })).status).toBe(200);
      // Nonces are per appId.
      expect((await send({ party: other, signer: other.signers[0]!, nonce })).status).toBe(200);
      clock.advance(NONCE_REUSE_WINDOW_MS - 1000);
      expectRefused(await send({ party, signer: party.signers[0]!, nonce }), 401, 'NONCE_REUSED');
      clock.advance(1000);
      expect((await send({ party, signer: party.signers[0]!, nonce })).status).toBe(200);
      expectRefused(await send({ party, signer: party.signers[0]!, nonce }), 401, 'NONCE_REUSED');
    });

    it('a disabled party: 403 PARTY_DISABLED', async () => {
      const party = await agency();
      expect((await send({ party, signer: party.signers[0]! })).status).toBe(200);
      await setPartyStatus(service.database.db, party.appId, 'DISABLED');
      service.runtime.services.authenticator.invalidate(party.appId);
      expectRefused(await send({ party, signer: party.signers[0]! }), 403, 'PARTY_DISABLED');
      await setPartyStatus(service.database.db, party.appId, 'ACTIVE');
      service.runtime.services.authenticator.invalidate(party.appId);
      expect((await send({ party, signer: party.signers[0]! })).status).toBe(200);
    });

    it('another role’s path prefix: 403 FORBIDDEN', async () => {
      const party = await agency();
      for (const role of ['finance', 'unit', 'bank'] as const) {
        expectRefused(await send({ party, signer: party.signers[0]!, path: `/v1/${role}/ping` }), 403, 'FORBIDDEN');
      }
      expect(handled.filter((call) => call.appId === party.appId)).toEqual([]);
    });
  });

  describe('runs the checks in the order of the standard', () => {
    it('answers the first failure when several apply', async () => {
      const party = await agency();
      const signer = party.signers[0]!;
      const stale = String(nowSeconds() - 1000);
      const forged = sm2Signer();
      expectRefused(await send({ party: { appId: 'app_nobody' }, signer, headers: { [SIGNATURE_HEADERS.nonce]: undefined } }), 401, 'SIGNATURE_MISSING');
      expectRefused(await send({ party: { appId: 'app_nobody' }, signer: forged, timestamp: stale }), 401, 'UNKNOWN_APP');
      expectRefused(await send({ party, signer: forged, timestamp: stale, nonce: 'short' }), 401, 'TIMESTAMP_OUT_OF_WINDOW');

      const used = await send({ party, signer });
      expect(used.status).toBe(200);
      const usedNonce = used.headers[SIGNATURE_HEADERS.nonce]!;
      expectRefused(await send({ party, signer: forged, nonce: usedNonce, path: '/v1/bank/ping' }), 401, 'SIGNATURE_INVALID');

      await setPartyStatus(service.database.db, party.appId, 'DISABLED');
      service.runtime.services.authenticator.invalidate(party.appId);
      expectRefused(await send({ party, signer, nonce: usedNonce, path: '/v1/bank/ping' }), 401, 'NONCE_REUSED');
      expectRefused(await send({ party, signer, path: '/v1/bank/ping' }), 403, 'PARTY_DISABLED');
    });
  });

  describe('on a route that stores its own nonce (decision 0009)', () => {
    const post = (party: PartyRow & { signers: TestSigner[] }, name: string, nonce: string, body = '{"n":1}') =>
      send({ party, signer: party.signers[0]!, method: 'POST', path: `/v1/agency/own-nonce/${name}`, body, nonce });

    it('refuses a copy once the route has stored the nonce', async () => {
      const party = await agency();
      const nonce = generateNonce();
      expect((await post(party, 'takes', nonce)).status).toBe(200);
      expect(await storedNonces(party.appId)).toEqual([nonce]);
      expectRefused(await post(party, 'takes', nonce), 401, 'NONCE_REUSED');
    });

    it('stores the nonce itself when the request fails before the route took it: broken JSON, or the route throwing', async () => {
      const party = await agency();
      const broken = generateNonce();
      expectRefused(await post(party, 'takes', broken, '{broken'), 400, 'MALFORMED_JSON');
      expectRefused(await post(party, 'takes', broken, '{broken'), 401, 'NONCE_REUSED');
      const thrown = generateNonce();
      expectRefused(await post(party, 'throws', thrown), 404, 'NOTICE_NOT_FOUND');
      expectRefused(await post(party, 'throws', thrown), 401, 'NONCE_REUSED');
      expect((await storedNonces(party.appId)).sort()).toEqual([broken, thrown].sort());
    });

    it('stores the nonce before FORBIDDEN and PARTY_DISABLED, as on any route', async () => {
      const unit = await insertParty(service.database.db, { role: 'unit', publicKeys: [sm2Signer().publicKey] });
      const unitSigner = sm2Signer();
      const unitParty = await insertParty(service.database.db, { role: 'unit', publicKeys: [unitSigner.publicKey] });
      expect(unit.appId).not.toBe(unitParty.appId);
      const nonce = generateNonce();
      expectRefused(await send({ party: unitParty, signer: unitSigner, method: 'POST', path: '/v1/agency/own-nonce/takes', body: '{}', nonce }), 403, 'FORBIDDEN');
      expect(await storedNonces(unitParty.appId)).toEqual([nonce]);
      expectRefused(await send({ party: unitParty, signer: unitSigner, method: 'POST', path: '/v1/agency/own-nonce/takes', body: '{}', nonce }), 401, 'NONCE_REUSED');

      const disabled = await agency();
      await setPartyStatus(service.database.db, disabled.appId, 'DISABLED');
      service.runtime.services.authenticator.invalidate(disabled.appId);
      const disabledNonce = generateNonce();
      expectRefused(await post(disabled, 'takes', disabledNonce), 403, 'PARTY_DISABLED');
      expect(await storedNonces(disabled.appId)).toEqual([disabledNonce]);
    });

    it('stores the nonce after the answer, and logs an error, when a route forgets to take it (a bug the log must show)', async () => {
      const party = await agency();
      const nonce = generateNonce();
      const logged = appLog.lines.length;
      expect((await post(party, 'forgets', nonce)).status).toBe(200);
      expect(await storedNonces(party.appId)).toEqual([nonce]);
      const errors = appLog.lines.slice(logged).map((line) => JSON.parse(line) as { level: string; msg: string; route?: string });
      expect(errors.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([expect.objectContaining({ msg: expect.stringContaining('answered without taking it'), route: 'testOwnNonce_forgets' })]);
    });
  });

  describe('processes nothing for a refused request', () => {
    it('stores no nonce when the signature fails, so the genuine request with that nonce still succeeds', async () => {
      const party = await agency();
      const nonce = generateNonce();
      expectRefused(await send({ party, signer: sm2Signer(), nonce }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer: party.signers[0]!, nonce, timestamp: String(nowSeconds() - 301) }), 401, 'TIMESTAMP_OUT_OF_WINDOW');
      expect(await storedNonces(party.appId)).toEqual([]);
      expect(handled.filter((call) => call.appId === party.appId)).toEqual([]);
      expect((await send({ party, signer: party.signers[0]!, nonce })).status).toBe(200);
      expect(await storedNonces(party.appId)).toEqual([nonce]);
    });

    it('reaches no handler and never parses the body of a refused request', async () => {
      const party = await agency();
      // A body that is not JSON: a refusal must answer before MALFORMED_JSON (docs/interface.md §3).
      expectRefused(await send({ party, signer: sm2Signer(), method: 'POST', body: '{broken' }), 401, 'SIGNATURE_INVALID');
      expectRefused(await send({ party, signer: party.signers[0]!, method: 'POST', body: '{broken', path: '/v1/unit/echo' }), 403, 'FORBIDDEN');
      expectRefused(await send({ party, signer: party.signers[0]!, method: 'POST', body: '{broken' }), 400, 'MALFORMED_JSON');
      expect(handled.filter((call) => call.appId === party.appId)).toEqual([]);
    });
  });

  describe('keys and the party cache', () => {
    it('accepts every active key while a party rotates', async () => {
      const [old, next] = [sm2Signer(), sm2Signer()];
      const party = await agency([old]);
      expect((await send({ party, signer: old })).status).toBe(200);
      const nextKeyId = await insertPartyKey(service.database.db, party.partyId, next.publicKey);
      service.runtime.services.authenticator.invalidate(party.appId);
      for (const [signer, keyId] of [[old, party.keyIds[0]], [next, nextKeyId]] as const) {
        expect((await send({ party, signer, keyId })).status).toBe(200);
        expect((await send({ party, signer })).status).toBe(200);
      }
      await retirePartyKey(service.database.db, party.partyId, party.keyIds[0]!);
      service.runtime.services.authenticator.invalidate(party.appId);
      expectRefused(await send({ party, signer: old }), 401, 'SIGNATURE_INVALID');
      expect((await send({ party, signer: next })).status).toBe(200);
    });

    it('refuses a party disabled on another instance within the cache bound (5 s), without being told', async () => {
      const party = await agency();
      expect((await send({ party, signer: party.signers[0]! })).status).toBe(200);
      // Another instance disables it: this one is not told (no invalidate).
      await setPartyStatus(service.database.db, party.appId, 'DISABLED');
      // Documented bound, not a wish: until the entry is PARTY_CACHE_TTL_MS_MAX old it may still pass.
      clock.advance(PARTY_CACHE_TTL_MS_MAX - 1);
      expect((await send({ party, signer: party.signers[0]! })).status).toBe(200);
      clock.advance(1);
      expectRefused(await send({ party, signer: party.signers[0]! }), 403, 'PARTY_DISABLED');
    });

    it('refuses a key retired on another instance within the cache bound, without being told', async () => {
      const [kept, retired] = [sm2Signer(), sm2Signer()];
      const party = await agency([kept, retired]);
      expect((await send({ party, signer: retired })).status).toBe(200);
      await retirePartyKey(service.database.db, party.partyId, party.keyIds[1]!);
      clock.advance(PARTY_CACHE_TTL_MS_MAX);
      expectRefused(await send({ party, signer: retired }), 401, 'SIGNATURE_INVALID');
      expect((await send({ party, signer: kept })).status).toBe(200);
    });

    it('accepts a key added on another instance as soon as the cached entry is a second old', async () => {
      const party = await agency();
      expect((await send({ party, signer: party.signers[0]! })).status).toBe(200);
      const added = sm2Signer();
      const addedKeyId = await insertPartyKey(service.database.db, party.partyId, added.publicKey);
      clock.advance(RELOAD_ON_MISS_INTERVAL_MS);
      expect((await send({ party, signer: added, keyId: addedKeyId })).status).toBe(200);
    });

    it('finds a party registered after its appId was refused as unknown', async () => {
      const signer = sm2Signer();
      const appId = `app_${crypto.randomBytes(6).toString('hex')}`;
      expectRefused(await send({ party: { appId }, signer }), 401, 'UNKNOWN_APP');
      await insertParty(service.database.db, { role: 'agency', publicKeys: [signer.publicKey], appId });
      expect((await send({ party: { appId }, signer })).status).toBe(200);
    });
  });
  describe("through the service's own routes", () => {
    async function financeParty(): Promise<PartyCredentials & { partyId: string; keyIds: string[] }> {
      const credentials = newSm2Credentials();
      const row = await insertParty(service.database.db, { role: 'finance', publicKeys: [credentials.publicKeyPem] });
      return { appId: row.appId, privateKey: credentials.privateKey, publicKey: credentials.publicKeyPem, partyId: row.partyId, keyIds: row.keyIds };
    }
    const call = (credentials: PartyCredentials, method: string, path: string, options: { body?: unknown; keyId?: string } = {}) =>
      signedRequest(service, credentials, method, path, { ...options, timestampSeconds: nowSeconds() });

    it('refuses a party disabled through PATCH at once, and a key retired through DELETE at once', async () => {
      const [admin, subject] = [await financeParty(), await financeParty()];
      expect((await call(subject, 'GET', `/v1/finance/parties/${admin.appId}`)).status).toBe(200);

      const rotated = newSm2Credentials();
      // A finance party rotates its own keys (another finance party may not, decision 0205).
      const added = await call(subject, 'POST', `/v1/finance/parties/${subject.appId}/keys`, { body: { publicKey: rotated.publicKeyPem } });
      expect(added.status).toBe(201);
      const withRotated: PartyCredentials = { appId: subject.appId, privateKey: rotated.privateKey, publicKey: rotated.publicKeyPem };
      expect((await call(withRotated, 'GET', `/v1/finance/parties/${subject.appId}`, { keyId: added.body.keyId })).status).toBe(200);
      expect((await call(withRotated, 'DELETE', `/v1/finance/parties/${subject.appId}/keys/${subject.keyIds[0]}`, { keyId: added.body.keyId })).status).toBe(200);
      const retired = await call(subject, 'GET', `/v1/finance/parties/${admin.appId}`);
      expect({ status: retired.status, code: retired.body.error?.code }).toEqual({ status: 401, code: 'SIGNATURE_INVALID' });

      expect((await call(admin, 'PATCH', `/v1/finance/parties/${subject.appId}`, { body: { status: 'DISABLED' } })).status).toBe(200);
      const disabled = await call(withRotated, 'GET', `/v1/finance/parties/${admin.appId}`);
      expect({ status: disabled.status, code: disabled.body.error?.code }).toEqual({ status: 403, code: 'PARTY_DISABLED' });
    });
  });
});
