import { discrepanciesOfRun, lastRun } from '../../src/db/repositories/reconciliation';
import { buildWorld, signedAs, type SignedCall, type World } from '../helpers/builders';
import { issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { signedRequest } from '../helpers/signedClient';
import { payLine, tfs1, type FileLine } from '../helpers/statementFiles';
import { rowsReadInTransaction, STATS_FLUSHED_AFTER_MS } from '../helpers/tableReads';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * The reconcile run asks "did finance already resolve this?" by index
 * (contracts/decisions/0216-resolved-discrepancies-by-index.md): for each line it would open a
 * discrepancy for and each payment it would carry as a shortage, it looks up the resolved
 * discrepancies of that line, key or payment — never all the resolved discrepancies ever recorded.
 * Without the indexes each question read every RESOLVED row: a run's reads of the table grew
 * with (candidates × resolved rows), 28 s for the shortages of a million-line statement beside
 * 100,000 of them.
 *
 * No clock: the run's own reads of `reconciliation_discrepancies`, counted by PostgreSQL inside the
 * run's transaction (pg_stat_xact_user_tables), must stay below what two whole scans of the
 * resolved rows would read, where one scan per candidate reads ten times that.
 *
 * The rerun's own discrepancies are then read as `GET /v1/agency/reconciliations/{businessDate}`
 * reads them — the date's and those the run touched (`business_date = T OR last_run_id = run`) —
 * by index (migration 20261211000300, contracts/decisions/0217-index-audit.md): without an index
 * on `last_run_id` that read took every discrepancy the agency ever had.
 */

const DATE = '2026-11-20';
/** RESOLVED discrepancies of earlier dates: what months of finance's decisions leave behind. */
const RESOLVED_EARLIER = 2_000;
const SHORTAGES = 10;
const MISMATCHES = 4;

let service: TestService;
let world: World;
/** The rerun of DATE, which the second test reads. */
let rerunId: string | undefined;
let agency: SignedCall;
const db = () => service.database.db;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(`${DATE}T07:00:00`)) });
  world = await buildWorld(service);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  await service.close();
});

async function pay(at: string): Promise<{ payCode: string; agencyTxnId: string }> {
  const payCode = await issueNotice(signedAs(service, world.unit), { dueDate: '2026-12-31' });
  const agencyTxnId = newTxnId('RR');
  const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: at, agencyTxnId }));
  expect(posted.status).toBe(201);
  return { payCode, agencyTxnId };
}



it('reads no resolved discrepancy once per line or payment it questions', async () => {
  const at = shanghai(`${DATE}T08:00:00`);
  service.clocks.business.set(new Date(new Date(at).getTime() + 60_000));
  const listed: FileLine[] = [];
  for (let index = 0; index < MISMATCHES; index += 1) {
    const paid = await pay(at);
    listed.push(payLine({ id: paid.agencyTxnId, code: paid.payCode, amount: '49.00', at }));
  }
  for (let index = 0; index < SHORTAGES; index += 1) await pay(at);
  const uploaded = await signedRequest(service, world.agency, 'POST', '/v1/agency/statements', { rawBody: tfs1({ agency: world.agency.code, date: DATE, seq: 1, lines: listed }), headers: { 'content-type': 'text/plain' } });
  expect(uploaded.status).toBe(201);

  service.clocks.business.set(new Date(shanghai('2026-11-21T02:00:00')));
  const reconciliation = service.runtime.services.reconciliation;
  const first = await reconciliation.reconcile(world.agency.code, DATE);
  expect(first).toMatchObject({ outcomes: { AMOUNT_MISMATCH: { count: MISMATCHES }, CARRIED_OVER: { count: SHORTAGES } } });

  // The resolved rows name the first run (their runs must exist) and dates long before DATE.
  const run = await db()('reconciliation_runs').where({ run_id: first.runId as string }).first<{ id: string }>('id');
  await db().raw(
    `INSERT INTO reconciliation_discrepancies (discrepancy_id, agency_party_id, agency_code, business_date, type, status, agency_txn_id,
                                               first_run_id, last_run_id, resolution_action, resolved_at, created_at, updated_at)
     SELECT 'DOLD' || g, p.id, p.code, CAST(? AS date) - 30 - g % 30, CASE WHEN g % 2 = 0 THEN 'SHORTAGE' ELSE 'AMOUNT_MISMATCH' END, 'RESOLVED', 'OLD-' || g,
            ?::bigint, ?::bigint, 'WRITE_OFF', now(), now(), now()
       FROM parties p, generate_series(1, ?::int) g
      WHERE p.code = ?`,
    [DATE, run?.id, run?.id, RESOLVED_EARLIER, world.agency.code],
  );
  await db().raw('ANALYZE reconciliation_discrepancies');
  // The run's count is of its connection: let the pool's backends flush what earlier transactions read.
  await new Promise((resolve) => setTimeout(resolve, STATS_FLUSHED_AFTER_MS));

  // The rerun questions every mismatched line and every shortage again.
  let reads = -1;
  const rerun = await reconciliation.reconcile(world.agency.code, DATE, {
    beforeCommit: async (trx) => {
      reads = await rowsReadInTransaction(trx, 'reconciliation_discrepancies');
    },
  });
  expect(rerun).toMatchObject({ outcomes: { AMOUNT_MISMATCH: { count: MISMATCHES }, CARRIED_OVER: { count: SHORTAGES } } });
  expect(reads).toBeGreaterThanOrEqual(0);
  expect(reads).toBeLessThan(2 * RESOLVED_EARLIER);
  rerunId = rerun.runId as string;
});

it('reads a run’s discrepancies without reading every discrepancy of the agency', async () => {
  // The earlier rows name the first run; the rerun is the date's latest, and none of them is its.
  const party = await db()('parties').where({ role: 'agency', code: world.agency.code }).first<{ id: string }>('id');
  await db().raw('ANALYZE reconciliation_discrepancies');
  await db().transaction(async (trx) => {
    const latest = await lastRun(trx, String(party?.id), DATE);
    expect(latest?.run_id).toBe(rerunId);
    // The counters may still hold reads of this connection's earlier transactions (PostgreSQL
    // flushes them at most once a second): only what the read adds counts.
    const before = await rowsReadInTransaction(trx, 'reconciliation_discrepancies');
    expect(await discrepanciesOfRun(trx, latest!)).toHaveLength(MISMATCHES + SHORTAGES);
    expect((await rowsReadInTransaction(trx, 'reconciliation_discrepancies')) - before).toBeLessThan(RESOLVED_EARLIER / 2);
  });
});
