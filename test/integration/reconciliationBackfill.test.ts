import pino from 'pino';
import { addDays } from '../../src/domain/businessDate';
import type { Db } from '../../src/db/database';
import { createBackfillOverages } from '../../src/services/reconciliation/backfill';
import { ReceiptSerialAllocator, ReceiptService } from '../../src/services/receipts';
import type { BackfillOverages } from '../../src/services/reconciliation/backfillContract';
import { buildWorld, signedAs, type SignedCall, type World } from '../helpers/builders';
import { badCheckDigits, expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { receiptDependencies } from '../helpers/receipts';
import { insertStatement, type PayLine, type StatementRows } from '../helpers/statementRows';
import { startTestService, type TestResponse, type TestService } from '../helpers/testService';

/**
 * Reconciliation's OVERAGE backfill (docs/reconciliation.md §2, contracts/decisions/0110) on a real
 * PostgreSQL: each line with no payment becomes the payment a captured-funds posting of it would
 * have been, matched at once, with an AUTO_RESOLVED OVERAGE discrepancy; set-based, idempotent,
 * and correct against online postings racing it.
 */

const PAID_AT = shanghai('2026-11-20T09:00:00');
const T = '2026-11-20';
const RUN_AT = new Date(shanghai('2026-11-21T02:00:00'));

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let db: Db;
let backfill: BackfillOverages;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(PAID_AT) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  db = service.database.db;
  const services = service.runtime.services;
  backfill = createBackfillOverages({ receipts: services.receipts, clocks: { real: { now: () => new Date() } }, log: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await service.close();
});

/** One statement per business date (a second for a date would have to supersede the first): T, then the days before it. */
let statements = 0;
async function statementOf(lines: PayLine[]): Promise<StatementRows> {
  const businessDate = addDays(T, -statements);
  statements += 1;
  return insertStatement(db, { agencyCode: world.agency.code, businessDate, lines });
}

function run(rows: StatementRows, now = RUN_AT) {
  return db.transaction((trx) => backfill(trx, { agencyPartyId: rows.agencyPartyId, agencyCode: rows.agencyCode, businessDate: rows.businessDate, statementRowId: rows.statementRowId, runRowId: rows.runRowId, now }));
}

function line(payCode: string, amount: string, fields: Partial<PayLine> = {}): PayLine {
  return { agencyTxnId: newTxnId('BF'), payCode, amount, paidAt: PAID_AT, ...fields };
}

async function paymentOf(agencyTxnId: string) {
  return db('payments').where({ agency_txn_id: agencyTxnId }).first();
}

describe('a line with no payment', () => {
  it('becomes a SUCCEEDED payment of date T with its receipt, journal entry, events, match and AUTO_RESOLVED OVERAGE discrepancy', async () => {
    const payCode = await issueNotice(unit);
    const overage = line(payCode, '50.00', { channel: 'COUNTER' });
    const rows = await statementOf([overage]);

    expect(await run(rows)).toEqual({ count: 1, amount: '50.00' });

    const payment = await paymentOf(overage.agencyTxnId);
    expect(payment).toMatchObject({ status: 'SUCCEEDED', unapplied_reason: null, business_date: rows.businessDate, channel: 'COUNTER', funds_captured: true, amount: '50.00', pay_code: payCode, created_at: RUN_AT });
    expect(payment.paid_at).toEqual(new Date(PAID_AT));
    const key = await db('payment_keys').where({ agency_txn_id: overage.agencyTxnId }).first();
    expect(key).toMatchObject({ request_hash: null, payment_id: payment.id });

    const notice = await db('notices').where({ pay_code: payCode }).first();
    expect(notice).toMatchObject({ status: 'PAID', paid_amount: '50.00', receipt_no: payment.receipt_no, late_fee_paid: '0.00' });
    const receipt = await db('receipts').where({ agency_txn_id: overage.agencyTxnId }).first();
    expect(receipt).toMatchObject({ receipt_no: payment.receipt_no, notice_id: notice.id, paid_amount: '50.00' });
    expect(await service.runtime.services.receipts.verifyStored({ signedBytes: receipt.content, signature: receipt.signature, keyId: receipt.key_id })).toBe(true);
    expect(JSON.parse(receipt.content.toString('utf8'))).toMatchObject({ agencyTxnId: overage.agencyTxnId, payCode, paidAmount: '50.00', paidAt: PAID_AT });

    const entries = await db('journal_entries').where({ payment_id: payment.id });
    expect(entries.map((entry) => ({ kind: entry.kind, accounting_date: entry.accounting_date }))).toEqual([{ kind: 'PAYMENT_SUCCEEDED', accounting_date: '2026-11-21' }]);
    const lines = await db('journal_lines').where({ entry_id: entries[0].id }).orderBy('line_no');
    expect(lines.map((l) => [l.account, l.side, l.amount])).toEqual([
      [`agency_clearing:${world.agency.code}`, 'DEBIT', '50.00'],
      [expect.stringMatching(/^revenue_pending:/), 'CREDIT', '50.00'],
    ]);

    const events = (await db('events').where({ type: 'payment.succeeded' })).filter((event) => event.data.payment.agencyTxnId === overage.agencyTxnId);
    const parties = await db('parties').whereIn('code', [world.unit.code, world.agency.code]).select('id');
    expect(events.map((event) => String(event.recipient_party_id)).sort()).toEqual(parties.map((party) => String(party.id)).sort());
    expect(events[0].data).toEqual({
      payment: expect.objectContaining({ paymentId: payment.payment_id, agencyTxnId: overage.agencyTxnId, status: 'SUCCEEDED', businessDate: rows.businessDate, receiptNo: payment.receipt_no, amount: '50.00', paidAt: PAID_AT }),
      notice: { payCode, bizRef: notice.biz_ref, status: 'PAID' },
      receiptNo: payment.receipt_no,
    });

    const match = await db('statement_matches').where({ payment_id: payment.id }).first();
    expect(match).toMatchObject({ statement_id: rows.statementRowId, line_no: 2, run_id: rows.runRowId, backfilled: true, released_at: null });
    const discrepancy = await db('reconciliation_discrepancies').where({ payment_id: payment.id }).first();
    expect(discrepancy).toMatchObject({
      type: 'OVERAGE',
      status: 'AUTO_RESOLVED',
      agency_txn_id: overage.agencyTxnId,
      business_date: rows.businessDate,
      statement_id: rows.statementRowId,
      statement_line_no: 2,
      statement_pay_code: payCode,
      statement_amount: '50.00',
      platform_pay_code: null,
      platform_amount: null,
      first_run_id: rows.runRowId,
      last_run_id: rows.runRowId,
      resolved_at: RUN_AT,
    });
    expect(discrepancy.discrepancy_id).toMatch(/^D[A-Za-z0-9_-]+$/);
    await expectLedgerVerified(db);
  });

  it('is UNAPPLIED with the posting’s reason and a refund obligation when it does not apply', async () => {
    const voided = await issueNotice(unit);
    expect((await unit('POST', `/v1/unit/notices/${voided}/void`, { reason: '开错' })).status).toBe(200);
    const paid = await issueNotice(unit);
    expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode: paid, amount: '50.00', paidAt: PAID_AT }))).status).toBe(201);
    const mismatched = await issueNotice(unit);
    const invalid = badCheckDigits(await issueNotice(unit));
    const cases: Array<[PayLine, string]> = [
      [line('NOT-A-CODE', '1.00'), 'PAY_CODE_INVALID'],
      [line(invalid, '50.00'), 'PAY_CODE_INVALID'],
      [line(unknownPayCode(), '9.99'), 'NOTICE_NOT_FOUND'],
      [line(voided, '50.00'), 'NOTICE_VOIDED'],
      [line(mismatched, '49.99'), 'AMOUNT_MISMATCH'],
      [line(paid, '50.00'), 'NOTICE_ALREADY_PAID'],
    ];
    const rows = await statementOf(cases.map(([overage]) => overage));

    expect(await run(rows)).toEqual({ count: 6, amount: '210.98' });

    const financeIds = (await db('parties').where({ role: 'finance' }).select('id')).map((party) => String(party.id)).sort();
    for (const [overage, reason] of cases) {
      const payment = await paymentOf(overage.agencyTxnId);
      expect({ reason, status: payment.status, unapplied_reason: payment.unapplied_reason, pay_code: payment.pay_code, receipt_no: payment.receipt_no }).toEqual({ reason, status: 'UNAPPLIED', unapplied_reason: reason, pay_code: overage.payCode, receipt_no: null });
      const refund = await db('refunds').where({ payment_id: payment.id }).first();
      expect(refund).toMatchObject({ status: 'APPROVED', approval: 'AUTO_POLICY', reason, amount: overage.amount, refund_no: null });
      const entries = await db('journal_entries').where({ payment_id: payment.id });
      expect(entries.map((entry) => entry.kind)).toEqual(['PAYMENT_UNAPPLIED']);
      const events = (await db('events').where({ type: 'payment.unapplied' })).filter((event) => event.data.payment.agencyTxnId === overage.agencyTxnId);
      expect(events.map((event) => String(event.recipient_party_id)).sort()).toEqual([rows.agencyPartyId, ...financeIds].sort());
      expect(events[0].data.refund).toEqual({ refundId: refund.refund_id, status: 'APPROVED', amount: overage.amount });
      expect(await db('reconciliation_discrepancies').where({ payment_id: payment.id, type: 'OVERAGE', status: 'AUTO_RESOLVED' })).toHaveLength(1);
      expect(await db('statement_matches').where({ payment_id: payment.id, backfilled: true })).toHaveLength(1);
    }
    expect(await db('notices').where({ pay_code: voided }).first()).toMatchObject({ status: 'VOIDED' });
    expect(await db('notices').where({ pay_code: mismatched }).first()).toMatchObject({ status: 'ISSUED' });
    expect(await db('receipts').whereIn('agency_txn_id', cases.map(([overage]) => overage.agencyTxnId))).toHaveLength(0);
    await expectLedgerVerified(db);
  });

  it('two lines for one notice: the first applies, the second is UNAPPLIED NOTICE_ALREADY_PAID', async () => {
    const payCode = await issueNotice(unit);
    const first = line(payCode, '50.00');
    const second = line(payCode, '50.00');
    const rows = await statementOf([first, second]);
    expect(await run(rows)).toEqual({ count: 2, amount: '100.00' });
    expect(await paymentOf(first.agencyTxnId)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await paymentOf(second.agencyTxnId)).toMatchObject({ status: 'UNAPPLIED', unapplied_reason: 'NOTICE_ALREADY_PAID' });
    await expectLedgerVerified(db);
  });

  it('in pages of a few lines: every line is backfilled once, and a notice paid on an earlier page is NOTICE_ALREADY_PAID on a later one', async () => {
    const paged = createBackfillOverages({ receipts: service.runtime.services.receipts, clocks: { real: { now: () => new Date() } }, log: pino({ level: 'silent' }) }, { pageLines: 2 });
    // Pages [1, 2], [3, 4], [5]: `shared` is paid on page 1 and named again on the next page, which
    // is read before page 1 is written (decision 0186); `sharedLater` is named again two pages on.
    const shared = await issueNotice(unit);
    const sharedLater = await issueNotice(unit);
    const overages = [line(shared, '50.00'), line(sharedLater, '50.00'), line(unknownPayCode(), '5.00'), line(shared, '50.00'), line(sharedLater, '50.00')];
    const rows = await statementOf(overages);
    const call = () => db.transaction((trx) => paged(trx, { agencyPartyId: rows.agencyPartyId, agencyCode: rows.agencyCode, businessDate: rows.businessDate, statementRowId: rows.statementRowId, runRowId: rows.runRowId, now: RUN_AT }));
    expect(await call()).toEqual({ count: 5, amount: '205.00' });
    const statuses = await Promise.all(overages.map(async (overage) => (await paymentOf(overage.agencyTxnId)) as { status: string; unapplied_reason: string | null }));
    expect(statuses.map((payment) => [payment.status, payment.unapplied_reason])).toEqual([
      ['SUCCEEDED', null],
      ['SUCCEEDED', null],
      ['UNAPPLIED', 'NOTICE_NOT_FOUND'],
      ['UNAPPLIED', 'NOTICE_ALREADY_PAID'],
      ['UNAPPLIED', 'NOTICE_ALREADY_PAID'],
    ]);
    expect(await call()).toEqual({ count: 0, amount: '0.00' });
    expect(await db('statement_matches').where({ statement_id: rows.statementRowId })).toHaveLength(5);
    await expectLedgerVerified(db);
  });

  it('given the run\'s candidates, reads them a page at a time and skips a page whose lines all got keys meanwhile (decision 0239)', async () => {
    const paged = createBackfillOverages({ receipts: service.runtime.services.receipts, clocks: { real: { now: () => new Date() } }, log: pino({ level: 'silent' }) }, { pageLines: 2 });
    const overages = [1, 2, 3, 4, 5].map(() => line(unknownPayCode(), '5.00'));
    const rows = await statementOf(overages);
    // Lines 2 and 3 — the first page of candidates — are posted online after the classification.
    for (const posted of overages.slice(0, 2)) {
      expect((await agency('POST', '/v1/agency/payments', postingBody({ agencyTxnId: posted.agencyTxnId, payCode: posted.payCode, amount: posted.amount, paidAt: PAID_AT, fundsCaptured: true }))).status).toBe(201);
    }
    // Line 7 is no candidate (the classification found it a payment): it is not read.
    const call = () => db.transaction((trx) => paged(trx, { agencyPartyId: rows.agencyPartyId, agencyCode: rows.agencyCode, businessDate: rows.businessDate, statementRowId: rows.statementRowId, runRowId: rows.runRowId, now: RUN_AT, candidateLineNos: Int32Array.from([2, 3, 4, 5]) }));
    expect(await call()).toEqual({ count: 2, amount: '10.00' });
    const matched = await db('statement_matches').where({ statement_id: rows.statementRowId, backfilled: true }).orderBy('line_no');
    expect(matched.map((match) => match.line_no)).toEqual([4, 5]);
    expect(await paymentOf(overages[4]!.agencyTxnId)).toBeUndefined();
    expect(await call()).toEqual({ count: 0, amount: '0.00' });
    await expectLedgerVerified(db);
  });

  it('never sends a statement while another is in flight on its connection, even when every receipt needs a serial drawn (decision 0236)', async () => {
    // Serials in blocks of one: without the page's reservation, numbering the next page's
    // receipts would draw through the connection while this page's writes are in flight.
    const receipts = new ReceiptService({ ...receiptDependencies(service), allocator: new ReceiptSerialAllocator(1) });
    const paged = createBackfillOverages({ receipts, clocks: { real: { now: () => new Date() } }, log: pino({ level: 'silent' }) }, { pageLines: 2 });
    const overages = await Promise.all([1, 2, 3, 4, 5, 6, 7].map(async () => line(await issueNotice(unit), '50.00')));
    const rows = await statementOf(overages);
    let inFlight = 0;
    let sent = 0;
    let overlapping = 0;
    await db.transaction(async (trx) => {
      // The backfill's statements all go through `raw`: count those sent while one is in flight.
      const watched = new Proxy(trx, {
        get(target, property, receiver) {
          if (property !== 'raw') return Reflect.get(target, property, receiver) as unknown;
          return (...args: Parameters<typeof trx.raw>) => {
            sent += 1;
            if (inFlight > 0) overlapping += 1;
            inFlight += 1;
            return Promise.resolve(target.raw(...args)).finally(() => {
              inFlight -= 1;
            });
          };
        },
      });
      const result = await paged(watched, { agencyPartyId: rows.agencyPartyId, agencyCode: rows.agencyCode, businessDate: rows.businessDate, statementRowId: rows.statementRowId, runRowId: rows.runRowId, now: RUN_AT });
      expect(result).toEqual({ count: 7, amount: '350.00' });
    });
    expect(sent).toBeGreaterThan(4 * 8);
    expect(overlapping).toBe(0);
    const written = await db('receipts').whereIn('agency_txn_id', overages.map((overage) => overage.agencyTxnId)).select('receipt_no');
    expect(new Set(written.map((row: { receipt_no: string }) => row.receipt_no)).size).toBe(7);
    await expectLedgerVerified(db);
  });

  it('is backfilled once: a second call for the statement creates nothing, and a line with a posted payment is never backfilled', async () => {
    const posted = await issueNotice(unit);
    const postedBody = postingBody({ payCode: posted, amount: '50.00', paidAt: PAID_AT });
    expect((await agency('POST', '/v1/agency/payments', postedBody)).status).toBe(201);
    const overage = line(await issueNotice(unit), '50.00');
    const rows = await statementOf([line(posted, '50.00', { agencyTxnId: postedBody.agencyTxnId as string }), overage]);

    expect(await run(rows)).toEqual({ count: 1, amount: '50.00' });
    const counts = async () => Promise.all(['payments', 'payment_keys', 'journal_entries', 'receipts', 'events', 'refunds', 'statement_matches', 'reconciliation_discrepancies'].map(async (table) => [table, (await db(table).count<{ count: string }[]>({ count: '*' }))[0]?.count]));
    const before = await counts();
    expect(await run(rows)).toEqual({ count: 0, amount: '0.00' });
    expect(await counts()).toEqual(before);
    expect(await db('payments').where({ agency_txn_id: postedBody.agencyTxnId })).toHaveLength(1);
    expect(await db('statement_matches').where({ statement_id: rows.statementRowId })).toHaveLength(1);
    await expectLedgerVerified(db);
  });
});

describe('an online posting of a backfilled agencyTxnId (POST /v1/agency/payments)', () => {
  it('replays the backfill with the same payCode, amount and paidAt, and is IDEMPOTENCY_CONFLICT with other content', async () => {
    const payCode = await issueNotice(unit);
    const overage = line(payCode, '50.00', { channel: 'QR' });
    const rows = await statementOf([overage]);
    await run(rows);
    const payment = await paymentOf(overage.agencyTxnId);

    const replay = await agency('POST', '/v1/agency/payments', postingBody({ agencyTxnId: overage.agencyTxnId, payCode, amount: '50.00', paidAt: PAID_AT, channel: 'QR', fundsCaptured: true }));
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replay')).toBe('true');
    expect(replay.body).toMatchObject({ paymentId: payment.payment_id, status: 'SUCCEEDED', receiptNo: payment.receipt_no, businessDate: rows.businessDate });
    // The same instant written in another offset is the same paidAt.
    const sameInstant = await agency('POST', '/v1/agency/payments', postingBody({ agencyTxnId: overage.agencyTxnId, payCode, amount: '50.00', paidAt: '2026-11-20T01:00:00Z', channel: 'QR' }));
    expect({ status: sameInstant.status, paymentId: sameInstant.body.paymentId }).toEqual({ status: 201, paymentId: payment.payment_id });

    for (const other of [
      { amount: '49.00', paidAt: PAID_AT, payCode },
      { amount: '50.00', paidAt: shanghai('2026-11-20T09:00:01'), payCode },
      { amount: '50.00', paidAt: PAID_AT, payCode: unknownPayCode() },
    ]) {
      const conflict: TestResponse = await agency('POST', '/v1/agency/payments', postingBody({ agencyTxnId: overage.agencyTxnId, channel: 'QR', fundsCaptured: true, ...other }));
      expect({ status: conflict.status, code: conflict.body.error?.code }).toEqual({ status: 409, code: 'IDEMPOTENCY_CONFLICT' });
    }
    expect(await db('payments').where({ agency_txn_id: overage.agencyTxnId })).toHaveLength(1);
    await expectLedgerVerified(db);
  });
});

describe('online postings racing the backfill (real concurrent connections)', () => {
  it('leave exactly one payment per agencyTxnId and one success per notice', async () => {
    for (let round = 0; round < 4; round += 1) {
      const payCodes = await Promise.all(Array.from({ length: 8 }, () => issueNotice(unit)));
      const lines = payCodes.map((payCode) => line(payCode, '50.00'));
      const rows = await statementOf(lines);
      // Each notice is posted online twice while the backfill runs: once with the line's own
      // agencyTxnId and content (a key race), once under another agencyTxnId (a notice race).
      const sameKey = lines.map((overage) => postingBody({ agencyTxnId: overage.agencyTxnId, payCode: overage.payCode, amount: overage.amount, paidAt: overage.paidAt, channel: 'MOBILE', fundsCaptured: true }));
      const otherKey = payCodes.map((payCode) => postingBody({ payCode, amount: '50.00', paidAt: PAID_AT, fundsCaptured: true }));
      const postings = [...sameKey, ...otherKey];
      if (round % 2 === 1) postings.reverse();
      const [result, ...responses] = await Promise.all([
        db.transaction(async (trx) => {
          const answer = await backfill(trx, { agencyPartyId: rows.agencyPartyId, agencyCode: rows.agencyCode, businessDate: rows.businessDate, statementRowId: rows.statementRowId, runRowId: rows.runRowId, now: RUN_AT });
          // Hold the locks a little, so the postings meet them.
          await new Promise((resolve) => setTimeout(resolve, 100));
          return answer;
        }),
        ...postings.map((body) => agency('POST', '/v1/agency/payments', body)),
      ]);
      expect(responses.map((response) => response.status)).toEqual(responses.map(() => 201));

      for (const [index, payCode] of payCodes.entries()) {
        const payments = await db('payments').where({ pay_code: payCode });
        expect(payments.filter((payment) => payment.status === 'SUCCEEDED')).toHaveLength(1);
        expect(payments).toHaveLength(2);
        const keyed = await db('payments').where({ agency_txn_id: lines[index]?.agencyTxnId });
        expect(keyed).toHaveLength(1);
        expect(await db('notices').where({ pay_code: payCode }).first()).toMatchObject({ status: 'PAID' });
      }
      // Whatever the backfill did not create, online postings did; every line has its payment, and the backfilled ones are matched.
      const matched = await db('statement_matches').where({ statement_id: rows.statementRowId, backfilled: true });
      expect(matched).toHaveLength((result as { count: number }).count);
      const sameKeyReplays = responses.filter((response, index) => postings[index]?.agencyTxnId && lines.some((overage) => overage.agencyTxnId === postings[index]?.agencyTxnId) && response.headers.get('idempotent-replay') === 'true');
      expect(sameKeyReplays.length + (lines.length - (result as { count: number }).count)).toBe(lines.length);
    }
    await expectLedgerVerified(db);
  }, 120_000);
});

describe('in the reconcile run', () => {
  it('the receipts, signed while the run goes on (contracts/decisions/0163), are written before it commits, and verify', async () => {
    const overages = [line(await issueNotice(unit), '50.00'), line(await issueNotice(unit), '50.00'), line(await issueNotice(unit), '50.00')];
    const rows = await statementOf(overages);
    const run = await service.runtime.services.reconciliation.reconcile(world.agency.code, rows.businessDate);
    expect(run).toMatchObject({ outcomes: expect.objectContaining({ OVERAGE: { count: 3, amount: '150.00' } }) });
    for (const overage of overages) {
      const payment = await paymentOf(overage.agencyTxnId);
      expect(payment).toMatchObject({ status: 'SUCCEEDED' });
      const receipt = await db('receipts').where({ receipt_no: payment.receipt_no }).first();
      expect(receipt).toMatchObject({ agency_txn_id: overage.agencyTxnId, paid_amount: '50.00' });
      expect(await service.runtime.services.receipts.verifyStored({ signedBytes: receipt.content, signature: receipt.signature, keyId: receipt.key_id })).toBe(true);
    }
    await expectLedgerVerified(db);
  });
});
