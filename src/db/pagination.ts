import type { Knex } from 'knex';
import { TongfuError } from '../domain/errors';

/**
 * Cursor pagination (docs/interface.md §5): ordered by a monotonic id, never by a timestamp, so a page
 * boundary never skips or repeats a row however many rows arrive meanwhile.
 */
export const PAGE_LIMIT_DEFAULT = 100;
export const PAGE_LIMIT_MAX = 500;

export interface PageRequest {
  limit: number;
  /** The id after which the page starts (exclusive); undefined for the first page. */
  afterId: string | undefined;
}

export interface Page<Row> {
  rows: Row[];
  nextCursor: string | null;
}

const CURSOR_PREFIX = 'c1.';

export function encodeCursor(id: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${id}`, 'utf8').toString('base64url');
}

const BIGINT_MAX = 2n ** 63n - 1n;

export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith(CURSOR_PREFIX) ? decoded.slice(CURSOR_PREFIX.length) : '';
  // Row ids are bigint: a forged cursor past 2^63 − 1 would fail in the query, not here.
  if (!/^[0-9]{1,19}$/.test(id) || BigInt(id) > BIGINT_MAX) {
    throw new TongfuError('VALIDATION_FAILED', 'cursor is not one this service issued', { fields: [{ path: '/query/cursor', problem: 'unknown cursor' }] });
  }
  return id;
}

/** Reads limit and cursor from a validated query. */
export function pageRequest(query: { limit?: unknown; cursor?: unknown }): PageRequest {
  const limit = typeof query.limit === 'number' ? query.limit : PAGE_LIMIT_DEFAULT;
  const afterId = typeof query.cursor === 'string' ? decodeCursor(query.cursor) : undefined;
  return { limit: Math.min(Math.max(limit, 1), PAGE_LIMIT_MAX), afterId };
}

/** Runs `query` for one page ordered by `idColumn`; fetches one row more to know if another page exists. */
export async function fetchPage<Row extends Record<string, unknown>>(query: Knex.QueryBuilder, idColumn: string, page: PageRequest): Promise<Page<Row>> {
  if (page.afterId !== undefined) void query.where(idColumn, '>', page.afterId);
  const rows = (await query.orderBy(idColumn, 'asc').limit(page.limit + 1)) as Row[];
  const hasMore = rows.length > page.limit;
  const pageRows = hasMore ? rows.slice(0, page.limit) : rows;
  const last = pageRows[pageRows.length - 1];
  const idKey = idColumn.includes('.') ? (idColumn.split('.').pop() as string) : idColumn;
  return { rows: pageRows, nextCursor: hasMore && last ? encodeCursor(String(last[idKey])) : null };
}
