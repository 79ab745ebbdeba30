import { purgeExpiredNonces } from '../services/nonces';
import type { JobDefinition } from './job';

/**
 * `purge-nonces` (docs/operations.md §4): hourly, deletes the nonces of signed requests whose 15-minute
 * window has passed, on the real clock (the window is a security bound the business clock must not
 * move). Rerunning it is harmless: it deletes only what has expired by then.
 */
export const purgeNoncesJob: JobDefinition = {
  name: 'purge-nonces',
  defaultSchedules: ['0 * * * *'],
  catchUp: 'latest',
  async run(context) {
    // Each batch is counted in its own transaction: a run killed between batches and completed by
    // the next attempt records what a clean run would have.
    const purged = await purgeExpiredNonces(context.db, context.clocks.real.now(), undefined, (trx, deleted) => context.recordProgress(trx, { purged: deleted }));
    return { purged };
  },
};
