import crypto from 'node:crypto';

import { sm2 } from 'sm-crypto-v2';

import { type AffinePoint, SM2_N } from '../../src/crypto/sm2Arithmetic';

/**
 * The reference for the SM2 arithmetic tests: @noble/curves' SM2 points, as sm-crypto-v2 builds
 * them (an independent implementation of the same curve, with complete projective formulas).
 */
export interface NoblePoint {
  multiply(scalar: bigint): NoblePoint;
  add(other: NoblePoint): NoblePoint;
  negate(): NoblePoint;
  is0(): boolean;
  toAffine(): { x: bigint; y: bigint };
}

interface NoblePointClass {
  BASE: NoblePoint;
  ZERO: NoblePoint;
  fromAffine(point: { x: bigint; y: bigint }): NoblePoint;
}

export const NOBLE = (sm2.precomputePublicKey(sm2.generateKeyPairHex().publicKey) as unknown as { constructor: NoblePointClass }).constructor;

/** A uniformly random scalar in [1, n − 1]. */
export function randomScalar(): bigint {
  return (BigInt(`0x${crypto.randomBytes(40).toString('hex')}`) % (SM2_N - 1n)) + 1n;
}

/** A random key: d and d·G. */
export function randomKeyPoint(): { d: bigint; point: AffinePoint } {
  const d = randomScalar();
  return { d, point: NOBLE.BASE.multiply(d).toAffine() };
}
