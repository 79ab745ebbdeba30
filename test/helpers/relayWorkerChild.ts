/**
 * An HTTP worker's side of the party-change relay (src/partyChangeRelay.ts) in a cluster worker
 * process of its own, driven by the test in the main process through extra messages:
 *   {test: 'announce', appId}  → announces a change, then answers {test: 'announced', appId, ms}
 * Every party this worker drops is reported as {test: 'dropped', appId}. With RELAY_CHILD_DEAF=1
 * it never confirms, as a hung worker would not.
 */
import pino from 'pino';
import { workerPartyChanges } from '../../src/partyChangeRelay';

const deaf = process.env.RELAY_CHILD_DEAF === '1';
const warnings: string[] = [];
const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });

if (deaf) {
  // Takes no part: a worker stuck in a long synchronous task answers nothing.
  process.on('message', () => undefined);
} else {
  const announce = workerPartyChanges((appId) => process.send?.({ test: 'dropped', appId }), log);
  process.on('message', (message: { test?: string; appId?: string }) => {
    if (message.test !== 'announce' || message.appId === undefined) return;
    const appId = message.appId;
    const startedMs = performance.now();
    void announce(appId).then(() => process.send?.({ test: 'announced', appId, ms: Math.round(performance.now() - startedMs), warnings }));
  });
}
process.send?.({ test: 'ready' });
