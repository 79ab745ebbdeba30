import { randomBase64Url } from '../../crypto/randomIds';
import type { Knex } from 'knex';
import { type Db, type Queryable, useBulkWorkMem } from '../../db/database';
import { lockAgencyDateInTransaction } from '../../db/repositories/agencyDateLocks';
import * as repo from '../../db/repositories/reconciliation';
import type { StepParams, Tally } from '../../db/repositories/reconciliation';
import { addDays } from '../../domain/businessDate';
import type { Clocks } from '../../domain/clock';
import { TongfuError } from '../../domain/errors';
import type { Logger } from '../../logger';
import { financeRecipients, recordEvent } from '../events';
import type { BackfillOverages } from './backfillContract';
import { reconcileRefundLines } from './refunds';
import { discrepancyView, OUTCOMES, runView, type Outcome } from './views';

/**
 * The nightly reconcile run (docs/reconciliation.md §2, contracts/decisions/0105-reconciliation-run.md)
 * and reconciliation's reads.
 *
 * A run of (agency A, business date T) is one transaction holding the (agency, date) lock: a crash
 * anywhere rolls all of it back, and the next run starts clean. Each step is one set-based
 * statement (src/db/repositories/reconciliation.ts).
 */

/**
 * The window of dates the job looks over every time (T−1 and the 6 days before it): a date in it is
 * taken again while UNBALANCED, for a newer statement, a late posting or a carried-in shortage.
 */
export const RECONCILE_LOOKBACK_DAYS = 7;
/**
 * Before the window a date is taken again only for a late posting recorded within this many days
 * (or a shortage carried into it): a late posting is picked up by any job run in the month after
 * it, as many days as a start-up catches up (CATCH_UP_LOOKBACK_DAYS), however old its business date
 * (contracts/decisions/0210-late-postings-requeue-their-date.md).
 */
export const LATE_POSTING_LOOKBACK_DAYS = 31;
/** Runs one finance listing returns at most. */
export const RUN_LIST_MAX = 1000;
/**
 * A run of a 1,000,000-line statement takes statements longer than the pool's default
 * statement_timeout (60 s) on a slow disk; the run's transaction allows this much.
 */
const RUN_STATEMENT_TIMEOUT = '30min';

export interface ReconciliationDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  backfillOverages: BackfillOverages;
}

export interface ReconcileOptions {
  /** Called inside the run's transaction before it commits (the job records its progress with it). */
  beforeCommit?: (trx: Knex.Transaction, run: Record<string, unknown>) => Promise<void>;
}

export type RunStatus = 'BALANCED' | 'UNBALANCED' | 'STATEMENT_MISSING';

export class ReconciliationService {
  constructor(private readonly deps: ReconciliationDependencies) {}

  /**
   * Reconciles (agency, businessDate) against its current statement, or records STATEMENT_MISSING;
   * answers the finished `Run`. The same result however often it runs.
   */
  async reconcile(agencyCode: string, businessDate: string, options: ReconcileOptions = {}): Promise<Record<string, unknown>> {
    const { db, clocks } = this.deps;
    const agency = await repo.findAgency(db, agencyCode);
    if (!agency) throw new TongfuError('NOT_FOUND', `no agency is registered with code ${agencyCode}`);
    const pending = await repo.currentStatement(db, agency.partyId, businessDate);
    if (pending) {
      const analyzeStartedMs = performance.now();
      if (await repo.analyzeLinesIfStale(db, pending.id)) this.deps.log.info({ agencyCode, businessDate, analyzeMs: Math.round(performance.now() - analyzeStartedMs) }, 'statement lines analyzed before the run');
    }
    return db.transaction(async (trx) => {
      await trx.raw(`SET LOCAL statement_timeout = '${RUN_STATEMENT_TIMEOUT}'`);
      await useBulkWorkMem(trx);
      await lockAgencyDateInTransaction(trx, agency.code, businessDate);
      const startedAt = clocks.business.now();
      const statement = await repo.currentStatement(trx, agency.partyId, businessDate);
      const previous = await repo.lastRun(trx, agency.partyId, businessDate);
      const runId = newRunId(clocks.real.now());
      const runRowId = await repo.insertRun(trx, { runId, agencyPartyId: agency.partyId, agencyCode: agency.code, businessDate, statementRowId: statement?.id ?? null, startedAt });
      if (!statement) {
        // No statement: nothing is opened, and nothing of T settles (docs/reconciliation.md §2).
        const platformTotal = await repo.unmatchedPaymentsTotal(trx, agency.partyId, businessDate);
        await repo.finishRun(trx, runRowId, { status: 'STATEMENT_MISSING', outcomes: zeroOutcomes(), platformTotal, statementTotal: null, finishedAt: clocks.business.now() });
      } else {
        const params: StepParams = { agency: agency.partyId, agencyCode: agency.code, date: businessDate, statement: statement.id, run: runRowId, runId, now: startedAt };
        // Each step's time, logged once per run (docs/reconciliation.md §4: where a big run's time goes).
        const timings: Record<string, number> = {};
        let stepStartedMs = performance.now();
        const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
          const result = await work();
          const nowMs = performance.now();
          timings[step] = Math.round(nowMs - stepStartedMs);
          stepStartedMs = nowMs;
          return result;
        };
        if (previous?.statement_id != null && previous.statement_id !== statement.id) {
          const superseded = await timed('supersedeMs', () => repo.supersedeEarlierStatements(trx, params));
          this.deps.log.info({ agencyCode, businessDate, ...superseded }, 'a newer statement supersedes the last run');
        }
        // One pass classifies every PAY line into the run's work table; the steps after it read
        // that table instead of the lines and payments (contracts/decisions/0160-one-pass-reconcile-run.md).
        const work = await timed('classifyMs', () => repo.classifyPayLines(trx, params));
        // The backfill takes its candidates from the classification, then they are classified
        // again (contracts/decisions/0180-overages-from-the-run-classification.md). It may leave
        // its receipts' signatures in flight (decisions 0163, 0182): they are made while the steps
        // below execute, and written after the tallies, before the run row is finished.
        const deferred: Array<() => Promise<void>> = [];
        await timed('backfillMs', () =>
          this.deps.backfillOverages(trx, { agencyPartyId: agency.partyId, agencyCode: agency.code, businessDate, statementRowId: statement.id, runRowId, now: startedAt, defer: (finish) => deferred.push(finish), runWorkTable: work }),
        );
        await timed('reclassifyMs', () => repo.reclassifyUnpaidLines(trx, params, work));
        await timed('matchMs', () => repo.insertMatches(trx, params, work));
        await timed('autoResolveMs', () => repo.autoResolveMatchedCarryOvers(trx, params));
        await timed('carriedInMs', () => repo.settleCarriedIn(trx, params, work));
        await timed('releasedCarriedInMs', () => repo.openReleasedCarriedIn(trx, params, work));
        await timed('lineDiscrepanciesMs', () => repo.upsertLineDiscrepancies(trx, params, work));
        const refunds = await timed('refundsMs', () => reconcileRefundLines(trx, params));
        await timed('shortagesMs', () => repo.carryShortages(trx, params, work));
        const lines = await timed('lineTalliesMs', () => repo.payLineTallies(trx, work));
        await repo.dropWorkTable(trx, work);
        const payments = await timed('paymentTalliesMs', () => repo.paymentTallies(trx, params));
        // Last before the run row is finished: the tallies read no receipt, and the signatures
        // get their time too (decision 0182).
        await timed('backfillReceiptsMs', async () => {
          for (const finish of deferred) await finish();
        });
        const outcomes = { ...zeroOutcomes(), ...lines.tallies, ...refunds, ...payments };
        const platformTotal = await sumMoney(trx, [lines.platformAmount, payments.CARRIED_OVER.amount, payments.SHORTAGE.amount]);
        const open = await repo.hasOpenDiscrepancy(trx, params);
        await repo.finishRun(trx, runRowId, { status: open ? 'UNBALANCED' : 'BALANCED', outcomes, platformTotal, statementTotal: statement.pay_total, finishedAt: clocks.business.now() });
        this.deps.log.info({ agencyCode, businessDate, runId, ...timings }, 'reconcile run steps');
      }
      const run = runView(await repo.findRun(trx, runRowId));
      const recipients = [{ partyId: agency.partyId }, ...(await financeRecipients(trx))];
      await recordEvent(trx, { type: 'reconciliation.completed', recipients, data: { run }, occurredAt: clocks.business.now() });
      await options.beforeCommit?.(trx, run);
      return run;
    });
  }

  /** The (agency, date) pairs a job run for `latest` takes (docs/operations.md §4), oldest date first. */
  async queue(latest: string, agencyCode: string | null): Promise<repo.QueuedPair[]> {
    return repo.queuedPairs(this.deps.db, { earliest: addDays(latest, 1 - RECONCILE_LOOKBACK_DAYS), latest, postedSince: addDays(latest, 1 - LATE_POSTING_LOOKBACK_DAYS), agencyCode });
  }

  /** `GET /v1/agency/reconciliations/{businessDate}`: the agency's latest run of the date and its discrepancies; 404 without one. */
  async agencyReconciliation(agencyPartyId: string, businessDate: string): Promise<{ run: Record<string, unknown>; discrepancies: Array<Record<string, unknown>> }> {
    return this.readRun(this.deps.db, agencyPartyId, businessDate);
  }

  /** `GET /v1/finance/reconciliations`: the latest run of each (agency, date), filtered. */
  async financeRuns(filter: { businessDate?: string; agencyCode?: string }): Promise<{ data: Array<Record<string, unknown>> }> {
    const rows = await repo.latestRuns(this.deps.db, filter, RUN_LIST_MAX);
    return { data: rows.map(runView) };
  }

  private async readRun(db: Queryable, agencyPartyId: string, businessDate: string): Promise<{ run: Record<string, unknown>; discrepancies: Array<Record<string, unknown>> }> {
    const row = await repo.lastRun(db, agencyPartyId, businessDate);
    if (!row) throw new TongfuError('NOT_FOUND', `no reconciliation run for ${businessDate}`);
    const discrepancies = await repo.discrepanciesOfRun(db, row);
    return { run: runView(row), discrepancies: discrepancies.map(discrepancyView) };
  }
}

function zeroOutcomes(): Record<Outcome, Tally> {
  return Object.fromEntries(OUTCOMES.map((outcome) => [outcome, { count: 0, amount: '0.00' }])) as Record<Outcome, Tally>;
}

/** Decimal strings summed exactly by PostgreSQL's NUMERIC. */
async function sumMoney(trx: Queryable, values: string[]): Promise<string> {
  const result = await trx.raw<{ rows: Array<{ total: string }> }>(`SELECT COALESCE(sum(v), 0)::numeric(18, 2)::text AS total FROM unnest(CAST(? AS numeric[])) v`, [values]);
  return result.rows[0]?.total ?? '0.00';
}

/** 'N' + the real time in base 36 + 72 random bits (the style of payment ids). */
function newRunId(realNow: Date): string {
  return `N${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}
