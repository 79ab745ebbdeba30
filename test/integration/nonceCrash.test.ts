import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { NONCE_HORIZON_MARGIN_SECONDS } from '../../src/db/repositories/requestNonces';
import { SignedCall } from '../helpers/builders';
import { DedicatedService, startDedicatedService } from '../helpers/dedicatedServer';
import { issueNotice } from '../helpers/payments';
import { TestResponse, TestService } from '../helpers/testService';

/**
 * A request captured before a PostgreSQL crash and sent again after it, within the timestamp
 * window, is refused (contracts/decisions/0059-nonces-after-a-database-crash.md): the UNLOGGED
 * nonce table is emptied by crash recovery, and the nonce horizon refuses what was signed before
 * the restart. The postmaster of this test's own embedded PostgreSQL is SIGKILLed; its supervisor
 * starts it again, with crash recovery.
 */
jest.setTimeout(120_000);

let dedicated: DedicatedService;
let service: TestService;
let unit: SignedCall;
let agency: SignedCall;

beforeAll(async () => {
  // Durable: what committed before the kill must survive it, as in production.
  dedicated = await startDedicatedService({ prefix: 'tongfu-noncecrash-', durable: true, poolMax: 5, now: '2026-11-20T09:00:00' });
  ({ service, unit, agency } = dedicated);
});

afterAll(async () => {
  await dedicated?.close();
});

/** Sends until the answer is not 503 (the pool reconnecting after the restart). */
async function untilAvailable(send: () => Promise<TestResponse>): Promise<TestResponse> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await send();
    if (response.status !== 503 || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

it('refuses a request captured before a crash and re-sent within the window after it; a fresh one works', async () => {
  const payCode = await issueNotice(unit, { dueDate: '2026-12-20' });
  const nowSeconds = Math.floor(Date.now() / 1000);
  const verify = { nonce: `crash-${crypto.randomBytes(8).toString('hex')}`, timestampSeconds: nowSeconds };
  const create = { nonce: `crash-${crypto.randomBytes(8).toString('hex')}`, timestampSeconds: nowSeconds };
  const createBody = { bizRef: `CRASH-${crypto.randomBytes(4).toString('hex')}`, noticeType: 1, payer: { name: '斯琴·图雅' }, items: [{ itemCode: 'FEE_LICENCE', amount: '50.00' }], dueDate: '2026-12-20' };
  const first = await agency('GET', `/v1/agency/notices/${payCode}`, undefined, verify);
  expect([first.status, first.text]).toEqual([200, expect.any(String)]);
  expect((await unit('POST', '/v1/unit/notices', createBody, create)).status).toBe(201);
  // Before any crash the copies are refused as usual.
  expect((await agency('GET', `/v1/agency/notices/${payCode}`, undefined, verify)).body.error.code).toBe('NONCE_REUSED');

  const before = (await service.database.db.raw<{ rows: Array<{ started: Date }> }>('SELECT pg_postmaster_start_time() AS started')).rows[0]!.started;
  const postmasterPid = Number(fs.readFileSync(path.join(dedicated.dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(postmasterPid, 'SIGKILL');

  // The supervisor starts it again; crash recovery empties the UNLOGGED nonce table.
  const started = await (async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const row = (await service.database.db.raw<{ rows: Array<{ started: Date }> }>('SELECT pg_postmaster_start_time() AS started')).rows[0]!;
        if (row.started.getTime() !== before.getTime()) return row.started;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error('PostgreSQL did not come back');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  expect(await service.database.db('request_nonces').whereNot({ app_id: '' }).count({ n: '*' })).toEqual([{ n: '0' }]);
  expect(Math.abs(Date.now() / 1000 - verify.timestampSeconds)).toBeLessThan(300);

  const replayedVerify = await untilAvailable(() => agency('GET', `/v1/agency/notices/${payCode}`, undefined, verify));
  expect([replayedVerify.status, replayedVerify.body.error?.code]).toEqual([401, 'NONCE_REUSED']);
  const replayedCreate = await untilAvailable(() => unit('POST', '/v1/unit/notices', createBody, create));
  expect([replayedCreate.status, replayedCreate.body.error?.code]).toEqual([401, 'NONCE_REUSED']);

  // A request signed after the restart (plus the margin) works: within the ±300 s window, a
  // client's clock may read that late.
  const freshSeconds = Math.max(Math.floor(Date.now() / 1000), Math.ceil(started.getTime() / 1000) + NONCE_HORIZON_MARGIN_SECONDS + 1);
  const fresh = await untilAvailable(() => agency('GET', `/v1/agency/notices/${payCode}`, undefined, { timestampSeconds: freshSeconds }));
  expect(fresh.status).toBe(200);
});
