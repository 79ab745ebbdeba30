import {
  CALLER_ID_PATTERN,
  CUTOFF_TIME_PATTERN,
  isCallerId,
  isCutoffTime,
  isNonce,
  isQuantity,
  isRegionCode,
  NONCE_PATTERN,
  REGION_CODE_PATTERN,
} from '../../../src/domain/identifiers';

describe('caller identifiers', () => {
  it.each(['a', 'BIZ-2026_0001', 'x'.repeat(64)])('accepts %s', (id) => {
    expect(CALLER_ID_PATTERN.test(id)).toBe(true);
    expect(isCallerId(id)).toBe(true);
  });

  it.each(['', 'x'.repeat(65), 'a b', 'a|b', 'a/b', 'a.b', '编号1', 'a\n'])('refuses %j', (id) => {
    expect(isCallerId(id)).toBe(false);
  });

  it('refuses non-strings', () => {
    expect(isCallerId(12)).toBe(false);
    expect(isCallerId(null)).toBe(false);
  });
});

describe('region codes', () => {
  it('are 6 ASCII digits', () => {
    expect(REGION_CODE_PATTERN.test('150102')).toBe(true);
    expect(isRegionCode('150102')).toBe(true);
    for (const bad of ['15010', '1501020', '15010a', '１５０１０２', 150102]) {
      expect(isRegionCode(bad)).toBe(false);
    }
  });
});

describe('nonces', () => {
  it('are 16–64 characters of [A-Za-z0-9_-]', () => {
    expect(NONCE_PATTERN.test('Zq3kP0c8vXw1yL2m')).toBe(true);
    expect(isNonce('a'.repeat(64))).toBe(true);
    expect(isNonce('a'.repeat(15))).toBe(false);
    expect(isNonce('a'.repeat(65))).toBe(false);
    expect(isNonce('Zq3kP0c8vXw1yL2m=')).toBe(false);
  });
});

describe('cut-off times', () => {
  it.each(['00:00', '09:30', '17:00', '23:00', '23:59', '24:00'])('accepts %s', (time) => {
    expect(CUTOFF_TIME_PATTERN.test(time)).toBe(true);
    expect(isCutoffTime(time)).toBe(true);
  });

  it.each(['24:01', '24:30', '25:00', '23:60', '9:00', '0900', '09:00:00', '', ' 09:00'])('refuses %j', (time) => {
    expect(isCutoffTime(time)).toBe(false);
  });
});

describe('quantities', () => {
  it('are integers 1–9999', () => {
    expect(isQuantity(1)).toBe(true);
    expect(isQuantity(9999)).toBe(true);
    for (const bad of [0, 10000, 1.5, -1, '1', NaN, Infinity, null]) {
      expect(isQuantity(bad)).toBe(false);
    }
  });
});
