import type { Knex } from 'knex';

/**
 * Refunds requested by units and decided by finance (docs/settlement.md §3). The refunds table
 * (migration 20261127000031) gains what the request and the decision keep:
 *
 * - `request_hash`: the fingerprint of the unit's request (docs/interface.md §4), with the payee's
 *   name and account number as placeholders — they are stored encrypted, and a hash of them beside
 *   the other fields would give them away to guesses; a repeat compares them decrypted
 *   (contracts/decisions/0150-refund-requests.md). Written by every unit request.
 * - `decided_by_party_id`, `decided_at`, `decision_comment`: finance's decision on a REQUESTED
 *   refund, approval or rejection (an approval also fills `approval = 'FINANCE'`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE refunds
      ADD COLUMN request_hash        text CHECK (request_hash ~ '^[0-9a-f]{64}$'),
      ADD COLUMN decided_by_party_id bigint REFERENCES parties (id),
      ADD COLUMN decided_at          timestamptz,
      ADD COLUMN decision_comment    text CHECK (length(decision_comment) <= 500),
      ADD CONSTRAINT refunds_decision CHECK ((decided_by_party_id IS NULL) = (decided_at IS NULL)),
      ADD CONSTRAINT refunds_rejected_decided CHECK (status <> 'REJECTED' OR decided_at IS NOT NULL);
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
