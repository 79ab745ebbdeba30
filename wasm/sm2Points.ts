// The sum of a list of affine points on the SM2 curve: the inner loop of SM2 verification,
// s·G + t·P with both multiples read from fixed-window tables (src/crypto/sm2Wasm.ts chooses the
// points and makes the final comparison; contracts/decisions/0176-sm2-verification-in-webassembly.md).
//
// AssemblyScript, compiled to WebAssembly by `npm run build:wasm` into src/crypto/sm2PointsModule.ts
// (a test checks that the committed module is this file's compilation). 32-bit limbs with 64-bit
// products run several times faster than the same arithmetic on JavaScript's BigInt.
//
// `sumPoints` takes public data only: it is variable-time on purpose, like
// src/crypto/sm2Arithmetic.ts, whose formulas (and special cases) it follows step for step.
// `multiplyBase` is the one entry for a secret scalar, the signature's nonce k: k·G from a table of
// G's odd multiples held in this memory, the same sequence of operations for every k (contracts/
// decisions/0242-sm2-signing-on-a-precomputed-table.md).
//
// Field elements are 8 little-endian u32 limbs in linear memory, in Montgomery form (a·2^256 mod
// p), always fully reduced to [0, p), so that equality is equality of limbs.

// ---- memory ------------------------------------------------------------------------------------

/** The most points one call sums: G's 33 windows plus a key table's 129 at the smallest window (2 bits). */
const POINTS_MAX: i32 = 192;
const INPUT: usize = memory.data(POINTS_MAX * 64, 16);
const SIGNS: usize = memory.data(POINTS_MAX, 16);
const OUTPUT: usize = memory.data(96, 16);

// multiplyBase's table: for window i = 0 … 64, the odd multiples (2j + 1) · 16^i · G, j = 0 … 7,
// affine, 64 bytes each as the input's points; written once by src/crypto/sm2Wasm.ts (public data).
const SIGN_WINDOW_BITS: i32 = 4;
const SIGN_WINDOWS: i32 = 65;
const SIGN_ENTRIES: i32 = 8;
const SIGN_TABLE: usize = memory.data(SIGN_WINDOWS * SIGN_ENTRIES * 64, 16);
/** The secret scalar k (8 little-endian limbs, 1 ≤ k < n), cleared by multiplyBase. */
const SCALAR: usize = memory.data(32, 16);
/** multiplyBase's working copies: k or n − k, its digits, the point picked from a window. */
const ODD: usize = memory.data(32, 16);
const DIGITS: usize = memory.data(SIGN_WINDOWS, 16);
const PICK: usize = memory.data(64, 16);
// The group order n, little-endian limbs.
const ORDER: usize = memory.data<u32>([0x39d54123, 0x53bbf409, 0x21c6052b, 0x7203df6b, 0xffffffff, 0xffffffff, 0xffffffff, 0xfffffffe]);

// The field prime p, little-endian limbs.
const PRIME: usize = memory.data<u32>([0xffffffff, 0xffffffff, 0x00000000, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xfffffffe]);
// 1 in Montgomery form: 2^256 mod p = 2^224 + 2^96 − 2^64 + 1.
const MONT_ONE: usize = memory.data<u32>([0x00000001, 0x00000000, 0xffffffff, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000001]);
// The integer 1: a Montgomery product with it leaves the Montgomery form.
const PLAIN_ONE: usize = memory.data<u32>([1, 0, 0, 0, 0, 0, 0, 0]);

// Scratch: the product accumulator and the temporaries of the point formulas.
const T: usize = memory.data(48, 16);
const ACC_X: usize = memory.data(32, 16);
const ACC_Y: usize = memory.data(32, 16);
const ACC_Z: usize = memory.data(32, 16);
const NEG_Y: usize = memory.data(32, 16);
const V0: usize = memory.data(32, 16);
const V1: usize = memory.data(32, 16);
const V2: usize = memory.data(32, 16);
const V3: usize = memory.data(32, 16);
const V4: usize = memory.data(32, 16);
const V5: usize = memory.data(32, 16);
const V6: usize = memory.data(32, 16);

export function inputPointer(): usize {
  return INPUT;
}
export function signsPointer(): usize {
  return SIGNS;
}
export function outputPointer(): usize {
  return OUTPUT;
}
export function pointsMax(): i32 {
  return POINTS_MAX;
}
export function signTablePointer(): usize {
  return SIGN_TABLE;
}
export function scalarPointer(): usize {
  return SCALAR;
}

// ---- field arithmetic ----------------------------------------------------------------------------

@inline function limb(pointer: usize, index: usize): u64 {
  return <u64>load<u32>(pointer + (index << 2));
}

@inline function setLimb(pointer: usize, index: usize, value: u64): void {
  store<u32>(pointer + (index << 2), <u32>value);
}

function copy(target: usize, source: usize): void {
  memory.copy(target, source, 32);
}

function isZero(a: usize): bool {
  return (load<u64>(a) | load<u64>(a, 8) | load<u64>(a, 16) | load<u64>(a, 24)) == 0;
}

function equal(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8) && load<u64>(a, 16) == load<u64>(b, 16) && load<u64>(a, 24) == load<u64>(b, 24);
}

/** r ← r − p if (carry, r) ≥ p; r holds 8 limbs and `carry` a ninth. */
function reduceOnce(r: usize, carry: u64): void {
  // The difference r − p, kept aside until we know it is wanted.
  let borrow: u64 = 0;
  let greaterOrEqual = carry != 0;
  if (!greaterOrEqual) {
    // Compare from the top limb down.
    greaterOrEqual = true;
    for (let index: i32 = 7; index >= 0; index--) {
      const a = limb(r, index);
      const b = limb(PRIME, index);
      if (a != b) {
        greaterOrEqual = a > b;
        break;
      }
    }
  }
  if (!greaterOrEqual) return;
  for (let index: usize = 0; index < 8; index++) {
    const difference = limb(r, index) - limb(PRIME, index) - borrow;
    setLimb(r, index, difference);
    borrow = (difference >> 63) & 1;
  }
}

/** r ← a + b mod p. */
function fieldAdd(r: usize, a: usize, b: usize): void {
  let carry: u64 = 0;
  for (let index: usize = 0; index < 8; index++) {
    const sum = limb(a, index) + limb(b, index) + carry;
    setLimb(r, index, sum);
    carry = sum >> 32;
  }
  reduceOnce(r, carry);
}

/** r ← a − b mod p. */
function fieldSub(r: usize, a: usize, b: usize): void {
  let borrow: u64 = 0;
  for (let index: usize = 0; index < 8; index++) {
    const difference = limb(a, index) - limb(b, index) - borrow;
    setLimb(r, index, difference);
    borrow = (difference >> 63) & 1;
  }
  if (borrow == 0) return;
  let carry: u64 = 0;
  for (let index: usize = 0; index < 8; index++) {
    const sum = limb(r, index) + limb(PRIME, index) + carry;
    setLimb(r, index, sum);
    carry = sum >> 32;
  }
}

const MASK: u64 = 0xffffffff;

/**
 * r ← a · b · 2^−256 mod p: Montgomery multiplication, coarsely integrated operand scanning
 * (CIOS), unrolled so that every limb lives in a local. Each of the 8 rounds adds a_i · b to the
 * accumulator t (10 limbs), then adds m · p with m = t_0 (−p⁻¹ mod 2^32 = 1 because p ≡ −1 mod
 * 2^32), which clears t_0, and shifts t down one limb. p's third limb is 0, so that product is
 * left out. The result is below 2p, and one conditional subtraction reduces it.
 */
function montMul(r: usize, a: usize, b: usize): void {
  const a0: u64 = limb(a, 0);
  const a1: u64 = limb(a, 1);
  const a2: u64 = limb(a, 2);
  const a3: u64 = limb(a, 3);
  const a4: u64 = limb(a, 4);
  const a5: u64 = limb(a, 5);
  const a6: u64 = limb(a, 6);
  const a7: u64 = limb(a, 7);
  const b0: u64 = limb(b, 0);
  const b1: u64 = limb(b, 1);
  const b2: u64 = limb(b, 2);
  const b3: u64 = limb(b, 3);
  const b4: u64 = limb(b, 4);
  const b5: u64 = limb(b, 5);
  const b6: u64 = limb(b, 6);
  const b7: u64 = limb(b, 7);
  let t0: u64 = 0, t1: u64 = 0, t2: u64 = 0, t3: u64 = 0, t4: u64 = 0, t5: u64 = 0, t6: u64 = 0, t7: u64 = 0, t8: u64 = 0, t9: u64 = 0;
  let sum: u64 = 0, carry: u64 = 0, m: u64 = 0;
  // a0 · b
  sum = t0 + a0 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a0 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a0 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a0 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a0 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a0 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a0 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a0 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a1 · b
  sum = t0 + a1 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a1 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a1 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a1 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a1 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a1 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a1 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a1 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a2 · b
  sum = t0 + a2 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a2 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a2 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a2 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a2 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a2 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a2 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a2 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a3 · b
  sum = t0 + a3 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a3 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a3 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a3 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a3 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a3 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a3 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a3 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a4 · b
  sum = t0 + a4 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a4 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a4 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a4 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a4 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a4 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a4 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a4 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a5 · b
  sum = t0 + a5 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a5 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a5 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a5 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a5 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a5 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a5 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a5 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a6 · b
  sum = t0 + a6 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a6 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a6 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a6 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a6 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a6 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a6 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a6 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  // a7 · b
  sum = t0 + a7 * b0; t0 = sum & MASK; carry = sum >> 32;
  sum = t1 + a7 * b1 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t2 + a7 * b2 + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t3 + a7 * b3 + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t4 + a7 * b4 + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t5 + a7 * b5 + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t6 + a7 * b6 + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t7 + a7 * b7 + carry; t7 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t8 = sum & MASK; t9 = sum >> 32;
  m = t0;
  carry = (t0 + m * 0xffffffff) >> 32;
  sum = t1 + m * 0xffffffff + carry; t0 = sum & MASK; carry = sum >> 32;
  sum = t2 + carry; t1 = sum & MASK; carry = sum >> 32;
  sum = t3 + m * 0xffffffff + carry; t2 = sum & MASK; carry = sum >> 32;
  sum = t4 + m * 0xffffffff + carry; t3 = sum & MASK; carry = sum >> 32;
  sum = t5 + m * 0xffffffff + carry; t4 = sum & MASK; carry = sum >> 32;
  sum = t6 + m * 0xffffffff + carry; t5 = sum & MASK; carry = sum >> 32;
  sum = t7 + m * 0xfffffffe + carry; t6 = sum & MASK; carry = sum >> 32;
  sum = t8 + carry; t7 = sum & MASK; t8 = t9 + (sum >> 32);
  setLimb(r, 0, t0);
  setLimb(r, 1, t1);
  setLimb(r, 2, t2);
  setLimb(r, 3, t3);
  setLimb(r, 4, t4);
  setLimb(r, 5, t5);
  setLimb(r, 6, t6);
  setLimb(r, 7, t7);
  reduceOnce(r, t8);
}


@inline function montSquare(r: usize, a: usize): void {
  montMul(r, a, a);
}

// ---- points --------------------------------------------------------------------------------------

/** acc ← 2·acc (dbl-2001-b, a = −3), as sm2Arithmetic.ts's doubleInPlace. */
function doubleAcc(): void {
  if (isZero(ACC_Z)) return;
  if (isZero(ACC_Y)) {
    memory.fill(ACC_Z, 0, 32);
    return;
  }
  const delta = V0;
  const gamma = V1;
  const beta = V2;
  const alpha = V3;
  montSquare(delta, ACC_Z);
  montSquare(gamma, ACC_Y);
  montMul(beta, ACC_X, gamma);
  // alpha = 3 · (x − delta) · (x + delta)
  fieldSub(V4, ACC_X, delta);
  fieldAdd(V5, ACC_X, delta);
  montMul(V6, V4, V5);
  fieldAdd(alpha, V6, V6);
  fieldAdd(alpha, alpha, V6);
  // beta4 = 4 · beta (in V4)
  fieldAdd(V4, beta, beta);
  fieldAdd(V4, V4, V4);
  // x3 = alpha² − 2 · beta4 (in V5)
  montSquare(V5, alpha);
  fieldAdd(V6, V4, V4);
  fieldSub(V5, V5, V6);
  // z3 = (y + z)² − gamma − delta
  fieldAdd(V6, ACC_Y, ACC_Z);
  montSquare(V6, V6);
  fieldSub(V6, V6, gamma);
  fieldSub(ACC_Z, V6, delta);
  // y3 = alpha · (beta4 − x3) − 8 · gamma²
  montSquare(gamma, gamma);
  fieldAdd(gamma, gamma, gamma);
  fieldAdd(gamma, gamma, gamma);
  fieldAdd(gamma, gamma, gamma);
  fieldSub(V4, V4, V5);
  montMul(V4, alpha, V4);
  fieldSub(ACC_Y, V4, gamma);
  copy(ACC_X, V5);
}

/** acc ← acc + (x2, y2) for an affine point (madd-2004-hmv), as sm2Arithmetic.ts's addAffineInPlace. */
function addAffine(x2: usize, y2: usize): void {
  if (isZero(ACC_Z)) {
    copy(ACC_X, x2);
    copy(ACC_Y, y2);
    copy(ACC_Z, MONT_ONE);
    return;
  }
  const z1z1 = V0;
  const u2 = V1;
  const s2 = V2;
  const h = V3;
  const r = V4;
  montSquare(z1z1, ACC_Z);
  montMul(u2, x2, z1z1);
  montMul(s2, z1z1, ACC_Z);
  montMul(s2, y2, s2);
  fieldSub(h, u2, ACC_X);
  fieldSub(r, s2, ACC_Y);
  if (isZero(h)) {
    if (isZero(r)) doubleAcc(); // the same point
    else memory.fill(ACC_Z, 0, 32); // its negation
    return;
  }
  const h2 = V5;
  const h3 = V6;
  const x1h2 = V0; // z1z1 is no longer needed
  montSquare(h2, h);
  montMul(h3, h2, h);
  montMul(x1h2, ACC_X, h2);
  // x3 = r² − h3 − 2 · x1h2 (in V1)
  montSquare(V1, r);
  fieldSub(V1, V1, h3);
  fieldSub(V1, V1, x1h2);
  fieldSub(V1, V1, x1h2);
  // y3 = r · (x1h2 − x3) − y1 · h3
  fieldSub(V2, x1h2, V1);
  montMul(V2, r, V2);
  montMul(V5, ACC_Y, h3);
  fieldSub(ACC_Y, V2, V5);
  copy(ACC_X, V1);
  montMul(ACC_Z, ACC_Z, h);
}

/**
 * Sums the first `count` points of the input (64 bytes each: x then y, Montgomery limbs), each
 * negated when its sign byte is 1. Returns 0 if the sum is the point at infinity; otherwise 1,
 * with the sum's Jacobian X, Y and Z, out of Montgomery form, in the output (32 bytes each).
 */
export function sumPoints(count: i32): i32 {
  if (count < 0 || count > POINTS_MAX) unreachable();
  memory.fill(ACC_X, 0, 32);
  memory.fill(ACC_Y, 0, 32);
  memory.fill(ACC_Z, 0, 32);
  for (let index: i32 = 0; index < count; index++) {
    const x = INPUT + (<usize>index << 6);
    let y = x + 32;
    if (load<u8>(SIGNS + <usize>index) != 0) {
      // −y = p − y, and y = 0 stays 0.
      if (isZero(y)) {
        memory.fill(NEG_Y, 0, 32);
      } else {
        fieldSub(NEG_Y, PRIME, y);
      }
      y = NEG_Y;
    }
    addAffine(x, y);
  }
  if (isZero(ACC_Z)) return 0;
  montMul(OUTPUT, ACC_X, PLAIN_ONE);
  montMul(OUTPUT + 32, ACC_Y, PLAIN_ONE);
  montMul(OUTPUT + 64, ACC_Z, PLAIN_ONE);
  return 1;
}

// ---- k·G for a secret k --------------------------------------------------------------------------

/**
 * ODD ← k if k is odd, else n − k (odd, as n is): x(k·G) = x(−k·G), and signing needs only x.
 * Chosen by mask, not by branch.
 */
function oddScalar(): void {
  const keep: u32 = 0 - (load<u32>(SCALAR) & 1);
  let borrow: u64 = 0;
  for (let index: usize = 0; index < 8; index++) {
    const k = limb(SCALAR, index);
    const difference = limb(ORDER, index) - k - borrow;
    borrow = (difference >> 63) & 1;
    setLimb(ODD, index, (<u64>((<u32>k & keep) | (<u32>difference & ~keep))));
  }
}

/**
 * The odd scalar in ODD as 65 odd signed digits of 4 bits, least significant first:
 * ODD = Σ d_i · 16^i with every d_i odd in [−15, 15] (the top one is always 1, as ODD < 16^64).
 * Each step takes d = (ODD mod 32) − 16 and ODD ← (ODD − d) / 16, which stays odd; ODD − d is ODD
 * with its low five bits replaced by 16. No digit is zero, so every window adds one point.
 */
function oddDigits(): void {
  for (let window: i32 = 0; window < SIGN_WINDOWS - 1; window++) {
    const low = load<u32>(ODD);
    store<i8>(DIGITS + <usize>window, <i8>(<i32>(low & 31) - 16));
    store<u32>(ODD, (low & ~(<u32>31)) | 16);
    for (let index: usize = 0; index < 7; index++) {
      setLimb(ODD, index, (limb(ODD, index) >> SIGN_WINDOW_BITS) | ((limb(ODD, index + 1) << (32 - SIGN_WINDOW_BITS)) & MASK));
    }
    setLimb(ODD, 7, limb(ODD, 7) >> SIGN_WINDOW_BITS);
  }
  store<i8>(DIGITS + <usize>(SIGN_WINDOWS - 1), <i8>load<u32>(ODD));
}

/** PICK ← the window's entry for `digit` (negated when negative), reading every entry of the window. */
function pickEntry(window: i32, digit: i32): void {
  const negative: u64 = <u64>(<i64>(digit >> 31));
  const index: u32 = <u32>(((digit ^ (digit >> 31)) - (digit >> 31) - 1) >> 1);
  memory.fill(PICK, 0, 64);
  const base = SIGN_TABLE + (<usize>(window * SIGN_ENTRIES) << 6);
  for (let entry: u32 = 0; entry < <u32>SIGN_ENTRIES; entry++) {
    const mask: u64 = 0 - <u64>(((entry ^ index) - 1) >> 31);
    const source = base + (<usize>entry << 6);
    for (let word: usize = 0; word < 64; word += 8) {
      store<u64>(PICK + word, load<u64>(PICK + word) | (load<u64>(source + word) & mask));
    }
  }
  // −y = p − y (a table point's y is never 0: the curve has no point of order 2).
  fieldSub(NEG_Y, PRIME, PICK + 32);
  for (let word: usize = 0; word < 32; word += 8) {
    store<u64>(PICK + 32 + word, (load<u64>(PICK + 32 + word) & ~negative) | (load<u64>(NEG_Y + word) & negative));
  }
}

/**
 * k·G for the secret k in SCALAR (1 ≤ k < n), up to its sign: the same 65 additions, table reads
 * and selections whatever k is. Before window i the partial sum is a·G with |a| < 16^i, and the
 * pick is ±d·16^i·G with 1 ≤ d ≤ 15, so a ± d·16^i is non-zero and, for i < 63, below n in size:
 * addAffine's special cases are never reached there. In the top two windows they are reached for
 * k' = 2^256 − n alone (the odd scalar multiplied; ±k for two nonces in 2^256): window 63 then
 * meets the sum's negation, and window 64 starts from infinity, as the first window does for every
 * k. The doubling is never reached (test/unit/crypto/sm2Wasm.test.ts runs that k). Returns 1 with the
 * Jacobian X, Y and Z, out of Montgomery form, in the output; SCALAR and the working copies are
 * cleared.
 */
export function multiplyBase(): i32 {
  oddScalar();
  oddDigits();
  memory.fill(ACC_X, 0, 32);
  memory.fill(ACC_Y, 0, 32);
  memory.fill(ACC_Z, 0, 32);
  for (let window: i32 = 0; window < SIGN_WINDOWS; window++) {
    pickEntry(window, <i32>load<i8>(DIGITS + <usize>window));
    addAffine(PICK, PICK + 32);
  }
  memory.fill(SCALAR, 0, 32);
  memory.fill(ODD, 0, 32);
  memory.fill(DIGITS, 0, SIGN_WINDOWS);
  memory.fill(PICK, 0, 64);
  if (isZero(ACC_Z)) return 0;
  montMul(OUTPUT, ACC_X, PLAIN_ONE);
  montMul(OUTPUT + 32, ACC_Y, PLAIN_ONE);
  montMul(OUTPUT + 64, ACC_Z, PLAIN_ONE);
  return 1;
}
