import {
  findInstructionNo,
  INSTRUCTION_EVENTS,
  INSTRUCTION_STATUSES,
  instructionDeadline,
  instructionNo,
  instructionTransition,
  nextInstructionStatus,
  settledItemAmounts,
  statusesFrom,
} from '../../../src/domain/instructions';
import { Decimal } from '../../../src/domain/money';

/** The instruction state table, numbers, deadlines and the refund spread (docs/settlement.md §1). */

describe('the instruction state table', () => {
  it('has exactly the moves of docs/settlement.md §1 (and MISMATCHED from CREATED, and DETACH out of MISMATCHED)', () => {
    const moves: string[] = [];
    for (const from of [null, ...INSTRUCTION_STATUSES]) {
      for (const event of INSTRUCTION_EVENTS) {
        const to = nextInstructionStatus(from, event);
        if (to !== undefined) moves.push(`${from ?? '—'} ${event} ${to}`);
      }
    }
    expect(moves.sort()).toEqual(
      [
        '— create CREATED',
        'CREATED reportExecuted EXECUTED',
        'CREATED confirmByPosting CONFIRMED',
        'EXECUTED confirmByPosting CONFIRMED',
        'UNCONFIRMED confirmByPosting CONFIRMED',
        'CREATED mismatchByPosting MISMATCHED',
        'EXECUTED mismatchByPosting MISMATCHED',
        'UNCONFIRMED mismatchByPosting MISMATCHED',
        'CREATED reportFailed FAILED',
        'UNCONFIRMED reportFailed FAILED',
        'CREATED passDeadline UNCONFIRMED',
        'EXECUTED passDeadline UNCONFIRMED',
        'UNCONFIRMED reportExecuted EXECUTED',
        'CREATED cancel CANCELLED',
        'EXECUTED failByStatement FAILED',
        'UNCONFIRMED failByStatement FAILED',
        'MISMATCHED detachPosting UNCONFIRMED',
      ].sort(),
    );
  });

  it('refuses any other move with INVALID_STATE_TRANSITION; FAILED and CONFIRMED are final', () => {
    for (const event of INSTRUCTION_EVENTS) {
      expect(() => instructionTransition('FAILED', event)).toThrow(expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }));
      expect(() => instructionTransition('CONFIRMED', event)).toThrow(expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }));
    }
    expect(() => instructionTransition('EXECUTED', 'reportFailed')).toThrow(expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }));
    // An executor that never reported may still report failure once the deadline passed (decision 0221).
    expect(statusesFrom('reportFailed').sort()).toEqual(['CREATED', 'UNCONFIRMED']);
    expect(statusesFrom('passDeadline').sort()).toEqual(['CREATED', 'EXECUTED']);
    // A reversal cancels a refund's instruction only before anyone reported it executed (decision 0203).
    expect(statusesFrom('cancel')).toEqual(['CREATED']);
    expect(() => instructionTransition('CREATED', 'failByStatement')).toThrow(expect.objectContaining({ code: 'INVALID_STATE_TRANSITION' }));
    // Only finance's DETACH leads out of MISMATCHED, back to waiting for the instruction's own posting (decision 0195).
    expect(INSTRUCTION_EVENTS.filter((event) => nextInstructionStatus('MISMATCHED', event) !== undefined)).toEqual(['detachPosting']);
    expect(statusesFrom('detachPosting')).toEqual(['MISMATCHED']);
    expect(instructionTransition('MISMATCHED', 'detachPosting')).toBe('UNCONFIRMED');
  });
});

describe('numbers and deadlines', () => {
  it('numbers TF + S|R + the Shanghai creation date + 8 digits, findable in a memo', () => {
    const at = new Date('2026-11-20T16:30:00Z'); // 00:30 on the 21st in Shanghai
    expect(instructionNo('SETTLEMENT', at, 42)).toBe('TFS2026112100000042');
    expect(instructionNo('REFUND', at, 99_999_999)).toBe('TFR2026112199999999');
    expect(() => instructionNo('REFUND', at, 0)).toThrow();
    expect(findInstructionNo('货款 ref TFS2026112100000042/TFR2026112100000001')).toBe('TFS2026112100000042');
    expect(findInstructionNo('no number here TFS2026')).toBeUndefined();
  });

  it('sets the deadline at 16:00 Shanghai on the day after creation', () => {
    expect(instructionDeadline(new Date('2026-11-20T16:30:00Z')).toISOString()).toBe('2026-11-22T08:00:00.000Z');
    expect(instructionDeadline(new Date('2026-11-20T15:59:59Z')).toISOString()).toBe('2026-11-21T08:00:00.000Z');
    expect(instructionDeadline(new Date('2026-12-31T03:00:00Z')).toISOString()).toBe('2027-01-01T08:00:00.000Z');
  });
});

describe('settledItemAmounts', () => {
  const d = (values: string[]) => values.map((value) => ({ earned: new Decimal(value) }));
  const s = (values: Decimal[]) => values.map((value) => value.toFixed(2));

  it('settles what each item earned when nothing was refunded', () => {
    expect(s(settledItemAmounts(d(['50.00', '0.00', '12.34']), new Decimal(0)))).toEqual(['50.00', '0.00', '12.34']);
  });

  it('spreads a refund half-up in proportion, the remainder on the last earning item', () => {
    // 0.01 over 1:1 → 0.005 rounds up to 0.01 on the first, 0.00 on the last.
    expect(s(settledItemAmounts(d(['1.00', '1.00']), new Decimal('0.01')))).toEqual(['0.99', '1.00']);
    // 10.00 over 3 equal items: 3.33, 3.33, remainder 3.34.
    expect(s(settledItemAmounts(d(['10.00', '10.00', '10.00']), new Decimal('10.00')))).toEqual(['6.67', '6.67', '6.66']);
    // A zero item takes no part, even last.
    expect(s(settledItemAmounts(d(['10.00', '5.00', '0.00']), new Decimal('3.00')))).toEqual(['8.00', '4.00', '0.00']);
  });

  it('always sums to what was earned less the refund', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let round = 0; round < 500; round += 1) {
      const earned = Array.from({ length: 1 + Math.floor(random() * 6) }, () => new Decimal(Math.floor(random() * 100_000)).dividedBy(100));
      const total = earned.reduce((sum, value) => sum.plus(value), new Decimal(0));
      if (total.isZero()) continue;
      const refund = new Decimal(Math.floor(random() * Number(total.times(100).toFixed(0)))).dividedBy(100);
      const settled = settledItemAmounts(earned.map((value) => ({ earned: value })), refund);
      expect(settled.reduce((sum, value) => sum.plus(value), new Decimal(0)).toFixed(2)).toBe(total.minus(refund).toFixed(2));
    }
  });

  it('refuses a refund above what was earned', () => {
    expect(() => settledItemAmounts(d(['1.00']), new Decimal('1.01'))).toThrow();
  });
});
