import { addDays, shanghaiDate } from '../domain/businessDate';
import type { ReconciliationService } from '../services/reconciliation';
import type { JobContext, JobCounts, JobDefinition } from './job';

/**
 * Loads the statement inbox (docs/reconciliation.md §1) before the job picks its dates, so a file
 * dropped there is reconciled by the same run.
 */
export type InboxLoader = (context: JobContext) => Promise<void>;

/**
 * ONLY UNTIL MERGE: the inbox loader (`loadInbox`) is built on another branch; the job's single
 * call site is `dependencies.loadInbox(context)` below.
 */
export const NO_INBOX_UNTIL_MERGE: InboxLoader = async () => undefined;

/**
 * `reconcile` (docs/operations.md §4, docs/reconciliation.md §2, contracts/decisions/0107-reconcile-job.md):
 * at 02:00, 06:30 and 10:30 Asia/Shanghai. Its business date is T−1 (yesterday by the business
 * clock, or `--date`). With an agency (`--agency`, or the job request of an upload) it reconciles
 * just that (agency, date); otherwise, after loading the inbox, T−1 for every active agency,
 * every date of the last 7 days that needs it again, and every older date a late posting (or a
 * shortage carried into it) re-queued (ReconciliationService.queue, decision 0210). Each pair is one
 * transaction under the (agency, date) lock, so two runs never overlap on a pair and a crash loses
 * only the pair in hand; the runner reruns an interrupted run from the start, and the result is
 * the same however often it runs.
 */
export function reconcileJob(reconciliation: ReconciliationService, dependencies: { loadInbox: InboxLoader } = { loadInbox: NO_INBOX_UNTIL_MERGE }): JobDefinition {
  return {
    name: 'reconcile',
    defaultSchedules: ['0 2 * * *', '30 6 * * *', '30 10 * * *'],
    // One run takes every date that still needs it: a missed slot needs no run of its own.
    catchUp: 'latest',
    businessDateFor: (businessNow) => addDays(shanghaiDate(businessNow), -1),
    async run(context) {
      const date = context.businessDate ?? addDays(shanghaiDate(context.clocks.business.now()), -1);
      const agencyCode = context.params.agencyCode;
      const pairs = agencyCode !== undefined ? [{ agency_code: agencyCode, business_date: date }] : await (async () => {
            await dependencies.loadInbox(context);
            return reconciliation.queue(date, null);
          })();
      const counts: JobCounts = { runs: 0, BALANCED: 0, UNBALANCED: 0, STATEMENT_MISSING: 0 };
      for (const pair of pairs) {
        const run = await reconciliation.reconcile(pair.agency_code, pair.business_date, {
          beforeCommit: (trx, finished) => context.recordProgress(trx, { runs: 1, [String(finished.status)]: 1 }),
        });
        counts.runs = (counts.runs ?? 0) + 1;
        counts[String(run.status)] = (counts[String(run.status)] ?? 0) + 1;
        context.log.info({ agencyCode: pair.agency_code, businessDate: pair.business_date, status: run.status }, 'reconciled');
      }
      return counts;
    },
  };
}
