import { CliIo, runCli } from '../../src/cli/main';
import type { Db } from '../../src/db/database';
import { findJournalEntry, insertJournalEntry } from '../../src/db/repositories/ledger';
import { reversalEntry } from '../../src/domain/ledger';
import { verifyLedger } from '../../src/services/ledger';
import { buildWorld, signedAs, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';
import { discrepancyIdsFor } from '../helpers/journalReferences';
import { insertStatement } from '../helpers/statements';

/**
 * The ledger (docs/lifecycle.md §4): the database itself refuses to edit it, and `ledger verify` — the
 * function the tests run after every scenario and the CLI command — finds each kind of break. Each
 * break is made by writing around the code, on a disposable database of its own.
 */

const NOW = shanghai('2026-11-20T09:00:00');

async function cli(argv: string[], databaseUrl: string): Promise<{ code: number; out: any[]; err: string[] }> {
  const out: unknown[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (value) => out.push(value), err: (message) => err.push(message) };
  // The CLI's business clock at the scenario's time, as the service's was.
  const code = await runCli(argv, io, { DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', TONGFU_CLOCK: `fixed:${NOW}` });
  return { code, out, err };
}

/** A service on a database of its own with a few payments of every kind posted through the API. */
async function ledgerWithPayments(): Promise<{ service: TestService; world: World; db: Db }> {
  const service = await startTestService({ businessNow: new Date(NOW) });
  const world = await buildWorld(service);
  const unit = signedAs(service, world.unit);
  const agency = signedAs(service, world.agency);
  const paid = await issueNotice(unit);
  const posted = [
    await agency('POST', '/v1/agency/payments', postingBody({ payCode: paid, amount: '50.00', paidAt: NOW })),
    await agency('POST', '/v1/agency/payments', postingBody({ payCode: paid, amount: '50.00', paidAt: NOW, fundsCaptured: true })),
    await agency('POST', '/v1/agency/payments', postingBody({ payCode: unknownPayCode(), amount: '7.50', paidAt: NOW, fundsCaptured: true })),
  ];
  expect(posted.map((response) => response.body.status)).toEqual(['SUCCEEDED', 'UNAPPLIED', 'UNAPPLIED']);
  return { service, world, db: service.database.db };
}

/**
 * Inserts an entry straight into the tables, bypassing the code (and its balance assertion): a
 * WRITE_OFF pointing at a real (superseded) discrepancy, so only the lines are wrong — and
 * `discrepancyCorrections` also sees a correction no resolution wrote.
 */
async function insertEntryAround(db: Db, lines: Array<{ account: string; side: 'DEBIT' | 'CREDIT'; amount: string }>, kind: 'WRITE_OFF' | 'AGENCY_REFUND_CONFIRMED' = 'WRITE_OFF'): Promise<void> {
  let cause: Record<string, unknown>;
  if (kind === 'WRITE_OFF') {
    const agencyCode = ((await db('parties').where({ role: 'agency' }).orderBy('id').first('code')) as { code: string }).code;
    const [discrepancyId] = await discrepancyIdsFor(db, agencyCode, 1);
    cause = { discrepancy_id: discrepancyId };
  } else {
    // A refund that no confirmation entry names yet: the entry claims it was paid back, and no refund says so.
    const refund = (await db.raw<{ rows: Array<{ id: string }> }>(`SELECT r.id::text AS id FROM refunds r WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.refund_id = r.id) ORDER BY r.id LIMIT 1`)).rows[0];
    cause = { refund_id: refund!.id };
  }
  const [entry] = await db('journal_entries').insert({ kind, ...cause, accounting_date: '2026-11-20', created_at: new Date() }).returning('id');
  await db('journal_lines').insert(lines.map((line, index) => ({ entry_id: (entry as { id: string }).id, line_no: index + 1, ...line })));
}

function brokenChecks(verification: Awaited<ReturnType<typeof verifyLedger>>): string[] {
  return verification.checks.filter((check) => !check.ok).map((check) => check.name).sort();
}

describe('the ledger cannot be edited', () => {
  let context: Awaited<ReturnType<typeof ledgerWithPayments>>;

  beforeAll(async () => {
    context = await ledgerWithPayments();
  });
  afterAll(async () => {
    await context.service.close();
  });

  it.each([
    ['UPDATE journal_entries', "UPDATE journal_entries SET kind = 'EDITED'"],
    ['DELETE journal_entries', 'DELETE FROM journal_entries'],
    ['TRUNCATE journal_entries', 'TRUNCATE journal_entries CASCADE'],
    ['UPDATE journal_lines', 'UPDATE journal_lines SET amount = amount + 1'],
    ['DELETE journal_lines', 'DELETE FROM journal_lines'],
    ['TRUNCATE journal_lines', 'TRUNCATE journal_lines'],
    ['UPDATE payments (amount)', 'UPDATE payments SET amount = amount + 1'],
    ['UPDATE payments (payCode)', "UPDATE payments SET pay_code = 'X'"],
    ['DELETE payments', 'DELETE FROM payments'],
    ['TRUNCATE payments', 'TRUNCATE payments CASCADE'],
    ['UPDATE payment_keys', "UPDATE payment_keys SET request_hash = NULL"],
    ['DELETE payment_keys', 'DELETE FROM payment_keys'],
    ['TRUNCATE payment_keys', 'TRUNCATE payment_keys'],
  ])('the database refuses %s', async (_name, sql) => {
    const before = await context.db.raw('SELECT (SELECT count(*) FROM journal_lines) AS lines, (SELECT sum(amount) FROM journal_lines) AS total, (SELECT count(*) FROM payments) AS payments, (SELECT count(*) FROM payment_keys) AS keys');
    await expect(context.db.raw(sql)).rejects.toMatchObject({ code: '23001', message: expect.stringMatching(/is append-only/) });
    const after = await context.db.raw('SELECT (SELECT count(*) FROM journal_lines) AS lines, (SELECT sum(amount) FROM journal_lines) AS total, (SELECT count(*) FROM payments) AS payments, (SELECT count(*) FROM payment_keys) AS keys');
    expect(after.rows).toEqual(before.rows);
    await expectLedgerVerified(context.db);
  });

  it('lets a payment change its status, and nothing else', async () => {
    const payment = await context.db('payments').where({ status: 'UNAPPLIED' }).first();
    await context.db('payments').where({ id: payment.id }).update({ status: 'REFUNDED', updated_at: new Date() });
    await context.db('payments').where({ id: payment.id }).update({ status: 'UNAPPLIED', updated_at: new Date() });
    await expect(context.db('payments').where({ id: payment.id }).update({ status: 'REFUNDED', business_date: '2026-11-21' })).rejects.toMatchObject({ code: '23001' });
    expect((await context.db('payments').where({ id: payment.id }).first()).business_date).toBe(payment.business_date);
  });
});

describe('ledger verify', () => {
  let context: Awaited<ReturnType<typeof ledgerWithPayments>>;

  beforeEach(async () => {
    context = await ledgerWithPayments();
  });
  afterEach(async () => {
    await context.service.close();
  });

  it('passes on a consistent ledger, and the CLI prints it as JSON and exits 0', async () => {
    const verification = await verifyLedger(context.db, { businessToday: '2026-11-20' });
    expect(verification.ok).toBe(true);
    expect(verification.totals).toEqual({ entries: 3, lines: 6, debit: '107.50', credit: '107.50' });
    expect(verification.checks.map((check) => check.name)).toEqual(['entriesBalance', 'trialBalance', 'agencyClearing', 'inTransit', 'receiving', 'settledPaymentsReconciled', 'instructionItemsResolve', 'reconciliationRowsResolve', 'statementLineIdentifiers', 'instructionsTie', 'settledShares', 'refundedShares', 'revenueByLevel', 'paidNotices', 'noticeLateFees', 'suspenseUnapplied', 'revenuePending', 'refundsConfirmed', 'paymentEntries', 'reversalsMirror', 'reversedPayments', 'discrepancyCorrections', 'paymentAgencies', 'unappliedRefunds', 'suspenseUnidentified', 'mismatchedInstructions', 'paymentKeys', 'paymentMatchedOnce', 'paymentsReconciled', 'closeChain']);
    const result = await cli(['ledger', 'verify'], context.service.database.connectionString);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([JSON.parse(JSON.stringify(verification))]);
  });

  it('catches an unbalanced entry written around the code, and the CLI exits 1', async () => {
    await insertEntryAround(context.db, [{ account: `agency_clearing:${context.world.agency.code}`, side: 'DEBIT', amount: '10.00' }]);
    const verification = await verifyLedger(context.db);
    expect(verification.ok).toBe(false);
    expect(brokenChecks(verification)).toEqual(['discrepancyCorrections', 'entriesBalance', 'trialBalance']);
    expect(verification.checks.find((check) => check.name === 'entriesBalance')?.breaks).toEqual([{ subject: expect.stringMatching(/^entry \d+$/), detail: { kind: 'WRITE_OFF', lines: 1, debit: '10.00', credit: '0' } }]);
    const result = await cli(['ledger', 'verify'], context.service.database.connectionString);
    expect(result.code).toBe(1);
    expect(result.out[0]).toMatchObject({ ok: false });
    expect(result.err.join('\n')).toMatch(/entriesBalance/);
  });

  it('catches a statement line whose agencyTxnId or payCode is not an identifier; the table itself refuses only a wrong length', async () => {
    // The loader refuses such lines; the table checks lengths only (migration 20261205000100), so
    // they are written around the loader here.
    const lines = [
      { agencyTxnId: 'OK-1', payCode: unknownPayCode(), amount: '1.00' },
      { agencyTxnId: 'R 2/x', payCode: unknownPayCode(), amount: '1.00' },
      { agencyTxnId: 'OK-3', payCode: '缴款码0001', amount: '1.00' },
    ];
    const statement = await insertStatement(context.db, { agencyCode: context.world.agency.code, businessDate: '2026-11-19', lines });
    const verification = await verifyLedger(context.db);
    expect(brokenChecks(verification)).toEqual(['statementLineIdentifiers']);
    expect(verification.checks.find((check) => check.name === 'statementLineIdentifiers')?.breaks).toEqual([
      { subject: `statement line ${statement.id}/3`, detail: { agencyTxnId: 'R 2/x', payCode: lines[1]!.payCode } },
      { subject: `statement line ${statement.id}/4`, detail: { agencyTxnId: 'OK-3', payCode: '缴款码0001' } },
    ]);
    for (const agencyTxnId of ['', 'X'.repeat(65)]) {
      await expect(context.db('agency_statement_lines').insert({ statement_id: statement.id, line_no: 99, kind: 'PAY', agency_txn_id: agencyTxnId, pay_code: 'P1', amount: '1.00', occurred_at: new Date(), channel: 'MOBILE' }))
        .rejects.toMatchObject({ code: '23514', constraint: 'agency_statement_lines_agency_txn_id_check' });
    }
    await expect(context.db('agency_statement_lines').insert({ statement_id: statement.id, line_no: 99, kind: 'PAY', agency_txn_id: 'OK-99', pay_code: '', amount: '1.00', occurred_at: new Date(), channel: 'MOBILE' }))
      .rejects.toMatchObject({ code: '23514', constraint: 'agency_statement_lines_pay_code_check' });
  });

  it('catches a discrepancy or a match that names a row that does not exist (they carry no foreign keys, decisions 0141 and 0235)', async () => {
    const statement = await insertStatement(context.db, { agencyCode: context.world.agency.code, businessDate: '2026-11-19', lines: [{ agencyTxnId: 'OK-1', payCode: unknownPayCode(), amount: '1.00' }] });
    const agency = (await context.db('parties').where({ code: context.world.agency.code }).first('id')) as { id: string };
    const missing = '999999999';
    await context.db('reconciliation_discrepancies').insert({
      discrepancy_id: 'D-DANGLING', agency_party_id: agency.id, agency_code: context.world.agency.code, business_date: '2026-11-19', type: 'SHORTAGE', status: 'OPEN',
      agency_txn_id: 'GONE-1', payment_id: missing, platform_pay_code: 'X', platform_amount: '1.00', statement_id: statement.id, statement_line_no: 2,
      first_run_id: missing, last_run_id: missing, created_at: new Date(), updated_at: new Date(),
    });
    await context.db('statement_matches').insert({ payment_id: missing, statement_id: statement.id, line_no: 9, run_id: missing, backfilled: false, matched_at: new Date() });
    const verification = await verifyLedger(context.db);
    expect(brokenChecks(verification)).toContain('reconciliationRowsResolve');
    expect(verification.checks.find((check) => check.name === 'reconciliationRowsResolve')?.breaks).toEqual([
      { subject: `match of statement line ${statement.id}/9`, detail: { payment: false, line: false, run: false } },
      { subject: 'discrepancy D-DANGLING', detail: { agency: true, payment: false, statement: true, firstRun: false, lastRun: false } },
    ]);
  });

  it('catches a notice whose paid amount is not its payment’s', async () => {
    await context.db('notices').where({ status: 'PAID' }).update({ paid_amount: '51.00' });
    expect(brokenChecks(await verifyLedger(context.db))).toEqual(['noticeLateFees', 'paidNotices']);
  });

  it('catches a standing applied payment whose notice is not paid', async () => {
    const notice = await context.db('notices').where({ status: 'PAID' }).first();
    await context.db('notices').where({ id: notice.id }).update({ status: 'ISSUED', paid_at: null, paid_amount: null, late_fee_paid: null, receipt_no: null });
    const verification = await verifyLedger(context.db);
    expect(brokenChecks(verification)).toEqual(['paidNotices']);
  });

  it('catches balanced entries that move money where no payment says it is', async () => {
    // Unapplied money quietly moved out of suspense into revenue: balanced, and wrong.
    await insertEntryAround(context.db, [
      { account: `suspense:unapplied:${context.world.agency.code}`, side: 'DEBIT', amount: '7.50' },
      { account: `revenue_pending:${context.world.fiscalAccountNo}`, side: 'CREDIT', amount: '7.50' },
    ], 'AGENCY_REFUND_CONFIRMED');
    expect(brokenChecks(await verifyLedger(context.db))).toEqual(['revenuePending', 'suspenseUnapplied']);
  });

  it('catches pending revenue below zero even when the write-offs account for it (decision 0219)', async () => {
    // A write-off of more than the account still has pending — what writing off a settled
    // payment did: the corrections make the expected balance agree, the sign does not.
    await insertEntryAround(context.db, [
      { account: `revenue_pending:${context.world.fiscalAccountNo}`, side: 'DEBIT', amount: '80.00' },
      { account: `agency_clearing:${context.world.agency.code}`, side: 'CREDIT', amount: '80.00' },
    ]);
    const verification = await verifyLedger(context.db);
    expect(brokenChecks(verification)).toEqual(['discrepancyCorrections', 'revenuePending']);
    expect(verification.checks.find((check) => check.name === 'revenuePending')?.breaks).toEqual([{ subject: `account ${context.world.fiscalAccountNo}`, detail: { ledger: '-30.00', expected: '-30.00' } }]);
  });

  it('catches a payment without its posting entry, key or refund obligation', async () => {
    const agency = await context.db('parties').where({ app_id: context.world.agency.appId }).first();
    await context.db('payments').insert({
      payment_id: 'P-INSERTED-AROUND',
      agency_party_id: agency.id,
      agency_code: agency.code,
      agency_txn_id: 'AROUND-1',
      pay_code: 'X',
      amount: '3.00',
      paid_at: new Date(NOW),
      business_date: '2026-11-20',
      channel: 'OTHER',
      funds_captured: true,
      status: 'UNAPPLIED',
      unapplied_reason: 'PAY_CODE_INVALID',
      created_at: new Date(),
      updated_at: new Date(),
    });
    expect(brokenChecks(await verifyLedger(context.db))).toEqual(['agencyClearing', 'paymentEntries', 'paymentKeys', 'suspenseUnapplied', 'unappliedRefunds']);
  });

  it('passes on a payment reversed through the journal writer once the payment and its notice say so, and catches the mirror alone', async () => {
    const payment = await context.db('payments').where({ status: 'SUCCEEDED' }).first();
    const posting = await context.db('journal_entries').where({ payment_id: payment.id }).first('id');
    await context.db.transaction(async (trx) => {
      const original = await findJournalEntry(trx, posting.id);
      await insertJournalEntry(trx, reversalEntry({ original: original!, accountingDate: '2026-11-21' }), new Date(NOW));
    });
    // The mirror takes the payment's money out of the clearing and pending balances, but the
    // payment still stands.
    expect(brokenChecks(await verifyLedger(context.db))).toEqual(['agencyClearing', 'revenuePending', 'reversedPayments']);
    await context.db('payments').where({ id: payment.id }).update({ status: 'REVERSED', updated_at: new Date(NOW) });
    await context.db('notices').where({ id: payment.notice_id }).update({ status: 'ISSUED', paid_at: null, paid_amount: null, late_fee_paid: null, receipt_no: null });
    await expectLedgerVerified(context.db);
  });

  it('catches a reversal that does not mirror its entry', async () => {
    const payment = await context.db('payments').where({ status: 'UNAPPLIED' }).orderBy('id', 'desc').first();
    const posting = await context.db('journal_entries').where({ payment_id: payment.id }).first('id');
    await context.db('payments').where({ id: payment.id }).update({ status: 'REVERSED', updated_at: new Date(NOW) });
    // Written around the code: the original's lines again, sides not swapped.
    const [entry] = await context.db('journal_entries').insert({ kind: 'REVERSAL', payment_id: payment.id, reverses_entry_id: posting.id, accounting_date: '2026-11-21', created_at: new Date(NOW) }).returning('id');
    const lines = await context.db('journal_lines').where({ entry_id: posting.id }).orderBy('line_no');
    await context.db('journal_lines').insert(lines.map((line) => ({ ...line, entry_id: (entry as { id: string }).id })));
    const verification = await verifyLedger(context.db);
    expect(brokenChecks(verification)).toEqual(['agencyClearing', 'reversalsMirror', 'suspenseUnapplied']);
    expect(verification.checks.find((check) => check.name === 'reversalsMirror')?.breaks).toEqual([{ subject: `entry ${(entry as { id: string }).id}`, detail: { reverses: String(posting.id), kind: 'PAYMENT_UNAPPLIED', lines: 2, originalLines: 2 } }]);
  });

  it('catches a key whose payCode or amount is not its payment’s (decision 0241)', async () => {
    const payment = await context.db('payments').where({ status: 'SUCCEEDED' }).first();
    await context.db.raw('ALTER TABLE payment_keys DISABLE TRIGGER payment_keys_append_only');
    await context.db('payment_keys').where({ payment_id: payment.id }).update({ amount: '0.01' });
    const other = await context.db('payments').whereNot({ id: payment.id }).first();
    await context.db('payment_keys').where({ payment_id: other.id }).update({ pay_code: `${String(other.pay_code)}0` });
    await context.db.raw('ALTER TABLE payment_keys ENABLE TRIGGER payment_keys_append_only');
    const verification = await verifyLedger(context.db);
    expect(brokenChecks(verification)).toEqual(['paymentKeys']);
    expect(verification.checks.find((check) => check.name === 'paymentKeys')?.breaks.map((found) => found.subject).sort()).toEqual([`payment ${String(payment.payment_id)}`, `payment ${String(other.payment_id)}`].sort());
  });

  it('catches a payment that names no agency, or the wrong one', async () => {
    const bank = await context.db('parties').where({ role: 'bank' }).first('id');
    await context.db.raw('ALTER TABLE payments DISABLE TRIGGER payments_append_only');
    await context.db('payments').where({ status: 'SUCCEEDED' }).update({ agency_party_id: bank.id });
    await context.db.raw('ALTER TABLE payments ENABLE TRIGGER payments_append_only');
    expect(brokenChecks(await verifyLedger(context.db))).toEqual(['paymentAgencies', 'paymentKeys']);
  });
});
