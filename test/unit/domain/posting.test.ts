import fc from 'fast-check';
import { Decimal } from '../../../src/domain/money';
import { decidePosting, paidAtBoundsProblem, paidAtWindow, PAID_AT_FUTURE_TOLERANCE_MS, PAID_AT_PAST_LIMIT_MS, PAID_BEFORE_ISSUE_TOLERANCE_MS, paidBeforeIssue, type PostingNotice, postingRefusal } from '../../../src/domain/posting';
import type { NoticeStatus } from '../../../src/domain/stateMachines';

// The posting rules of docs/lifecycle.md §3, pure: which postings apply, the first reason of those
// that do not, and how a refusal reads. The figures are worked out by hand.

const VALID = '15010226100000000103';
const FAILS_CHECK = '15010226100000000104';

function notice(status: NoticeStatus, fields: Partial<PostingNotice> = {}): PostingNotice {
  return {
    status,
    dueDate: '2026-11-20',
    expireDate: null,
    createdAt: new Date('2026-11-19T09:00:00+08:00'),
    lines: [
      { amount: new Decimal('200.00'), lateFeeRule: { type: 'DAILY_RATE', ratePerDay: new Decimal('0.03'), capRatio: new Decimal('1') } },
      { amount: new Decimal('50.00'), lateFeeRule: { type: 'NONE' } },
    ],
    ...fields,
  };
}

const at = (instant: string) => new Date(instant);

describe('paidAtWindow', () => {
  const now = at('2026-11-20T09:00:00+08:00');
  it('allows up to 60 s ahead and 7 days behind, both limits included', () => {
    expect(paidAtWindow(new Date(now.getTime() + PAID_AT_FUTURE_TOLERANCE_MS), now)).toBe('IN_WINDOW');
    expect(paidAtWindow(new Date(now.getTime() + PAID_AT_FUTURE_TOLERANCE_MS + 1), now)).toBe('IN_FUTURE');
    expect(paidAtWindow(new Date(now.getTime() - PAID_AT_PAST_LIMIT_MS), now)).toBe('IN_WINDOW');
    expect(paidAtWindow(new Date(now.getTime() - PAID_AT_PAST_LIMIT_MS - 1), now)).toBe('TOO_OLD');
    expect(PAID_AT_PAST_LIMIT_MS).toBe(7 * 24 * 3600 * 1000);
  });
});

describe('paidBeforeIssue', () => {
  const created = at('2026-11-20T09:00:00+08:00');
  it('allows up to 5 minutes before the notice was created, the limit included', () => {
    expect(PAID_BEFORE_ISSUE_TOLERANCE_MS).toBe(5 * 60 * 1000);
    expect(paidBeforeIssue(new Date(created.getTime() - PAID_BEFORE_ISSUE_TOLERANCE_MS), created)).toBe(false);
    expect(paidBeforeIssue(new Date(created.getTime() - PAID_BEFORE_ISSUE_TOLERANCE_MS - 1), created)).toBe(true);
    expect(paidBeforeIssue(at('0001-01-01T00:00:00Z'), created)).toBe(true);
    expect(paidBeforeIssue(new Date(created.getTime() + 1), created)).toBe(false);
  });
});

describe('paidAtBoundsProblem (docs/lifecycle.md §3.6)', () => {
  it.each([
    ['2000-01-01T00:00:00+08:00', null],
    ['2099-12-31T23:59:59.999Z', null],
    ['2026-11-20T09:00:00+14:00', null],
    ['2026-11-20T09:00:00-14:00', null],
    ['2026-11-20T09:00:00z', null],
    ['1999-12-31T23:59:59+08:00', /years 2000–2099/],
    ['2100-01-01T00:00:00+08:00', /years 2000–2099/],
    ['0001-01-01T00:00:00Z', /years 2000–2099/],
    ['2026-11-20T09:00:00+14:01', /±14:00/],
    ['2026-11-20T09:00:00-23:59', /±14:00/],
  ])('%s → %s', (text, problem) => {
    const found = paidAtBoundsProblem(text);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });

  it('answers what the pattern alone answers, for the shapes it reads without the pattern and their near misses (property)', () => {
    // The pattern's reading, as paidAtBoundsProblem wrote it before its fast path.
    const byPattern = (text: string): string | null => {
      const match = /^(\d{4})-.*?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/.exec(text);
      if (match === null) return null;
      const year = Number(match[1]);
      if (year < 2000 || year > 2099) return `must be in the years 2000–2099, not ${match[1]}`;
      if (match[2] !== undefined && Number(match[3]) * 60 + Number(match[4]) > 14 * 60) return `must have an offset within ±14:00, not ${match[2]}${match[3]}:${match[4]}`;
      return null;
    };
    const two = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0'));
    const shaped = fc.record({
      year: fc.oneof(fc.integer({ min: 1990, max: 2110 }).map(String), fc.constantFrom('20x6', '0999', '٢٠٢٦')),
      dash: fc.constantFrom('-', '-', '/'),
      middle: fc.constantFrom('11-20T09:00:00', '11-20T09:00:00.5', '11-20t09:00:00', '1-20T09:00:00'),
      zone: fc.oneof(fc.constantFrom('Z', 'z', ''), fc.tuple(fc.constantFrom('+', '-', '~'), fc.oneof(two, fc.constantFrom('13', '14', '15')), fc.constantFrom(':', '.'), fc.oneof(two, fc.constantFrom('00', '01', '59'))).map((parts) => parts.join(''))),
    });
    fc.assert(
      fc.property(shaped, (f) => {
        const text = `${f.year}${f.dash}${f.middle}${f.zone}`;
        expect(paidAtBoundsProblem(text)).toBe(byPattern(text));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('decidePosting', () => {
  it('applies the amount due at paidAt, late fees counted to its Shanghai date, and PAIDs the notice by the state machine', () => {
    // 2026-11-23 in Shanghai: 3 days late → 200.00 × 0.03 × 3 = 18.00.
    const decision = decidePosting({ payCode: VALID, notice: notice('ISSUED'), paidAt: at('2026-11-23T01:00:00+08:00'), amount: new Decimal('268.00') });
    expect(decision).toMatchObject({ applies: true, paymentStatus: 'SUCCEEDED', noticeStatus: 'PAID', paymentDate: '2026-11-23' });
    if (!decision.applies) throw new Error('applies');
    expect(decision.charges.perItemLateFee.map((fee) => fee.toFixed(2))).toEqual(['18.00', '0.00']);
    expect([decision.charges.totalAmount, decision.charges.lateFee, decision.charges.amountDue].map((value) => value.toFixed(2))).toEqual(['250.00', '18.00', '268.00']);
  });

  it('uses the Shanghai date, not the UTC one: 23:30 on the due date is on time', () => {
    expect(decidePosting({ payCode: VALID, notice: notice('ISSUED'), paidAt: at('2026-11-20T15:30:00Z'), amount: new Decimal('250.00') }).applies).toBe(true);
    expect(decidePosting({ payCode: VALID, notice: notice('ISSUED'), paidAt: at('2026-11-20T16:30:00Z'), amount: new Decimal('250.00') })).toMatchObject({ applies: false, reason: 'AMOUNT_MISMATCH', amountDue: new Decimal('256.00') });
  });

  it('pays an EXPIRED notice with a payment dated on or before its expireDate (applyLatePayment)', () => {
    const expired = notice('EXPIRED', { expireDate: '2026-11-22' });
    expect(decidePosting({ payCode: VALID, notice: expired, paidAt: at('2026-11-22T23:59:59+08:00'), amount: new Decimal('262.00') })).toMatchObject({ applies: true, noticeStatus: 'PAID' });
    expect(decidePosting({ payCode: VALID, notice: expired, paidAt: at('2026-11-23T00:00:00+08:00'), amount: new Decimal('268.00') })).toMatchObject({ applies: false, reason: 'NOTICE_EXPIRED' });
  });

  it.each<[string, Parameters<typeof decidePosting>[0], string]>([
    ['a code failing its check digits, even if a notice were given', { payCode: FAILS_CHECK, notice: notice('ISSUED'), paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('250.00') }, 'PAY_CODE_INVALID'],
    ['garbage', { payCode: 'QR-0042', notice: null, paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('1.00') }, 'PAY_CODE_INVALID'],
    ['no notice', { payCode: VALID, notice: null, paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('250.00') }, 'NOTICE_NOT_FOUND'],
    ['PAID, before the amount', { payCode: VALID, notice: notice('PAID'), paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('1.00') }, 'NOTICE_ALREADY_PAID'],
    ['PARTIALLY_REFUNDED', { payCode: VALID, notice: notice('PARTIALLY_REFUNDED'), paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('250.00') }, 'NOTICE_ALREADY_PAID'],
    ['REFUNDED', { payCode: VALID, notice: notice('REFUNDED'), paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('250.00') }, 'NOTICE_ALREADY_PAID'],
    ['VOIDED, before the amount', { payCode: VALID, notice: notice('VOIDED'), paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('1.00') }, 'NOTICE_VOIDED'],
    ['ISSUED but past its expireDate, before the amount', { payCode: VALID, notice: notice('ISSUED', { expireDate: '2026-11-20' }), paidAt: at('2026-11-21T09:00:00+08:00'), amount: new Decimal('1.00') }, 'NOTICE_EXPIRED'],
    ['paid before issue, before the amount', { payCode: VALID, notice: notice('ISSUED'), paidAt: at('2026-11-19T08:54:59.999+08:00'), amount: new Decimal('1.00') }, 'PAID_BEFORE_ISSUE'],
    ['VOIDED, before paid before issue', { payCode: VALID, notice: notice('VOIDED'), paidAt: at('2026-11-19T08:00:00+08:00'), amount: new Decimal('250.00') }, 'NOTICE_VOIDED'],
    ['one fen short', { payCode: VALID, notice: notice('ISSUED'), paidAt: at('2026-11-20T09:00:00+08:00'), amount: new Decimal('249.99') }, 'AMOUNT_MISMATCH'],
  ])('does not apply: %s → %s', (_name, input, reason) => {
    const decision = decidePosting(input);
    expect(decision).toMatchObject({ applies: false, reason, paymentStatus: 'UNAPPLIED' });
  });
});

describe('postingRefusal', () => {
  const base = { payCode: VALID, amount: new Decimal('249.99'), amountDue: null, noticeStatus: null, paymentDate: '2026-11-20' };
  it.each([
    ['PAY_CODE_INVALID', 'PAY_CODE_INVALID'],
    ['NOTICE_NOT_FOUND', 'NOTICE_NOT_FOUND'],
    ['NOTICE_ALREADY_PAID', 'NOTICE_ALREADY_PAID'],
    ['NOTICE_VOIDED', 'NOTICE_NOT_PAYABLE'],
    ['NOTICE_EXPIRED', 'NOTICE_NOT_PAYABLE'],
  ] as const)('%s is refused as %s', (reason, code) => {
    expect(postingRefusal({ ...base, reason }).code).toBe(code);
  });

  it('PAID_BEFORE_ISSUE says when the notice was issued', () => {
    const error = postingRefusal({ ...base, reason: 'PAID_BEFORE_ISSUE', noticeCreatedAt: at('2026-11-20T09:00:00+08:00'), paidAt: at('2026-11-20T00:00:00Z') });
    expect(error.code).toBe('PAID_BEFORE_ISSUE');
    expect(error.details).toEqual({ payCode: VALID, issuedAt: '2026-11-20T09:00:00+08:00', paidAt: '2026-11-20T08:00:00+08:00' });
  });

  it('AMOUNT_MISMATCH says the amount due', () => {
    const error = postingRefusal({ ...base, reason: 'AMOUNT_MISMATCH', amountDue: new Decimal('250.00') });
    expect(error.code).toBe('AMOUNT_MISMATCH');
    expect(error.message).toBe('amount 249.99 does not equal amount due 250.00');
    expect(error.details).toEqual({ amountDue: '250.00', amount: '249.99' });
  });
});
