/**
 * A process that starts the real reconcile job for one (agency, date) and stops inside the run's
 * transaction — after the run row and the supersede, in the backfill step — so a test can SIGKILL
 * it mid-run. TEST DOUBLE, marked: the backfill here only hangs; it stands for the real one.
 *
 *   node scripts/run.js test/helpers/reconcileCrashChild.ts <connectionString> <agencyCode> <date>
 */
import pino from 'pino';
import { createDb } from '../../src/db/database';
import { systemClock } from '../../src/domain/clock';
import { reconcileJob } from '../../src/jobs/reconcile';
import { JobRunner } from '../../src/jobs/runner';
import { ReconciliationService } from '../../src/services/reconciliation';

const [connectionString, agencyCode, date] = process.argv.slice(2) as [string, string, string];
const db = createDb({ connectionString, poolMax: 3, applicationName: 'reconcile-crash-child' });
const clocks = { real: systemClock, business: systemClock };
const log = pino({ level: 'silent' });
const reconciliation = new ReconciliationService({
  db,
  clocks,
  log,
  backfillOverages: async (trx) => {
    await trx.raw('SELECT 1 /* reconcile-crash-child */');
    // Holds the transaction open (idle in transaction) until the process is killed.
    return new Promise(() => undefined);
  },
});
const runner = new JobRunner({ db, connectionString, clocks, log });
void runner.run({ job: reconcileJob(reconciliation), trigger: 'MANUAL', businessDate: date, params: { agencyCode } });
