import { duplicateKeyProblems, parseJsonBody, PROBLEMS_OF_A_KIND_MAX, textProblem } from '../../src/http/body';

/**
 * The JSON body's own checks (contracts/decisions/0050-text-and-json-input.md): the duplicate-key
 * scanner against texts JSON.parse accepts, and the text rule for strings.
 */

const paths = (text: string) => duplicateKeyProblems(text).map((problem) => problem.path);

describe('duplicateKeyProblems', () => {
  it.each([
    ['{"a":1,"a":2}', ['/a']],
    ['{"amount":"1.00","amount":"100.00"}', ['/amount']],
    ['{"a":1,"b":{"c":1,"c":2}}', ['/b/c']],
    ['{"x":[{"a":1},{"a":1,"a":2}]}', ['/x/1/a']],
    ['[[1,2],{"k":1,"k":1}]', ['/1/k']],
    ['{"n\\u0061me":1,"name":2}', ['/name']],
    ['{"a/b":1,"a/b":2}', ['/a~1b']],
    ['{"a":1,"b":2,"a":3,"a":4}', ['/a', '/a']],
    ['{"a":1,"b":{"a":1},"c":[{"a":1}]}', []],
    // Strings with quotes, backslashes, braces, commas and colons are skipped whole.
    ['{"a":"\\",\\"a\\":{","b":"\\\\","c":"}]{[,:"}', []],
    ['{"\\"":1,"\\\\":2,"\\\\\\"":3}', []],
    ['{"\\"":1,"\\"":2}', ['/"']],
    ['{}', []],
    ['[]', []],
    ['"a"', []],
    ['  {"a" : 1 , "a" : 2 }  ', ['/a']],
  ])('%s → %j', (text, expected) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(paths(text)).toEqual(expected);
  });

  it(`lists at most ${PROBLEMS_OF_A_KIND_MAX} duplicates, then says there are more`, () => {
    const text = `{${Array.from({ length: 150 }, (_, index) => `"k${index}":1,"k${index}":2`).join(',')}}`;
    const problems = duplicateKeyProblems(text);
    expect(problems).toHaveLength(PROBLEMS_OF_A_KIND_MAX + 1);
    expect(problems[0]?.path).toBe('/k0');
    expect(problems[PROBLEMS_OF_A_KIND_MAX]).toEqual({ path: '', problem: `more duplicate keys than the ${PROBLEMS_OF_A_KIND_MAX} listed` });
  });

  it('answers a megabyte of duplicates nested half a megabyte deep at once, with bounded paths', () => {
    const depth = 400_000;
    const text = `${'['.repeat(depth)}{${Array.from({ length: 40_000 }, () => '"a":1').join(',')}}${']'.repeat(depth)}`;
    const started = process.hrtime.bigint();
    const problems = duplicateKeyProblems(text);
    // About a second on an idle machine; building each path from the root again took minutes.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(15_000);
    expect(problems).toHaveLength(PROBLEMS_OF_A_KIND_MAX + 1);
    expect(problems[0]?.path).toBe(`${'/0'.repeat(depth)}/a`);
    expect(problems[1]?.path).toBe(`${'/0'.repeat(depth)}/a`);
  }, 60_000);

  it('names a duplicate in sibling objects under one path', () => {
    expect(paths('{"x":[{"a":1,"a":2},{"b":1},{"c":1,"c":2}],"y":{"z":{"d":1,"d":2}}}')).toEqual(['/x/0/a', '/x/2/c', '/y/z/d']);
  });

  it('is linear: a megabyte of members and of nested arrays is scanned at once', () => {
    const members = `{${Array.from({ length: 60_000 }, (_, index) => `"k${index}":${index}`).join(',')},"k7":0}`;
    const nested = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const started = process.hrtime.bigint();
    expect(paths(members)).toEqual(['/k7']);
    expect(paths(nested)).toEqual([]);
    // Generous: quadratic work on these would take minutes.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2000);
  });
});

describe('textProblem', () => {
  it.each([
    ['plain 中文 text', null],
    ['tab\tline\nreturn\r', null],
    ['a pair 𠮷 and an emoji 😀', null],
    ['\u007f and \u0085 are not C0', null],
    ['a\u0000b', /U\+0000/],
    ['\u0001', /U\+0001/],
    ['\b', /U\+0008/],
    ['\u000b', /U\+000B/],
    ['\f', /U\+000C/],
    ['\u001f', /U\+001F/],
    ['x\ud800', /lone surrogate \(U\+D800\)/],
    ['\udbffx', /lone surrogate \(U\+DBFF\)/],
    ['\udc00', /lone surrogate \(U\+DC00\)/],
    ['\udc00\ud800', /lone surrogate \(U\+DC00\)/],
  ])('%j → %s', (text, expected) => {
    const found = textProblem(text);
    if (expected === null) expect(found).toBeNull();
    else expect(found).toMatch(expected);
  });
});

describe('parseJsonBody', () => {
  const parse = (text: string) => parseJsonBody(Buffer.from(text, 'utf8'));

  it('lists bad text in values and member names by JSON pointer, and leaves clean text alone', () => {
    const { value, problems } = parse('{"a":"ok\\n","b":["x","\\u0000"],"c":{"d~e":"\\ud800"},"bad\\u0007name":1}');
    expect(value).toMatchObject({ a: 'ok\n' });
    expect(problems).toEqual([
      { path: '/b/1', problem: expect.stringMatching(/U\+0000/) },
      { path: '/c/d~0e', problem: expect.stringMatching(/surrogate/) },
      { path: '', problem: expect.stringMatching(/^a member name .*U\+0007/) },
    ]);
  });

  it(`lists at most ${PROBLEMS_OF_A_KIND_MAX} strings that are not text, then says there are more`, () => {
    const { problems } = parse(`[${Array.from({ length: 150 }, () => '"\\u0000"').join(',')}]`);
    expect(problems).toHaveLength(PROBLEMS_OF_A_KIND_MAX + 1);
    expect(problems[0]?.path).toBe('/0');
    expect(problems[PROBLEMS_OF_A_KIND_MAX]).toEqual({ path: '', problem: `more strings are not text than the ${PROBLEMS_OF_A_KIND_MAX} listed` });
  });

  it('walks a body nested as deep as JSON.parse allows without running out of stack', () => {
    const depth = 200_000;
    const { problems } = parse(`{"a":"x\\n","b":${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}}`);
    expect(problems).toEqual([{ path: `/b${'/0'.repeat(depth)}`, problem: expect.stringMatching(/U\+0000/) }]);
  });

  it('answers no problems for a clean body, with or without escapes', () => {
    expect(parse('{"a":"b","c":[1,2,{"d":null}]}').problems).toEqual([]);
    expect(parse('{"a":"line\\r\\nnext\\t\\"quoted\\" \\u4e2d \\ud842\\udfb7"}').problems).toEqual([]);
  });

  it('still refuses broken JSON and bad UTF-8 as MALFORMED_JSON, before anything else', () => {
    expect(() => parse('{"a":1,"a":')).toThrow(expect.objectContaining({ code: 'MALFORMED_JSON' }));
    expect(() => parseJsonBody(Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]))).toThrow(expect.objectContaining({ code: 'MALFORMED_JSON' }));
    expect(() => parse('{"a":"raw\u0001control"}')).toThrow(expect.objectContaining({ code: 'MALFORMED_JSON' }));
  });
});
