import fc from 'fast-check';
import {
  agencyRefundConfirmedEntry,
  assertBalanced,
  assertJournalEntry,
  bankRefundConfirmedEntry,
  JOURNAL_ENTRY_KINDS,
  type JournalEntry,
  mismatchDifferenceEntry,
  recogniseItems,
  REQUIRED_REFERENCE,
  reversalEntry,
  settlementConfirmedEntry,
  settlementExecutedEntry,
  splitByRatios,
  spreadInProportion,
  succeededPaymentEntry,
  unappliedPaymentEntry,
  unidentifiedCreditEntry,
  writeOffEntry,
} from '../../../src/domain/ledger';
import { Decimal, formatMoney, sumMoney } from '../../../src/domain/money';

// Every entry kind the ledger writes (docs/ledger.md, docs/settlement.md §6), one builder each:
// its lines, its references, and the rules of sharing and spreading it applies.

const d = (value: string): Decimal => new Decimal(value);
const DATE = '2026-12-01';

/** An entry's lines as `SIDE account amount`, in order: what a reader of the journal sees. */
function lines(entry: JournalEntry): string[] {
  return entry.lines.map((line) => `${line.side} ${line.account} ${formatMoney(line.amount)}`);
}

describe('every kind has a builder and a required reference', () => {
  it('names a reference for each kind', () => {
    expect(Object.keys(REQUIRED_REFERENCE).sort()).toEqual(Object.values(JOURNAL_ENTRY_KINDS).sort());
  });

  it('crashes (an invariant, not a catalogue error) on an entry without its reference, an unknown kind, a bad date or a reference that is not a row id', () => {
    const good = unidentifiedCreditEntry({ bankPostingId: '5', receivingAccountNo: 'FISCAL_001', amount: d('10.00'), accountingDate: DATE });
    expect(() => assertJournalEntry(good)).not.toThrow();
    expect(() => assertJournalEntry({ ...good, references: {} })).toThrow(/invariant broken: a UNIDENTIFIED_CREDIT entry references its bankPostingId/);
    expect(() => assertJournalEntry({ ...good, references: { paymentId: '5' } })).toThrow(/invariant broken/);
    expect(() => assertJournalEntry({ ...good, kind: 'MANUAL' as never })).toThrow(/invariant broken: journal entry kind MANUAL/);
    expect(() => assertJournalEntry({ ...good, accountingDate: '1.12.2026' })).toThrow(/invariant broken/);
    expect(() => assertJournalEntry({ ...good, references: { bankPostingId: 'P-5' } })).toThrow(/invariant broken: reference bankPostingId is a row id/);
    expect(() => unidentifiedCreditEntry({ bankPostingId: '0', receivingAccountNo: 'FISCAL_001', amount: d('10.00'), accountingDate: DATE })).toThrow(/invariant broken/);
  });

  it('crashes on a non-positive or unbalanced entry, whatever built it', () => {
    const good = unidentifiedCreditEntry({ bankPostingId: '5', receivingAccountNo: 'FISCAL_001', amount: d('10.00'), accountingDate: DATE });
    expect(() => assertJournalEntry({ ...good, lines: [good.lines[0]!, { ...good.lines[1]!, amount: d('9.99') }] })).toThrow(/invariant broken: an entry balances/);
    expect(() => assertJournalEntry({ ...good, lines: good.lines.map((line) => ({ ...line, amount: d('0.00') })) })).toThrow(/invariant broken: a line's amount is positive/);
    expect(() => unidentifiedCreditEntry({ bankPostingId: '5', receivingAccountNo: 'FISCAL_001', amount: d('0.00'), accountingDate: DATE })).toThrow(/invariant broken/);
    expect(() => settlementExecutedEntry({ instructionId: '1', agencyCode: 'A', receivingAccountNo: 'F', amount: d('-1.00'), accountingDate: DATE })).toThrow(/invariant broken/);
  });
});

describe('the payment entries reference their payment', () => {
  it('PAYMENT_SUCCEEDED and PAYMENT_UNAPPLIED', () => {
    const succeeded = succeededPaymentEntry({
      paymentId: '7',
      agencyCode: 'AGENCY_BANK',
      amount: d('236.00'),
      items: [
        { receivingAccountNo: 'TREASURY_001', amount: d('200.00'), lateFee: d('18.00') },
        { receivingAccountNo: 'FISCAL_001', amount: d('15.00'), lateFee: d('3.00') },
      ],
      accountingDate: DATE,
    });
    expect(succeeded.references).toEqual({ paymentId: '7' });
    expect(lines(succeeded)).toEqual(['DEBIT agency_clearing:AGENCY_BANK 236.00', 'CREDIT revenue_pending:TREASURY_001 218.00', 'CREDIT revenue_pending:FISCAL_001 18.00']);
    const unapplied = unappliedPaymentEntry({ paymentId: '8', agencyCode: 'AGENCY_BANK', amount: d('7.50'), accountingDate: DATE });
    expect(unapplied).toMatchObject({ kind: 'PAYMENT_UNAPPLIED', references: { paymentId: '8' } });
  });
});

describe('REVERSAL: the mirror of any entry', () => {
  const original = {
    id: '100',
    ...succeededPaymentEntry({
      paymentId: '7',
      agencyCode: 'AGENCY_BANK',
      amount: d('236.00'),
      items: [
        { receivingAccountNo: 'TREASURY_001', amount: d('200.00'), lateFee: d('18.00') },
        { receivingAccountNo: 'FISCAL_001', amount: d('15.00'), lateFee: d('3.00') },
      ],
      accountingDate: '2026-11-20',
    }),
  };

  it('swaps every side, keeps accounts, amounts and order, carries the original references and the cause', () => {
    const reversal = reversalEntry({ original, accountingDate: DATE, cause: { discrepancyId: '55' } });
    expect(reversal.kind).toBe('REVERSAL');
    expect(reversal.accountingDate).toBe(DATE);
    expect(reversal.references).toEqual({ paymentId: '7', discrepancyId: '55', reversesEntryId: '100' });
    expect(lines(reversal)).toEqual(['CREDIT agency_clearing:AGENCY_BANK 236.00', 'DEBIT revenue_pending:TREASURY_001 218.00', 'DEBIT revenue_pending:FISCAL_001 18.00']);
  });

  it('mirrors every kind, and the mirror of the mirror is the original', () => {
    const originals = [
      original,
      { id: '101', ...settlementExecutedEntry({ instructionId: '3', agencyCode: 'A', receivingAccountNo: 'F', amount: d('10.00'), accountingDate: DATE }) },
      { id: '102', ...unidentifiedCreditEntry({ bankPostingId: '4', receivingAccountNo: 'F', amount: d('10.00'), accountingDate: DATE }) },
    ];
    for (const entry of originals) {
      const mirror = reversalEntry({ original: entry, accountingDate: DATE });
      const back = reversalEntry({ original: { ...mirror, id: '900' }, accountingDate: DATE });
      expect(lines(back)).toEqual(lines(entry));
      expect(assertBalanced(mirror.lines).debit.eq(assertBalanced(entry.lines).debit)).toBe(true);
    }
  });

  it('crashes on a cause that contradicts the original, or an original that is not stored', () => {
    expect(() => reversalEntry({ original, accountingDate: DATE, cause: { paymentId: '8' } })).toThrow(/invariant broken: a reversal's paymentId 8 contradicts/);
    expect(() => reversalEntry({ original: { ...original, id: 'new' }, accountingDate: DATE })).toThrow(/invariant broken/);
  });
});

describe('the sharing rule: every share but the last half-up, the last the remainder', () => {
  it.each([
    ['100.00', ['0.5', '0.3', '0.2'], ['50.00', '30.00', '20.00']],
    ['0.01', ['0.5', '0.5'], ['0.01', '0.00']],
    ['10.00', ['0.3333', '0.3333', '0.3334'], ['3.33', '3.33', '3.34']],
    ['0.05', ['0.3', '0.7'], ['0.02', '0.03']],
    ['0.10', ['0.45', '0.45', '0.05', '0.05'], ['0.05', '0.05', '0.01', '-0.01']],
  ])('%s by %j → %j', (amount, ratios, parts) => {
    expect(splitByRatios(d(amount), ratios.map(d)).map((part) => part.toFixed(2))).toEqual(parts);
  });

  it('crashes on ratios that do not add up to 1', () => {
    expect(() => splitByRatios(d('10.00'), [d('0.5'), d('0.4')])).toThrow(/invariant broken: the ratios add up to exactly 1/);
  });

  it('the parts always add up to the amount (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10_000_000_000n }), fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }), (fen, weights) => {
        // Ratios of four decimals that add up to exactly 1: the last takes what the others leave.
        const total = weights.reduce((sum, weight) => sum + weight, 0);
        const ratios = weights.slice(0, -1).map((weight) => new Decimal(weight).dividedBy(total).toDecimalPlaces(4, Decimal.ROUND_DOWN));
        const last = new Decimal(1).minus(ratios.reduce((sum, ratio) => sum.plus(ratio), new Decimal(0)));
        fc.pre(last.gt(0) && ratios.every((ratio) => ratio.gt(0)));
        const amount = new Decimal(fen.toString()).dividedBy(100);
        expect(sumMoney(splitByRatios(amount, [...ratios, last])).eq(amount)).toBe(true);
      }),
    );
  });

  it('spreads a refund in proportion to what the items earned, half-up, the remainder on the last', () => {
    expect(spreadInProportion(d('10.00'), [d('100.00'), d('200.00')]).map(formatMoney)).toEqual(['3.33', '6.67']);
    expect(spreadInProportion(d('0.05'), [d('1.00'), d('1.00')]).map(formatMoney)).toEqual(['0.03', '0.02']);
    expect(() => spreadInProportion(d('1.00'), [d('0.00')])).toThrow(/invariant broken/);
  });

  it('recognises level 1–5 items whole, and splits level 0 items by their snapshotted shares', () => {
    const recognition = recogniseItems('FISCAL_001', [
      { amount: d('100.00'), incomeSortCode: '1030401', budgetLevel: 2 },
      { amount: d('33.33'), incomeSortCode: '1030402', budgetLevel: 0, shares: [{ budgetLevel: 1, ratio: d('0.6') }, { budgetLevel: 3, ratio: d('0.4') }] },
    ]);
    expect(recognition.map((item) => item.shares.map((share) => `${share.account} ${formatMoney(share.amount)}`))).toEqual([
      ['revenue:FISCAL_001:2:1030401 100.00'],
      // 33.33 × 0.6 = 19.998 → 20.00 (half up); the last share takes 33.33 − 20.00.
      ['revenue:FISCAL_001:1:1030402 20.00', 'revenue:FISCAL_001:3:1030402 13.33'],
    ]);
    expect(() => recogniseItems('F', [{ amount: d('1.00'), incomeSortCode: 'C', budgetLevel: 0 }])).toThrow(/invariant broken/);
    expect(() => recogniseItems('F', [{ amount: d('1.00'), incomeSortCode: 'C', budgetLevel: 2, shares: [{ budgetLevel: 1, ratio: d('1') }] }])).toThrow(/invariant broken/);
  });
});

describe('settlement', () => {
  it('SETTLEMENT_EXECUTED: in_transit / agency_clearing, references the instruction', () => {
    const entry = settlementExecutedEntry({ instructionId: '12', agencyCode: 'AGENCY_BANK', receivingAccountNo: 'FISCAL_001', amount: d('133.33'), accountingDate: DATE });
    expect(entry.kind).toBe('SETTLEMENT_EXECUTED');
    expect(entry.references).toEqual({ instructionId: '12' });
    expect(lines(entry)).toEqual(['DEBIT in_transit:FISCAL_001 133.33', 'CREDIT agency_clearing:AGENCY_BANK 133.33']);
  });

  it('SETTLEMENT_CONFIRMED: receiving / in_transit, and per item share revenue_pending / revenue, summed per account', () => {
    const shares = [{ budgetLevel: 1, ratio: d('0.6') }, { budgetLevel: 3, ratio: d('0.4') }];
    const { entry, recognition } = settlementConfirmedEntry({
      instructionId: '12',
      receivingAccountNo: 'FISCAL_001',
      amount: d('166.66'),
      items: [
        { amount: d('100.00'), incomeSortCode: '1030401', budgetLevel: 2 },
        { amount: d('33.33'), incomeSortCode: '1030402', budgetLevel: 0, shares },
        { amount: d('33.33'), incomeSortCode: '1030402', budgetLevel: 0, shares },
      ],
      accountingDate: DATE,
    });
    expect(entry.references).toEqual({ instructionId: '12' });
    expect(lines(entry)).toEqual([
      'DEBIT receiving:FISCAL_001 166.66',
      'CREDIT in_transit:FISCAL_001 166.66',
      'DEBIT revenue_pending:FISCAL_001 166.66',
      'CREDIT revenue:FISCAL_001:1:1030402 40.00',
      'CREDIT revenue:FISCAL_001:2:1030401 100.00',
      // Each shared item split on its own (20.00 and the remainder 13.33), then summed per account.
      'CREDIT revenue:FISCAL_001:3:1030402 26.66',
    ]);
    // The stored per item shares add up to the entry's revenue lines exactly.
    expect(formatMoney(sumMoney(recognition.flatMap((item) => item.shares.map((share) => share.amount))))).toBe('166.66');
  });

  it('rounds per item, not the sum: two items of 0.05 split 50/50 give the first level 0.06, not 0.05', () => {
    const shares = [{ budgetLevel: 1, ratio: d('0.5') }, { budgetLevel: 2, ratio: d('0.5') }];
    const { entry } = settlementConfirmedEntry({
      instructionId: '14',
      receivingAccountNo: 'F',
      amount: d('0.10'),
      items: [{ amount: d('0.05'), incomeSortCode: 'C', budgetLevel: 0, shares }, { amount: d('0.05'), incomeSortCode: 'C', budgetLevel: 0, shares }],
      accountingDate: DATE,
    });
    expect(lines(entry).slice(3)).toEqual(['CREDIT revenue:F:1:C 0.06', 'CREDIT revenue:F:2:C 0.04']);
  });

  it('a negative last share of a split is booked on the other side, and everything still balances', () => {
    const { entry } = settlementConfirmedEntry({
      instructionId: '13',
      receivingAccountNo: 'F',
      amount: d('0.10'),
      items: [{ amount: d('0.10'), incomeSortCode: 'C', budgetLevel: 0, shares: [{ budgetLevel: 1, ratio: d('0.45') }, { budgetLevel: 2, ratio: d('0.45') }, { budgetLevel: 3, ratio: d('0.05') }, { budgetLevel: 4, ratio: d('0.05') }] }],
      accountingDate: DATE,
    });
    expect(lines(entry)).toEqual([
      'DEBIT receiving:F 0.10',
      'CREDIT in_transit:F 0.10',
      'DEBIT revenue_pending:F 0.10',
      'CREDIT revenue:F:1:C 0.05',
      'CREDIT revenue:F:2:C 0.05',
      'CREDIT revenue:F:3:C 0.01',
      'DEBIT revenue:F:4:C 0.01',
    ]);
  });

  it('crashes when the items do not add up to the instruction', () => {
    expect(() => settlementConfirmedEntry({ instructionId: '12', receivingAccountNo: 'F', amount: d('10.00'), items: [{ amount: d('9.99'), incomeSortCode: 'C', budgetLevel: 1 }], accountingDate: DATE })).toThrow(/invariant broken/);
  });

  it('balances for any items and sharing rules (property)', () => {
    const fen = fc.bigInt({ min: 0n, max: 1_000_000_00n }).map((value) => new Decimal(value.toString()).dividedBy(100));
    const sharing = fc.constantFrom(
      [{ budgetLevel: 1, ratio: d('1') }],
      [{ budgetLevel: 2, ratio: d('0.5') }, { budgetLevel: 3, ratio: d('0.5') }],
      [{ budgetLevel: 1, ratio: d('0.3333') }, { budgetLevel: 2, ratio: d('0.3333') }, { budgetLevel: 4, ratio: d('0.3334') }],
    );
    const item = fc.record({ amount: fen, incomeSortCode: fc.constantFrom('1030401', '1030402'), budgetLevel: fc.integer({ min: 0, max: 5 }), shares: sharing });
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 300 }), (generated) => {
        const items = generated.map((one) => (one.budgetLevel === 0 ? one : { amount: one.amount, incomeSortCode: one.incomeSortCode, budgetLevel: one.budgetLevel }));
        const amount = sumMoney(items.map((one) => one.amount));
        fc.pre(amount.gt(0));
        const { entry } = settlementConfirmedEntry({ instructionId: '1', receivingAccountNo: 'F', amount, items, accountingDate: DATE });
        expect(assertBalanced(entry.lines).debit.eq(amount.times(2))).toBe(true);
        // One line per account however many items: 3 + at most 5 levels × 2 codes.
        expect(entry.lines.length).toBeLessThanOrEqual(13);
      }),
    );
  });
});

describe('refunds', () => {
  it('AGENCY_REFUND_CONFIRMED of applied money: revenue_pending per account (spread over the items) / agency_clearing', () => {
    const entry = agencyRefundConfirmedEntry({
      refundId: '21',
      instructionId: '12',
      agencyCode: 'AGENCY_BANK',
      amount: d('10.00'),
      unapplied: false,
      paymentItems: [
        { receivingAccountNo: 'TREASURY_001', earned: d('100.00') },
        { receivingAccountNo: 'FISCAL_001', earned: d('200.00') },
      ],
      accountingDate: DATE,
    });
    expect(entry.references).toEqual({ refundId: '21', instructionId: '12' });
    expect(lines(entry)).toEqual(['DEBIT revenue_pending:TREASURY_001 3.33', 'DEBIT revenue_pending:FISCAL_001 6.67', 'CREDIT agency_clearing:AGENCY_BANK 10.00']);
  });

  it('AGENCY_REFUND_CONFIRMED of unapplied money: suspense:unapplied / agency_clearing', () => {
    const entry = agencyRefundConfirmedEntry({ refundId: '22', agencyCode: 'AGENCY_BANK', amount: d('7.50'), unapplied: true, accountingDate: DATE });
    expect(entry.references).toEqual({ refundId: '22' });
    expect(lines(entry)).toEqual(['DEBIT suspense:unapplied:AGENCY_BANK 7.50', 'CREDIT agency_clearing:AGENCY_BANK 7.50']);
  });

  it('AGENCY_REFUND_CONFIRMED crashes on a refund above what the items earned', () => {
    expect(() => agencyRefundConfirmedEntry({ refundId: '23', agencyCode: 'A', amount: d('300.01'), unapplied: false, paymentItems: [{ receivingAccountNo: 'F', earned: d('300.00') }], accountingDate: DATE })).toThrow(/invariant broken/);
  });

  it('BANK_REFUND_CONFIRMED: revenue per share / receiving, references the refund, instruction and posting', () => {
    const { entry, recognition } = bankRefundConfirmedEntry({
      refundId: '24',
      instructionId: '31',
      bankPostingId: '41',
      receivingAccountNo: 'FISCAL_001',
      amount: d('15.00'),
      items: [
        { amount: d('5.00'), incomeSortCode: '1030401', budgetLevel: 2 },
        { amount: d('10.00'), incomeSortCode: '1030402', budgetLevel: 0, shares: [{ budgetLevel: 1, ratio: d('0.6') }, { budgetLevel: 3, ratio: d('0.4') }] },
      ],
      accountingDate: DATE,
    });
    expect(entry.kind).toBe('BANK_REFUND_CONFIRMED');
    expect(entry.references).toEqual({ refundId: '24', instructionId: '31', bankPostingId: '41' });
    expect(lines(entry)).toEqual(['DEBIT revenue:FISCAL_001:1:1030402 6.00', 'DEBIT revenue:FISCAL_001:2:1030401 5.00', 'DEBIT revenue:FISCAL_001:3:1030402 4.00', 'CREDIT receiving:FISCAL_001 15.00']);
    expect(recognition).toHaveLength(2);
  });
});

describe('bank postings and discrepancies', () => {
  it('UNIDENTIFIED_CREDIT: receiving / suspense:unidentified, references the bank posting', () => {
    const entry = unidentifiedCreditEntry({ bankPostingId: '41', receivingAccountNo: 'FISCAL_001', amount: d('99.99'), accountingDate: DATE });
    expect(entry.references).toEqual({ bankPostingId: '41' });
    expect(lines(entry)).toEqual(['DEBIT receiving:FISCAL_001 99.99', 'CREDIT suspense:unidentified 99.99']);
  });

  it('WRITE_OFF: revenue_pending (per account) / agency_clearing, references the discrepancy', () => {
    const entry = writeOffEntry({
      discrepancyId: '51',
      agencyCode: 'AGENCY_BANK',
      shortfall: [
        { receivingAccountNo: 'TREASURY_001', amount: d('200.00') },
        { receivingAccountNo: 'FISCAL_001', amount: d('15.00') },
        { receivingAccountNo: 'TREASURY_001', amount: d('18.00') },
      ],
      accountingDate: DATE,
    });
    expect(entry.references).toEqual({ discrepancyId: '51' });
    expect(lines(entry)).toEqual(['DEBIT revenue_pending:TREASURY_001 218.00', 'DEBIT revenue_pending:FISCAL_001 15.00', 'CREDIT agency_clearing:AGENCY_BANK 233.00']);
  });

  it('WRITE_OFF crashes on a part of the shortfall that is not positive', () => {
    expect(() => writeOffEntry({ discrepancyId: '51', agencyCode: 'A', shortfall: [{ receivingAccountNo: 'F', amount: d('5.00') }, { receivingAccountNo: 'G', amount: d('-1.00') }], accountingDate: DATE })).toThrow(/invariant broken: a part of a shortfall is positive money/);
  });

  it('MISMATCH_SURPLUS: the statement says more — agency_clearing / suspense:unapplied', () => {
    const entry = mismatchDifferenceEntry({ discrepancyId: '52', agencyCode: 'AGENCY_BANK', platformAmount: d('50.00'), statementAmount: d('55.50'), accountingDate: DATE });
    expect(entry.kind).toBe('MISMATCH_SURPLUS');
    expect(entry.references).toEqual({ discrepancyId: '52' });
    expect(lines(entry)).toEqual(['DEBIT agency_clearing:AGENCY_BANK 5.50', 'CREDIT suspense:unapplied:AGENCY_BANK 5.50']);
  });

  it('MISMATCH_DEFICIT: the statement says less — the reverse, charged to the agency', () => {
    const entry = mismatchDifferenceEntry({ discrepancyId: '53', agencyCode: 'AGENCY_BANK', platformAmount: d('50.00'), statementAmount: d('45.00'), accountingDate: DATE });
    expect(entry.kind).toBe('MISMATCH_DEFICIT');
    expect(lines(entry)).toEqual(['DEBIT suspense:unapplied:AGENCY_BANK 5.00', 'CREDIT agency_clearing:AGENCY_BANK 5.00']);
  });

  it('no difference is no entry: it crashes', () => {
    expect(() => mismatchDifferenceEntry({ discrepancyId: '54', agencyCode: 'A', platformAmount: d('5.00'), statementAmount: d('5.00'), accountingDate: DATE })).toThrow(/invariant broken/);
  });
});
