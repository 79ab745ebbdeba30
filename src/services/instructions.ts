import type { Knex } from 'knex';
import type { FieldCipher } from '../crypto/fieldCipher';
import type { Db } from '../db/database';
import { agencyDateLockKey, lockAgencyDateInTransaction } from '../db/repositories/agencyDateLocks';
import * as repo from '../db/repositories/instructions';
import * as refundsRepo from '../db/repositories/refunds';
import { insertJournalEntry } from '../db/repositories/ledger';
import type { Page, PageRequest } from '../db/pagination';
import { formatInstant, parseInstant, shanghaiDate } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError, validationFailed } from '../domain/errors';
import { executedAtProblem, executedBeforeCreationProblem, instructionDeadline, instructionNo, instructionTransition, type InstructionStatus, nextInstructionStatus, statusesFrom } from '../domain/instructions';
import { type RecognitionItem, settlementConfirmedEntry, settlementExecutedEntry } from '../domain/ledger';
import { Decimal, formatMoney } from '../domain/money';
import { maskAccountNo, maskName } from '../domain/payer';
import type { Logger } from '../logger';
import { type EventRecipient, financeRecipients, type NewEvent, recordEvents } from './events';
import { instructRefundsWaitingOn, refundFailed, refundReissued, refundSucceeded } from './refunds';
import { storeSettledRevenueShares } from './revenueShares';

/**
 * Instructions (指令, docs/settlement.md §1): the settle job's instructions, the executor's result
 * reports, the views of agencies, banks and finance, the deadline check, reissue, and the
 * confirmation a bank posting brings (confirmInstructionByPosting, called by the bank postings'
 * transaction). Every status move goes through the one table in src/domain/instructions.ts.
 */

export interface InstructionWire {
  instructionNo: string;
  type: string;
  status: string;
  businessDate: string;
  amount: string;
  executorCode: string;
  debitAccount: { accountNo: string; name: string; bankCode: string };
  creditAccount?: { accountNo: string; name: string; bankCode: string };
  payee?: { name: string; accountNo: string; bankName: string };
  lines?: Array<{ itemCode: string; incomeSortCode: string; budgetLevel: number; amount: string; paymentCount: number }>;
  refundId?: string;
  /** A return's unidentified credit, which the bank pays back (decision 0224). */
  returnsPosting?: { postingId: string; bankRef: string };
  reissueOf: string | null;
  reference: string | null;
  failureReason: string | null;
  createdAt: string;
  executedAt: string | null;
  confirmedAt: string | null;
  deadline: string;
}

/** The wire shapes of rows, in their order. */
/**
 * How an instruction's payee is shown: `clear` to whoever pays it (the executor) and to finance,
 * `masked` to a bank that only holds an account the instruction moves money on (docs/settlement.md §3).
 */
export type PayeeShown = 'clear' | 'masked';

export async function instructionWires(
  db: Knex | Knex.Transaction,
  rows: readonly repo.InstructionRow[],
  fieldCipher: FieldCipher | undefined,
  payeeShown: (row: repo.InstructionRow) => PayeeShown = () => 'clear',
): Promise<InstructionWire[]> {
  const details = await repo.instructionDetails(db, rows.map((row) => row.id));
  return rows.map((row) => {
    const detail = details.get(row.id);
    assert(detail !== undefined, `instruction ${row.id} has its details`);
    const wire: InstructionWire = {
      instructionNo: row.instruction_no,
      type: row.type,
      status: row.status,
      businessDate: row.business_date,
      amount: formatMoney(new Decimal(row.amount)),
      executorCode: detail.executor_code,
      debitAccount: detail.debit_account,
      reissueOf: detail.reissue_of_no,
      reference: row.executed_reference,
      failureReason: row.failure_reason,
      createdAt: formatInstant(row.created_at),
      executedAt: row.executed_at === null ? null : formatInstant(row.executed_at),
      confirmedAt: row.confirmed_at === null ? null : formatInstant(row.confirmed_at),
      deadline: formatInstant(row.deadline),
    };
    if (detail.credit_account !== null) wire.creditAccount = detail.credit_account;
    // A payee is shown decrypted where the caller has the cipher; an event written without it (a
    // refund confirmed by a bank posting) leaves the person's data out: GET shows it to the executor.
    if (row.payee_account_no !== null && row.payee_name !== null && row.payee_bank_name !== null && fieldCipher !== undefined) {
      const name = fieldCipher.decrypt(row.payee_name);
      const accountNo = fieldCipher.decrypt(row.payee_account_no);
      wire.payee = payeeShown(row) === 'clear' ? { name, accountNo, bankName: row.payee_bank_name } : { name: maskName(name), accountNo: maskAccountNo(accountNo), bankName: row.payee_bank_name };
    }
    if (row.type === 'SETTLEMENT') wire.lines = detail.lines.map((line) => ({ ...line, amount: formatMoney(new Decimal(line.amount)) }));
    if (detail.refund_public_id !== null) wire.refundId = detail.refund_public_id;
    if (detail.returns_posting_public_id !== null && detail.returns_bank_ref !== null) wire.returnsPosting = { postingId: detail.returns_posting_public_id, bankRef: detail.returns_bank_ref };
    return wire;
  });
}

/** The executor and every finance party: who hears that an instruction was confirmed, failed, mismatched or reopened. */
async function executorAndFinance(trx: Knex.Transaction, row: repo.InstructionRow): Promise<EventRecipient[]> {
  return [{ partyId: row.executor_party_id }, ...(await financeRecipients(trx))];
}

// ---- the bank postings' interface (docs/settlement.md §2) ---------------------------------------

/**
 * The live instruction a bank posting names, or undefined: `instructionNo` in a status a posting
 * can still move (CREATED, EXECUTED, UNCONFIRMED — a FAILED, CONFIRMED or MISMATCHED one matches
 * nothing), whose account in the posting's direction is `accountNo` (a CREDIT to the account it
 * credits, a DEBIT from the account it debits). The row is locked FOR UPDATE in `trx`.
 */
export async function findLiveInstructionForPosting(trx: Knex.Transaction, input: { instructionNo: string; accountNo: string; direction: 'CREDIT' | 'DEBIT' }): Promise<repo.InstructionRow | undefined> {
  const statuses = [...new Set([...statusesFrom('confirmByPosting'), ...statusesFrom('mismatchByPosting')])];
  return repo.findMatchableInstruction(trx, { ...input, statuses });
}

/**
 * A bank posting matched instruction `instructionRowId` (found by findLiveInstructionForPosting in
 * the same transaction). Equal amount: CONFIRMED — for a settlement, SETTLEMENT_EXECUTED is written
 * first if the executor never reported (docs/settlement.md §6 "or confirmed first"), then
 * SETTLEMENT_CONFIRMED with the revenue of every item share (notice_item_shares, decision 0076),
 * and the same shares stored per item (settled_revenue_shares, decision 0155);
 * `instruction.confirmed` to the executor and finance. Another amount: MISMATCHED, no entry (the
 * posting's discrepancy is the bank postings' to raise), `instruction.mismatched` to the executor
 * and finance. The journal entries are written once per instruction, so a retry writes nothing
 * twice. `amount` is the posting's, a decimal string or Decimal; `at` the business instant.
 */
export async function confirmInstructionByPosting(
  trx: Knex.Transaction,
  input: { instructionRowId: string; postingRowId: string; amount: string | Decimal; at: Date },
): Promise<'CONFIRMED' | 'MISMATCHED'> {
  assert(trx.isTransaction === true, 'a confirmation runs in the posting transaction');
  const row = await lockInstructionAfterItsPayment(trx, (options) => repo.findInstructionById(trx, String(input.instructionRowId), options));
  assert(row !== undefined, `instruction ${input.instructionRowId} exists`);
  const amount = new Decimal(input.amount);
  const accountingDate = shanghaiDate(input.at);
  if (!amount.eq(new Decimal(row.amount))) {
    const status = instructionTransition(row.status, 'mismatchByPosting');
    await repo.updateInstruction(trx, row.id, { status, updated_at: input.at });
    await emit(trx, 'instruction.mismatched', { ...row, status }, input.at, { postingAmount: formatMoney(amount) });
    return 'MISMATCHED';
  }
  const status = instructionTransition(row.status, 'confirmByPosting');
  if (row.type === 'SETTLEMENT') {
    assert(row.agency_code !== null && row.credit_account_no !== null, 'a settlement names its agency and receiving account');
    const settled = new Decimal(row.amount);
    await insertJournalEntry(trx, settlementExecutedEntry({ instructionId: row.id, agencyCode: row.agency_code, receivingAccountNo: row.credit_account_no, amount: settled, accountingDate }), input.at);
    const settledItems = await repo.settledItemsForRecognition(trx, row.id);
    const items: RecognitionItem[] = settledItems.map((item) => ({
      amount: new Decimal(item.amount),
      incomeSortCode: item.income_sort_code,
      budgetLevel: Number(item.budget_level),
      ...(item.shares === null ? {} : { shares: item.shares.map((share) => ({ budgetLevel: Number(share.budgetLevel), ratio: new Decimal(share.ratio) })) }),
    }));
    const confirmed = settlementConfirmedEntry({ instructionId: row.id, receivingAccountNo: row.credit_account_no, amount: settled, items, accountingDate });
    await insertJournalEntry(trx, confirmed.entry, input.at);
    await storeSettledRevenueShares(trx, { instructionId: row.id, businessDate: row.business_date, items: settledItems, recognition: confirmed.recognition, at: input.at });
  }
  await repo.updateInstruction(trx, row.id, { status, confirmed_at: input.at, updated_at: input.at });
  await emit(trx, 'instruction.confirmed', { ...row, status, confirmed_at: input.at }, input.at);
  // Refunds (docs/settlement.md §3): a refund instruction's refund succeeds; a settlement's
  // confirmation instructs the refunds that waited for it (contracts/decisions/0151-refund-executor.md).
  if (row.type === 'REFUND' && row.refund_id !== null) await refundSucceeded(trx, { instruction: row, at: input.at, bankPostingId: String(input.postingRowId) });
  if (row.type === 'SETTLEMENT') await instructRefundsWaitingOn(trx, { settlementId: row.id, at: input.at });
  return 'CONFIRMED';
}

/**
 * An agency refund instruction confirmed by the REFUND line of the agency's statement
 * (docs/reconciliation.md §2, docs/settlement.md §1 "or, for an agency refund, its statement
 * line"), in the reconciliation run's transaction: CONFIRMED by the same move a posting makes,
 * `instruction.confirmed` to the executor and finance, and the refund SUCCEEDED.
 */
export async function confirmAgencyRefundByStatementLine(trx: Knex.Transaction, input: { instructionRowId: string; at: Date }): Promise<void> {
  const row = await lockInstructionAfterItsPayment(trx, (options) => repo.findInstructionById(trx, input.instructionRowId, options));
  assert(row !== undefined && row.type === 'REFUND' && row.refund_id !== null && row.executor_party_id === row.agency_party_id, `instruction ${input.instructionRowId} is an agency refund`);
  const status = instructionTransition(row.status, 'confirmByPosting');
  await repo.updateInstruction(trx, row.id, { status, confirmed_at: input.at, updated_at: input.at });
  await emit(trx, 'instruction.confirmed', { ...row, status, confirmed_at: input.at }, input.at);
  await refundSucceeded(trx, { instruction: row, at: input.at });
}

/**
 * An agency refund instruction the agency reported executed that no statement of its execution
 * date or the next contains, when finance accepts the statement (ACCEPT_STATEMENT of its
 * REFUND_MISMATCH, in the approval's transaction; contracts/decisions/0171-refund-mismatch-accepted.md):
 * the agency's statement says it did not refund, so the instruction is FAILED (`failByStatement`)
 * with that reason, `instruction.failed` to the executor and finance, and the refund FAILED — no
 * journal entry (none was written when it was instructed) — so finance can REISSUE it.
 */
export async function failAgencyRefundByStatement(trx: Knex.Transaction, input: { instructionRowId: string; at: Date }): Promise<void> {
  const row = await lockInstructionAfterItsPayment(trx, (options) => repo.findInstructionById(trx, input.instructionRowId, options));
  assert(row !== undefined && row.type === 'REFUND' && row.refund_id !== null && row.executor_party_id === row.agency_party_id, `instruction ${input.instructionRowId} is an agency refund`);
  const status = instructionTransition(row.status, 'failByStatement');
  await repo.updateInstruction(trx, row.id, { status, failure_reason: 'no agency statement of its execution date or the next contains it', updated_at: input.at });
  await repo.releasePaymentItems(trx, row.id);
  await refundFailed(trx, { instruction: row, at: input.at });
  const updated = (await repo.findInstructionById(trx, row.id)) as repo.InstructionRow;
  await emit(trx, 'instruction.failed', updated, input.at);
}

/**
 * A refund's live instructions are CANCELLED with it when its payment is reversed (docs/settlement.md §3),
 * in the reversal's transaction; `instruction.cancelled` to the executor and finance, so that the
 * executor does not pay it.
 */
export async function cancelRefundInstructions(trx: Knex.Transaction, input: { refundRowId: string; at: Date }): Promise<number> {
  const rows = await refundsRepo.refundInstructionsIn(trx, input.refundRowId, statusesFrom('cancel'));
  for (const { id } of rows) {
    const row = await repo.findInstructionById(trx, id, { forUpdate: true });
    assert(row !== undefined, `instruction ${id} exists`);
    const status = instructionTransition(row.status, 'cancel');
    await repo.updateInstruction(trx, row.id, { status, updated_at: input.at });
    await emit(trx, 'instruction.cancelled', { ...row, status }, input.at);
  }
  return rows.length;
}

/**
 * DETACH of a MISMATCHED instruction (docs/settlement.md §1, contracts/decisions/0195-detach-mismatched-posting.md),
 * in the approval's transaction, after the bank postings' side detached the posting: the
 * instruction waits again for its own posting, UNCONFIRMED (`detachPosting`), and
 * `instruction.reopened` tells the executor and every finance party, with the detached posting.
 * No journal entry: a mismatch wrote none, and what the executor's report wrote
 * (SETTLEMENT_EXECUTED) still stands — the money it sent is still on its way until a posting of
 * the instruction's amount confirms it. `at` is the business instant.
 */
export async function reopenMismatchedInstruction(trx: Knex.Transaction, input: { instructionRowId: string; postingId: string; postingAmount: string; at: Date }): Promise<void> {
  const row = await repo.findInstructionById(trx, input.instructionRowId, { forUpdate: true });
  assert(row !== undefined, `instruction ${input.instructionRowId} exists`);
  const status = instructionTransition(row.status, 'detachPosting');
  await repo.updateInstruction(trx, row.id, { status, updated_at: input.at });
  await emit(trx, 'instruction.reopened', { ...row, status }, input.at, { postingAmount: formatMoney(new Decimal(input.postingAmount)), detachedPostingId: input.postingId });
}

/** `instruction.created` to the executor of a new instruction (a refund's, src/services/refunds.ts), in the creating transaction. */
export async function recordInstructionCreated(trx: Knex.Transaction, row: repo.InstructionRow, at: Date): Promise<void> {
  await emit(trx, 'instruction.created', row, at);
}

async function emit(
  trx: Knex.Transaction,
  type: 'instruction.created' | 'instruction.confirmed' | 'instruction.failed' | 'instruction.mismatched' | 'instruction.cancelled' | 'instruction.reopened',
  row: repo.InstructionRow,
  at: Date,
  extra: Record<string, unknown> = {},
): Promise<void> {
  // Never a payee: the event store keeps no personal data. A refund's or return's executor reads
  // the payee with GET …/instructions/{instructionNo} (contracts/decisions/0204-instruction-events-carry-no-payee.md).
  const [wire] = await instructionWires(trx, [row], undefined);
  const recipients = type === 'instruction.created' ? [{ partyId: row.executor_party_id }] : await executorAndFinance(trx, row);
  await recordEvents(trx, [{ type, recipients, data: { instruction: wire, ...extra }, occurredAt: at }]);
}

// ---- reissue (docs/settlement.md §1, the REISSUE action) ---------------------------------------

/**
 * REISSUE of a FAILED instruction: a new instruction (a new number, created now, its own deadline)
 * with `reissueOf` the failed one, taking over its payment items (or refund) and lines, and
 * `instruction.created` to the executor. The maker-checker proposal's approval calls it in its
 * transaction; `actor` is the approving finance party's appId, for the log. A FAILED instruction
 * is reissued once (`reissue_of` is unique): a second reissue is ACTION_NOT_APPLICABLE, as is one
 * of an instruction that is not FAILED. The event carries no payee: the executor reads it with GET
 * (decision 0204). Answers the new instruction's number.
 *
 * The payee (contracts/decisions/0200-reissue-to-a-new-payee.md): `payee` (name and account number
 * encrypted) when finance gave a new one — a refund's or a return's only; the refund's payee
 * becomes it —, else a refund's own payee (which an earlier reissue may have changed since this
 * instruction was issued), else, for a return, the failed instruction's. The failed instruction
 * keeps the payee it was issued with.
 */
export async function reissueInstruction(
  trx: Knex.Transaction,
  input: { instructionRowId: string; actor: string; now: Date; payee?: { name: string; accountNo: string; bankName: string } },
): Promise<{ instructionNo: string; instructionRowId: string }> {
  const failed = await lockInstructionAfterItsPayment(trx, (options) => repo.findInstructionById(trx, String(input.instructionRowId), options));
  if (failed === undefined) throw new TongfuError('NOT_FOUND', `no instruction ${input.instructionRowId}`, {});
  if (failed.status !== 'FAILED') throw new TongfuError('ACTION_NOT_APPLICABLE', `instruction ${failed.instruction_no} is ${failed.status}: only a FAILED instruction is reissued`, { instructionNo: failed.instruction_no, status: failed.status });
  const existing = await repo.reissueOf(trx, failed.id);
  if (existing !== undefined) throw new TongfuError('ACTION_NOT_APPLICABLE', `instruction ${failed.instruction_no} was reissued already`, { instructionNo: failed.instruction_no, reissuedAs: existing });
  const settledSince = await agencyRefundSettledSince(trx, failed);
  if (settledSince !== null) throw new TongfuError('ACTION_NOT_APPLICABLE', settledSince, { instructionNo: failed.instruction_no, status: failed.status });
  if (input.payee !== undefined && failed.type !== 'REFUND') throw validationFailed([{ path: '/payee', problem: `is not a field of REISSUE of a ${failed.type} instruction: it pays a receiving account, not a payee` }]);
  const number = instructionNo(failed.type, input.now, await repo.nextInstructionSerial(trx));
  // A refund's reissue checks REFUND_EXCEEDS_PAID again and moves the refund back to INSTRUCTED (docs/settlement.md §3).
  let payee = input.payee;
  if (failed.refund_id !== null) payee = await refundReissued(trx, { refundRowId: failed.refund_id, at: input.now, ...(input.payee === undefined ? {} : { payee: input.payee }) });
  const id = await repo.insertReissue(trx, { failedId: failed.id, instructionNo: number, deadline: instructionDeadline(input.now), now: input.now, ...(payee === undefined ? {} : { payee }) });
  const created = await repo.findInstructionById(trx, id);
  assert(created !== undefined, 'the reissue was written');
  await emit(trx, 'instruction.created', created, input.now);
  return { instructionNo: number, instructionRowId: id };
}

/** Why REISSUE does not apply to the instruction as it is now, or null when it does (a FAILED instruction not yet reissued). */
export async function reissueRefusal(trx: Knex.Transaction, row: repo.InstructionRow): Promise<string | null> {
  if (row.status !== 'FAILED') return `instruction ${row.instruction_no} is ${row.status}: only a FAILED instruction is reissued`;
  const existing = await repo.reissueOf(trx, row.id);
  if (existing !== undefined) return `instruction ${row.instruction_no} was reissued already as ${existing}`;
  return agencyRefundSettledSince(trx, row);
}

/**
 * Why a FAILED agency refund instruction cannot be reissued as it was, or null: the agency paid
 * refunds out of its clearing account while the payment's money was there, and since the failure
 * a settlement took that money to the receiving account (the settle job holds back only a payment
 * whose refund is INSTRUCTED). Reissued to the agency, the refund would be paid out of money the
 * settlement already took. The refund stays FAILED; a new request goes by where the money is now
 * (contracts/decisions/0231-refund-waits-for-a-failed-settlement.md).
 */
async function agencyRefundSettledSince(trx: Knex.Transaction, row: repo.InstructionRow): Promise<string | null> {
  if (row.type !== 'REFUND' || row.refund_id === null || row.agency_party_id === null || row.executor_party_id !== row.agency_party_id) return null;
  const [refund] = await refundsRepo.findRefundsByRowIds(trx, [row.refund_id]);
  assert(refund !== undefined, `refund ${row.refund_id} exists`);
  const [settlement] = await refundsRepo.settlementsHoldingPayment(trx, refund.payment_row_id);
  if (settlement === undefined) return null;
  return `refund instruction ${row.instruction_no} was the agency's, out of its clearing account, but its payment's money has since gone to settlement instruction ${settlement.instruction_no} (${settlement.status}): the agency no longer holds it. The refund stays FAILED; the unit requests a new refund, which goes to whoever holds the money now`;
}

/**
 * Locks a refund instruction's payment (its notice, then the payment) before the caller locks the
 * instruction row, and answers the instruction locked: the order the refund, reversal and
 * write-off paths take (the payment, then its refund's instructions). A report, confirmation or
 * reissue that locked the instruction first and then waited for the payment could deadlock with
 * them (contracts/decisions/0232-payment-before-its-instructions.md). Other instructions are
 * locked as they are.
 */
export async function lockInstructionAfterItsPayment(trx: Knex.Transaction, find: (options: { forUpdate: boolean }) => Promise<repo.InstructionRow | undefined>): Promise<repo.InstructionRow | undefined> {
  const unlocked = await find({ forUpdate: false });
  if (unlocked === undefined) return undefined;
  if (unlocked.type === 'REFUND' && unlocked.refund_id !== null) {
    const [refund] = await refundsRepo.findRefundsByRowIds(trx, [unlocked.refund_id]);
    assert(refund !== undefined, `refund ${unlocked.refund_id} exists`);
    await refundsRepo.lockPaymentOfRefund(trx, refund.payment_row_id);
  }
  return find({ forUpdate: true });
}

/**
 * RETURN of an unidentified credit (docs/settlement.md §2, contracts/decisions/0146-return-of-unidentified-credits.md):
 * a bank REFUND instruction — executed by the bank holding the account the credit arrived on, from
 * that account to `payee` (name and account number already encrypted with the field cipher),
 * for the credit's amount, naming the posting it returns — and `instruction.created` to that
 * bank, in the caller's transaction. Answers the new instruction's row id and number.
 */
export async function createReturnInstruction(
  trx: Knex.Transaction,
  input: { postingRowId: string; accountNo: string; amount: string; payee: { name: string; accountNo: string; bankName: string }; now: Date },
): Promise<{ instructionNo: string; instructionRowId: string }> {
  const executor = await repo.bankHoldingAccount(trx, input.accountNo);
  assert(executor !== undefined, `a bank holds account ${input.accountNo}`);
  const number = instructionNo('REFUND', input.now, await repo.nextInstructionSerial(trx));
  const id = await repo.insertRefundInstruction(trx, {
    instructionNo: number,
    executorPartyId: executor,
    debitAccountNo: input.accountNo,
    payee: input.payee,
    businessDate: shanghaiDate(input.now),
    amount: input.amount,
    cause: { returnsPostingId: input.postingRowId },
    deadline: instructionDeadline(input.now),
    now: input.now,
  });
  const created = await repo.findInstructionById(trx, id);
  assert(created !== undefined, 'the return instruction was written');
  await emit(trx, 'instruction.created', created, input.now);
  return { instructionNo: number, instructionRowId: id };
}

// ---- the service ----------------------------------------------------------------------------------

export interface InstructionCaller {
  partyId: string;
  role: 'agency' | 'bank' | 'finance';
  code: string;
}

export interface ResultReport {
  status: 'EXECUTED' | 'FAILED';
  executedAt: string;
  reference: string;
  failureReason?: string;
}

export interface SettleCounts {
  pairs: number;
  instructions: number;
  items: number;
}

export interface InstructionServiceDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  fieldCipher: FieldCipher;
}

export class InstructionService {
  constructor(private readonly deps: InstructionServiceDependencies) {}

  private viewer(caller: InstructionCaller): repo.InstructionViewer {
    if (caller.role === 'agency') return { kind: 'executor', partyId: caller.partyId };
    if (caller.role === 'bank') return { kind: 'bank', bankCode: caller.code };
    return { kind: 'finance' };
  }

  /** The payee in clear to finance and to the instruction's executor; masked to a bank that only holds one of its accounts. */
  private payeeShownTo(caller: InstructionCaller): (row: repo.InstructionRow) => PayeeShown {
    return (row) => (caller.role === 'finance' || row.executor_party_id === caller.partyId ? 'clear' : 'masked');
  }

  async get(caller: InstructionCaller, instructionNo: string): Promise<InstructionWire> {
    const row = await repo.findVisibleInstruction(this.deps.db, this.viewer(caller), instructionNo);
    if (row === undefined) throw notFound(instructionNo);
    const [wire] = await instructionWires(this.deps.db, [row], this.deps.fieldCipher, this.payeeShownTo(caller));
    return wire as InstructionWire;
  }

  async list(caller: InstructionCaller, filter: { status?: string; type?: string }, page: PageRequest): Promise<{ data: InstructionWire[]; nextCursor: string | null }> {
    const found: Page<repo.InstructionRow> = await repo.listVisibleInstructions(this.deps.db, this.viewer(caller), filter, page);
    return { data: await instructionWires(this.deps.db, found.rows, this.deps.fieldCipher, this.payeeShownTo(caller)), nextCursor: found.nextCursor };
  }

  /**
   * The executor's report (docs/settlement.md §1): only the executor (anyone else 404). The first
   * report is kept; the same report again replays (the instruction as it is now), another one is
   * IDEMPOTENCY_CONFLICT. EXECUTED writes SETTLEMENT_EXECUTED for a settlement; FAILED releases the
   * payment items for a reissue and tells the executor and finance. A report on an instruction
   * confirmed before the executor reported is recorded and moves nothing (the bank was first).
   * `executedAt` is bounded as a posting's `paidAt` and by the instruction's creation (decision 0201).
   */
  async reportResult(caller: InstructionCaller, instructionNoValue: string, report: ResultReport): Promise<{ instruction: InstructionWire; replayed: boolean }> {
    const executedAt = parseInstant(report.executedAt);
    const now = this.deps.clocks.business.now();
    const problems = [];
    if (executedAt === null) problems.push({ path: '/executedAt', problem: 'must be an ISO 8601 date-time with an offset' });
    else {
      const bounds = executedAtProblem(report.executedAt, executedAt, now);
      if (bounds !== null) problems.push({ path: '/executedAt', problem: bounds });
    }
    if (report.status === 'FAILED' && (report.failureReason === undefined || report.failureReason.length === 0)) problems.push({ path: '/failureReason', problem: 'is required when status is FAILED' });
    // A report that the money moved and why it did not is refused, not half-kept (decision 0237).
    if (report.status === 'EXECUTED' && report.failureReason !== undefined) problems.push({ path: '/failureReason', problem: 'is only for a FAILED report: an EXECUTED one carries no failure reason' });
    if (problems.length > 0) throw validationFailed(problems);
    const reportedAt = executedAt as Date;
    return this.deps.db.transaction(async (trx) => {
      // The 404 before any lock: only the executor's report locks the payment and the instruction.
      const seen = await repo.findInstructionByNo(trx, instructionNoValue);
      if (seen === undefined || seen.executor_party_id !== caller.partyId) throw notFound(instructionNoValue);
      const row = await lockInstructionAfterItsPayment(trx, (options) => repo.findInstructionByNo(trx, instructionNoValue, options));
      assert(row !== undefined, `instruction ${instructionNoValue} exists`);
      // Only the executor may learn when the instruction was created: this problem answers after the 404.
      const beforeCreation = executedBeforeCreationProblem(reportedAt, row.created_at);
      if (beforeCreation !== null) throw validationFailed([{ path: '/executedAt', problem: beforeCreation }]);
      if (row.reported_status !== null) {
        const same =
          row.reported_status === report.status &&
          row.executed_reference === report.reference &&
          (row.failure_reason ?? null) === (report.status === 'FAILED' ? report.failureReason ?? null : null) &&
          row.executed_at !== null && row.executed_at.getTime() === reportedAt.getTime();
        if (!same) throw new TongfuError('IDEMPOTENCY_CONFLICT', `instruction ${row.instruction_no} was already reported ${row.reported_status} with other content`, { instructionNo: row.instruction_no, reportedStatus: row.reported_status });
        const [wire] = await instructionWires(trx, [row], this.deps.fieldCipher);
        return { instruction: wire as InstructionWire, replayed: true };
      }
      const reported = { reported_status: report.status, reported_at: now, executed_at: reportedAt, executed_reference: report.reference, updated_at: now };
      let status: InstructionStatus = row.status;
      if (report.status === 'EXECUTED') {
        if (row.status !== 'CONFIRMED') status = executedStatus(row);
        await repo.updateInstruction(trx, row.id, { ...reported, status });
        if (row.type === 'SETTLEMENT') {
          assert(row.agency_code !== null && row.credit_account_no !== null, 'a settlement names its agency and receiving account');
          await insertJournalEntry(trx, settlementExecutedEntry({ instructionId: row.id, agencyCode: row.agency_code, receivingAccountNo: row.credit_account_no, amount: new Decimal(row.amount), accountingDate: shanghaiDate(now) }), now);
        }
      } else {
        status = failedStatus(row, await repo.hasDetachedPosting(trx, row.id));
        await repo.updateInstruction(trx, row.id, { ...reported, status, failure_reason: report.failureReason as string });
        await repo.releasePaymentItems(trx, row.id);
        if (row.type === 'REFUND') await refundFailed(trx, { instruction: row, at: now });
      }
      const updated = (await repo.findInstructionById(trx, row.id)) as repo.InstructionRow;
      if (status === 'FAILED') await emit(trx, 'instruction.failed', updated, now);
      const [wire] = await instructionWires(trx, [updated], this.deps.fieldCipher);
      return { instruction: wire as InstructionWire, replayed: false };
    });
  }

  /**
   * The `settle` job's work (docs/settlement.md §1): every (agency, date) up to `upTo` whose last
   * reconciliation run is BALANCED or UNBALANCED and that has money not yet settled gets, in one
   * transaction holding every such pair's (agency, date) lock (taken in a fixed order, so two
   * runs never deadlock), its SETTLEMENT instructions — one per receiving account — from one
   * set-based statement (src/db/repositories/instructions.ts, settlePairs), and
   * `instruction.created` to the agency. A crash rolls the run back whole; a rerun finds nothing
   * left (contracts/decisions/0131-settle-job.md).
   */
  async settle(upTo: string, onProgress?: (trx: Knex.Transaction, created: number) => Promise<void>): Promise<SettleCounts> {
    const candidates = await repo.pairsToSettle(this.deps.db, upTo);
    if (candidates.length === 0) return { pairs: 0, instructions: 0, items: 0 };
    const counts = await this.deps.db.transaction(async (trx) => {
      // One statement settles a night's money (a million payments): the request timeout does not apply.
      await trx.raw(`SET LOCAL statement_timeout = '30min'`);
      const ordered = [...candidates].sort((a, b) => (agencyDateLockKey(a.agency_code, a.business_date) < agencyDateLockKey(b.agency_code, b.business_date) ? -1 : 1));
      for (const pair of ordered) await lockAgencyDateInTransaction(trx, pair.agency_code, pair.business_date);
      const now = this.deps.clocks.business.now();
      const settled = await repo.settlePairs(trx, {
        pairs: ordered.map((pair) => ({ agencyPartyId: pair.agency_party_id, businessDate: pair.business_date })),
        ymd: shanghaiDate(now).replace(/-/g, ''),
        deadline: instructionDeadline(now),
        now,
      });
      const rows = await repo.findInstructionsByIds(trx, settled.ids);
      const wires = await instructionWires(trx, rows, undefined);
      const events: NewEvent[] = wires.map((wire, index) => ({ type: 'instruction.created', recipients: [{ partyId: (rows[index] as repo.InstructionRow).executor_party_id }], data: { instruction: wire }, occurredAt: now }));
      await recordEvents(trx, events);
      await onProgress?.(trx, settled.ids.length);
      return { pairs: new Set(rows.map((row) => `${row.agency_party_id}/${row.business_date}`)).size, instructions: settled.ids.length, items: settled.items };
    });
    this.deps.log.info({ upTo, ...counts }, 'settle: instructions created');
    return counts;
  }

  /** The `confirm-check` job: every CREATED or EXECUTED instruction past its deadline on the business clock becomes UNCONFIRMED. */
  async markOverdue(): Promise<number> {
    return repo.markOverdue(this.deps.db, this.deps.clocks.business.now(), statusesFrom('passDeadline'));
  }
}

function notFound(instructionNoValue: string): TongfuError {
  return new TongfuError('NOT_FOUND', `no instruction ${instructionNoValue.slice(0, 64)} for this caller`, { instructionNo: instructionNoValue.slice(0, 64) });
}

/**
 * The status a first EXECUTED report moves `row` to (docs/settlement.md §1), or
 * INVALID_STATE_TRANSITION saying why in the executor's terms (decision 0221).
 */
function executedStatus(row: repo.InstructionRow): InstructionStatus {
  const to = nextInstructionStatus(row.status, 'reportExecuted');
  if (to !== undefined) return to;
  const why =
    row.status === 'MISMATCHED'
      ? 'a bank posting of another amount holds it until finance detaches that posting (DETACH); report it then'
      : 'it is final';
  return refused(row, 'EXECUTED', why);
}

/**
 * The status a first FAILED report moves `row` to (docs/settlement.md §1): from CREATED, or from
 * UNCONFIRMED when nobody reported it and no posting was ever detached from it (decision 0221) —
 * a bank moved money against a detached one, and failing it would let a reissue pay twice.
 * Anything else is INVALID_STATE_TRANSITION, saying why in the executor's terms.
 */
function failedStatus(row: repo.InstructionRow, detached: boolean): InstructionStatus {
  const to = detached ? undefined : nextInstructionStatus(row.status, 'reportFailed');
  if (to !== undefined) return to;
  const why = detached
    ? `a posting of another amount was detached from it (DETACH): the bank moved money against it, so it waits for its posting`
    : row.status === 'CONFIRMED' || row.status === 'MISMATCHED'
      ? `a bank posting already ${row.status === 'CONFIRMED' ? 'confirmed' : 'moved money against'} it`
      : `it is final`;
  return refused(row, 'FAILED', why);
}

function refused(row: repo.InstructionRow, report: 'EXECUTED' | 'FAILED', why: string): never {
  throw new TongfuError('INVALID_STATE_TRANSITION', `instruction ${row.instruction_no} is ${row.status} and cannot be reported ${report}: ${why}`, { machine: 'instruction', from: row.status, event: report === 'EXECUTED' ? 'reportExecuted' : 'reportFailed' });
}
