import type { Knex } from 'knex';
import type { Queryable } from '../database';

/**
 * Maker-checker proposals (`finance_proposals`, migration 20261202000100): one row per proposal
 * on a target of any kind. The engine (src/services/proposals.ts) locks the target before it
 * reads or writes a proposal of it, so the proposals of one target are decided one at a time.
 */

export interface ProposalRow {
  id: string;
  proposal_id: string;
  target_kind: string;
  target_id: string;
  proposal_ref: string;
  action: string;
  reason: string;
  fields: Record<string, unknown>;
  request_hash: string;
  proposed_by_party_id: string;
  proposed_by_app_id: string;
  status: string;
  decided_by_party_id: string | null;
  decided_by_app_id: string | null;
  comment: string | null;
  created_at: Date;
  decided_at: Date | null;
}

const COLUMNS = `p.id::text AS id, p.proposal_id, p.target_kind, p.target_id::text AS target_id, p.proposal_ref, p.action, p.reason,
       p.fields, p.request_hash, p.proposed_by_party_id::text AS proposed_by_party_id, proposer.app_id AS proposed_by_app_id,
       p.status, p.decided_by_party_id::text AS decided_by_party_id, decider.app_id AS decided_by_app_id, p.comment,
       p.created_at, p.decided_at`;

const FROM = `finance_proposals p
  JOIN parties proposer ON proposer.id = p.proposed_by_party_id
  LEFT JOIN parties decider ON decider.id = p.decided_by_party_id`;

/** The proposal a party made under this proposalRef, whatever its target. */
export async function findByRef(db: Queryable, proposerPartyId: string, proposalRef: string): Promise<ProposalRow | undefined> {
  const result = await db.raw<{ rows: ProposalRow[] }>(`SELECT ${COLUMNS} FROM ${FROM} WHERE p.proposed_by_party_id = ?::bigint AND p.proposal_ref = ?`, [proposerPartyId, proposalRef]);
  return result.rows[0];
}

/** A proposal of this target by its proposalId; locked FOR UPDATE when asked. */
export async function findOfTarget(db: Queryable, targetKind: string, targetId: string, proposalId: string, options: { lock?: boolean } = {}): Promise<ProposalRow | undefined> {
  const result = await db.raw<{ rows: ProposalRow[] }>(
    `SELECT ${COLUMNS} FROM ${FROM} WHERE p.target_kind = ? AND p.target_id = ?::bigint AND p.proposal_id = ?${options.lock === true ? ' FOR UPDATE OF p' : ''}`,
    [targetKind, targetId, proposalId],
  );
  return result.rows[0];
}

/** The target's pending proposal, if any (at most one, by index). */
export async function findPending(db: Queryable, targetKind: string, targetId: string): Promise<ProposalRow | undefined> {
  const result = await db.raw<{ rows: ProposalRow[] }>(`SELECT ${COLUMNS} FROM ${FROM} WHERE p.target_kind = ? AND p.target_id = ?::bigint AND p.status = 'PENDING'`, [targetKind, targetId]);
  return result.rows[0];
}

/** For each target, its pending proposal, else its last decided one (a list's `proposal` field). */
export async function latestOfTargets(db: Queryable, targetKind: string, targetIds: readonly string[]): Promise<Map<string, ProposalRow>> {
  if (targetIds.length === 0) return new Map();
  const result = await db.raw<{ rows: ProposalRow[] }>(
    `SELECT DISTINCT ON (p.target_id) ${COLUMNS} FROM ${FROM}
      WHERE p.target_kind = ? AND p.target_id = ANY(?::bigint[])
      ORDER BY p.target_id, (p.status = 'PENDING') DESC, p.id DESC`,
    [targetKind, targetIds as string[]],
  );
  return new Map(result.rows.map((row) => [row.target_id, row]));
}

export interface NewProposalRow {
  proposal_id: string;
  target_kind: string;
  target_id: string;
  proposal_ref: string;
  action: string;
  reason: string;
  fields: Record<string, unknown>;
  request_hash: string;
  proposed_by_party_id: string;
  created_at: Date;
}

/** Inserts a pending proposal; undefined when the party's proposalRef is already taken (a race the caller re-reads). */
export async function insertProposal(trx: Knex.Transaction, row: NewProposalRow): Promise<string | undefined> {
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO finance_proposals (proposal_id, target_kind, target_id, proposal_ref, action, reason, fields, request_hash, proposed_by_party_id, status, created_at)
     VALUES (?, ?, ?::bigint, ?, ?, ?, ?::jsonb, ?, ?::bigint, 'PENDING', ?)
     ON CONFLICT (proposed_by_party_id, proposal_ref) DO NOTHING
     RETURNING id::text AS id`,
    [row.proposal_id, row.target_kind, row.target_id, row.proposal_ref, row.action, row.reason, JSON.stringify(row.fields), row.request_hash, row.proposed_by_party_id, row.created_at],
  );
  return result.rows[0]?.id;
}

/** Records the decision of a pending proposal (the caller holds its lock). */
export async function decideProposal(trx: Knex.Transaction, id: string, decision: { status: string; decidedByPartyId: string; comment: string | null; decidedAt: Date }): Promise<void> {
  const result = await trx.raw(
    `UPDATE finance_proposals SET status = ?, decided_by_party_id = ?::bigint, comment = ?, decided_at = ? WHERE id = ?::bigint AND status = 'PENDING'`,
    [decision.status, decision.decidedByPartyId, decision.comment, decision.decidedAt, id],
  );
  if ((result as { rowCount?: number }).rowCount !== 1) throw new Error(`invariant broken: proposal ${id} was pending under its lock`);
}
