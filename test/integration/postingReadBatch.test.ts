import crypto from 'node:crypto';
import { readForPostingsClaimingNonces, type BatchedPostingRead } from '../../src/db/repositories/payments';
import { pgRunner, withPooledClient } from '../../src/db/statements';
import { nonceClaimAt } from '../../src/services/nonces';
import { buildWorld, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';

/**
 * contracts/decisions/0175-batched-posting-reads.md: the postings' unlocked reads share one
 * statement, each answered as if alone, and the postings decided on them keep every guarantee.
 */
const NOW = shanghai('2026-11-20T09:00:00');
let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(NOW) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  await service.close();
});

const nonce = (prefix: string) => `${prefix}-${crypto.randomBytes(8).toString('hex')}`;

it('answers each read of a batch as if alone, in order', async () => {
  const open = await issueNotice(unit);
  const paid = await issueNotice(unit);
  const boundTxnId = newTxnId();
  const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode: paid, amount: '50.00', paidAt: NOW, agencyTxnId: boundTxnId }));
  expect(posted.status).toBe(201);
  const used = nonce('used');
  const repeated = nonce('repeated');
  const party = (await service.database.db('parties').where({ app_id: world.agency.appId }).first()) as { id: string; code: string };
  const read = (payCode: string | null, agencyTxnId: string, nonceText: string): BatchedPostingRead => ({
    parameters: { agencyPartyId: String(party.id), agencyTxnId, payCode },
    nonce: nonceClaimAt(world.agency.appId, nonceText, new Date()),
  });
  const run = (reads: BatchedPostingRead[]) => withPooledClient(service.database.db, (client) => readForPostingsClaimingNonces(pgRunner(client), reads));
  expect((await run([read(open, newTxnId(), used)]))[0]!.nonceClaimed).toBe(true);

  const answers = await run([
    read(open, newTxnId(), nonce('a')),
    read(paid, boundTxnId, repeated),
    read(null, newTxnId(), nonce('b')), // a code failing its check digits is never looked up
    read(unknownPayCode(), newTxnId(), nonce('c')),
    read(open, newTxnId(), used),
    read(open, newTxnId(), repeated),
  ]);
  expect(answers.map((answer) => answer.nonceClaimed)).toEqual([true, true, true, true, false, false]);
  const [fresh, bound, invalid, unknown] = answers.map((answer) => answer.row!);
  expect([fresh!.key_bound, fresh!.notice_status, fresh!.agency_code]).toEqual([false, 'ISSUED', party.code]);
  expect(fresh!.notice_items!.length).toBeGreaterThan(0);
  expect([bound!.key_bound, bound!.bound_agency_txn_id, bound!.bound_status, bound!.notice_status]).toEqual([true, boundTxnId, 'SUCCEEDED', 'PAID']);
  expect([invalid!.key_bound, invalid!.notice_id]).toEqual([false, null]);
  expect([unknown!.key_bound, unknown!.notice_id]).toEqual([false, null]);
  // Each read draws its own payment row id.
  expect(new Set(answers.slice(0, 4).map((answer) => answer.row!.payment_row_id)).size).toBe(4);
});

it('over HTTP, concurrent postings and their copies: one answer per nonce, NONCE_REUSED to every copy, one payment per notice', async () => {
  const payCodes = await Promise.all(Array.from({ length: 20 }, () => issueNotice(unit)));
  const sends = payCodes.flatMap((payCode) => {
    const body = postingBody({ payCode, amount: '50.00', paidAt: NOW, agencyTxnId: newTxnId() });
    const shared = nonce('http');
    // The original and a copy of it, and a fresh repeat of the same posting (a new nonce).
    return [shared, shared, nonce('repeat')].map((nonceText) => agency('POST', '/v1/agency/payments', body, { nonce: nonceText }).then((response) => ({ payCode, nonceText, response })));
  });
  const responses = await Promise.all(sends);
  for (const payCode of payCodes) {
    const mine = responses.filter((each) => each.payCode === payCode);
    const statuses = mine.map((each) => each.response.status);
    // One of the nonce's two requests is refused; the posting executes once, the other request
    // gets its idempotent answer (201 with Idempotent-Replay).
    expect(statuses.filter((status) => status === 401)).toHaveLength(1);
    expect(mine.find((each) => each.response.status === 401)!.response.body.error.code).toBe('NONCE_REUSED');
    const answered = mine.filter((each) => each.response.status === 201);
    expect(answered).toHaveLength(2);
    expect(answered.map((each) => each.response.headers.get('idempotent-replay')).sort()).toEqual(['true', null].sort());
    expect(answered[0]!.response.body.paymentId).toBe(answered[1]!.response.body.paymentId);
    const payments = await service.database.db('payments').where({ pay_code: payCode }).count({ n: '*' });
    expect(Number(payments[0]!.n)).toBe(1);
  }
  await expectLedgerVerified(service.database.db);
});
