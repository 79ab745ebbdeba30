import fc from 'fast-check';
import { accountPrefix, ACCOUNTS, assertBalanced, succeededPaymentEntry, unappliedPaymentEntry } from '../../../src/domain/ledger';
import { Decimal, sumMoney } from '../../../src/domain/money';

// The chart of accounts and the entries of a posting (docs/lifecycle.md §4): balanced by construction,
// and asserted before anything is written.

describe('the chart of accounts', () => {
  it('names every account the whole ledger needs (docs/settlement.md §6)', () => {
    expect(ACCOUNTS.agencyClearing('AGENCY_BANK')).toBe('agency_clearing:AGENCY_BANK');
    expect(ACCOUNTS.revenuePending('FISCAL_001')).toBe('revenue_pending:FISCAL_001');
    expect(ACCOUNTS.suspenseUnapplied('AGENCY_BANK')).toBe('suspense:unapplied:AGENCY_BANK');
    expect(ACCOUNTS.inTransit('FISCAL_001')).toBe('in_transit:FISCAL_001');
    expect(ACCOUNTS.receiving('FISCAL_001')).toBe('receiving:FISCAL_001');
    expect(ACCOUNTS.revenue('FISCAL_001', 3, '1030401')).toBe('revenue:FISCAL_001:3:1030401');
    expect(ACCOUNTS.suspenseUnidentified()).toBe('suspense:unidentified');
  });

  it('gives ledger verify the prefix of each kind, the rest of the key being the part it was given', () => {
    const cases = [
      [accountPrefix('agencyClearing'), ACCOUNTS.agencyClearing('AGENCY_BANK'), 'AGENCY_BANK'],
      [accountPrefix('revenuePending'), ACCOUNTS.revenuePending('FISCAL_001'), 'FISCAL_001'],
      [accountPrefix('suspenseUnapplied'), ACCOUNTS.suspenseUnapplied('AGENCY_BANK'), 'AGENCY_BANK'],
      [accountPrefix('inTransit'), ACCOUNTS.inTransit('FISCAL_001'), 'FISCAL_001'],
      [accountPrefix('receiving'), ACCOUNTS.receiving('FISCAL_001'), 'FISCAL_001'],
      [accountPrefix('revenue'), ACCOUNTS.revenue('FISCAL_001', 3, '1030401'), 'FISCAL_001:3:1030401'],
    ] as const;
    for (const [prefix, key, rest] of cases) expect(`${prefix}${rest}`).toBe(key);
    // No prefix selects another kind's accounts.
    expect(ACCOUNTS.revenuePending('X').startsWith(accountPrefix('revenue'))).toBe(false);
    expect(ACCOUNTS.suspenseUnidentified().startsWith(accountPrefix('suspenseUnapplied'))).toBe(false);
  });

  it('refuses a part that could break the key apart, and a budget level 0 revenue', () => {
    expect(() => ACCOUNTS.agencyClearing('A:B')).toThrow(/invariant broken/);
    expect(() => ACCOUNTS.revenuePending('')).toThrow(/invariant broken/);
    expect(() => ACCOUNTS.revenue('FISCAL_001', 0, '1030401')).toThrow(/invariant broken/);
  });
});

describe('assertBalanced', () => {
  const debit = (amount: string) => ({ account: 'agency_clearing:A', side: 'DEBIT' as const, amount: new Decimal(amount) });
  const credit = (amount: string) => ({ account: 'revenue_pending:F', side: 'CREDIT' as const, amount: new Decimal(amount) });

  it('accepts an entry whose debits equal its credits', () => {
    expect(assertBalanced([debit('10.00'), credit('4.00'), credit('6.00')])).toEqual({ debit: new Decimal('10.00'), credit: new Decimal('10.00') });
  });

  it.each([
    ['unbalanced', [debit('10.00'), credit('9.99')]],
    ['one line', [debit('10.00')]],
    ['a zero line', [debit('10.00'), credit('10.00'), credit('0.00')]],
    ['a negative line', [debit('10.00'), credit('20.00'), credit('-10.00')]],
    ['fractions of a fen', [debit('10.001'), credit('10.001')]],
    ['a bad account', [debit('10.00'), { ...credit('10.00'), account: 'Revenue Pending' }]],
  ])('crashes on %s', (_name, lines) => {
    expect(() => assertBalanced(lines)).toThrow(/invariant broken/);
  });
});

describe('the posting entries', () => {
  it('SUCCEEDED: debits the clearing account, credits each item with its late fee, skips an item that earned nothing', () => {
    const entry = succeededPaymentEntry({
      paymentId: '41',
      agencyCode: 'AGENCY_BANK',
      amount: new Decimal('218.00'),
      accountingDate: '2026-11-23',
      items: [
        { receivingAccountNo: 'TREASURY_001', amount: new Decimal('200.00'), lateFee: new Decimal('18.00') },
        { receivingAccountNo: 'FISCAL_001', amount: new Decimal('0.00'), lateFee: new Decimal('0.00') },
      ],
    });
    expect(entry).toEqual({
      kind: 'PAYMENT_SUCCEEDED',
      accountingDate: '2026-11-23',
      references: { paymentId: '41' },
      lines: [
        { account: 'agency_clearing:AGENCY_BANK', side: 'DEBIT', amount: new Decimal('218.00') },
        { account: 'revenue_pending:TREASURY_001', side: 'CREDIT', amount: new Decimal('218.00') },
      ],
    });
  });

  it('SUCCEEDED crashes when the amount is not the items and their late fees', () => {
    expect(() => succeededPaymentEntry({ paymentId: '1', agencyCode: 'A', amount: new Decimal('10.00'), accountingDate: '2026-11-23', items: [{ receivingAccountNo: 'F', amount: new Decimal('9.00'), lateFee: new Decimal('0.00') }] })).toThrow(/balances/);
  });

  it('UNAPPLIED: debits the clearing account and credits the agency’s suspense', () => {
    expect(unappliedPaymentEntry({ paymentId: '42', agencyCode: 'AGENCY_BANK', amount: new Decimal('7.50'), accountingDate: '2026-11-20' }).lines).toEqual([
      { account: 'agency_clearing:AGENCY_BANK', side: 'DEBIT', amount: new Decimal('7.50') },
      { account: 'suspense:unapplied:AGENCY_BANK', side: 'CREDIT', amount: new Decimal('7.50') },
    ]);
  });

  it('balance for any notice: the debit is the sum of every item and late fee (property)', () => {
    const fen = fc.bigInt({ min: 0n, max: 10_000_000_000n }).map((value) => new Decimal(value.toString()).dividedBy(100));
    fc.assert(
      fc.property(fc.array(fc.record({ receivingAccountNo: fc.constantFrom('FISCAL_001', 'TREASURY_001'), amount: fen, lateFee: fen }), { minLength: 1, maxLength: 50 }), (items) => {
        const total = sumMoney(items.map((item) => item.amount.plus(item.lateFee)));
        fc.pre(total.gt(0));
        const entry = succeededPaymentEntry({ paymentId: '1', agencyCode: 'A', amount: total, items, accountingDate: '2026-11-20' });
        const { debit, credit } = assertBalanced(entry.lines);
        expect(debit.eq(total) && credit.eq(total)).toBe(true);
        expect(entry.lines.every((line) => line.amount.gt(0))).toBe(true);
      }),
    );
  });
});
