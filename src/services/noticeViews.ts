/**
 * A notice as its unit, an agency and the public see it (docs/interface.md §6, §6.2, §6.3).
 *
 * The wire shapes live in the service layer, not in src/http/serializers, because the
 * `notice.voided` event carries the unit's `Notice` (docs/lifecycle.md §5) and is written inside the
 * service's transaction: one builder serves the HTTP answer and the event, so they cannot drift.
 */
import type { Decimal as DecimalJs } from 'decimal.js';
import type { NoticeItemRow, NoticeRow } from '../db/repositories/notices';
import { formatInstant, shanghaiDate } from '../domain/businessDate';
import { assert } from '../domain/errors';
import { amountDueForNotice, type LateFeeRule } from '../domain/lateFee';
import { Decimal, formatMoney, ZERO } from '../domain/money';
import { isPayable } from '../domain/noticePricing';
import { maskName, namesMatch } from '../domain/payer';
import type { NoticeStatus } from '../domain/stateMachines';

/** One line of a notice with its snapshot of the catalogue item, parsed. */
export interface NoticeLine {
  position: number;
  itemId: string;
  itemVersion: number;
  itemCode: string;
  itemName: string;
  incomeSortCode: string;
  budgetLevel: number;
  sharingRuleCode: string | null;
  receivingAccountNo: string;
  quantity: number;
  amount: DecimalJs;
  lateFeeRule: LateFeeRule;
  /** The late fee this line earned when the notice was paid; null until then. */
  lateFeePaid: DecimalJs | null;
}

/** A notice as the services work with it: the row, parsed. Never contains the payer's id number or mobile. */
export interface NoticeRecord {
  id: string;
  payCode: string;
  unitPartyId: string;
  unitCode: string;
  unitName: string;
  regionCode: string;
  bizRef: string;
  noticeType: number;
  status: NoticeStatus;
  payerName: string;
  payerIdNumberMasked: string | null;
  payerMobileMasked: string | null;
  totalAmount: DecimalJs;
  dueDate: string;
  expireDate: string | null;
  paidAt: Date | null;
  paidAmount: DecimalJs | null;
  receiptNo: string | null;
  /** When and why the unit voided it; both null unless VOIDED. */
  voidedAt: Date | null;
  voidReason: string | null;
  createdAt: Date;
  lines: NoticeLine[];
}

function lateFeeRuleOf(row: NoticeItemRow): LateFeeRule {
  if (row.late_fee_type === 'NONE') return { type: 'NONE' };
  assert(row.rate_per_day !== null && row.cap_ratio !== null, `a DAILY_RATE line of ${row.item_code} has its rate and cap (a CHECK says so)`);
  return { type: 'DAILY_RATE', ratePerDay: new Decimal(row.rate_per_day), capRatio: new Decimal(row.cap_ratio) };
}

export function toNoticeRecord(row: NoticeRow): NoticeRecord {
  const lines = row.items.map((item) => ({
    position: item.position,
    itemId: item.item_id,
    itemVersion: item.item_version,
    itemCode: item.item_code,
    itemName: item.item_name,
    incomeSortCode: item.income_sort_code,
    budgetLevel: item.budget_level,
    sharingRuleCode: item.sharing_rule_code,
    receivingAccountNo: item.receiving_account_no,
    quantity: item.quantity,
    amount: new Decimal(item.amount),
    lateFeeRule: lateFeeRuleOf(item),
    lateFeePaid: item.late_fee_paid === null ? null : new Decimal(item.late_fee_paid),
  }));
  const record: NoticeRecord = {
    id: row.id,
    payCode: row.pay_code,
    unitPartyId: row.unit_party_id,
    unitCode: row.unit_code,
    unitName: row.unit_name,
    regionCode: row.region_code,
    bizRef: row.biz_ref,
    noticeType: row.notice_type,
    status: row.status,
    payerName: row.payer_name,
    payerIdNumberMasked: row.payer_id_number_masked,
    payerMobileMasked: row.payer_mobile_masked,
    totalAmount: new Decimal(row.total_amount),
    dueDate: row.due_date,
    expireDate: row.expire_date,
    paidAt: row.paid_at,
    paidAmount: row.paid_amount === null ? null : new Decimal(row.paid_amount),
    receiptNo: row.receipt_no,
    voidedAt: row.voided_at,
    voidReason: row.void_reason,
    createdAt: row.created_at,
    lines,
  };
  // The total was computed from the lines when the notice was issued; they must still agree.
  assert(
    record.totalAmount.equals(lines.reduce((sum, line) => sum.plus(line.amount), new Decimal(0))),
    `notice ${record.payCode}: totalAmount equals the sum of its lines`,
  );
  return record;
}

/** What the notice costs as of a date. */
export interface Charges {
  totalAmount: DecimalJs;
  lateFee: DecimalJs;
  amountDue: DecimalJs;
}

/**
 * The late fee and amount due as of `referenceDate` (docs/lifecycle.md §2) while the notice is ISSUED;
 * a notice in any other status owes nothing now, so both are zero (docs/interface.md §6.2).
 */
export function chargesAsOf(notice: NoticeRecord, referenceDate: string): Charges {
  if (notice.status !== 'ISSUED') return { totalAmount: notice.totalAmount, lateFee: ZERO, amountDue: ZERO };
  const due = amountDueForNotice(
    notice.lines.map((line) => ({ amount: line.amount, rule: line.lateFeeRule })),
    notice.dueDate,
    referenceDate,
  );
  return { totalAmount: due.totalAmount, lateFee: due.lateFee, amountDue: due.amountDue };
}

/** `Notice` (docs/interface.md §6.2): what the issuing unit sees, and the data of `notice.voided`. */
export interface NoticeWire {
  payCode: string;
  bizRef: string;
  unitCode: string;
  unitName: string;
  noticeType: number;
  status: NoticeStatus;
  payer: { name: string; idNumberMasked: string | null; mobileMasked: string | null };
  items: Array<{ itemCode: string; itemName: string; quantity: number; amount: string; incomeSortCode: string; budgetLevel: number }>;
  totalAmount: string;
  dueDate: string;
  expireDate: string | null;
  amountDue: string;
  lateFee: string;
  paidAmount: string;
  paidAt: string | null;
  receiptNo: string | null;
  voidedAt: string | null;
  voidReason: string | null;
  payUrl: string;
  createdAt: string;
}

/** The payer's page for a notice; `publicBaseUrl` has no trailing slash (config.ts). */
export function payUrlFor(publicBaseUrl: string, payCode: string): string {
  return `${publicBaseUrl}/pay/${payCode}`;
}

export function noticeWire(notice: NoticeRecord, asOf: Date, publicBaseUrl: string): NoticeWire {
  const charges = chargesAsOf(notice, shanghaiDate(asOf));
  return {
    payCode: notice.payCode,
    bizRef: notice.bizRef,
    unitCode: notice.unitCode,
    unitName: notice.unitName,
    noticeType: notice.noticeType,
    status: notice.status,
    // The issuing unit sees the payer's whole name; id number and mobile only ever masked.
    payer: { name: notice.payerName, idNumberMasked: notice.payerIdNumberMasked, mobileMasked: notice.payerMobileMasked },
    items: notice.lines.map((line) => ({
      itemCode: line.itemCode,
      itemName: line.itemName,
      quantity: line.quantity,
      amount: formatMoney(line.amount),
      incomeSortCode: line.incomeSortCode,
      budgetLevel: line.budgetLevel,
    })),
    totalAmount: formatMoney(charges.totalAmount),
    dueDate: notice.dueDate,
    expireDate: notice.expireDate,
    amountDue: formatMoney(charges.amountDue),
    lateFee: formatMoney(charges.lateFee),
    paidAmount: formatMoney(notice.paidAmount ?? ZERO),
    paidAt: notice.paidAt === null ? null : formatInstant(notice.paidAt),
    receiptNo: notice.receiptNo,
    voidedAt: notice.voidedAt === null ? null : formatInstant(notice.voidedAt),
    voidReason: notice.voidReason,
    payUrl: payUrlFor(publicBaseUrl, notice.payCode),
    createdAt: formatInstant(notice.createdAt),
  };
}

/**
 * The answer the notice's creation gave, rebuilt from what was stored: a repeat of the same
 * request gets it back (docs/interface.md §4), whatever has happened to the notice since. At creation a
 * notice is ISSUED and unpaid, and everything else in the answer is the immutable snapshot, so
 * nothing but the answer's time (its `createdAt`) needs storing.
 */
export function creationAnswer(notice: NoticeRecord, publicBaseUrl: string): NoticeWire {
  const asCreated: NoticeRecord = { ...notice, status: 'ISSUED', paidAt: null, paidAmount: null, receiptNo: null, voidedAt: null, voidReason: null };
  return noticeWire(asCreated, notice.createdAt, publicBaseUrl);
}

/** The lines as agencies and the public see them: name and amount only. */
function publicLines(notice: NoticeRecord): Array<{ itemName: string; amount: string }> {
  return notice.lines.map((line) => ({ itemName: line.itemName, amount: formatMoney(line.amount) }));
}

/** Whether a payment made today could pay the notice (docs/lifecycle.md §1). */
export function payableOn(notice: NoticeRecord, date: string): boolean {
  return isPayable({ status: notice.status, expireDate: notice.expireDate }, date);
}

/** `GET /v1/agency/notices/{payCode}` (docs/interface.md §6.3). */
export interface VerificationWire {
  payCode: string;
  status: NoticeStatus;
  payable: boolean;
  unitCode: string;
  unitName: string;
  payerNameMasked: string;
  payerNameMatches?: boolean;
  items: Array<{ itemName: string; amount: string }>;
  totalAmount: string;
  lateFee: string;
  amountDue: string;
  dueDate: string;
  expireDate: string | null;
  asOf: string;
}

export function verificationWire(notice: NoticeRecord, asOf: Date, payerName: string | undefined): VerificationWire {
  const today = shanghaiDate(asOf);
  const charges = chargesAsOf(notice, today);
  return {
    payCode: notice.payCode,
    status: notice.status,
    payable: payableOn(notice, today),
    unitCode: notice.unitCode,
    unitName: notice.unitName,
    payerNameMasked: maskName(notice.payerName),
    ...(payerName === undefined ? {} : { payerNameMatches: namesMatch(notice.payerName, payerName) }),
    items: publicLines(notice),
    totalAmount: formatMoney(charges.totalAmount),
    lateFee: formatMoney(charges.lateFee),
    amountDue: formatMoney(charges.amountDue),
    dueDate: notice.dueDate,
    expireDate: notice.expireDate,
    asOf: formatInstant(asOf),
  };
}

/** `GET /v1/public/notices/{payCode}` (docs/interface.md §6). */
export interface PublicNoticeWire {
  payCode: string;
  unitName: string;
  payerNameMasked: string;
  items: Array<{ itemName: string; amount: string }>;
  totalAmount: string;
  lateFee: string;
  amountDue: string;
  dueDate: string;
  status: NoticeStatus;
  payable: boolean;
}

export function publicNoticeWire(notice: NoticeRecord, asOf: Date): PublicNoticeWire {
  const today = shanghaiDate(asOf);
  const charges = chargesAsOf(notice, today);
  return {
    payCode: notice.payCode,
    unitName: notice.unitName,
    payerNameMasked: maskName(notice.payerName),
    items: publicLines(notice),
    totalAmount: formatMoney(charges.totalAmount),
    lateFee: formatMoney(charges.lateFee),
    amountDue: formatMoney(charges.amountDue),
    dueDate: notice.dueDate,
    status: notice.status,
    payable: payableOn(notice, today),
  };
}
