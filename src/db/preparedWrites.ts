import type { Knex } from 'knex';
import { assert } from '../domain/errors';

/**
 * A write statement built before it is sent: its text, its bindings and the counts it must answer.
 * A batch that writes page after page builds the next page's statements while the database
 * executes the last page's (contracts/decisions/0236-backfill-writes-prepared-ahead.md): building
 * a thousand rows' JSON takes the process as long as some of the statements take the database, and
 * built in between the statements it left the connection idle.
 */
export interface PreparedWrite {
  /** What it writes, for the assertion's message. */
  what: string;
  /** Answers one row with a column for each name of `expect`. */
  sql: string;
  bindings: readonly Knex.RawBinding[];
  /** The count each named column must hold: the rows the statement must have written. */
  expect: Readonly<Record<string, number>>;
}

/**
 * Wraps a data-modifying statement (without its RETURNING) so that it answers the rows it wrote
 * as `count`.
 */
export function countedWrite(what: string, sql: string, bindings: readonly Knex.RawBinding[], rows: number): PreparedWrite {
  return { what, sql: `WITH written AS (${sql} RETURNING 1) SELECT count(*)::int AS count FROM written`, bindings, expect: { count: rows } };
}

/**
 * Splits `rows` into chunks of at most `chunkRows`, each written by the statement `build` makes of
 * the chunk's JSON array (`json_to_recordset`).
 */
export function chunkedWrites<T>(what: string, rows: readonly T[], chunkRows: number, build: (json: string) => { sql: string; bindings: readonly Knex.RawBinding[] }): PreparedWrite[] {
  assert(Number.isInteger(chunkRows) && chunkRows >= 1, `a chunk holds at least one row, not ${chunkRows}`);
  const writes: PreparedWrite[] = [];
  for (let start = 0; start < rows.length; start += chunkRows) {
    const chunk = rows.slice(start, start + chunkRows);
    const statement = build(JSON.stringify(chunk));
    writes.push(countedWrite(what, statement.sql, statement.bindings, chunk.length));
  }
  return writes;
}

/** Sends the writes one after another through `trx` and asserts each answered its counts. */
export async function runWrites(trx: Knex.Transaction, writes: readonly PreparedWrite[]): Promise<void> {
  for (const write of writes) {
    const result = await trx.raw<{ rows: Array<Record<string, number>> }>(write.sql, write.bindings as Knex.RawBinding[]);
    const row = result.rows[0];
    assert(row !== undefined, `${write.what}: the statement answers one row`);
    for (const [column, expected] of Object.entries(write.expect)) {
      assert(row[column] === expected, `${write.what}: wrote ${String(row[column])} ${column}, expected ${expected}`);
    }
  }
}
