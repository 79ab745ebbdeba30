// SM2 verification's equation on WebAssembly: s·G + t·P summed by wasm/sm2Points.ts from the
// points this file picks out of fixed-window tables, then x1 compared with r − e as in
// ./sm2Arithmetic (contracts/decisions/0176-sm2-verification-in-webassembly.md).
//
// The tables are the ones ./sm2Arithmetic builds, with every coordinate turned into Montgomery
// form and 8 little-endian 32-bit limbs, flat in one Uint32Array (64 bytes a point: a third of
// the memory of BigInt coordinates). The module instance has one page of memory and no state
// between calls; JavaScript is single-threaded per isolate, so one instance serves the process.
//
// The sums are for public data only, like ./sm2Arithmetic. The one path for a secret scalar is
// multiplyBaseX, signing's k·G: the module's `multiplyBase`, on a table of G's odd multiples kept in
// the module's memory, with the same operations for every k
// (contracts/decisions/0242-sm2-signing-on-a-precomputed-table.md).
import {
  type AffinePoint,
  buildFixedWindowTable,
  buildOddMultiplesTable,
  type FixedWindowTable,
  invertMod,
  SM2_G,
  SM2_N,
  SM2_P,
  signedDigits,
} from './sm2Arithmetic';
import { SM2_POINTS_WASM_BASE64 } from './sm2PointsModule';

// Node.js has WebAssembly as a global; the project's lib (ES2023, no DOM) does not declare it, so
// the little this file uses is typed here.
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
}
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

interface Sm2PointsExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  inputPointer(): number;
  signsPointer(): number;
  outputPointer(): number;
  pointsMax(): number;
  sumPoints(count: number): number;
  signTablePointer(): number;
  scalarPointer(): number;
  multiplyBase(): number;
}

/** A fixed-window table (./sm2Arithmetic) as Montgomery limbs: point j of window i at 16·(i·half + j). */
export interface LimbTable {
  readonly windowBits: number;
  readonly windowCount: number;
  /** Points per window: 2^(windowBits − 1). */
  readonly half: number;
  readonly limbs: Uint32Array;
}

const LIMBS_PER_POINT = 16;
/** R = 2^256 mod p: x is stored as x·R mod p. */
const MONTGOMERY_R = (1n << 256n) % SM2_P;
const LIMB_MASK = 0xffffffffn;

function writeLimbs(value: bigint, target: Uint32Array, offset: number): void {
  let rest = value;
  for (let index = 0; index < 8; index += 1) {
    target[offset + index] = Number(rest & LIMB_MASK);
    rest >>= 32n;
  }
}

function readLimbs(source: Uint32Array, offset: number): bigint {
  let value = 0n;
  for (let index = 7; index >= 0; index -= 1) value = (value << 32n) | BigInt(source[offset + index]!);
  return value;
}

/** The table's coordinates in Montgomery form, as limbs. */
export function limbTableOf(table: FixedWindowTable): LimbTable {
  const half = 1 << (table.windowBits - 1);
  const limbs = new Uint32Array(table.windows.length * half * LIMBS_PER_POINT);
  table.windows.forEach((flat, window) => {
    for (let index = 0; index < half; index += 1) {
      const offset = (window * half + index) * LIMBS_PER_POINT;
      writeLimbs((flat[2 * index]! * MONTGOMERY_R) % SM2_P, limbs, offset);
      writeLimbs((flat[2 * index + 1]! * MONTGOMERY_R) % SM2_P, limbs, offset + 8);
    }
  });
  return { windowBits: table.windowBits, windowCount: table.windows.length, half, limbs };
}

/** A point's table for the WebAssembly sum: ./sm2Arithmetic's table, in limbs. */
export function buildLimbTable(point: AffinePoint, windowBits: number): LimbTable {
  return limbTableOf(buildFixedWindowTable(point, windowBits));
}

interface Instance {
  readonly exports: Sm2PointsExports;
  readonly memory32: Uint32Array;
  readonly memory8: Uint8Array;
  /** Word offsets of the input and output, byte offset of the signs. */
  readonly input: number;
  readonly signs: number;
  readonly output: number;
  readonly pointsMax: number;
  /** Word offset of the secret scalar multiplyBase reads. */
  readonly scalar: number;
}

let instance: Instance | undefined;

function instanceOnce(): Instance {
  if (instance !== undefined) return instance;
  // 4–5 KiB of code: compiling it synchronously costs well under a millisecond.
  const module = new webAssembly.Module(Buffer.from(SM2_POINTS_WASM_BASE64, 'base64'));
  const exports = new webAssembly.Instance(module, {}).exports as Sm2PointsExports;
  // The module's memory is one fixed page (it never grows), so these views stay valid.
  instance = {
    exports,
    memory32: new Uint32Array(exports.memory.buffer),
    memory8: new Uint8Array(exports.memory.buffer),
    input: exports.inputPointer() >>> 2,
    signs: exports.signsPointer(),
    output: exports.outputPointer() >>> 2,
    pointsMax: exports.pointsMax(),
    scalar: exports.scalarPointer() >>> 2,
  };
  // multiplyBase's table of G (public), in the module's memory for as long as the instance lives.
  writeSignTable(instance, exports.signTablePointer() >>> 2);
  return instance;
}

/** The module's multiplyBase works on 4-bit windows: 65 windows of G's 8 odd multiples. */
const SIGN_WINDOW_BITS = 4;
const SIGN_WINDOWS = 65;

function writeSignTable(wasm: Instance, offset: number): void {
  const windows = buildOddMultiplesTable(SM2_G, SIGN_WINDOW_BITS, SIGN_WINDOWS);
  let target = offset;
  for (const flat of windows) {
    for (const coordinate of flat) {
      writeLimbs((coordinate * MONTGOMERY_R) % SM2_P, wasm.memory32, target);
      target += 8;
    }
  }
}

/** Appends scalar · P's points (one per non-zero signed digit) to the input; returns the new count. */
function appendMultiple(wasm: Instance, table: LimbTable, scalar: bigint, count: number): number {
  const digits = signedDigits(scalar, table.windowBits, table.windowCount);
  const { memory32, memory8 } = wasm;
  const { limbs, half } = table;
  let next = count;
  for (let window = 0; window < digits.length; window += 1) {
    const digit = digits[window]!;
    if (digit === 0) continue;
    if (next === wasm.pointsMax) throw new RangeError('too many points for one sum');
    const source = (window * half + Math.abs(digit) - 1) * LIMBS_PER_POINT;
    const target = wasm.input + next * LIMBS_PER_POINT;
    for (let index = 0; index < LIMBS_PER_POINT; index += 1) memory32[target + index] = limbs[source + index]!;
    memory8[wasm.signs + next] = digit < 0 ? 1 : 0;
    next += 1;
  }
  return next;
}

/** Sums the input's first `count` points; false at infinity, else the Jacobian X, Y, Z are in the output. */
function sum(wasm: Instance, count: number): boolean {
  return wasm.exports.sumPoints(count) === 1;
}

let baseTable: LimbTable | undefined;

/** G's table (8-bit windows, as ./sm2Arithmetic's), built on first use. */
function baseTableOnce(): LimbTable {
  baseTable ??= buildLimbTable(SM2_G, 8);
  return baseTable;
}

/**
 * ./sm2Arithmetic's sm2VerifyEquation on the WebAssembly sum: with t = (r + s) mod n and
 * (x1, y1) = s·G + t·P, true iff t ≠ 0, the point is not at infinity and (e + x1) mod n = r.
 * The caller has checked 1 ≤ r, s ≤ n − 1 and computed e = SM3(Z ‖ M).
 */
export function sm2VerifyEquationWasm(e: bigint, r: bigint, s: bigint, publicKeyTable: LimbTable): boolean {
  const t = (r + s) % SM2_N;
  if (t === 0n) return false;
  const wasm = instanceOnce();
  const count = appendMultiple(wasm, publicKeyTable, t, appendMultiple(wasm, baseTableOnce(), s, 0));
  if (!sum(wasm, count)) return false;
  const x = readLimbs(wasm.memory32, wasm.output);
  const z = readLimbs(wasm.memory32, wasm.output + 16);
  // x1 = X / Z² ≡ r − e (mod n); x1 < p < 2n, so x1 is c or c + n: compared as X = c · Z², no inversion.
  const c = (((r - e) % SM2_N) + SM2_N) % SM2_N;
  const z2 = (z * z) % SM2_P;
  if ((c * z2) % SM2_P === x) return true;
  return c + SM2_N < SM2_P && ((c + SM2_N) * z2) % SM2_P === x;
}

/** Builds the module and its table of G now (≈ 30 ms), so that no request pays for it: a signer's creation calls it. */
export function prepareBaseMultiply(): void {
  instanceOnce();
}

/**
 * x of k·G for a secret k in [1, n − 1]: signing's nonce point (GB/T 32918.2 §6.1, A4). The module
 * computes ±k·G with the same operations for every k and clears its copy of k; x is the same for
 * both signs. The final inversion of Z² is BigInt arithmetic, as @noble/curves' own is.
 */
export function multiplyBaseX(k: bigint): bigint {
  if (k < 1n || k >= SM2_N) throw new RangeError('a nonce in [1, n − 1]');
  const wasm = instanceOnce();
  writeLimbs(k, wasm.memory32, wasm.scalar);
  if (wasm.exports.multiplyBase() !== 1) throw new Error('k·G at infinity for k in [1, n − 1]');
  const x = readLimbs(wasm.memory32, wasm.output);
  const z = readLimbs(wasm.memory32, wasm.output + 16);
  return (x * invertMod((z * z) % SM2_P, SM2_P)) % SM2_P;
}

/**
 * The affine sum of `points` (each negated when asked) by the WebAssembly module, or null at
 * infinity: the module's arithmetic laid bare, for the tests that compare it with BigInt.
 */
export function sumAffinePointsWasm(points: ReadonlyArray<{ point: AffinePoint; negate: boolean }>): AffinePoint | null {
  const wasm = instanceOnce();
  if (points.length > wasm.pointsMax) throw new RangeError('too many points for one sum');
  points.forEach(({ point, negate }, index) => {
    const target = wasm.input + index * LIMBS_PER_POINT;
    writeLimbs((point.x * MONTGOMERY_R) % SM2_P, wasm.memory32, target);
    writeLimbs((point.y * MONTGOMERY_R) % SM2_P, wasm.memory32, target + 8);
    wasm.memory8[wasm.signs + index] = negate ? 1 : 0;
  });
  if (!sum(wasm, points.length)) return null;
  const x = readLimbs(wasm.memory32, wasm.output);
  const y = readLimbs(wasm.memory32, wasm.output + 8);
  const zInverse = invertMod(readLimbs(wasm.memory32, wasm.output + 16), SM2_P);
  const zInverse2 = (zInverse * zInverse) % SM2_P;
  return { x: (x * zInverse2) % SM2_P, y: (((y * zInverse2) % SM2_P) * zInverse) % SM2_P };
}
