import type { Knex } from 'knex';

/**
 * The serials of receipt numbers (docs/lifecycle.md §6): one PostgreSQL sequence per receipt code.
 *
 * A receipt code is `15` (region) `04` (non-tax) `01` (kind) and the two-digit year of the
 * payment, so exactly one hundred codes can ever exist, and all of them are created here. Creating
 * them up front means the payment path never runs DDL: a sequence made on demand would need an
 * advisory lock (CREATE SEQUENCE IF NOT EXISTS is not safe under concurrency) and, inside a
 * payment's transaction, either a second pooled connection or a savepoint — both worse than one
 * hundred empty sequences (a few kilobytes each).
 *
 * NO CYCLE and a maximum of ten digits: when a code runs out, issuing fails loudly instead of
 * reusing a number. A code's year comes round again after a century; its sequence simply carries
 * on from where it stopped, so even then no number repeats.
 */
const RECEIPT_CODE_PREFIX = '150401';
const RECEIPT_SERIAL_MAX = 9_999_999_999;

export async function up(knex: Knex): Promise<void> {
  const statements: string[] = [];
  for (let year = 0; year < 100; year += 1) {
    const code = `${RECEIPT_CODE_PREFIX}${String(year).padStart(2, '0')}`;
    statements.push(`CREATE SEQUENCE receipt_serial_${code} AS bigint MINVALUE 1 MAXVALUE ${RECEIPT_SERIAL_MAX} NO CYCLE;`);
  }
  await knex.raw(statements.join('\n'));
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
