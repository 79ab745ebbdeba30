import {
  type AffinePoint,
  buildFixedWindowTable,
  invertMod,
  isOnSm2Curve,
  multiplyWithTable,
  SM2_A,
  SM2_B,
  SM2_G,
  SM2_N,
  SM2_P,
  sm2VerifyEquation,
  windowPoints,
} from '../../../src/crypto/sm2Arithmetic';
import { buildLimbTable, sm2VerifyEquationWasm } from '../../../src/crypto/sm2Wasm';
import { NOBLE, type NoblePoint, randomKeyPoint, randomScalar } from '../../helpers/nobleSm2';

function affineOf(point: NoblePoint): AffinePoint | null {
  return point.is0() ? null : point.toAffine();
}

/** y with y² = x³ + ax + b, if x is the abscissa of a point (p ≡ 3 mod 4: y = rhs^((p+1)/4)). */
function yFor(x: bigint): bigint | null {
  const rhs = (((x * x) % SM2_P) * x + SM2_A * x + SM2_B) % SM2_P;
  let y = 1n;
  let base = rhs;
  for (let exponent = (SM2_P + 1n) / 4n; exponent > 0n; exponent >>= 1n) {
    if (exponent & 1n) y = (y * base) % SM2_P;
    base = (base * base) % SM2_P;
  }
  return (y * y) % SM2_P === rhs ? y : null;
}

describe('SM2 table arithmetic against @noble/curves', () => {
  const edgeScalars = [1n, 2n, 3n, 127n, 128n, 129n, 255n, 256n, SM2_N - 1n, SM2_N - 2n, SM2_N / 2n, 1n << 255n, (1n << 255n) - 1n, SM2_N - (1n << 128n)];

  it('multiplies G by edge and random scalars exactly as the reference does', () => {
    const table = buildFixedWindowTable(SM2_G, 8);
    for (const scalar of [...edgeScalars, ...Array.from({ length: 40 }, randomScalar)]) {
      expect(multiplyWithTable(table, scalar)).toEqual(affineOf(NOBLE.BASE.multiply(scalar)));
    }
    expect(multiplyWithTable(table, 0n)).toBeNull();
    expect(multiplyWithTable(table, SM2_N)).toBeNull();
  });

  it('multiplies a public key by every window size from 2 to 10 bits', () => {
    const { point } = randomKeyPoint();
    const reference = NOBLE.fromAffine(point);
    for (let windowBits = 2; windowBits <= 10; windowBits += 1) {
      const table = buildFixedWindowTable(point, windowBits);
      expect(table.windows).toHaveLength(Math.ceil(257 / windowBits));
      expect(table.windows.every((window) => window.length === 2 << (windowBits - 1))).toBe(true);
      for (const scalar of [...edgeScalars, randomScalar(), randomScalar()]) {
        expect(multiplyWithTable(table, scalar)).toEqual(affineOf(reference.multiply(scalar)));
      }
    }
  });

  it('keeps every table entry on the curve', () => {
    const table = buildFixedWindowTable(randomKeyPoint().point, 5);
    const points = table.windows.flatMap((_window, index) => windowPoints(table, index));
    expect(points).toHaveLength(52 * 16);
    expect(points.every(isOnSm2Curve)).toBe(true);
  });

  it('refuses to build a table for a point off the curve', () => {
    expect(() => buildFixedWindowTable({ x: SM2_G.x, y: SM2_G.y + 1n }, 6)).toThrow(RangeError);
    expect(() => buildFixedWindowTable({ x: SM2_P, y: 0n }, 6)).toThrow(RangeError);
    expect(() => buildFixedWindowTable(SM2_G, 1)).toThrow(RangeError);
  });

  it('inverts modulo p and n', () => {
    for (const modulus of [SM2_P, SM2_N]) {
      for (const value of [1n, 2n, modulus - 1n, randomScalar()]) {
        expect((invertMod(value, modulus) * value) % modulus).toBe(1n);
      }
      expect(() => invertMod(modulus, modulus)).toThrow(RangeError);
    }
  });
});

/** The equation for one key: (e, r, s) → holds? */
type Equation = (e: bigint, r: bigint, s: bigint) => boolean;

// The same cases for the BigInt equation and for the WebAssembly one (decision 0176), which the
// service uses.
const IMPLEMENTATIONS: Array<[string, (key: AffinePoint, windowBits: number) => Equation]> = [
  ['BigInt (sm2Arithmetic)', (key, windowBits) => {
    const table = buildFixedWindowTable(key, windowBits);
    return (e, r, s) => sm2VerifyEquation(e, r, s, table);
  }],
  ['WebAssembly (sm2Wasm)', (key, windowBits) => {
    const table = buildLimbTable(key, windowBits);
    return (e, r, s) => sm2VerifyEquationWasm(e, r, s, table);
  }],
];

describe.each(IMPLEMENTATIONS)('the SM2 verification equation, %s', (_name, equationFor) => {
  const { point: publicKey } = randomKeyPoint();
  const holds = equationFor(publicKey, 6);
  const reference = NOBLE.fromAffine(publicKey);

  /** e that makes (r, s) valid: e = r − x(s·G + t·P) mod n. */
  function validE(r: bigint, s: bigint): bigint {
    const x1 = NOBLE.BASE.multiply(s).add(reference.multiply((r + s) % SM2_N)).toAffine().x;
    return (((r - x1) % SM2_N) + SM2_N) % SM2_N;
  }

  it('holds exactly when (e + x1) mod n = r, for random signatures', () => {
    for (let round = 0; round < 30; round += 1) {
      const r = randomScalar();
      const s = randomScalar();
      const e = validE(r, s);
      expect(holds(e, r, s)).toBe(true);
      // e is any 256-bit value: e and e + n are the same modulo n.
      if (e + SM2_N < 1n << 256n) expect(holds(e + SM2_N, r, s)).toBe(true);
      expect(holds((e + 1n) % SM2_N, r, s)).toBe(false);
      expect(holds(e, r, s === SM2_N - 1n ? 1n : s + 1n)).toBe(false);
      expect(holds(e, r === SM2_N - 1n ? 1n : r + 1n, s)).toBe(false);
      expect(equationFor(randomKeyPoint().point, 6)(e, r, s)).toBe(false);
    }
  });

  it('fails when t = r + s is 0 mod n', () => {
    const s = randomScalar();
    // Whatever e: with t = 0 the equation would reduce to x(s·G), which the standard refuses.
    const x1 = NOBLE.BASE.multiply(s).toAffine().x;
    for (const e of [0n, 1n, (((SM2_N - s - x1) % SM2_N) + SM2_N) % SM2_N, randomScalar()]) {
      expect(holds(e, SM2_N - s, s)).toBe(false);
    }
  });

  it('fails when s·G + t·P is the point at infinity', () => {
    // Key d = 1 (P = G): with t = n − s the sum is s·G − s·G = O.
    const holdsForG = equationFor(SM2_G, 6);
    const s = 5n;
    const r = (SM2_N - 2n * s) % SM2_N; // t = r + s = n − s
    for (let e = 0n; e < 3n; e += 1n) expect(holdsForG(e, r, s)).toBe(false);
  });

  it('accepts x1 ≥ n (x1 − n is what counts) — a point crafted with its x in [n, p)', () => {
    // Find Q with n ≤ x < p, then choose the key P = Q − s·G so that s·G + 1·P = Q.
    let x = SM2_N + 1n;
    let y = yFor(x);
    while (y === null) {
      x += 1n;
      y = yFor(x);
    }
    const q = NOBLE.fromAffine({ x, y });
    const s = randomScalar();
    const key = q.add(NOBLE.BASE.multiply(s).negate()).toAffine();
    const r = (SM2_N + 1n - s) % SM2_N; // t = 1
    const e = (((r - (x - SM2_N)) % SM2_N) + SM2_N) % SM2_N;
    const holdsForKey = equationFor(key, 6);
    expect(holdsForKey(e, r, s)).toBe(true);
    expect(holdsForKey((e + 1n) % SM2_N, r, s)).toBe(false);
  });
});
