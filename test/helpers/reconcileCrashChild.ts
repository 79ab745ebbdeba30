/**
 * A process that starts the real reconcile job for one (agency, date) and stops in the middle of
 * the run, so a test can SIGKILL it there. Two places (contracts/decisions/0239):
 * - `in-backfill`: inside the backfill's transaction, after the run row is inserted and the
 *   matches are being inserted beside it. TEST DOUBLE, marked: the backfill here only hangs; it
 *   stands for the real one.
 * - `after-backfill`: the real backfill has committed (run row RUNNING, its payments), and the run's
 *   own transaction stops just before it would commit.
 *
 *   node scripts/run.js test/helpers/reconcileCrashChild.ts <connectionString> <agencyCode> <date> <in-backfill|after-backfill> <business instant ISO>
 */
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/database';
import { fixedClock, systemClock } from '../../src/domain/clock';
import { reconcileJob } from '../../src/jobs/reconcile';
import { JobRunner } from '../../src/jobs/runner';
import { buildServices } from '../../src/services';
import { ReconciliationService } from '../../src/services/reconciliation';

const [connectionString, agencyCode, date, where, businessIso] = process.argv.slice(2) as [string, string, string, 'in-backfill' | 'after-backfill', string];
const db = createDb({ connectionString, poolMax: 3, applicationName: 'reconcile-crash-child' });
const clocks = { real: systemClock, business: fixedClock(new Date(businessIso)) };
const log = pino({ level: 'silent' });

/** Holds the transaction open (idle in transaction) until the process is killed. */
async function hang(trx: { raw: (sql: string) => PromiseLike<unknown> }): Promise<never> {
  await trx.raw('SELECT 1 /* reconcile-crash-child */');
  return new Promise<never>(() => undefined);
}

async function reconciliationService(): Promise<ReconciliationService> {
  if (where === 'in-backfill') return new ReconciliationService({ db, clocks, log, backfillOverages: hang });
  const services = await buildServices({ db, config: loadConfig({ DATABASE_URL: connectionString, TONGFU_JOBS: 'off', LOG_LEVEL: 'silent', PUBLIC_BASE_URL: 'http://tongfu.test' }), clocks, log });
  const real = services.reconciliation;
  const reconcile = real.reconcile.bind(real);
  real.reconcile = (code, businessDate, options = {}) =>
    reconcile(code, businessDate, {
      ...options,
      beforeCommit: async (trx, run) => {
        await options.beforeCommit?.(trx, run);
        await hang(trx);
      },
    });
  return real;
}

void reconciliationService().then((reconciliation) => {
  const runner = new JobRunner({ db, connectionString, clocks, log });
  return runner.run({ job: reconcileJob(reconciliation), trigger: 'MANUAL', businessDate: date, params: { agencyCode } });
});
