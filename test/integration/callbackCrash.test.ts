import { spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { ManualClock } from '../../src/domain/clock';
import { EventService } from '../../src/services/events';
import { createPlatformSigner } from '../../src/services/platformKeys';
import { CallbackDeliveryWorker } from '../../src/workers/callbackDelivery';
import { EventSequencerLoop } from '../../src/workers/eventSequencer';
import { Receiver, startReceiver } from '../helpers/callbackReceivers';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newRecipient } from '../helpers/eventFixtures';

// docs/quality.md §2, crash safety: the instance that records, numbers and delivers events is killed
// with SIGKILL in the middle of a callback burst. After a restart, every delivery that is due is
// attempted at once, those the dead instance had leased follow when their leases run out, and no
// committed event is lost, unnumbered or undelivered.

const log = pino({ level: 'silent' });

async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('callback delivery across a crash', () => {
  let database: TestDatabase;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await database.drop();
  });

  it('loses no event when the instance is SIGKILLed mid-burst, and delivers everything after the restart', async () => {
    const platformKeyHex = generateSm2KeyPair().privateKeyHex;
    for (let i = 0; i < 3; i += 1) receivers.push(await startReceiver({ kind: 'ok', delayMs: 25 }));
    const recipients = await Promise.all(receivers.map((receiver) => newRecipient(database.db, 'agency', { callbackUrl: receiver.url })));
    const received = () => receivers.reduce((sum, receiver) => sum + receiver.received.length, 0);

    const child = spawn(
      process.execPath,
      [path.resolve('scripts/run.js'), 'test/helpers/callbackWorkerChild.ts', database.connectionString, platformKeyHex, recipients.map((r) => r.partyId).join(','), '600'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let finishedRecording = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('recorded all')) finishedRecording = true;
    });
    await waitFor('the burst to be under way', () => received() >= 60);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(finishedRecording).toBe(false);

    const committed = (await database.db('events').select('event_id', 'recipient_party_id')) as Array<{ event_id: string; recipient_party_id: string }>;
    // Deliveries the dead instance had claimed: their leases outlive it.
    const leasedAtCrash = (await database.db('callback_deliveries').whereNotNull('lease_token').pluck('id')) as string[];
    // Killed mid-attempt: some deliveries were in flight (the receivers answer after 25 ms).
    expect(leasedAtCrash.length).toBeGreaterThan(0);
    const receivedAtCrash = received();
    expect(committed.length).toBeGreaterThan(receivedAtCrash / 3);

    // The restarted instance: its real clock starts where the wall clock is, then moves on.
    const clock = new ManualClock(new Date());
    const worker = new CallbackDeliveryWorker({ db: database.db, signer: createPlatformSigner(platformKeyHex), realClock: clock, log }, { pollIntervalMs: 20 });
    const events = new EventService({ db: database.db, clocks: { real: clock, business: clock }, log, onDeliveriesDue: () => worker.wake() });
    const sequencer = new EventSequencerLoop({ events, log }, { intervalMs: 10 });
    sequencer.start();
    worker.start();
    try {
      const undelivered = async (leasedByTheDead: boolean) =>
        Number(
          (
            await database.db('callback_deliveries')
              .whereNot({ status: 'DELIVERED' })
              .modify((query) => (leasedByTheDead ? query.whereIn('id', leasedAtCrash) : query.whereNotIn('id', leasedAtCrash)))
              .count<{ count: string }[]>({ count: '*' })
          )[0]?.count,
        );
      // Everything due and not leased by the dead instance goes out at once…
      await waitFor('every delivery not leased at the crash', async () => (await database.db('events').whereNull('sequence').first()) === undefined && (await undelivered(false)) === 0, 20_000);
      expect(await undelivered(true)).toBe(leasedAtCrash.length);
      // …and what it had leased, as soon as its leases run out.
      clock.advance(30_001);
      await waitFor('every delivery', async () => (await undelivered(true)) === 0 && (await undelivered(false)) === 0, 20_000);
    } finally {
      await Promise.all([sequencer.stop(1000), worker.stop(1000)]);
    }

    // Every committed event is numbered, gap-free per recipient, and delivered; nothing
    // uncommitted was ever sent.
    for (const [index, recipient] of recipients.entries()) {
      const rows = await database.db('events').where({ recipient_party_id: recipient.partyId }).orderBy('sequence').select('event_id', 'sequence');
      expect(rows.map((row) => Number(row.sequence))).toEqual(rows.map((_, i) => i + 1));
      const sent = new Set((receivers[index] as Receiver).eventIds());
      expect(sent).toEqual(new Set(rows.map((row) => row.event_id)));
    }
    expect(committed.every((row) => recipients.some((recipient) => recipient.partyId === row.recipient_party_id))).toBe(true);
    const deliveries = await database.db('callback_deliveries').select('status');
    expect(deliveries.every((delivery) => delivery.status === 'DELIVERED')).toBe(true);
    expect(deliveries).toHaveLength(Number((await database.db('events').count<{ count: string }[]>({ count: '*' }))[0]?.count));
  }, 60_000);
});
