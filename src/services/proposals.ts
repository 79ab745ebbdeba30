import { randomBase64Url } from '../crypto/randomIds';
import type { Knex } from 'knex';
import { canonicalJsonSha256Hex } from '../crypto/canonicalJson';
import type { Db } from '../db/database';
import * as repo from '../db/repositories/proposals';
import type { AuthenticatedParty } from '../domain/access';
import { formatInstant } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import { decideTransition, decisionOutcome, type ProposalAction, type ProposalStatus, type ProposalTargetKind } from '../domain/proposals';
import type { Logger } from '../logger';
import { recordAudit, type AuditSnapshot } from './audit';

/**
 * The maker-checker engine (docs/settlement.md §2 "Maker-checker, one pattern",
 * docs/reconciliation.md §3, contracts/decisions/0115-maker-checker-engine.md): one finance party
 * proposes an action on a target, a different finance party approves or rejects it, and an
 * approval executes the action in the decision's own transaction, under the target's lock.
 *
 * The engine knows nothing of any target: each target kind registers a `ProposalTargetHandler`
 * (`engine.register(handler)`) that finds and locks its target, says which actions apply to it
 * in its current state, and executes an approved action. Discrepancies register theirs in
 * src/services/discrepancies.ts; unidentified bank postings, instructions and refunds add theirs
 * the same way, without touching this file.
 *
 * What the engine guarantees for every kind:
 * - `proposalRef` is idempotent per proposing party: the same request again answers the stored
 *   proposal (a replay, whatever happened since); the same ref with other content is
 *   `409 IDEMPOTENCY_CONFLICT`;
 * - `422 ACTION_NOT_APPLICABLE` when the handler says the action does not apply to the target;
 * - one pending proposal per target, `409 PROPOSAL_PENDING` (and the table's partial unique index);
 * - only a different finance party decides (`422 APPROVER_SAME_AS_REQUESTER`); a decided proposal
 *   is decided once (`409 INVALID_STATE_TRANSITION`), and the same decision by the same party
 *   again is a replay;
 * - every proposal and every decision is in the audit log, in its own transaction.
 */

/** A proposal as the API shows it (contracts/openapi/35-reconciliation-shapes.yaml `Proposal`). */
export interface ProposalView {
  proposalId: string;
  proposalRef: string;
  action: string;
  reason: string;
  proposedBy: string;
  status: ProposalStatus;
  decidedBy: string | null;
  comment: string | null;
  createdAt: string;
  decidedAt: string | null;
  /** The action's own fields, for kinds whose actions have some (not shown by the discrepancy API). */
  fields: Record<string, unknown>;
  /**
   * The action's fields as the API and the audit log show them (a payee masked), for kinds whose
   * handler has `shownFields`; absent otherwise.
   */
  shown?: Record<string, unknown>;
}

export function proposalView(row: repo.ProposalRow): ProposalView {
  return {
    proposalId: row.proposal_id,
    proposalRef: row.proposal_ref,
    action: row.action,
    reason: row.reason,
    proposedBy: row.proposed_by_app_id,
    status: row.status as ProposalStatus,
    decidedBy: row.decided_by_app_id,
    comment: row.comment,
    createdAt: formatInstant(row.created_at),
    decidedAt: row.decided_at === null ? null : formatInstant(row.decided_at),
    fields: row.fields,
  };
}

/** What an approved action is executed with. */
export interface ApprovedAction {
  proposal: ProposalView;
  action: ProposalAction;
  fields: Record<string, unknown>;
  proposer: { partyId: string; appId: string };
  approver: AuthenticatedParty;
  /** The decision's instant (business clock). */
  at: Date;
}

/**
 * One target kind's part in maker-checker. `T` is the target as the handler reads it. Every
 * method runs inside the engine's transaction; none commits.
 */
export interface ProposalTargetHandler<T> {
  kind: ProposalTargetKind;
  /** The actions this kind has at all; anything else is ACTION_NOT_APPLICABLE before the target is read. */
  actions: readonly ProposalAction[];
  /**
   * Finds the target by the id in the path and locks it (FOR UPDATE, and any wider lock the kind
   * needs first, such as the (agency, date) lock); undefined when there is none (404 NOT_FOUND).
   */
  lock(trx: Knex.Transaction, publicId: string): Promise<T | undefined>;
  /** The target's row id: what `finance_proposals.target_id` stores. */
  rowId(target: T): string;
  /**
   * Checks the action's own fields (`{instructionNo}`, `{payee}` …) and answers them as they are
   * stored (encrypted where personal); throws VALIDATION_FAILED. Kinds without fields answer {}.
   */
  fields(action: ProposalAction, input: Record<string, unknown>): Record<string, unknown>;
  /**
   * Throws ACTION_NOT_APPLICABLE when the action does not apply to the target as it is now;
   * `fields` are the action's own, as `fields` answered them (LINK's instruction must be live).
   */
  checkApplicable(trx: Knex.Transaction, target: T, action: ProposalAction, fields?: Record<string, unknown>): Promise<void>;
  /** Executes an approved action: every write (status, journal entry, events) in `trx`. */
  execute(trx: Knex.Transaction, target: T, approved: ApprovedAction): Promise<void>;
  /** The audit log's name of the target, e.g. `discrepancy:{discrepancyId}`. */
  auditTarget(target: T): string;
  /**
   * The action's stored fields as the Proposal and the audit log's snapshots show them, personal
   * data masked (e.g. `{payee: {name: '**三', accountNo: '****0001', bankName}}`); {} for none.
   * Kinds without it show no fields.
   */
  shownFields?(action: ProposalAction, fields: Record<string, unknown>): Record<string, unknown>;
}

export interface ProposeInput {
  proposalRef: string;
  action: string;
  reason: string;
  /** The action's own fields, if the kind has any. */
  fields?: Record<string, unknown>;
}

export interface DecideInput {
  approve: boolean;
  comment?: string | null;
}

export interface ProposalOutcome {
  proposal: ProposalView;
  /** True when this answer is the stored one of an earlier identical request. */
  replayed: boolean;
}

export interface ProposalEngineDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
}

/** 'Q' + the real time in base 36 + 72 random bits, like the other platform ids. */
function newProposalId(realNow: Date): string {
  return `Q${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

function proposalSnapshot(view: ProposalView): AuditSnapshot {
  return { proposalId: view.proposalId, proposalRef: view.proposalRef, action: view.action, reason: view.reason, proposedBy: view.proposedBy, status: view.status, decidedBy: view.decidedBy, comment: view.comment, ...(view.shown ?? {}) };
}

/** A proposal as the API shows it, with the action's fields as its handler shows them. */
function handlerView(handler: ProposalTargetHandler<unknown>, row: repo.ProposalRow): ProposalView {
  const view = proposalView(row);
  if (handler.shownFields === undefined) return view;
  return { ...view, shown: handler.shownFields(row.action as ProposalAction, row.fields) };
}

function notFound(kind: ProposalTargetKind, publicId: string): TongfuError {
  return new TongfuError('NOT_FOUND', `no ${kind.toLowerCase()} ${publicId}`, { kind, id: publicId });
}

export class ProposalEngine {
  private readonly handlers = new Map<ProposalTargetKind, ProposalTargetHandler<unknown>>();

  constructor(private readonly deps: ProposalEngineDependencies) {}

  /** Plugs a target kind in; each kind once. */
  register<T>(handler: ProposalTargetHandler<T>): void {
    assert(!this.handlers.has(handler.kind), `a handler for ${handler.kind} is registered once`);
    this.handlers.set(handler.kind, handler as ProposalTargetHandler<unknown>);
  }

  private handler(kind: ProposalTargetKind): ProposalTargetHandler<unknown> {
    const handler = this.handlers.get(kind);
    assert(handler !== undefined, `a handler for ${kind} is registered`);
    return handler;
  }

  /** `POST …/{id}/proposals`: a pending proposal (201), or the stored one again (a replay). */
  async propose(kind: ProposalTargetKind, publicId: string, input: ProposeInput, proposer: AuthenticatedParty): Promise<ProposalOutcome> {
    assert(proposer.role === 'finance', 'only a finance party proposes');
    const handler = this.handler(kind);
    const now = this.deps.clocks.business.now();
    return this.deps.db.transaction(async (trx) => {
      const target = await handler.lock(trx, publicId);
      if (target === undefined) throw notFound(kind, publicId);
      const rowId = handler.rowId(target);
      const requestHash = canonicalJsonSha256Hex({ targetKind: kind, target: publicId, action: input.action, reason: input.reason, fields: input.fields ?? {} });

      // The idempotency key first: a replay answers what was stored, whatever happened since.
      const earlier = await repo.findByRef(trx, proposer.partyId, input.proposalRef);
      if (earlier !== undefined) return this.replayOrConflict(handler, earlier, requestHash, input.proposalRef);

      if (!(handler.actions as readonly string[]).includes(input.action)) {
        throw new TongfuError('ACTION_NOT_APPLICABLE', `${input.action} is not an action on a ${kind.toLowerCase()}`, { kind, action: input.action });
      }
      const action = input.action as ProposalAction;
      const fields = handler.fields(action, input.fields ?? {});
      await handler.checkApplicable(trx, target, action, fields);
      const pending = await repo.findPending(trx, kind, rowId);
      if (pending !== undefined) {
        throw new TongfuError('PROPOSAL_PENDING', `${handler.auditTarget(target)} already has a pending proposal ${pending.proposal_id}`, { proposalId: pending.proposal_id });
      }
      const proposalId = newProposalId(this.deps.clocks.real.now());
      const inserted = await repo.insertProposal(trx, {
        proposal_id: proposalId,
        target_kind: kind,
        target_id: rowId,
        proposal_ref: input.proposalRef,
        action,
        reason: input.reason,
        fields,
        request_hash: requestHash,
        proposed_by_party_id: proposer.partyId,
        created_at: now,
      });
      if (inserted === undefined) {
        // The same party used the ref on another target at the same moment: that one holds it.
        const taken = await repo.findByRef(trx, proposer.partyId, input.proposalRef);
        assert(taken !== undefined, 'a refused proposalRef is taken');
        return this.replayOrConflict(handler, taken, requestHash, input.proposalRef);
      }
      const stored = await repo.findOfTarget(trx, kind, rowId, proposalId);
      assert(stored !== undefined, 'the proposal just inserted is there');
      const view = handlerView(handler, stored);
      await recordAudit(trx, { actor: proposer.appId, action: 'proposal.created', target: `${handler.auditTarget(target)}/proposal:${proposalId}`, before: null, after: proposalSnapshot(view), at: now });
      this.deps.log.info({ kind, target: publicId, proposalId, action, proposedBy: proposer.appId }, 'proposal created');
      return { proposal: view, replayed: false };
    });
  }

  private replayOrConflict(handler: ProposalTargetHandler<unknown>, earlier: repo.ProposalRow, requestHash: string, proposalRef: string): ProposalOutcome {
    if (earlier.request_hash !== requestHash) {
      throw new TongfuError('IDEMPOTENCY_CONFLICT', `proposalRef ${proposalRef} was used for another proposal (${earlier.proposal_id})`, { proposalRef, proposalId: earlier.proposal_id });
    }
    return { proposal: handlerView(handler, earlier), replayed: true };
  }

  /** `POST …/{id}/proposals/{proposalId}/decision`: the decided proposal (200); an approval executes the action first. */
  async decide(kind: ProposalTargetKind, publicId: string, proposalId: string, input: DecideInput, decider: AuthenticatedParty): Promise<ProposalOutcome> {
    assert(decider.role === 'finance', 'only a finance party decides');
    const handler = this.handler(kind);
    const now = this.deps.clocks.business.now();
    const event = input.approve ? 'approve' : 'reject';
    const comment = input.comment === undefined || input.comment === null || input.comment === '' ? null : input.comment;
    return this.deps.db.transaction(async (trx) => {
      const target = await handler.lock(trx, publicId);
      if (target === undefined) throw notFound(kind, publicId);
      const row = await repo.findOfTarget(trx, kind, handler.rowId(target), proposalId, { lock: true });
      if (row === undefined) throw new TongfuError('NOT_FOUND', `${handler.auditTarget(target)} has no proposal ${proposalId}`, { proposalId });
      if (row.proposed_by_party_id === decider.partyId) {
        throw new TongfuError('APPROVER_SAME_AS_REQUESTER', `proposal ${proposalId} must be decided by a finance party other than its proposer`, { proposalId });
      }
      if (row.status !== 'PENDING') {
        // The same decision by the same party (a retry) answers what was decided; anything else is a second decision.
        if (row.decided_by_party_id === decider.partyId && row.status === decisionOutcome(event)) return { proposal: handlerView(handler, row), replayed: true };
        decideTransition(row.status as ProposalStatus, event);
      }
      const status = decideTransition('PENDING', event);
      const before = handlerView(handler, row);
      if (status === 'APPROVED') {
        const action = row.action as ProposalAction;
        await handler.checkApplicable(trx, target, action, row.fields);
        await handler.execute(trx, target, {
          proposal: before,
          action,
          fields: row.fields,
          proposer: { partyId: row.proposed_by_party_id, appId: row.proposed_by_app_id },
          approver: decider,
          at: now,
        });
      }
      await repo.decideProposal(trx, row.id, { status, decidedByPartyId: decider.partyId, comment, decidedAt: now });
      const decided = await repo.findOfTarget(trx, kind, handler.rowId(target), proposalId);
      assert(decided !== undefined && decided.status === status, 'the decision is stored');
      const view = handlerView(handler, decided);
      await recordAudit(trx, {
        actor: decider.appId,
        action: status === 'APPROVED' ? 'proposal.approved' : 'proposal.rejected',
        target: `${handler.auditTarget(target)}/proposal:${proposalId}`,
        before: proposalSnapshot(before),
        after: proposalSnapshot(view),
        at: now,
      });
      this.deps.log.info({ kind, target: publicId, proposalId, action: row.action, status, decidedBy: decider.appId }, 'proposal decided');
      return { proposal: view, replayed: false };
    });
  }
}
