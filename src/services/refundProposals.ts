import type { FieldCipher } from '../crypto/fieldCipher';
import * as repo from '../db/repositories/refunds';
import { validationFailed } from '../domain/errors';
import { actionNotApplicable } from '../domain/proposals';
import type { Logger } from '../logger';
import type { ProposalTargetHandler } from './proposals';
import { instructRefund, payeeProblems, shownPayeeFields } from './refunds';

/**
 * The refund's maker-checker target (docs/settlement.md §2 "Maker-checker, one pattern", §3;
 * contracts/decisions/0152-set-payee.md), plugged into the engine of src/services/proposals.ts
 * like settlement's handlers:
 *
 * | kind | addressed by | action | fields | applies when | an approval |
 * |---|---|---|---|---|---|
 * | REFUND | refundId | SET_PAYEE | `{payee: {name, accountNo, bankName}}` | the refund is APPROVED and has no payee (an unapplied obligation whose agency did not say whose money it was) | the payee stored (encrypted), and the refund instructed at once by the executor rule (instructRefund) |
 *
 * Applicability is checked when proposed and again, under the locks, when approved.
 */
export function refundHandler(deps: { fieldCipher: FieldCipher; log: Logger }): ProposalTargetHandler<repo.RefundRow> {
  return {
    kind: 'REFUND',
    actions: ['SET_PAYEE'],
    async lock(trx, refundId) {
      const found = await repo.findRefundByPublicId(trx, refundId);
      if (found === undefined) return undefined;
      // The payment first, then the refund: the order every refund move takes.
      await repo.lockPaymentOfRefund(trx, found.payment_row_id);
      await repo.lockRefund(trx, found.id);
      const [locked] = await repo.findRefundsByRowIds(trx, [found.id]);
      return locked;
    },
    rowId: (target) => target.id,
    fields(_action, input) {
      const problems = payeeProblems(input.payee, '/payee');
      if (problems.length > 0) throw validationFailed(problems);
      const payee = input.payee as { name: string; accountNo: string; bankName: string };
      // A payee is a person's data: stored encrypted, like payers' accounts (bankName is not personal).
      return { payee: { name: deps.fieldCipher.encrypt(payee.name), accountNo: deps.fieldCipher.encrypt(payee.accountNo), bankName: payee.bankName } };
    },
    async checkApplicable(_trx, target, action) {
      const details = { refundId: target.refund_id, status: target.status, action };
      if (target.status !== 'APPROVED') throw actionNotApplicable(`refund ${target.refund_id} is ${target.status}: only an APPROVED refund waiting for its payee is given one`, details);
      if (target.payee_account_no !== null) throw actionNotApplicable(`refund ${target.refund_id} has its payee already`, details);
    },
    async execute(trx, target, approved) {
      const payee = approved.fields.payee as { name: string; accountNo: string; bankName: string };
      await repo.setPayee(trx, target.id, payee, approved.at);
      await instructRefund(trx, { refundRowId: target.id, at: approved.at, log: deps.log });
    },
    auditTarget: (target) => `refund:${target.refund_id}`,
    shownFields: (_action, fields) => shownPayeeFields(fields, deps.fieldCipher),
  };
}
