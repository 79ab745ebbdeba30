import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';

import { type AffinePoint, buildFixedWindowTable, buildOddMultiplesTable, SM2_G, SM2_N, SM2_P } from '../../../src/crypto/sm2Arithmetic';
import { buildLimbTable, limbTableOf, multiplyBaseX, sm2VerifyEquationWasm, sumAffinePointsWasm } from '../../../src/crypto/sm2Wasm';
import { NOBLE, randomKeyPoint, randomScalar } from '../../helpers/nobleSm2';

// The WebAssembly point sum (wasm/sm2Points.ts, decision 0176) against @noble/curves, an
// independent implementation of the same curve (test/helpers/nobleSm2.ts).
function randomPoint(): AffinePoint {
  return randomKeyPoint().point;
}

/** The reference sum of the same list. */
function nobleSum(points: ReadonlyArray<{ point: AffinePoint; negate: boolean }>): AffinePoint | null {
  let total = NOBLE.ZERO;
  for (const { point, negate } of points) {
    const term = NOBLE.fromAffine(point);
    total = total.add(negate ? term.negate() : term);
  }
  return total.is0() ? null : total.toAffine();
}

describe('the committed WebAssembly module', () => {
  it('is wasm/sm2Points.ts compiled by the pinned AssemblyScript (npm run build:wasm --check)', () => {
    const root = path.resolve(__dirname, '../../..');
    // Throws (with the script's message) when the bytes in src/crypto/sm2PointsModule.ts are stale.
    execFileSync(process.execPath, [path.join(root, 'scripts/build-wasm.js'), '--check'], { cwd: root, stdio: 'pipe' });
  }, 60_000);
});

describe('the WebAssembly point sum against @noble/curves', () => {
  it('sums random points, some negated', () => {
    for (let round = 0; round < 20; round += 1) {
      const points = Array.from({ length: 1 + (round % 7) * 9 }, () => ({ point: randomPoint(), negate: crypto.randomInt(2) === 1 }));
      expect(sumAffinePointsWasm(points)).toEqual(nobleSum(points));
    }
  });

  it('doubles when a point meets itself, and goes on from the double', () => {
    const p = randomPoint();
    const q = randomPoint();
    for (const points of [
      [{ point: p, negate: false }, { point: p, negate: false }],
      [{ point: p, negate: true }, { point: p, negate: true }, { point: q, negate: false }],
      [{ point: p, negate: false }, { point: q, negate: false }, { point: nobleSum([{ point: p, negate: false }, { point: q, negate: false }])!, negate: false }],
    ]) {
      expect(sumAffinePointsWasm(points)).toEqual(nobleSum(points));
    }
  });

  it('reaches the point at infinity when a point meets its negation, and leaves it again', () => {
    const p = randomPoint();
    const q = randomPoint();
    expect(sumAffinePointsWasm([{ point: p, negate: false }, { point: p, negate: true }])).toBeNull();
    expect(sumAffinePointsWasm([])).toBeNull();
    const onward = [{ point: p, negate: false }, { point: p, negate: true }, { point: q, negate: true }];
    expect(sumAffinePointsWasm(onward)).toEqual(nobleSum(onward));
  });

  it('handles coordinates at the ends of the field: G, −G and points with small and large y', () => {
    const points = [SM2_G, { x: SM2_G.x, y: SM2_P - SM2_G.y }, ...Array.from({ length: 6 }, randomPoint)];
    for (const first of points) {
      for (const second of points) {
        const pair = [{ point: first, negate: false }, { point: second, negate: false }];
        expect(sumAffinePointsWasm(pair)).toEqual(nobleSum(pair));
      }
    }
  });

  it('refuses more points than its memory holds', () => {
    const point = randomPoint();
    expect(() => sumAffinePointsWasm(Array.from({ length: 193 }, () => ({ point, negate: false })))).toThrow(RangeError);
  });
});

describe('the WebAssembly verification equation at every window size', () => {
  it('agrees with @noble/curves for windows of 2 to 10 bits', () => {
    const key = randomPoint();
    const reference = NOBLE.fromAffine(key);
    for (let windowBits = 2; windowBits <= 10; windowBits += 1) {
      const table = buildLimbTable(key, windowBits);
      expect(table.windowCount).toBe(Math.ceil(257 / windowBits));
      expect(table.limbs).toHaveLength(table.windowCount * (1 << (windowBits - 1)) * 16);
      for (const s of [1n, 2n, SM2_N - 1n, randomScalar()]) {
        for (const r of [1n, SM2_N - 1n, randomScalar()]) {
          const t = (r + s) % SM2_N;
          if (t === 0n) continue;
          const x1 = NOBLE.BASE.multiply(s).add(reference.multiply(t)).toAffine().x;
          const e = (((r - x1) % SM2_N) + SM2_N) % SM2_N;
          expect(sm2VerifyEquationWasm(e, r, s, table)).toBe(true);
          expect(sm2VerifyEquationWasm((e + 1n) % SM2_N, r, s, table)).toBe(false);
        }
      }
    }
  });

  it('stores a table in Montgomery limbs that convert back to the BigInt table', () => {
    const key = randomPoint();
    const bigintTable = buildFixedWindowTable(key, 5);
    const limbs = limbTableOf(bigintTable).limbs;
    const inverseR = (() => {
      // R⁻¹ mod p by Fermat: p is prime.
      let result = 1n;
      let base = (1n << 256n) % SM2_P;
      for (let exponent = SM2_P - 2n; exponent > 0n; exponent >>= 1n) {
        if (exponent & 1n) result = (result * base) % SM2_P;
        base = (base * base) % SM2_P;
      }
      return result;
    })();
    const coordinate = (offset: number) => {
      let value = 0n;
      for (let index = 7; index >= 0; index -= 1) value = (value << 32n) | BigInt(limbs[offset + index]!);
      return (value * inverseR) % SM2_P;
    };
    // Window 3, point 7 (8 · 2^15 · P), and the very last point of the table.
    const window = 3;
    const index = 7;
    expect({ x: coordinate((window * 16 + index) * 16), y: coordinate((window * 16 + index) * 16 + 8) }).toEqual({
      x: bigintTable.windows[window]![2 * index],
      y: bigintTable.windows[window]![2 * index + 1],
    });
    const last = limbs.length / 16 - 1;
    const lastWindow = bigintTable.windows[bigintTable.windows.length - 1]!;
    expect(coordinate(last * 16)).toBe(lastWindow[lastWindow.length - 2]);
  });
});

describe("signing's k·G on the table of G's odd multiples (decision 0242)", () => {
  const nobleX = (k: bigint) => NOBLE.BASE.multiply(k).toAffine().x;

  it('agrees with @noble/curves for random nonces', () => {
    for (let round = 0; round < 300; round += 1) {
      const k = randomScalar();
      expect(multiplyBaseX(k)).toBe(nobleX(k));
    }
  });

  it('agrees at the edges: the smallest and largest nonces, window boundaries, even and odd k', () => {
    const edges = [1n, 2n, 3n, 15n, 16n, 17n, 31n, 32n, 33n, 255n, 256n, 257n, SM2_N - 1n, SM2_N - 2n, SM2_N - 15n, SM2_N - 16n, (SM2_N - 1n) / 2n, (SM2_N + 1n) / 2n];
    for (let bits = 4n; bits <= 252n; bits += 4n) edges.push(1n << bits, (1n << bits) - 1n, (1n << bits) + 1n);
    // Scalars of all-f, all-7 and all-8 nibbles: digits at the table's largest entries (±15) and in
    // long runs of one value.
    edges.push(BigInt(`0x${'f'.repeat(63)}`), BigInt(`0x${'7'.repeat(63)}`), BigInt(`0x${'8'.repeat(63)}1`));
    for (const k of edges) {
      expect(multiplyBaseX(k)).toBe(nobleX(k));
      // n − k has the same x: the module multiplies the odd one of the two.
      expect(multiplyBaseX(SM2_N - k)).toBe(nobleX(k));
    }
  });

  it('gets k·G for the one odd scalar whose sum passes through infinity before the last window', () => {
    // k' = 2^256 − n: the digits below the top one sum to k' − 16^64 = −n, i.e. infinity; the
    // top window's 16^64·G is then added to it (the path the first window takes for every k).
    const k = (1n << 256n) - SM2_N;
    expect(k % 2n).toBe(1n);
    expect(multiplyBaseX(k)).toBe(nobleX(k));
    expect(multiplyBaseX(SM2_N - k)).toBe(nobleX(k));
  });

  it('refuses a nonce outside [1, n − 1]', () => {
    expect(() => multiplyBaseX(0n)).toThrow(RangeError);
    expect(() => multiplyBaseX(SM2_N)).toThrow(RangeError);
    expect(() => multiplyBaseX(-1n)).toThrow(RangeError);
  });

  it("builds G's odd multiples: (2j + 1) · 16^i · G", () => {
    const windows = buildOddMultiplesTable(SM2_G, 4, 65);
    expect(windows).toHaveLength(65);
    for (const window of [0, 1, 31, 64]) {
      for (const j of [0, 3, 7]) {
        const expected = NOBLE.BASE.multiply((BigInt(2 * j + 1) * (1n << BigInt(4 * window))) % SM2_N).toAffine();
        expect({ x: windows[window]![2 * j], y: windows[window]![2 * j + 1] }).toEqual({ x: expected.x, y: expected.y });
      }
    }
  });
});
