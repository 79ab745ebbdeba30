import { generateKeyPairSync } from 'node:crypto';

import {
  KeyFormatError,
  generateSm2KeyPair,
  keyIdFromSpkiDer,
  parsePublicKey,
  sm2PointToPem,
  sm2PointToSpkiDer,
  sm2PublicKeyFromPrivate,
} from '../../../src/crypto/keys';

import vector from './fixtures/sm2-gbt32918.json';

// 'k' + SM3(3059301306072a8648ce3d020106082a811ccf5501822d034200 || point)[0..24), computed independently.
const PINNED_GBT_KEY_ID = 'kd94a2fcb88a63e824c32120f';

/** An SM2 public key in PEM as OpenSSL (here: Node's OpenSSL) writes it, and its point. */
function opensslSm2Key(): { pem: string; pointHex: string } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const der = publicKey.export({ type: 'spki', format: 'der' });
  // The point is the last 65 bytes of an SM2 SPKI.
  return { pem, pointHex: der.subarray(der.length - 65).toString('hex') };
}

function expectKeyFormatError(input: string, message: string | RegExp): void {
  let caught: unknown;
  try {
    parsePublicKey(input);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KeyFormatError);
  expect(caught).toBeInstanceOf(Error);
  expect((caught as Error).message).toMatch(message);
}

describe('SM2 public keys', () => {
  it('parses a PEM written by OpenSSL and writes the identical PEM from the point', () => {
    const { pem, pointHex } = opensslSm2Key();
    const key = parsePublicKey(pem);
    expect(key.algorithm).toBe('SM2');
    expect(key.sm2PointHex).toBe(pointHex);
    expect(key.pem).toBe(pem);
    expect(sm2PointToPem(pointHex)).toBe(pem);
    expect(key.rsaBits).toBeUndefined();
  });

  it('roundtrips hex → PEM → hex, with the same keyId for both forms', () => {
    const fromHex = parsePublicKey(vector.publicKey);
    const fromPem = parsePublicKey(fromHex.pem);
    expect(fromPem).toEqual(fromHex);
    expect(fromPem.sm2PointHex).toBe(vector.publicKey);
    expect(parsePublicKey(vector.publicKey.toUpperCase())).toEqual(fromHex);
  });

  it('gives a stable keyId: k + 24 hex of SM3 over the DER SPKI', () => {
    const key = parsePublicKey(vector.publicKey);
    // Pinned: a keyId must never change between releases or instances.
    expect(key.keyId).toBe(keyIdFromSpkiDer(sm2PointToSpkiDer(vector.publicKey)));
    expect(key.keyId).toMatch(/^k[0-9a-f]{24}$/);
    expect(key.keyId).toBe(PINNED_GBT_KEY_ID);
    expect(parsePublicKey(vector.publicKey).keyId).toBe(key.keyId);
    expect(parsePublicKey(generateSm2KeyPair().publicKeyHex).keyId).not.toBe(key.keyId);
  });

  it('accepts PEM layout variations and normalizes them', () => {
    const { pem } = opensslSm2Key();
    const body = pem.split('\n').slice(1, -2).join('');
    const variants = [
      pem.replace(/\n/g, '\r\n'),
      `\n\n  ${pem}  \n`,
      `-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`,
      `-----BEGIN PUBLIC KEY-----${body}-----END PUBLIC KEY-----`,
    ];
    for (const variant of variants) expect(parsePublicKey(variant).pem).toBe(pem);
  });

  it('builds the SPKI DER by hand exactly like OpenSSL', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const pointHex = der.subarray(der.length - 65).toString('hex');
    expect(sm2PointToSpkiDer(pointHex).equals(der)).toBe(true);
  });

  it('rejects invalid SM2 points', () => {
    expectKeyFormatError('04' + '00'.repeat(64), 'not a valid SM2 point');
    expectKeyFormatError('04' + vector.publicKey.slice(2, 66) + '11'.repeat(32), 'not a valid SM2 point');
    expectKeyFormatError(vector.publicKey.slice(2), 'not a valid SM2 point'); // no 04 prefix
    expectKeyFormatError(vector.publicKey + '00', 'not a valid SM2 point');
    expectKeyFormatError('03' + vector.publicKey.slice(2, 66), /uncompressed/);
    // A well-formed SPKI whose point is off the curve.
    const der = sm2PointToSpkiDer(vector.publicKey);
    der[der.length - 1] = der[der.length - 1]! ^ 1;
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    expectKeyFormatError(pem, 'not a valid SM2 point');
  });
});

describe('RSA public keys', () => {
  it('accepts RSA 2048 and reports its size', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const key = parsePublicKey(pem);
    expect(key).toMatchObject({ algorithm: 'RSA', pem, rsaBits: 2048 });
    expect(key.sm2PointHex).toBeUndefined();
    expect(key.keyId).toMatch(/^k[0-9a-f]{24}$/);
    expect(parsePublicKey(pem.replace(/\n/g, '\r\n')).keyId).toBe(key.keyId);
  });

  it('rejects RSA under 2048 bits', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expectKeyFormatError(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RSA key must be at least 2048 bits');
  });

  it('rejects PKCS#1 "RSA PUBLIC KEY" with a hint', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expectKeyFormatError(publicKey.export({ type: 'pkcs1', format: 'pem' }).toString(), /SubjectPublicKeyInfo/);
  });
});

describe('unusable keys', () => {
  it('rejects other key types with a readable message', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expectKeyFormatError(p256, /unsupported key type: EC key on curve EC P-256/);
    const ed25519 = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expectKeyFormatError(ed25519, /unsupported key type: Ed25519/);
  });

  it('rejects private keys, garbage and multiple blocks', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
    expectKeyFormatError(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'private key');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expectKeyFormatError(pem + pem, 'exactly one PEM block');
    expectKeyFormatError(`hello ${pem}`, 'unexpected text');
    expectKeyFormatError(pem.replace('M', '*'), 'base64');
    expectKeyFormatError('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'SubjectPublicKeyInfo');
    expectKeyFormatError('-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----', 'base64');
    expectKeyFormatError('', 'unsupported key format');
    expectKeyFormatError('ssh-rsa AAAAB3Nza', 'unsupported key format');
    expectKeyFormatError('x'.repeat(20000), 'too long');
    // Trailing bytes after the SPKI inside the base64.
    const der = Buffer.concat([publicKey.export({ type: 'spki', format: 'der' }), Buffer.from([0])]);
    expectKeyFormatError(`-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----`, 'trailing');
  });
});

describe('SM2 key generation', () => {
  it('generates a consistent key pair', () => {
    const pair = generateSm2KeyPair();
    expect(pair.privateKeyHex).toMatch(/^[0-9a-f]{64}$/);
    expect(pair.publicKeyHex).toMatch(/^04[0-9a-f]{128}$/);
    expect(sm2PublicKeyFromPrivate(pair.privateKeyHex)).toBe(pair.publicKeyHex);
    expect(parsePublicKey(pair.publicKeyPem).sm2PointHex).toBe(pair.publicKeyHex);
    expect(generateSm2KeyPair().privateKeyHex).not.toBe(pair.privateKeyHex);
  });
});

