import { shanghaiDate } from '../domain/businessDate';
import type { Services } from '../services';
import type { JobDefinition } from './job';

/**
 * `settle` (docs/operations.md §4, docs/settlement.md §1): at 03:00 and 11:00 Asia/Shanghai, every
 * (agency, business date) up to the run's date whose last reconciliation run is BALANCED or
 * UNBALANCED gets its SETTLEMENT instructions for the money that is settleable and not yet in one,
 * each pair in one transaction under its (agency, date) lock (src/services/instructions.ts). A
 * crash rolls back the pair it was in; a rerun creates nothing for money already instructed.
 */
export function settleJob(services: Services): JobDefinition {
  return {
    name: 'settle',
    defaultSchedules: ['0 3 * * *', '0 11 * * *'],
    // One run settles every reconciled date up to its own: a missed slot needs no run of its own.
    catchUp: 'latest',
    businessDateFor: (businessNow) => shanghaiDate(businessNow),
    async run(context) {
      const upTo = context.businessDate ?? shanghaiDate(context.clocks.business.now());
      const counts = await services.instructions.settle(upTo, (trx, created) => context.recordProgress(trx, { instructions: created }));
      return { instructions: counts.instructions };
    },
  };
}

/**
 * `confirm-check` (docs/operations.md §4, docs/settlement.md §2): at 16:30 Asia/Shanghai, every
 * CREATED or EXECUTED instruction whose deadline has passed on the business clock, whatever its
 * date, becomes UNCONFIRMED. One set-based UPDATE: a rerun finds nothing left.
 */
export function confirmCheckJob(services: Services): JobDefinition {
  return {
    name: 'confirm-check',
    defaultSchedules: ['30 16 * * *'],
    catchUp: 'latest',
    async run() {
      return { unconfirmed: await services.instructions.markOverdue() };
    },
  };
}
