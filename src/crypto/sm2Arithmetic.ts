// The SM2 recommended curve (GB/T 32918.5) and the one computation verification needs:
// x(s·G + t·P) compared with r − e, for public s, t, P — written here because verification is
// the dearest step of every signed request (one per request), and the general-purpose curve code
// of @noble/curves (through sm-crypto-v2) spends most of its time in work this one check does not
// need:
// - fixed-window tables of affine points, G's built once per process and P's once per key, so a
//   scalar multiplication is one mixed addition per window and no doubling;
// - Jacobian coordinates with mixed additions (8M + 3S) instead of complete projective formulas;
// - additions and subtractions reduced by one comparison instead of a division;
// - no inversion at the end: x1 = X / Z² is compared as X = c · Z² (the check libsecp256k1 uses).
//
// Everything here handles public data only and is variable-time on purpose. Signing, which
// involves the secret key and the secret nonce k, stays with @noble/curves' constant-time
// multiplication (src/crypto/sm2.ts). contracts/decisions/0008-sm2-verification-arithmetic.md
// records why, and the tests compare every result with @noble/curves.

/** The field prime p = 2^256 − 2^224 − 2^96 + 2^64 − 1. */
export const SM2_P = BigInt('0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF');
/** The curve coefficient a = p − 3, which the doubling formula below relies on. */
export const SM2_A = SM2_P - 3n;
export const SM2_B = BigInt('0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93');
/** The order n of the base point. */
export const SM2_N = BigInt('0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123');
export const SM2_GX = BigInt('0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7');
export const SM2_GY = BigInt('0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0');

const P = SM2_P;

// ---- field arithmetic (operands in [0, p)) -------------------------------------------------------

function fAdd(a: bigint, b: bigint): bigint {
  const sum = a + b;
  return sum >= P ? sum - P : sum;
}

function fSub(a: bigint, b: bigint): bigint {
  const difference = a - b;
  return difference < 0n ? difference + P : difference;
}

function fMul(a: bigint, b: bigint): bigint {
  return (a * b) % P;
}

/** a⁻¹ mod m by the extended Euclidean algorithm; a must be non-zero mod m (m prime). */
export function invertMod(a: bigint, m: bigint): bigint {
  let r0 = m;
  let r1 = ((a % m) + m) % m;
  let x0 = 0n;
  let x1 = 1n;
  if (r1 === 0n) throw new RangeError('zero has no inverse');
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [x0, x1] = [x1, x0 - q * x1];
  }
  return x0 < 0n ? x0 + m : x0;
}

// ---- points ----------------------------------------------------------------------------------------

/** An affine point (never the point at infinity). */
export interface AffinePoint {
  readonly x: bigint;
  readonly y: bigint;
}

/** A Jacobian point (X/Z², Y/Z³); Z = 0 is the point at infinity. Mutated in place by the adders. */
interface JacobianPoint {
  x: bigint;
  y: bigint;
  z: bigint;
}

export const SM2_G: AffinePoint = { x: SM2_GX, y: SM2_GY };

/** True iff (x, y) are field elements satisfying y² = x³ + ax + b. */
export function isOnSm2Curve(point: AffinePoint): boolean {
  const { x, y } = point;
  if (x < 0n || x >= P || y < 0n || y >= P) return false;
  return fMul(y, y) === fAdd(fAdd(fMul(fMul(x, x), x), fMul(SM2_A, x)), SM2_B);
}

/** point ← 2·point (dbl-2001-b, a = −3). */
function doubleInPlace(point: JacobianPoint): void {
  if (point.z === 0n) return;
  if (point.y === 0n) {
    point.z = 0n;
    return;
  }
  const delta = fMul(point.z, point.z);
  const gamma = fMul(point.y, point.y);
  const beta = fMul(point.x, gamma);
  const alpha = fMul(3n, fMul(fSub(point.x, delta), fAdd(point.x, delta)));
  const beta4 = fMul(4n, beta);
  const x3 = fSub(fMul(alpha, alpha), fAdd(beta4, beta4));
  const z3 = fSub(fSub(fMul(fAdd(point.y, point.z), fAdd(point.y, point.z)), gamma), delta);
  const gamma2 = fMul(gamma, gamma);
  point.y = fSub(fMul(alpha, fSub(beta4, x3)), fMul(8n, gamma2));
  point.x = x3;
  point.z = z3;
}

/** point ← point + (x2, y2) for an affine (x2, y2) (madd-2004-hmv), with every special case. */
function addAffineInPlace(point: JacobianPoint, x2: bigint, y2: bigint): void {
  if (point.z === 0n) {
    point.x = x2;
    point.y = y2;
    point.z = 1n;
    return;
  }
  const z1z1 = fMul(point.z, point.z);
  const u2 = fMul(x2, z1z1);
  const s2 = fMul(y2, fMul(z1z1, point.z));
  const h = fSub(u2, point.x);
  const r = fSub(s2, point.y);
  if (h === 0n) {
    if (r === 0n) doubleInPlace(point); // the same point
    else point.z = 0n; // its negation
    return;
  }
  const h2 = fMul(h, h);
  const h3 = fMul(h2, h);
  const x1h2 = fMul(point.x, h2);
  const x3 = fSub(fSub(fMul(r, r), h3), fAdd(x1h2, x1h2));
  point.y = fSub(fMul(r, fSub(x1h2, x3)), fMul(point.y, h3));
  point.x = x3;
  point.z = fMul(point.z, h);
}

/** Affine forms of Jacobian points with one inversion (Montgomery's trick); none may be infinity. */
function toAffineAll(points: JacobianPoint[]): AffinePoint[] {
  const prefix: bigint[] = new Array<bigint>(points.length);
  let running = 1n;
  points.forEach((point, index) => {
    if (point.z === 0n) throw new RangeError('the point at infinity has no affine form');
    prefix[index] = running;
    running = fMul(running, point.z);
  });
  let inverse = invertMod(running, P);
  const affine: AffinePoint[] = new Array<AffinePoint>(points.length);
  for (let index = points.length - 1; index >= 0; index -= 1) {
    const point = points[index]!;
    const zInverse = fMul(inverse, prefix[index]!);
    inverse = fMul(inverse, point.z);
    const zInverse2 = fMul(zInverse, zInverse);
    affine[index] = { x: fMul(point.x, zInverse2), y: fMul(point.y, fMul(zInverse2, zInverse)) };
  }
  return affine;
}

// ---- fixed-window tables -----------------------------------------------------------------------------

/**
 * Multiples of one point for signed fixed windows of `windowBits`: window i holds
 * j · 2^(windowBits·i) · P for j = 1 … 2^(windowBits−1), flat as [x1, y1, x2, y2, …] (flat
 * coordinates take about a third less memory than point objects). Enough windows for a 256-bit
 * scalar plus the carry of the signed recoding.
 */
export interface FixedWindowTable {
  readonly windowBits: number;
  readonly windows: ReadonlyArray<readonly bigint[]>;
}

/** The points of one window of a table. */
export function windowPoints(table: FixedWindowTable, window: number): AffinePoint[] {
  const flat = table.windows[window] ?? [];
  return Array.from({ length: flat.length / 2 }, (_unused, index) => ({ x: flat[2 * index]!, y: flat[2 * index + 1]! }));
}

/** Scalars are below n < 2^256; the signed recoding may carry one more bit. */
const SCALAR_BITS = 257;

export function buildFixedWindowTable(point: AffinePoint, windowBits: number): FixedWindowTable {
  if (!Number.isInteger(windowBits) || windowBits < 2 || windowBits > 10) throw new RangeError('window of 2–10 bits');
  if (!isOnSm2Curve(point)) throw new RangeError('not a point on the SM2 curve');
  const windowCount = Math.ceil(SCALAR_BITS / windowBits);
  const half = 1 << (windowBits - 1);
  const windows: bigint[][] = [];
  let base: AffinePoint = point;
  for (let window = 0; window < windowCount; window += 1) {
    // j · base for j = 1 … half, then 2 · (half · base) = the next window's base.
    const multiples: JacobianPoint[] = [];
    const running: JacobianPoint = { x: base.x, y: base.y, z: 1n };
    multiples.push({ ...running });
    for (let j = 2; j <= half; j += 1) {
      addAffineInPlace(running, base.x, base.y);
      multiples.push({ ...running });
    }
    doubleInPlace(running);
    const affine = toAffineAll([...multiples, running]);
    base = affine.pop()!;
    windows.push(affine.flatMap((entry) => [entry.x, entry.y]));
  }
  return { windowBits, windows };
}

/**
 * The odd multiples of a point for signing's regular recoding (src/crypto/sm2Wasm.ts, decision
 * 0242): window i holds (2j + 1) · 2^(windowBits·i) · P for j = 0 … 2^(windowBits−1) − 1, flat as
 * [x1, y1, x3, y3, …].
 */
export function buildOddMultiplesTable(point: AffinePoint, windowBits: number, windowCount: number): bigint[][] {
  if (!Number.isInteger(windowBits) || windowBits < 2 || windowBits > 8) throw new RangeError('window of 2–8 bits');
  if (!isOnSm2Curve(point)) throw new RangeError('not a point on the SM2 curve');
  const entries = 1 << (windowBits - 1);
  const windows: bigint[][] = [];
  let base: AffinePoint = point;
  for (let window = 0; window < windowCount; window += 1) {
    // base, 3·base, … (2^w − 1)·base by steps of 2·base; then + base: 2^w·base, the next
    // window's base.
    const twice: JacobianPoint = { x: base.x, y: base.y, z: 1n };
    doubleInPlace(twice);
    const [twiceAffine] = toAffineAll([twice]);
    const running: JacobianPoint = { x: base.x, y: base.y, z: 1n };
    const multiples: JacobianPoint[] = [{ ...running }];
    for (let j = 1; j < entries; j += 1) {
      addAffineInPlace(running, twiceAffine!.x, twiceAffine!.y);
      multiples.push({ ...running });
    }
    addAffineInPlace(running, base.x, base.y);
    multiples.push({ ...running });
    const affine = toAffineAll(multiples);
    base = affine.pop()!;
    windows.push(affine.flatMap((entry) => [entry.x, entry.y]));
  }
  return windows;
}

/**
 * Signed digits of `scalar` (0 ≤ scalar < 2^256) in base 2^windowBits, each in
 * [−2^(w−1), 2^(w−1)], least significant first.
 */
export function signedDigits(scalar: bigint, windowBits: number, windowCount: number): Int16Array {
  const digits = new Int16Array(windowCount);
  const mask = BigInt((1 << windowBits) - 1);
  const shift = BigInt(windowBits);
  const half = 1 << (windowBits - 1);
  const full = 1 << windowBits;
  let rest = scalar;
  let carry = 0;
  for (let window = 0; window < windowCount; window += 1) {
    let digit = Number(rest & mask) + carry;
    rest >>= shift;
    carry = 0;
    if (digit > half) {
      digit -= full;
      carry = 1;
    }
    digits[window] = digit;
  }
  if (rest !== 0n || carry !== 0) throw new RangeError('scalar out of range for the table');
  return digits;
}

/** accumulator ← accumulator + scalar · P, P given by its table. */
function addMultiple(accumulator: JacobianPoint, table: FixedWindowTable, scalar: bigint): void {
  const digits = signedDigits(scalar, table.windowBits, table.windows.length);
  for (let window = 0; window < digits.length; window += 1) {
    const digit = digits[window]!;
    if (digit === 0) continue;
    const flat = table.windows[window]!;
    const index = 2 * (Math.abs(digit) - 1);
    const y = flat[index + 1]!;
    addAffineInPlace(accumulator, flat[index]!, digit > 0 ? y : y === 0n ? 0n : P - y);
  }
}

let baseTable: FixedWindowTable | undefined;

/** G's table (8-bit windows, 33 × 128 points, ≈ 20 ms to build), built on first use. */
function baseTableOnce(): FixedWindowTable {
  baseTable ??= buildFixedWindowTable(SM2_G, 8);
  return baseTable;
}

/**
 * The SM2 verification equation (GB/T 32918.2 §7.1, steps B5–B7) for a signature (r, s) over e
 * under the key whose table is `publicKeyTable`: with t = (r + s) mod n and
 * (x1, y1) = s·G + t·P, true iff t ≠ 0, the point is not at infinity, and (e + x1) mod n = r.
 * The caller has checked 1 ≤ r, s ≤ n − 1 (B1–B2) and computed e = SM3(Z ‖ M) (B3–B4).
 */
export function sm2VerifyEquation(e: bigint, r: bigint, s: bigint, publicKeyTable: FixedWindowTable): boolean {
  const t = (r + s) % SM2_N;
  if (t === 0n) return false;
  const sum: JacobianPoint = { x: 0n, y: 1n, z: 0n };
  addMultiple(sum, baseTableOnce(), s);
  addMultiple(sum, publicKeyTable, t);
  if (sum.z === 0n) return false;
  // x1 = X / Z² must be ≡ r − e (mod n); x1 < p < 2n, so x1 is c or c + n.
  const c = (((r - e) % SM2_N) + SM2_N) % SM2_N;
  const z2 = fMul(sum.z, sum.z);
  if (fMul(c, z2) === sum.x) return true;
  return c + SM2_N < P && fMul(c + SM2_N, z2) === sum.x;
}

/** k·P by the same table arithmetic, as an affine point, or null at infinity (k is taken mod n). */
export function multiplyWithTable(table: FixedWindowTable, scalar: bigint): AffinePoint | null {
  const sum: JacobianPoint = { x: 0n, y: 1n, z: 0n };
  addMultiple(sum, table, ((scalar % SM2_N) + SM2_N) % SM2_N);
  return sum.z === 0n ? null : toAffineAll([sum])[0]!;
}
