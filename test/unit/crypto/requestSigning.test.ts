import { generateKeyPairSync } from 'node:crypto';

import { generateSm2KeyPair, parsePublicKey } from '../../../src/crypto/keys';
import {
  NONCE_PATTERN,
  SIGNATURE_HEADERS,
  bodyDigest,
  createVerifier,
  decodeSignatureHeader,
  generateNonce,
  signRequest,
  stringToSign,
  targetFromUrl,
} from '../../../src/crypto/requestSigning';

import { smCryptoSm2 } from './smCrypto';

const SM3_OF_EMPTY = '1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b';
const SHA256_OF_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sm2Pair = generateSm2KeyPair();
const sm2Key = parsePublicKey(sm2Pair.publicKeyPem);
const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaKey = parsePublicKey(rsaPair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
const rsaPrivatePem = rsaPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

/** What the signature middleware does with the headers of a received request. */
function verifyRequest(
  headers: Record<string, string>,
  request: { method: string; target: string; body?: Buffer | string },
  verifier = createVerifier(sm2Key),
): boolean {
  const text = stringToSign({
    method: request.method,
    target: request.target,
    timestamp: headers[SIGNATURE_HEADERS.timestamp]!,
    nonce: headers[SIGNATURE_HEADERS.nonce]!,
    bodyDigestHex: verifier.digest(request.body),
  });
  const signature = decodeSignatureHeader(headers[SIGNATURE_HEADERS.signature]!);
  return signature !== null && verifier.verify(Buffer.from(text, 'utf8'), signature);
}

describe('string to sign', () => {
  it('is five lines, each ending with \\n', () => {
    const body = Buffer.from('{"payCode":"1"}');
    const text = stringToSign({
      method: 'post',
      target: '/v1/agency/payments?x=1',
      timestamp: 1764210000,
      nonce: 'Zq3kP0c8vXw1yL2m',
      bodyDigestHex: bodyDigest('SM2', body),
    });
    expect(text).toBe(`POST\n/v1/agency/payments?x=1\n1764210000\nZq3kP0c8vXw1yL2m\n${bodyDigest('SM2', body)}\n`);
    expect(Buffer.from(text, 'utf8').at(-1)).toBe(0x0a);
    expect(text.split('\n')).toHaveLength(6);
  });

  it('uses the digest of the empty string for an empty body', () => {
    expect(bodyDigest('SM2', undefined)).toBe(SM3_OF_EMPTY);
    expect(bodyDigest('SM2', Buffer.alloc(0))).toBe(SM3_OF_EMPTY);
    expect(bodyDigest('RSA', '')).toBe(SHA256_OF_EMPTY);
    const text = stringToSign({ method: 'GET', target: '/v1/unit/events', timestamp: '1764210000', nonce: 'abcdefghijklmnop', bodyDigestHex: SM3_OF_EMPTY });
    expect(Buffer.from(text, 'utf8').toString('hex')).toBe(
      Buffer.from(`GET\n/v1/unit/events\n1764210000\nabcdefghijklmnop\n${SM3_OF_EMPTY}\n`, 'ascii').toString('hex'),
    );
  });

  it('digests the exact body bytes with the key algorithm', () => {
    expect(bodyDigest('SM2', 'abc')).toBe('66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
    expect(bodyDigest('RSA', 'abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(createVerifier(sm2Key).digest('abc')).toBe(bodyDigest('SM2', 'abc'));
    expect(createVerifier(rsaKey).digest('abc')).toBe(bodyDigest('RSA', 'abc'));
  });

  it('refuses parts with line breaks', () => {
    const parts = { method: 'GET', target: '/x', timestamp: 1, nonce: 'abcdefghijklmnop', bodyDigestHex: SM3_OF_EMPTY };
    expect(() => stringToSign({ ...parts, target: '/x\nPOST' })).toThrow('line break');
    expect(() => stringToSign({ ...parts, nonce: 'abc\r' })).toThrow('line break');
    expect(() => stringToSign({ ...parts, bodyDigestHex: 'ABC' })).toThrow('64 lowercase hex');
  });

  it('derives the target of a callback URL', () => {
    expect(targetFromUrl('https://agency.example/cb/tongfu?a=1&b=2')).toBe('/cb/tongfu?a=1&b=2');
    expect(targetFromUrl('https://agency.example')).toBe('/');
    expect(targetFromUrl(new URL('http://127.0.0.1:8080/?x'))).toBe('/?x');
  });
});

describe('signRequest and createVerifier', () => {
  const request = { method: 'POST', target: '/v1/agency/payments', body: '{"amount":"10.00","payer":"张三"}' };

  it('signs with SM2: all five headers, verifiable by our verifier', () => {
    const headers = signRequest({
      ...request,
      appId: 'app_1',
      keyId: sm2Key.keyId,
      privateKey: { algorithm: 'SM2', privateKeyHex: sm2Pair.privateKeyHex },
      timestampSeconds: 1764210000,
    });
    expect(Object.keys(headers)).toEqual([
      'X-Tongfu-App-Id',
      'X-Tongfu-Key-Id',
      'X-Tongfu-Timestamp',
      'X-Tongfu-Nonce',
      'X-Tongfu-Signature',
    ]);
    expect(headers['X-Tongfu-App-Id']).toBe('app_1');
    expect(headers['X-Tongfu-Key-Id']).toBe(sm2Key.keyId);
    expect(headers['X-Tongfu-Timestamp']).toBe('1764210000');
    expect(headers['X-Tongfu-Nonce']).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(headers['X-Tongfu-Signature']).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(verifyRequest(headers, request)).toBe(true);
  });

  it('detects any change to the signed request', () => {
    const headers = signRequest({ ...request, appId: 'a', privateKey: { algorithm: 'SM2', privateKeyHex: sm2Pair.privateKeyHex }, timestampSeconds: 1764210000, nonce: 'n'.repeat(16) });
    expect(headers[SIGNATURE_HEADERS.keyId]).toBeUndefined();
    expect(verifyRequest(headers, request)).toBe(true);
    expect(verifyRequest(headers, { ...request, body: request.body.replace('10.00', '100.00') })).toBe(false);
    expect(verifyRequest(headers, { ...request, target: '/v1/agency/payments?x=1' })).toBe(false);
    expect(verifyRequest(headers, { ...request, method: 'PUT' })).toBe(false);
    expect(verifyRequest({ ...headers, [SIGNATURE_HEADERS.timestamp]: '1764210001' }, request)).toBe(false);
    expect(verifyRequest({ ...headers, [SIGNATURE_HEADERS.nonce]: 'm'.repeat(16) }, request)).toBe(false);
    expect(verifyRequest(headers, request, createVerifier(parsePublicKey(generateSm2KeyPair().publicKeyHex)))).toBe(false);
    expect(verifyRequest(headers, request, createVerifier(rsaKey))).toBe(false);
  });

  it('verifies a request signed by an integrator using sm-crypto', () => {
    const other = smCryptoSm2.generateKeyPairHex();
    const verifier = createVerifier(parsePublicKey(other.publicKey));
    const nonce = 'Zq3kP0c8vXw1yL2m';
    const text = `POST\n/v1/agency/payments\n1764210000\n${nonce}\n${bodyDigest('SM2', request.body)}\n`;
    const signature = Buffer.from(smCryptoSm2.doSignature(text, other.privateKey, { hash: true, der: true }), 'hex').toString('base64');
    const headers = { [SIGNATURE_HEADERS.timestamp]: '1764210000', [SIGNATURE_HEADERS.nonce]: nonce, [SIGNATURE_HEADERS.signature]: signature };
    expect(verifyRequest(headers, request, verifier)).toBe(true);
  });

  it('signs our callbacks so that sm-crypto verifies them', () => {
    const headers = signRequest({ ...request, appId: 'TONGFU', privateKey: { algorithm: 'SM2', privateKeyHex: sm2Pair.privateKeyHex }, timestampSeconds: 1764210000 });
    const text = stringToSign({ ...request, timestamp: 1764210000, nonce: headers[SIGNATURE_HEADERS.nonce]!, bodyDigestHex: bodyDigest('SM2', request.body) });
    const signatureHex = Buffer.from(headers[SIGNATURE_HEADERS.signature]!, 'base64').toString('hex');
    expect(smCryptoSm2.doVerifySignature(text, signatureHex, sm2Pair.publicKeyHex, { hash: true, der: true })).toBe(true);
  });

  it('signs and verifies with RSA 2048 (PKCS#1 v1.5, SHA-256)', () => {
    const rsaVerifier = createVerifier(rsaKey);
    const headers = signRequest({ ...request, appId: 'bank_1', privateKey: { algorithm: 'RSA', privateKeyPem: rsaPrivatePem }, timestampSeconds: 1764210000 });
    expect(Buffer.from(headers[SIGNATURE_HEADERS.signature]!, 'base64')).toHaveLength(256);
    expect(verifyRequest(headers, request, rsaVerifier)).toBe(true);
    expect(verifyRequest(headers, { ...request, body: `${request.body} ` }, rsaVerifier)).toBe(false);
    const text = Buffer.from('anything');
    expect(rsaVerifier.verify(text, Buffer.alloc(256))).toBe(false);
    expect(rsaVerifier.verify(text, Buffer.alloc(3))).toBe(false);
    expect(rsaVerifier.verify(text, Buffer.alloc(0))).toBe(false);
  });

  it('validates its inputs', () => {
    const privateKey = { algorithm: 'SM2' as const, privateKeyHex: sm2Pair.privateKeyHex };
    expect(() => signRequest({ ...request, appId: 'a', privateKey, timestampSeconds: 1.5 })).toThrow('timestampSeconds');
    expect(() => signRequest({ ...request, appId: 'a', privateKey, timestampSeconds: 1, nonce: 'short' })).toThrow('nonce');
  });
});

describe('helpers', () => {
  it('generates valid, distinct nonces', () => {
    const nonces = new Set(Array.from({ length: 1000 }, generateNonce));
    expect(nonces.size).toBe(1000);
    for (const nonce of nonces) {
      expect(nonce).toMatch(NONCE_PATTERN);
      expect(nonce).toHaveLength(24);
    }
  });

  it('decodes only standard padded base64 signatures', () => {
    expect(decodeSignatureHeader('AAEC')).toEqual(Buffer.from([0, 1, 2]));
    expect(decodeSignatureHeader('AAE=')).toEqual(Buffer.from([0, 1]));
    for (const bad of ['', 'AAE', 'AA-_', 'AA E=', 'AAE==', '====', 'AAEC\n']) {
      expect(decodeSignatureHeader(bad)).toBeNull();
    }
  });
});
