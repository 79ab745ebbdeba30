import pino from 'pino';
import { generateSm2KeyPair, parsePublicKey, sm2PublicKeyFromPrivate } from '../../src/crypto/keys';
import { createVerifier } from '../../src/crypto/requestSigning';
import { loadPlatformKeys, PLATFORM_APP_ID } from '../../src/services/platformKeys';
import { loadFieldCipher, PLATFORM_SETTING, resolveFieldKey, resolvePlatformSigningKey } from '../../src/services/platformSecrets';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { startTestService, TestService } from '../helpers/testService';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';

// The platform's own keys (docs/interface.md §2, docs/operations.md §2): published unsigned, derived names,
// generated once per database when not configured, and the configured key wins.

const log = pino({ level: 'silent' });

describe('GET /v1/platform/keys', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
  });
  afterAll(async () => {
    await service.close();
  });

  it('publishes the platform key unsigned, named by its derived keyId', async () => {
    const response = await service.request('GET', '/v1/platform/keys');
    expect(response.status).toBe(200);
    expect(response.body.keys).toHaveLength(1);
    const [key] = response.body.keys;
    expect(key).toMatchObject({ algorithm: 'SM2', status: 'ACTIVE' });
    const parsed = parsePublicKey(key.publicKey);
    expect(parsed.keyId).toBe(key.keyId);
    expect(parsed.sm2PointHex).toBe(key.publicKeyHex);
    expect(parsePublicKey(key.publicKeyHex).keyId).toBe(key.keyId);
    expect(service.runtime.services.platformSigner).toMatchObject({ appId: PLATFORM_APP_ID, keyId: key.keyId, publicKeyHex: key.publicKeyHex, publicKeyPem: key.publicKey });
  });

  it('refuses query parameters it does not take', async () => {
    const response = await service.request('GET', '/v1/platform/keys?format=jwk');
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('publishes the key that verifies what the platform signs, with our verifier and with sm-crypto', async () => {
    const [key] = (await service.request('GET', '/v1/platform/keys')).body.keys;
    const message = '{"amount":"100.00","payCode":"12345678901234567890","receiptNo":"R1"}';
    const signature = service.runtime.services.platformSigner.sign(message);
    expect(createVerifier(parsePublicKey(key.publicKey)).verify(Buffer.from(message, 'utf8'), signature)).toBe(true);
    expect(smCryptoSm2.doVerifySignature(message, signature.toString('hex'), key.publicKeyHex, { hash: true, der: true })).toBe(true);
    expect(createVerifier(parsePublicKey(key.publicKey)).verify(Buffer.from(`${message} `, 'utf8'), signature)).toBe(false);
  });

  it('keeps the generated key in the database, so every instance signs with the same one', async () => {
    const [published] = (await service.request('GET', '/v1/platform/keys')).body.keys;
    const stored = await service.database.db('platform_settings').where({ name: PLATFORM_SETTING.signingKey }).first<{ value: string }>('value');
    expect(sm2PublicKeyFromPrivate(stored!.value)).toBe(published.publicKeyHex);
    const anotherInstance = await loadPlatformKeys({ db: service.database.db, config: { platformKeyHex: undefined }, log });
    expect(anotherInstance.signer.keyId).toBe(published.keyId);
  });

  it('signs with a configured key instead, and still publishes the generated one as RETIRED', async () => {
    const [generated] = (await service.request('GET', '/v1/platform/keys')).body.keys;
    const configured = generateSm2KeyPair();
    const keys = await loadPlatformKeys({ db: service.database.db, config: { platformKeyHex: configured.privateKeyHex }, log });
    expect(keys.signer.publicKeyHex).toBe(configured.publicKeyHex);
    expect(keys.publishedKeys()).toEqual([
      { keyId: parsePublicKey(configured.publicKeyHex).keyId, algorithm: 'SM2', publicKey: configured.publicKeyPem, publicKeyHex: configured.publicKeyHex, status: 'ACTIVE' },
      { ...generated, status: 'RETIRED' },
    ]);
  });
});

describe('TONGFU_PLATFORM_KEY', () => {
  it('is the key the service signs with and publishes, and nothing is generated', async () => {
    const configured = generateSm2KeyPair();
    const service = await startTestService({ env: { TONGFU_PLATFORM_KEY: configured.privateKeyHex } });
    try {
      const response = await service.request('GET', '/v1/platform/keys');
      expect(response.body.keys).toEqual([{ keyId: parsePublicKey(configured.publicKeyPem).keyId, algorithm: 'SM2', publicKey: configured.publicKeyPem, publicKeyHex: configured.publicKeyHex, status: 'ACTIVE' }]);
      expect(await service.database.db('platform_settings').where({ name: PLATFORM_SETTING.signingKey }).first()).toBeUndefined();
    } finally {
      await service.close();
    }
  });
});

describe('generated platform secrets', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase(20);
  });
  afterEach(async () => {
    await database.drop();
  });

  it('agree when many instances start at once', async () => {
    const signingKeys = await Promise.all(Array.from({ length: 12 }, () => resolvePlatformSigningKey(database.db, { platformKeyHex: undefined })));
    expect(new Set(signingKeys.map((key) => key.hex)).size).toBe(1);
    expect(signingKeys.every((key) => key.source === 'database')).toBe(true);
    const fieldKeys = await Promise.all(Array.from({ length: 12 }, () => resolveFieldKey(database.db, { fieldKeyHex: undefined })));
    expect(new Set(fieldKeys.map((key) => key.hex)).size).toBe(1);
    expect(fieldKeys[0]!.hex).toMatch(/^[0-9a-f]{32}$/);
  });

  it('give every instance a field cipher that decrypts the others’ values', async () => {
    const [first, second] = await Promise.all([loadFieldCipher(database.db, { fieldKeyHex: undefined }), loadFieldCipher(database.db, { fieldKeyHex: undefined })]);
    const token = first.encrypt('150102199003077777');
    expect(token).toMatch(/^v1:/);
    expect(second.decrypt(token)).toBe('150102199003077777');
  });

  it('yield to configured keys, which are never stored', async () => {
    const configuredField = '00112233445566778899aabbccddeeff';
    expect(await resolveFieldKey(database.db, { fieldKeyHex: configuredField.toUpperCase() })).toEqual({ hex: configuredField, source: 'config' });
    const generated = await resolveFieldKey(database.db, { fieldKeyHex: undefined });
    expect(generated.hex).not.toBe(configuredField);
    const configuredCipher = await loadFieldCipher(database.db, { fieldKeyHex: configuredField });
    const generatedCipher = await loadFieldCipher(database.db, { fieldKeyHex: undefined });
    expect(() => generatedCipher.decrypt(configuredCipher.encrypt('13800138000'))).toThrow(/authentication/);
    expect(await database.db('platform_settings').select('name')).toEqual([{ name: PLATFORM_SETTING.fieldKey }]);
  });

  it('refuse a stored key that is not a key (a broken invariant, not a caller error)', async () => {
    await database.db('platform_settings').insert({ name: PLATFORM_SETTING.signingKey, value: 'not-a-key' });
    await expect(resolvePlatformSigningKey(database.db, { platformKeyHex: undefined })).rejects.toThrow(/invariant broken/);
  });
});
