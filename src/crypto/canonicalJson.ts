// Canonical JSON (RFC 8785, JCS): what the platform signs for receipts and daily closes, and what
// idempotency hashes ("same content" = same SHA-256 of the canonical JSON of the parsed body).
//
// Why not the `canonicalize` package, although it is installed: version 5.1.0 is an ES module
// only ("type": "module", engines node >= 22). Plain Node 20.20 can require() it, but Jest's
// module system on Node 20 cannot (it throws "Must use import to load ES Module" unless Jest is
// configured to transform that file), so every test touching idempotency or receipts would fail.
// JCS is small, so it is implemented here, following canonicalize 5.1.0 exactly (same output,
// same refusals); test/unit/crypto/canonicalJson.test.ts runs the package in a child Node
// process over a set of tricky inputs and checks that both give identical bytes.
//
// The rules: object keys sorted by UTF-16 code units; no whitespace; strings and numbers as
// ECMAScript's JSON.stringify writes them (numbers: shortest round-trip form, 1e+21 style
// exponents, -0 as 0); NaN, Infinity, lone surrogates, BigInt and cycles are refused. As in
// JSON.stringify, toJSON() is honoured, undefined/function/symbol members are left out of
// objects and become null in arrays. Iterative, so deep nesting cannot overflow the stack.
import { createHash } from 'node:crypto';

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

// A high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

type Container = object;

interface ArrayFrame {
  array: readonly unknown[];
  keys: null;
  index: number;
  first: boolean;
}

interface ObjectFrame {
  object: Record<string, unknown>;
  keys: string[];
  index: number;
  first: boolean;
}

type Frame = (ArrayFrame | ObjectFrame) & { container: Container; toJsonWrappers: object[] };

function hasToJson(value: object): value is { toJSON(): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

function serializeString(value: string): string {
  if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError('Lone surrogate is not allowed');
  return JSON.stringify(value);
}

/** A primitive's JSON text, or undefined for values JSON has no form for (undefined, functions, symbols). */
function serializePrimitive(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      if (Number.isNaN(value)) throw new CanonicalJsonError('NaN is not allowed');
      if (!Number.isFinite(value)) throw new CanonicalJsonError('Infinity is not allowed');
      return JSON.stringify(value);
    case 'string':
      return serializeString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new CanonicalJsonError('BigInt is not allowed: convert it to a string or number first');
    case 'object':
      return 'null'; // only null reaches here
    default:
      return undefined;
  }
}

export function canonicalJson(value: unknown): string {
  // Containers on the current path (and the toJSON wrappers that led to them), to detect cycles;
  // a container leaves the set when it is done, so shared (non-cyclic) references are fine.
  const onPath = new Set<object>();
  const stack: Frame[] = [];
  let out = '';

  /** Resolves toJSON and boxed primitives; pushes a frame for a container, else returns its text. */
  const enter = (input: unknown): string | undefined | null => {
    let current = input;
    const toJsonWrappers: object[] = [];
    while (current !== null && typeof current === 'object' && hasToJson(current)) {
      if (onPath.has(current)) throw new CanonicalJsonError('Circular reference detected');
      onPath.add(current);
      toJsonWrappers.push(current);
      current = current.toJSON();
    }
    if (current instanceof Number || current instanceof String || current instanceof Boolean) {
      current = current.valueOf();
    }
    if (current === null || typeof current !== 'object') {
      for (const wrapper of toJsonWrappers) onPath.delete(wrapper);
      return serializePrimitive(current);
    }
    if (onPath.has(current)) throw new CanonicalJsonError('Circular reference detected');
    onPath.add(current);
    if (Array.isArray(current)) {
      stack.push({ container: current, toJsonWrappers, array: current, keys: null, index: 0, first: true });
      out += '[';
    } else {
      const object = current as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is the order RFC 8785 requires.
      stack.push({ container: current, toJsonWrappers, object, keys: Object.keys(object).sort(), index: 0, first: true });
      out += '{';
    }
    return null; // a container was opened
  };

  const rootText = enter(value);
  if (rootText === undefined) throw new CanonicalJsonError(`${typeof value} has no JSON representation`);
  if (rootText !== null) return rootText;

  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.keys === null) {
      const { array } = frame as ArrayFrame;
      if (frame.index < array.length) {
        if (frame.index > 0) out += ',';
        const text = enter(array[frame.index++]);
        if (text !== null) out += text ?? 'null';
        continue;
      }
      out += ']';
    } else {
      const { object, keys } = frame as ObjectFrame;
      if (frame.index < keys.length) {
        const key = keys[frame.index++]!;
        const member = object[key];
        if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
        // The separator and key are written before entering the member, so remember where they
        // start: a member whose toJSON yields undefined is left out, key and all.
        const mark = out.length;
        out += `${frame.first ? '' : ','}${serializeString(key)}:`;
        const text = enter(member);
        if (text === undefined) {
          out = out.slice(0, mark);
          continue;
        }
        frame.first = false;
        if (text !== null) out += text;
        continue;
      }
      out += '}';
    }
    onPath.delete(frame.container);
    for (const wrapper of frame.toJsonWrappers) onPath.delete(wrapper);
    stack.pop();
  }
  return out;
}

/** Lowercase hex SHA-256 of bytes, or of a string's UTF-8 bytes. */
export function sha256Hex(data: Buffer | Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 hex of the canonical JSON of a value: the idempotency "same content" fingerprint. */
export function canonicalJsonSha256Hex(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
