import crypto from 'node:crypto';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { newSm2Credentials, PartyCredentials } from '../helpers/signedClient';
import { startTestService, TestService } from '../helpers/testService';
import { addFinanceParty, Call, caller, problems } from './financeFixtures';

// With NODE_ENV=production a callback URL that reaches into the platform's own networks is refused
// at registration (POST and PATCH /v1/finance/parties), unless TONGFU_CALLBACK_ALLOW lists it
// (contracts/decisions/0057-client-address-and-callbacks.md). Outside production it is allowed:
// every other test registers loopback receivers.

function productionEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { NODE_ENV: 'production', TONGFU_PLATFORM_KEY: generateSm2KeyPair().privateKeyHex, TONGFU_FIELD_KEY: crypto.randomBytes(16).toString('hex'), ...extra };
}

function registration(callbackUrl: string): Record<string, unknown> {
  return { role: 'bank', code: `B-${crypto.randomBytes(4).toString('hex')}`, name: '银行', publicKey: newSm2Credentials().publicKeyPem, callbackUrl };
}

describe('callback URLs in production', () => {
  let service: TestService;
  let finance: PartyCredentials;
  let call: Call;
  beforeAll(async () => {
    service = await startTestService({ env: productionEnv({ TONGFU_CALLBACK_ALLOW: '10.20.0.0/16' }) });
    finance = await addFinanceParty(service);
    call = caller(service, finance);
  });
  afterAll(async () => {
    await service?.close();
  });

  it.each([
    ['http://127.0.0.1:9000/cb', '127.0.0.1 is a loopback address'],
    ['http://localhost:9000/cb', 'localhost resolves to'],
    ['http://[::1]:9000/cb', '::1 is a loopback address'],
    ['https://10.1.2.3/cb', '10.1.2.3 is a private (RFC 1918) address'],
    ['https://192.168.0.10/cb', '192.168.0.10 is a private (RFC 1918) address'],
    ['http://169.254.169.254/latest/meta-data', '169.254.169.254 is a link-local address'],
    ['https://[fd00::5]/cb', 'fd00::5 is a unique-local address'],
    ['http://0.0.0.0:8080/cb', '0.0.0.0 is an unspecified address'],
    ['https://100.64.3.4/cb', '100.64.3.4 is a CGNAT (shared address space) address'],
  ])('refuses registering %s: 400 VALIDATION_FAILED saying so', async (callbackUrl, says) => {
    const body = registration(callbackUrl);
    const response = await call('POST', '/v1/finance/parties', body);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_FAILED');
    const [problem] = problems(response);
    expect(problem).toMatch(/^\/callbackUrl: /);
    expect(problem).toContain(says);
    expect(problem).toContain('TONGFU_CALLBACK_ALLOW');
    expect(await service.database.db('parties').where({ code: body.code }).first()).toBeUndefined();
  });

  it('registers a public address and one TONGFU_CALLBACK_ALLOW lists, and refuses a PATCH to an internal one', async () => {
    const allowed = await call('POST', '/v1/finance/parties', registration('http://10.20.3.4:8080/cb'));
    expect(allowed.status).toBe(201);
    const publicOne = await call('POST', '/v1/finance/parties', registration('https://198.51.100.7/cb'));
    expect(publicOne.status).toBe(201);
    const appId = publicOne.body.appId as string;
    const patched = await call('PATCH', `/v1/finance/parties/${appId}`, { callbackUrl: 'http://127.0.0.2:80/cb' });
    expect(patched.status).toBe(400);
    expect(patched.body.error.code).toBe('VALIDATION_FAILED');
    expect(problems(patched)).toEqual([expect.stringContaining('/callbackUrl: 127.0.0.2 is a loopback address, which callbacks may not reach')]);
    expect((await call('GET', `/v1/finance/parties/${appId}`)).body.callbackUrl).toBe('https://198.51.100.7/cb');
  });
});

describe('callback URLs outside production', () => {
  it('allows loopback (sandboxes and tests)', async () => {
    const service = await startTestService();
    try {
      const call = caller(service, await addFinanceParty(service));
      const response = await call('POST', '/v1/finance/parties', registration('http://127.0.0.1:9000/cb'));
      expect(response.status).toBe(201);
    } finally {
      await service.close();
    }
  });
});
