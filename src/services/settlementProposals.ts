import type { Knex } from 'knex';
import type { FieldCipher } from '../crypto/fieldCipher';
import * as postingsRepo from '../db/repositories/bankPostings';
import * as instructionsRepo from '../db/repositories/instructions';
import { validationFailed, type FieldProblem } from '../domain/errors';
import { INSTRUCTION_NO_PATTERN } from '../domain/instructions';
import { Decimal } from '../domain/money';
import { actionNotApplicable, type ProposalAction } from '../domain/proposals';
import type { BankPostingService } from './bankPostings';
import { findLiveInstructionForPosting, lockInstructionAfterItsPayment, reissueInstruction, reissueRefusal } from './instructions';
import type { ProposalTargetHandler } from './proposals';
import { encryptedPayeeField, shownPayeeFields } from './refunds';

/**
 * Settlement's maker-checker targets (docs/settlement.md §2 "Maker-checker, one pattern";
 * contracts/decisions/0145-settlement-proposals.md), plugged into the engine of
 * src/services/proposals.ts like the discrepancies' handler:
 *
 * | kind | addressed by | action | fields | applies when | an approval |
 * |---|---|---|---|---|---|
 * | INSTRUCTION | instructionNo | REISSUE | `{payee?: {name, accountNo, bankName}}`, a REFUND instruction's only | the instruction is FAILED and not yet reissued | reissueInstruction: a new instruction with `reissueOf`, paying the new payee if one is given (and the refund's payee becomes it) |
 * | INSTRUCTION | instructionNo | DETACH | — | the instruction is MISMATCHED | BankPostingService.detachMismatched: the posting UNIDENTIFIED again (a credit in suspense), the instruction UNCONFIRMED (decision 0195) |
 * | UNIDENTIFIED | postingId | LINK | `{instructionNo}` | the posting is an UNIDENTIFIED credit, and the instruction is live, credits the posting's account and is of its amount | BankPostingService.linkUnidentified: suspense reversed, the instruction CONFIRMED, the posting LINKED |
 * | UNIDENTIFIED | postingId | RETURN | `{payee: {name, accountNo, bankName}}` | the posting is an UNIDENTIFIED credit | BankPostingService.returnUnidentified: a bank REFUND instruction, suspense reversed, the posting RETURNED |
 *
 * Applicability is checked when proposed and again, under the target's lock, when approved: an
 * approval of a target that changed meanwhile is ACTION_NOT_APPLICABLE and executes nothing.
 * A payee is stored encrypted in the proposal's fields, and shown masked in the Proposal and the
 * audit log (`shownFields`).
 */

/**
 * REISSUE of a FAILED instruction, optionally to a new payee (contracts/decisions/0200-reissue-to-a-new-payee.md):
 * when a refund or a return failed because its payee's account is closed or wrong, finance names
 * the right one. A payee on a SETTLEMENT instruction (which pays a receiving account) is
 * VALIDATION_FAILED. DETACH of a MISMATCHED instruction's posting (contracts/decisions/0195-detach-mismatched-posting.md).
 */
export function instructionHandler(deps: { fieldCipher: FieldCipher; bankPostings: BankPostingService }): ProposalTargetHandler<instructionsRepo.InstructionRow> {
  return {
    kind: 'INSTRUCTION',
    actions: ['REISSUE', 'DETACH'],
    lock: (trx, instructionNo) => lockInstructionAfterItsPayment(trx, (options) => instructionsRepo.findInstructionByNo(trx, instructionNo, options)),
    rowId: (target) => target.id,
    fields(action, input) {
      const problems: FieldProblem[] = [];
      if (input.instructionNo !== undefined) problems.push({ path: '/instructionNo', problem: `is not a field of ${action}` });
      if (action === 'DETACH' && input.payee !== undefined) problems.push({ path: '/payee', problem: 'is not a field of DETACH' });
      if (problems.length > 0) throw validationFailed(problems);
      return input.payee === undefined ? {} : { payee: encryptedPayeeField(input.payee, deps.fieldCipher) };
    },
    async checkApplicable(trx, target, action, fields) {
      // What the request is (a payee for an instruction that has none) before what the target is now.
      if (fields?.payee !== undefined && target.type !== 'REFUND') {
        throw validationFailed([{ path: '/payee', problem: `is not a field of REISSUE of a ${target.type} instruction: it pays a receiving account, not a payee` }]);
      }
      const why = action === 'DETACH' ? await detachRefusal(trx, target) : await reissueRefusal(trx, target);
      if (why !== null) throw actionNotApplicable(why, { instructionNo: target.instruction_no, status: target.status, action });
    },
    async execute(trx, target, approved) {
      if (approved.action === 'DETACH') {
        await deps.bankPostings.detachMismatched(trx, { instructionRowId: target.id });
        return;
      }
      const payee = approved.fields.payee as { name: string; accountNo: string; bankName: string } | undefined;
      await reissueInstruction(trx, { instructionRowId: target.id, actor: approved.approver.appId, now: approved.at, ...(payee === undefined ? {} : { payee }) });
    },
    auditTarget: (target) => `instruction:${target.instruction_no}`,
    shownFields: (_action, fields) => shownPayeeFields(fields, deps.fieldCipher),
  };
}

/**
 * Why DETACH does not apply to the instruction as it is now, or null when it does: a MISMATCHED
 * instruction (which holds the posting of another amount that mismatched it). Credits and debits
 * alike (decision 0195).
 */
async function detachRefusal(trx: Knex.Transaction, row: instructionsRepo.InstructionRow): Promise<string | null> {
  if (row.status !== 'MISMATCHED') return `instruction ${row.instruction_no} is ${row.status}: only a MISMATCHED instruction's posting is detached`;
  const posting = await postingsRepo.lockMismatchedPostingOf(trx, row.id);
  return posting === undefined ? `instruction ${row.instruction_no} has no MISMATCHED posting` : null;
}

const PAYEE_TEXT_MAX = 200;

function text(value: unknown, path: string, problems: FieldProblem[]): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > PAYEE_TEXT_MAX) {
    problems.push({ path, problem: `is required: a non-empty string of at most ${PAYEE_TEXT_MAX} characters` });
    return '';
  }
  return value;
}

/** LINK and RETURN of an unidentified credit. */
export function unidentifiedHandler(deps: { bankPostings: BankPostingService; fieldCipher: FieldCipher }): ProposalTargetHandler<postingsRepo.PostingRow> {
  return {
    kind: 'UNIDENTIFIED',
    actions: ['LINK', 'RETURN'],
    lock: (trx, postingId) => postingsRepo.lockPostingByPostingId(trx, postingId),
    rowId: (target) => target.id,
    fields(action, input) {
      const problems: FieldProblem[] = [];
      if (action === 'LINK') {
        if (input.payee !== undefined) problems.push({ path: '/payee', problem: 'is not a field of LINK' });
        const no = input.instructionNo;
        if (typeof no !== 'string' || !INSTRUCTION_NO_PATTERN.test(no)) problems.push({ path: '/instructionNo', problem: 'is required for LINK: TF + S|R + yyyymmdd + 8 digits' });
        if (problems.length > 0) throw validationFailed(problems);
        return { instructionNo: no };
      }
      if (input.instructionNo !== undefined) problems.push({ path: '/instructionNo', problem: 'is not a field of RETURN' });
      const payee = input.payee;
      if (payee === null || typeof payee !== 'object') {
        problems.push({ path: '/payee', problem: 'is required for RETURN: {name, accountNo, bankName}' });
        throw validationFailed(problems);
      }
      const given = payee as Record<string, unknown>;
      const name = text(given.name, '/payee/name', problems);
      const accountNo = text(given.accountNo, '/payee/accountNo', problems);
      const bankName = text(given.bankName, '/payee/bankName', problems);
      if (problems.length > 0) throw validationFailed(problems);
      // A payee is a person's data: stored encrypted, like payers' accounts (bankName is not personal).
      return { payee: { name: deps.fieldCipher.encrypt(name), accountNo: deps.fieldCipher.encrypt(accountNo), bankName } };
    },
    async checkApplicable(trx, target, action, fields) {
      const details = { postingId: target.posting_id, status: target.status, direction: target.direction, action };
      if (target.status !== 'UNIDENTIFIED') throw actionNotApplicable(`posting ${target.posting_id} is ${target.status}: only an UNIDENTIFIED credit is linked or returned`, details);
      if (target.direction !== 'CREDIT') throw actionNotApplicable(`posting ${target.posting_id} is a debit: only a credit is linked or returned`, details);
      if (action === 'LINK') await checkLinkable(trx, target, fields?.instructionNo);
    },
    async execute(trx, target, approved) {
      if (approved.action === 'LINK') {
        await deps.bankPostings.linkUnidentified(trx, { postingRowId: target.id, instructionNo: String(approved.fields.instructionNo) });
        return;
      }
      const payee = approved.fields.payee as { name: string; accountNo: string; bankName: string };
      await deps.bankPostings.returnUnidentified(trx, { postingRowId: target.id, payee });
    },
    auditTarget: (target) => `unidentified:${target.posting_id}`,
    shownFields: (_action, fields) => shownPayeeFields(fields, deps.fieldCipher),
  };
}

/**
 * LINK applies to a live instruction crediting the posting's account with the posting's amount. A
 * credit of another amount is not linked: it would leave the instruction MISMATCHED and the
 * money out of every account's books; finance returns it instead (decision 0145).
 */
async function checkLinkable(trx: Knex.Transaction, target: postingsRepo.PostingRow, instructionNo: unknown): Promise<void> {
  const no = String(instructionNo);
  const instruction = await findLiveInstructionForPosting(trx, { instructionNo: no, accountNo: target.account_no, direction: 'CREDIT' });
  if (instruction === undefined) throw actionNotApplicable(`${no} is no live instruction crediting ${target.account_no}`, { postingId: target.posting_id, instructionNo: no, action: 'LINK' as ProposalAction });
  if (!new Decimal(instruction.amount).eq(new Decimal(target.amount))) {
    throw actionNotApplicable(`instruction ${no} is of ${instruction.amount}, the credit of ${target.amount}: only a credit of its amount is linked`, { postingId: target.posting_id, instructionNo: no, action: 'LINK' as ProposalAction });
  }
}
