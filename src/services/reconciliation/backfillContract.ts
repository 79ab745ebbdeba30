import type { Knex } from 'knex';

/**
 * The OVERAGE backfill's contract (docs/reconciliation.md §2, contracts/decisions/0105-reconciliation-run.md):
 * the reconcile run calls it once per run, under the (agency, date) lock, after it classifies, in a
 * transaction of its own that commits before the run's (contracts/decisions/0239-backfill-committed-beside-the-run.md). For every `PAY` line of the statement with no `payment_keys` row for
 * (agency, agencyTxnId) it creates the payment (a captured-funds posting dated `businessDate`),
 * its key, journal entry, receipt and events, a `statement_matches` row (`backfilled = true`,
 * `run_id = runRowId`) and an `OVERAGE` discrepancy `AUTO_RESOLVED` — set-based, one pass per
 * statement, and nothing on a rerun (the keys exist then). Types only: the implementation is
 * src/services/reconciliation/backfill.ts.
 */
export interface BackfillContext {
  agencyPartyId: string;
  agencyCode: string;
  /** YYYY-MM-DD: the statement's business date, which every backfilled payment gets. */
  businessDate: string;
  /** agency_statements.id of the statement whose lines are backfilled. */
  statementRowId: string;
  /** reconciliation_runs.id of the run that calls it. */
  runRowId: string;
  /** The business clock at the run. */
  now: Date;
  /**
   * The lines the run's classification found with neither a payment nor a live match, ascending
   * line numbers: the candidates, each checked again for a key, and the statement is not searched
   * line by line (contracts/decisions/0180-overages-from-the-run-classification.md). Without it the
   * backfill searches the statement's lines for those with no key.
   */
  candidateLineNos?: Int32Array;
}

export interface BackfillResult {
  /** Payments created by this call (0 on a rerun). */
  count: number;
  /** Their total, a decimal string. */
  amount: string;
}

export type BackfillOverages = (trx: Knex.Transaction, ctx: BackfillContext) => Promise<BackfillResult>;
