import type { Queryable } from '../database';

/**
 * How many rows of business data the database holds: `demo seed` builds its world only on a
 * database without any (platform settings such as generated keys do not count).
 */
export async function countBusinessRows(db: Queryable): Promise<Record<string, number>> {
  const result = await db.raw<{ rows: Array<Record<string, string>> }>(`
    SELECT (SELECT count(*) FROM parties) AS parties,
           (SELECT count(*) FROM regions) AS regions,
           (SELECT count(*) FROM accounts) AS accounts,
           (SELECT count(*) FROM items) AS items,
           (SELECT count(*) FROM notices) AS notices,
           (SELECT count(*) FROM payments) AS payments`);
  const row = result.rows[0] ?? {};
  return Object.fromEntries(Object.entries(row).map(([name, count]) => [name, Number(count)]));
}
