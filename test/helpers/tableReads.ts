import type { Knex } from 'knex';

/**
 * The rows this transaction has read so far from `table` — by sequential scans, and from the heap
 * through indexes — as PostgreSQL counts them (pg_stat_xact_user_tables). A plan that scans a
 * table once per row of another shows here as a multiple of the table's size, with no clock.
 *
 * The count also holds the same connection's earlier transactions until the backend flushes its
 * statistics, which it does when idle, at most once a second (contracts/decisions/0217-index-audit.md).
 * Measure a difference within one transaction, or let the pool's connections idle past that second
 * first (STATS_FLUSHED_AFTER_MS).
 */
export async function rowsReadInTransaction(trx: Knex.Transaction, table: string): Promise<number> {
  const result = await trx.raw<{ rows: Array<{ seq_tup_read: string; idx_tup_fetch: string | null }> }>(
    `SELECT seq_tup_read, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = ?`,
    [table],
  );
  const row = result.rows[0];
  return row === undefined ? 0 : Number(row.seq_tup_read) + Number(row.idx_tup_fetch ?? 0);
}

/** How long an idle backend may hold its statistics before it flushes them (about 1 s), with a margin. */
export const STATS_FLUSHED_AFTER_MS = 1_500;
