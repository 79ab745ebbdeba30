import { TongfuError } from '../../../src/domain/errors';
import { Decimal } from '../../../src/domain/money';
import { writeOffEntry } from '../../../src/domain/ledger';
import {
  decideTransition,
  DISCREPANCY_ACTIONS,
  DISCREPANCY_STATUSES,
  DISCREPANCY_TYPES,
  discrepancyActionRefusal,
  PROPOSAL_ACTIONS,
  PROPOSAL_MACHINE,
  PROPOSAL_STATUSES,
} from '../../../src/domain/proposals';

// The maker-checker tables (docs/reconciliation.md §3, decision 0115/0117), walked row by row.

describe('the proposal state machine', () => {
  it('decides a pending proposal once, either way', () => {
    expect(PROPOSAL_MACHINE).toEqual([
      { from: 'PENDING', event: 'approve', to: 'APPROVED' },
      { from: 'PENDING', event: 'reject', to: 'REJECTED' },
    ]);
    expect(decideTransition('PENDING', 'approve')).toBe('APPROVED');
    expect(decideTransition('PENDING', 'reject')).toBe('REJECTED');
  });

  it.each(PROPOSAL_STATUSES.filter((status) => status !== 'PENDING').flatMap((status) => [[status, 'approve'], [status, 'reject']] as const))(
    'a %s proposal cannot %s again: INVALID_STATE_TRANSITION',
    (from, event) => {
      expect(() => decideTransition(from, event)).toThrow(TongfuError);
      try {
        decideTransition(from, event);
      } catch (error) {
        expect((error as TongfuError).code).toBe('INVALID_STATE_TRANSITION');
      }
    },
  );
});

describe('which action resolves which discrepancy', () => {
  const allowed: Record<string, string[]> = {
    OVERAGE: [],
    SHORTAGE: ['REVERSE_PAYMENT', 'ACCEPT_PLATFORM', 'WRITE_OFF'],
    AMOUNT_MISMATCH: ['ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF'],
    PAY_CODE_MISMATCH: ['ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF'],
    REFUND_MISMATCH: ['ACCEPT_STATEMENT', 'WRITE_OFF'],
  };

  it('is the table of docs/reconciliation.md §3', () => {
    expect(DISCREPANCY_ACTIONS).toEqual(allowed);
  });

  const cases = DISCREPANCY_TYPES.flatMap((type) => DISCREPANCY_STATUSES.flatMap((status) => PROPOSAL_ACTIONS.map((action) => [type, status, action] as const)));
  it.each(cases)('%s in %s by %s', (type, status, action) => {
    const applies = status === 'OPEN' && (allowed[type] as string[]).includes(action);
    expect(discrepancyActionRefusal(type, status, action) === null).toBe(applies);
  });

  it('says why, in a sentence whatever the type or status', () => {
    expect(discrepancyActionRefusal('AMOUNT_MISMATCH', 'AUTO_RESOLVED', 'WRITE_OFF')).toBe('a discrepancy that is AUTO_RESOLVED is not resolved by finance');
    expect(discrepancyActionRefusal('OVERAGE', 'OPEN', 'ACCEPT_PLATFORM')).toBe('ACCEPT_PLATFORM does not resolve a discrepancy of type OVERAGE');
  });
});

describe('a write-off of unapplied money', () => {
  it('debits the agency\'s unapplied suspense and credits its clearing account', () => {
    const entry = writeOffEntry({ discrepancyId: '7', agencyCode: 'AG', shortfall: [], unapplied: new Decimal('12.34'), accountingDate: '2026-11-20' });
    expect(entry.kind).toBe('WRITE_OFF');
    expect(entry.lines.map((line) => [line.account, line.side, line.amount.toFixed(2)])).toEqual([
      ['suspense:unapplied:AG', 'DEBIT', '12.34'],
      ['agency_clearing:AG', 'CREDIT', '12.34'],
    ]);
  });

  it('refuses to write off nothing', () => {
    expect(() => writeOffEntry({ discrepancyId: '7', agencyCode: 'AG', shortfall: [], accountingDate: '2026-11-20' })).toThrow(/invariant broken/);
  });
});
