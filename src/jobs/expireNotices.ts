import { shanghaiDate } from '../domain/businessDate';
import { expireNotices } from '../services/notices';
import type { JobDefinition } from './job';

/**
 * `expire-notices` (docs/operations.md §4): at 00:10 Asia/Shanghai, every ISSUED notice whose
 * expireDate is before the business date becomes EXPIRED. The business date is the Shanghai date
 * of the business clock when the run starts (or `--date`), so a notice expiring on the 26th is
 * payable all of the 26th and expires in the run of the 27th. Set-based and idempotent: a rerun
 * finds nothing left to expire.
 */
export const expireNoticesJob: JobDefinition = {
  name: 'expire-notices',
  defaultSchedules: ['10 0 * * *'],
  // One run expires everything past due up to its date: a missed night needs no run of its own.
  catchUp: 'latest',
  businessDateFor: (businessNow) => shanghaiDate(businessNow),
  async run(context) {
    const today = context.businessDate ?? shanghaiDate(context.clocks.business.now());
    const expired = await expireNotices(context.db, { today, at: context.clocks.business.now(), onBatch: (trx, count) => context.recordProgress(trx, { expired: count }) });
    return { expired };
  },
};
