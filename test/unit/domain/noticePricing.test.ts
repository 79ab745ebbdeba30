import { TongfuError } from '../../../src/domain/errors';
import { Decimal, formatMoney } from '../../../src/domain/money';
import {
  applyRuleReason,
  type ApplyRuleInput,
  isPayable,
  ITEMS_PER_NOTICE_MAX,
  type LineToPrice,
  priceNoticeItems,
  refusalCodeFor,
  UNAPPLIED_REASONS,
} from '../../../src/domain/noticePricing';
import { NOTICE_STATUSES, type NoticeStatus } from '../../../src/domain/stateMachines';

const d = (text: string): Decimal => new Decimal(text);

const fixed = (code: string, price: string, quantity: number, amount: string, status: 'ACTIVE' | 'INACTIVE' = 'ACTIVE'): LineToPrice => ({
  itemCode: code,
  item: { pricing: { type: 'FIXED', amount: d(price) }, status, lateFee: { type: 'NONE' } },
  quantity,
  amount: d(amount),
});

const range = (code: string, min: string, max: string, quantity: number, amount: string, status: 'ACTIVE' | 'INACTIVE' = 'ACTIVE', capRatio?: string): LineToPrice => ({
  itemCode: code,
  item: { pricing: { type: 'RANGE', min: d(min), max: d(max) }, status, lateFee: capRatio === undefined ? { type: 'NONE' } : { type: 'DAILY_RATE', ratePerDay: d('0.0005'), capRatio: d(capRatio) } },
  quantity,
  amount: d(amount),
});

function errorOf(action: () => unknown): TongfuError {
  try {
    action();
  } catch (error) {
    if (error instanceof TongfuError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a TongfuError');
}

describe('priceNoticeItems (docs/interface.md §6.2)', () => {
  it('sums exactly', () => {
    const total = priceNoticeItems([
      fixed('FEE1', '0.10', 1, '0.10'),
      fixed('FEE2', '0.20', 1, '0.20'),
      range('FINE', '50.00', '200.00', 1, '200.00'),
    ]);
    expect(formatMoney(total)).toBe('200.30');
  });

  it('FIXED items must equal price × quantity', () => {
    expect(formatMoney(priceNoticeItems([fixed('FEE', '12.50', 3, '37.50')]))).toBe('37.50');
    const error = errorOf(() => priceNoticeItems([fixed('FEE', '12.50', 3, '37.49')]));
    expect(error.code).toBe('ITEM_AMOUNT_OUT_OF_RANGE');
    expect(error.details).toEqual({ path: '/items/0/amount', itemCode: 'FEE', expected: '37.50' });
    expect(errorOf(() => priceNoticeItems([fixed('FEE', '12.50', 3, '12.50')])).code).toBe('ITEM_AMOUNT_OUT_OF_RANGE');
  });

  it('RANGE items lie within min × quantity and max × quantity, inclusive', () => {
    expect(formatMoney(priceNoticeItems([range('FINE', '50.00', '200.00', 2, '100.00')]))).toBe('100.00');
    expect(formatMoney(priceNoticeItems([range('FINE', '50.00', '200.00', 2, '400.00')]))).toBe('400.00');
    const low = errorOf(() => priceNoticeItems([range('FINE', '50.00', '200.00', 2, '99.99')]));
    expect(low.code).toBe('ITEM_AMOUNT_OUT_OF_RANGE');
    expect(low.details).toEqual({ path: '/items/0/amount', itemCode: 'FINE', min: '100.00', max: '400.00' });
    expect(errorOf(() => priceNoticeItems([range('FINE', '50.00', '200.00', 2, '400.01')])).code).toBe(
      'ITEM_AMOUNT_OUT_OF_RANGE',
    );
  });

  it('refuses a total past 99999999999.99 (the largest single amount), and one whose largest late fee would take the amount due past it', () => {
    const max = '99999999999.99';
    const over = errorOf(() => priceNoticeItems([range('A', '0.01', max, 1, max), range('B', '0.01', max, 1, '0.01')]));
    expect(over.code).toBe('VALIDATION_FAILED');
    expect(over.details).toEqual({ fields: [{ path: '/items', problem: 'the total amount (100000000000.00) exceeds 99999999999.99, the largest amount one payment can settle' }] });
    // Without a late fee the largest amount is fine; with a cap of 1 × the amount it is not.
    expect(formatMoney(priceNoticeItems([range('FINE', '0.01', max, 1, max)]))).toBe(max);
    const capped = errorOf(() => priceNoticeItems([range('FINE', '0.01', max, 1, '50000000000.00', 'ACTIVE', '1')]));
    expect(capped.code).toBe('VALIDATION_FAILED');
    expect(capped.details).toEqual({ fields: [{ path: '/items', problem: 'with the largest late fee its items allow, the amount due (100000000000.00) would exceed 99999999999.99, the largest amount one payment can settle' }] });
    // One cent less leaves room for the whole cap.
    expect(formatMoney(priceNoticeItems([range('FINE', '0.01', max, 1, '49999999999.99', 'ACTIVE', '1')]))).toBe('49999999999.99');
  });

  it('refuses a notice of 0.00: it could never be paid', () => {
    const error = errorOf(() => priceNoticeItems([range('FREE', '0.00', '10.00', 1, '0.00')]));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual({ fields: [{ path: '/items', problem: 'the total amount must be above 0.00' }] });
    expect(formatMoney(priceNoticeItems([range('FREE', '0.00', '10.00', 1, '0.00'), fixed('FEE', '0.01', 1, '0.01')]))).toBe('0.01');
  });

  it('checks ITEM_INACTIVE on every line before ITEM_AMOUNT_OUT_OF_RANGE on any', () => {
    const error = errorOf(() =>
      priceNoticeItems([fixed('BAD_AMOUNT', '10.00', 1, '9.00'), fixed('OFF', '10.00', 1, '10.00', 'INACTIVE')]),
    );
    expect(error.code).toBe('ITEM_INACTIVE');
    expect(error.details).toEqual({ path: '/items/1/itemCode', itemCode: 'OFF' });
  });

  it('an inactive item is refused even with a correct amount', () => {
    expect(errorOf(() => priceNoticeItems([range('FINE', '1.00', '2.00', 1, '1.50', 'INACTIVE')])).code).toBe(
      'ITEM_INACTIVE',
    );
  });

  it('refuses a total the wire cannot carry', () => {
    const lines = [fixed('A', '9999999999999999.99', 1, '9999999999999999.99'), fixed('B', '0.01', 1, '0.01')];
    expect(errorOf(() => priceNoticeItems(lines)).code).toBe('VALIDATION_FAILED');
  });

  it('asserts what the edge has checked: 1–50 lines, integer quantities, money amounts', () => {
    expect(() => priceNoticeItems([])).toThrow(/invariant broken/);
    const many = Array.from({ length: ITEMS_PER_NOTICE_MAX + 1 }, (_, i) => fixed(`F${i}`, '1.00', 1, '1.00'));
    expect(() => priceNoticeItems(many)).toThrow(/invariant broken/);
    expect(formatMoney(priceNoticeItems(many.slice(0, ITEMS_PER_NOTICE_MAX)))).toBe('50.00');
    expect(() => priceNoticeItems([fixed('F', '1.00', 0, '0.00')])).toThrow(/invariant broken/);
    expect(() => priceNoticeItems([fixed('F', '1.00', 1.5, '1.50')])).toThrow(/invariant broken/);
    expect(() => priceNoticeItems([fixed('F', '1.00', 1, '1.001')])).toThrow(/invariant broken/);
  });
});

describe('isPayable (docs/lifecycle.md §1)', () => {
  it('ISSUED without expireDate is payable on any date', () => {
    expect(isPayable({ status: 'ISSUED', expireDate: null }, '2099-01-01')).toBe(true);
  });

  it('is payable up to and including expireDate', () => {
    const notice = { status: 'ISSUED' as const, expireDate: '2026-11-30' };
    expect(isPayable(notice, '2026-11-29')).toBe(true);
    expect(isPayable(notice, '2026-11-30')).toBe(true);
    expect(isPayable(notice, '2026-12-01')).toBe(false);
  });

  it('an EXPIRED notice is payable by a payment dated on or before expireDate (posted late, backfilled)', () => {
    const notice = { status: 'EXPIRED' as const, expireDate: '2026-11-30' };
    expect(isPayable(notice, '2026-11-30')).toBe(true);
    expect(isPayable(notice, '2026-12-01')).toBe(false);
  });

  it.each(['PAID', 'VOIDED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const)('%s is never payable', (status) => {
    expect(isPayable({ status, expireDate: null }, '2026-11-01')).toBe(false);
    expect(isPayable({ status, expireDate: '2099-01-01' }, '2026-11-01')).toBe(false);
  });
});

describe('applyRuleReason (docs/lifecycle.md §3.3)', () => {
  const base: ApplyRuleInput = {
    payCodeValid: true,
    notice: { status: 'ISSUED', expireDate: '2026-11-30' },
    paymentDate: '2026-11-23',
    paidBeforeIssue: false,
    amount: d('218.00'),
    amountDue: d('218.00'),
  };

  it('applies when payable and the amount is the amount due', () => {
    expect(applyRuleReason(base)).toBeNull();
    expect(applyRuleReason({ ...base, notice: { status: 'EXPIRED', expireDate: '2026-11-23' } })).toBeNull();
  });

  it.each([
    ['an invalid code first, whatever else is wrong', { payCodeValid: false, notice: null, amountDue: null }, 'PAY_CODE_INVALID'],
    ['an invalid code even if a notice was found', { payCodeValid: false }, 'PAY_CODE_INVALID'],
    ['no notice', { notice: null, amountDue: null }, 'NOTICE_NOT_FOUND'],
    ['paid, also when the amount is wrong', { notice: { status: 'PAID', expireDate: null }, amount: d('1.00') }, 'NOTICE_ALREADY_PAID'],
    ['partially refunded', { notice: { status: 'PARTIALLY_REFUNDED', expireDate: null } }, 'NOTICE_ALREADY_PAID'],
    ['refunded', { notice: { status: 'REFUNDED', expireDate: null } }, 'NOTICE_ALREADY_PAID'],
    ['voided, also when expired', { notice: { status: 'VOIDED', expireDate: '2026-11-01' } }, 'NOTICE_VOIDED'],
    ['expired before the payment date', { notice: { status: 'EXPIRED', expireDate: '2026-11-22' } }, 'NOTICE_EXPIRED'],
    ['issued but past expireDate (the job has not run)', { notice: { status: 'ISSUED', expireDate: '2026-11-22' }, amount: d('1.00') }, 'NOTICE_EXPIRED'],
    ['expired before the payment date, also when paid before issue', { notice: { status: 'EXPIRED', expireDate: '2026-11-22' }, paidBeforeIssue: true }, 'NOTICE_EXPIRED'],
    ['voided, also when paid before issue', { notice: { status: 'VOIDED', expireDate: null }, paidBeforeIssue: true }, 'NOTICE_VOIDED'],
    ['paid before issue', { paidBeforeIssue: true }, 'PAID_BEFORE_ISSUE'],
    ['paid before issue, also when the amount is wrong', { paidBeforeIssue: true, amount: d('1.00') }, 'PAID_BEFORE_ISSUE'],
    ['a lower amount', { amount: d('200.00') }, 'AMOUNT_MISMATCH'],
    ['a higher amount', { amount: d('218.01') }, 'AMOUNT_MISMATCH'],
  ] as [string, Partial<ApplyRuleInput>, string][])('%s → %s', (_label, change, reason) => {
    expect(applyRuleReason({ ...base, ...change })).toBe(reason);
  });

  it('compares amounts as numbers, not strings', () => {
    expect(applyRuleReason({ ...base, amount: d('218'), amountDue: d('218.00') })).toBeNull();
  });

  it('gives a reason or null for every status', () => {
    for (const status of NOTICE_STATUSES as readonly NoticeStatus[]) {
      const reason = applyRuleReason({ ...base, notice: { status, expireDate: '2026-11-30' } });
      expect(reason === null || UNAPPLIED_REASONS.includes(reason)).toBe(true);
    }
  });
});

describe('refusalCodeFor (docs/lifecycle.md §3.5)', () => {
  it('maps each reason to the catalogue code', () => {
    expect(UNAPPLIED_REASONS.map((reason) => [reason, refusalCodeFor(reason)])).toEqual([
      ['PAY_CODE_INVALID', 'PAY_CODE_INVALID'],
      ['NOTICE_NOT_FOUND', 'NOTICE_NOT_FOUND'],
      ['NOTICE_ALREADY_PAID', 'NOTICE_ALREADY_PAID'],
      ['NOTICE_VOIDED', 'NOTICE_NOT_PAYABLE'],
      ['NOTICE_EXPIRED', 'NOTICE_NOT_PAYABLE'],
      ['PAID_BEFORE_ISSUE', 'PAID_BEFORE_ISSUE'],
      ['AMOUNT_MISMATCH', 'AMOUNT_MISMATCH'],
    ]);
  });
});
