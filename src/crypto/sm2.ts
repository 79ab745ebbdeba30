// SM2 signatures (GB/T 32918.2) with SM3 and the default user ID "1234567812345678" (GM/T 0009),
// DER-encoded: the form every Chinese SM2 library and the interface standard (§2) use.
//
// Why not node:crypto: OpenSSL's SM2 in Node signs with an empty user ID and Node offers no way to
// set one, so its signatures never interoperate. The parts are:
// - e = SM3(Z || M) is computed with Node's native SM3, and Z (which depends only on the public
//   key and the user ID) is computed once per key instead of on every call;
// - signing computes k·G on a precomputed table of G in WebAssembly, the same operations for
//   every nonce (./sm2Wasm's multiplyBaseX, decision 0242), with (1 + d)⁻¹ computed once per
//   signer;
// - verification, on public data only, uses the table arithmetic of ./sm2Arithmetic: the public
//   key's multiples are precomputed once per verifier, and one check costs no doubling and no
//   inversion (decision 0008); the points are summed in WebAssembly by ./sm2Wasm (decision 0176);
// - the signature DER is parsed strictly here, with 1 <= r, s <= n - 1 checked as the standard
//   requires (verification of outside input must simply answer false, never throw).
//
// Run `node scripts/run.js test/unit/crypto/sm2.bench.ts` for the timings on this machine; the
// figures of 2026-11-27 are in decision 0008.
import { randomBytes } from 'node:crypto';

import { sm2 } from 'sm-crypto-v2';

import {
  DER_TAG,
  DerError,
  decodeUnsignedInteger,
  derChildren,
  derEncode,
  derExpect,
  encodeUnsignedInteger,
} from './der';
import { KeyFormatError } from './errors';
import { invertMod, SM2_N } from './sm2Arithmetic';
import { buildLimbTable, multiplyBaseX, prepareBaseMultiply, sm2VerifyEquationWasm } from './sm2Wasm';
import { type BytesLike, sm3Bytes } from './sm3';

/** The order n of the SM2 recommended curve's base point. */
export const SM2_ORDER = SM2_N;

/** GM/T 0009 default signer identity, used whenever no other ID has been agreed. */
export const SM2_DEFAULT_USER_ID = '1234567812345678';

const UNCOMPRESSED_POINT = /^04[0-9a-fA-F]{128}$/;
const PRIVATE_KEY_HEX = /^[0-9a-f]{64}$/;

/**
 * True iff `hex` is an uncompressed point (04 || x || y, 130 hex digits, either case) on the SM2
 * curve. Compressed points are not accepted: the interface standard registers uncompressed ones.
 */
export function isValidSm2PointHex(hex: string): boolean {
  if (!UNCOMPRESSED_POINT.test(hex)) return false;
  try {
    return sm2.verifyPublicKey(hex.toLowerCase());
  } catch {
    // The library throws (rather than answering false) for coordinates off the curve.
    return false;
  }
}

/** Lowercase form of a valid uncompressed SM2 point, or null if `hex` is not one. */
export function normalizeSm2PointHex(hex: string): string | null {
  return isValidSm2PointHex(hex) ? hex.toLowerCase() : null;
}

/** Throws unless `privateKeyHex` is 64 hex digits encoding d with 1 <= d <= n - 2. */
export function assertSm2PrivateKeyHex(privateKeyHex: string): string {
  const normalized = privateKeyHex.toLowerCase();
  if (!PRIVATE_KEY_HEX.test(normalized)) throw new KeyFormatError('SM2 private key must be 64 hex digits');
  const d = BigInt(`0x${normalized}`);
  // d = n - 1 is excluded by the standard: signing divides by (1 + d).
  if (d < 1n || d > SM2_ORDER - 2n) throw new KeyFormatError('SM2 private key is out of range');
  return normalized;
}

/** The public key (uncompressed hex point, 130 chars) of an SM2 private key. */
export function sm2PublicKeyHexFromPrivate(privateKeyHex: string): string {
  return sm2.getPublicKeyFromPrivateKey(assertSm2PrivateKeyHex(privateKeyHex)).toLowerCase();
}

/** Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), which binds the signer's identity. */
function sm2Z(publicKeyHex: string, userId: string): Buffer {
  return Buffer.from(sm2.getZ(publicKeyHex, userId));
}

/** e = SM3(Z || M): the value that is actually signed. */
function sm2E(z: Buffer, message: BytesLike): Buffer {
  const messageBytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  return sm3Bytes(Buffer.concat([z, messageBytes]));
}

/** DER SEQUENCE { INTEGER r, INTEGER s }. */
export function encodeSm2SignatureDer(r: bigint, s: bigint): Buffer {
  return derEncode(
    DER_TAG.SEQUENCE,
    Buffer.concat([
      derEncode(DER_TAG.INTEGER, encodeUnsignedInteger(r)),
      derEncode(DER_TAG.INTEGER, encodeUnsignedInteger(s)),
    ]),
  );
}

/** (r, s) from a strict-DER signature, or null if malformed or out of range [1, n-1]. */
export function decodeSm2SignatureDer(signatureDer: Uint8Array): { r: bigint; s: bigint } | null {
  try {
    const bytes = Buffer.from(signatureDer.buffer, signatureDer.byteOffset, signatureDer.byteLength);
    const sequence = derExpect(bytes, 0, DER_TAG.SEQUENCE, 'SEQUENCE');
    if (sequence.end !== bytes.length) return null;
    const members = derChildren(sequence.content);
    if (members.length !== 2 || members.some((m) => m.tag !== DER_TAG.INTEGER)) return null;
    const r = decodeUnsignedInteger(members[0]!.content);
    const s = decodeUnsignedInteger(members[1]!.content);
    if (r < 1n || r >= SM2_ORDER || s < 1n || s >= SM2_ORDER) return null;
    return { r, s };
  } catch (error) {
    if (error instanceof DerError) return null;
    throw error;
  }
}

export interface Sm2Signer {
  /** Uncompressed hex point of the signing key. */
  readonly publicKeyHex: string;
  /** DER signature over the message (a string is signed as its UTF-8 bytes). */
  sign(message: BytesLike): Buffer;
}

/**
 * A signer for one private key: derives the public key and Z once, so each signature costs one
 * base-point multiplication. Use it for keys that sign repeatedly (the platform's own key).
 * `drawNonce` is Node's CSPRNG; only the known-answer test of the standard's example gives its k.
 */
export function createSm2Signer(privateKeyHex: string, userId = SM2_DEFAULT_USER_ID, drawNonce: () => bigint = randomNonce): Sm2Signer {
  const privateKey = assertSm2PrivateKeyHex(privateKeyHex);
  const publicKeyHex = sm2PublicKeyHexFromPrivate(privateKey);
  const z = sm2Z(publicKeyHex, userId);
  const d = BigInt(`0x${privateKey}`);
  // s = (1 + d)⁻¹ · (k − r·d) mod n: the inverse depends only on the key.
  const inverseOnePlusD = invertMod(1n + d, SM2_ORDER);
  prepareBaseMultiply();
  return {
    publicKeyHex,
    sign(message: BytesLike): Buffer {
      const e = BigInt(`0x${sm2E(z, message).toString('hex')}`);
      for (;;) {
        // A fresh random k in [1, n − 1] (Node's CSPRNG) and x1 of k·G (GB/T 32918.2 §6.1, A3–A4).
        const k = drawNonce();
        const x1 = multiplyBaseX(k);
        const r = (e + x1) % SM2_ORDER;
        if (r === 0n || r + k === SM2_ORDER) continue;
        const s = (inverseOnePlusD * ((((k - r * d) % SM2_ORDER) + SM2_ORDER) % SM2_ORDER)) % SM2_ORDER;
        if (s === 0n) continue;
        return encodeSm2SignatureDer(r, s);
      }
    },
  };
}

/** A uniform nonce in [1, n − 1]: 256 random bits, drawn again when out of range (p ≈ 2^−32). */
function randomNonce(): bigint {
  for (;;) {
    const k = BigInt(`0x${randomBytes(32).toString('hex')}`);
    if (k >= 1n && k < SM2_ORDER) return k;
  }
}

/** One-shot SM2 signature (DER bytes). Derives the public key each time: prefer createSm2Signer. */
export function sm2Sign(message: BytesLike, privateKeyHex: string): Buffer {
  return createSm2Signer(privateKeyHex).sign(message);
}

export interface Sm2Verifier {
  /** Uncompressed hex point this verifier checks against. */
  readonly publicKeyHex: string;
  /** True iff `signatureDer` is a valid strict-DER SM2 signature of the message by this key. */
  verify(message: BytesLike, signatureDer: Uint8Array): boolean;
}

export interface Sm2VerifierOptions {
  /** Signer identity; default "1234567812345678". */
  userId?: string;
  /**
   * Bits per window of the public key's table (src/crypto/sm2Arithmetic.ts). More bits: fewer
   * additions per check, a bigger table built more slowly. Decision 0008 has the measurements.
   */
  precomputeWindow?: number;
}

/** The window of a verifier's table unless told otherwise (decision 0008). */
export const SM2_VERIFIER_WINDOW_BITS = 5;

/**
 * A verifier for one public key, with the key's multiples precomputed and Z cached. Building one
 * costs a few milliseconds; keep it (e.g. per keyId) and reuse it for every request.
 */
export function createSm2Verifier(pointHex: string, options: Sm2VerifierOptions = {}): Sm2Verifier {
  const publicKeyHex = normalizeSm2PointHex(pointHex);
  if (publicKeyHex === null) throw new KeyFormatError('not a valid SM2 point');
  const table = buildLimbTable(
    { x: BigInt(`0x${publicKeyHex.slice(2, 66)}`), y: BigInt(`0x${publicKeyHex.slice(66)}`) },
    options.precomputeWindow ?? SM2_VERIFIER_WINDOW_BITS,
  );
  const z = sm2Z(publicKeyHex, options.userId ?? SM2_DEFAULT_USER_ID);
  return {
    publicKeyHex,
    verify(message: BytesLike, signatureDer: Uint8Array): boolean {
      const rs = decodeSm2SignatureDer(signatureDer);
      if (rs === null) return false;
      const e = BigInt(`0x${sm2E(z, message).toString('hex')}`);
      return sm2VerifyEquationWasm(e, rs.r, rs.s, table);
    },
  };
}

/** Verifies an SM2 DER signature with a verifier from createSm2Verifier. */
export function sm2Verify(message: BytesLike, signatureDer: Uint8Array, verifier: Sm2Verifier): boolean {
  return verifier.verify(message, signatureDer);
}
