import type { Knex } from 'knex';

/**
 * Fixed-window counters for the limits on public notice lookups (docs/interface.md §6: at most 30
 * lookups a minute per client address and 10 failed lookups a minute per payCode). They live in
 * PostgreSQL so that every instance behind a load balancer counts against the same limit; one
 * row per (scope, subject, window), bumped with INSERT … ON CONFLICT DO UPDATE … RETURNING.
 *
 * UNLOGGED: the counters are worth a minute at most, so they skip the write-ahead log. A crash
 * of the database (or a fail-over to a replica) empties the table, which lets at most one extra
 * minute's worth of lookups through — cheaper than logging every lookup.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE UNLOGGED TABLE public_lookup_counters (
      scope        text NOT NULL CHECK (scope IN ('ADDRESS', 'FAILURE')),
      subject      text NOT NULL,
      window_start timestamptz NOT NULL,
      -- For FAILURE: lookups of a subject (a payCode, a receipt number) that failed or are still in flight (see publicLookupLimits.ts);
      -- a success gives its count back, so it can reach 0.
      hits         integer NOT NULL CHECK (hits >= 0),
      PRIMARY KEY (scope, subject, window_start)
    );
    -- Purging old windows reads them by age.
    CREATE INDEX public_lookup_counters_window_start ON public_lookup_counters (window_start);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
