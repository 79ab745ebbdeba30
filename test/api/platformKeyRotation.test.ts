import { generateSm2KeyPair, parsePublicKey } from '../../src/crypto/keys';
import { buildWorld, signedAs } from '../helpers/builders';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { issueNotice, payNotice } from '../helpers/receipts';
import { startTestService, TestService } from '../helpers/testService';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';
import { canonicalJson } from '../../src/crypto/canonicalJson';

// A rotation of TONGFU_PLATFORM_KEY across a restart (contracts/decisions/0055-platform-keys-kept.md):
// the old configured key stays published as RETIRED and every receipt it signed stays verifiable,
// online and offline; no configured private key is ever stored.

const START = new Date('2026-11-18T10:00:00+08:00');
const PAID_AT = new Date('2026-11-23T09:30:00+08:00');

let database: TestDatabase;
const running: TestService[] = [];

beforeEach(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  for (const service of running.splice(0)) await service.close();
  await database.drop();
});

async function startWith(privateKeyHex: string | undefined): Promise<TestService> {
  const service = await startTestService({ database, businessNow: START, env: privateKeyHex === undefined ? {} : { TONGFU_PLATFORM_KEY: privateKeyHex } });
  running.push(service);
  return service;
}

async function stop(service: TestService): Promise<void> {
  running.splice(running.indexOf(service), 1);
  await service.close();
}

function published(pair: { publicKeyHex: string; publicKeyPem: string }, status: 'ACTIVE' | 'RETIRED') {
  return { keyId: parsePublicKey(pair.publicKeyHex).keyId, algorithm: 'SM2', publicKey: pair.publicKeyPem, publicKeyHex: pair.publicKeyHex, status };
}

describe('a rotation of the configured platform key', () => {
  it('keeps the old key published as RETIRED, and its receipts verify online and offline', async () => {
    const keyA = generateSm2KeyPair();
    const keyB = generateSm2KeyPair();
    const first = await startWith(keyA.privateKeyHex);
    const world = await buildWorld(first);
    const payCode = await issueNotice(signedAs(first, world.unit));
    const prepared = await payNotice(first.runtime.services, payCode, { paidAt: PAID_AT, agencyCode: world.agency.code });
    expect(prepared.keyId).toBe(parsePublicKey(keyA.publicKeyHex).keyId);
    await stop(first);

    const second = await startWith(keyB.privateKeyHex);
    const keys = await second.request('GET', '/v1/platform/keys');
    expect(keys.status).toBe(200);
    expect(keys.body.keys).toEqual([published(keyB, 'ACTIVE'), published(keyA, 'RETIRED')]);

    const lookup = await second.request('GET', `/v1/public/receipts/${prepared.receiptNo}?checkCode=${prepared.checkCode}`);
    expect(lookup.status).toBe(200);
    expect(lookup.body.keyId).toBe(prepared.keyId);
    expect(lookup.body.verified).toBe(true);
    const retired = keys.body.keys.find((key: { keyId: string }) => key.keyId === lookup.body.keyId);
    expect(smCryptoSm2.doVerifySignature(canonicalJson(lookup.body.receipt), Buffer.from(lookup.body.signature, 'base64').toString('hex'), retired.publicKeyHex, { hash: true, der: true })).toBe(true);

    // Neither configured private key was stored anywhere the service writes its keys.
    const stored = JSON.stringify([await database.db('platform_keys').select(), await database.db('platform_settings').select()]);
    expect(stored).not.toContain(keyA.privateKeyHex);
    expect(stored).not.toContain(keyB.privateKeyHex);
  });

  it('publishes a generated key a configured one replaced, and a key rotated back to is ACTIVE again', async () => {
    const keyA = generateSm2KeyPair();
    const sandbox = await startWith(undefined);
    const generated = (await sandbox.request('GET', '/v1/platform/keys')).body.keys[0];
    await stop(sandbox);
    await stop(await startWith(keyA.privateKeyHex));
    const back = await startWith(undefined);
    const keys = (await back.request('GET', '/v1/platform/keys')).body.keys;
    expect(keys).toEqual([generated, published(keyA, 'RETIRED')]);
  });

  it('publishes a key another instance started with after this one', async () => {
    const keyA = generateSm2KeyPair();
    const keyB = generateSm2KeyPair();
    const older = await startWith(keyA.privateKeyHex);
    const newer = await startWith(keyB.privateKeyHex);
    const world = await buildWorld(newer);
    const payCode = await issueNotice(signedAs(newer, world.unit));
    const prepared = await payNotice(newer.runtime.services, payCode, { paidAt: PAID_AT, agencyCode: world.agency.code });
    expect((await older.request('GET', '/v1/platform/keys')).body.keys).toEqual([published(keyA, 'ACTIVE'), published(keyB, 'RETIRED')]);
    const lookup = await older.request('GET', `/v1/public/receipts/${prepared.receiptNo}?checkCode=${prepared.checkCode}`);
    expect(lookup.body.verified).toBe(true);
  });
});
