import pino from 'pino';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { CALLBACK_RETRY_DELAYS_MS } from '../../src/domain/callbacks';
import { ManualClock } from '../../src/domain/clock';
import { parseCidrList } from '../../src/net/addresses';
import type { CallbackAddressPolicy, ResolvedAddress } from '../../src/net/callbackTarget';
import { EventService } from '../../src/services/events';
import { createPlatformSigner } from '../../src/services/platformKeys';
import { CallbackDeliveryWorker } from '../../src/workers/callbackDelivery';
import { RESPONSE_EXCERPT_BYTES_MAX, truncateUtf8 } from '../../src/workers/callbackRequest';
import { Receiver, startReceiver } from '../helpers/callbackReceivers';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newRecipient, recordTestEvent } from '../helpers/eventFixtures';

// Callback delivery in production (contracts/decisions/0057-client-address-and-callbacks.md): the
// recipient's host is resolved and checked at every attempt, an internal address is a failed
// attempt saying so, and the connection goes to the address checked (no DNS rebinding in
// between). Attempts keep the status code and at most 200 bytes of the answer.

const log = pino({ level: 'silent' });
const POLL_MS = 20;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

describe('callback delivery to checked addresses', () => {
  let database: TestDatabase;
  let clock: ManualClock;
  let events: EventService;
  const workers: CallbackDeliveryWorker[] = [];
  const receivers: Receiver[] = [];
  const signer = createPlatformSigner(generateSm2KeyPair().privateKeyHex);

  beforeAll(async () => {
    database = await createTestDatabase(20);
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    events = new EventService({ db: database.db, clocks: { business: clock, real: clock }, log, onDeliveriesDue: () => workers.forEach((worker) => worker.wake()) });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop(100)));
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
    await database.db('callback_deliveries').where({ status: 'PENDING' }).update({ status: 'DEAD', next_attempt_at: null, lease_until: null, lease_token: null });
  });
  afterAll(async () => {
    await database.drop();
  });

  function startWorker(callbackPolicy: CallbackAddressPolicy | undefined): void {
    const worker = new CallbackDeliveryWorker({ db: database.db, signer, realClock: clock, log, ...(callbackPolicy ? { callbackPolicy } : {}) }, { pollIntervalMs: POLL_MS });
    workers.push(worker);
    worker.start();
  }
  async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
    const started = await startReceiver(...args);
    receivers.push(started);
    return started;
  }
  async function deliverTo(callbackUrl: string): Promise<{ eventId: string; partyId: string }> {
    const party = await newRecipient(database.db, 'unit', { callbackUrl });
    const eventId = await recordTestEvent(database.db, [party.partyId]);
    await events.sequence({ wait: true });
    return { eventId, partyId: party.partyId };
  }
  const attemptsOf = (target: { eventId: string; partyId: string }) =>
    database.db('callback_attempts as a')
      .join('callback_deliveries as d', 'd.id', 'a.delivery_id')
      .join('events as e', 'e.id', 'd.event_row_id')
      .where({ 'e.event_id': target.eventId, 'd.recipient_party_id': target.partyId })
      .orderBy('a.id')
      .select('a.*');
  const attempts = (target: { eventId: string; partyId: string }, count: number) =>
    waitFor(`${count} attempt(s)`, async () => {
      const rows = await attemptsOf(target);
      return rows.length >= count ? rows : undefined;
    });

  it('refuses a loopback recipient in production: a failed attempt saying the address is not allowed, nothing sent', async () => {
    const target = await receiver({ kind: 'ok' });
    startWorker({ production: true, allow: parseCidrList('') });
    const delivery = await deliverTo(target.url);
    const [attempt] = await attempts(delivery, 1);
    expect(attempt).toMatchObject({ outcome: 'FAILED', status_code: null, response_excerpt: null });
    expect(attempt.error).toBe(`address not allowed: 127.0.0.1 is a loopback address, which callbacks may not reach (unless TONGFU_CALLBACK_ALLOW lists it)`);
    expect(target.received).toHaveLength(0);
  });

  it('re-resolves at every attempt and connects to the address it checked, with the URL’s host in Host', async () => {
    const target = await receiver({ kind: 'ok' });
    // A host the system cannot resolve: only the pinned address can reach the receiver.
    let answer: ResolvedAddress[] = [{ address: '10.9.8.7', family: 4 }];
    const lookups: string[] = [];
    const lookup = async (hostname: string) => {
      lookups.push(hostname);
      return answer;
    };
    startWorker({ production: true, allow: parseCidrList('127.0.0.0/8'), lookup });
    const delivery = await deliverTo(`http://callback.tongfu.invalid:${target.port}/cb`);
    const [refused] = await attempts(delivery, 1);
    expect(refused.error).toBe('address not allowed: callback.tongfu.invalid resolves to 10.9.8.7, a private (RFC 1918) address, which callbacks may not reach (unless TONGFU_CALLBACK_ALLOW lists it)');
    answer = [{ address: '127.0.0.1', family: 4 }];
    clock.advance(CALLBACK_RETRY_DELAYS_MS[0] as number);
    const [, delivered] = await attempts(delivery, 2);
    expect(delivered).toMatchObject({ outcome: 'DELIVERED', status_code: 200, error: null, response_excerpt: 'ok' });
    expect(lookups).toEqual(['callback.tongfu.invalid', 'callback.tongfu.invalid']);
    expect(target.received).toHaveLength(1);
    expect(target.received[0]?.headers.host).toBe(`callback.tongfu.invalid:${target.port}`);
  });

  it('allows loopback outside production', async () => {
    const target = await receiver({ kind: 'ok' });
    startWorker({ production: false, allow: parseCidrList('') });
    const delivery = await deliverTo(target.url);
    const [attempt] = await attempts(delivery, 1);
    expect(attempt).toMatchObject({ outcome: 'DELIVERED', status_code: 200 });
  });

  it('keeps the status code and at most 200 bytes of the answer, cut between characters', async () => {
    // 1 + 2 × 150 bytes: the 200-byte cap falls inside a two-byte character, which is left out.
    const multibyte = await receiver({ kind: 'fail', status: 503, body: `a${'é'.repeat(150)}` });
    const withNul = await receiver({ kind: 'fail', status: 500, body: 'bad\u0000thing' });
    startWorker(undefined);
    const first = await deliverTo(multibyte.url);
    const second = await deliverTo(withNul.url);
    const [cut] = await attempts(first, 1);
    expect(cut).toMatchObject({ outcome: 'FAILED', status_code: 503 });
    expect(cut.response_excerpt).toBe(`a${'é'.repeat(99)}`);
    expect(Buffer.byteLength(cut.response_excerpt as string)).toBe(RESPONSE_EXCERPT_BYTES_MAX - 1);
    expect(Buffer.byteLength(cut.error as string)).toBeLessThanOrEqual(RESPONSE_EXCERPT_BYTES_MAX + 'HTTP 503: '.length);
    // PostgreSQL's text holds no NUL: the attempt is recorded anyway.
    const [nul] = await attempts(second, 1);
    expect(nul).toMatchObject({ outcome: 'FAILED', status_code: 500, response_excerpt: 'bad\ufffdthing', error: 'HTTP 500: bad\ufffdthing' });
  });
});

describe('truncateUtf8', () => {
  it('cuts at a character boundary within the byte cap', () => {
    expect(truncateUtf8('abc', 200)).toBe('abc');
    expect(truncateUtf8('中文字', 7)).toBe('中文');
    expect(truncateUtf8('a😀b', 4)).toBe('a');
    expect(truncateUtf8('a😀b', 5)).toBe('a😀');
  });
});
