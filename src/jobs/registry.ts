import type { Services } from '../services';
import type { JobDefinition } from './job';
import { expireNoticesJob } from './expireNotices';
import { purgeNoncesJob } from './purgeNonces';
import { confirmCheckJob, settleJob } from './settle';

/**
 * Every nightly job, by name (docs/operations.md §4). Each capability adds its job here; the
 * scheduler, the catch-up and `cli job run <name>` all read this one list.
 */
export function allJobs(services: Services): JobDefinition[] {
  return [expireNoticesJob, purgeNoncesJob, settleJob(services), confirmCheckJob(services)];
}
