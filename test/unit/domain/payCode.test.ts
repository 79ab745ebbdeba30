import fc from 'fast-check';
import { TongfuError } from '../../../src/domain/errors';
import {
  buildPayCode,
  isValidPayCode,
  parsePayCode,
  payCodeCheckDigits,
  payCodeYear2,
} from '../../../src/domain/payCode';
import vectors from './fixtures/paycodes.json';

const DIGITS = '0123456789';

/** The same check computed independently, with BigInt, to cross-check the digit loop. */
function isValidByBigInt(code: string): boolean {
  return /^[0-9]{20}$/.test(code) && BigInt(code) % 97n === 1n;
}

describe('docs/payment-code.md worked examples', () => {
  it.each([
    ['150102261000000001', '03', '15010226100000000103'],
    ['150102262000012345', '20', '15010226200001234520'],
    ['150100263000000042', '73', '15010026300000004273'],
  ])('body %s has check %s', (body, check, code) => {
    expect(payCodeCheckDigits(body)).toBe(check);
    expect(`${body}${check}`).toBe(code);
    expect(isValidPayCode(code)).toBe(true);
  });
});

describe('shared vectors', () => {
  it.each(vectors.valid)('%s is valid', (code) => {
    expect(isValidPayCode(code)).toBe(true);
    expect(isValidByBigInt(code)).toBe(true);
    expect(payCodeCheckDigits(code.slice(0, 18))).toBe(code.slice(18));
  });

  it.each(vectors.invalid)('%s is invalid', (code) => {
    expect(isValidPayCode(code)).toBe(false);
  });
});

describe('isValidPayCode', () => {
  it.each([
    ['a number', Number('15010226100000000103')],
    ['a bigint', 15010226100000000103n],
    ['null', null],
    ['21 digits', '150102261000000001030'],
    ['full-width digits', '１５０１０２２６１００００００００１０３'],
    ['surrounding spaces', ' 15010226100000000103 '],
    ['a trailing newline', '15010226100000000103\n'],
    ['the empty string', ''],
  ])('refuses %s', (_label, value) => {
    expect(isValidPayCode(value)).toBe(false);
  });
});

/**
 * docs/payment-code.md: MOD 97-10 detects every single-digit substitution and every adjacent
 * transposition; shown exhaustively here for every valid vector.
 */
describe.each(vectors.valid)('exhaustive error detection for %s', (code) => {
  it('refuses every single-digit substitution (20 positions × 9 digits)', () => {
    let checked = 0;
    for (let position = 0; position < code.length; position += 1) {
      for (const digit of DIGITS) {
        if (digit === code[position]) {
          continue;
        }
        const mistyped = `${code.slice(0, position)}${digit}${code.slice(position + 1)}`;
        expect(isValidPayCode(mistyped)).toBe(false);
        expect(isValidByBigInt(mistyped)).toBe(false);
        checked += 1;
      }
    }
    expect(checked).toBe(20 * 9);
  });

  it('refuses every adjacent transposition of two different digits', () => {
    let checked = 0;
    for (let position = 0; position + 1 < code.length; position += 1) {
      const a = code[position] as string;
      const b = code[position + 1] as string;
      if (a === b) {
        continue; // swapping equal digits gives the same code
      }
      const swapped = `${code.slice(0, position)}${b}${a}${code.slice(position + 2)}`;
      expect(isValidPayCode(swapped)).toBe(false);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe('properties', () => {
  const body18 = fc.stringMatching(/^[0-9]{18}$/);

  it('check digits always make a valid code, in 02–98', () => {
    fc.assert(
      fc.property(body18, (body) => {
        const check = payCodeCheckDigits(body);
        expect(check).toMatch(/^[0-9]{2}$/);
        expect(Number(check)).toBeGreaterThanOrEqual(2);
        expect(Number(check)).toBeLessThanOrEqual(98);
        expect(isValidPayCode(`${body}${check}`)).toBe(true);
        expect(isValidByBigInt(`${body}${check}`)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  /**
   * Within 02–98 exactly one pair is valid. The spec's rule ("valid iff mod 97 equals 1") also
   * accepts the pair 97 higher or lower (02↔99, 97↔00, 98↔01), as IBAN validation does; the
   * platform never issues 00, 01 or 99, and the rule is kept as written so that every party
   * validating by it agrees with us.
   */
  it('exactly one check pair in 02–98 is valid for any body, plus only its ±97 alias', () => {
    fc.assert(
      fc.property(body18, (body) => {
        const check = payCodeCheckDigits(body);
        const valid = Array.from({ length: 100 }, (_, n) => n).filter((n) =>
          isValidPayCode(`${body}${String(n).padStart(2, '0')}`),
        );
        expect(valid.filter((n) => n >= 2 && n <= 98)).toEqual([Number(check)]);
        for (const n of valid) {
          expect(Math.abs(n - Number(check)) % 97).toBe(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('accepts the ±97 alias of the check digits, as the spec rule says', () => {
    expect(payCodeCheckDigits('806040988292466105')).toBe('02');
    expect(isValidPayCode('80604098829246610599')).toBe(true);
  });

  it('the digit loop agrees with BigInt on any 20 digits', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{20}$/), (code) => {
        expect(isValidPayCode(code)).toBe(isValidByBigInt(code));
      }),
      { numRuns: 5000 },
    );
  });

  it('any single substitution or adjacent swap of any valid code is refused', () => {
    fc.assert(
      fc.property(body18, fc.nat(19), fc.integer({ min: 1, max: 9 }), (body, position, delta) => {
        const code = `${body}${payCodeCheckDigits(body)}`;
        const original = Number(code[position]);
        const mistyped = `${code.slice(0, position)}${(original + delta) % 10}${code.slice(position + 1)}`;
        expect(isValidPayCode(mistyped)).toBe(false);
        if (position < 19 && code[position] !== code[position + 1]) {
          const swapped = `${code.slice(0, position)}${code[position + 1]}${code[position]}${code.slice(position + 2)}`;
          expect(isValidPayCode(swapped)).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('buildPayCode and parsePayCode', () => {
  it('builds the worked examples', () => {
    expect(buildPayCode({ regionCode: '150102', year2: '26', noticeType: 1, serial: 1 })).toBe('15010226100000000103');
    expect(buildPayCode({ regionCode: '150102', year2: 26, noticeType: '2', serial: 12345n })).toBe(
      '15010226200001234520',
    );
    expect(buildPayCode({ regionCode: '150100', year2: '26', noticeType: 3, serial: '42' })).toBe(
      '15010026300000004273',
    );
    expect(buildPayCode({ regionCode: '150000', year2: '26', noticeType: 1, serial: 999_999_999 })).toBe(
      '15000026199999999975',
    );
  });

  it('pads the year and serial', () => {
    const code = buildPayCode({ regionCode: '150102', year2: 5, noticeType: 9, serial: 0 });
    expect(code.slice(0, 18)).toBe('150102059000000000');
    expect(isValidPayCode(code)).toBe(true);
  });

  it('never wraps a serial past 9 digits', () => {
    expect(() => buildPayCode({ regionCode: '150102', year2: '26', noticeType: 1, serial: 1_000_000_000 })).toThrow(
      /invariant broken/,
    );
    expect(() => buildPayCode({ regionCode: '150102', year2: '26', noticeType: 1, serial: 10n ** 9n })).toThrow(
      /invariant broken/,
    );
    expect(() => buildPayCode({ regionCode: '150102', year2: '26', noticeType: 1, serial: -1 })).toThrow(
      /invariant broken/,
    );
    expect(() => buildPayCode({ regionCode: '150102', year2: '26', noticeType: 1, serial: 1.5 })).toThrow(
      /invariant broken/,
    );
  });

  it('asserts every part is digits of the right width', () => {
    expect(() => buildPayCode({ regionCode: '15010', year2: '26', noticeType: 1, serial: 1 })).toThrow(
      /invariant broken/,
    );
    expect(() => buildPayCode({ regionCode: '150102', year2: '2026', noticeType: 1, serial: 1 })).toThrow(
      /invariant broken/,
    );
    expect(() => buildPayCode({ regionCode: '150102', year2: '26', noticeType: 10, serial: 1 })).toThrow(
      /invariant broken/,
    );
  });

  it('parses a code into its parts', () => {
    expect(parsePayCode('15010226200001234520')).toEqual({
      regionCode: '150102',
      year2: '26',
      kind: '2',
      serial: 12345,
      checkDigits: '20',
    });
  });

  it('refuses an invalid code with PAY_CODE_INVALID', () => {
    for (const code of vectors.invalid) {
      expect(() => parsePayCode(code)).toThrow(TongfuError);
      try {
        parsePayCode(code);
      } catch (error) {
        expect((error as TongfuError).code).toBe('PAY_CODE_INVALID');
      }
    }
  });

  it('round-trips any parts (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9]{6}$/),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 0, max: 999_999_999 }),
        (regionCode, year, kind, serial) => {
          const code = buildPayCode({ regionCode, year2: year, noticeType: kind, serial });
          expect(parsePayCode(code)).toEqual({
            regionCode,
            year2: String(year).padStart(2, '0'),
            kind: String(kind),
            serial,
            checkDigits: code.slice(18),
          });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('takes the year from the Shanghai calendar', () => {
    // 2026-12-31T16:30Z is already 2027-01-01 00:30 in Shanghai.
    expect(payCodeYear2(new Date('2026-12-31T16:30:00Z'))).toBe('27');
    expect(payCodeYear2(new Date('2026-12-31T15:59:59Z'))).toBe('26');
  });
});
