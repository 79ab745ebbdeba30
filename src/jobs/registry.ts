import type { Services } from '../services';
import type { JobDefinition } from './job';
import { expireNoticesJob } from './expireNotices';
import { purgeNoncesJob } from './purgeNonces';
import { reconcileJob } from './reconcile';

/**
 * Every nightly job, by name (docs/operations.md §4). Each capability adds its job here; the
 * scheduler, the catch-up and `cli job run <name>` all read this one list.
 */
export function allJobs(services: Services): JobDefinition[] {
  // MERGE: pass { loadInbox } (the statement inbox loader) as reconcileJob's second argument.
  return [expireNoticesJob, purgeNoncesJob, reconcileJob(services.reconciliation)];
}
