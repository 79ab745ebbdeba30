import { execFileSync } from 'node:child_process';

import { CanonicalJsonError, canonicalJson, canonicalJsonSha256Hex, sha256Hex } from '../../../src/crypto/canonicalJson';

// JSON texts whose parsed values exercise the JCS rules: key order by UTF-16 code units, number
// formatting, string escaping, nesting.
const CORPUS: string[] = [
  '{"b":2,"a":1,"c":{"z":[3,2,1],"y":null,"x":true}}',
  // RFC 8785 §3.2.3 sorting example.
  '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
  // RFC 8785 §3.2.2 number examples and friends.
  '[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001,-0,0,1e21,1e-7,123456789012345680000,5e-324,1.7976931348623157e308,0.1,100]',
  '{"string":"\\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false]}',
  '{"payer":{"name":"张三","idNumber":"11010519491231002X"},"items":[{"itemCode":"A1","amount":"10.00","quantity":1}],"amount":"10.00"}',
  '{"":"empty key","a":{},"b":[],"c":[{}],"d":"\\u0000\\u001f\\u007f\\u2028\\u2029"}',
  '"just a string"',
  '42',
  'null',
];

/** The same inputs through the `canonicalize` package, run by plain Node (which can require it). */
function canonicalizeInChildProcess(texts: string[]): string[] {
  const script = `
    const canonicalize = require('canonicalize');
    const fn = typeof canonicalize === 'function' ? canonicalize : canonicalize.default;
    const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    process.stdout.write(JSON.stringify(texts.map((t) => fn(JSON.parse(t)))));
  `;
  const output = execFileSync(process.execPath, ['-e', script], { input: JSON.stringify(texts), cwd: __dirname });
  return JSON.parse(output.toString('utf8')) as string[];
}

describe('canonicalJson', () => {
  it('gives byte-identical output to the canonicalize package (RFC 8785 reference)', () => {
    const expected = canonicalizeInChildProcess(CORPUS);
    CORPUS.forEach((text, i) => expect(canonicalJson(JSON.parse(text))).toBe(expected[i]));
  });

  it('follows RFC 8785', () => {
    expect(canonicalJson({ b: 1, a: [1, 'x', { d: null, c: false }] })).toBe('{"a":[1,"x",{"c":false,"d":null}],"b":1}');
    expect(canonicalJson(JSON.parse(CORPUS[2]!))).toBe(
      '[333333333.3333333,1e+30,4.5,0.002,1e-27,0,0,1e+21,1e-7,123456789012345680000,5e-324,1.7976931348623157e+308,0.1,100]',
    );
    expect(canonicalJson(JSON.parse(CORPUS[1]!))).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('treats values like JSON.stringify: toJSON, dropped members, null array holes', () => {
    const when = new Date('2025-01-02T03:04:05.000Z');
    expect(canonicalJson({ when, skip: undefined, fn: () => 1, list: [undefined, () => 1] })).toBe(
      '{"list":[null,null],"when":"2025-01-02T03:04:05.000Z"}',
    );
    expect(canonicalJson({ a: { toJSON: () => undefined }, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson({ b: { toJSON: () => undefined }, a: 1 })).toBe('{"a":1}');
    expect(canonicalJson([{ toJSON: () => ({ y: 1, x: 2 }) }])).toBe('[{"x":2,"y":1}]');
    expect(canonicalJson(Object.assign(Object.create(null) as object, { b: 1, a: 2 }))).toBe('{"a":2,"b":1}');
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  it('refuses what RFC 8785 cannot represent', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [NaN, Infinity, { a: -Infinity }, '\ud800', { '\udc00': 1 }, 1n, cyclic, undefined, () => 1]) {
      expect(() => canonicalJson(bad)).toThrow(CanonicalJsonError);
    }
  });

  it('handles deep nesting without recursion', () => {
    const depth = 100_000;
    const text = '['.repeat(depth) + ']'.repeat(depth);
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });

  it('hashes', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(canonicalJsonSha256Hex({ b: 1, a: 2 })).toBe(sha256Hex('{"a":2,"b":1}'));
  });
});
