import type { Knex } from 'knex';
import type { SettledItemForRecognition } from '../db/repositories/instructions';
import { insertRefundedRevenueShares, insertSettledRevenueShares, type NewRefundedRevenueShare, type NewSettledRevenueShare } from '../db/repositories/revenue';
import { assert } from '../domain/errors';
import type { ItemRecognition } from '../domain/ledger';
import { formatMoney } from '../domain/money';

/**
 * Revenue sharing (分成, docs/settlement.md §4, contracts/decisions/0155-settled-revenue-shares.md):
 * the settlement confirmation's hook that stores each settled item per budget level — exactly the
 * recognition the SETTLEMENT_CONFIRMED entry was built from (src/domain/ledger.ts recogniseItems:
 * levels 1–5 whole, level 0 split by the notice's snapshotted shares, half-up, the remainder on
 * the last share). Runs in the confirmation's transaction, once per confirmed settlement (the
 * confirmation moves the instruction to CONFIRMED, a final state, in the same transaction).
 */
export async function storeSettledRevenueShares(
  trx: Knex.Transaction,
  input: { instructionId: string; businessDate: string; items: readonly SettledItemForRecognition[]; recognition: readonly ItemRecognition[]; at: Date },
): Promise<void> {
  assert(input.items.length === input.recognition.length, 'one recognition per settled item');
  const shares: NewSettledRevenueShare[] = [];
  input.items.forEach((item, index) => {
    const recognised = input.recognition[index] as ItemRecognition;
    recognised.shares.forEach((share, sharePosition) => {
      shares.push({ paymentId: item.payment_id, linePosition: Number(item.line_position), sharePosition, budgetLevel: share.budgetLevel, amount: formatMoney(share.amount) });
    });
  });
  await insertSettledRevenueShares(trx, { instructionId: input.instructionId, businessDate: input.businessDate, recognisedAt: input.at, shares });
}

/** One refunded notice line: the confirmed refund instruction that debited its account, and its recognition by the refund's entry. */
export interface RefundedItemShares {
  instructionId: string;
  linePosition: number;
  recognition: ItemRecognition;
}

/**
 * The bank refund's hook (contracts/decisions/0215-refunded-revenue-shares.md): stores each
 * refunded notice line per budget level — exactly the recognition the BANK_REFUND_CONFIRMED entry
 * debited from the revenue accounts (bankRefundConfirmedEntry, the same recogniseItems as a
 * settlement's) —, in the refund's success transaction, once per refund (it moves the refund to
 * SUCCEEDED, a final state, in the same transaction). The revenue report's byLevel is the settled
 * shares less these.
 */
export async function storeRefundedRevenueShares(trx: Knex.Transaction, input: { refundId: string; paymentId: string; items: readonly RefundedItemShares[]; at: Date }): Promise<void> {
  const shares: NewRefundedRevenueShare[] = [];
  for (const item of input.items) {
    item.recognition.shares.forEach((share, sharePosition) => {
      shares.push({ instructionId: item.instructionId, linePosition: item.linePosition, sharePosition, budgetLevel: share.budgetLevel, amount: formatMoney(share.amount) });
    });
  }
  await insertRefundedRevenueShares(trx, { refundId: input.refundId, paymentId: input.paymentId, refundedAt: input.at, shares });
}
