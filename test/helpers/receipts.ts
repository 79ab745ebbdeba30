import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { findNoticeByPayCode } from '../../src/db/repositories/notices';
import { shanghaiDate } from '../../src/domain/businessDate';
import { assert } from '../../src/domain/errors';
import { amountDueForNotice } from '../../src/domain/lateFee';
import { type Decimal, formatMoney } from '../../src/domain/money';
import type { Services } from '../../src/services';
import { toNoticeRecord } from '../../src/services/noticeViews';
import { PublicLookupLimiter } from '../../src/services/publicLookupLimits';
import { insertReceipt, PreparedReceipt, type ReceiptDependencies, ReceiptService } from '../../src/services/receipts';
import type { TestService } from './testService';
import { ITEMS, SignedCall } from './builders';
import { issueNotice as issuePaymentNotice } from './payments';

/**
 * Paid notices with their receipts, for the receipt tests, made the way the payment posting
 * (docs/lifecycle.md §3.4) makes them: in one transaction, the notice locked, the late fees computed at
 * paidAt, the receipt prepared and inserted, and the notice marked PAID with its receipt number.
 * Until POST /v1/agency/payments exists this stands in for it; it writes only what a SUCCEEDED
 * payment writes to notices and receipts (no payment row, journal or events).
 */

/**
 * Issues the notice the receipt tests pay: two lines, one with a daily late fee (the fine of
 * 200.00 at 0.03 a day), due 2026-11-20, for a payer whose name has a middle dot.
 */
export function issueNotice(unit: SignedCall, overrides: Record<string, unknown> = {}): Promise<string> {
  return issuePaymentNotice(unit, {
    noticeType: 2,
    payer: { name: '乌力吉·巴特尔' },
    items: [
      { itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' },
      { itemCode: ITEMS.fine, amount: '200.00' },
    ],
    ...overrides,
  });
}

export interface PaymentStandIn {
  paidAt: Date;
  agencyCode: string;
  agencyTxnId?: string;
}

/**
 * Applies a payment of exactly the amount due to the notice, inside `trx`; answers the receipt.
 * `receipts` is the receipt service of the instance that posts (the test service's by default).
 */
export async function payNoticeIn(trx: Knex.Transaction, services: Services, payCode: string, payment: PaymentStandIn, receipts: ReceiptService = services.receipts): Promise<PreparedReceipt> {
  const row = await findNoticeByPayCode(trx, payCode, { lock: 'update' });
  assert(row !== undefined, `notice ${payCode} exists`);
  const notice = toNoticeRecord(row);
  const due = amountDueForNotice(
    notice.lines.map((line) => ({ amount: line.amount, rule: line.lateFeeRule })),
    notice.dueDate,
    shanghaiDate(payment.paidAt),
  );
  const items = notice.lines.map((line, index) => ({ itemCode: line.itemCode, itemName: line.itemName, amount: line.amount, lateFee: due.perItemLateFee[index] as Decimal }));
  const prepared = await receipts.prepareReceipt(
    {
      noticeId: notice.id,
      payCode,
      unitCode: notice.unitCode,
      unitName: notice.unitName,
      payerName: notice.payerName,
      items,
      totalAmount: due.totalAmount,
      lateFee: due.lateFee,
      paidAmount: due.amountDue,
      paidAt: payment.paidAt,
      agencyCode: payment.agencyCode,
      agencyTxnId: payment.agencyTxnId ?? `TXN-${crypto.randomBytes(6).toString('hex')}`,
    },
    trx,
  );
  await insertReceipt(trx, prepared);
  await trx('notices')
    .where({ id: notice.id })
    .update({ status: 'PAID', paid_at: payment.paidAt, paid_amount: formatMoney(due.amountDue), late_fee_paid: formatMoney(due.lateFee), receipt_no: prepared.receiptNo, updated_at: payment.paidAt });
  return prepared;
}

export async function payNotice(services: Services, payCode: string, payment: PaymentStandIn): Promise<PreparedReceipt> {
  return services.deps.db.transaction((trx) => payNoticeIn(trx, services, payCode, payment));
}

/** The stored signed bytes of a receipt, as the database holds them. */
export async function storedReceiptBytes(services: Services, receiptNo: string): Promise<Buffer> {
  const row = await services.deps.db('receipts').where({ receipt_no: receiptNo }).first('content');
  assert(row !== undefined, `receipt ${receiptNo} is stored`);
  return row.content as Buffer;
}

/** What the service wires into its ReceiptService, for more instances of it (other serial blocks, other keys). */
export function receiptDependencies(service: TestService): ReceiptDependencies {
  const wired = service.runtime.services;
  return {
    db: wired.deps.db,
    clocks: wired.deps.clocks,
    log: wired.deps.log,
    signer: wired.platformSigner,
    platformKeys: wired.platformKeys,
    publicBaseUrl: 'http://tongfu.test',
    limiter: new PublicLookupLimiter({ db: wired.deps.db, realClock: wired.deps.clocks.real, log: wired.deps.log }),
  };
}
