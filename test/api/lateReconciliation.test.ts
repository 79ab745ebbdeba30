import pino from 'pino';
import type { JobDefinition } from '../../src/jobs/job';
import { allJobs } from '../../src/jobs/registry';
import { JobRunner } from '../../src/jobs/runner';
import { verifyLedger } from '../../src/services/ledger';
import { addAgency, buildWorld, signedAs, type World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, shanghai } from '../helpers/payments';
import { insertStatement } from '../helpers/statements';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * Late postings re-queue their date, however old (docs/reconciliation.md §2,
 * contracts/decisions/0210-late-postings-requeue-their-date.md): a captured-funds payment whose
 * business date lies before the reconcile job's 7-day window is reconciled by the job's next
 * scheduled run — matched when the date's statement lists it, STATEMENT_MISSING without one, a
 * shortage carried to the next date (also before the window) and opened there when the
 * statement lacks it, sealed dates included — and `ledger verify` agrees with the job: it leaves
 * a late posting alone for a day of the job's slots, then expects it reconciled. Reruns take
 * nothing more. Payments are posted through the real API, the job runs through the job runner
 * as the schedule runs it.
 */

let service: TestService;
let world: World;
let job: JobDefinition;
let runner: JobRunner;

const TODAY = '2026-12-03';
const OLD = '2026-11-02';

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(`${TODAY}T10:00:00`)) });
  world = await buildWorld(service);
  const services = service.runtime.services;
  job = allJobs(services).find((candidate) => candidate.name === 'reconcile') as JobDefinition;
  runner = new JobRunner({ db: service.database.db, connectionString: service.database.connectionString, clocks: services.deps.clocks, log: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await service.close();
});

// Each test runs the same slots of the 4th: the slots' runs of the test before are forgotten.
beforeEach(async () => {
  await service.database.db('job_runs').where({ job: 'reconcile' }).delete();
});

interface Agency {
  code: string;
  call: ReturnType<typeof signedAs>;
}

async function newAgency(): Promise<Agency> {
  const credentials = await addAgency(world);
  return { code: credentials.code, call: signedAs(service, credentials) };
}

/** A notice issued on 2026-11-01 (50.00), as the unit did then; the clock is left there. */
async function oldNotice(): Promise<string> {
  service.clocks.business.set(new Date(shanghai('2026-11-01T09:00:00')));
  return issueNotice(signedAs(service, world.unit));
}

/** The agency posts, on `TODAY` at 10:00, the captured payment of `payCode` it took on `OLD` (docs/lifecycle.md §3.7). */
async function postLate(agency: Agency, payCode: string): Promise<{ agencyTxnId: string; payCode: string; amount: string; paymentId: string }> {
  service.clocks.business.set(new Date(shanghai(`${TODAY}T10:00:00`)));
  const agencyTxnId = newTxnId('LATE');
  const response = await agency.call('POST', '/v1/agency/payments', { agencyTxnId, payCode, amount: '50.00', paidAt: shanghai(`${OLD}T10:00:00`), channel: 'MOBILE', fundsCaptured: true });
  expect(response.status).toBe(201);
  expect(response.body).toMatchObject({ status: 'SUCCEEDED', businessDate: OLD });
  return { agencyTxnId, payCode, amount: '50.00', paymentId: response.body.paymentId as string };
}

/** The scheduled run of the slot at `local` (Asia/Shanghai), with the business clock there. */
async function scheduledRun(local: string): Promise<void> {
  service.clocks.business.set(new Date(shanghai(local)));
  const outcome = await runner.run({ job, trigger: 'SCHEDULE', scheduledFor: new Date(shanghai(local)) });
  expect(outcome.outcome).toBe('SUCCEEDED');
}

/** The agency's runs of `date`, oldest first: [status, MATCHED count, CARRIED_OVER count, SHORTAGE count]. */
async function runsOf(agency: Agency, date: string): Promise<Array<[string, number, number, number]>> {
  const rows = await service.database.db('reconciliation_runs').where({ agency_code: agency.code, business_date: date }).orderBy('id');
  return rows.map((row) => [row.status, row.outcomes?.MATCHED?.count ?? 0, row.outcomes?.CARRIED_OVER?.count ?? 0, row.outcomes?.SHORTAGE?.count ?? 0]);
}

async function unreconciled(today: string): Promise<Array<Record<string, unknown>>> {
  const verification = await verifyLedger(service.database.db, { businessToday: today });
  return (verification.checks.find((check) => check.name === 'paymentsReconciled')?.breaks ?? []).map((found) => found.detail);
}

it('a captured-funds posting 31 days late is matched by the next scheduled run when its date has a statement listing it; the next runs take nothing more', async () => {
  const agency = await newAgency();
  const payCode = await oldNotice();
  // The agency's file of the 2nd is on file, but no run has read it (its run request failed, say).
  const line = { agencyTxnId: newTxnId('LATE'), payCode, amount: '50.00' };
  service.clocks.business.set(new Date(shanghai('2026-11-03T01:30:00')));
  await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: OLD, lines: [line] });
  service.clocks.business.set(new Date(shanghai(`${TODAY}T10:00:00`)));
  const response = await agency.call('POST', '/v1/agency/payments', { ...line, paidAt: shanghai(`${OLD}T10:00:00`), channel: 'MOBILE', fundsCaptured: true });
  expect(response.status).toBe(201);
  expect(response.body).toMatchObject({ status: 'SUCCEEDED', businessDate: OLD });

  // The queue of the 4th's 02:00 run (T−1 = the 3rd, window 11-27 … 12-03) takes the 2nd too.
  expect((await service.runtime.services.reconciliation.queue(TODAY, agency.code)).map((pair) => pair.business_date)).toEqual([OLD, TODAY]);
  await scheduledRun('2026-12-04T02:00:00');
  expect(await runsOf(agency, OLD)).toEqual([['BALANCED', 1, 0, 0]]);
  const matched = await service.database.db('statement_matches as m').join('payments as p', 'p.id', 'm.payment_id').whereNull('m.released_at').where('p.payment_id', response.body.paymentId).select('m.backfilled');
  expect(matched).toEqual([{ backfilled: false }]);

  // Idempotent: the next slots find nothing new for the 2nd.
  await scheduledRun('2026-12-04T06:30:00');
  await scheduledRun('2026-12-04T10:30:00');
  expect(await runsOf(agency, OLD)).toEqual([['BALANCED', 1, 0, 0]]);
  expect(await unreconciled('2026-12-05')).toEqual([]);
  await expectLedgerVerified(service.database.db);
});

it('without a statement its date becomes STATEMENT_MISSING, after which ledger verify passes; before the job has had a day, verify leaves it alone, after, it reports it', async () => {
  const agency = await newAgency();
  const posted = await postLate(agency, await oldNotice());
  const mine = (found: Array<Record<string, unknown>>) => found.filter((detail) => detail.agencyCode === agency.code);
  // Recorded today: the job's slots of tonight are still to come.
  expect(mine(await unreconciled(TODAY))).toEqual([]);
  expect(mine(await unreconciled('2026-12-04'))).toEqual([]);
  // A whole day of slots later, a payment no run took would be reported.
  expect(mine(await unreconciled('2026-12-05'))).toEqual([{ agencyCode: agency.code, agencyTxnId: posted.agencyTxnId, businessDate: OLD, lastRun: null }]);

  await scheduledRun('2026-12-04T02:00:00');
  expect(await runsOf(agency, OLD)).toEqual([['STATEMENT_MISSING', 0, 0, 0]]);
  expect(await service.database.db('reconciliation_discrepancies').where({ agency_code: agency.code })).toEqual([]);
  expect(mine(await unreconciled('2026-12-05'))).toEqual([]);
  expect(mine(await unreconciled('2026-12-31'))).toEqual([]);

  await scheduledRun('2026-12-04T06:30:00');
  expect(await runsOf(agency, OLD)).toEqual([['STATEMENT_MISSING', 0, 0, 0]]);
  await expectLedgerVerified(service.database.db);
});

it('a late posting for a sealed date is an adjustment of today; the job reruns the sealed date (a shortage carried over), then the next date (opened), and nothing after', async () => {
  const agency = await newAgency();
  const finance = signedAs(service, world.finance);
  const onTimeCode = await oldNotice();
  const payCode = await oldNotice();
  // On the 2nd one payment is posted on time; the 2nd and the 3rd are reconciled on time against
  // statements that lack the other (the agency had not told the platform of it), then every date
  // through the 2nd of December is sealed.
  service.clocks.business.set(new Date(shanghai(`${OLD}T10:00:00`)));
  const onTime = { agencyTxnId: newTxnId('ONTIME'), payCode: onTimeCode, amount: '50.00' };
  expect((await agency.call('POST', '/v1/agency/payments', { ...onTime, paidAt: shanghai(`${OLD}T09:59:00`), channel: 'MOBILE', fundsCaptured: true })).status).toBe(201);
  const next = '2026-11-03';
  service.clocks.business.set(new Date(shanghai('2026-11-03T02:00:00')));
  await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: OLD, lines: [onTime] });
  expect(await service.runtime.services.reconciliation.reconcile(agency.code, OLD)).toMatchObject({ status: 'BALANCED' });
  service.clocks.business.set(new Date(shanghai('2026-11-04T02:00:00')));
  await insertStatement(service.database.db, { agencyCode: agency.code, businessDate: next, lines: [] });
  expect(await service.runtime.services.reconciliation.reconcile(agency.code, next)).toMatchObject({ status: 'BALANCED' });
  service.clocks.business.set(new Date(shanghai('2026-12-03T09:00:00')));
  await service.runtime.services.dailyCloses.closeThrough('2026-12-02');
  const sealed = (await finance('GET', `/v1/finance/closes/${OLD}`)).body;
  expect(sealed.close.businessDate).toBe(OLD);

  const posted = await postLate(agency, payCode);
  const { rows: entries } = await service.database.db.raw<{ rows: Array<{ accounting_date: string; for_date: string | null }> }>(
    `SELECT to_char(e.accounting_date, 'YYYY-MM-DD') AS accounting_date, to_char(e.for_date, 'YYYY-MM-DD') AS for_date
       FROM journal_entries e JOIN payments p ON p.id = e.payment_id WHERE p.payment_id = ?`,
    [posted.paymentId],
  );
  expect(entries).toEqual([{ accounting_date: TODAY, for_date: OLD }]);

  // 02:00: the 2nd again — its statement lacks the payment, carried over to the 3rd.
  await scheduledRun('2026-12-04T02:00:00');
  expect(await runsOf(agency, OLD)).toEqual([
    ['BALANCED', 1, 0, 0],
    ['BALANCED', 1, 1, 0],
  ]);
  // 06:30: the 3rd, into which it was carried: still missing, OPEN; the date is UNBALANCED.
  await scheduledRun('2026-12-04T06:30:00');
  expect(await runsOf(agency, next)).toEqual([
    ['BALANCED', 0, 0, 0],
    ['UNBALANCED', 0, 0, 1],
  ]);
  const discrepancies = await service.database.db('reconciliation_discrepancies').where({ agency_code: agency.code }).select('business_date', 'type', 'status', 'agency_txn_id');
  expect(discrepancies).toEqual([{ business_date: OLD, type: 'SHORTAGE', status: 'OPEN', agency_txn_id: posted.agencyTxnId }]);
  // 10:30: an old UNBALANCED date is finance's now; nothing new happened to either date.
  await scheduledRun('2026-12-04T10:30:00');
  expect((await runsOf(agency, OLD)).length).toBe(2);
  expect((await runsOf(agency, next)).length).toBe(2);

  // The sealed day is as it was signed; the ledger and the close chain verify.
  expect((await finance('GET', `/v1/finance/closes/${OLD}`)).body).toEqual(sealed);
  expect(await unreconciled('2026-12-05')).toEqual([]);
  await expectLedgerVerified(service.database.db);
});
