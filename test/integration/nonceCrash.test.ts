import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/database';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { NONCE_HORIZON_MARGIN_SECONDS } from '../../src/db/repositories/requestNonces';
import { ManualClock } from '../../src/domain/clock';
import { Runtime, startRuntime } from '../../src/runtime';
import { buildWorld, signedAs, SignedCall } from '../helpers/builders';
import { issueNotice, shanghai } from '../helpers/payments';
import { sendChecked, TestResponse, TestService } from '../helpers/testService';

/**
 * A request captured before a PostgreSQL crash and sent again after it, within the timestamp
 * window, is refused (contracts/decisions/0059-nonces-after-a-database-crash.md): the UNLOGGED
 * nonce table is emptied by crash recovery, and the nonce horizon refuses what was signed before
 * the restart. The postmaster of this test's own embedded PostgreSQL is SIGKILLed; its supervisor
 * starts it again, with crash recovery.
 */
jest.setTimeout(120_000);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-noncecrash-'));
fs.chmodSync(dataDir, 0o755);
let embedded: EmbeddedPostgres;
let runtime: Runtime;
let server: http.Server;
let service: TestService;
let unit: SignedCall;
let agency: SignedCall;

beforeAll(async () => {
  // Durable: what committed before the kill must survive it, as in production.
  embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'silent' }), durable: true, reuseLiveServer: false });
  const connectionString = await embedded.start();
  const db = createDb({ connectionString, poolMax: 5 });
  const config = loadConfig({ DATABASE_URL: connectionString, TONGFU_JOBS: 'off', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://tongfu.test' });
  const business = new ManualClock(new Date(shanghai('2026-11-20T09:00:00')));
  runtime = await startRuntime(config, pino({ level: 'silent' }), { database: { db, connectionString, embedded: undefined, close: () => db.destroy() }, clocks: { business, real: { now: () => new Date() } } });
  server = http.createServer(runtime.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  service = {
    baseUrl,
    runtime,
    database: { db, connectionString, name: 'tongfu', drop: () => db.destroy() },
    clocks: { business, real: { now: () => new Date() } },
    request: (method, target, options) => sendChecked(baseUrl, method, target, options),
    close: async () => undefined,
  };
  const world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await runtime?.close();
  await embedded?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
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
  const postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
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
