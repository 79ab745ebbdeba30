import crypto from 'node:crypto';
import type { Db } from '../../src/db/database';
import { verifyLedger } from '../../src/services/ledger';
import { ITEMS, type SignedCall } from './builders';

/**
 * Payment postings for tests: bodies, notices to post to, what a posting left in the database,
 * and the ledger check every scenario ends with.
 */

export function newTxnId(prefix = 'TXN'): string {
  return `${prefix}-${crypto.randomBytes(8).toString('hex')}`;
}

/** A posting body with defaults for what the test does not care about. */
export function postingBody(fields: { payCode: string; amount: string; paidAt: string; agencyTxnId?: string; channel?: string; fundsCaptured?: boolean; payerAccount?: { name: string; accountNo: string; bankName: string } }): Record<string, unknown> {
  return { agencyTxnId: fields.agencyTxnId ?? newTxnId(), channel: fields.channel ?? 'MOBILE', ...fields };
}

/** Issues a notice through the unit's API (the business clock must allow its dueDate); answers its payCode. */
export async function issueNotice(unit: SignedCall, overrides: Record<string, unknown> = {}): Promise<string> {
  const response = await unit('POST', '/v1/unit/notices', {
    bizRef: `PAY-${crypto.randomBytes(6).toString('hex')}`,
    noticeType: 1,
    payer: { name: '斯琴·图雅' },
    items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }],
    dueDate: '2026-11-20',
    ...overrides,
  });
  if (response.status !== 201) throw new Error(`issuing a notice failed: ${response.status} ${response.text}`);
  return response.body.payCode as string;
}

/** A valid payCode that names no notice: the sandbox kind (9) in a region no unit uses. */
export function unknownPayCode(serial = crypto.randomInt(1, 999_999_999)): string {
  const body = `999999269${String(serial).padStart(9, '0')}`;
  const check = 98 - Number((BigInt(`${body}00`) % 97n).toString());
  return `${body}${String(check).padStart(2, '0')}`;
}

/** A 20-digit code whose check digits are wrong. */
export function badCheckDigits(payCode: string): string {
  const last = payCode.slice(-1);
  return `${payCode.slice(0, -1)}${last === '9' ? '0' : String(Number(last) + 1)}`;
}

export interface PostingRows {
  payments: Array<Record<string, any>>;
  keys: number;
  entries: Array<{ id: string; kind: string; accounting_date: string; lines: Array<{ account: string; side: string; amount: string }> }>;
  refunds: Array<Record<string, any>>;
  events: Array<{ type: string; recipient_party_id: string; data: any }>;
  receipts: Array<Record<string, any>>;
}

/** Everything the postings of this agency transaction id left behind. */
export async function rowsOf(db: Db, agencyTxnId: string): Promise<PostingRows> {
  const payments = await db('payments').where({ agency_txn_id: agencyTxnId }).orderBy('id');
  const ids = payments.map((p) => p.id as string);
  const paymentIds = payments.map((p) => p.payment_id as string);
  const keys = (await db('payment_keys').where({ agency_txn_id: agencyTxnId }).count<{ count: string }[]>({ count: '*' }))[0]?.count;
  const entries = await db('journal_entries').whereIn('payment_id', ids).orderBy('id');
  const lines = await db('journal_lines').whereIn('entry_id', entries.map((e) => e.id as string)).orderBy(['entry_id', 'line_no']);
  const refunds = await db('refunds').whereIn('payment_id', ids).orderBy('id');
  const events = (await db('events').orderBy('id')).filter((event) => paymentIds.includes((event.data as { payment?: { paymentId?: string } }).payment?.paymentId ?? ''));
  const receipts = await db('receipts').where({ agency_txn_id: agencyTxnId });
  return {
    payments,
    keys: Number(keys ?? 0),
    entries: entries.map((entry) => ({
      id: entry.id,
      kind: entry.kind,
      accounting_date: entry.accounting_date,
      lines: lines.filter((line) => line.entry_id === entry.id).map((line) => ({ account: line.account, side: line.side, amount: line.amount })),
    })),
    refunds,
    events: events.map((event) => ({ type: event.type, recipient_party_id: event.recipient_party_id, data: event.data })),
    receipts,
  };
}

/** The posting wrote nothing at all: no payment, key, entry, refund, event or receipt. */
export async function expectNothingRecorded(db: Db, agencyTxnId: string): Promise<void> {
  const rows = await rowsOf(db, agencyTxnId);
  expect({ payments: rows.payments.length, keys: rows.keys, entries: rows.entries.length, refunds: rows.refunds.length, events: rows.events.length, receipts: rows.receipts.length }).toEqual({
    payments: 0,
    keys: 0,
    entries: 0,
    refunds: 0,
    events: 0,
    receipts: 0,
  });
}

/** `ledger verify` passes; on failure the breaks are shown. */
export async function expectLedgerVerified(db: Db): Promise<void> {
  const verification = await verifyLedger(db);
  const broken = verification.checks.filter((check) => !check.ok);
  expect(broken).toEqual([]);
  expect(verification.ok).toBe(true);
}

/** An instant as the wire writes it, in Shanghai time. */
export function shanghai(local: string): string {
  return `${local}+08:00`;
}
