import pino from 'pino';
import { allJobs } from '../../src/jobs/registry';
import { JobRunner } from '../../src/jobs/runner';
import { verifyLedger } from '../../src/services/ledger';
import { ReconciliationService } from '../../src/services/reconciliation';
import * as reconciliationRepo from '../../src/db/repositories/reconciliation';
import { createBackfillOverages } from '../../src/services/reconciliation/backfill';
import { addAgency, buildWorld, signedAs, type World } from '../helpers/builders';
import { expectLedgerVerified, newTxnId, shanghai, unknownPayCode } from '../helpers/payments';
import { insertStatement, type TestLine } from '../helpers/statements';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * The reconcile run (docs/reconciliation.md §2): every outcome of the table, the counting rules,
 * carry-over then OPEN, a carried payment matched the next day, a cut-off straddler, supersede,
 * STATEMENT_MISSING, late postings re-queueing their date, reruns, the views and their access,
 * and the ledger's reconciliation invariants. Payments are posted through the real API;
 * statements are inserted as an accepted upload leaves them (test/helpers/statements.ts).
 *
 * The OVERAGE expectations hold with or without the backfill (decision 0105): a line with no
 * payment counts under OVERAGE, not MATCHED, either way.
 */

let service: TestService;
let world: World;

const NOW = '2026-11-25T09:00:00';

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(NOW)) });
  world = await buildWorld(service);
});

afterAll(async () => {
  await service.close();
});

beforeEach(() => {
  service.clocks.business.set(new Date(shanghai(NOW)));
});

interface Agency {
  code: string;
  call: ReturnType<typeof signedAs>;
}

async function newAgency(): Promise<Agency> {
  const credentials = await addAgency(world);
  return { code: credentials.code, call: signedAs(service, credentials) };
}

interface Posted {
  agencyTxnId: string;
  payCode: string;
  amount: string;
}

/** Posts a captured payment dated `date` (10:00 that day by the business clock); the clock is left there. */
async function pay(agency: Agency, date: string, amount: string, agencyTxnId = newTxnId('R'), payCode = unknownPayCode()): Promise<Posted> {
  service.clocks.business.set(new Date(shanghai(`${date}T10:00:00`)));
  const response = await agency.call('POST', '/v1/agency/payments', { agencyTxnId, payCode, amount, paidAt: shanghai(`${date}T09:59:00`), channel: 'MOBILE', fundsCaptured: true });
  expect(response.status).toBe(201);
  expect(response.body.businessDate).toBe(date);
  return { agencyTxnId, payCode, amount };
}

function line(posted: Posted, changes: Partial<TestLine> = {}): TestLine {
  return { agencyTxnId: posted.agencyTxnId, payCode: posted.payCode, amount: posted.amount, ...changes };
}

async function reconcile(agency: Agency, date: string): Promise<Record<string, any>> {
  return service.runtime.services.reconciliation.reconcile(agency.code, date);
}

async function view(agency: Agency, date: string): Promise<{ status: number; body: any }> {
  return agency.call('GET', `/v1/agency/reconciliations/${date}`);
}

function tally(count: number, amount: string): { count: number; amount: string } {
  return { count, amount };
}

const NONE = tally(0, '0.00');

async function liveMatches(agencyCode: string): Promise<Array<{ agency_txn_id: string; backfilled: boolean }>> {
  return service.database.db('statement_matches as m').join('payments as p', 'p.id', 'm.payment_id').where({ 'p.agency_code': agencyCode }).whereNull('m.released_at').select('p.agency_txn_id', 'm.backfilled');
}

describe('one run', () => {
  it('classifies every outcome, counts each line and payment once, and a rerun changes nothing', async () => {
    const agency = await newAgency();
    const date = '2026-11-18';
    const matched = await pay(agency, date, '50.00');
    const amountDiffers = await pay(agency, date, '60.00');
    const codeDiffers = await pay(agency, date, '70.00');
    const short = await pay(agency, date, '80.00');
    const overageTxn = newTxnId('O');
    await insertStatement(service.database.db, {
      agencyCode: agency.code,
      businessDate: date,
      lines: [
        line(matched),
        line(amountDiffers, { amount: '61.00' }),
        // Both differ: the payCode outranks.
        line(codeDiffers, { payCode: unknownPayCode(), amount: '71.00' }),
        { agencyTxnId: overageTxn, payCode: unknownPayCode(), amount: '5.00' },
        { kind: 'REFUND', agencyTxnId: 'REF-1', instructionNo: 'TFR2026111800000001', amount: '9.00' },
      ],
    });

    const run = await reconcile(agency, date);
    expect(run).toMatchObject({ agencyCode: agency.code, businessDate: date, fileSeq: 1, status: 'UNBALANCED', statementTotal: '187.00' });
    expect(run.outcomes).toEqual({
      MATCHED: tally(1, '50.00'),
      OVERAGE: tally(1, '5.00'),
      AMOUNT_MISMATCH: tally(1, '61.00'),
      PAY_CODE_MISMATCH: tally(1, '71.00'),
      REFUND_MISMATCH: tally(1, '9.00'),
      CARRIED_OVER: tally(1, '80.00'),
      SHORTAGE: NONE,
    });
    // Lines: 5, each under one outcome; payments: the short one.
    const lineCount = ['MATCHED', 'OVERAGE', 'AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH', 'REFUND_MISMATCH'].reduce((sum, key) => sum + (run.outcomes[key].count as number), 0);
    expect(lineCount).toBe(5);
    expect((await liveMatches(agency.code)).filter((match) => !match.backfilled)).toEqual([{ agency_txn_id: matched.agencyTxnId, backfilled: false }]);

    const first = await view(agency, date);
    expect(first.status).toBe(200);
    expect(first.body.run).toEqual(run);
    const byTxn = Object.fromEntries(first.body.discrepancies.map((d: any) => [`${d.type}:${d.agencyTxnId}`, d]));
    expect(byTxn[`AMOUNT_MISMATCH:${amountDiffers.agencyTxnId}`]).toMatchObject({ status: 'OPEN', platform: { payCode: amountDiffers.payCode, amount: '60.00' }, statement: { lineNo: 3, amount: '61.00' }, proposal: null, resolution: null });
    expect(byTxn[`PAY_CODE_MISMATCH:${codeDiffers.agencyTxnId}`]).toMatchObject({ status: 'OPEN' });
    expect(byTxn[`AMOUNT_MISMATCH:${codeDiffers.agencyTxnId}`]).toBeUndefined();
    expect(byTxn[`SHORTAGE:${short.agencyTxnId}`]).toMatchObject({ status: 'CARRIED_OVER', platform: { amount: '80.00' }, statement: null });
    expect(byTxn['REFUND_MISMATCH:REF-1']).toMatchObject({ status: 'OPEN', instructionNo: 'TFR2026111800000001', platform: null, statement: { amount: '9.00', payCode: null } });
    expect(byTxn[`OVERAGE:${overageTxn}`]).toMatchObject({ statement: { amount: '5.00' } });

    // The run's event goes to the agency and every finance party.
    const events = await service.database.db('events').where({ type: 'reconciliation.completed' }).whereRaw(`data -> 'run' ->> 'runId' = ?`, [run.runId]);
    const financeIds = (await service.database.db('parties').where({ role: 'finance' }).select('id')).map((row) => row.id as string);
    const agencyId = (await service.database.db('parties').where({ role: 'agency', code: agency.code }).first('id')).id as string;
    expect(events.map((event) => event.recipient_party_id as string).sort()).toEqual([agencyId, ...financeIds].sort());

    const again = await reconcile(agency, date);
    expect(again.outcomes).toEqual(run.outcomes);
    expect(again.status).toBe(run.status);
    const second = await view(agency, date);
    expect(second.body.run.runId).toBe(again.runId);
    expect(second.body.discrepancies).toEqual(first.body.discrepancies);
    expect((await liveMatches(agency.code)).filter((match) => !match.backfilled)).toHaveLength(1);
    await expectLedgerVerified(service.database.db);
  });

  it('is BALANCED when the statement and the payments agree', async () => {
    const agency = await newAgency();
    const date = '2026-11-17';
    const one = await pay(agency, date, '12.34');
    const two = await pay(agency, date, '0.01');
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: date, lines: [line(two), line(one)] });
    const run = await reconcile(agency, date);
    expect(run.status).toBe('BALANCED');
    expect(run.outcomes.MATCHED).toEqual(tally(2, '12.35'));
    expect(run.platformTotal).toBe('12.35');
  });

  it('a line whose payment is posted online after the classification and before the backfill is matched, not an overage', async () => {
    // The backfill takes its candidates from the run's classification (decision 0180); an online
    // posting that binds a candidate's key meanwhile makes it no overage, and the line is
    // classified again with that payment.
    const agency = await newAgency();
    const date = '2026-11-16';
    const early = await pay(agency, date, '20.00');
    const lateTxn = newTxnId('LATE');
    const latePayCode = unknownPayCode();
    await insertStatement(service.database.db, {
      agencyCode: agency.code,
      businessDate: date,
      lines: [line(early), { agencyTxnId: lateTxn, payCode: latePayCode, amount: '30.00' }],
    });
    const { db, clocks, log, services } = { db: service.database.db, clocks: service.clocks, log: pino({ level: 'silent' }), services: service.runtime.services };
    const backfill = createBackfillOverages({ receipts: services.receipts, clocks, log });
    let postedMeanwhile = false;
    const racing = new ReconciliationService({
      db,
      clocks,
      log,
      backfillOverages: async (trx, ctx) => {
        // The run has classified its lines: the late line had no payment then.
        const runAt = clocks.business.now();
        await pay(agency, date, '30.00', lateTxn, latePayCode);
        clocks.business.set(runAt);
        postedMeanwhile = true;
        return backfill(trx, ctx);
      },
    });
    const run = await racing.reconcile(agency.code, date);
    expect(postedMeanwhile).toBe(true);
    expect(run).toMatchObject({ status: 'BALANCED' });
    expect(run.outcomes).toMatchObject({ MATCHED: tally(2, '50.00'), OVERAGE: NONE, CARRIED_OVER: NONE });
    const matches = await liveMatches(agency.code);
    expect(matches.map((match) => [match.agency_txn_id, match.backfilled]).sort()).toEqual([[early.agencyTxnId, false], [lateTxn, false]].sort());
    await expectLedgerVerified(service.database.db);
  });
  it('a payment posted online after the classification for a line it found with none is not carried short while the backfill runs, and is matched once its line is classified again (decision 0239)', async () => {
    const agency = await newAgency();
    const date = '2026-11-17';
    const txn = newTxnId('MEAN');
    const payCode = unknownPayCode();
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: date, lines: [{ agencyTxnId: txn, payCode, amount: '30.00' }] });
    const db = service.database.db;
    const found = await reconciliationRepo.findAgency(db, agency.code);
    const statement = await reconciliationRepo.currentStatement(db, found!.partyId, date);
    const trx = await db.transaction();
    try {
      const now = service.clocks.business.now();
      const runRowId = await reconciliationRepo.insertRun(trx, { runId: 'N-race', agencyPartyId: found!.partyId, agencyCode: agency.code, businessDate: date, statementRowId: statement!.id, startedAt: now });
      const params = { agency: found!.partyId, agencyCode: agency.code, date, statement: statement!.id, run: runRowId, runId: 'N-race', now };
      const work = await reconciliationRepo.classifyPayLines(trx, params);
      expect((await reconciliationRepo.overageCandidates(trx, work)).length).toBe(1);
      // Posted and committed while the run's transaction is open: the shortage step, which runs
      // beside the backfill, sees the payment but not yet its line's second classification.
      await pay(agency, date, '30.00', txn, payCode);
      expect(await reconciliationRepo.carryShortages(trx, params, work)).toBe(0);
      expect(await reconciliationRepo.reclassifyUnpaidLines(trx, params, work)).toBe(1);
      expect(await trx('statement_matches').where({ statement_id: statement!.id, backfilled: false }).count<Array<{ count: string }>>('* as count')).toEqual([{ count: '1' }]);
    } finally {
      await trx.rollback();
    }
  });
});

describe('across days', () => {
  it('carries a short payment one day, then OPENs it; a carried payment matched the next day resolves itself; a straddler matches across dates', async () => {
    const agency = await newAgency();
    const day1 = '2026-11-19';
    const day2 = '2026-11-20';
    const missing = await pay(agency, day1, '10.00');
    const late = await pay(agency, day1, '20.00');
    const relisted = await pay(agency, day1, '40.00');
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: day1, lines: [] });
    const run1 = await reconcile(agency, day1);
    expect(run1.outcomes.CARRIED_OVER).toEqual(tally(3, '70.00'));
    expect(run1.outcomes.SHORTAGE).toEqual(NONE);
    expect(run1.status).toBe('BALANCED');

    // Day 2 lists `late` as paid and `relisted` with another amount: both settle their shortage
    // (the mismatch holds `relisted` now); `missing` is not listed and is OPEN.
    const today = await pay(agency, day2, '30.00');
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: day2, lines: [line(today), line(late), line(relisted, { amount: '41.00' })] });
    const run2 = await reconcile(agency, day2);
    expect(run2.outcomes).toEqual({ ...run2.outcomes, MATCHED: tally(2, '50.00'), AMOUNT_MISMATCH: tally(1, '41.00'), SHORTAGE: tally(1, '10.00'), CARRIED_OVER: NONE, OVERAGE: NONE });
    expect(run2.status).toBe('UNBALANCED');
    expect(run2.platformTotal).toBe('100.00');

    const discrepancies = await service.database.db('reconciliation_discrepancies').whereIn('agency_txn_id', [missing.agencyTxnId, late.agencyTxnId, relisted.agencyTxnId]).orderBy('id');
    expect(discrepancies.map((d) => [d.agency_txn_id, d.type, d.status])).toEqual([
      [missing.agencyTxnId, 'SHORTAGE', 'OPEN'],
      [late.agencyTxnId, 'SHORTAGE', 'AUTO_RESOLVED'],
      [relisted.agencyTxnId, 'SHORTAGE', 'AUTO_RESOLVED'],
      [relisted.agencyTxnId, 'AMOUNT_MISMATCH', 'OPEN'],
    ]);
    // The OPEN shortage shows in day 2's view, and day 1's shows it too (its date).
    expect((await view(agency, day2)).body.discrepancies.map((d: any) => d.agencyTxnId)).toContain(missing.agencyTxnId);

    // Day 1 again: the straddler matched on day 2 is not carried again.
    const day1Again = await reconcile(agency, day1);
    expect(day1Again.outcomes.CARRIED_OVER).toEqual(NONE);
    expect(await service.database.db('reconciliation_discrepancies').where({ agency_txn_id: late.agencyTxnId }).select('status')).toEqual([{ status: 'AUTO_RESOLVED' }]);

    // A rerun of day 2 keeps one discrepancy per (agency, txn, type) and the same counts.
    const rerun = await reconcile(agency, day2);
    expect(rerun.outcomes).toEqual(run2.outcomes);
    expect(await service.database.db('reconciliation_discrepancies').where({ agency_txn_id: missing.agencyTxnId }).count('* as n')).toEqual([{ n: '1' }]);
  });
});

describe('supersede', () => {
  it('releases the old statement matches, supersedes its discrepancies and reruns', async () => {
    const agency = await newAgency();
    const date = '2026-11-16';
    const good = await pay(agency, date, '15.00');
    const fixed = await pay(agency, date, '25.00');
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: date, fileSeq: 1, lines: [line(good), line(fixed, { amount: '26.00' })] });
    const first = await reconcile(agency, date);
    expect(first.outcomes.AMOUNT_MISMATCH).toEqual(tally(1, '26.00'));
    const newer = await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: date, fileSeq: 2, lines: [line(good), line(fixed)] });
    const second = await reconcile(agency, date);
    expect(second).toMatchObject({ statementId: newer.statementId, fileSeq: 2, status: 'BALANCED' });
    expect(second.outcomes.MATCHED).toEqual(tally(2, '40.00'));
    expect(second.outcomes.AMOUNT_MISMATCH).toEqual(NONE);
    const mismatch = await service.database.db('reconciliation_discrepancies').where({ agency_txn_id: fixed.agencyTxnId }).first();
    expect(mismatch.status).toBe('SUPERSEDED');
    const matches = await service.database.db('statement_matches as m').join('payments as p', 'p.id', 'm.payment_id').where({ 'p.agency_txn_id': good.agencyTxnId }).orderBy('m.matched_at').orderBy('m.statement_id').select('m.released_at', 'm.statement_id');
    expect(matches).toHaveLength(2);
    expect(matches[0]?.released_at).not.toBeNull();
    expect(matches[1]).toMatchObject({ released_at: null, statement_id: newer.id });
    await expectLedgerVerified(service.database.db);
  });
});

describe('no statement, late postings and the queue', () => {
  it('STATEMENT_MISSING opens nothing; its payments count as unresolved for the ledger; a late posting puts a date back in the queue', async () => {
    const agency = await newAgency();
    const date = '2026-11-10';
    await pay(agency, date, '11.00');
    const today = '2026-11-22';
    // Never reconciled and older than 8 days: the ledger says so.
    const before = await verifyLedger(service.database.db, { businessToday: today });
    expect(before.checks.find((check) => check.name === 'paymentsReconciled')?.ok).toBe(false);

    const missing = await reconcile(agency, date);
    expect(missing).toMatchObject({ status: 'STATEMENT_MISSING', statementId: null, fileSeq: null, statementTotal: null, platformTotal: '11.00' });
    expect(await service.database.db('reconciliation_discrepancies').where({ agency_code: agency.code })).toEqual([]);
    const after = await verifyLedger(service.database.db, { businessToday: today });
    expect(after.checks.filter((check) => !check.ok)).toEqual([]);

    // The queue of a run for T−1 = 2026-11-15 (window 11-09 … 11-15): this agency's 11-10 is done.
    const queued = async (): Promise<string[]> => (await service.runtime.services.reconciliation.queue('2026-11-15', agency.code)).map((pair) => pair.business_date);
    expect(await queued()).toEqual(['2026-11-15']);
    // A late posting dated 11-14 after… no run: the date has unmatched payments → queued.
    service.clocks.business.set(new Date(shanghai('2026-11-15T08:00:00')));
    await pay(agency, '2026-11-14', '3.00');
    expect(await queued()).toEqual(['2026-11-14', '2026-11-15']);
    service.clocks.business.set(new Date(shanghai('2026-11-15T08:05:00')));
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: '2026-11-13', lines: [] });
    expect(await queued()).toEqual(['2026-11-13', '2026-11-14', '2026-11-15']);
    await reconcile(agency, '2026-11-13');
    await reconcile(agency, '2026-11-14');
    expect(await queued()).toEqual(['2026-11-15']);
    // A posting for 11-14 after its run finished re-queues it.
    service.clocks.business.set(new Date(shanghai('2026-11-15T09:00:00')));
    const resp = await agency.call('POST', '/v1/agency/payments', { agencyTxnId: newTxnId('L'), payCode: unknownPayCode(), amount: '4.00', paidAt: shanghai('2026-11-14T12:00:00'), channel: 'MOBILE', fundsCaptured: true });
    expect(resp.status).toBe(201);
    expect(await queued()).toEqual(['2026-11-14', '2026-11-15']);
  });
});

describe('views and access', () => {
  it('an agency reads its own runs only; finance lists the latest run of each date', async () => {
    const agency = await newAgency();
    const other = await newAgency();
    const date = '2026-11-12';
    await pay(agency, date, '7.00');
    const run = await reconcile(agency, date);
    expect((await view(other, date)).status).toBe(404);
    expect((await view(agency, '2026-11-11')).status).toBe(404);
    const finance = signedAs(service, world.finance);
    const list = await finance('GET', `/v1/finance/reconciliations?businessDate=${date}&agencyCode=${agency.code}`);
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([run]);
    const forbidden = await agency.call('GET', `/v1/finance/reconciliations?businessDate=${date}`);
    expect(forbidden.status).toBe(403);
  });
});

describe('the reconcile job', () => {
  it('job run reconcile --date --agency reconciles that pair, and again gives the same result', async () => {
    const agency = await newAgency();
    const date = '2026-11-13';
    const posted = await pay(agency, date, '9.99');
    await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: date, lines: [line(posted)] });
    const services = service.runtime.services;
    const job = allJobs(services).find((candidate) => candidate.name === 'reconcile');
    expect(job?.defaultSchedules).toEqual(['0 2 * * *', '30 6 * * *', '30 10 * * *']);
    const runner = new JobRunner({ db: service.database.db, connectionString: service.database.connectionString, clocks: services.deps.clocks, log: pino({ level: 'silent' }) });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const outcome = await runner.run({ job: job!, trigger: 'MANUAL', businessDate: date, params: { agencyCode: agency.code } });
      expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', counts: { runs: 1, BALANCED: 1 } });
    }
    const runs = await service.database.db('reconciliation_runs').where({ agency_code: agency.code }).orderBy('id');
    expect(runs.map((run) => [run.status, run.outcomes.MATCHED.count])).toEqual([
      ['BALANCED', 1],
      ['BALANCED', 1],
    ]);
  });
});
