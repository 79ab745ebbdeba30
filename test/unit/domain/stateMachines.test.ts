import { TongfuError } from '../../../src/domain/errors';
import {
  canTransition,
  correctionTransition,
  NOTICE_EVENTS,
  NOTICE_MACHINE,
  NOTICE_STATUSES,
  PAYMENT_EVENTS,
  PAYMENT_MACHINE,
  PAYMENT_STATUSES,
  paymentEventFor,
  type StateMachine,
  transition,
} from '../../../src/domain/stateMachines';

const authority = { by: 'FIN-approver', reason: 'statement shows no such payment' };

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof TongfuError) {
      return error.code;
    }
    return `crash: ${(error as Error).message}`;
  }
  return 'no error';
}

/** Applies any event, ordinary or correction, the way the service must. */
function apply<S extends string, E extends string>(machine: StateMachine<S, E>, from: S | null, event: E): S {
  if (event === 'reversePayment') {
    return correctionTransition(machine as StateMachine<S, string>, from, 'reversePayment', authority);
  }
  return transition(machine as StateMachine<S, string>, from, event as Exclude<E, 'reversePayment'>);
}

describe.each([
  ['notice', NOTICE_MACHINE as StateMachine<string, string>],
  ['payment', PAYMENT_MACHINE as StateMachine<string, string>],
])('the %s machine', (_name, machine) => {
  it('has no duplicate (from, event) rows and only known statuses and events', () => {
    const keys = machine.rows.map((row) => `${row.from}|${row.event}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const row of machine.rows) {
      if (row.from !== null) {
        expect(machine.statuses).toContain(row.from);
      }
      expect(machine.statuses).toContain(row.to);
      expect(machine.events).toContain(row.event);
      expect(row.correction).toBe(row.event === 'reversePayment');
    }
  });

  it('walks every row', () => {
    for (const row of machine.rows) {
      expect(apply(machine, row.from, row.event)).toBe(row.to);
      if (!row.correction) {
        expect(canTransition(machine, row.from, row.event)).toBe(true);
      }
    }
  });

  it('refuses every other (state, event) pair with INVALID_STATE_TRANSITION', () => {
    const froms: (string | null)[] = [null, ...machine.statuses];
    let refusals = 0;
    for (const from of froms) {
      for (const event of machine.events) {
        if (machine.rows.some((row) => row.from === from && row.event === event)) {
          continue;
        }
        expect(codeOf(() => apply(machine, from, event))).toBe('INVALID_STATE_TRANSITION');
        if (event !== 'reversePayment') {
          expect(canTransition(machine, from, event)).toBe(false);
        }
        refusals += 1;
      }
    }
    expect(refusals + machine.rows.length).toBe(froms.length * machine.events.length);
  });

  it('every status can be reached from creation', () => {
    const reached = new Set<string>();
    const frontier: (string | null)[] = [null];
    while (frontier.length > 0) {
      const from = frontier.pop() as string | null;
      for (const row of machine.rows.filter((r) => r.from === from)) {
        if (!reached.has(row.to)) {
          reached.add(row.to);
          frontier.push(row.to);
        }
      }
    }
    expect([...reached].sort()).toEqual([...machine.statuses].sort());
  });

  it('never applies a correction through the ordinary function', () => {
    for (const row of machine.rows.filter((r) => r.correction)) {
      expect(codeOf(() => transition(machine, row.from, row.event))).toMatch(/^crash: invariant broken/);
      expect(canTransition(machine, row.from, row.event)).toBe(false);
    }
  });
});

describe('the notice table is docs/lifecycle.md §1', () => {
  it('has exactly these rows', () => {
    expect(NOTICE_MACHINE.rows.map((r) => `${r.from ?? '—'} --${r.event}--> ${r.to}${r.correction ? ' (correction)' : ''}`))
      .toEqual([
        '— --issue--> ISSUED',
        'ISSUED --applyPayment--> PAID',
        'ISSUED --void--> VOIDED',
        'ISSUED --expire--> EXPIRED',
        'EXPIRED --applyLatePayment--> PAID',
        'PAID --reversePayment--> ISSUED (correction)',
        'PAID --refundPartially--> PARTIALLY_REFUNDED',
        'PARTIALLY_REFUNDED --refundPartially--> PARTIALLY_REFUNDED',
        'PAID --refundFully--> REFUNDED',
        'PARTIALLY_REFUNDED --refundFully--> REFUNDED',
      ]);
    expect([...NOTICE_STATUSES]).toEqual(['ISSUED', 'PAID', 'VOIDED', 'EXPIRED', 'PARTIALLY_REFUNDED', 'REFUNDED']);
    expect(NOTICE_EVENTS).toContain('applyLatePayment');
  });

  it('voiding a paid notice is refused (the endpoint answers NOTICE_NOT_VOIDABLE)', () => {
    expect(canTransition(NOTICE_MACHINE, 'PAID', 'void')).toBe(false);
    expect(codeOf(() => transition(NOTICE_MACHINE, 'PAID', 'void'))).toBe('INVALID_STATE_TRANSITION');
    expect(codeOf(() => transition(NOTICE_MACHINE, 'VOIDED', 'void'))).toBe('INVALID_STATE_TRANSITION');
  });

  it('names the move in the error', () => {
    try {
      transition(NOTICE_MACHINE, 'VOIDED', 'applyPayment');
      throw new Error('not refused');
    } catch (error) {
      expect(error).toBeInstanceOf(TongfuError);
      expect((error as TongfuError).details).toEqual({ machine: 'notice', from: 'VOIDED', event: 'applyPayment' });
    }
  });
});

describe('the payment table is docs/lifecycle.md §1', () => {
  it('has exactly these rows', () => {
    expect(PAYMENT_MACHINE.rows.map((r) => `${r.from ?? '—'} --${r.event}--> ${r.to}${r.correction ? ' (correction)' : ''}`))
      .toEqual([
        '— --applyPosting--> SUCCEEDED',
        '— --recordUnapplied--> UNAPPLIED',
        'SUCCEEDED --reversePayment--> REVERSED (correction)',
        'UNAPPLIED --reversePayment--> REVERSED (correction)',
        'SUCCEEDED --refundPartially--> PARTIALLY_REFUNDED',
        'UNAPPLIED --refundPartially--> PARTIALLY_REFUNDED',
        'PARTIALLY_REFUNDED --refundPartially--> PARTIALLY_REFUNDED',
        'SUCCEEDED --refundFully--> REFUNDED',
        'UNAPPLIED --refundFully--> REFUNDED',
        'PARTIALLY_REFUNDED --refundFully--> REFUNDED',
      ]);
    expect([...PAYMENT_STATUSES]).toEqual(['SUCCEEDED', 'UNAPPLIED', 'REVERSED', 'PARTIALLY_REFUNDED', 'REFUNDED']);
    expect([...PAYMENT_EVENTS]).toEqual(['applyPosting', 'recordUnapplied', 'reversePayment', 'refundPartially', 'refundFully']);
  });

  it('a reversed payment cannot be refunded or reversed again', () => {
    expect(codeOf(() => transition(PAYMENT_MACHINE, 'REVERSED', 'refundFully'))).toBe('INVALID_STATE_TRANSITION');
    expect(codeOf(() => correctionTransition(PAYMENT_MACHINE, 'REVERSED', 'reversePayment', authority))).toBe(
      'INVALID_STATE_TRANSITION',
    );
  });
});

describe('correctionTransition', () => {
  it('reverses with who and why', () => {
    expect(correctionTransition(PAYMENT_MACHINE, 'SUCCEEDED', 'reversePayment', authority)).toBe('REVERSED');
    expect(correctionTransition(NOTICE_MACHINE, 'PAID', 'reversePayment', authority)).toBe('ISSUED');
  });

  it.each([
    ['no one', { by: '', reason: 'x' }, ['/by']],
    ['blank who', { by: '  ', reason: 'x' }, ['/by']],
    ['no reason', { by: 'FIN-1', reason: '' }, ['/reason']],
    ['blank reason', { by: 'FIN-1', reason: '\n\t' }, ['/reason']],
    ['neither', { by: '', reason: '' }, ['/by', '/reason']],
    ['missing fields', {} as { by: string; reason: string }, ['/by', '/reason']],
  ])('refuses %s', (_label, given, paths) => {
    try {
      correctionTransition(PAYMENT_MACHINE, 'SUCCEEDED', 'reversePayment', given);
      throw new Error('not refused');
    } catch (error) {
      expect(error).toBeInstanceOf(TongfuError);
      expect((error as TongfuError).code).toBe('VALIDATION_FAILED');
      const fields = (error as TongfuError).details?.fields as { path: string }[];
      expect(fields.map((f) => f.path)).toEqual(paths);
    }
  });

  it('refuses an ordinary event', () => {
    expect(
      codeOf(() =>
        correctionTransition(
          NOTICE_MACHINE as StateMachine<string, string>,
          'ISSUED',
          'void' as 'reversePayment',
          authority,
        ),
      ),
    ).toBe('INVALID_STATE_TRANSITION');
  });
});

describe('paymentEventFor', () => {
  it('applies to ISSUED and EXPIRED only', () => {
    expect(paymentEventFor('ISSUED')).toBe('applyPayment');
    expect(paymentEventFor('EXPIRED')).toBe('applyLatePayment');
    for (const status of NOTICE_STATUSES.filter((s) => s !== 'ISSUED' && s !== 'EXPIRED')) {
      expect(paymentEventFor(status)).toBeNull();
    }
    for (const status of NOTICE_STATUSES) {
      const event = paymentEventFor(status);
      if (event !== null) {
        expect(transition(NOTICE_MACHINE, status, event)).toBe('PAID');
      }
    }
  });
});
