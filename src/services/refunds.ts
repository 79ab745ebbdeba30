import { randomBase64Url } from '../crypto/randomIds';
import type { Knex } from 'knex';
import { canonicalJsonSha256Hex } from '../crypto/canonicalJson';
import type { FieldCipher } from '../crypto/fieldCipher';
import type { Db } from '../db/database';
import type { PageRequest } from '../db/pagination';
import * as instructionsRepo from '../db/repositories/instructions';
import { insertJournalEntry } from '../db/repositories/ledger';
import * as repo from '../db/repositories/refunds';
import { formatInstant, shanghaiDate } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, type FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { instructionDeadline, instructionNo } from '../domain/instructions';
import { agencyRefundConfirmedEntry, bankRefundConfirmedEntry, type ItemRecognition, type JournalEntry, spreadInProportion, type RecognitionItem } from '../domain/ledger';
import { Decimal, formatMoney, sumMoney, ZERO } from '../domain/money';
import { maskAccountNo, maskName } from '../domain/payer';
import { parsePayCode } from '../domain/payCode';
import { assertRefundWithinPaid, moneyWhereabouts, refundedEvent, refundExecutor, refundStatusesFrom, refundTransition, type RefundStatus } from '../domain/refunds';
import { NOTICE_MACHINE, PAYMENT_MACHINE, transition, type NoticeStatus, type PaymentStatus } from '../domain/stateMachines';
import type { Logger } from '../logger';
import { recordAudit } from './audit';
import { recordEvent } from './events';
import { cancelRefundInstructions, recordInstructionCreated } from './instructions';
import { recordReversal } from './receipts';
import { type RefundedItemShares, storeRefundedRevenueShares } from './revenueShares';

/**
 * Refunds (退付, docs/settlement.md §3; contracts/decisions/0150-refund-requests.md,
 * 0151-refund-executor.md): a unit requests, finance decides, and the refund's moves — instructed
 * when approved (or when the settlement it waited for is confirmed), succeeded when its
 * instruction is confirmed, failed with it, cancelled with its payment — each in the transaction
 * of the change that causes it. Every status move goes through src/domain/refunds.ts.
 */

/** `Refund` (docs/settlement.md §3), as units and finance read it. */
export interface RefundWire {
  refundId: string;
  refundNo: string | null;
  payCode: string;
  paymentId: string;
  amount: string;
  reason: string;
  /** Masked: the name as `**` + its last character, the account number as `****` + its last 4 (contracts/decisions/0150-refund-requests.md). */
  payee: { name: string; accountNo: string; bankName: string } | null;
  status: RefundStatus;
  approval: 'AUTO_POLICY' | { by: string; at: string } | null;
  instructionNo: string | null;
  createdAt: string;
  succeededAt: string | null;
}

export interface RequestRefundInput {
  refundNo: string;
  payCode: string;
  amount: string;
  reason: string;
  payee: { name: string; accountNo: string; bankName: string };
}


/** A payee as stored (name and account number encrypted with the field cipher), as it is shown: masked, the bank name in clear. */
export function maskedPayee(payee: { name: string; accountNo: string; bankName: string }, fieldCipher: FieldCipher): { name: string; accountNo: string; bankName: string } {
  return { name: maskName(fieldCipher.decrypt(payee.name)), accountNo: maskAccountNo(fieldCipher.decrypt(payee.accountNo)), bankName: payee.bankName };
}

/**
 * A payee as a proposal's action fields store it — `{name, accountNo, bankName}` with name and
 * account number encrypted — shown masked (the Proposal's `payee`, the audit log's snapshots); {}
 * when the fields carry none.
 */
export function shownPayeeFields(fields: Record<string, unknown>, fieldCipher: FieldCipher): Record<string, unknown> {
  const payee = fields.payee as { name: string; accountNo: string; bankName: string } | undefined;
  return payee === undefined || payee === null ? {} : { payee: maskedPayee(payee, fieldCipher) };
}

/** The payee's fields of a proposal (`/payee`), checked as a unit's request checks them and stored encrypted; throws VALIDATION_FAILED. */
export function encryptedPayeeField(payee: unknown, fieldCipher: FieldCipher): { name: string; accountNo: string; bankName: string } {
  const problems = payeeProblems(payee, '/payee');
  if (problems.length > 0) throw validationFailed(problems);
  const given = payee as { name: string; accountNo: string; bankName: string };
  // A payee is a person's data: stored encrypted, like payers' accounts (bankName is not personal).
  return { name: fieldCipher.encrypt(given.name), accountNo: fieldCipher.encrypt(given.accountNo), bankName: given.bankName };
}

export function refundWire(row: repo.RefundRow, fieldCipher: FieldCipher): RefundWire {
  const payee =
    row.payee_name === null || row.payee_account_no === null || row.payee_bank_name === null
      ? null
      : maskedPayee({ name: row.payee_name, accountNo: row.payee_account_no, bankName: row.payee_bank_name }, fieldCipher);
  return { ...refundEventWire(row), payee };
}

/** The refund without its payee: what an event carries (the event store keeps no personal data). */
function refundEventWire(row: repo.RefundRow): Omit<RefundWire, 'payee'> {
  let approval: RefundWire['approval'] = null;
  if (row.approval === 'AUTO_POLICY') approval = 'AUTO_POLICY';
  else if (row.approval === 'FINANCE') {
    assert(row.approved_by_app_id !== null && row.approved_at !== null, `refund ${row.refund_id} names its approver`);
    approval = { by: row.approved_by_app_id, at: formatInstant(row.approved_at) };
  }
  return {
    refundId: row.refund_id,
    refundNo: row.refund_no,
    payCode: row.pay_code,
    paymentId: row.payment_id,
    amount: formatMoney(new Decimal(row.amount)),
    reason: row.reason,
    status: row.status,
    approval,
    instructionNo: row.instruction_no,
    createdAt: formatInstant(row.created_at),
    succeededAt: row.succeeded_at === null ? null : formatInstant(row.succeeded_at),
  };
}

/** What stands in for the payee's name and account number in the request fingerprint. */
const ENCRYPTED_FIELD_PLACEHOLDER = '[encrypted]';

/**
 * The request's fingerprint (docs/interface.md §4) with the payee's name and account number as
 * placeholders: they are stored encrypted, and a repeat compares them decrypted.
 */
export function refundFingerprint(input: RequestRefundInput): string {
  return canonicalJsonSha256Hex({ ...input, payee: { ...input.payee, name: ENCRYPTED_FIELD_PLACEHOLDER, accountNo: ENCRYPTED_FIELD_PLACEHOLDER } });
}

/** 'R' + the real time in base 36 + 72 random bits, like the other platform ids. */
function newRefundId(realNow: Date): string {
  return `R${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

const PAYEE_TEXT_MAX = 200;

/** The payee's fields, each a non-empty single line of at most PAYEE_TEXT_MAX characters. */
export function payeeProblems(payee: unknown, path: string): FieldProblem[] {
  if (payee === null || typeof payee !== 'object') return [{ path, problem: 'is required: {name, accountNo, bankName}' }];
  const given = payee as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const field of ['name', 'accountNo', 'bankName']) {
    const value = given[field];
    if (typeof value !== 'string' || value.trim().length === 0 || value.length > PAYEE_TEXT_MAX) problems.push({ path: `${path}/${field}`, problem: `is required: a non-empty string of at most ${PAYEE_TEXT_MAX} characters` });
  }
  return problems;
}

/** Statuses of a notice a unit may refund (it was paid; a fully refunded one answers REFUND_EXCEEDS_PAID). */
const REFUNDABLE_NOTICE_STATUSES: readonly string[] = ['PAID', 'PARTIALLY_REFUNDED', 'REFUNDED'];

// ---- the moves, in the caller's transaction ------------------------------------------------------

/**
 * Instructs an APPROVED refund by the executor rule (docs/settlement.md §3): the agency while its
 * payment's money is in the agency's clearing account (unapplied money always is); the receiving
 * bank once every live settlement of the payment is CONFIRMED — one instruction per receiving
 * account they credited, the refund split over them (contracts/decisions/0170-refund-several-accounts.md);
 * otherwise it waits, APPROVED, for
 * the settlement's confirmation (instructRefundsWaitingOn). A FAILED settlement not yet reissued
 * holds the money too: the refund waits for its reissue's confirmation, since the reissue settles
 * the payment's whole revenue (contracts/decisions/0231-refund-waits-for-a-failed-settlement.md). A refund without a payee waits for
 * SET_PAYEE; the obligation of unapplied money waits until a statement matched its payment. The instruction is created and the refund INSTRUCTED here, in the caller's
 * transaction, with `instruction.created` to the executor. Answers the (first) instruction's
 * number, or null when the refund waits.
 */
export async function instructRefund(trx: Knex.Transaction, input: { refundRowId: string; at: Date; log?: Logger }): Promise<string | null> {
  const [refund] = await repo.findRefundsByRowIds(trx, [input.refundRowId]);
  assert(refund !== undefined, `refund ${input.refundRowId} exists`);
  const payment = await repo.lockPaymentOfRefund(trx, refund.payment_row_id);
  const locked = await repo.lockRefund(trx, refund.id);
  if (locked.status !== 'APPROVED') return null;
  if (refund.payee_name === null || refund.payee_account_no === null || refund.payee_bank_name === null) return null;
  if (payment.status === 'REVERSED') return null;
  // Unapplied money is paid back once a statement proved it captured: the reconciliation run that
  // matches it instructs it (contracts/decisions/0151-refund-executor.md).
  if (payment.unapplied_reason !== null && !(await repo.hasLiveMatch(trx, payment.id))) return null;
  const settlements = payment.unapplied_reason === null ? await repo.settlementsHoldingPayment(trx, payment.id) : [];
  const executor = refundExecutor(moneyWhereabouts(settlements.map((settlement) => settlement.status)));
  if (executor === 'WAIT') return null;
  // Who pays back what: the agency the whole refund out of its clearing account; the receiving
  // banks the refund split over the accounts the payment settled to (contracts/decisions/0170-refund-several-accounts.md).
  const parts: Array<{ executorPartyId: string | undefined; debitAccountNo: string | undefined; amount: Decimal }> = [];
  if (executor === 'AGENCY') {
    parts.push({ executorPartyId: payment.agency_party_id, debitAccountNo: await instructionsRepo.clearingAccountOf(trx, payment.agency_party_id), amount: new Decimal(refund.amount) });
  } else {
    const settled = await repo.settledPerAccountOfPayment(trx, payment.id);
    assert(settled.length >= 1, `payment ${payment.payment_id} settled to some receiving account`);
    // In proportion to what each account's settlements took of this payment (ROUND_HALF_UP to the
    // fen, the last account the remainder: spreadInProportion).
    const amounts = spreadInProportion(new Decimal(refund.amount), settled.map((account) => new Decimal(account.amount)));
    for (const [index, account] of settled.entries()) {
      const amount = amounts[index] as Decimal;
      if (amount.gt(ZERO)) parts.push({ executorPartyId: await instructionsRepo.bankHoldingAccount(trx, account.credit_account_no), debitAccountNo: account.credit_account_no, amount });
    }
  }
  if (parts.some((part) => part.executorPartyId === undefined || part.debitAccountNo === undefined)) {
    input.log?.warn({ refundId: refund.refund_id, executor }, 'refund: its executor has no account to pay from; the refund waits');
    return null;
  }
  const numbers: string[] = [];
  for (const part of parts) {
    const number = instructionNo('REFUND', input.at, await instructionsRepo.nextInstructionSerial(trx));
    assert(part.executorPartyId !== undefined && part.debitAccountNo !== undefined, 'every part has its executor and account');
    const id = await instructionsRepo.insertRefundInstruction(trx, {
      instructionNo: number,
      executorPartyId: part.executorPartyId,
      debitAccountNo: part.debitAccountNo,
      payee: { name: refund.payee_name, accountNo: refund.payee_account_no, bankName: refund.payee_bank_name },
      businessDate: shanghaiDate(input.at),
      amount: formatMoney(part.amount),
      cause: { refundRowId: refund.id, agencyPartyId: payment.agency_party_id, agencyCode: payment.agency_code },
      deadline: instructionDeadline(input.at),
      now: input.at,
    });
    const created = await instructionsRepo.findInstructionById(trx, id);
    assert(created !== undefined, 'the refund instruction was written');
    await recordInstructionCreated(trx, created, input.at);
    numbers.push(number);
  }
  await repo.moveRefund(trx, refund.id, { from: 'APPROVED', to: refundTransition('APPROVED', 'instruct'), at: input.at });
  input.log?.info({ refundId: refund.refund_id, instructionNos: numbers, executor }, 'refund instructed');
  return numbers[0] as string;
}

/**
 * The settlement `settlementId` was just CONFIRMED (in the confirming transaction): every refund
 * that waited for it is instructed now, to the receiving bank (docs/settlement.md §3).
 */
export async function instructRefundsWaitingOn(trx: Knex.Transaction, input: { settlementId: string; at: Date }): Promise<number> {
  let instructed = 0;
  for (const refundRowId of await repo.refundsWaitingOn(trx, input.settlementId)) {
    if ((await instructRefund(trx, { refundRowId, at: input.at })) !== null) instructed += 1;
  }
  return instructed;
}

/**
 * A refund instruction was confirmed — by the agency statement's REFUND line (`via: 'AGENCY'`) or
 * the bank's DEBIT posting (`via: 'BANK'`) — in the confirming transaction: the refund SUCCEEDED,
 * its journal entry (AGENCY_REFUND_CONFIRMED or BANK_REFUND_CONFIRMED), the payment and notice
 * PARTIALLY_REFUNDED or REFUNDED, the receipt's reversal, and `refund.succeeded` to the unit that
 * asked (the posting agency for an unapplied obligation).
 */
export async function refundSucceeded(trx: Knex.Transaction, input: { instruction: instructionsRepo.InstructionRow; at: Date; bankPostingId?: string }): Promise<void> {
  const { instruction } = input;
  assert(instruction.type === 'REFUND' && instruction.refund_id !== null, `instruction ${instruction.instruction_no} refunds a refund`);
  const [refund] = await repo.findRefundsByRowIds(trx, [instruction.refund_id]);
  assert(refund !== undefined, `refund ${instruction.refund_id} exists`);
  const payment = await repo.lockPaymentOfRefund(trx, refund.payment_row_id);
  const locked = await repo.lockRefund(trx, refund.id);
  const amount = new Decimal(refund.amount);
  const accountingDate = shanghaiDate(input.at);
  const viaAgency = instruction.executor_party_id === payment.agency_party_id;
  // A bank refund split over several receiving accounts succeeds when its confirmed instructions
  // add up to it: an earlier one waits, CONFIRMED, for its siblings (contracts/decisions/0170-refund-several-accounts.md).
  const confirmed = viaAgency ? [instruction] : await confirmedRefundInstructions(trx, refund.id);
  if (!viaAgency && sumMoney(confirmed.map((row) => new Decimal(row.amount))).lt(amount)) return;
  const to = refundTransition(locked.status, 'confirm');
  const alreadyRefunded = new Decimal(await repo.succeededRefunds(trx, payment.id));

  if (viaAgency) {
    if (payment.unapplied_reason !== null) {
      await insertJournalEntry(trx, agencyRefundConfirmedEntry({ refundId: refund.id, instructionId: instruction.id, agencyCode: payment.agency_code, amount, accountingDate, unapplied: true }), input.at);
    } else {
      const parts = await agencyRefundParts(trx, payment.id, alreadyRefunded, amount);
      await insertJournalEntry(trx, agencyRefundConfirmedEntry({ refundId: refund.id, instructionId: instruction.id, agencyCode: payment.agency_code, amount, accountingDate, unapplied: false, paymentItems: parts }), input.at);
      await repo.insertRefundItems(trx, refund.id, parts.map((part) => ({ receivingAccountNo: part.receivingAccountNo, amount: formatMoney(part.earned) })));
    }
  } else {
    // One BANK_REFUND_CONFIRMED for the refund, written by the last confirmation: per confirmed
    // instruction, its receiving account credited with its amount and that account's items' revenue
    // debited by it; it references the last instruction and its posting.
    // Beside it, the per item shares each part debited, stored for the revenue report's byLevel
    // (refunded_revenue_shares, contracts/decisions/0215-refunded-revenue-shares.md).
    const built: JournalEntry[] = [];
    const shares: RefundedItemShares[] = [];
    for (const row of confirmed) {
      const items = await bankRefundItems(trx, payment.id, row.debit_account_no, new Decimal(row.amount));
      const booked = bankRefundConfirmedEntry({
        refundId: refund.id,
        instructionId: instruction.id,
        ...(input.bankPostingId === undefined ? {} : { bankPostingId: input.bankPostingId }),
        receivingAccountNo: row.debit_account_no,
        amount: new Decimal(row.amount),
        items: items.map((item) => item.recognition),
        accountingDate,
      });
      built.push(booked.entry);
      items.forEach((item, index) => shares.push({ instructionId: row.id, linePosition: item.position, recognition: booked.recognition[index] as ItemRecognition }));
    }
    await insertJournalEntry(trx, { ...(built[0] as JournalEntry), lines: built.flatMap((one) => one.lines) }, input.at);
    await storeRefundedRevenueShares(trx, { refundId: refund.id, paymentId: payment.id, items: shares, at: input.at });
  }
  await repo.moveRefund(trx, refund.id, { from: locked.status, to, at: input.at, succeeded: true });

  const event = refundedEvent(new Decimal(payment.amount), alreadyRefunded.plus(amount));
  const paymentTo = transition(PAYMENT_MACHINE, payment.status as PaymentStatus, event);
  await repo.setPaymentStatus(trx, payment.id, { from: payment.status, to: paymentTo, at: input.at });
  let noticeTo: NoticeStatus | null = null;
  if (payment.unapplied_reason === null && payment.notice_id !== null && payment.notice_status !== null) {
    noticeTo = transition(NOTICE_MACHINE, payment.notice_status as NoticeStatus, event);
    await repo.setNoticeStatus(trx, payment.notice_id, { from: payment.notice_status, to: noticeTo, at: input.at });
    assert(payment.receipt_no !== null, `applied payment ${payment.payment_id} has its receipt`);
    await recordReversal(trx, payment.receipt_no, { refundId: refund.refund_id, amount, reason: refund.reason, at: input.at });
  }
  const recipient = refund.requested_by_party_id ?? payment.agency_party_id;
  const [stored] = await repo.findRefundsByRowIds(trx, [refund.id]);
  assert(stored !== undefined, 'the refund is there');
  await recordEvent(trx, {
    type: 'refund.succeeded',
    recipients: [{ partyId: recipient }],
    data: {
      refund: refundEventWire(stored),
      payment: { paymentId: payment.payment_id, status: paymentTo },
      notice: noticeTo === null || payment.notice_biz_ref === null ? null : { payCode: payment.pay_code, bizRef: payment.notice_biz_ref, status: noticeTo },
    },
    occurredAt: input.at,
  });
}

/** The refund's CONFIRMED instructions, oldest first (locked by the caller's refund lock). */
async function confirmedRefundInstructions(trx: Knex.Transaction, refundRowId: string): Promise<instructionsRepo.InstructionRow[]> {
  const rows: instructionsRepo.InstructionRow[] = [];
  for (const { id } of await repo.refundInstructionsIn(trx, refundRowId, ['CONFIRMED'])) {
    const row = await instructionsRepo.findInstructionById(trx, id);
    assert(row !== undefined, `instruction ${id} exists`);
    rows.push(row);
  }
  return rows;
}

/**
 * This refund's part of each earning item of the payment: the spread of all the agency's refunds
 * so far including it, less the spread of those before (spreadInProportion, ROUND_HALF_UP, the
 * last earning item the remainder) — so the parts of successive refunds add up to exactly what
 * the settle job subtracts from each item (settledItemAmounts, src/domain/instructions.ts).
 */
async function agencyRefundParts(trx: Knex.Transaction, paymentRowId: string, before: Decimal, amount: Decimal): Promise<Array<{ receivingAccountNo: string; earned: Decimal }>> {
  const earning = (await repo.paymentItems(trx, paymentRowId)).filter((item) => new Decimal(item.earned).gt(ZERO));
  assert(earning.length >= 1, `payment ${paymentRowId} has an item that earned something`);
  const weights = earning.map((item) => new Decimal(item.earned));
  const after = spreadInProportion(before.plus(amount), weights);
  const earlier = before.isZero() ? weights.map(() => ZERO) : spreadInProportion(before, weights);
  // The entry spreads `amount` by the weights it is given; giving it this refund's parts as the
  // weights makes each item's share exactly its part.
  return earning
    .map((item, index) => ({ receivingAccountNo: item.receiving_account_no, earned: (after[index] as Decimal).minus(earlier[index] as Decimal) }))
    .filter((item) => item.earned.gt(ZERO));
}

/**
 * The revenue a bank refund takes back, per item of the payment settled to `receivingAccountNo`:
 * the refund spread over those items in proportion to what each earned (spreadInProportion,
 * ROUND_HALF_UP, the last the remainder), each with its notice line, budget level and snapshotted
 * shares.
 */
async function bankRefundItems(trx: Knex.Transaction, paymentRowId: string, receivingAccountNo: string, amount: Decimal): Promise<Array<{ position: number; recognition: RecognitionItem }>> {
  const items = (await repo.paymentItems(trx, paymentRowId)).filter((item) => item.receiving_account_no === receivingAccountNo && new Decimal(item.earned).gt(ZERO));
  assert(items.length >= 1, `payment ${paymentRowId} has items settled to ${receivingAccountNo}`);
  const parts = spreadInProportion(amount, items.map((item) => new Decimal(item.earned)));
  return items
    .map((item, index) => ({
      position: Number(item.position),
      recognition: {
        amount: parts[index] as Decimal,
        incomeSortCode: item.income_sort_code,
        budgetLevel: Number(item.budget_level),
        ...(item.shares === null ? {} : { shares: item.shares.map((share) => ({ budgetLevel: Number(share.budgetLevel), ratio: new Decimal(share.ratio) })) }),
      },
    }))
    .filter((item) => item.recognition.amount.gt(ZERO));
}

/** A refund instruction FAILED (the executor's report): its refund FAILED, in the same transaction; its sibling instructions stand (decision 0170). */
export async function refundFailed(trx: Knex.Transaction, input: { instruction: instructionsRepo.InstructionRow; at: Date }): Promise<void> {
  if (input.instruction.refund_id === null) return; // a RETURN of an unidentified credit has no refund
  const [refund] = await repo.findRefundsByRowIds(trx, [input.instruction.refund_id]);
  assert(refund !== undefined, `refund ${input.instruction.refund_id} exists`);
  const payment = await repo.lockPaymentOfRefund(trx, refund.payment_row_id);
  const locked = await repo.lockRefund(trx, refund.id);
  // A sibling instruction of a refund split over several accounts failed first: the refund is
  // FAILED already; its other instructions stand (contracts/decisions/0170-refund-several-accounts.md).
  if (locked.status === 'FAILED') return;
  await repo.moveRefund(trx, refund.id, { from: locked.status, to: refundTransition(locked.status, 'fail'), at: input.at });
  await recordRefundStopped(trx, 'refund.failed', refund.id, payment.agency_party_id, input.at);
}

/**
 * `refund.rejected` or `refund.failed` to whoever asked for the refund — the unit, or for the
 * obligation of unapplied money the agency that posted it (contracts/decisions/0192-refund-stopped-events.md):
 * a refund that will not be paid as things stand is news to them, as one that succeeded is.
 */
async function recordRefundStopped(trx: Knex.Transaction, type: 'refund.rejected' | 'refund.failed', refundRowId: string, postingAgencyPartyId: string, at: Date): Promise<void> {
  const [stored] = await repo.findRefundsByRowIds(trx, [refundRowId]);
  assert(stored !== undefined, 'the refund is there');
  const recipient = stored.requested_by_party_id ?? postingAgencyPartyId;
  await recordEvent(trx, { type, recipients: [{ partyId: recipient }], data: { refund: refundEventWire(stored) }, occurredAt: at });
}

/**
 * A FAILED refund instruction is reissued (REISSUE, in the approval's transaction): REFUND_EXCEEDS_PAID
 * again under the payment's lock — other refunds may have taken the money since it failed —, then
 * the refund INSTRUCTED again (docs/settlement.md §3). With `payee` (REISSUE {payee}, name and
 * account number encrypted; contracts/decisions/0200-reissue-to-a-new-payee.md) the refund's payee
 * becomes that one, so that its views and every later reissue of it name the account that works.
 * Answers the payee the reissue pays (stored form): the new one, else the refund's own.
 */
export async function refundReissued(
  trx: Knex.Transaction,
  input: { refundRowId: string; at: Date; payee?: { name: string; accountNo: string; bankName: string } },
): Promise<{ name: string; accountNo: string; bankName: string }> {
  const [refund] = await repo.findRefundsByRowIds(trx, [input.refundRowId]);
  assert(refund !== undefined, `refund ${input.refundRowId} exists`);
  const payment = await repo.lockPaymentOfRefund(trx, refund.payment_row_id);
  const locked = await repo.lockRefund(trx, refund.id);
  assert(refund.payee_name !== null && refund.payee_account_no !== null && refund.payee_bank_name !== null, `refund ${refund.refund_id}, instructed once, has its payee`);
  const payee = input.payee ?? { name: refund.payee_name, accountNo: refund.payee_account_no, bankName: refund.payee_bank_name };
  // The reissue of a second failed sibling (decision 0170): the first one's made the refund INSTRUCTED again.
  if (locked.status !== 'INSTRUCTED') {
    const others = (await repo.refundsOfPayment(trx, payment.id)).filter((other) => other.id !== refund.id);
    // A write-off of unapplied money leaves its refund obligation standing (decision 0117).
    const writtenOff = payment.unapplied_reason === null ? await repo.writtenOffOfPayment(trx, payment.id) : '0.00';
    assertRefundWithinPaid({ paid: new Decimal(payment.amount), amount: new Decimal(refund.amount), others, writtenOff });
    await repo.moveRefund(trx, refund.id, { from: locked.status, to: refundTransition(locked.status, 'reissue'), at: input.at });
  }
  if (input.payee !== undefined) await repo.changePayee(trx, refund.id, input.payee, input.at);
  return payee;
}

/**
 * The payment was reversed (REVERSE_PAYMENT, in the correction's transaction, the payment locked
 * by the caller): its APPROVED and INSTRUCTED refunds — unit refunds and the obligation of
 * unapplied money alike — are CANCELLED, and their live instructions with them
 * (docs/settlement.md §3). A REQUESTED refund stays for finance to reject. Answers how many.
 */
export async function cancelRefundsOfPayment(trx: Knex.Transaction, input: { paymentRowId: string; at: Date }): Promise<number> {
  const cancellable = refundStatusesFrom('cancel');
  let cancelled = 0;
  for (const refund of await repo.refundsOfPayment(trx, input.paymentRowId)) {
    if (!cancellable.includes(refund.status)) continue;
    const locked = await repo.lockRefund(trx, refund.id);
    await repo.moveRefund(trx, refund.id, { from: locked.status, to: refundTransition(locked.status, 'cancel'), at: input.at });
    await cancelRefundInstructions(trx, { refundRowId: refund.id, at: input.at });
    cancelled += 1;
  }
  return cancelled;
}

// ---- the service ---------------------------------------------------------------------------------

export interface RefundServiceDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  fieldCipher: FieldCipher;
}

export class RefundService {
  constructor(private readonly deps: RefundServiceDependencies) {}

  /**
   * `POST /v1/unit/refunds`: a REQUESTED refund of the unit's paid notice. In the order of
   * docs/interface.md §3: PAY_CODE_INVALID, VALIDATION_FAILED, NOTICE_NOT_FOUND (another unit's
   * notice too), IDEMPOTENCY_CONFLICT (the refundNo with other content; the same content replays
   * the refund as it is now), NOTICE_NOT_PAYABLE (not paid), REFUND_EXCEEDS_PAID — checked under
   * the notice's and the payment's locks, counting every refund of the payment that still stands.
   */
  async request(unit: { partyId: string }, input: RequestRefundInput): Promise<{ refund: RefundWire; replayed: boolean }> {
    parsePayCode(input.payCode);
    const amount = new Decimal(input.amount);
    const problems = payeeProblems(input.payee, '/payee');
    if (amount.isZero()) problems.push({ path: '/amount', problem: 'must be greater than 0.00' });
    if (input.reason.trim().length === 0) problems.push({ path: '/reason', problem: 'must not be blank' });
    if (problems.length > 0) throw validationFailed(problems);
    const requestHash = refundFingerprint(input);
    const now = this.deps.clocks.business.now();
    return this.deps.db.transaction(async (trx) => {
      const found = await repo.lockNoticeAndPayment(trx, input.payCode);
      if (found === undefined || found.unit_party_id !== unit.partyId) throw new TongfuError('NOTICE_NOT_FOUND', `no notice ${input.payCode} of this unit`, { payCode: input.payCode });
      const earlier = await repo.findUnitRefund(trx, unit.partyId, input.refundNo);
      if (earlier !== undefined) return { refund: await this.replayOrConflict(trx, earlier, input, requestHash), replayed: true };
      if (!REFUNDABLE_NOTICE_STATUSES.includes(found.notice_status) || found.payment_row_id === null || found.amount === null) {
        throw new TongfuError('NOTICE_NOT_PAYABLE', `notice ${input.payCode} is ${found.notice_status}: only a paid notice is refunded`, { payCode: input.payCode, status: found.notice_status });
      }
      const others = await repo.refundsOfPayment(trx, found.payment_row_id);
      assertRefundWithinPaid({ paid: new Decimal(found.amount), amount, others, writtenOff: await repo.writtenOffOfPayment(trx, found.payment_row_id) });
      const id = await repo.insertUnitRefund(
        trx,
        {
          refund_id: newRefundId(this.deps.clocks.real.now()),
          refund_no: input.refundNo,
          requested_by_party_id: unit.partyId,
          payment_row_id: found.payment_row_id,
          pay_code: input.payCode,
          amount: formatMoney(amount),
          reason: input.reason,
          payee_name: this.deps.fieldCipher.encrypt(input.payee.name),
          payee_account_no: this.deps.fieldCipher.encrypt(input.payee.accountNo),
          payee_bank_name: input.payee.bankName,
          request_hash: requestHash,
          now,
        },
        refundTransition(null, 'request'),
      );
      if (id === undefined) {
        const taken = await repo.findUnitRefund(trx, unit.partyId, input.refundNo);
        assert(taken !== undefined, 'a refused refundNo is taken');
        return { refund: await this.replayOrConflict(trx, taken, input, requestHash), replayed: true };
      }
      const [row] = await repo.findRefundsByRowIds(trx, [id]);
      assert(row !== undefined, 'the refund just inserted is there');
      this.deps.log.info({ refundId: row.refund_id, refundNo: input.refundNo, payCode: input.payCode, amount: row.amount }, 'refund requested');
      return { refund: refundWire(row, this.deps.fieldCipher), replayed: false };
    });
  }

  private async replayOrConflict(trx: Knex.Transaction, earlier: repo.RefundRow, input: RequestRefundInput, requestHash: string): Promise<RefundWire> {
    // The payee asked for is the one its first instruction carried: a reissue to a new payee
    // (decision 0200) changes the refund's, not what the unit asked.
    const asked = (await repo.firstInstructedPayee(trx, earlier.id)) ?? (earlier.payee_name === null || earlier.payee_account_no === null ? undefined : { name: earlier.payee_name, accountNo: earlier.payee_account_no });
    const same =
      earlier.request_hash === requestHash &&
      asked !== undefined &&
      this.deps.fieldCipher.decrypt(asked.name) === input.payee.name &&
      this.deps.fieldCipher.decrypt(asked.accountNo) === input.payee.accountNo;
    if (!same) throw new TongfuError('IDEMPOTENCY_CONFLICT', `refundNo ${input.refundNo} was used for another refund (${earlier.refund_id})`, { refundNo: input.refundNo, refundId: earlier.refund_id });
    return refundWire(earlier, this.deps.fieldCipher);
  }

  /** `GET /v1/unit/refunds/{refundNo}`: the unit's own refunds only (another unit's is NOT_FOUND). */
  async getForUnit(unit: { partyId: string }, refundNo: string): Promise<RefundWire> {
    const row = await repo.findUnitRefund(this.deps.db, unit.partyId, refundNo);
    if (row === undefined) throw new TongfuError('NOT_FOUND', `no refund ${refundNo.slice(0, 64)} of this unit`, { refundNo: refundNo.slice(0, 64) });
    return refundWire(row, this.deps.fieldCipher);
  }

  /** `GET /v1/finance/refunds?status=`. */
  async list(filter: { status?: string }, page: PageRequest): Promise<{ data: RefundWire[]; nextCursor: string | null }> {
    const found = await repo.listRefunds(this.deps.db, filter, page);
    return { data: found.rows.map((row) => refundWire(row, this.deps.fieldCipher)), nextCursor: found.nextCursor };
  }

  /**
   * `POST /v1/finance/refunds/{refundId}/decision`: finance approves or rejects a REQUESTED refund.
   * An approval instructs it at once when the executor rule allows (instructRefund), in the same
   * transaction. The same decision by the same party again answers the refund as it is now; any
   * other decision of a refund no longer REQUESTED is INVALID_STATE_TRANSITION, as is approving
   * the refund of a payment reversed meanwhile.
   */
  async decide(finance: { partyId: string; appId: string }, refundId: string, decision: { approve: boolean; comment: string | null }): Promise<{ refund: RefundWire; replayed: boolean }> {
    const now = this.deps.clocks.business.now();
    const event = decision.approve ? 'approve' : 'reject';
    const comment = decision.comment === null || decision.comment === '' ? null : decision.comment;
    return this.deps.db.transaction(async (trx) => {
      const row = await repo.findRefundByPublicId(trx, refundId);
      if (row === undefined) throw new TongfuError('NOT_FOUND', `no refund ${refundId.slice(0, 64)}`, { refundId: refundId.slice(0, 64) });
      const payment = await repo.lockPaymentOfRefund(trx, row.payment_row_id);
      const locked = await repo.lockRefund(trx, row.id);
      if (locked.status !== 'REQUESTED') {
        const [current] = await repo.findRefundsByRowIds(trx, [row.id]);
        assert(current !== undefined, 'the refund is there');
        const sameDecision = current.decided_by_party_id === finance.partyId && (decision.approve ? current.approval === 'FINANCE' : current.status === 'REJECTED');
        if (sameDecision) return { refund: refundWire(current, this.deps.fieldCipher), replayed: true };
        refundTransition(locked.status, event);
      }
      if (decision.approve && payment.status === 'REVERSED') {
        throw new TongfuError('INVALID_STATE_TRANSITION', `the payment of refund ${row.refund_id} was reversed: reject the refund`, { machine: 'refund', from: locked.status, event, paymentStatus: payment.status });
      }
      const to = refundTransition('REQUESTED', event);
      await repo.moveRefund(trx, row.id, { from: 'REQUESTED', to, at: now, decision: { byPartyId: finance.partyId, comment }, ...(decision.approve ? { approval: { byPartyId: finance.partyId } } : {}) });
      let instructionNoValue: string | null = null;
      if (decision.approve) instructionNoValue = await instructRefund(trx, { refundRowId: row.id, at: now, log: this.deps.log });
      if (!decision.approve) await recordRefundStopped(trx, 'refund.rejected', row.id, payment.agency_party_id, now);
      const [decided] = await repo.findRefundsByRowIds(trx, [row.id]);
      assert(decided !== undefined, 'the refund is there');
      // A decision that moves money is in the finance audit log, as every other finance change
      // (docs/audit.md §1); the payee is in its snapshots as the refund shows it, masked.
      await recordAudit(trx, {
        actor: finance.appId,
        action: decision.approve ? 'refund.approved' : 'refund.rejected',
        target: `refund:${row.refund_id}`,
        before: refundWire(row, this.deps.fieldCipher) as unknown as Record<string, unknown>,
        after: { ...(refundWire(decided, this.deps.fieldCipher) as unknown as Record<string, unknown>), comment },
        at: now,
      });
      this.deps.log.info({ refundId: row.refund_id, status: decided.status, decidedBy: finance.appId, instructionNo: instructionNoValue }, 'refund decided');
      return { refund: refundWire(decided, this.deps.fieldCipher), replayed: false };
    });
  }
}
