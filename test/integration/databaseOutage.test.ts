import { SignedCall } from '../helpers/builders';
import { DedicatedService, startDedicatedService } from '../helpers/dedicatedServer';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { TestService } from '../helpers/testService';

/**
 * docs/quality.md §2, database outage: PostgreSQL stopped for 10 s under a load of postings. Meanwhile
 * every request fails fast with 503 UNAVAILABLE and Retry-After (never a 500, never a hang); the
 * service recovers by itself when the server is back; nothing is half-written: every posting
 * answered 503 and retried afterwards, freshly signed, gets its one SUCCEEDED answer, every
 * payment has its whole set of rows, and `ledger verify` passes.
 *
 * The server is an embedded PostgreSQL of this test's own (the suite's shared one must stay up),
 * stopped cleanly, so its Unix socket is gone meanwhile and connections fail with ENOENT.
 */
jest.setTimeout(120_000);

const OUTAGE_MS = 10_000;
const CLIENTS = 8;
const NOTICES = 300;
const RETRY_PAUSE_MS = 100;
const NOW = '2026-11-20T09:00:00';
/** "Fast": a refusal during the outage takes at most this long. */
const FAIL_FAST_MS = 2_000;

interface Attempt {
  agencyTxnId: string;
  payCode: string;
  body: Record<string, unknown>;
  startedMs: number;
  endedMs: number;
  status: number;
  code: string | undefined;
  retryAfter: string | null;
}

let dedicated: DedicatedService;
let service: TestService;
let agency: SignedCall;
let unit: SignedCall;

beforeAll(async () => {
  dedicated = await startDedicatedService({ prefix: 'tongfu-outage-', durable: false, poolMax: 10, now: NOW });
  ({ service, unit, agency } = dedicated);
});

afterAll(async () => {
  await dedicated?.close();
});

it('answers 503 fast while PostgreSQL is down, recovers by itself, and leaves nothing half-written', async () => {
  const payCodes: string[] = [];
  for (let index = 0; index < NOTICES; index += 1) payCodes.push(await issueNotice(unit));
  let next = 0;
  let stopLoad = false;
  const attempts: Attempt[] = [];
  const t0 = performance.now();
  const post = async (payCode: string, body: Record<string, unknown>): Promise<Attempt> => {
    const startedMs = performance.now() - t0;
    const response = await agency('POST', '/v1/agency/payments', body);
    return { agencyTxnId: body.agencyTxnId as string, payCode, body, startedMs, endedMs: performance.now() - t0, status: response.status, code: response.body?.error?.code, retryAfter: response.headers.get('retry-after') };
  };
  // Each client posts to notice after notice; a refused posting is retried with the same body
  // (the same agencyTxnId, freshly signed) after a short pause, as an agency would.
  const client = async (): Promise<void> => {
    while (!stopLoad && next < payCodes.length) {
      const payCode = payCodes[next++] as string;
      const body = postingBody({ payCode, amount: '50.00', paidAt: shanghai('2026-11-20T08:59:30'), agencyTxnId: newTxnId('OUT') });
      for (;;) {
        const attempt = await post(payCode, body);
        attempts.push(attempt);
        if (attempt.status === 201 || stopLoad) break;
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  };
  const load = Promise.all(Array.from({ length: CLIENTS }, client));

  // The load is flowing (some postings succeeded, whatever a cold server's first statements cost) before the stop.
  const flowingBy = Date.now() + 30_000;
  while (!attempts.some((a) => a.status === 201) && Date.now() < flowingBy) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const stopAt = performance.now() - t0;
  await dedicated.embedded.stop();
  const downAt = performance.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  const upAt = performance.now() - t0;
  dedicated.embedded = dedicated.newEmbedded();
  await dedicated.embedded.start();
  // Recovered by itself: the load goes on until a posting started after the restart succeeds.
  const deadline = Date.now() + 30_000;
  while (!attempts.some((a) => a.startedMs > upAt && a.status === 201) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  stopLoad = true;
  await load;

  const unexpected = attempts.filter((a) => a.status !== 201 && !(a.status === 503 && a.code === 'UNAVAILABLE'));
  expect(unexpected.map((a) => `${a.status} ${a.code}`)).toEqual([]);
  const during = attempts.filter((a) => a.startedMs > downAt && a.endedMs < upAt);
  expect(during.length).toBeGreaterThan(CLIENTS * 10);
  expect(during.every((a) => a.status === 503 && a.retryAfter === '5')).toBe(true);
  expect(Math.max(...during.map((a) => a.endedMs - a.startedMs))).toBeLessThan(FAIL_FAST_MS);
  expect(attempts.filter((a) => a.endedMs < stopAt && a.status === 201).length).toBeGreaterThan(0);
  expect(attempts.some((a) => a.startedMs > upAt && a.status === 201)).toBe(true);

  // What was still refused when the load stopped is retried now, freshly signed: one SUCCEEDED
  // answer each, whether its first try was cut off before or after its commit.
  const lastByTxn = new Map(attempts.map((a) => [a.agencyTxnId, a]));
  for (const attempt of [...lastByTxn.values()].filter((a) => a.status !== 201)) {
    const retry = await post(attempt.payCode, attempt.body);
    expect({ status: retry.status, code: retry.code }).toEqual({ status: 201, code: undefined });
  }
  expect(attempts.some((a) => a.status === 503)).toBe(true);
  const answered = new Set(attempts.map((a) => a.agencyTxnId));
  const { rows } = await service.database.db.raw<{ rows: Array<{ agency_txn_id: string; status: string; entries: number; receipts: number; events: number; notice_status: string }> }>(`
    SELECT p.agency_txn_id, p.status, n.status AS notice_status,
           (SELECT count(*)::int FROM journal_entries e WHERE e.payment_id = p.id) AS entries,
           (SELECT count(*)::int FROM receipts r WHERE r.agency_txn_id = p.agency_txn_id) AS receipts,
           (SELECT count(*)::int FROM events v WHERE v.data -> 'payment' ->> 'paymentId' = p.payment_id) AS events
      FROM payments p JOIN notices n ON n.id = p.notice_id
     WHERE p.agency_txn_id LIKE 'OUT%'`);
  expect(rows.length).toBe(answered.size);
  expect(new Set(rows.map((row) => row.agency_txn_id))).toEqual(answered);
  expect(rows.filter((row) => !(row.status === 'SUCCEEDED' && row.notice_status === 'PAID' && row.entries === 1 && row.receipts === 1 && row.events === 2))).toEqual([]);
  await expectLedgerVerified(service.database.db);
});

