/**
 * An instance of the service's event machinery in a process of its own, so a test can SIGKILL it
 * in the middle of a burst — a real crash: transactions in progress vanish, leases stay behind,
 * connections die with the process. It records events to the given recipients as fast as it can,
 * numbers them and delivers them, until it is killed.
 *
 *   node scripts/run.js test/helpers/callbackWorkerChild.ts <connectionString> <platformKeyHex> <partyId,partyId,…> <events>
 */
import pino from 'pino';
import { createDb } from '../../src/db/database';
import { systemClock } from '../../src/domain/clock';
import { EventService, recordEvent } from '../../src/services/events';
import { createPlatformSigner } from '../../src/services/platformKeys';
import { CallbackDeliveryWorker } from '../../src/workers/callbackDelivery';
import { EventSequencerLoop } from '../../src/workers/eventSequencer';
import { paymentSucceededData } from './eventFixtures';

const [connectionString, platformKeyHex, partyIdList, eventsText] = process.argv.slice(2) as [string, string, string, string];
const log = pino({ level: 'silent' });
const db = createDb({ connectionString, poolMax: 10 });
const clocks = { real: systemClock, business: systemClock };
const worker = new CallbackDeliveryWorker({ db, signer: createPlatformSigner(platformKeyHex), realClock: systemClock, log }, { pollIntervalMs: 20 });
const events = new EventService({ db, clocks, log, onDeliveriesDue: () => worker.wake() });
const sequencer = new EventSequencerLoop({ events, log }, { intervalMs: 10 });
const recipients = partyIdList.split(',').map((partyId) => ({ partyId }));

async function burst(): Promise<void> {
  sequencer.start();
  worker.start();
  for (let i = 0; i < Number(eventsText); i += 1) {
    await db.transaction((trx) => recordEvent(trx, { type: 'payment.succeeded', recipients, data: paymentSucceededData(), occurredAt: new Date() }));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  process.stdout.write('recorded all\n');
}

void burst();
