// Signed requests, interface standard §2: the five-line string to sign, the body digest, the
// per-key verifier used by the signature middleware, and signRequest, which the platform uses for
// its callbacks and the test client for its requests.
//
// SM2 keys: body digest SM3, signature SM2-with-SM3 (default user ID) in DER.
// RSA keys: body digest SHA-256, signature RSASSA-PKCS1-v1_5 with SHA-256.
import {
  type KeyObject,
  constants as cryptoConstants,
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';

import type { KeyAlgorithm, PublicKey } from './keys';
import { createSm2Verifier, sm2Sign } from './sm2';
import { type BytesLike, sm3Hex } from './sm3';

export const SIGNATURE_HEADERS = {
  appId: 'X-Tongfu-App-Id',
  keyId: 'X-Tongfu-Key-Id',
  timestamp: 'X-Tongfu-Timestamp',
  nonce: 'X-Tongfu-Nonce',
  signature: 'X-Tongfu-Signature',
} as const;

/** A valid X-Tongfu-Nonce: 16–64 characters of [A-Za-z0-9_-]. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

const HEX_DIGEST = /^[0-9a-f]{64}$/;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface StringToSignParts {
  method: string;
  /** The request target exactly as sent: path plus `?query` if any. */
  target: string;
  /** The X-Tongfu-Timestamp header value (Unix seconds). */
  timestamp: string | number;
  nonce: string;
  /** Lowercase hex digest of the raw body bytes (see bodyDigest). */
  bodyDigestHex: string;
}

/**
 * The string to sign: method, target, timestamp, nonce and body digest, each followed by "\n"
 * (so it ends with a newline). Sign and verify its UTF-8 bytes.
 * Throws if a part contains a line break: that would let one request pose as another.
 */
export function stringToSign(parts: StringToSignParts): string {
  const lines = [parts.method.toUpperCase(), parts.target, String(parts.timestamp), parts.nonce, parts.bodyDigestHex];
  for (const line of lines) {
    if (/[\r\n]/.test(line)) throw new Error('a string-to-sign part contains a line break');
  }
  if (!HEX_DIGEST.test(parts.bodyDigestHex)) throw new Error('bodyDigestHex must be 64 lowercase hex digits');
  return lines.map((line) => `${line}\n`).join('');
}

/** Line 5: SM3 (SM2 keys) or SHA-256 (RSA keys) of the exact body bytes; no body = empty string. */
export function bodyDigest(algorithm: KeyAlgorithm, body: BytesLike | undefined): string {
  const bytes = body ?? Buffer.alloc(0);
  return algorithm === 'SM2' ? sm3Hex(bytes) : createHash('sha256').update(bytes).digest('hex');
}

/**
 * The request target for a URL (e.g. a callback URL): path plus `?query`, "/" when the path is
 * empty. Send the request to the same URL object so the bytes on the wire match.
 */
export function targetFromUrl(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return `${parsed.pathname || '/'}${parsed.search}`;
}

export interface RequestVerifier {
  readonly keyId: string;
  readonly algorithm: KeyAlgorithm;
  /** True iff the signature bytes are a valid signature of these string-to-sign bytes. Never throws. */
  verify(stringToSignBytes: Uint8Array, signatureBytes: Uint8Array): boolean;
  /** The body digest for line 5, with this key's algorithm. */
  digest(body: BytesLike | undefined): string;
}

/**
 * A verifier for one registered key. Building one does the per-key work once (SM2: about 6 ms to
 * precompute the key's multiples; RSA: parsing the key), so cache it per keyId: a verification
 * then costs about 0.3 ms for SM2 and 0.03 ms for RSA-2048 (measured, see
 * test/unit/crypto/sm2.bench.ts and decision 0008).
 */
export function createVerifier(publicKey: PublicKey): RequestVerifier {
  const { keyId, algorithm } = publicKey;
  const digest = (body: BytesLike | undefined): string => bodyDigest(algorithm, body);
  if (algorithm === 'SM2') {
    if (!publicKey.sm2PointHex) throw new Error(`SM2 key ${keyId} has no point`);
    const sm2Verifier = createSm2Verifier(publicKey.sm2PointHex);
    return {
      keyId,
      algorithm,
      digest,
      verify: (stringToSignBytes, signatureBytes) => sm2Verifier.verify(stringToSignBytes, signatureBytes),
    };
  }
  const keyObject: KeyObject = createPublicKey(publicKey.pem);
  return {
    keyId,
    algorithm,
    digest,
    verify(stringToSignBytes, signatureBytes) {
      try {
        return cryptoVerify(
          'sha256',
          stringToSignBytes,
          { key: keyObject, padding: cryptoConstants.RSA_PKCS1_PADDING },
          signatureBytes,
        );
      } catch {
        // OpenSSL throws for some malformed signatures; to the caller that is just "invalid".
        return false;
      }
    },
  };
}

/**
 * The signature bytes of an X-Tongfu-Signature value, or null unless it is standard padded base64
 * (Buffer.from(…, 'base64') alone would silently skip invalid characters).
 */
export function decodeSignatureHeader(value: string): Buffer | null {
  if (value === '' || !STRICT_BASE64.test(value)) return null;
  return Buffer.from(value, 'base64');
}

/** A fresh nonce: 24 characters of [A-Za-z0-9_-] (144 random bits). */
export function generateNonce(): string {
  return randomBytes(18).toString('base64url');
}

export type RequestPrivateKey =
  | { algorithm: 'SM2'; privateKeyHex: string }
  | { algorithm: 'RSA'; privateKeyPem: string };

export interface SignRequestInput {
  method: string;
  /** Path plus `?query`, exactly as it will be sent (see targetFromUrl). */
  target: string;
  /** The exact body bytes that will be sent (a string is sent as UTF-8); omit for no body. */
  body?: BytesLike;
  appId: string;
  keyId?: string;
  privateKey: RequestPrivateKey;
  /** Unix time in seconds, from the real clock. */
  timestampSeconds: number;
  nonce?: string;
}

/** Signature bytes over the UTF-8 string to sign. */
function signBytes(privateKey: RequestPrivateKey, data: Buffer): Buffer {
  if (privateKey.algorithm === 'SM2') return sm2Sign(data, privateKey.privateKeyHex);
  return cryptoSign('sha256', data, {
    key: createPrivateKey(privateKey.privateKeyPem),
    padding: cryptoConstants.RSA_PKCS1_PADDING,
  });
}

/** The X-Tongfu-* headers for a request (X-Tongfu-Key-Id only when keyId is given). */
export function signRequest(input: SignRequestInput): Record<string, string> {
  if (!Number.isSafeInteger(input.timestampSeconds) || input.timestampSeconds < 0) {
    throw new Error('timestampSeconds must be a non-negative integer number of seconds');
  }
  const nonce = input.nonce ?? generateNonce();
  if (!NONCE_PATTERN.test(nonce)) throw new Error('nonce must be 16-64 characters of [A-Za-z0-9_-]');
  const timestamp = String(input.timestampSeconds);
  const text = stringToSign({
    method: input.method,
    target: input.target,
    timestamp,
    nonce,
    bodyDigestHex: bodyDigest(input.privateKey.algorithm, input.body),
  });
  const signature = signBytes(input.privateKey, Buffer.from(text, 'utf8'));
  const headers: Record<string, string> = { [SIGNATURE_HEADERS.appId]: input.appId };
  if (input.keyId !== undefined) headers[SIGNATURE_HEADERS.keyId] = input.keyId;
  headers[SIGNATURE_HEADERS.timestamp] = timestamp;
  headers[SIGNATURE_HEADERS.nonce] = nonce;
  headers[SIGNATURE_HEADERS.signature] = signature.toString('base64');
  return headers;
}
