import type { Db } from '../db/database';
import { listCloses } from '../db/repositories/dailyCloses';
import { LEDGER_CHECKS, ledgerTotals, runLedgerCheck, type LedgerTotals } from '../db/repositories/ledger';
import { GENESIS_CLOSE_HASH, nextDate } from '../domain/dailyClose';
import { closeHashOf } from './dailyCloses';

/**
 * `ledger verify` (docs/lifecycle.md §4, docs/operations.md §3): every invariant of the ledger, checked
 * against what is stored. The CLI prints the result and exits non-zero on any break; the
 * integration tests call `verifyLedger` after every scenario.
 *
 * All checks read one snapshot (REPEATABLE READ, read only), so payments posted while it runs
 * can never make a consistent ledger look broken, nor hide a break.
 */

/** Broken rows shown per check; the count is exact whatever this is. */
export const LEDGER_BREAK_SAMPLES_MAX = 100;

export interface LedgerCheckResult {
  name: string;
  invariant: string;
  ok: boolean;
  /** The first LEDGER_BREAK_SAMPLES_MAX rows that break it. */
  breaks: Array<{ subject: string; detail: Record<string, unknown> }>;
  /** True when there were more breaks than shown. */
  more: boolean;
}

export interface LedgerVerification {
  ok: boolean;
  totals: LedgerTotals;
  checks: LedgerCheckResult[];
}

/**
 * `options.businessToday` (the business clock's date; the CLI passes it) enables the checks that
 * depend on the date, such as reconciliation's ageing (docs/reconciliation.md §2); without it they
 * are left out.
 */
export async function verifyLedger(db: Db, options: { businessToday?: string } = {}): Promise<LedgerVerification> {
  return db.transaction(
    async (trx) => {
      const totals = await ledgerTotals(trx);
      const checks: LedgerCheckResult[] = [];
      for (const check of LEDGER_CHECKS) {
        if (check.needsToday && options.businessToday === undefined) continue;
        const rows = await runLedgerCheck(trx, check, LEDGER_BREAK_SAMPLES_MAX + 1, options.businessToday);
        checks.push({ name: check.name, invariant: check.invariant, ok: rows.length === 0, breaks: rows.slice(0, LEDGER_BREAK_SAMPLES_MAX), more: rows.length > LEDGER_BREAK_SAMPLES_MAX });
      }
      const chain = await closeChainBreaks(trx);
      checks.push({ name: 'closeChain', invariant: 'the daily closes are contiguous and each closeHash recomputes from the previous hash and the stored content (`close verify` also checks the signatures)', ok: chain.length === 0, breaks: chain.slice(0, LEDGER_BREAK_SAMPLES_MAX), more: chain.length > LEDGER_BREAK_SAMPLES_MAX });
      return { ok: checks.every((check) => check.ok), totals, checks };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

/** The close chain's breaks, hashes and dates only (docs/settlement.md §6: "the close chain recomputes"). */
async function closeChainBreaks(db: Parameters<typeof listCloses>[0]): Promise<Array<{ subject: string; detail: Record<string, unknown> }>> {
  const breaks: Array<{ subject: string; detail: Record<string, unknown> }> = [];
  let previous: { business_date: string; close_hash: string } | undefined;
  for (;;) {
    const rows = await listCloses(db, { ...(previous ? { afterDate: previous.business_date } : {}), limit: 500 });
    if (rows.length === 0) break;
    for (const row of rows) {
      const subject = `close ${row.business_date}`;
      if (previous !== undefined && nextDate(previous.business_date) !== row.business_date) breaks.push({ subject, detail: { problem: 'NOT_CONTIGUOUS', follows: previous.business_date } });
      if (row.previous_close_hash !== (previous?.close_hash ?? GENESIS_CLOSE_HASH)) breaks.push({ subject, detail: { problem: 'PREVIOUS_HASH' } });
      if (closeHashOf(row.previous_close_hash, row.content) !== row.close_hash) breaks.push({ subject, detail: { problem: 'HASH' } });
      previous = row;
    }
  }
  return breaks;
}
