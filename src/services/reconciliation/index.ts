import { randomBase64Url } from '../../crypto/randomIds';
import type { Knex } from 'knex';
import type { Db, Queryable } from '../../db/database';
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
import { BackfillTransaction, prepareRunTransaction } from './runTransaction';
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
      await prepareRunTransaction(trx);
      await lockAgencyDateInTransaction(trx, agency.code, businessDate);
      const startedAt = clocks.business.now();
      const statement = await repo.currentStatement(trx, agency.partyId, businessDate);
      // A run left RUNNING is one a crash interrupted after its backfill committed: this run takes
      // it over (contracts/decisions/0239-backfill-committed-beside-the-run.md).
      const latest = await repo.lastRun(trx, agency.partyId, businessDate);
      const interrupted = latest?.status === 'RUNNING' ? latest : undefined;
      const previous = interrupted === undefined ? latest : await repo.lastFinishedRun(trx, agency.partyId, businessDate);
      if (interrupted) await repo.resumeRun(trx, interrupted.id, statement?.id ?? null);
      const runId = interrupted?.run_id ?? newRunId(clocks.real.now());
      const newRun = { runId, agencyPartyId: agency.partyId, agencyCode: agency.code, businessDate, statementRowId: statement?.id ?? null, startedAt };
      let runRowId: string;
      if (!statement) {
        runRowId = interrupted?.id ?? (await repo.insertRun(trx, newRun));
        // No statement: nothing is opened, and nothing of T settles (docs/reconciliation.md §2).
        const platformTotal = await repo.unmatchedPaymentsTotal(trx, agency.partyId, businessDate);
        await repo.finishRun(trx, runRowId, { status: 'STATEMENT_MISSING', outcomes: zeroOutcomes(), platformTotal, statementTotal: null, finishedAt: clocks.business.now() });
      } else {
        // The backfill's own transaction, on a second connection: it inserts the run row (unless
        // this run took one over), waits for the classification's candidates, backfills them and
        // commits, while this transaction matches (decision 0239).
        const backfill = new BackfillTransaction(db, interrupted?.id ?? null, newRun, (btrx, runRowId_, candidateLineNos) =>
          this.deps.backfillOverages(btrx, { agencyPartyId: agency.partyId, agencyCode: agency.code, businessDate, statementRowId: statement.id, runRowId: runRowId_, now: startedAt, candidateLineNos }),
        );
        let failed = true;
        try {
          runRowId = await backfill.runRowId;
          const params: StepParams = { agency: agency.partyId, agencyCode: agency.code, date: businessDate, statement: statement.id, run: runRowId, runId, now: startedAt };
          await this.runSteps(trx, params, statement.pay_total, previous, interrupted, backfill);
          failed = false;
        } finally {
          // Never leave the backfill's transaction behind: a failure here rolls it back unless it
          // has committed (then the next run takes this one over).
          await backfill.settled(failed);
        }
      }
      const run = runView(await repo.findRun(trx, runRowId));
      const recipients = [{ partyId: agency.partyId }, ...(await financeRecipients(trx))];
      await recordEvent(trx, { type: 'reconciliation.completed', recipients, data: { run }, occurredAt: clocks.business.now() });
      await options.beforeCommit?.(trx, run);
      return run;
    });
  }

  /** The steps of a run with a statement, each one set-based statement (src/db/repositories/reconciliation.ts). */
  private async runSteps(trx: Knex.Transaction, params: StepParams, statementTotal: string, previous: repo.RunRow | undefined, interrupted: repo.RunRow | undefined, backfill: BackfillTransaction): Promise<void> {
    const { agencyCode, date: businessDate, runId } = params;
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
    // A newer statement than the last finished run's — or than the interrupted run's, whose
    // backfilled matches are then released as any earlier statement's are.
    const supersedes = (previous?.statement_id != null && previous.statement_id !== params.statement) || (interrupted?.statement_id != null && interrupted.statement_id !== params.statement);
    if (supersedes) {
      const superseded = await timed('supersedeMs', () => repo.supersedeEarlierStatements(trx, params));
      this.deps.log.info({ agencyCode, businessDate, ...superseded }, 'a newer statement supersedes the last run');
    }
    // One pass classifies every PAY line into the run's work table; the steps after it read
    // that table instead of the lines and payments (contracts/decisions/0160-one-pass-reconcile-run.md).
    const work = await timed('classifyMs', () => repo.classifyPayLines(trx, params));
    // The backfill takes its candidates from the classification (decision 0180) and runs in its
    // own transaction while this one inserts the matches and takes every step that does not wait
    // for the candidates' outcome (decision 0239).
    const candidates = await timed('candidatesMs', () => repo.overageCandidates(trx, work));
    backfill.start(candidates);
    await timed('matchMs', () => repo.insertMatches(trx, params, work));
    await timed('autoResolveMs', () => repo.autoResolveMatchedCarryOvers(trx, params));
    await timed('carriedInMs', () => repo.settleCarriedIn(trx, params, work));
    await timed('releasedCarriedInMs', () => repo.openReleasedCarriedIn(trx, params, work));
    await timed('lineDiscrepanciesMs', () => repo.upsertLineDiscrepancies(trx, params, work, 'settled'));
    const refunds = await timed('refundsMs', () => reconcileRefundLines(trx, params));
    await timed('shortagesMs', () => repo.carryShortages(trx, params, work));
    // Then the candidates, once the backfill has committed: classified again (their payments and
    // backfilled matches visible now) and matched or held like any line.
    await timed('backfillMs', () => backfill.committed());
    await timed('reclassifyMs', () => repo.reclassifyUnpaidLines(trx, params, work));
    await timed('candidateDiscrepanciesMs', () => repo.upsertLineDiscrepancies(trx, params, work, candidates));
    const lines = await timed('lineTalliesMs', () => repo.payLineTallies(trx, work));
    await repo.dropWorkTable(trx, work);
    const payments = await timed('paymentTalliesMs', () => repo.paymentTallies(trx, params));
    const outcomes = { ...zeroOutcomes(), ...lines.tallies, ...refunds, ...payments };
    const platformTotal = await sumMoney(trx, [lines.platformAmount, payments.CARRIED_OVER.amount, payments.SHORTAGE.amount]);
    const open = await repo.hasOpenDiscrepancy(trx, params);
    await repo.finishRun(trx, params.run, { status: open ? 'UNBALANCED' : 'BALANCED', outcomes, platformTotal, statementTotal, finishedAt: this.deps.clocks.business.now() });
    this.deps.log.info({ agencyCode, businessDate, runId, ...timings }, 'reconcile run steps');
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
