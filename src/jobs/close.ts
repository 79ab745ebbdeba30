import { addDays, shanghaiDate } from '../domain/businessDate';
import type { DailyCloseService } from '../services/dailyCloses';
import type { JobDefinition } from './job';

/**
 * `close` (docs/operations.md §4, docs/settlement.md §5): at 17:00 Asia/Shanghai, after the day's
 * settlement, the daily close of T−1 — and of every earlier date not yet sealed, in order, empty
 * days too. Each sealed date commits on its own, so a run killed half-way is continued by the
 * next; a rerun finds everything sealed and changes nothing.
 */
/** The last business date that is over at `businessNow`: what a close seals through, at the latest. */
function yesterday(businessNow: Date): string {
  return addDays(shanghaiDate(businessNow), -1);
}

export function closeJob(dailyCloses: DailyCloseService): JobDefinition {
  return {
    name: 'close',
    defaultSchedules: ['0 17 * * *'],
    // Dates must be sealed without a gap: every missed slot runs (each seals through its own date).
    catchUp: 'every',
    businessDateFor: yesterday,
    // Only a day that is over is sealed: today's postings are still arriving.
    latestBusinessDate: yesterday,
    async run(context) {
      const through = context.businessDate ?? yesterday(context.clocks.business.now());
      // The run's own log context carries its businessDate (the last date it seals through).
      // Each sealed date is counted in the transaction that writes its close, so a run killed
      // half-way and completed by the next records every date it sealed, as a clean run would.
      const sealed = await dailyCloses.closeThrough(
        through,
        async (sealedDate) => {
          context.log.info({ sealedDate }, 'daily close sealed');
        },
        (trx) => context.recordProgress(trx, { sealed: 1 }),
      );
      return { sealed: sealed.length };
    },
  };
}
