import { newRsaCredentials, newSm2Credentials, PartyCredentials } from '../helpers/signedClient';
import { startTestService, TestService } from '../helpers/testService';
import { addFinanceParty, Call, caller, problems, registerParty, seedCatalogue } from './financeFixtures';

// Parties over HTTP (docs/interface.md §6.1, §4): registration with its idempotency, reads, status and
// callback changes, and key rotation — each checked by signing real requests with the keys.

describe('finance parties API', () => {
  let service: TestService;
  let finance: PartyCredentials;
  let call: Call;
  let seeded: Awaited<ReturnType<typeof seedCatalogue>>;

  beforeAll(async () => {
    service = await startTestService();
    finance = await addFinanceParty(service);
    call = caller(service, finance);
    seeded = await seedCatalogue(call);
  });
  afterAll(async () => {
    await service.close();
  });

  describe('registration', () => {
    it('registers an RSA-keyed agency with its clearing account and the default cut-off', async () => {
      const { credentials, response } = await registerParty(call, { role: 'agency', code: 'ICBC-NM', clearingAccountNo: seeded.clearingAccountNo, callbackUrl: 'https://agency.example.cn/tongfu/events' }, 'rsa');
      expect(response.body).toEqual({
        appId: expect.stringMatching(/^A[A-Z2-7]{20}$/),
        role: 'agency',
        code: 'ICBC-NM',
        name: 'agency ICBC-NM',
        status: 'ACTIVE',
        callbackUrl: 'https://agency.example.cn/tongfu/events',
        clearingAccountNo: seeded.clearingAccountNo,
        cutoffTime: '24:00',
        keys: [{ keyId: expect.stringMatching(/^k[0-9a-f]{24}$/), algorithm: 'RSA', status: 'ACTIVE', createdAt: expect.stringMatching(/\+08:00$/) }],
        createdAt: expect.stringMatching(/\+08:00$/),
      });
      expect(response.headers.get('idempotent-replay')).toBeNull();
      // The agency can sign with its RSA key: it reaches the role check, and /v1/finance is not its role.
      const forbidden = await caller(service, credentials)('GET', '/v1/finance/regions');
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error).toMatchObject({ code: 'FORBIDDEN', message: 'an agency may not call /v1/finance' });
    });

    it('registers a unit keyed by its 130-hex SM2 point, in a region; a unit calling a finance endpoint is FORBIDDEN', async () => {
      const { credentials, response } = await registerParty(call, { role: 'unit', code: 'SCJGJ-150000', regionCode: seeded.regionCode }, 'sm2-hex');
      expect(response.body).toMatchObject({ role: 'unit', regionCode: seeded.regionCode, callbackUrl: null, keys: [{ algorithm: 'SM2', status: 'ACTIVE' }] });
      expect(response.body).not.toHaveProperty('clearingAccountNo');
      expect(response.body).not.toHaveProperty('cutoffTime');
      const unit = caller(service, credentials);
      for (const [method, target, body] of [['GET', '/v1/finance/items'], ['PUT', '/v1/finance/regions/150700', { name: '呼伦贝尔市' }]] as const) {
        const refused = await unit(method, target, body);
        expect(refused.status).toBe(403);
        expect(refused.body.error.code).toBe('FORBIDDEN');
      }
      expect((await call('GET', '/v1/finance/regions/150700')).status).toBe(404);
    });

    it('registers an agency with its own cut-off and a bank without any role fields', async () => {
      const agency = await registerParty(call, { role: 'agency', code: 'ALIPAY', clearingAccountNo: seeded.clearingAccountNo, cutoffTime: '23:00' });
      expect(agency.response.body.cutoffTime).toBe('23:00');
      const bank = await registerParty(call, { role: 'bank', code: 'BOC-NM' });
      expect(Object.keys(bank.response.body).sort()).toEqual(['appId', 'callbackUrl', 'code', 'createdAt', 'keys', 'name', 'role', 'status']);
    });

    it('refuses fields of another role and missing role fields, listing every problem', async () => {
      const sm2 = newSm2Credentials();
      const unit = await call('POST', '/v1/finance/parties', { role: 'unit', code: 'U-BAD', name: 'x', publicKey: sm2.publicKeyPem, clearingAccountNo: seeded.clearingAccountNo, cutoffTime: '22:00' });
      expect(unit.status).toBe(400);
      expect(unit.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(unit)).toEqual([
        '/regionCode: is required for a unit',
        '/clearingAccountNo: is only for an agency, not a unit',
        '/cutoffTime: is only for an agency, not a unit',
      ]);
      const bank = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'B-BAD', name: 'x', publicKey: sm2.publicKeyPem, regionCode: seeded.regionCode });
      expect(problems(bank)).toEqual(['/regionCode: is only for a unit, not a bank']);
      const agency = await call('POST', '/v1/finance/parties', { role: 'agency', code: 'A-BAD', name: 'x', publicKey: sm2.publicKeyPem });
      expect(problems(agency)).toEqual(['/clearingAccountNo: is required for an agency']);
      expect((await call('GET', '/v1/finance/parties?role=agency')).body.data.map((p: { code: string }) => p.code)).not.toContain('A-BAD');
    });

    it('refuses an RSA key under 2048 bits, a private key, and a key that is not a key', async () => {
      const weak = newRsaCredentials(1024);
      const response = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'WEAK', name: 'x', publicKey: weak.publicKeyPem });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(response)).toEqual([expect.stringMatching(/^\/publicKey: RSA key must be at least 2048 bits/)]);

      const privatePem = (newRsaCredentials(2048).privateKey as { privateKeyPem: string }).privateKeyPem;
      expect(problems(await call('POST', '/v1/finance/parties', { role: 'bank', code: 'WEAK', name: 'x', publicKey: privatePem }))).toEqual([expect.stringMatching(/private key/)]);
      expect((await call('POST', '/v1/finance/parties', { role: 'bank', code: 'WEAK', name: 'x', publicKey: '04abcd' })).status).toBe(400);
    });

    it('refuses a callback URL that is not absolute http(s), and a bad cut-off or code', async () => {
      const sm2 = newSm2Credentials();
      for (const callbackUrl of ['ftp://x.example/cb', '/relative/path', 'https://user:secret@x.example/cb', 'https://x.example/cb#frag']) {
        const response = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'CB-BAD', name: 'x', publicKey: sm2.publicKeyPem, callbackUrl });
        expect(response.status).toBe(400);
        expect(problems(response)).toEqual(expect.arrayContaining([expect.stringMatching(/^\/callbackUrl: /)]));
      }
      const response = await call('POST', '/v1/finance/parties', { role: 'agency', code: 'bad code', name: 'x', publicKey: sm2.publicKeyPem, clearingAccountNo: seeded.clearingAccountNo, cutoffTime: '24:30' });
      expect(problems(response)).toEqual(expect.arrayContaining([expect.stringMatching(/^\/code: /), expect.stringMatching(/^\/cutoffTime: /)]));
    });

    it('answers UNKNOWN_REFERENCE for an unknown region, an unknown clearing account, and an account that is not CLEARING', async () => {
      const sm2 = newSm2Credentials();
      const region = await call('POST', '/v1/finance/parties', { role: 'unit', code: 'U-REF', name: 'x', publicKey: sm2.publicKeyPem, regionCode: '990000' });
      expect(region.status).toBe(422);
      expect(region.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect(problems(region)).toEqual([expect.stringMatching(/^\/regionCode: /)]);
      const account = await call('POST', '/v1/finance/parties', { role: 'agency', code: 'A-REF', name: 'x', publicKey: sm2.publicKeyPem, clearingAccountNo: 'NO-ACCOUNT' });
      expect(account.status).toBe(422);
      expect(problems(account)).toEqual([expect.stringMatching(/^\/clearingAccountNo: /)]);
      const fiscal = await call('POST', '/v1/finance/parties', { role: 'agency', code: 'A-REF', name: 'x', publicKey: sm2.publicKeyPem, clearingAccountNo: seeded.fiscalAccountNo });
      expect(fiscal.status).toBe(422);
      expect(problems(fiscal)).toEqual([expect.stringMatching(/FISCAL account/)]);
      // A refused registration binds nothing: the same (role, code) registers once its references exist.
      await call('PUT', '/v1/finance/regions/990000', { name: '测试区' });
      expect((await call('POST', '/v1/finance/parties', { role: 'unit', code: 'U-REF', name: 'x', publicKey: sm2.publicKeyPem, regionCode: '990000' })).status).toBe(201);
    });

    it('replays an identical registration with 201 and Idempotent-Replay, and refuses different content with IDEMPOTENCY_CONFLICT', async () => {
      const sm2 = newSm2Credentials();
      const body = { role: 'bank', code: 'ABC-NM', name: '农业银行内蒙古分行', publicKey: sm2.publicKeyPem };
      const first = await call('POST', '/v1/finance/parties', body);
      expect(first.status).toBe(201);
      const replay = await call('POST', '/v1/finance/parties', { publicKey: sm2.publicKeyPem, name: body.name, code: body.code, role: body.role });
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replay')).toBe('true');
      expect(replay.body).toEqual(first.body);

      const conflict = await call('POST', '/v1/finance/parties', { ...body, name: '农业银行' });
      expect(conflict.status).toBe(409);
      expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
      // The same code in another role is another party (with a key of its own).
      const unit = await call('POST', '/v1/finance/parties', { ...body, role: 'unit', regionCode: seeded.regionCode, publicKey: newSm2Credentials().publicKeyPem });
      expect(unit.status).toBe(201);
      expect(unit.body.appId).not.toBe(first.body.appId);
    });

    it('refuses a key another party holds, at registration and as an added key, so one private key never signs as two parties', async () => {
      const sm2 = newSm2Credentials();
      const owner = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'KEY-OWNER', name: '持钥银行', publicKey: sm2.publicKeyPem });
      expect(owner.status).toBe(201);
      const second = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'KEY-BORROWER', name: '借钥银行', publicKey: sm2.publicKeyPem });
      expect(second.status).toBe(400);
      expect(second.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(second)).toEqual(['/publicKey: is registered to another party: each party signs with keys of its own']);
      expect(await service.database.db('parties').where({ role: 'bank', code: 'KEY-BORROWER' })).toHaveLength(0);

      const other = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'KEY-OTHER', name: '另一银行', publicKey: newSm2Credentials().publicKeyPem });
      const added = await call('POST', `/v1/finance/parties/${other.body.appId}/keys`, { publicKey: sm2.publicKeyPem });
      expect(added.status).toBe(400);
      expect(problems(added)).toEqual(['/publicKey: is registered to another party: each party signs with keys of its own']);
      // The owner adding its own key again still answers that key.
      const again = await call('POST', `/v1/finance/parties/${owner.body.appId}/keys`, { publicKey: sm2.publicKeyPem });
      expect(again.status).toBe(200);
      expect(again.body.keyId).toBe(owner.body.keys[0].keyId);
    });

    it('lets one of two concurrent registrations of one key for two parties win, and refuses the other', async () => {
      const sm2 = newSm2Credentials();
      const responses = await Promise.all(['RACE-A', 'RACE-B', 'RACE-C'].map((code) => call('POST', '/v1/finance/parties', { role: 'bank', code, name: code, publicKey: sm2.publicKeyPem })));
      expect(responses.map((response) => response.status).sort()).toEqual([201, 400, 400]);
      expect(await service.database.db('party_keys').where({ key_id: responses.find((r) => r.status === 201)?.body.keys[0].keyId })).toHaveLength(1);
    });

    it('registers concurrent identical registrations once', async () => {
      const sm2 = newSm2Credentials();
      const body = { role: 'agency', code: 'WECHAT', name: '财付通', publicKey: sm2.publicKeyPem, clearingAccountNo: seeded.clearingAccountNo };
      const responses = await Promise.all(Array.from({ length: 10 }, () => call('POST', '/v1/finance/parties', body)));
      expect(responses.map((response) => response.status)).toEqual(Array(10).fill(201));
      expect(new Set(responses.map((response) => response.body.appId)).size).toBe(1);
      expect(responses.filter((response) => response.headers.get('idempotent-replay') === 'true')).toHaveLength(9);
      const rows = await service.database.db('parties').where({ role: 'agency', code: 'WECHAT' });
      expect(rows).toHaveLength(1);
      expect(await service.database.db('party_keys').where({ party_id: rows[0].id })).toHaveLength(1);
    });
  });

  describe('reads', () => {
    it('reads one party and answers 404 for an unknown appId', async () => {
      const { response } = await registerParty(call, { role: 'bank', code: 'READ-ME' });
      const read = await call('GET', `/v1/finance/parties/${response.body.appId}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(response.body);
      const missing = await call('GET', '/v1/finance/parties/ANOSUCHAPPID');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
    });

    it('lists parties by role across pages, in registration order', async () => {
      const codes = ['PAGE-B1', 'PAGE-B2', 'PAGE-B3', 'PAGE-B4', 'PAGE-B5'];
      for (const code of codes) await registerParty(call, { role: 'bank', code });
      const seen: string[] = [];
      let target: string | null = '/v1/finance/parties?role=bank&limit=2';
      for (let pages = 0; target !== null && pages < 20; pages += 1) {
        const page = await call('GET', target);
        expect(page.status).toBe(200);
        expect(page.body.data.length).toBeLessThanOrEqual(2);
        for (const party of page.body.data) {
          expect(party.role).toBe('bank');
          seen.push(party.code);
        }
        target = page.body.nextCursor === null ? null : `/v1/finance/parties?role=bank&limit=2&cursor=${page.body.nextCursor}`;
      }
      expect(seen.filter((code) => code.startsWith('PAGE-'))).toEqual(codes);
      expect(new Set(seen).size).toBe(seen.length);
      const unknownRole = await call('GET', '/v1/finance/parties?role=payer');
      expect(unknownRole.status).toBe(400);
      expect(unknownRole.body.error.code).toBe('VALIDATION_FAILED');
    });
  });

  describe('status and callback URL', () => {
    it('disables a party, whose signed requests are then refused, and enables it again', async () => {
      // A second finance party is the operator's to register (decision 0205).
      const credentials = await addFinanceParty(service, 'FIN-OPERATOR-2');
      const second = caller(service, credentials);
      expect((await second('GET', '/v1/finance/regions')).status).toBe(200);

      const disabled = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { status: 'DISABLED' });
      expect(disabled.status).toBe(200);
      expect(disabled.body.status).toBe('DISABLED');
      const refused = await second('GET', '/v1/finance/regions');
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('PARTY_DISABLED');

      expect((await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { status: 'ACTIVE' })).body.status).toBe('ACTIVE');
      expect((await second('GET', '/v1/finance/regions')).status).toBe(200);
    });

    it('refuses to disable the last active finance party', async () => {
      const credentials = await addFinanceParty(service, 'FIN-OPERATOR-3');
      // Every finance party but the main one is disabled, so the main one is the last.
      const others = (await call('GET', '/v1/finance/parties?role=finance')).body.data.filter((party: { appId: string }) => party.appId !== finance.appId);
      for (const party of others) expect((await call('PATCH', `/v1/finance/parties/${party.appId}`, { status: 'DISABLED' })).status).toBe(200);
      const refused = await call('PATCH', `/v1/finance/parties/${finance.appId}`, { status: 'DISABLED' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('INVALID_STATE_TRANSITION');
      expect((await call('GET', '/v1/finance/regions')).status).toBe(200);
      expect((await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { status: 'ACTIVE' })).status).toBe(200);
    });

    it('sets and removes the callback URL', async () => {
      const { credentials } = await registerParty(call, { role: 'bank', code: 'CALLBACKS' });
      const set = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { callbackUrl: 'http://10.0.0.8:9000/events?x=1' });
      expect(set.status).toBe(200);
      expect(set.body).toMatchObject({ callbackUrl: 'http://10.0.0.8:9000/events?x=1', status: 'ACTIVE' });
      const removed = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { callbackUrl: null });
      expect(removed.body.callbackUrl).toBeNull();
      expect((await call('GET', `/v1/finance/parties/${credentials.appId}`)).body.callbackUrl).toBeNull();
    });

    it('refuses an empty patch, an unknown field, a bad status or URL, and an unknown appId', async () => {
      const { credentials } = await registerParty(call, { role: 'bank', code: 'PATCH-BAD' });
      for (const body of [{}, { name: 'renamed' }, { status: 'SUSPENDED' }, { callbackUrl: 'mailto:ops@example.cn' }]) {
        const response = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, body);
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('VALIDATION_FAILED');
      }
      const missing = await call('PATCH', '/v1/finance/parties/ANOSUCHAPPID', { status: 'DISABLED' });
      expect(missing.status).toBe(404);
    });
  });

  describe('keys', () => {
    it('adds a key (201), answers the same key again (200), signs with either, retires one, and refuses to retire the last', async () => {
      const { credentials } = await registerParty(call, { role: 'bank', code: 'BANK-ROTATE' });
      const next = newSm2Credentials();
      const added = await call('POST', `/v1/finance/parties/${credentials.appId}/keys`, { publicKey: next.publicKeyHex });
      expect(added.status).toBe(201);
      expect(added.body).toEqual({ keyId: expect.stringMatching(/^k[0-9a-f]{24}$/), algorithm: 'SM2', status: 'ACTIVE' });
      // The same key as PEM is the same key.
      const again = await call('POST', `/v1/finance/parties/${credentials.appId}/keys`, { publicKey: next.publicKeyPem });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(added.body);

      const rotated: PartyCredentials = { appId: credentials.appId, keyId: added.body.keyId, privateKey: next.privateKey, publicKey: next.publicKeyHex };
      expect((await caller(service, rotated)('GET', '/v1/bank/instructions')).status).toBe(200);
      expect((await caller(service, credentials)('GET', '/v1/bank/instructions')).status).toBe(200);

      const retired = await call('DELETE', `/v1/finance/parties/${credentials.appId}/keys/${credentials.keyId}`);
      expect(retired.status).toBe(200);
      expect(retired.body).toEqual({ keyId: credentials.keyId, status: 'RETIRED' });
      const oldKey = await caller(service, { ...credentials, keyId: undefined })('GET', '/v1/bank/instructions');
      expect(oldKey.status).toBe(401);
      expect(oldKey.body.error.code).toBe('SIGNATURE_INVALID');
      expect((await caller(service, rotated)('GET', '/v1/bank/instructions')).status).toBe(200);

      // Retiring a retired key answers it again; a retired key is not brought back by adding it.
      expect((await call('DELETE', `/v1/finance/parties/${credentials.appId}/keys/${credentials.keyId}`)).body).toEqual({ keyId: credentials.keyId, status: 'RETIRED' });
      const readded = await call('POST', `/v1/finance/parties/${credentials.appId}/keys`, { publicKey: credentials.publicKey });
      expect(readded.status).toBe(200);
      expect(readded.body.status).toBe('RETIRED');

      const last = await call('DELETE', `/v1/finance/parties/${credentials.appId}/keys/${added.body.keyId}`);
      expect(last.status).toBe(409);
      expect(last.body.error.code).toBe('LAST_ACTIVE_KEY');
      const party = await call('GET', `/v1/finance/parties/${credentials.appId}`);
      expect(party.body.keys.map((key: { keyId: string; status: string }) => [key.keyId, key.status])).toEqual([
        [credentials.keyId, 'RETIRED'],
        [added.body.keyId, 'ACTIVE'],
      ]);
    });

    it('lets only one of two concurrent retirements of a party’s last two keys succeed', async () => {
      const { credentials } = await registerParty(call, { role: 'bank', code: 'RACE-KEYS' });
      const second = await call('POST', `/v1/finance/parties/${credentials.appId}/keys`, { publicKey: newRsaCredentials(2048).publicKeyPem });
      expect(second.body.algorithm).toBe('RSA');
      for (let round = 0; round < 3; round += 1) {
        const responses = await Promise.all([credentials.keyId, second.body.keyId].map((keyId) => call('DELETE', `/v1/finance/parties/${credentials.appId}/keys/${keyId}`)));
        const statuses = responses.map((response) => response.status).sort();
        if (round === 0) {
          expect(statuses).toEqual([200, 409]);
          expect(responses.find((response) => response.status === 409)?.body.error.code).toBe('LAST_ACTIVE_KEY');
        }
        const active = await service.database.db('party_keys').join('parties', 'parties.id', 'party_keys.party_id').where({ 'parties.app_id': credentials.appId, 'party_keys.status': 'ACTIVE' });
        expect(active).toHaveLength(1);
      }
    });

    it('refuses a bad key, an unknown party and an unknown key', async () => {
      const { credentials } = await registerParty(call, { role: 'bank', code: 'KEYS-BAD' });
      const weak = await call('POST', `/v1/finance/parties/${credentials.appId}/keys`, { publicKey: newRsaCredentials(1024).publicKeyPem });
      expect(weak.status).toBe(400);
      expect(problems(weak)).toEqual([expect.stringMatching(/RSA key must be at least 2048 bits/)]);
      const unknownField = await call('POST', `/v1/finance/parties/${credentials.appId}/keys`, { publicKey: newSm2Credentials().publicKeyHex, status: 'ACTIVE' });
      expect(problems(unknownField)).toEqual(['/status: unknown field']);
      expect((await call('POST', '/v1/finance/parties/ANOSUCHAPPID/keys', { publicKey: newSm2Credentials().publicKeyHex })).status).toBe(404);
      const unknownKey = await call('DELETE', `/v1/finance/parties/${credentials.appId}/keys/k000000000000000000000000`);
      expect(unknownKey.status).toBe(404);
      expect(unknownKey.body.error.code).toBe('NOT_FOUND');
      expect((await call('DELETE', `/v1/finance/parties/ANOSUCHAPPID/keys/${credentials.keyId}`)).status).toBe(404);
    });
  });
});
