import type { Decimal as DecimalJs } from 'decimal.js';
import type { PaymentRow } from '../db/repositories/payments';
import { formatInstant } from '../domain/businessDate';
import { assert } from '../domain/errors';
import { Decimal, formatMoney } from '../domain/money';
import { UNAPPLIED_REASONS, type UnappliedReason } from '../domain/noticePricing';
import { PAYMENT_CHANNELS, type PaymentChannel } from '../domain/posting';
import { PAYMENT_STATUSES, type PaymentStatus } from '../domain/stateMachines';

/**
 * A payment in the domain's types, and its wire shape (docs/interface.md §6.3). The wire shape is what
 * the posting answers, what GET answers and what the payment events carry, so it is built in one
 * place.
 */
export interface PaymentRecord {
  paymentId: string;
  agencyCode: string;
  agencyTxnId: string;
  payCode: string;
  amount: DecimalJs;
  paidAt: Date;
  businessDate: string;
  channel: PaymentChannel;
  status: PaymentStatus;
  unappliedReason: UnappliedReason | null;
  /** The refund obligation of unapplied money. */
  refundId: string | null;
  /** The receipt an applied payment issued. */
  receiptNo: string | null;
  createdAt: Date;
}

/** `Payment` (contracts/openapi/31-agency-payments.yaml): optional fields are left out, not null. */
export interface PaymentWire {
  paymentId: string;
  agencyCode: string;
  agencyTxnId: string;
  payCode: string;
  amount: string;
  paidAt: string;
  businessDate: string;
  channel: PaymentChannel;
  status: PaymentStatus;
  unappliedReason?: UnappliedReason;
  refundId?: string;
  receiptNo?: string;
  createdAt: string;
}

export function paymentWire(payment: PaymentRecord): PaymentWire {
  return {
    paymentId: payment.paymentId,
    agencyCode: payment.agencyCode,
    agencyTxnId: payment.agencyTxnId,
    payCode: payment.payCode,
    amount: formatMoney(payment.amount),
    paidAt: formatInstant(payment.paidAt),
    businessDate: payment.businessDate,
    channel: payment.channel,
    status: payment.status,
    ...(payment.unappliedReason !== null ? { unappliedReason: payment.unappliedReason } : {}),
    ...(payment.refundId !== null ? { refundId: payment.refundId } : {}),
    ...(payment.receiptNo !== null ? { receiptNo: payment.receiptNo } : {}),
    createdAt: formatInstant(payment.createdAt),
  };
}

export function toPaymentRecord(row: PaymentRow): PaymentRecord {
  assert((PAYMENT_CHANNELS as readonly string[]).includes(row.channel), `payment ${row.payment_id} has a known channel`);
  assert((PAYMENT_STATUSES as readonly string[]).includes(row.status), `payment ${row.payment_id} has a known status`);
  assert(row.unapplied_reason === null || (UNAPPLIED_REASONS as readonly string[]).includes(row.unapplied_reason), `payment ${row.payment_id} has a known reason`);
  return {
    paymentId: row.payment_id,
    agencyCode: row.agency_code,
    agencyTxnId: row.agency_txn_id,
    payCode: row.pay_code,
    amount: new Decimal(row.amount),
    paidAt: row.paid_at,
    businessDate: row.business_date,
    channel: row.channel as PaymentChannel,
    status: row.status as PaymentStatus,
    unappliedReason: row.unapplied_reason as UnappliedReason | null,
    refundId: row.refund_id,
    receiptNo: row.receipt_no,
    createdAt: row.created_at,
  };
}
