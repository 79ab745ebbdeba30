import { runCli, CliIo } from '../../src/cli/main';
import { findJournalEntry, insertJournalEntry } from '../../src/db/repositories/ledger';
import { reversalEntry } from '../../src/domain/ledger';
import { JobRunner } from '../../src/jobs/runner';
import { verifyLedger } from '../../src/services/ledger';
import { closeJob } from '../../src/jobs/close';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';

/**
 * The daily close (docs/settlement.md §5, contracts/decisions/0140-daily-close.md): dates sealed in
 * order, empty ones too; content, hash and signature checked with independent SM3, SM2 and RFC
 * 8785 implementations; a late entry moved to the first open date and listed as an adjustment; a
 * tampered close found by `close verify`.
 */
jest.setTimeout(60_000);

// Independent implementations: sm-crypto (SM2, SM3), and RFC 8785 written out here for content
// made of strings, arrays and objects only (the canonicalize package is ESM, which jest cannot load).
const smCrypto = require('sm-crypto') as {
  sm3(input: string | number[]): string;
  sm2: { doVerifySignature(message: string, signatureHex: string, publicKeyHex: string, options: { hash: boolean; der: boolean }): boolean };
};
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonical(member)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let finance: SignedCall;
/** A notice issued on the 20th and paid on the 20th, its posting arriving on the 23rd. */
let late: string;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  finance = signedAs(service, world.finance);
});

afterAll(async () => {
  await service?.close();
});

async function issue(amount: string): Promise<string> {
  return issueNotice(unit, { items: [{ itemCode: ITEMS.fine, amount }], dueDate: '2026-12-31' });
}

async function pay(payCode: string, paidAtLocal: string): Promise<void> {
  const notice = await agency('GET', `/v1/agency/notices/${payCode}`);
  const due = notice.body.amountDue as string;
  const response = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due, paidAt: shanghai(paidAtLocal), agencyTxnId: newTxnId('CLS') }));
  if (response.status !== 201) throw new Error(`posting refused: ${response.status} ${response.text}`);
}

function cliIo(): CliIo & { outputs: unknown[]; errors: string[] } {
  const outputs: unknown[] = [];
  const errors: string[] = [];
  return { outputs, errors, out: (value) => outputs.push(value), err: (message) => errors.push(message), text: (message) => outputs.push(message) } as CliIo & { outputs: unknown[]; errors: string[] };
}

/** Checks a close with the independent implementations, from its API answer alone. */
async function checkIndependently(body: { close: Record<string, unknown>; closeHash: string; signature: string; keyId: string }, previousHash: string): Promise<void> {
  expect(body.close.previousCloseHash).toBe(previousHash);
  const text = canonical(body.close);
  expect(smCrypto.sm3(Array.from(Buffer.from(previousHash + text, 'utf8')))).toBe(body.closeHash);
  const keys = await service.request('GET', '/v1/platform/keys');
  const key = (keys.body.keys as Array<{ keyId: string; publicKeyHex: string }>).find((candidate) => candidate.keyId === body.keyId);
  expect(key).toBeDefined();
  const signed = canonical({ close: body.close, closeHash: body.closeHash });
  expect(smCrypto.sm2.doVerifySignature(signed, Buffer.from(body.signature, 'base64').toString('hex'), key!.publicKeyHex, { hash: true, der: true })).toBe(true);
}

it('seals dates in order, empty days too, with figures that tie to the journal, and a chain anyone can verify', async () => {
  const first200 = await issue('200.00');
  const then300 = await issue('300.00');
  await issue('150.00').then((payCode) => (late = payCode));
  service.clocks.business.set(new Date(shanghai('2026-11-20T12:00:00')));
  await pay(first200, '2026-11-20T10:00:00');
  await pay(then300, '2026-11-20T11:00:00');
  service.clocks.business.set(new Date(shanghai('2026-11-23T17:00:00')));

  const sealed = await service.runtime.services.dailyCloses.closeThrough('2026-11-22');
  expect(sealed).toEqual(['2026-11-20', '2026-11-21', '2026-11-22']);
  // A rerun changes nothing.
  expect(await service.runtime.services.dailyCloses.closeThrough('2026-11-22')).toEqual([]);

  const first = await finance('GET', '/v1/finance/closes/2026-11-20');
  expect(first.status).toBe(200);
  const close = first.body.close;
  const mine = (close.agencies as Array<Record<string, string>>).find((row) => row.agencyCode === world.agency.code)!;
  const { rows } = await service.database.db.raw<{ rows: Array<{ total: string }> }>(
    `SELECT COALESCE(sum(amount), 0)::text AS total FROM payments WHERE agency_code = ? AND status = 'SUCCEEDED' AND business_date = '2026-11-20'`,
    [world.agency.code],
  );
  expect(mine.collected).toBe(rows[0]!.total);
  expect(close.totals.collected).toBe(rows[0]!.total);
  // The trial balance balances and carries on through the empty days unchanged.
  const debits = (close.trialBalance as Array<{ debit: string; credit: string }>).reduce((sum, line) => sum + Math.round(Number(line.debit) * 100), 0);
  const credits = (close.trialBalance as Array<{ debit: string; credit: string }>).reduce((sum, line) => sum + Math.round(Number(line.credit) * 100), 0);
  expect(debits).toBe(credits);
  expect(debits).toBeGreaterThan(0);
  const empty = await finance('GET', '/v1/finance/closes/2026-11-21');
  expect(empty.body.close.trialBalance).toEqual(close.trialBalance);
  expect(empty.body.close.totals.collected).toBe('0.00');

  await checkIndependently(first.body, '0'.repeat(64));
  await checkIndependently(empty.body, first.body.closeHash);
  const list = await finance('GET', '/v1/finance/closes?from=2026-11-20&to=2026-11-22');
  expect((list.body.data as Array<{ close: { businessDate: string } }>).map((row) => row.close.businessDate)).toEqual(['2026-11-20', '2026-11-21', '2026-11-22']);
  const backwards = await finance('GET', '/v1/finance/closes?from=2026-11-22&to=2026-11-20');
  expect([backwards.status, backwards.body.error.code, backwards.body.error.details]).toEqual([400, 'VALIDATION_FAILED', { fields: [{ path: '/query/from', problem: 'must not be after to (2026-11-20)' }] }]);

  expect((await finance('GET', '/v1/finance/closes/2026-11-23')).body.error.code).toBe('NOT_FOUND');
  expect((await unit('GET', '/v1/finance/closes/2026-11-20')).status).toBe(403);
  await expectLedgerVerified(service.database.db);
});

it('moves an entry meant for a sealed date to the first open date and lists it there as an adjustment', async () => {
  // A captured-funds posting paid on the 20th (sealed) arrives on the 23rd.
  service.clocks.business.set(new Date(shanghai('2026-11-23T18:00:00')));
  await pay(late, '2026-11-20T15:00:00');
  const { rows } = await service.database.db.raw<{ rows: Array<{ id: string; accounting_date: string; for_date: string }> }>(
    `SELECT e.id::text AS id, to_char(e.accounting_date, 'YYYY-MM-DD') AS accounting_date, to_char(e.for_date, 'YYYY-MM-DD') AS for_date
       FROM journal_entries e ORDER BY e.id DESC LIMIT 1`,
  );
  expect(rows[0]).toMatchObject({ accounting_date: '2026-11-23', for_date: '2026-11-20' });

  service.clocks.business.set(new Date(shanghai('2026-11-24T17:00:00')));
  const services = service.runtime.services;
  const runner = new JobRunner({ db: service.database.db, connectionString: service.database.connectionString, clocks: services.deps.clocks, log: services.deps.log });
  const outcome = await runner.run({ job: closeJob(services.dailyCloses), trigger: 'MANUAL', lockWaitMs: 10_000 });
  expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', counts: { sealed: 1 } });

  const day = await finance('GET', '/v1/finance/closes/2026-11-23');
  expect(day.body.close.adjustments).toEqual([{ entryId: rows[0]!.id, forDate: '2026-11-20', amount: expect.stringMatching(/^\d+\.\d{2}$/), reason: 'PAYMENT_SUCCEEDED' }]);
  // The sealed 20th did not change.
  const sealed = await finance('GET', '/v1/finance/closes/2026-11-20');
  const again = await service.runtime.services.dailyCloses.find('2026-11-20');
  expect(again.closeHash).toBe(sealed.body.closeHash);
  await checkIndependently(day.body, (await finance('GET', '/v1/finance/closes/2026-11-22')).body.closeHash);

  const io = cliIo();
  expect(await runCli(['close', 'verify'], io, { DATABASE_URL: service.database.connectionString, LOG_LEVEL: 'silent' })).toBe(0);
  expect(io.outputs[0]).toMatchObject({ ok: true, closes: 4, first: '2026-11-20', last: '2026-11-23' });
});

it('two instances sealing at once write each date once', async () => {
  service.clocks.business.set(new Date(shanghai('2026-11-28T17:00:00')));
  const closes = service.runtime.services.dailyCloses;
  const [a, b] = await Promise.all([closes.closeThrough('2026-11-27'), closes.closeThrough('2026-11-27')]);
  expect([...a, ...b].sort()).toEqual(['2026-11-24', '2026-11-25', '2026-11-26', '2026-11-27']);
  const verification = await closes.verifyChain();
  expect(verification).toMatchObject({ ok: true, closes: 8, last: '2026-11-27' });
});

it('seals a date while postings for it are in flight: every entry is in the close or moved to the next date', async () => {
  // Sealing "today" on purpose, so the race is real: postings written on the 28th race its seal.
  service.clocks.business.set(new Date(shanghai('2026-11-28T10:00:00')));
  const payCodes: string[] = [];
  for (let index = 0; index < 24; index += 1) payCodes.push(await issue('10.00'));
  service.clocks.business.set(new Date(shanghai('2026-11-28T12:00:00')));
  const postings = payCodes.map((payCode, index) => (async () => {
    await new Promise((resolve) => setTimeout(resolve, index * 5));
    await pay(payCode, '2026-11-28T11:00:00');
  })());
  await new Promise((resolve) => setTimeout(resolve, 40));
  const sealing = service.runtime.services.dailyCloses.closeThrough('2026-11-28');
  await Promise.all([...postings, sealing]);
  const db = service.database.db;
  const close = await service.runtime.services.dailyCloses.find('2026-11-28');
  const { rows } = await db.raw<{ rows: Array<{ debit: string }> }>(
    `SELECT COALESCE(sum(l.amount), 0)::text AS debit FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id WHERE l.side = 'DEBIT' AND e.accounting_date <= '2026-11-28'`,
  );
  const sealedDebits = close.close.trialBalance.reduce((sum, line) => sum + Math.round(Number(line.debit) * 100), 0);
  expect(sealedDebits).toBe(Math.round(Number(rows[0]!.debit) * 100));
  const moved = await db.raw<{ rows: Array<{ n: string }> }>(`SELECT count(*)::text AS n FROM journal_entries WHERE for_date = '2026-11-28' AND accounting_date = '2026-11-29'`);
  const onTheDay = await db.raw<{ rows: Array<{ n: string }> }>(`SELECT count(*)::text AS n FROM journal_entries e JOIN payments p ON p.id = e.payment_id WHERE p.business_date = '2026-11-28'`);
  // Every posting landed once: on the sealed day or, written after its cut-off, on the next.
  expect(Number(onTheDay.rows[0]!.n)).toBe(24);
  expect(Number(moved.rows[0]!.n)).toBeLessThanOrEqual(24);
  await expectLedgerVerified(db);
});

it('finds a tampered close: close verify exits 1 naming the date', async () => {
  const db = service.database.db;
  await db.raw('ALTER TABLE daily_closes DISABLE TRIGGER daily_closes_append_only');
  try {
    const row = (await db.raw<{ rows: Array<{ content: string }> }>(`SELECT content FROM daily_closes WHERE business_date = '2026-11-21'`)).rows[0]!;
    const forged = row.content.replace('"collected":"0.00"', '"collected":"1.00"');
    expect(forged).not.toBe(row.content);
    await db.raw(`UPDATE daily_closes SET content = ? WHERE business_date = '2026-11-21'`, [forged]);
  } finally {
    await db.raw('ALTER TABLE daily_closes ENABLE TRIGGER daily_closes_append_only');
  }
  const io = cliIo();
  expect(await runCli(['close', 'verify'], io, { DATABASE_URL: service.database.connectionString, LOG_LEVEL: 'silent' })).toBe(1);
  expect(io.outputs[0]).toMatchObject({ ok: false, breaks: [{ businessDate: '2026-11-21', problem: 'HASH' }, { businessDate: '2026-11-21', problem: 'SIGNATURE' }] });
  expect(io.errors.join('\n')).toContain('2026-11-21');
  const ledger = await verifyLedger(db);
  expect(ledger.checks.find((check) => check.name === 'closeChain')).toMatchObject({ ok: false, breaks: [{ subject: 'close 2026-11-21', detail: { problem: 'HASH' } }] });
  // The store refuses an edit while its trigger is on.
  await expect(db.raw(`UPDATE daily_closes SET key_id = 'x' WHERE business_date = '2026-11-22'`)).rejects.toThrow(/append-only/);
});

it('waits for a writer that read the old cut-off before it seals (the drain)', async () => {
  // The last test: it writes a bare reversal, which `ledger verify` would rightly call a break.
  const db = service.database.db;
  service.clocks.business.set(new Date(shanghai('2026-11-29T12:00:00')));
  const original = await db.raw<{ rows: Array<{ id: string }> }>(`SELECT id::text AS id FROM journal_entries WHERE kind = 'PAYMENT_SUCCEEDED' ORDER BY id DESC LIMIT 1`);
  const trx = await db.transaction();
  const stored = await findJournalEntry(trx, original.rows[0]!.id);
  await insertJournalEntry(trx, reversalEntry({ original: stored!, accountingDate: '2026-11-29' }), new Date(shanghai('2026-11-29T12:00:00')));
  let sealedAt = 0;
  const sealing = service.runtime.services.dailyCloses.closeThrough('2026-11-29').then((dates) => {
    sealedAt = Date.now();
    return dates;
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(sealedAt).toBe(0);
  const committedAt = Date.now();
  await trx.commit();
  expect(await sealing).toEqual(['2026-11-29']);
  expect(sealedAt).toBeGreaterThanOrEqual(committedAt);
  const close = await service.runtime.services.dailyCloses.find('2026-11-29');
  const { rows } = await db.raw<{ rows: Array<{ debit: string }> }>(
    `SELECT COALESCE(sum(l.amount), 0)::text AS debit FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id WHERE l.side = 'DEBIT' AND e.accounting_date <= '2026-11-29'`,
  );
  expect(close.close.trialBalance.reduce((sum, line) => sum + Math.round(Number(line.debit) * 100), 0)).toBe(Math.round(Number(rows[0]!.debit) * 100));
});
