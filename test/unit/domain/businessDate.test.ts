import fc from 'fast-check';
import {
  addDays,
  businessDateFor,
  daysBetween,
  epochDayOf,
  formatInstant,
  isValidDate,
  parseInstant,
  parseInstantByPattern,
  shanghaiDate,
  shanghaiTime,
  startOfShanghaiDate,
  wholeSecondInstantMsOfBytes,
} from '../../../src/domain/businessDate';

describe('shanghaiDate and shanghaiTime', () => {
  it.each([
    ['2026-11-26T15:59:59.999Z', '2026-11-26', '23:59'],
    ['2026-11-26T16:00:00.000Z', '2026-11-27', '00:00'],
    ['2026-11-27T00:00:00Z', '2026-11-27', '08:00'],
    ['2026-12-31T16:00:00Z', '2027-01-01', '00:00'],
    ['2028-02-28T16:00:00Z', '2028-02-29', '00:00'],
    ['1969-12-31T16:00:00Z', '1970-01-01', '00:00'],
    ['1969-12-31T15:59:59Z', '1969-12-31', '23:59'],
  ])('%s is %s %s in Shanghai', (iso, date, time) => {
    const instant = new Date(iso);
    expect(shanghaiDate(instant)).toBe(date);
    expect(shanghaiTime(instant)).toBe(time);
  });

  it('does not depend on the host time zone', () => {
    // The implementation never calls local-time Date methods; this pins a sample against Intl.
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1992-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }),
        (instant) => {
          const parts = new Intl.DateTimeFormat('en-CA', {
            timeZone: 'Asia/Shanghai',
            year: 'numeric',
            month: '2-digit',
            day: '2-digit',
            hour: '2-digit',
            minute: '2-digit',
            hourCycle: 'h23',
          }).formatToParts(instant);
          const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
          expect(shanghaiDate(instant)).toBe(`${part('year')}-${part('month')}-${part('day')}`);
          expect(shanghaiTime(instant)).toBe(`${part('hour')}:${part('minute')}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('asserts a valid Date', () => {
    expect(() => shanghaiDate(new Date('nonsense'))).toThrow(/invariant broken/);
  });
});

describe('formatInstant', () => {
  it('writes +08:00 and whole seconds', () => {
    expect(formatInstant(new Date('2026-11-27T00:00:00Z'))).toBe('2026-11-27T08:00:00+08:00');
    expect(formatInstant(new Date('2026-11-26T16:00:00.999Z'))).toBe('2026-11-27T00:00:00+08:00');
    expect(formatInstant(new Date('2026-11-27T15:59:59.500Z'))).toBe('2026-11-27T23:59:59+08:00');
  });

  it('round-trips through parseInstant to the second (property)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('0001-01-02T00:00:00Z'), max: new Date('9999-12-30T00:00:00Z'), noInvalidDate: true }),
        (instant) => {
          const text = formatInstant(instant);
          expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
          const parsed = parseInstant(text);
          expect(parsed?.getTime()).toBe(Math.floor(instant.getTime() / 1000) * 1000);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('parseInstant', () => {
  it('reads the common shapes without the pattern exactly as the pattern reads them, valid or not (property)', () => {
    // Strings shaped like YYYY-MM-DDTHH:MM:SS±HH:MM or …Z whose characters are mostly digits, with
    // impossible fields (month 13, 24:00, 02-30, offset 24:00), other separators and non-digits mixed in.
    const digitish = fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '9', 'x', '-', ' ', '٣');
    const field = (length: number) => fc.array(digitish, { minLength: length, maxLength: length }).map((chars) => chars.join(''));
    const realistic = fc.record({
      year: fc.oneof(fc.integer({ min: 0, max: 9999 }).map((y) => String(y).padStart(4, '0')), field(4)),
      month: fc.oneof(fc.integer({ min: 0, max: 13 }).map((m) => String(m).padStart(2, '0')), field(2)),
      day: fc.oneof(fc.integer({ min: 0, max: 32 }).map((d) => String(d).padStart(2, '0')), field(2)),
      hour: fc.integer({ min: 0, max: 24 }).map((h) => String(h).padStart(2, '0')),
      minute: fc.integer({ min: 0, max: 60 }).map((m) => String(m).padStart(2, '0')),
      second: fc.oneof(fc.integer({ min: 0, max: 60 }).map((x) => String(x).padStart(2, '0')), field(2)),
      separator: fc.constantFrom('T', 't', ' ', 'T', 'T'),
      zone: fc.oneof(
        fc.constantFrom('Z', 'z', 'Z'),
        fc.tuple(fc.constantFrom('+', '-', '+', '~'), fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 60 }), fc.constantFrom(':', ':', '.')).map(
          ([sign, h, m, colon]) => `${sign}${String(h).padStart(2, '0')}${colon}${String(m).padStart(2, '0')}`,
        ),
      ),
    });
    fc.assert(
      fc.property(realistic, (f) => {
        const text = `${f.year}-${f.month}-${f.day}${f.separator}${f.hour}:${f.minute}:${f.second}${f.zone}`;
        expect(parseInstant(text)?.getTime() ?? null).toBe(parseInstantByPattern(text)?.getTime() ?? null);
        // The same text as bytes, inside a longer buffer (a statement line): the same instant when
        // it has the common shape, written in ASCII with an upper-case T and Z; undefined else.
        const bytes = Buffer.from(`D|${text}|MOBILE`);
        const fromBytes = wholeSecondInstantMsOfBytes(bytes, 2, bytes.length - 7);
        const common = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})$/.test(text);
        expect(fromBytes ?? null).toBe(common ? (parseInstant(text)?.getTime() ?? null) : null);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['2026-11-27T08:00:00+08:00', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27T00:00:00Z', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27T00:00:00z', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27t00:00:00Z', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27T00:00:00.5Z', '2026-11-27T00:00:00.500Z'],
    ['2026-11-27T00:00:00.123456789Z', '2026-11-27T00:00:00.123Z'],
    ['2026-11-26T19:30:00-04:30', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27T00:00:00-00:00', '2026-11-27T00:00:00.000Z'],
    ['2028-02-29T23:59:59+08:00', '2028-02-29T15:59:59.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseInstant(text)?.toISOString()).toBe(iso);
  });

  it.each([
    ['no offset', '2026-11-27T08:00:00'],
    ['a date only', '2026-11-27'],
    ['a space separator', '2026-11-27 08:00:00+08:00'],
    ['no seconds', '2026-11-27T08:00+08:00'],
    ['a compact offset', '2026-11-27T08:00:00+0800'],
    ['an hour-only offset', '2026-11-27T08:00:00+08'],
    ['an impossible day', '2026-02-29T08:00:00+08:00'],
    ['month 13', '2026-13-01T08:00:00+08:00'],
    ['hour 24', '2026-11-27T24:00:00+08:00'],
    ['minute 60', '2026-11-27T08:60:00+08:00'],
    ['a leap second', '2016-12-31T23:59:60Z'],
    ['offset minutes 60', '2026-11-27T08:00:00+08:60'],
    ['offset hours 24', '2026-11-27T08:00:00+24:00'],
    ['an empty fraction', '2026-11-27T08:00:00.+08:00'],
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['a 6-digit year', '+002026-11-27T08:00:00Z'],
    ['a trailing space', '2026-11-27T08:00:00Z '],
    ['a number', 1764201600000],
    ['a Date', new Date('2026-11-27T00:00:00Z')],
    ['null', null],
  ])('refuses %s', (_label, value) => {
    expect(parseInstant(value)).toBeNull();
  });
});

describe('isValidDate', () => {
  it.each(['2026-11-27', '2028-02-29', '2000-02-29', '0001-01-01', '9999-12-31', '1970-01-01'])('%s is a date', (d) => {
    expect(isValidDate(d)).toBe(true);
  });

  it.each([
    '2026-02-29',
    '1900-02-29',
    '2026-04-31',
    '2026-00-10',
    '2026-13-01',
    '2026-01-00',
    '2026-01-32',
    '0000-01-01',
    '2026-1-01',
    '26-01-01',
    '2026/01/01',
    '2026-01-01T00:00:00Z',
    ' 2026-01-01',
    '２０２６-01-01',
    '',
    20260101,
    null,
  ])('%p is not a date', (d) => {
    expect(isValidDate(d)).toBe(false);
  });

  it('agrees with Date.UTC on every day of 2000–2030', () => {
    let day = epochDayOf('2000-01-01');
    for (let ms = Date.UTC(2000, 0, 1); ms <= Date.UTC(2030, 11, 31); ms += 86_400_000) {
      const iso = new Date(ms).toISOString().slice(0, 10);
      expect(isValidDate(iso)).toBe(true);
      expect(epochDayOf(iso)).toBe(day);
      expect(ms / 86_400_000).toBe(day);
      day += 1;
    }
  });
});

describe('addDays', () => {
  it.each([
    ['2026-11-20', 3, '2026-11-23'],
    ['2026-11-20', 40, '2026-12-30'],
    ['2026-12-31', 1, '2027-01-01'],
    ['2028-02-28', 1, '2028-02-29'],
    ['2027-02-28', 1, '2027-03-01'],
    ['2026-03-01', -1, '2026-02-28'],
    ['2026-01-01', 0, '2026-01-01'],
    ['2000-01-01', 36525, '2100-01-01'],
  ])('%s + %i = %s', (date, days, expected) => {
    expect(addDays(date, days)).toBe(expected);
  });

  it('is the inverse of daysBetween (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -200_000, max: 200_000 }), (days) => {
        const later = addDays('2026-06-15', days);
        expect(isValidDate(later)).toBe(true);
        expect(daysBetween('2026-06-15', later)).toBe(days);
      }),
    );
  });

  it('asserts an integer count and a result within years 0001–9999', () => {
    expect(() => addDays('2026-01-01', 1.5)).toThrow(/invariant broken/);
    expect(() => addDays('9999-12-31', 1)).toThrow(/invariant broken/);
  });
});

describe('startOfShanghaiDate', () => {
  it('is midnight +08:00', () => {
    expect(startOfShanghaiDate('2026-11-27').toISOString()).toBe('2026-11-26T16:00:00.000Z');
    expect(shanghaiDate(startOfShanghaiDate('2026-11-27'))).toBe('2026-11-27');
    expect(shanghaiDate(new Date(startOfShanghaiDate('2026-11-27').getTime() - 1))).toBe('2026-11-26');
  });
});

describe('businessDateFor (docs/lifecycle.md §3.8)', () => {
  const at = (local: string): Date => new Date(`${local}+08:00`);

  it('24:00 never moves a payment', () => {
    expect(businessDateFor(at('2026-11-27T00:00:00'), '24:00')).toBe('2026-11-27');
    expect(businessDateFor(at('2026-11-27T23:59:59.999'), '24:00')).toBe('2026-11-27');
  });

  it('is the Shanghai date, not the UTC date, around midnight', () => {
    // 2026-11-26T16:30Z is 00:30 on the 27th in Shanghai.
    expect(businessDateFor(new Date('2026-11-26T16:30:00Z'), '24:00')).toBe('2026-11-27');
    expect(businessDateFor(new Date('2026-11-26T15:59:59Z'), '24:00')).toBe('2026-11-26');
  });

  it('a 23:00 cut-off moves payments at or after 23:00 to the next day', () => {
    expect(businessDateFor(at('2026-11-27T22:59:59.999'), '23:00')).toBe('2026-11-27');
    expect(businessDateFor(at('2026-11-27T23:00:00'), '23:00')).toBe('2026-11-28');
    expect(businessDateFor(at('2026-11-27T23:59:59'), '23:00')).toBe('2026-11-28');
    expect(businessDateFor(at('2026-11-28T00:00:00'), '23:00')).toBe('2026-11-28');
    expect(businessDateFor(at('2026-11-28T00:30:00'), '23:00')).toBe('2026-11-28');
  });

  it('moves across month and year ends', () => {
    expect(businessDateFor(at('2026-12-31T23:30:00'), '23:00')).toBe('2027-01-01');
    expect(businessDateFor(at('2028-02-28T23:30:00'), '23:00')).toBe('2028-02-29');
  });

  it('other cut-offs', () => {
    expect(businessDateFor(at('2026-11-27T16:59:00'), '17:00')).toBe('2026-11-27');
    expect(businessDateFor(at('2026-11-27T17:00:00'), '17:00')).toBe('2026-11-28');
    expect(businessDateFor(at('2026-11-27T23:59:00'), '23:59')).toBe('2026-11-28');
    expect(businessDateFor(at('2026-11-27T23:58:59'), '23:59')).toBe('2026-11-27');
    // 00:00: every time of day is at or after it.
    expect(businessDateFor(at('2026-11-27T00:00:00'), '00:00')).toBe('2026-11-28');
  });

  it('asserts a well-formed cut-off', () => {
    for (const cutoff of ['24:01', '25:00', '23:60', '9:00', '', '2300']) {
      expect(() => businessDateFor(at('2026-11-27T12:00:00'), cutoff)).toThrow(/invariant broken/);
    }
  });

  it('is the payment date or the day after, never anything else (property)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 24 * 60 }),
        (paidAt, cutoffMinutes) => {
          const cutoff = `${String(Math.floor(cutoffMinutes / 60)).padStart(2, '0')}:${String(cutoffMinutes % 60).padStart(2, '0')}`;
          const date = shanghaiDate(paidAt);
          const moved = shanghaiTime(paidAt) >= cutoff && cutoff !== '24:00';
          expect(businessDateFor(paidAt, cutoff)).toBe(moved ? addDays(date, 1) : date);
        },
      ),
    );
  });
});
