import { Decimal } from '../../../src/domain/money';
import {
  assertRefundWithinPaid,
  moneyWhereabouts,
  nextRefundStatus,
  REFUND_EVENTS,
  REFUND_STATUSES,
  refundedEvent,
  refundExecutor,
  refundStatusesFrom,
  refundTransition,
} from '../../../src/domain/refunds';

/** The refund state table, REFUND_EXCEEDS_PAID and the executor rule (docs/settlement.md §3). */

describe('the refund state table', () => {
  it('has exactly the moves of docs/settlement.md §3', () => {
    const moves: string[] = [];
    for (const from of [null, ...REFUND_STATUSES]) {
      for (const event of REFUND_EVENTS) {
        const to = nextRefundStatus(from, event);
        if (to !== undefined) moves.push(`${from ?? '—'} ${event} ${to}`);
      }
    }
    expect(moves.sort()).toEqual(
      [
        '— request REQUESTED',
        '— recordUnapplied APPROVED',
        'REQUESTED approve APPROVED',
        'REQUESTED reject REJECTED',
        'APPROVED instruct INSTRUCTED',
        'INSTRUCTED confirm SUCCEEDED',
        'INSTRUCTED fail FAILED',
        'FAILED reissue INSTRUCTED',
        'APPROVED cancel CANCELLED',
        'INSTRUCTED cancel CANCELLED',
      ].sort(),
    );
  });

  it('refuses every other move with INVALID_STATE_TRANSITION; SUCCEEDED, REJECTED and CANCELLED are final', () => {
    for (const event of REFUND_EVENTS) {
      for (const final of ['SUCCEEDED', 'REJECTED', 'CANCELLED'] as const) {
        expect(() => refundTransition(final, event)).toThrow(expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }));
      }
    }
    expect(() => refundTransition('REQUESTED', 'instruct')).toThrow(expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }));
    expect(refundTransition('REQUESTED', 'approve')).toBe('APPROVED');
    expect(refundStatusesFrom('cancel').sort()).toEqual(['APPROVED', 'INSTRUCTED']);
  });
});

describe('REFUND_EXCEEDS_PAID', () => {
  const paid = new Decimal('100.00');

  it('allows up to the paid amount less the standing refunds', () => {
    expect(assertRefundWithinPaid({ paid, amount: new Decimal('100.00'), others: [] }).toFixed(2)).toBe('0.00');
    expect(assertRefundWithinPaid({ paid, amount: new Decimal('40.00'), others: [{ status: 'SUCCEEDED', amount: '60.00' }] }).toFixed(2)).toBe('0.00');
  });

  it('counts every refund not REJECTED, FAILED or CANCELLED', () => {
    for (const status of ['REQUESTED', 'APPROVED', 'INSTRUCTED', 'SUCCEEDED'] as const) {
      expect(() => assertRefundWithinPaid({ paid, amount: new Decimal('40.01'), others: [{ status, amount: '60.00' }] })).toThrow(expect.objectContaining({ code: 'REFUND_EXCEEDS_PAID' }));
    }
    for (const status of ['REJECTED', 'FAILED', 'CANCELLED'] as const) {
      expect(assertRefundWithinPaid({ paid, amount: new Decimal('100.00'), others: [{ status, amount: '60.00' }] }).toFixed(2)).toBe('0.00');
    }
  });

  it('leaves out what finance wrote off of the payment, and names it (decision 0219)', () => {
    expect(assertRefundWithinPaid({ paid, amount: new Decimal('30.00'), others: [{ status: 'SUCCEEDED', amount: '20.00' }], writtenOff: '50.00' }).toFixed(2)).toBe('0.00');
    expect(() => assertRefundWithinPaid({ paid, amount: new Decimal('30.01'), others: [{ status: 'SUCCEEDED', amount: '20.00' }], writtenOff: '50.00' })).toThrow(
      expect.objectContaining({ code: 'REFUND_EXCEEDS_PAID', message: expect.stringContaining('finance wrote off 50.00 of the payment'), details: { paid: '100.00', refunding: '20.00', writtenOff: '50.00', refundable: '30.00' } }),
    );
    expect(() => assertRefundWithinPaid({ paid, amount: new Decimal('0.01'), others: [], writtenOff: '100.00' })).toThrow(expect.objectContaining({ details: expect.objectContaining({ refundable: '0.00' }) }));
  });

  it('refuses a single refund above the paid amount, by one fen', () => {
    expect(() => assertRefundWithinPaid({ paid, amount: new Decimal('100.01'), others: [] })).toThrow(expect.objectContaining({ code: 'REFUND_EXCEEDS_PAID' }));
  });
});

describe('the executor rule', () => {
  it('is the agency in clearing, the receiving bank once every settlement is confirmed, and waits in between', () => {
    expect(refundExecutor(moneyWhereabouts([]))).toBe('AGENCY');
    expect(refundExecutor(moneyWhereabouts(['CREATED']))).toBe('WAIT');
    expect(refundExecutor(moneyWhereabouts(['EXECUTED', 'CONFIRMED']))).toBe('WAIT');
    expect(refundExecutor(moneyWhereabouts(['CONFIRMED', 'CONFIRMED']))).toBe('RECEIVING_BANK');
  });

  it('moves payment and notice fully once the refunds reach the paid amount', () => {
    expect(refundedEvent(new Decimal('10.00'), new Decimal('9.99'))).toBe('refundPartially');
    expect(refundedEvent(new Decimal('10.00'), new Decimal('10.00'))).toBe('refundFully');
    expect(() => refundedEvent(new Decimal('10.00'), new Decimal('10.01'))).toThrow();
  });
});
