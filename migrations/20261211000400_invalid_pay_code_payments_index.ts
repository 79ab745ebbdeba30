import type { Knex } from 'knex';

/**
 * The UNAPPLIED payments posted with an invalid payCode, by index
 * (contracts/decisions/0217-index-audit.md).
 *
 * A statement's PAY line whose payCode is not a valid one is accepted only when it is exactly the
 * posted code of a payment of the agency recorded `UNAPPLIED` with `PAY_CODE_INVALID`
 * (src/db/repositories/agencyStatements.ts loadedUnknownPayCodes). Nothing indexed `pay_code` on
 * `payments`, so the check read every payment the agency ever posted — once per upload that
 * carries such a line, inside the upload's transaction, growing with the agency's history.
 *
 * The index is partial: only payments recorded with `PAY_CODE_INVALID` enter it, which the query
 * names word for word. A posting pays for it only by evaluating the predicate; an entry is
 * written only for a posting on an invalid payCode, which is rare and already a slower path
 * (UNAPPLIED). `agency_party_id`, `pay_code` and `unapplied_reason` never change after the
 * insert, so the payment's later updates stay as HOT-eligible as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX payments_invalid_pay_code ON payments (agency_party_id, pay_code) WHERE unapplied_reason = 'PAY_CODE_INVALID'`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
