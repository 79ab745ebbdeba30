import type { Knex } from 'knex';
import type { Db } from '../db/database';
import * as repo from '../db/repositories/discrepancies';
import { findJournalEntry, insertJournalEntry } from '../db/repositories/ledger';
import * as proposalsRepo from '../db/repositories/proposals';
import { lockRefundInstructionsOfPayment } from '../db/repositories/refunds';
import type { Page, PageRequest } from '../db/pagination';
import { lockAgencyDateInTransaction } from '../db/repositories/agencyDateLocks';
import { findInstructionByNo } from '../db/repositories/instructions';
import { settlementsHoldingPayment } from '../db/repositories/refunds';
import { formatInstant, shanghaiDate } from '../domain/businessDate';
import { statusesFrom } from '../domain/instructions';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import { accountPrefix, mismatchDifferenceEntry, reversalEntry, spreadInProportion, writeOffEntry } from '../domain/ledger';
import { Decimal, formatMoney, ZERO } from '../domain/money';
import {
  actionNotApplicable,
  DISCREPANCY_ACTIONS,
  DISCREPANCY_RESOLUTION,
  discrepancyActionRefusal,
  type DiscrepancyAction,
  type DiscrepancyStatus,
  type DiscrepancyType,
  type ProposalAction,
} from '../domain/proposals';
import { correctionTransition, NOTICE_MACHINE, PAYMENT_MACHINE, type NoticeStatus, type PaymentStatus } from '../domain/stateMachines';
import type { Logger } from '../logger';
import { financeRecipients, recordEvent } from './events';
import { paymentWire, toPaymentRecord } from './paymentViews';
import { proposalView, type ApprovedAction, type ProposalTargetHandler, type ProposalView } from './proposals';
import { confirmAgencyRefundByStatementLine, failAgencyRefundByStatement, lockInstructionAfterItsPayment } from './instructions';
import { recordReversal } from './receipts';
import { cancelRefundsOfPayment } from './refunds';

/**
 * Discrepancies as finance sees and resolves them (docs/reconciliation.md §3,
 * contracts/decisions/0117-discrepancy-actions.md): the list, one discrepancy, and the handler that
 * plugs discrepancies into the maker-checker engine (src/services/proposals.ts) — which actions
 * apply (src/domain/proposals.ts `DISCREPANCY_ACTIONS`) and what an approved one does:
 *
 * | type | action | what it writes |
 * |---|---|---|
 * | SHORTAGE | REVERSE_PAYMENT | payment REVERSED; its notice PAID → ISSUED and its receipt reversed (applied), or its refund obligation CANCELLED (unapplied); the REVERSAL of its posting entry; `payment.reversed` to unit and agency |
 * | SHORTAGE | ACCEPT_PLATFORM | nothing but the resolution: the payment is released to settlement |
 * | SHORTAGE | WRITE_OFF | WRITE_OFF of the payment's amount: its pending revenue (or unapplied suspense) / the agency's clearing; refused, 422 ACTION_NOT_APPLICABLE naming ACCEPT_PLATFORM, at proposal and at approval, for an applied payment in a settlement instruction (a FAILED one waits for its reissue) or with a standing refund (decision 0219) |
 * | *_MISMATCH | ACCEPT_PLATFORM | the resolution only: the platform's figure stands |
 * | *_MISMATCH | ACCEPT_STATEMENT | MISMATCH_SURPLUS or MISMATCH_DEFICIT of the difference (none when the amounts agree) |
 * | *_MISMATCH | WRITE_OFF | WRITE_OFF of the amount the statement lacks (none when it does not lack any); refused as a shortage's when it would book from pending revenue that left (decision 0219) |
 * | REFUND_MISMATCH (a line naming the agency's refund instruction with its amount, not yet confirmed) | ACCEPT_STATEMENT | the instruction CONFIRMED and the refund SUCCEEDED as a matching line does: AGENCY_REFUND_CONFIRMED (decisions 0154, 0171) |
 * | REFUND_MISMATCH (an instruction the agency reported executed, in no statement) | ACCEPT_STATEMENT | the instruction FAILED (`failByStatement`) and the refund FAILED, for REISSUE; no entry (decision 0171) |
 * | REFUND_MISMATCH (a line of another amount than its instruction's, naming no agency refund instruction, or one FAILED, MISMATCHED or CANCELLED) | ACCEPT_STATEMENT | refused, 422 ACTION_NOT_APPLICABLE naming WRITE_OFF, at proposal and at approval (decision 0171) |
 * | REFUND_MISMATCH | WRITE_OFF | the resolution only: closed with a reason |
 *
 * Every resolution also sends `discrepancy.resolved` to the agency and every finance party.
 */

/** `Discrepancy` (contracts/openapi/35-reconciliation-shapes.yaml), in its wire shape. */
export interface DiscrepancyView {
  discrepancyId: string;
  agencyCode: string;
  businessDate: string;
  type: DiscrepancyType;
  status: DiscrepancyStatus;
  agencyTxnId: string;
  paymentId: string | null;
  instructionNo: string | null;
  platform: { payCode: string | null; amount: string } | null;
  statement: { statementId?: string; lineNo: number; payCode: string | null; amount: string } | null;
  proposal: ProposalView | null;
  resolution: { action: string; proposedBy: string | null; approvedBy: string | null; at: string } | null;
}

export function discrepancyView(row: repo.DiscrepancyRow, proposal: proposalsRepo.ProposalRow | undefined): DiscrepancyView {
  const view = proposal === undefined ? null : proposalView(proposal);
  const approved = proposal !== undefined && proposal.status === 'APPROVED' ? proposal : undefined;
  return {
    discrepancyId: row.discrepancy_id,
    agencyCode: row.agency_code,
    businessDate: row.business_date,
    type: row.type as DiscrepancyType,
    status: row.status as DiscrepancyStatus,
    agencyTxnId: row.agency_txn_id,
    paymentId: row.payment_id,
    instructionNo: row.instruction_no,
    platform: row.platform_amount === null ? null : { payCode: row.platform_pay_code, amount: formatMoney(new Decimal(row.platform_amount)) },
    statement:
      row.statement_line_no === null || row.statement_amount === null
        ? null
        : { ...(row.statement_id !== null ? { statementId: row.statement_id } : {}), lineNo: row.statement_line_no, payCode: row.statement_pay_code, amount: formatMoney(new Decimal(row.statement_amount)) },
    proposal: view,
    resolution:
      row.resolution_action !== null && row.resolved_at !== null
        ? { action: row.resolution_action, proposedBy: approved?.proposed_by_app_id ?? null, approvedBy: approved?.decided_by_app_id ?? null, at: formatInstant(row.resolved_at) }
        : row.status === 'AUTO_RESOLVED' && row.resolved_at !== null
          ? { action: 'BACKFILL', proposedBy: null, approvedBy: null, at: formatInstant(row.resolved_at) }
          : null,
  };
}

/**
 * Where the payment's money went if a settlement instruction took it, in words, or null: then a
 * shortage can only be resolved by ACCEPT_PLATFORM (docs/reconciliation.md §2–§3). Reversing it
 * would take back money the receiving account holds or is being paid, and writing it off would
 * take pending revenue the settlement moved out. A FAILED instruction counts: its items wait for
 * its REISSUE, which settles them whatever happened to the payment meanwhile
 * (contracts/decisions/0219-write-off-of-settled-payments.md).
 */
async function settlementHolding(trx: Knex.Transaction, payment: { id: string; payment_id: string }): Promise<string | null> {
  // The newest of the settlements holding it: live, or FAILED and waiting for its reissue.
  const settlement = (await settlementsHoldingPayment(trx, payment.id)).sort((a, b) => Number(b.id) - Number(a.id))[0];
  if (settlement === undefined) return null;
  const where = settlement.status === 'FAILED' ? "whose REISSUE settles it" : 'which settles it out to its receiving accounts';
  return `its payment ${payment.payment_id} is in settlement instruction ${settlement.instruction_no} (${settlement.status}), ${where}`;
}

type ReportedRefund = { kind: 'confirm' | 'fail'; instructionRowId: string } | { kind: 'stands' } | { kind: 'refused'; why: string };

/**
 * What ACCEPT_STATEMENT of a REFUND_MISMATCH does — "the refund as the agency reports it stands"
 * (docs/reconciliation.md §3, contracts/decisions/0171-refund-mismatch-accepted.md) — read under
 * the instruction's lock:
 * - a REFUND line naming an agency refund instruction of the agency with the line's amount, in a
 *   status a confirmation moves (CREATED, EXECUTED, UNCONFIRMED): confirm it, as a matching line
 *   does; already CONFIRMED: it stands, nothing more;
 * - a REFUND line of another amount than its instruction's: refused — the agency paid an amount
 *   finance never approved, and booking it would refund what no one decided; WRITE_OFF;
 * - a REFUND line naming no agency refund instruction of the agency, or one FAILED, MISMATCHED or
 *   CANCELLED: refused, nothing of the platform's can be confirmed; WRITE_OFF;
 * - an instruction the agency reported executed that no statement contained, still EXECUTED or
 *   UNCONFIRMED: the statement says the agency did not refund — fail it; in another status
 *   (a posting or REVERSE_PAYMENT moved it since): refused.
 */
async function reportedRefund(trx: Knex.Transaction, target: repo.DiscrepancyRow): Promise<ReportedRefund> {
  const instructionNo = target.instruction_no;
  const found = instructionNo === null ? undefined : await lockInstructionAfterItsPayment(trx, (options) => findInstructionByNo(trx, instructionNo, options));
  const instruction = found !== undefined && found.type === 'REFUND' && found.refund_id !== null && found.executor_party_id === target.agency_party_id && found.agency_party_id === target.agency_party_id ? found : undefined;
  if (target.statement_line_no !== null) {
    if (instruction === undefined) {
      return { kind: 'refused', why: `its REFUND line names no refund instruction the agency executes (${target.instruction_no ?? 'none'}): nothing of the platform's can be confirmed; WRITE_OFF closes it with a reason` };
    }
    assert(target.statement_amount !== null, `refund line discrepancy ${target.discrepancy_id} has the line's amount`);
    const lineAmount = new Decimal(target.statement_amount);
    const approvedAmount = new Decimal(instruction.amount);
    if (!lineAmount.eq(approvedAmount)) {
      return { kind: 'refused', why: `its REFUND line's amount ${formatMoney(lineAmount)} is not ${formatMoney(approvedAmount)}, the amount finance approved for instruction ${instruction.instruction_no}: a refund of another amount is not booked; WRITE_OFF closes it with a reason` };
    }
    if ((statusesFrom('confirmByPosting') as string[]).includes(instruction.status)) return { kind: 'confirm', instructionRowId: instruction.id };
    if (instruction.status === 'CONFIRMED') return { kind: 'stands' };
    return { kind: 'refused', why: `instruction ${instruction.instruction_no} is ${instruction.status} and cannot be confirmed by its REFUND line; WRITE_OFF closes it with a reason` };
  }
  assert(instruction !== undefined, `unreported refund discrepancy ${target.discrepancy_id} names an agency refund instruction`);
  if ((statusesFrom('failByStatement') as string[]).includes(instruction.status)) return { kind: 'fail', instructionRowId: instruction.id };
  return { kind: 'refused', why: `instruction ${instruction.instruction_no} is ${instruction.status} now: only an EXECUTED or UNCONFIRMED one is failed by the statement; WRITE_OFF closes it with a reason` };
}

/**
 * ACCEPT_STATEMENT of a REFUND_MISMATCH, in the approval's transaction (checkApplicable refused the
 * cases reportedRefund refuses, at proposal and again at approval): the refund confirmed
 * (confirmAgencyRefundByStatementLine: CONFIRMED, AGENCY_REFUND_CONFIRMED, refund SUCCEEDED) or
 * failed (failAgencyRefundByStatement: FAILED, refund FAILED, no entry).
 */
export async function confirmReportedRefund(trx: Knex.Transaction, discrepancy: repo.DiscrepancyRow, at: Date): Promise<void> {
  const outcome = await reportedRefund(trx, discrepancy);
  if (outcome.kind === 'refused') throw refusal(discrepancy, 'ACCEPT_STATEMENT', outcome.why);
  if (outcome.kind === 'confirm') await confirmAgencyRefundByStatementLine(trx, { instructionRowId: outcome.instructionRowId, at });
  if (outcome.kind === 'fail') await failAgencyRefundByStatement(trx, { instructionRowId: outcome.instructionRowId, at });
}

export interface DiscrepancyServiceDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
}

export class DiscrepancyService {
  constructor(private readonly deps: DiscrepancyServiceDependencies) {}

  async list(filter: repo.DiscrepancyFilter, page: PageRequest): Promise<Page<DiscrepancyView>> {
    const rows = await repo.listDiscrepancies(this.deps.db, filter, page);
    const proposals = await proposalsRepo.latestOfTargets(this.deps.db, 'DISCREPANCY', rows.rows.map((row) => row.id));
    return { rows: rows.rows.map((row) => discrepancyView(row, proposals.get(row.id))), nextCursor: rows.nextCursor };
  }

  async get(discrepancyId: string): Promise<DiscrepancyView> {
    const row = await repo.findDiscrepancy(this.deps.db, discrepancyId);
    if (row === undefined) throw new TongfuError('NOT_FOUND', `no discrepancy ${discrepancyId}`, { discrepancyId });
    const proposals = await proposalsRepo.latestOfTargets(this.deps.db, 'DISCREPANCY', [row.id]);
    return discrepancyView(row, proposals.get(row.id));
  }
}

// ---- the maker-checker handler ------------------------------------------------------------------

function refusal(row: repo.DiscrepancyRow, action: string, message: string): TongfuError {
  return actionNotApplicable(`discrepancy ${row.discrepancy_id}: ${message}`, { discrepancyId: row.discrepancy_id, type: row.type, status: row.status, action });
}

/** The discrepancy handler of the maker-checker engine (registered by src/services/index.ts). */
export function discrepancyHandler(): ProposalTargetHandler<repo.DiscrepancyRow> {
  return {
    kind: 'DISCREPANCY',
    actions: [...new Set(Object.values(DISCREPANCY_ACTIONS).flat())],
    async lock(trx, publicId) {
      // The (agency, date) lock first, as the run takes it before it touches the date's
      // discrepancies: a resolution and a rerun of the same date never interleave.
      const unlocked = await repo.findDiscrepancy(trx, publicId);
      if (unlocked === undefined) return undefined;
      await lockAgencyDateInTransaction(trx, unlocked.agency_code, unlocked.business_date);
      return repo.findDiscrepancy(trx, publicId, { lock: true });
    },
    rowId: (target) => target.id,
    fields: () => ({}),
    async checkApplicable(trx, target, action) {
      const why = discrepancyActionRefusal(target.type as DiscrepancyType, target.status as DiscrepancyStatus, action);
      if (why !== null) throw refusal(target, action, why);
      if (action === 'ACCEPT_STATEMENT' && target.type === 'REFUND_MISMATCH') {
        const outcome = await reportedRefund(trx, target);
        if (outcome.kind === 'refused') throw refusal(target, action, outcome.why);
      }
      if (action === 'WRITE_OFF') {
        const why = await writeOffRefusal(trx, target);
        if (why !== null) throw refusal(target, action, why);
      }
      if (action === 'REVERSE_PAYMENT') {
        assert(target.payment_row_id !== null, `shortage ${target.discrepancy_id} names its payment`);
        const payment = await repo.lockPayment(trx, target.payment_row_id);
        assert(payment !== undefined, `payment ${target.payment_row_id} exists`);
        if (!PAYMENT_MACHINE.rows.some((row) => row.from === payment.status && row.event === 'reversePayment')) {
          throw refusal(target, action, `its payment ${payment.payment_id} is ${payment.status} and cannot be reversed`);
        }
        if (payment.refund_row_id !== null && !['APPROVED', 'REQUESTED', 'INSTRUCTED'].includes(String(payment.refund_status))) {
          throw refusal(target, action, `the refund of its payment ${payment.payment_id} is ${String(payment.refund_status)}`);
        }
        const settled = await settlementHolding(trx, payment);
        if (settled !== null) throw refusal(target, action, `${settled}: ACCEPT_PLATFORM`);
        // A refund instruction someone reported executed may have paid the money out: cancelling it
        // would lose that money's trace (contracts/decisions/0203-no-reversal-past-a-paid-refund.md).
        const paidOut = (await lockRefundInstructionsOfPayment(trx, payment.id)).find((row) => !['CREATED', 'CANCELLED', 'FAILED'].includes(row.status));
        if (paidOut !== undefined) {
          throw refusal(target, action, `refund ${paidOut.refund_id} of its payment ${payment.payment_id} has instruction ${paidOut.instruction_no} ${paidOut.status}: its money may have been paid out; wait for its confirmation or failure, or ACCEPT_PLATFORM`);
        }
      }
    },
    async execute(trx, target, approved) {
      await executeDiscrepancyAction(trx, target, approved);
    },
    auditTarget: (target) => `discrepancy:${target.discrepancy_id}`,
  };
}

/**
 * A correction of a sealed business date is not refused: like every entry for a sealed date, its
 * entry is written on the first open date and names the discrepancy's date as its cause's
 * (`causeDate`), so that day's close lists it under `adjustments` (docs/settlement.md §5,
 * contracts/decisions/0157-corrections-of-sealed-dates.md).
 */
async function executeDiscrepancyAction(trx: Knex.Transaction, target: repo.DiscrepancyRow, approved: ApprovedAction): Promise<void> {
  const action = approved.action as DiscrepancyAction & ProposalAction;
  const accountingDate = shanghaiDate(approved.at);
  const type = target.type as DiscrepancyType;
  switch (action) {
    case 'REVERSE_PAYMENT':
      await reversePayment(trx, target, approved, accountingDate);
      break;
    case 'ACCEPT_PLATFORM':
      // The platform's figure stands: nothing is booked; the payment is released to settlement.
      break;
    case 'ACCEPT_STATEMENT':
      if (type === 'REFUND_MISMATCH') await confirmReportedRefund(trx, target, approved.at);
      else await bookMismatchDifference(trx, target, accountingDate, approved.at);
      break;
    case 'WRITE_OFF':
      await writeOffShortfall(trx, target, accountingDate, approved.at);
      break;
    default:
      assert(false, `discrepancy action ${String(action)} is handled`);
  }
  await repo.markResolved(trx, target.id, { ...DISCREPANCY_RESOLUTION, action, at: approved.at });
  await recordEvent(trx, {
    type: 'discrepancy.resolved',
    recipients: [{ partyId: target.agency_party_id }, ...(await financeRecipients(trx))],
    data: {
      discrepancyId: target.discrepancy_id,
      agencyCode: target.agency_code,
      businessDate: target.business_date,
      type,
      agencyTxnId: target.agency_txn_id,
      paymentId: target.payment_id,
      resolution: { action, proposedBy: approved.proposer.appId, approvedBy: approved.approver.appId, at: formatInstant(approved.at) },
    },
    occurredAt: approved.at,
  });
}

/** SHORTAGE → REVERSE_PAYMENT: the payment never happened (docs/lifecycle.md §1's correction rows). */
async function reversePayment(trx: Knex.Transaction, target: repo.DiscrepancyRow, approved: ApprovedAction, accountingDate: string): Promise<void> {
  assert(target.payment_row_id !== null, `shortage ${target.discrepancy_id} names its payment`);
  const payment = await repo.lockPayment(trx, target.payment_row_id);
  assert(payment !== undefined, `payment ${target.payment_row_id} exists`);
  const authority = { by: approved.approver.appId, reason: approved.proposal.reason };
  const paymentTo = correctionTransition(PAYMENT_MACHINE, payment.status as PaymentStatus, 'reversePayment', authority);
  await repo.setPaymentStatus(trx, payment.id, { from: payment.status, to: paymentTo, at: approved.at });

  let noticeStatus: NoticeStatus | null = null;
  if (payment.unapplied_reason === null) {
    assert(payment.notice_id !== null && payment.notice_status !== null, `applied payment ${payment.payment_id} has its notice`);
    noticeStatus = correctionTransition(NOTICE_MACHINE, payment.notice_status as NoticeStatus, 'reversePayment', authority);
    await repo.reopenNotice(trx, payment.notice_id, { from: payment.notice_status, to: noticeStatus, at: approved.at });
    assert(payment.receipt_no !== null, `applied payment ${payment.payment_id} has its receipt`);
    await recordReversal(trx, payment.receipt_no, { refundId: null, amount: new Decimal(payment.amount), reason: approved.proposal.reason, at: approved.at });
  }
  // Its refunds (the obligation of unapplied money, or a unit's) are cancelled with their instructions (docs/settlement.md §3).
  await cancelRefundsOfPayment(trx, { paymentRowId: payment.id, at: approved.at });

  const originalId = await repo.postingEntryId(trx, payment.id);
  assert(originalId !== undefined, `payment ${payment.payment_id} has its posting entry`);
  const original = await findJournalEntry(trx, originalId);
  assert(original !== undefined, `entry ${originalId} is stored`);
  await insertJournalEntry(trx, { ...reversalEntry({ original, accountingDate, cause: { discrepancyId: target.id } }), causeDate: target.business_date }, approved.at);

  const wire = paymentWire(toPaymentRecord({ ...payment, status: paymentTo, refund_id: payment.refund_id }));
  const recipients = [{ partyId: payment.agency_party_id }, ...(payment.notice_unit_party_id !== null && payment.unapplied_reason === null ? [{ partyId: payment.notice_unit_party_id }] : [])];
  await recordEvent(trx, {
    type: 'payment.reversed',
    recipients,
    data: {
      payment: wire,
      notice: noticeStatus === null || payment.notice_biz_ref === null ? null : { payCode: payment.pay_code, bizRef: payment.notice_biz_ref, status: noticeStatus },
      discrepancyId: target.discrepancy_id,
      reason: approved.proposal.reason,
    },
    occurredAt: approved.at,
  });
}

/** ACCEPT_STATEMENT of an amount or pay-code mismatch: the statement's amount stands, the difference is booked. */
async function bookMismatchDifference(trx: Knex.Transaction, target: repo.DiscrepancyRow, accountingDate: string, at: Date): Promise<void> {
  assert(target.platform_amount !== null && target.statement_amount !== null, `mismatch ${target.discrepancy_id} has both amounts`);
  const platformAmount = new Decimal(target.platform_amount);
  const statementAmount = new Decimal(target.statement_amount);
  if (platformAmount.eq(statementAmount)) return; // a pay-code mismatch of the same amount moves no money
  await insertJournalEntry(trx, { ...mismatchDifferenceEntry({ discrepancyId: target.id, agencyCode: target.agency_code, platformAmount, statementAmount, accountingDate }), causeDate: target.business_date }, at);
}

/**
 * What WRITE_OFF writes off: a short payment's amount, or what a statement lacks of the platform's
 * figure; zero for a REFUND_MISMATCH (closed with a reason: no payment's money is short) and for a
 * statement that lacks nothing.
 */
function writeOffShortfallOf(target: repo.DiscrepancyRow): Decimal {
  const type = target.type as DiscrepancyType;
  if (type === 'REFUND_MISMATCH') return ZERO;
  assert(target.platform_amount !== null && target.payment_row_id !== null, `discrepancy ${target.discrepancy_id} has the platform's payment`);
  const platformAmount = new Decimal(target.platform_amount);
  const shortfall = type === 'SHORTAGE' ? platformAmount : platformAmount.minus(new Decimal(target.statement_amount ?? platformAmount));
  return shortfall.gt(ZERO) ? shortfall : ZERO;
}

/**
 * Why WRITE_OFF cannot book the discrepancy's shortfall, or null when it can
 * (contracts/decisions/0219-write-off-of-settled-payments.md). A write-off gives up the platform's
 * claim on the agency by taking the shortfall from the revenue the payment's posting left pending
 * for its receiving accounts. Once that revenue has left — the payment is in a settlement
 * instruction (created, executed or confirmed: settled out, or on its way; FAILED: promised to
 * its reissue, which alone settles it again), or a refund of it
 * stands (requested, approved, instructed or paid back) — there is none of the payment's left to
 * take: the write-off would drive `revenue_pending` below zero for money the receiving account
 * or the payer already has. Refused, naming why and ACCEPT_PLATFORM (the agency's debt stands;
 * for a mismatch ACCEPT_STATEMENT too, whose deficit is charged to the agency's unapplied
 * suspense, not to pending revenue; a REQUESTED refund can also be rejected first). Read under the
 * payment's lock (the notice's first, as REVERSE_PAYMENT's check and every refund move take them),
 * at proposal and again at approval. A write-off of unapplied money (its suspense, decision 0117:
 * its refund obligation stands by design) and one that books nothing are not refused.
 */
async function writeOffRefusal(trx: Knex.Transaction, target: repo.DiscrepancyRow): Promise<string | null> {
  if (writeOffShortfallOf(target).isZero()) return null;
  assert(target.payment_row_id !== null, `discrepancy ${target.discrepancy_id} names its payment`);
  const payment = await repo.lockPayment(trx, target.payment_row_id);
  assert(payment !== undefined, `payment ${target.payment_row_id} exists`);
  if (payment.unapplied_reason !== null) return null;
  const instead = target.type === 'SHORTAGE' ? "ACCEPT_PLATFORM: the agency's debt stands" : "ACCEPT_PLATFORM (the agency's debt stands) or ACCEPT_STATEMENT (a MISMATCH_DEFICIT)";
  const settled = await settlementHolding(trx, payment);
  if (settled !== null) return `${settled}: a write-off has none of its pending revenue to take; ${instead}`;
  const refund = (await repo.standingRefundsOfPayment(trx, payment.id))[0];
  if (refund !== undefined) {
    const reject = refund.status === 'REQUESTED' ? 'reject the refund first, or ' : '';
    return `refund ${refund.refund_id} of its payment ${payment.payment_id} is ${refund.status}: a refund pays back the pending revenue a write-off would take; ${reject}${instead}`;
  }
  return null;
}

/**
 * WRITE_OFF: the shortfall — a short payment's amount, or what a statement lacks of the platform's
 * figure — charged to the agency, taken from the pending revenue the payment's posting credited
 * (all of it still pending: checkApplicable refused the write-off otherwise, decision 0219).
 */
async function writeOffShortfall(trx: Knex.Transaction, target: repo.DiscrepancyRow, accountingDate: string, at: Date): Promise<void> {
  const shortfall = writeOffShortfallOf(target);
  if (shortfall.isZero()) return; // a REFUND_MISMATCH, or a statement that lacks nothing
  assert(target.payment_row_id !== null, `discrepancy ${target.discrepancy_id} has the platform's payment`);
  const pending = await repo.pendingRevenueOfPayment(trx, target.payment_row_id);
  if (pending.length === 0) {
    await insertJournalEntry(trx, { ...writeOffEntry({ discrepancyId: target.id, agencyCode: target.agency_code, shortfall: [], unapplied: shortfall, accountingDate }), causeDate: target.business_date }, at);
    return;
  }
  const prefix = accountPrefix('revenuePending');
  // Spread over the pending revenue the payment credited, in proportion (ROUND_HALF_UP, the last takes the remainder).
  const parts = spreadInProportion(shortfall, pending.map((line) => new Decimal(line.amount)));
  const lines = pending
    .map((line, index) => ({ receivingAccountNo: line.account.slice(prefix.length), amount: parts[index] as Decimal }))
    .filter((line) => line.amount.gt(0));
  await insertJournalEntry(trx, { ...writeOffEntry({ discrepancyId: target.id, agencyCode: target.agency_code, shortfall: lines, accountingDate }), causeDate: target.business_date }, at);
}
