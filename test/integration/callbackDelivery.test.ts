import pino from 'pino';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { CALLBACK_ATTEMPTS_PER_ROUND_MAX, CALLBACK_RETRY_DELAYS_MS } from '../../src/domain/callbacks';
import { ManualClock } from '../../src/domain/clock';
import { EventService } from '../../src/services/events';
import { PartyService } from '../../src/services/parties';
import { createPlatformSigner, PlatformSigner } from '../../src/services/platformKeys';
import { CallbackDeliveryWorker, CallbackWorkerOptions } from '../../src/workers/callbackDelivery';
import { RESPONSE_EXCERPT_BYTES_MAX } from '../../src/workers/callbackRequest';
import { closedPortUrl, ReceivedCallback, Receiver, startReceiver } from '../helpers/callbackReceivers';
import { schemaErrors } from '../helpers/contract';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newRecipient, recordTestEvent } from '../helpers/eventFixtures';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';
import { CLI_ACTOR } from '../../src/services/audit';

// Callback delivery (docs/lifecycle.md §5) against real HTTP receivers on 127.0.0.1 and real
// PostgreSQL. The real clock the worker schedules by is a ManualClock the tests move, so the
// whole retry schedule runs in seconds; HTTP deadlines are wall-clock time, as in production.

const smCryptoSm3 = (require('sm-crypto') as { sm3(input: string): string }).sm3;
const log = pino({ level: 'silent' });
const POLL_MS = 20;
/** Long enough for a worker polling every POLL_MS to have acted on anything due. */
const SETTLE_MS = 250;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('callback delivery', () => {
  let database: TestDatabase;
  let clock: ManualClock;
  let signer: PlatformSigner;
  let events: EventService;
  let parties: PartyService;
  const workers: CallbackDeliveryWorker[] = [];
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(20);
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    signer = createPlatformSigner(generateSm2KeyPair().privateKeyHex);
    const clocks = { business: clock, real: clock };
    events = new EventService({ db: database.db, clocks, log, onDeliveriesDue: () => workers.forEach((worker) => worker.wake()) });
    parties = new PartyService({ db: database.db, clocks, log });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop(100)));
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
    // What a test left pending must not be retried into the next one.
    await database.db('callback_deliveries').where({ status: 'PENDING' }).update({ status: 'DEAD', next_attempt_at: null, lease_until: null, lease_token: null });
  });
  afterAll(async () => {
    await database.drop();
  });

  function startWorker(options: Partial<CallbackWorkerOptions> = {}): CallbackDeliveryWorker {
    const worker = new CallbackDeliveryWorker({ db: database.db, signer, realClock: clock, log }, { pollIntervalMs: POLL_MS, ...options });
    workers.push(worker);
    worker.start();
    return worker;
  }
  async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
    const started = await startReceiver(...args);
    receivers.push(started);
    return started;
  }
  async function recordAndNumber(partyIds: string[]): Promise<string> {
    const eventId = await recordTestEvent(database.db, partyIds);
    await events.sequence({ wait: true });
    return eventId;
  }
  const deliveryOf = (eventId: string, partyId: string) =>
    database.db('callback_deliveries as d').join('events as e', 'e.id', 'd.event_row_id').where({ 'e.event_id': eventId, 'd.recipient_party_id': partyId }).first('d.*');
  const attemptsOf = (eventId: string, partyId: string) =>
    database.db('callback_attempts as a')
      .join('callback_deliveries as d', 'd.id', 'a.delivery_id')
      .join('events as e', 'e.id', 'd.event_row_id')
      .where({ 'e.event_id': eventId, 'd.recipient_party_id': partyId })
      .orderBy('a.id')
      .select('a.*');

  /** Verifies a callback as a receiver would, with the independent sm-crypto and the platform's published key. */
  function expectSignedByPlatform(callback: ReceivedCallback, expectedTarget: string): void {
    expect(callback.method).toBe('POST');
    expect(callback.target).toBe(expectedTarget);
    expect(callback.headers['content-type']).toBe('application/json');
    expect(callback.headers['x-tongfu-app-id']).toBe('TONGFU');
    expect(callback.headers['x-tongfu-key-id']).toBe(signer.keyId);
    const timestamp = String(callback.headers['x-tongfu-timestamp']);
    const nonce = String(callback.headers['x-tongfu-nonce']);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    const stringToSign = `POST\n${expectedTarget}\n${timestamp}\n${nonce}\n${smCryptoSm3(callback.body.toString('utf8'))}\n`;
    const signatureHex = Buffer.from(String(callback.headers['x-tongfu-signature']), 'base64').toString('hex');
    expect(smCryptoSm2.doVerifySignature(stringToSign, signatureHex, signer.publicKeyHex, { hash: true, der: true })).toBe(true);
    // A forged body does not verify.
    const forged = `POST\n${expectedTarget}\n${timestamp}\n${nonce}\n${smCryptoSm3(callback.body.toString('utf8') + ' ')}\n`;
    expect(smCryptoSm2.doVerifySignature(forged, signatureHex, signer.publicKeyHex, { hash: true, der: true })).toBe(false);
  }

  it('POSTs each numbered event as its JSON, signed by the platform with all five headers', async () => {
    const target = await receiver({ kind: 'ok' }, '/callbacks/tongfu?tenant=t1&x=%E4%B8%AD');
    const unit = await newRecipient(database.db, 'unit', { callbackUrl: target.url });
    startWorker();
    const first = await recordAndNumber([unit.partyId]);
    const second = await recordAndNumber([unit.partyId]);
    await waitFor('both callbacks', () => target.received.length >= 2);
    await sleep(SETTLE_MS);

    expect(target.received).toHaveLength(2);
    const byId = new Map(target.received.map((callback) => [callback.json.eventId, callback]));
    for (const [eventId, sequence] of [[first, 1], [second, 2]] as const) {
      const callback = byId.get(eventId) as ReceivedCallback;
      expectSignedByPlatform(callback, '/callbacks/tongfu?tenant=t1&x=%E4%B8%AD');
      expect(callback.headers['x-tongfu-timestamp']).toBe(String(Math.floor(clock.now().getTime() / 1000)));
      expect(Number(callback.headers['content-length'])).toBe(callback.body.length);
      expect(callback.json).toMatchObject({ eventId, type: 'payment.succeeded', sequence, occurredAt: '2026-11-23T10:00:01+08:00' });
      expect(schemaErrors('Event', callback.json)).toEqual([]);
      // The pull API shows the very same event.
      const pulled = (await events.pull(unit.partyId, sequence - 1, 1)).data[0];
      expect(callback.json).toEqual(pulled);

      const delivery = await deliveryOf(eventId, unit.partyId);
      expect(delivery).toMatchObject({ status: 'DELIVERED', attempt_count: 0, next_attempt_at: null, lease_until: null, lease_token: null });
      const attempts = await attemptsOf(eventId, unit.partyId);
      expect(attempts).toHaveLength(1);
      expect(attempts[0]).toMatchObject({ outcome: 'DELIVERED', status_code: 200, error: null, url: target.url });
      expect(attempts[0].latency_ms).toBeGreaterThanOrEqual(0);
    }
    expect(target.received[0]?.headers['x-tongfu-nonce']).not.toBe(target.received[1]?.headers['x-tongfu-nonce']);
  });

  it('retries a failing recipient after 15 s, 15 s, 30 s, … 6 h on the real clock, then gives up; a redelivery starts again', async () => {
    const target = await receiver({ kind: 'fail', status: 500, body: 'database is down' });
    const agency = await newRecipient(database.db, 'agency', { callbackUrl: target.url });
    startWorker();
    const eventId = await recordAndNumber([agency.partyId]);
    await waitFor('the first attempt', () => target.received.length === 1);

    for (const [index, delayMs] of CALLBACK_RETRY_DELAYS_MS.entries()) {
      const failedAttempts = index + 1;
      const pending = await waitFor('the attempt to be recorded', async () => {
        const delivery = await deliveryOf(eventId, agency.partyId);
        return delivery.attempt_count === failedAttempts && delivery.lease_token === null ? delivery : undefined;
      });
      expect(pending.status).toBe('PENDING');
      expect(pending.next_attempt_at.getTime()).toBe(clock.now().getTime() + delayMs);
      // Not a moment early…
      clock.advance(delayMs - 1_000);
      await sleep(SETTLE_MS);
      expect(target.received).toHaveLength(failedAttempts);
      // …and at once when due.
      clock.advance(1_000);
      await waitFor(`attempt ${failedAttempts + 1}`, () => target.received.length === failedAttempts + 1);
    }
    const dead = await waitFor('DEAD', async () => {
      const delivery = await deliveryOf(eventId, agency.partyId);
      return delivery.status === 'DEAD' ? delivery : undefined;
    });
    expect(dead).toMatchObject({ attempt_count: CALLBACK_ATTEMPTS_PER_ROUND_MAX, next_attempt_at: null, lease_token: null });
    clock.advance(48 * 3600_000);
    await sleep(SETTLE_MS);
    expect(target.received).toHaveLength(CALLBACK_ATTEMPTS_PER_ROUND_MAX);

    const attempts = await attemptsOf(eventId, agency.partyId);
    expect(attempts).toHaveLength(CALLBACK_ATTEMPTS_PER_ROUND_MAX);
    expect(attempts.every((attempt) => attempt.outcome === 'FAILED' && attempt.status_code === 500 && attempt.error === 'HTTP 500: database is down')).toBe(true);
    // The same event every time — one eventId, identical bytes — signed afresh each time.
    expect(new Set(target.eventIds())).toEqual(new Set([eventId]));
    expect(new Set(target.received.map((callback) => callback.body.toString('hex'))).size).toBe(1);
    expect(new Set(target.received.map((callback) => callback.headers['x-tongfu-nonce'])).size).toBe(CALLBACK_ATTEMPTS_PER_ROUND_MAX);
    const timestamps = target.received.map((callback) => Number(callback.headers['x-tongfu-timestamp']));
    expect(timestamps).toEqual([...timestamps].sort((a, b) => a - b));
    expect((timestamps.at(-1) as number) - (timestamps[0] as number)).toBe(CALLBACK_RETRY_DELAYS_MS.reduce((sum, ms) => sum + ms, 0) / 1000);

    // Finance redelivers; the recipient is back.
    target.behaviour = { kind: 'ok' };
    expect(await events.redeliver(eventId, CLI_ACTOR)).toMatchObject({ eventId, status: 'PENDING' });
    await waitFor('the redelivery', () => target.received.length === CALLBACK_ATTEMPTS_PER_ROUND_MAX + 1);
    const delivered = await waitFor('DELIVERED', async () => {
      const delivery = await deliveryOf(eventId, agency.partyId);
      return delivery.status === 'DELIVERED' ? delivery : undefined;
    });
    expect(delivered).toMatchObject({ attempt_count: 0, redelivery_count: 1 });
    expect(await attemptsOf(eventId, agency.partyId)).toHaveLength(CALLBACK_ATTEMPTS_PER_ROUND_MAX + 1);
    expect(target.received.at(-1)?.json.eventId).toBe(eventId);
  });

  it('gives a recipient that does not answer 5 s, while a healthy recipient is served at once', async () => {
    const hanging = await receiver({ kind: 'hang' });
    const healthy = await receiver({ kind: 'ok' });
    const slow = await newRecipient(database.db, 'agency', { callbackUrl: hanging.url });
    const fast = await newRecipient(database.db, 'unit', { callbackUrl: healthy.url });
    const worker = startWorker();
    // The hanging recipient's events come first, and outnumber its share of the worker.
    const slowEvents: string[] = [];
    for (let i = 0; i < 6; i += 1) slowEvents.push(await recordTestEvent(database.db, [slow.partyId]));
    const fastEvents: string[] = [];
    for (let i = 0; i < 10; i += 1) fastEvents.push(await recordTestEvent(database.db, [fast.partyId]));
    const startedMs = Date.now();
    await events.sequence({ wait: true });

    await waitFor('every healthy delivery', () => healthy.received.length === 10, 3_000);
    expect(Date.now() - startedMs).toBeLessThan(2_000);
    expect(new Set(healthy.eventIds())).toEqual(new Set(fastEvents));
    await waitFor('the healthy deliveries to be recorded', async () => {
      const rows = await database.db('callback_deliveries').where({ recipient_party_id: fast.partyId, status: 'DELIVERED' });
      return rows.length === 10;
    });
    // The hanging recipient holds its share of the slots, no more: its 4 attempts are all that is left in flight.
    expect(hanging.received).toHaveLength(4);
    // A healthy attempt leaves the worker's count just after its row is committed: wait that instant out.
    await waitFor('only the hanging attempts to be in flight', () => worker.inFlightCount === 4, 1_000);
    expect(worker.inFlightCount).toBe(4);

    await waitFor('the first timeouts', async () => (await database.db('callback_attempts as a').join('callback_deliveries as d', 'd.id', 'a.delivery_id').where('d.recipient_party_id', slow.partyId)).length >= 4, 9_000);
    const timeouts = await database.db('callback_attempts as a').join('callback_deliveries as d', 'd.id', 'a.delivery_id').where('d.recipient_party_id', slow.partyId).select('a.*');
    for (const attempt of timeouts) {
      expect(attempt).toMatchObject({ outcome: 'FAILED', status_code: null, error: 'no answer within 5000 ms' });
      // Timers may fire a millisecond early against the monotonic clock the latency is measured on.
      expect(attempt.latency_ms).toBeGreaterThanOrEqual(4_990);
      expect(attempt.latency_ms).toBeLessThan(6_500);
    }
    // Slots freed: the hanging recipient's remaining deliveries are tried next.
    await waitFor('the rest of the hanging recipient\'s deliveries', () => hanging.received.length === 6, 3_000);
  }, 20_000);

  it('treats a reset connection and a closed port as failed attempts, to be retried', async () => {
    const resetting = await receiver({ kind: 'reset' });
    const nowhere = await closedPortUrl('/cb');
    const a = await newRecipient(database.db, 'agency', { callbackUrl: resetting.url });
    const b = await newRecipient(database.db, 'bank', { callbackUrl: nowhere });
    startWorker();
    const eventId = await recordAndNumber([a.partyId, b.partyId]);
    const [reset] = await waitFor('the reset attempt', async () => {
      const rows = await attemptsOf(eventId, a.partyId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(reset).toMatchObject({ outcome: 'FAILED', status_code: null });
    expect(reset.error).toMatch(/ECONNRESET|socket hang up/);
    const [refused] = await waitFor('the refused attempt', async () => {
      const rows = await attemptsOf(eventId, b.partyId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(refused).toMatchObject({ outcome: 'FAILED', status_code: null, url: nowhere });
    expect(refused.error).toMatch(/ECONNREFUSED/);
    for (const partyId of [a.partyId, b.partyId]) {
      const delivery = await waitFor('recorded', async () => {
        const row = await deliveryOf(eventId, partyId);
        return row.lease_token === null ? row : undefined;
      });
      expect(delivery).toMatchObject({ status: 'PENDING', attempt_count: 1 });
      expect(delivery.next_attempt_at.getTime()).toBe(clock.now().getTime() + 15_000);
    }
  });

  it('does not follow redirects', async () => {
    const elsewhere = await receiver({ kind: 'ok' });
    const redirecting = await receiver({ kind: 'redirect', location: elsewhere.url });
    const unit = await newRecipient(database.db, 'unit', { callbackUrl: redirecting.url });
    startWorker();
    const eventId = await recordAndNumber([unit.partyId]);
    const [attempt] = await waitFor('the attempt', async () => {
      const rows = await attemptsOf(eventId, unit.partyId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(attempt).toMatchObject({ outcome: 'FAILED', status_code: 302 });
    expect(attempt.error).toBe(`HTTP 302: redirect not followed (Location: ${elsewhere.url})`);
    await sleep(SETTLE_MS);
    expect(elsewhere.received).toHaveLength(0);
  });

  it('reads at most 64 KiB of an answer, whatever the recipient sends', async () => {
    const endlessOk = await receiver({ kind: 'endless', status: 200 });
    const endlessFail = await receiver({ kind: 'endless', status: 500 });
    const a = await newRecipient(database.db, 'unit', { callbackUrl: endlessOk.url });
    const b = await newRecipient(database.db, 'agency', { callbackUrl: endlessFail.url });
    startWorker();
    const eventId = await recordAndNumber([a.partyId, b.partyId]);
    const [delivered] = await waitFor('the 200 attempt', async () => {
      const rows = await attemptsOf(eventId, a.partyId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(delivered).toMatchObject({ outcome: 'DELIVERED', status_code: 200, error: null });
    const [failed] = await waitFor('the 500 attempt', async () => {
      const rows = await attemptsOf(eventId, b.partyId);
      return rows.length > 0 ? rows : undefined;
    });
    expect(failed).toMatchObject({ outcome: 'FAILED', status_code: 500 });
    expect(failed.error).toBe(`HTTP 500: ${'x'.repeat(RESPONSE_EXCERPT_BYTES_MAX)}`);
    // Neither attempt waited for the body's end (64 MiB), nor for the deadline.
    for (const attempt of [delivered, failed]) expect(attempt.latency_ms).toBeLessThan(2_000);
    await sleep(SETTLE_MS);
    // The worker hung up after its 64 KiB: the receivers wrote little more than socket buffers hold.
    for (const endless of [endlessOk, endlessFail]) expect(endless.endlessBytesWritten).toBeLessThan(16 * 1024 * 1024);
  });

  it('holds a disabled party\'s deliveries, or those of a party whose URL was removed, unattempted and uncounted', async () => {
    const target = await receiver({ kind: 'ok' });
    const disabled = await newRecipient(database.db, 'agency', { callbackUrl: target.url, status: 'DISABLED' });
    const unhooked = await newRecipient(database.db, 'unit', { callbackUrl: target.url });
    const eventId = await recordAndNumber([disabled.partyId, unhooked.partyId]);
    // The URL is removed once the delivery exists, before it is attempted.
    await parties.update(unhooked.appId, { callbackUrl: null }, CLI_ACTOR);
    startWorker();
    clock.advance(3600_000);
    await sleep(SETTLE_MS);
    expect(target.received).toHaveLength(0);
    for (const partyId of [disabled.partyId, unhooked.partyId]) {
      expect(await deliveryOf(eventId, partyId)).toMatchObject({ status: 'PENDING', attempt_count: 0, lease_token: null });
      expect(await attemptsOf(eventId, partyId)).toHaveLength(0);
    }

    await parties.update(disabled.appId, { status: 'ACTIVE' }, CLI_ACTOR);
    await waitFor('the enabled party\'s delivery', () => target.received.length === 1);
    await parties.update(unhooked.appId, { callbackUrl: target.url }, CLI_ACTOR);
    await waitFor('the re-hooked party\'s delivery', () => target.received.length === 2);
    for (const partyId of [disabled.partyId, unhooked.partyId]) {
      await waitFor('DELIVERED', async () => (await deliveryOf(eventId, partyId)).status === 'DELIVERED');
    }
  });

  it('uses a changed callback URL from the next attempt', async () => {
    const oldTarget = await receiver({ kind: 'fail', status: 503 }, '/old');
    const newTarget = await receiver({ kind: 'ok' }, '/new/path?k=v');
    const unit = await newRecipient(database.db, 'unit', { callbackUrl: oldTarget.url });
    startWorker();
    const eventId = await recordAndNumber([unit.partyId]);
    await waitFor('the first attempt recorded', async () => (await deliveryOf(eventId, unit.partyId)).attempt_count === 1);
    await parties.update(unit.appId, { callbackUrl: newTarget.url }, CLI_ACTOR);
    clock.advance(15_000);
    await waitFor('the attempt at the new URL', () => newTarget.received.length === 1);
    expectSignedByPlatform(newTarget.received[0] as ReceivedCallback, '/new/path?k=v');
    await waitFor('DELIVERED', async () => (await deliveryOf(eventId, unit.partyId)).status === 'DELIVERED');
    expect((await attemptsOf(eventId, unit.partyId)).map((attempt) => [attempt.url, attempt.status_code])).toEqual([
      [oldTarget.url, 503],
      [newTarget.url, 200],
    ]);
    expect(oldTarget.received).toHaveLength(1);
  });

  it('creates no delivery for a party without a callback URL; its events stay pullable', async () => {
    const unit = await newRecipient(database.db, 'unit');
    startWorker();
    const eventId = await recordAndNumber([unit.partyId]);
    expect(await deliveryOf(eventId, unit.partyId)).toBeUndefined();
    expect((await events.pull(unit.partyId, 0, 10)).data.map((event) => event.eventId)).toEqual([eventId]);
  });

  it('waits for a lease to run out before retrying a delivery another worker claimed, then tries it at once', async () => {
    const target = await receiver({ kind: 'ok' });
    const unit = await newRecipient(database.db, 'unit', { callbackUrl: target.url });
    const eventId = await recordAndNumber([unit.partyId]);
    // Another instance claimed it and died (its lease is 30 s from now).
    await database.db('callback_deliveries').where({ recipient_party_id: unit.partyId }).update({ lease_until: new Date(clock.now().getTime() + 30_000), lease_token: '00000000-0000-4000-8000-000000000000' });
    startWorker();
    await sleep(SETTLE_MS);
    expect(target.received).toHaveLength(0);
    clock.advance(30_001);
    await waitFor('the delivery after the lease ran out', () => target.received.length === 1);
    await waitFor('DELIVERED', async () => (await deliveryOf(eventId, unit.partyId)).status === 'DELIVERED');
  });

  it('shares the work between several workers: each delivery is attempted once', async () => {
    const targets = await Promise.all([1, 2, 3].map(() => receiver({ kind: 'ok', delayMs: 10 })));
    const recipients = await Promise.all(targets.map((target) => newRecipient(database.db, 'agency', { callbackUrl: target.url })));
    for (let i = 0; i < 3; i += 1) startWorker({ inFlightMax: 5, perRecipientInFlightMax: 2 });
    const eventIds: string[] = [];
    for (let i = 0; i < 30; i += 1) eventIds.push(await recordTestEvent(database.db, recipients.map((recipient) => recipient.partyId)));
    await events.sequence({ wait: true });
    await waitFor('every delivery', () => targets.every((target) => target.received.length >= 30), 15_000);
    await sleep(SETTLE_MS);
    for (const target of targets) {
      expect(target.eventIds().sort()).toEqual([...eventIds].sort());
    }
    const attempts = await database.db('callback_attempts as a').join('callback_deliveries as d', 'd.id', 'a.delivery_id').whereIn('d.recipient_party_id', recipients.map((r) => r.partyId)).count<{ count: string }[]>({ count: '*' });
    expect(Number(attempts[0]?.count)).toBe(90);
  });

  it('stops at a safe point: attempts in flight finish and are recorded; past the grace they are aborted and their leases given back', async () => {
    const slowOk = await receiver({ kind: 'ok', delayMs: 300 });
    const unit = await newRecipient(database.db, 'unit', { callbackUrl: slowOk.url });
    const worker = startWorker();
    const graceful = await recordAndNumber([unit.partyId]);
    await waitFor('the attempt in flight', () => slowOk.received.length === 1);
    await worker.stop(5_000);
    expect(await deliveryOf(graceful, unit.partyId)).toMatchObject({ status: 'DELIVERED' });

    const hanging = await receiver({ kind: 'hang' });
    const agency = await newRecipient(database.db, 'agency', { callbackUrl: hanging.url });
    const impatient = startWorker();
    const aborted = await recordAndNumber([agency.partyId]);
    await waitFor('the hanging attempt', () => hanging.received.length === 1);
    const stoppedAt = Date.now();
    await impatient.stop(100);
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);
    // Given back, not counted: the next worker may try it at once.
    expect(await deliveryOf(aborted, agency.partyId)).toMatchObject({ status: 'PENDING', attempt_count: 0, lease_until: null, lease_token: null });
    expect(await attemptsOf(aborted, agency.partyId)).toHaveLength(0);
  });
});
