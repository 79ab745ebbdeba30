import { sm2 } from 'sm-crypto-v2';

import { sm2PublicKeyFromPrivate } from '../../../src/crypto/keys';
import {
  SM2_ORDER,
  createSm2Signer,
  createSm2Verifier,
  decodeSm2SignatureDer,
  encodeSm2SignatureDer,
  isValidSm2PointHex,
  sm2Sign,
  sm2Verify,
} from '../../../src/crypto/sm2';

import vector from './fixtures/sm2-gbt32918.json';
import { smCryptoSm2 } from './smCrypto';

const keyPair = sm2.generateKeyPairHex();
const verifier = createSm2Verifier(keyPair.publicKey);
const message = 'POST\n/v1/agency/payments\n1764210000\nZq3kP0c8vXw1yL2m\n' + 'ab'.repeat(32) + '\n';

function flipByte(bytes: Buffer, index: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

describe('SM2 with the GB/T 32918 example (default user ID)', () => {
  const signatureDer = encodeSm2SignatureDer(BigInt(`0x${vector.r}`), BigInt(`0x${vector.s}`));

  it('derives the example public key from its private key', () => {
    expect(sm2PublicKeyFromPrivate(vector.privateKey)).toBe(vector.publicKey);
    expect(sm2PublicKeyFromPrivate(vector.privateKey.toUpperCase())).toBe(vector.publicKey);
  });

  it('verifies the example signature with our verifier', () => {
    const exampleVerifier = createSm2Verifier(vector.publicKey);
    expect(exampleVerifier.verify(vector.message, signatureDer)).toBe(true);
    expect(sm2Verify(Buffer.from(vector.message, 'utf8'), signatureDer, exampleVerifier)).toBe(true);
    expect(exampleVerifier.verify('message digesT', signatureDer)).toBe(false);
    // The user ID is part of what is signed: another ID must not verify.
    expect(createSm2Verifier(vector.publicKey, { userId: 'ALICE123@YAHOO.COM' }).verify(vector.message, signatureDer)).toBe(false);
  });

  it('reproduces the example (r, s) exactly when the example k is injected (library check)', () => {
    const kPoint = sm2.getPublicKeyFromPrivateKey(vector.k);
    const x1 = BigInt(`0x${kPoint.slice(2, 66)}`);
    const rs = sm2.doSignature(vector.message, vector.privateKey, {
      hash: true,
      pointPool: [{ k: BigInt(`0x${vector.k}`), x1 }],
    });
    expect(rs).toBe(vector.r + vector.s);
  });

  it('reproduces the example (r, s) exactly from our signer given the example k (k·G on the WebAssembly table)', () => {
    const signer = createSm2Signer(vector.privateKey, undefined, () => BigInt(`0x${vector.k}`));
    expect(signer.sign(vector.message)).toEqual(signatureDer);
  });

  it('is verified by the independent sm-crypto package', () => {
    expect(smCryptoSm2.doVerifySignature(vector.message, signatureDer.toString('hex'), vector.publicKey, { hash: true, der: true })).toBe(true);
  });
});

describe('SM2 interoperability with sm-crypto (independent implementation)', () => {
  it('verifies signatures made by sm-crypto', () => {
    const other = smCryptoSm2.generateKeyPairHex();
    const otherVerifier = createSm2Verifier(other.publicKey);
    for (const text of [message, '', '通付 · 缴费', 'x'.repeat(5000)]) {
      const sigHex = smCryptoSm2.doSignature(text, other.privateKey, { hash: true, der: true });
      expect(otherVerifier.verify(text, Buffer.from(sigHex, 'hex'))).toBe(true);
      expect(otherVerifier.verify(`${text}!`, Buffer.from(sigHex, 'hex'))).toBe(false);
    }
  });

  it('produces signatures that sm-crypto verifies', () => {
    for (const text of [message, '', '通付 · 缴费']) {
      const signature = sm2Sign(text, keyPair.privateKey);
      expect(smCryptoSm2.doVerifySignature(text, signature.toString('hex'), keyPair.publicKey, { hash: true, der: true })).toBe(true);
    }
  });

  it('signs binary messages as their bytes', () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x80, 0x7f]);
    const signature = sm2Sign(bytes, keyPair.privateKey);
    expect(verifier.verify(bytes, signature)).toBe(true);
    expect(smCryptoSm2.doVerifySignature(Array.from(bytes), signature.toString('hex'), keyPair.publicKey, { hash: true, der: true })).toBe(true);
  });
});

describe('SM2 sign and verify', () => {
  it('roundtrips with a reusable signer, and each signature is fresh (random k)', () => {
    const signer = createSm2Signer(keyPair.privateKey);
    expect(signer.publicKeyHex).toBe(keyPair.publicKey);
    const a = signer.sign(message);
    const b = signer.sign(message);
    expect(a.equals(b)).toBe(false);
    expect(verifier.verify(message, a)).toBe(true);
    expect(verifier.verify(message, b)).toBe(true);
  });

  it('rejects a tampered message, a tampered signature and another key', () => {
    const signature = sm2Sign(message, keyPair.privateKey);
    expect(verifier.verify(message.replace('POST', 'PUT'), signature)).toBe(false);
    for (let i = 0; i < signature.length; i++) {
      expect(verifier.verify(message, flipByte(signature, i))).toBe(false);
    }
    const otherVerifier = createSm2Verifier(sm2.generateKeyPairHex().publicKey);
    expect(otherVerifier.verify(message, signature)).toBe(false);
  });

  it('answers false (never throws) for malformed or non-canonical DER', () => {
    const signature = sm2Sign(message, keyPair.privateKey);
    const rs = decodeSm2SignatureDer(signature)!;
    const rHex = rs.r.toString(16).padStart(64, '0');
    const sHex = rs.s.toString(16).padStart(64, '0');
    const malformed = [
      Buffer.alloc(0),
      Buffer.from('30', 'hex'),
      Buffer.from('3000', 'hex'),
      Buffer.concat([signature, Buffer.from([0])]), // trailing byte
      signature.subarray(0, signature.length - 1), // truncated
      Buffer.from(rHex + sHex, 'hex'), // raw r||s, not DER
      Buffer.from('garbage'),
      // An extra leading zero on r is a second encoding of the same value: refused.
      encodeRaw(`0000${rHex}`, sHex),
    ];
    for (const bad of malformed) expect(verifier.verify(message, bad)).toBe(false);
  });

  it('refuses r or s outside [1, n-1]', () => {
    expect(decodeSm2SignatureDer(encodeSm2SignatureDer(0n, 1n))).toBeNull();
    expect(decodeSm2SignatureDer(encodeSm2SignatureDer(1n, SM2_ORDER))).toBeNull();
    expect(decodeSm2SignatureDer(encodeSm2SignatureDer(1n, SM2_ORDER - 1n))).toEqual({ r: 1n, s: SM2_ORDER - 1n });
    // Adding n to s gives an equivalent value mod n; the standard (and we) refuse it.
    const signature = sm2Sign(message, keyPair.privateKey);
    const rs = decodeSm2SignatureDer(signature)!;
    expect(verifier.verify(message, encodeSm2SignatureDer(rs.r, rs.s + SM2_ORDER))).toBe(false);
  });

  it('encodes INTEGERs minimally, padding a set top bit with 0x00', () => {
    expect(encodeSm2SignatureDer(0x80n, 0x7fn).toString('hex')).toBe('3007020200800201' + '7f');
    const high = (1n << 255n) + 5n;
    const der = encodeSm2SignatureDer(high, high);
    expect(der.length).toBe(2 + 2 * (2 + 33));
    expect(decodeSm2SignatureDer(der)).toEqual({ r: high, s: high });
  });

  it('rejects bad keys', () => {
    expect(() => createSm2Verifier('04' + '00'.repeat(64))).toThrow('not a valid SM2 point');
    expect(() => createSm2Verifier('nope')).toThrow('not a valid SM2 point');
    expect(() => sm2Sign(message, 'zz')).toThrow('64 hex digits');
    expect(() => sm2Sign(message, '00'.repeat(32))).toThrow('out of range');
    expect(() => sm2Sign(message, (SM2_ORDER - 1n).toString(16))).toThrow('out of range');
    expect(isValidSm2PointHex(keyPair.publicKey.toUpperCase())).toBe(true);
    expect(isValidSm2PointHex(sm2.compressPublicKeyHex(keyPair.publicKey))).toBe(false);
  });
});

function encodeRaw(rHex: string, sHex: string): Buffer {
  const int = (hex: string): string => `02${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`;
  const body = int(rHex) + int(sHex);
  return Buffer.from(`30${(body.length / 2).toString(16).padStart(2, '0')}${body}`, 'hex');
}
