// Party public keys (interface standard §2): registered as PEM SubjectPublicKeyInfo as OpenSSL
// writes it (SM2: id-ecPublicKey with curve OID 1.2.156.10197.1.301; or RSA of 2048 bits or more),
// or, for SM2, as the 130-hex uncompressed point 04 || x || y.
//
// Every accepted key is normalized to one canonical DER SPKI, from which both the stored PEM and
// the keyId are derived. So the same key always gets the same keyId, whichever form or PEM layout
// it was sent in (registering it twice finds the existing key), and every service instance names
// a key the same way without coordination.
//
// SM2 SPKI is parsed and built here by hand: Node's crypto can read an SM2 SPKI but reports no key
// type for it and refuses JWK export, so it cannot tell us the curve or the point. RSA keys go
// through Node's crypto, which validates them and reports their size.
import { type KeyObject, createPublicKey } from 'node:crypto';

import { sm2 } from 'sm-crypto-v2';

import { DER_TAG, DerError, decodeOid, derChildren, derEncode, derExpect, encodeOid } from './der';
import { KeyFormatError } from './errors';
import { assertSm2PrivateKeyHex, normalizeSm2PointHex, sm2PublicKeyHexFromPrivate } from './sm2';
import { sm3Hex } from './sm3';

export { KeyFormatError } from './errors';

export type KeyAlgorithm = 'SM2' | 'RSA';

export interface PublicKey {
  algorithm: KeyAlgorithm;
  /** Normalized SPKI PEM exactly as OpenSSL writes it (64-char lines, trailing newline). */
  pem: string;
  /** SM2 only: lowercase uncompressed point, 130 hex digits. */
  sm2PointHex?: string;
  /** RSA only: modulus size. */
  rsaBits?: number;
  /** Derived from the key itself: 'k' + 24 hex digits (96 bits) of SM3 over the DER SPKI. */
  keyId: string;
}

export interface Sm2KeyPair {
  privateKeyHex: string;
  publicKeyHex: string;
  publicKeyPem: string;
}

export const OID = {
  EC_PUBLIC_KEY: '1.2.840.10045.2.1',
  SM2_CURVE: '1.2.156.10197.1.301',
  RSA_ENCRYPTION: '1.2.840.113549.1.1.1',
} as const;

export const MIN_RSA_BITS = 2048;
// Far above anything in use; only bounds the work a registered key can cause per verification.
export const MAX_RSA_BITS = 16384;
// A 16384-bit RSA SPKI PEM is about 2.9 KB; anything much longer is not a key.
const MAX_KEY_TEXT_CHARS = 16 * 1024;

// Names for the key types people most often send by mistake, to make the error say what it saw.
const KNOWN_OIDS: Record<string, string> = {
  '1.2.840.10045.3.1.7': 'EC P-256',
  '1.3.132.0.34': 'EC P-384',
  '1.3.132.0.35': 'EC P-521',
  '1.3.132.0.10': 'EC secp256k1',
  '1.3.101.112': 'Ed25519',
  '1.3.101.110': 'X25519',
  '1.2.840.10040.4.1': 'DSA',
  '1.2.840.113549.1.1.10': 'RSA-PSS',
};

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Wraps DER in PEM the way OpenSSL does: 64-character base64 lines, newline-terminated. */
function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** keyId of a key given by its canonical DER SPKI. */
export function keyIdFromSpkiDer(spkiDer: Buffer): string {
  return `k${sm3Hex(spkiDer).slice(0, 24)}`;
}

/**
 * DER SPKI of an SM2 point, as OpenSSL writes it:
 *   SEQUENCE { SEQUENCE { OID id-ecPublicKey, OID sm2 }, BIT STRING (0 unused bits) 04||x||y }
 */
export function sm2PointToSpkiDer(pointHex: string): Buffer {
  const point = normalizeSm2PointHex(pointHex);
  if (point === null) throw new KeyFormatError('not a valid SM2 point');
  const algorithm = derEncode(
    DER_TAG.SEQUENCE,
    Buffer.concat([
      derEncode(DER_TAG.OID, encodeOid(OID.EC_PUBLIC_KEY)),
      derEncode(DER_TAG.OID, encodeOid(OID.SM2_CURVE)),
    ]),
  );
  const subjectPublicKey = derEncode(DER_TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), Buffer.from(point, 'hex')]));
  return derEncode(DER_TAG.SEQUENCE, Buffer.concat([algorithm, subjectPublicKey]));
}

/** SPKI PEM of an SM2 point (130 hex digits, 04…). */
export function sm2PointToPem(pointHex: string): string {
  return toPem('PUBLIC KEY', sm2PointToSpkiDer(pointHex));
}

function sm2PublicKey(pointHex: string): PublicKey {
  const point = normalizeSm2PointHex(pointHex);
  if (point === null) throw new KeyFormatError('not a valid SM2 point');
  const der = sm2PointToSpkiDer(point);
  return { algorithm: 'SM2', pem: toPem('PUBLIC KEY', der), sm2PointHex: point, keyId: keyIdFromSpkiDer(der) };
}

function rsaPublicKey(spkiDer: Buffer): PublicKey {
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    throw new KeyFormatError('not a valid RSA public key');
  }
  const bits = keyObject.asymmetricKeyDetails?.modulusLength;
  if (keyObject.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw new KeyFormatError('not a valid RSA public key');
  }
  if (bits < MIN_RSA_BITS) throw new KeyFormatError(`RSA key must be at least ${MIN_RSA_BITS} bits (this one has ${bits})`);
  if (bits > MAX_RSA_BITS) throw new KeyFormatError(`RSA keys over ${MAX_RSA_BITS} bits are not supported`);
  // Re-export so that equivalent encodings of the same key normalize to the same bytes.
  const der = keyObject.export({ type: 'spki', format: 'der' });
  return { algorithm: 'RSA', pem: toPem('PUBLIC KEY', der), rsaBits: bits, keyId: keyIdFromSpkiDer(der) };
}

function describeOid(oid: string): string {
  const name = KNOWN_OIDS[oid];
  return name ? `${name} (${oid})` : oid;
}

/** Parses DER SubjectPublicKeyInfo and dispatches on its algorithm. */
function publicKeyFromSpkiDer(der: Buffer): PublicKey {
  let algorithmOid: string;
  let parameterOid: string | undefined;
  let keyBits: Buffer;
  try {
    const spki = derExpect(der, 0, DER_TAG.SEQUENCE, 'SubjectPublicKeyInfo');
    if (spki.end !== der.length) throw new DerError('trailing bytes after SubjectPublicKeyInfo');
    const [algorithm, subjectPublicKey, ...extra] = derChildren(spki.content);
    if (!algorithm || !subjectPublicKey || extra.length > 0) throw new DerError('bad SubjectPublicKeyInfo');
    if (algorithm.tag !== DER_TAG.SEQUENCE || subjectPublicKey.tag !== DER_TAG.BIT_STRING) {
      throw new DerError('bad SubjectPublicKeyInfo');
    }
    const [oid, parameters] = derChildren(algorithm.content);
    if (!oid || oid.tag !== DER_TAG.OID) throw new DerError('bad AlgorithmIdentifier');
    algorithmOid = decodeOid(oid.content);
    parameterOid = parameters?.tag === DER_TAG.OID ? decodeOid(parameters.content) : undefined;
    keyBits = subjectPublicKey.content;
  } catch (error) {
    if (error instanceof DerError) throw new KeyFormatError(`not a valid SubjectPublicKeyInfo (${error.message})`);
    throw error;
  }

  if (algorithmOid === OID.RSA_ENCRYPTION) return rsaPublicKey(der);
  if (algorithmOid === OID.EC_PUBLIC_KEY) {
    if (parameterOid !== OID.SM2_CURVE) {
      const curve = parameterOid === undefined ? 'with explicit or missing parameters' : describeOid(parameterOid);
      throw new KeyFormatError(`unsupported key type: EC key on curve ${curve}; only SM2 (${OID.SM2_CURVE}) and RSA keys are accepted`);
    }
    // BIT STRING content: one "unused bits" byte (must be 0), then the point.
    if (keyBits.length !== 66 || keyBits[0] !== 0) {
      throw new KeyFormatError('not a valid SM2 point (the key must hold an uncompressed 65-byte point)');
    }
    return sm2PublicKey(keyBits.subarray(1).toString('hex'));
  }
  throw new KeyFormatError(`unsupported key type: ${describeOid(algorithmOid)}; only SM2 and RSA keys are accepted`);
}

function derFromPem(text: string): Buffer {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== 1) {
    throw new KeyFormatError(blocks.length === 0 ? 'not a valid PEM block' : 'expected exactly one PEM block');
  }
  const [whole, label, body] = blocks[0]!;
  if (text.replace(whole, '').trim() !== '') throw new KeyFormatError('unexpected text around the PEM block');
  if (label !== 'PUBLIC KEY') {
    if (label!.includes('PRIVATE KEY')) throw new KeyFormatError('this is a private key: send only the public key');
    if (label === 'RSA PUBLIC KEY') {
      throw new KeyFormatError('PKCS#1 "RSA PUBLIC KEY" is not accepted: send the SubjectPublicKeyInfo form ("BEGIN PUBLIC KEY")');
    }
    if (label === 'CERTIFICATE') throw new KeyFormatError('a certificate is not accepted: send its public key ("BEGIN PUBLIC KEY")');
    throw new KeyFormatError(`unsupported PEM block "${label}": expected "PUBLIC KEY"`);
  }
  const base64 = body!.replace(/\s+/g, '');
  if (base64 === '' || !STRICT_BASE64.test(base64)) throw new KeyFormatError('the PEM body is not valid base64');
  return Buffer.from(base64, 'base64');
}

/**
 * Parses a party's public key: SPKI PEM (SM2 or RSA >= 2048 bits) or a 130-hex SM2 point (04…).
 * Throws KeyFormatError with a message for the sender when the key cannot be used.
 */
export function parsePublicKey(input: string): PublicKey {
  if (typeof input !== 'string') throw new KeyFormatError('the public key must be a string');
  if (input.length > MAX_KEY_TEXT_CHARS) throw new KeyFormatError('the public key is too long');
  const text = input.trim();
  if (text.includes('-----BEGIN')) return publicKeyFromSpkiDer(derFromPem(text));
  if (/^[0-9a-fA-F]+$/.test(text)) {
    if (/^0[23]/.test(text) && text.length === 66) {
      throw new KeyFormatError('not a valid SM2 point: send the uncompressed form (04 || x || y, 130 hex digits)');
    }
    if (text.length !== 130 || !text.startsWith('04')) {
      throw new KeyFormatError('not a valid SM2 point: expected 130 hex digits starting with 04');
    }
    if (normalizeSm2PointHex(text) === null) throw new KeyFormatError('not a valid SM2 point: it is not on the SM2 curve');
    return sm2PublicKey(text);
  }
  throw new KeyFormatError('unsupported key format: expected a PEM "PUBLIC KEY" or a 130-hex SM2 point');
}

/** A fresh SM2 key pair from Node's CSPRNG (via sm-crypto-v2). */
export function generateSm2KeyPair(): Sm2KeyPair {
  for (;;) {
    const { privateKey, publicKey } = sm2.generateKeyPairHex();
    try {
      // Rejects the (astronomically unlikely) d = n - 1, which SM2 cannot sign with.
      const privateKeyHex = assertSm2PrivateKeyHex(privateKey);
      const publicKeyHex = publicKey.toLowerCase();
      return { privateKeyHex, publicKeyHex, publicKeyPem: sm2PointToPem(publicKeyHex) };
    } catch (error) {
      if (!(error instanceof KeyFormatError)) throw error;
    }
  }
}

/** The uncompressed hex point (130 chars, 04…) of an SM2 private key given as 64 hex digits. */
export function sm2PublicKeyFromPrivate(privateKeyHex: string): string {
  return sm2PublicKeyHexFromPrivate(privateKeyHex);
}
