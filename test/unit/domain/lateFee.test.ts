import fc from 'fast-check';
import {
  amountDueForNotice,
  daysBetween,
  daysLate,
  lateFeeForItem,
  lateFeeForNotice,
  type LateFeeRule,
} from '../../../src/domain/lateFee';
import { addDays, shanghaiDate } from '../../../src/domain/businessDate';
import { Decimal, formatMoney } from '../../../src/domain/money';

const fine: LateFeeRule = { type: 'DAILY_RATE', ratePerDay: new Decimal('0.03'), capRatio: new Decimal('1.00') };
const amount = new Decimal('200.00');

describe('docs/lifecycle.md §2 worked example', () => {
  it('200.00 at 0.03 a day, due 2026-11-20, paid 2026-11-23: 3 days → 18.00, due 218.00', () => {
    const fee = lateFeeForItem({ amount, rule: fine, dueDate: '2026-11-20', referenceDate: '2026-11-23' });
    expect(formatMoney(fee)).toBe('18.00');
    const due = amountDueForNotice([{ amount, rule: fine }], '2026-11-20', '2026-11-23');
    expect(formatMoney(due.amountDue)).toBe('218.00');
    expect(formatMoney(due.totalAmount)).toBe('200.00');
    expect(formatMoney(due.lateFee)).toBe('18.00');
  });

  it('paid 40 days late: capped at 200.00, due 400.00', () => {
    const paid = addDays('2026-11-20', 40);
    expect(paid).toBe('2026-12-30');
    const fee = lateFeeForItem({ amount, rule: fine, dueDate: '2026-11-20', referenceDate: paid });
    expect(formatMoney(fee)).toBe('200.00');
    expect(formatMoney(amountDueForNotice([{ amount, rule: fine }], '2026-11-20', paid).amountDue)).toBe('400.00');
  });

  it('a payer paying at 23:30 on the due date is not late', () => {
    const paidAt = new Date('2026-11-20T23:30:00+08:00');
    const fee = lateFeeForItem({ amount, rule: fine, dueDate: '2026-11-20', referenceDate: shanghaiDate(paidAt) });
    expect(formatMoney(fee)).toBe('0.00');
    const nextMorning = new Date('2026-11-21T00:00:00+08:00');
    expect(
      formatMoney(lateFeeForItem({ amount, rule: fine, dueDate: '2026-11-20', referenceDate: shanghaiDate(nextMorning) })),
    ).toBe('6.00');
  });
});

describe('lateFeeForItem', () => {
  it('charges nothing on or before the due date', () => {
    for (const referenceDate of ['2026-11-01', '2026-11-19', '2026-11-20']) {
      expect(formatMoney(lateFeeForItem({ amount, rule: fine, dueDate: '2026-11-20', referenceDate }))).toBe('0.00');
    }
  });

  it('charges nothing for NONE', () => {
    expect(
      formatMoney(lateFeeForItem({ amount, rule: { type: 'NONE' }, dueDate: '2026-01-01', referenceDate: '2026-12-31' })),
    ).toBe('0.00');
  });

  it('rounds each item half up to fen', () => {
    // 33.33 × 0.0005 × 3 = 0.049995 → 0.05
    const rule: LateFeeRule = { type: 'DAILY_RATE', ratePerDay: new Decimal('0.0005'), capRatio: new Decimal('1') };
    expect(
      formatMoney(lateFeeForItem({ amount: new Decimal('33.33'), rule, dueDate: '2026-01-01', referenceDate: '2026-01-04' })),
    ).toBe('0.05');
    // 10.00 × 0.0005 × 1 = 0.005 → 0.01 (half up, not half even)
    expect(
      formatMoney(lateFeeForItem({ amount: new Decimal('10.00'), rule, dueDate: '2026-01-01', referenceDate: '2026-01-02' })),
    ).toBe('0.01');
  });

  it('rounds the cap half up too', () => {
    // cap 0.3333 × 0.15 = 0.049995 → 0.05; accrued 0.15 × 0.5 × 10 = 0.75
    const rule: LateFeeRule = { type: 'DAILY_RATE', ratePerDay: new Decimal('0.5'), capRatio: new Decimal('0.3333') };
    expect(
      formatMoney(lateFeeForItem({ amount: new Decimal('0.15'), rule, dueDate: '2026-01-01', referenceDate: '2026-01-11' })),
    ).toBe('0.05');
  });

  it('is exact for the largest amounts over years (no default-precision rounding)', () => {
    const rule: LateFeeRule = { type: 'DAILY_RATE', ratePerDay: new Decimal('0.000123'), capRatio: new Decimal('100') };
    const fee = lateFeeForItem({
      amount: new Decimal('9999999999999999.99'),
      rule,
      dueDate: '2000-01-01',
      referenceDate: '2026-01-01',
    });
    const days = daysBetween('2000-01-01', '2026-01-01');
    // Exact in integers: fen × 123 × days / 10^6, rounded half up.
    const exactMicroFen = 999999999999999999n * 123n * BigInt(days);
    const fen = (exactMicroFen + 500_000n) / 1_000_000n;
    expect(fee.times(100).toFixed(0)).toBe(fen.toString());
  });

  it('never exceeds the cap and never decreases with more days (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 400 }),
        (fen, ratePerMillion, capPerTenThousand, lateDays, moreDays) => {
          const itemAmount = new Decimal(fen.toString()).dividedBy(100);
          const rule: LateFeeRule = {
            type: 'DAILY_RATE',
            ratePerDay: new Decimal(ratePerMillion).dividedBy(1_000_000),
            capRatio: new Decimal(capPerTenThousand).dividedBy(10_000),
          };
          const dueDate = '2026-03-01';
          const fee = lateFeeForItem({ amount: itemAmount, rule, dueDate, referenceDate: addDays(dueDate, lateDays) });
          const later = lateFeeForItem({
            amount: itemAmount,
            rule,
            dueDate,
            referenceDate: addDays(dueDate, lateDays + moreDays),
          });
          const cap = itemAmount.times(rule.capRatio).toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
          expect(fee.decimalPlaces()).toBeLessThanOrEqual(2);
          expect(fee.lte(cap)).toBe(true);
          expect(later.gte(fee)).toBe(true);
        },
      ),
    );
  });
});

describe('lateFeeForNotice', () => {
  it('rounds per item and sums exactly', () => {
    const rule: LateFeeRule = { type: 'DAILY_RATE', ratePerDay: new Decimal('0.0005'), capRatio: new Decimal('1') };
    const items = [
      { amount: new Decimal('10.00'), rule }, // 0.005 → 0.01
      { amount: new Decimal('10.00'), rule }, // 0.005 → 0.01
      { amount: new Decimal('50.00'), rule: { type: 'NONE' } as const },
    ];
    const { perItem, total } = lateFeeForNotice(items, '2026-01-01', '2026-01-02');
    expect(perItem.map((fee) => formatMoney(fee))).toEqual(['0.01', '0.01', '0.00']);
    // Rounding the whole (20.00 × 0.0005 = 0.01) would agree here only by luck; per item is the rule.
    expect(formatMoney(total)).toBe('0.02');
  });

  it('is zero for no items', () => {
    const { perItem, total } = lateFeeForNotice([], '2026-01-01', '2026-02-01');
    expect(perItem).toEqual([]);
    expect(formatMoney(total)).toBe('0.00');
  });
});

describe('daysBetween and daysLate', () => {
  it.each([
    ['2026-11-20', '2026-11-23', 3],
    ['2026-11-23', '2026-11-20', -3],
    ['2026-02-28', '2026-03-01', 1],
    ['2028-02-28', '2028-03-01', 2],
    ['2026-12-31', '2027-01-01', 1],
    ['2000-01-01', '2100-01-01', 36525],
    ['1970-01-01', '1970-01-01', 0],
  ])('%s → %s is %i days', (from, to, days) => {
    expect(daysBetween(from, to)).toBe(days);
  });

  it('never counts negative lateness', () => {
    expect(daysLate('2026-11-20', '2026-11-10')).toBe(0);
    expect(daysLate('2026-11-20', '2026-11-21')).toBe(1);
  });

  it('asserts real dates', () => {
    expect(() => daysBetween('2026-02-30', '2026-03-01')).toThrow(/invariant broken/);
    expect(() => daysBetween('2026-1-1', '2026-03-01')).toThrow(/invariant broken/);
  });
});
