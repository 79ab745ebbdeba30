import pino from 'pino';
import { TongfuError } from '../../src/domain/errors';
import { type PostPaymentInput, PaymentService, type ReceiptPreparer } from '../../src/services/payments';
import { addAgency, buildWorld, signedAs, SignedCall, World } from '../helpers/builders';
import { startSecondInstance } from '../helpers/instances';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import type { TestResponse, TestService } from '../helpers/testService';
import { startTestService } from '../helpers/testService';

/**
 * The guarantee of docs/lifecycle.md §3, with real concurrency: simultaneous postings over real HTTP,
 * on two instances of the service (each its own pool of connections) on one PostgreSQL, from two
 * agencies. Any number of postings for one notice with the right amount give exactly one
 * SUCCEEDED; the others are refused (funds not captured) or recorded UNAPPLIED with
 * NOTICE_ALREADY_PAID (captured). Never two successes, never a lost posting. Concurrent repeats of
 * one agencyTxnId execute once.
 */

const ROUNDS = 20;
const POSTINGS_PER_ROUND = 50;
const NOW = shanghai('2026-11-20T09:00:00');
/** A thousand signed postings take a while on a busy two-core machine; the assertions, not the clock, decide. */
const MANY_POSTINGS_TIMEOUT_MS = 240_000;

let first: TestService;
let second: TestService;
let world: World;
let unit: SignedCall;
/** [agency][instance]: each agency posts through both instances. */
let callers: SignedCall[][];

beforeAll(async () => {
  first = await startTestService({ businessNow: new Date(NOW) });
  second = await startSecondInstance(first);
  world = await buildWorld(first);
  unit = signedAs(first, world.unit);
  const otherAgency = await addAgency(world);
  callers = [world.agency, otherAgency].map((credentials) => [signedAs(first, credentials), signedAs(second, credentials)]);
});

afterAll(async () => {
  await second.close();
  await first.close();
});

/** Fires every request before awaiting any: each is signed and on its way in the same tick. */
function all(requests: Array<() => Promise<TestResponse>>): Promise<TestResponse[]> {
  return Promise.all(requests.map((send) => send()));
}

function callerFor(index: number): SignedCall {
  const byAgency = callers[index % 2] as SignedCall[];
  return byAgency[Math.floor(index / 2) % 2] as SignedCall;
}

describe('simultaneous postings for one notice', () => {
  it(`give exactly one SUCCEEDED in each of ${ROUNDS} rounds of ${POSTINGS_PER_ROUND}, and record every captured loser as unapplied`, async () => {
    const db = first.database.db;
    for (let round = 0; round < ROUNDS; round += 1) {
      const payCode = await issueNotice(unit);
      const bodies = Array.from({ length: POSTINGS_PER_ROUND }, (_, index) =>
        // Captured and not captured alternate in pairs, so each agency and instance posts both.
        postingBody({ payCode, amount: '50.00', paidAt: NOW, agencyTxnId: newTxnId(`R${round}`), fundsCaptured: index % 4 >= 2 }),
      );
      const responses = await all(bodies.map((body, index) => () => callerFor(index)('POST', '/v1/agency/payments', body)));

      const succeeded = responses.filter((response) => response.status === 201 && response.body.status === 'SUCCEEDED');
      expect(succeeded).toHaveLength(1);
      responses.forEach((response, index) => {
        if (response === succeeded[0]) return;
        if (bodies[index]?.fundsCaptured) {
          expect({ status: response.status, paymentStatus: response.body.status, reason: response.body.unappliedReason }).toEqual({ status: 201, paymentStatus: 'UNAPPLIED', reason: 'NOTICE_ALREADY_PAID' });
        } else {
          expect({ status: response.status, code: response.body.error?.code }).toEqual({ status: 409, code: 'NOTICE_ALREADY_PAID' });
        }
      });

      // Every 201 is a payment in the database, and nothing else is.
      const notice = await db('notices').where({ pay_code: payCode }).first();
      expect(notice).toMatchObject({ status: 'PAID', paid_amount: '50.00', receipt_no: succeeded[0]?.body.receiptNo });
      const stored = await db('payments').where({ pay_code: payCode }).select('payment_id', 'status', 'unapplied_reason');
      const answered = responses.filter((response) => response.status === 201).map((response) => response.body.paymentId).sort();
      expect(stored.map((row) => row.payment_id).sort()).toEqual(answered);
      expect(stored.filter((row) => row.status === 'SUCCEEDED')).toHaveLength(1);
      expect(await db('receipts').where({ pay_code: payCode }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '1' }]);
    }
    await expectLedgerVerified(db);
  }, MANY_POSTINGS_TIMEOUT_MS);
});

describe('simultaneous repeats of one agencyTxnId', () => {
  it('execute once, whether the posting applies or is unapplied money with no notice to lock', async () => {
    const db = first.database.db;
    for (let round = 0; round < 5; round += 1) {
      for (const body of [
        postingBody({ payCode: await issueNotice(unit), amount: '50.00', paidAt: NOW, agencyTxnId: newTxnId('REPEAT') }),
        postingBody({ payCode: unknownPayCode(), amount: '9.99', paidAt: NOW, agencyTxnId: newTxnId('REPEAT'), fundsCaptured: true }),
        postingBody({ payCode: 'NOT-A-CODE', amount: '1.00', paidAt: NOW, agencyTxnId: newTxnId('REPEAT'), fundsCaptured: true }),
      ]) {
        const agency = callers[round % 2] as SignedCall[];
        const responses = await all(Array.from({ length: 30 }, (_, index) => () => (agency[index % 2] as SignedCall)('POST', '/v1/agency/payments', body)));
        expect(responses.map((response) => response.status)).toEqual(responses.map(() => 201));
        expect(new Set(responses.map((response) => response.body.paymentId)).size).toBe(1);
        expect(responses.filter((response) => response.headers.get('idempotent-replay') !== 'true')).toHaveLength(1);
        expect(await db('payments').where({ agency_txn_id: body.agencyTxnId }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '1' }]);
      }
    }
    await expectLedgerVerified(db);
  }, MANY_POSTINGS_TIMEOUT_MS);

  it('with different content: one is recorded, every other is IDEMPOTENCY_CONFLICT', async () => {
    const agencyTxnId = newTxnId('CLASH');
    const agency = callers[0] as SignedCall[];
    const responses = await all(
      Array.from({ length: 20 }, (_, index) => () => (agency[index % 2] as SignedCall)('POST', '/v1/agency/payments', postingBody({ payCode: unknownPayCode(), amount: `${index + 1}.00`, paidAt: NOW, agencyTxnId, fundsCaptured: true }))),
    );
    expect(responses.filter((response) => response.status === 201)).toHaveLength(1);
    expect(responses.filter((response) => response.status === 409).map((response) => response.body.error.code)).toEqual(Array.from({ length: 19 }, () => 'IDEMPOTENCY_CONFLICT'));
    expect(await first.database.db('payments').where({ agency_txn_id: agencyTxnId }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '1' }]);
    await expectLedgerVerified(first.database.db);
  });
});

describe('a posting whose notice changes between its read and its write', () => {
  /**
   * A payment service whose receipt preparation — the step between the read and the write of an
   * applying posting — first lets `meanwhile` run once: the notice changes under the posting.
   */
  function serviceWithInterruption(meanwhile: () => Promise<void>): PaymentService {
    const { db, clocks } = first.runtime.services.deps;
    let interrupted = false;
    const receipts: ReceiptPreparer = {
      async prepareReceipt(input, via) {
        if (!interrupted) {
          interrupted = true;
          await meanwhile();
        }
        return first.runtime.services.receipts.prepareReceipt(input, via);
      },
    };
    return new PaymentService({ db, clocks, log: pino({ level: 'silent' }), receipts, fieldCipher: first.runtime.services.fieldCipher });
  }

  async function agencyCaller(): Promise<{ partyId: string; code: string }> {
    const row = await first.database.db('parties').where({ app_id: world.agency.appId }).first('id', 'code');
    return { partyId: row.id as string, code: row.code as string };
  }

  it.each([false, true])('writes nothing, then decides again under the lock (fundsCaptured %s)', async (fundsCaptured) => {
    const payCode = await issueNotice(unit);
    const agency = await agencyCaller();
    const winner = postingBody({ payCode, amount: '50.00', paidAt: NOW }) as unknown as PostPaymentInput;
    const loser = postingBody({ payCode, amount: '50.00', paidAt: NOW, fundsCaptured }) as unknown as PostPaymentInput;
    const service = serviceWithInterruption(async () => {
      await first.runtime.services.payments.postPayment(agency, winner);
    });
    const outcome = await service.postPayment(agency, loser).catch((error: unknown) => error);
    if (fundsCaptured) {
      expect(outcome).toMatchObject({ replayed: false, payment: { status: 'UNAPPLIED', unappliedReason: 'NOTICE_ALREADY_PAID' } });
    } else {
      expect(outcome).toBeInstanceOf(TongfuError);
      expect((outcome as TongfuError).code).toBe('NOTICE_ALREADY_PAID');
    }
    const payments = await first.database.db('payments').where({ pay_code: payCode }).orderBy('id').select('agency_txn_id', 'status');
    expect(payments).toEqual([{ agency_txn_id: winner.agencyTxnId, status: 'SUCCEEDED' }, ...(fundsCaptured ? [{ agency_txn_id: loser.agencyTxnId, status: 'UNAPPLIED' }] : [])]);
    // The loser's receipt was prepared and never written: one receipt, the winner's.
    expect(await first.database.db('receipts').where({ pay_code: payCode }).select('agency_txn_id')).toEqual([{ agency_txn_id: winner.agencyTxnId }]);
    await expectLedgerVerified(first.database.db);
  });

  it('replays when a repeat of the same posting won meanwhile', async () => {
    const payCode = await issueNotice(unit);
    const agency = await agencyCaller();
    const body = postingBody({ payCode, amount: '50.00', paidAt: NOW }) as unknown as PostPaymentInput;
    let original: Awaited<ReturnType<PaymentService['postPayment']>> | undefined;
    const service = serviceWithInterruption(async () => {
      original = await first.runtime.services.payments.postPayment(agency, body);
    });
    const repeat = await service.postPayment(agency, body);
    expect(repeat.replayed).toBe(true);
    expect(repeat.payment).toEqual(original?.payment);
    expect(await first.database.db('payments').where({ agency_txn_id: body.agencyTxnId }).count<{ count: string }[]>({ count: '*' })).toEqual([{ count: '1' }]);
    await expectLedgerVerified(first.database.db);
  });
});
