import type { Services } from '../services';
import { loadInbox } from '../services/statementInbox';
import type { JobDefinition } from './job';
import { closeJob } from './close';
import { expireNoticesJob } from './expireNotices';
import { purgeNoncesJob } from './purgeNonces';
import { reconcileJob } from './reconcile';
import { confirmCheckJob, settleJob } from './settle';

/**
 * Every nightly job, by name (docs/operations.md §4). Each capability adds its job here; the
 * scheduler, the catch-up and `cli job run <name>` all read this one list.
 */
export function allJobs(services: Services): JobDefinition[] {
  const inbox = {
    // The reconcile job runs the dates it loads itself, so the inbox requests no run of its own.
    loadInbox: async (context: { log: Services['deps']['log'] }) => {
      await loadInbox(services.statements, { dataDir: services.deps.config.dataDir, log: context.log, requestRun: false });
    },
  };
  return [expireNoticesJob, purgeNoncesJob, reconcileJob(services.reconciliation, inbox), settleJob(services), confirmCheckJob(services), closeJob(services.dailyCloses)];
}
