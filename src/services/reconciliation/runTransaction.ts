import type { Knex } from 'knex';
import { type Db, useBulkWorkMem } from '../../db/database';
import * as repo from '../../db/repositories/reconciliation';
import type { BackfillResult } from './backfillContract';

/**
 * A run of a 1,000,000-line statement takes statements longer than the pool's default
 * statement_timeout (60 s) on a slow disk; the run's transactions allow this much.
 */
const RUN_STATEMENT_TIMEOUT = '30min';

/** What a run's transaction sets first: its statement timeout and the bulk work_mem. */
export async function prepareRunTransaction(trx: Knex.Transaction): Promise<void> {
  await trx.raw(`SET LOCAL statement_timeout = '${RUN_STATEMENT_TIMEOUT}'`);
  await useBulkWorkMem(trx);
}

/** The run row a run inserts when it takes none over. */
export type NewRunRow = Parameters<typeof repo.insertRun>[1];

/** Why a backfill transaction rolled back without backfilling: its run failed first. */
class RunAbandoned extends Error {
  constructor() {
    super('the reconcile run failed before its backfill committed');
  }
}

/**
 * A run's OVERAGE backfill in a transaction of its own, on a second connection, beside the run's
 * transaction (contracts/decisions/0239-backfill-committed-beside-the-run.md):
 *
 * 1. opened by the run once it holds the (agency, date) lock, it inserts the run row `RUNNING`
 *    (unless the run took over one a crash left) and hands its id over (`runRowId`);
 * 2. given the classification's candidates (`start`), it backfills them and commits — while the
 *    run's transaction inserts the statement's matches;
 * 3. the run waits for the commit (`committed`) before it classifies the candidates again.
 *
 * The run row commits with the backfill, so every row the backfill writes names a run that exists,
 * and a crash after this commit leaves a `RUNNING` run with its backfills, which the next run of the
 * (agency, date) takes over. A run that fails before this commits rolls it back (`settled`).
 */
export class BackfillTransaction {
  /** The run row's id, inserted (uncommitted) or taken over. */
  readonly runRowId: Promise<string>;
  private readonly done: Promise<BackfillResult>;
  private provide: (candidates: Int32Array | null) => void = () => undefined;
  private abandoned = false;

  constructor(
    db: Db,
    takenOverRunRowId: string | null,
    newRun: NewRunRow,
    backfill: (trx: Knex.Transaction, runRowId: string, candidateLineNos: Int32Array) => Promise<BackfillResult>,
  ) {
    const candidates = new Promise<Int32Array | null>((resolve) => {
      this.provide = resolve;
    });
    let announce: (runRowId: string) => void = () => undefined;
    let fail: (error: unknown) => void = () => undefined;
    this.runRowId = new Promise<string>((resolve, reject) => {
      announce = resolve;
      fail = reject;
    });
    this.done = db.transaction(async (trx) => {
      await prepareRunTransaction(trx);
      const runRowId = takenOverRunRowId ?? (await repo.insertRun(trx, newRun));
      announce(runRowId);
      const lineNos = await candidates;
      if (lineNos === null) throw new RunAbandoned();
      const result = await backfill(trx, runRowId, lineNos);
      // The run failed meanwhile: roll back rather than leave a run for the next one to take over.
      if (this.abandoned) throw new RunAbandoned();
      return result;
    });
    this.done.catch(fail);
  }

  /** Hands over the candidates: the backfill starts. */
  start(candidateLineNos: Int32Array): void {
    this.provide(candidateLineNos);
  }

  /** The backfill's result once its transaction has committed; rejects with its failure. */
  committed(): Promise<BackfillResult> {
    return this.done;
  }

  /**
   * Called when the run's transaction is done with it, however it ends: a backfill not started is
   * abandoned, one in flight is asked to roll back at its end; waits until it has committed or
   * rolled back, so that no transaction is left behind.
   */
  async settled(failed: boolean): Promise<void> {
    if (failed) this.abandoned = true;
    this.provide(null);
    await this.done.catch(() => undefined);
  }
}
