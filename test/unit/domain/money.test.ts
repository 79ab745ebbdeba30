import fc from 'fast-check';
import { Decimal as PlainDecimal } from 'decimal.js';
import {
  Decimal,
  formatMoney,
  MONEY_PATTERN,
  parseMoney,
  parseRate,
  RATE_PER_DAY_DECIMALS_MAX,
  RATIO_DECIMALS_MAX,
  requireMoney,
  roundMoneyHalfUp,
  sumMoney,
  ZERO,
} from '../../../src/domain/money';
import { TongfuError } from '../../../src/domain/errors';

describe('parseMoney', () => {
  it.each(['0.00', '0.01', '1.00', '123.45', '200.00', '9999999999999999.99'])('accepts %s', (text) => {
    expect(parseMoney(text)?.toFixed(2)).toBe(text);
  });

  it.each([
    ['a JSON number', 12.5],
    ['an integer number', 100],
    ['a bigint', 100n],
    ['null', null],
    ['undefined', undefined],
    ['an object', { amount: '1.00' }],
    ['no decimals', '100'],
    ['one decimal', '100.0'],
    ['three decimals', '100.000'],
    ['a leading zero', '01.00'],
    ['a plus sign', '+1.00'],
    ['a minus sign', '-1.00'],
    ['negative zero', '-0.00'],
    ['an exponent', '1e2'],
    ['an exponent with decimals', '1.00e2'],
    ['a leading dot', '.50'],
    ['spaces', ' 1.00'],
    ['a trailing newline', '1.00\n'],
    ['a comma', '1,000.00'],
    ['17 integer digits', '10000000000000000.00'],
    ['full-width digits', '１.００'],
    ['Arabic-Indic digits', '١.٠٠'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['the empty string', ''],
  ])('refuses %s', (_label, value) => {
    expect(parseMoney(value)).toBeNull();
  });

  it('keeps the exact value beyond 2^53 fen', () => {
    const money = parseMoney('9999999999999999.99');
    expect(money?.plus('0.01').toFixed(2)).toBe('10000000000000000.00');
  });
});

describe('requireMoney', () => {
  it('throws AMOUNT_INVALID naming the field', () => {
    expect(() => requireMoney(1.5, '/amount')).toThrow(TongfuError);
    try {
      requireMoney('1.5', '/amount');
    } catch (error) {
      expect((error as TongfuError).code).toBe('AMOUNT_INVALID');
      expect((error as TongfuError).details).toEqual({ path: '/amount' });
    }
    expect(requireMoney('1.50', '/amount').toFixed(2)).toBe('1.50');
  });
});

describe('formatMoney', () => {
  it('writes two decimals', () => {
    expect(formatMoney(new Decimal('1'))).toBe('1.00');
    expect(formatMoney(new Decimal('1.5'))).toBe('1.50');
    expect(formatMoney(new Decimal('0'))).toBe('0.00');
    expect(formatMoney(new Decimal('-0'))).toBe('0.00');
    expect(formatMoney(new PlainDecimal('1234567890123456.78'))).toBe('1234567890123456.78');
  });

  it('crashes on fractions of a fen instead of rounding silently', () => {
    expect(() => formatMoney(new Decimal('1.005'))).toThrow(/invariant broken/);
  });

  it('crashes on amounts the wire cannot carry', () => {
    expect(() => formatMoney(new Decimal('-1.00'))).toThrow(/invariant broken/);
    expect(() => formatMoney(new Decimal('1e16'))).toThrow(/invariant broken/);
    expect(() => formatMoney(new Decimal(NaN))).toThrow(/invariant broken/);
    expect(() => formatMoney(new Decimal(Infinity))).toThrow(/invariant broken/);
  });

  it('round-trips every wire amount (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(MONEY_PATTERN), (text) => {
        const money = parseMoney(text);
        expect(money).not.toBeNull();
        expect(formatMoney(money as Decimal)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every amount in fen (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n - 1n }), (fen) => {
        const text = `${fen / 100n}.${String(fen % 100n).padStart(2, '0')}`;
        const money = parseMoney(text);
        expect(money).not.toBeNull();
        expect(formatMoney(money as Decimal)).toBe(text);
        expect(new Decimal((money as Decimal).times(100)).toFixed(0)).toBe(fen.toString());
      }),
      { numRuns: 2000 },
    );
  });
});

describe('roundMoneyHalfUp', () => {
  it.each([
    ['0.005', '0.01'],
    ['0.004', '0.00'],
    ['0.015', '0.02'],
    ['0.025', '0.03'], // half up, not half even
    ['2.675', '2.68'], // a binary double would give 2.67
    ['1.9999999999999999999999999', '2.00'],
    ['12', '12.00'],
  ])('%s → %s', (input, expected) => {
    expect(formatMoney(roundMoneyHalfUp(new Decimal(input)))).toBe(expected);
  });

  it('rounds half away from zero for negative intermediates', () => {
    expect(roundMoneyHalfUp(new Decimal('-0.005')).toFixed(2)).toBe('-0.01');
  });
});

describe('sumMoney', () => {
  it('is exact where numbers are not', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(formatMoney(sumMoney([new Decimal('0.10'), new Decimal('0.20')]))).toBe('0.30');
  });

  it('sums to zero when empty', () => {
    expect(sumMoney([]).equals(ZERO)).toBe(true);
  });

  it('keeps every fen of large sums, beyond decimal.js default precision', () => {
    const amounts = Array.from({ length: 50 }, () => new PlainDecimal('9999999999999999.99'));
    expect(sumMoney(amounts).toFixed(2)).toBe('499999999999999999.50');
  });

  it('refuses fractions of a fen', () => {
    expect(() => sumMoney([new Decimal('0.001')])).toThrow(/invariant broken/);
  });

  it('equals the integer sum in fen (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 18n - 1n }), { maxLength: 60 }), (fens) => {
        const amounts = fens.map((fen) => new Decimal(fen.toString()).dividedBy(100));
        const expected = fens.reduce((a, b) => a + b, 0n);
        expect(sumMoney(amounts).times(100).toFixed(0)).toBe(expected.toString());
      }),
    );
  });
});

describe('parseRate', () => {
  it.each([
    ['0.0005', RATE_PER_DAY_DECIMALS_MAX],
    ['0.000001', RATE_PER_DAY_DECIMALS_MAX],
    ['0.03', RATE_PER_DAY_DECIMALS_MAX],
    ['1', RATIO_DECIMALS_MAX],
    ['1.00', RATIO_DECIMALS_MAX],
    ['0.3333', RATIO_DECIMALS_MAX],
    ['0', RATIO_DECIMALS_MAX],
  ])('accepts %s with up to %i decimals', (text, decimals) => {
    expect(parseRate(text, decimals)?.toString()).toBe(new Decimal(text).toString());
  });

  it.each([
    ['0.0000001', RATE_PER_DAY_DECIMALS_MAX],
    ['0.33333', RATIO_DECIMALS_MAX],
    ['-0.5', RATIO_DECIMALS_MAX],
    ['+0.5', RATIO_DECIMALS_MAX],
    ['.5', RATIO_DECIMALS_MAX],
    ['1.', RATIO_DECIMALS_MAX],
    ['1e-3', RATIO_DECIMALS_MAX],
    ['01', RATIO_DECIMALS_MAX],
    ['10000', RATIO_DECIMALS_MAX],
    ['', RATIO_DECIMALS_MAX],
    [0.5, RATIO_DECIMALS_MAX],
    [null, RATIO_DECIMALS_MAX],
  ])('refuses %p with up to %i decimals', (value, decimals) => {
    expect(parseRate(value, decimals)).toBeNull();
  });
});
