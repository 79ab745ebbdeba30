import type { Knex } from 'knex';
import { assert } from '../../domain/errors';
import { RECEIPT_CODE_PATTERN } from '../../domain/receipt';
import type { Queryable } from '../database';

/**
 * Receipts, their reversals (migrations 20261127000041–42) and the sequences their serials come
 * from (20261127000040). Money comes back as the strings pg returns; the service parses it.
 */

/** A receipt as the payment writes it: the signed bytes and the columns that find it. */
export interface NewReceipt {
  receipt_no: string;
  check_code: string;
  notice_id: string;
  pay_code: string;
  agency_code: string;
  agency_txn_id: string;
  paid_amount: string;
  issued_at: Date;
  /** The exact bytes that were signed: the UTF-8 canonical JSON of the receipt. */
  content: Buffer;
  /** DER SM2 signature over `content`. */
  signature: Buffer;
  key_id: string;
}

export interface ReversalRow {
  refund_id: string | null;
  amount: string;
  reason: string;
  reversed_at: Date;
}

export interface ReceiptRow {
  receipt_no: string;
  check_code: string;
  notice_id: string;
  pay_code: string;
  paid_amount: string;
  content: Buffer;
  signature: Buffer;
  key_id: string;
  /** In the order they were recorded. */
  reversals: ReversalRow[];
}

// ---- serials ---------------------------------------------------------------------------------

/** The sequence of one receipt code. Built from digits only, and checked: it is written into SQL. */
export function receiptSerialSequence(receiptCode: string): string {
  assert(RECEIPT_CODE_PATTERN.test(receiptCode), `a receipt code is 150401yy, got ${JSON.stringify(receiptCode)}`);
  return `receipt_serial_${receiptCode}`;
}

/**
 * Draws `count` serials of a receipt code in one round trip. nextval is never rolled back, so the
 * serials belong to the caller whatever becomes of the transaction it runs in: a serial is never
 * handed out twice, and the ones a process never uses are the gaps docs/lifecycle.md §6 allows.
 */
export async function drawReceiptSerials(db: Queryable, receiptCode: string, count: number): Promise<string[]> {
  assert(Number.isInteger(count) && count >= 1 && count <= 10_000, `draw 1–10000 serials, not ${count}`);
  const result = await db.raw<{ rows: Array<{ serial: string }> }>('SELECT nextval(?::regclass)::text AS serial FROM generate_series(1, ?::int)', [receiptSerialSequence(receiptCode), count]);
  assert(result.rows.length === count, `drew ${count} serials, got ${result.rows.length}`);
  return result.rows.map((row) => row.serial);
}

// ---- writes ----------------------------------------------------------------------------------

/**
 * The INSERT of one receipt, for a payment that folds it into its own statement as a data-modifying
 * CTE: `WITH …, receipt AS (${RECEIPT_INSERT_SQL}) …`, with `receiptInsertBindings(row)` placed
 * where the fragment stands among the statement's bindings. It returns `receipt_no`.
 */
export const RECEIPT_INSERT_SQL = `INSERT INTO receipts (receipt_no, check_code, notice_id, pay_code, agency_code, agency_txn_id, paid_amount, issued_at, content, signature, key_id)
     VALUES (?, ?, ?::bigint, ?, ?, ?, ?::numeric, ?::timestamptz, ?::bytea, ?::bytea, ?)
     RETURNING receipt_no`;

/** The bindings of RECEIPT_INSERT_SQL, in its order. */
export function receiptInsertBindings(row: NewReceipt): Knex.RawBinding[] {
  return [row.receipt_no, row.check_code, row.notice_id, row.pay_code, row.agency_code, row.agency_txn_id, row.paid_amount, row.issued_at, row.content, row.signature, row.key_id];
}

export async function insertReceipt(db: Queryable, row: NewReceipt): Promise<void> {
  const result = await db.raw<{ rows: Array<{ receipt_no: string }> }>(RECEIPT_INSERT_SQL, receiptInsertBindings(row));
  assert(result.rows[0]?.receipt_no === row.receipt_no, `receipt ${row.receipt_no} was inserted`);
}

/** Receipts one INSERT of insertReceipts carries at most (a receipt's JSON is about 2 KB). */
export const RECEIPTS_PER_INSERT_MAX = 2_000;

/**
 * Many receipts in as few INSERTs as RECEIPTS_PER_INSERT_MAX allows, for a batch that applies
 * many payments at once (reconciliation's backfill): the same columns as RECEIPT_INSERT_SQL, the
 * signed bytes and signatures carried as base64.
 */
export async function insertReceipts(db: Queryable, rows: readonly NewReceipt[]): Promise<void> {
  for (let start = 0; start < rows.length; start += RECEIPTS_PER_INSERT_MAX) {
    const chunk = rows.slice(start, start + RECEIPTS_PER_INSERT_MAX);
    const json = JSON.stringify(chunk.map((row) => ({ ...row, content: row.content.toString('base64'), signature: row.signature.toString('base64') })));
    const result = await db.raw<{ rows: Array<{ count: number }> }>(
      `WITH inserted AS (
         INSERT INTO receipts (receipt_no, check_code, notice_id, pay_code, agency_code, agency_txn_id, paid_amount, issued_at, content, signature, key_id)
         SELECT r.receipt_no, r.check_code, r.notice_id, r.pay_code, r.agency_code, r.agency_txn_id, r.paid_amount, r.issued_at,
                decode(r.content, 'base64'), decode(r.signature, 'base64'), r.key_id
           FROM json_to_recordset(?::json) AS r(receipt_no text, check_code text, notice_id bigint, pay_code text, agency_code text, agency_txn_id text,
                                                paid_amount numeric, issued_at timestamptz, content text, signature text, key_id text)
         RETURNING 1
       )
       SELECT count(*)::int AS count FROM inserted`,
      [json],
    );
    assert(result.rows[0]?.count === chunk.length, `inserted ${chunk.length} receipts`);
  }
}

// ---- reads -----------------------------------------------------------------------------------

const RECEIPT_COLUMNS = `r.receipt_no, r.check_code, r.notice_id::text AS notice_id, r.pay_code, r.paid_amount, r.content, r.signature, r.key_id`;

/**
 * The reversals of receipt `r` as one JSON array, so a receipt and its reversals are one round
 * trip. The amount is text (json would write a JSON number) and the instant is epoch
 * milliseconds, which a JavaScript number holds exactly.
 */
const REVERSALS_COLUMN = `
  COALESCE((SELECT json_agg(json_build_object(
                     'refund_id', v.refund_id, 'amount', v.amount::text, 'reason', v.reason,
                     'reversed_at_ms', (extract(epoch FROM v.reversed_at) * 1000)::bigint
                   ) ORDER BY v.id)
              FROM receipt_reversals v WHERE v.receipt_no = r.receipt_no), '[]'::json) AS reversals`;

interface RawReceiptRow extends Omit<ReceiptRow, 'reversals'> {
  reversals: Array<Omit<ReversalRow, 'reversed_at'> & { reversed_at_ms: number }>;
}

function toReceiptRow(raw: RawReceiptRow): ReceiptRow {
  assert(Buffer.isBuffer(raw.content) && Buffer.isBuffer(raw.signature), `receipt ${raw.receipt_no} has its signed bytes and signature`);
  return {
    ...raw,
    reversals: raw.reversals.map(({ reversed_at_ms, ...reversal }) => ({ ...reversal, reversed_at: new Date(reversed_at_ms) })),
  };
}

export async function findReceiptByNo(db: Queryable, receiptNo: string): Promise<ReceiptRow | undefined> {
  const result = await db.raw<{ rows: RawReceiptRow[] }>(`SELECT ${RECEIPT_COLUMNS}, ${REVERSALS_COLUMN} FROM receipts r WHERE r.receipt_no = ?`, [receiptNo]);
  const row = result.rows[0];
  return row === undefined ? undefined : toReceiptRow(row);
}

/**
 * A unit's notice and its latest receipt, in one round trip: `notice` is false when the unit has
 * no notice with this payCode (none exists, or another unit's), `receipt` undefined when the
 * notice has never had one. A notice has more than one receipt only when reconciliation reversed
 * a payment and a later one paid it again; the latest is the one that stands.
 */
export async function findUnitReceipt(db: Queryable, unitPartyId: string, payCode: string): Promise<{ notice: boolean; receipt: ReceiptRow | undefined }> {
  const result = await db.raw<{ rows: Array<Partial<RawReceiptRow>> }>(
    `SELECT ${RECEIPT_COLUMNS}, ${REVERSALS_COLUMN}
       FROM notices n
       LEFT JOIN LATERAL (SELECT * FROM receipts x WHERE x.notice_id = n.id ORDER BY x.issued_at DESC, x.receipt_no DESC LIMIT 1) r ON true
      WHERE n.pay_code = ? AND n.unit_party_id = ?::bigint`,
    [payCode, unitPartyId],
  );
  const row = result.rows[0];
  if (row === undefined) return { notice: false, receipt: undefined };
  if (row.receipt_no === null || row.receipt_no === undefined) return { notice: true, receipt: undefined };
  return { notice: true, receipt: toReceiptRow(row as RawReceiptRow) };
}

// ---- reversals -------------------------------------------------------------------------------

/**
 * Locks a receipt for the rest of the transaction, so reversals of one receipt are decided one at
 * a time, and answers its paid amount. Receipts are never updated; FOR NO KEY UPDATE only orders
 * the writers of its reversals.
 */
export async function lockReceiptForReversal(db: Queryable, receiptNo: string): Promise<{ paid_amount: string } | undefined> {
  const result = await db.raw<{ rows: Array<{ paid_amount: string }> }>('SELECT paid_amount FROM receipts WHERE receipt_no = ? FOR NO KEY UPDATE', [receiptNo]);
  return result.rows[0];
}

/**
 * What a locked receipt's reversals add up to, and the amount of the reversal `refundId` already
 * made, if any (null for none). This must be a statement of its own after the lock: in READ
 * COMMITTED a statement reads with the snapshot it started with, so a sum computed in the locking
 * statement would miss the reversal of the transaction it waited for.
 */
export async function readReversals(db: Queryable, receiptNo: string, refundId: string | null): Promise<{ reversed_amount: string; existing_amount: string | null }> {
  const result = await db.raw<{ rows: Array<{ reversed_amount: string; existing_amount: string | null }> }>(
    `SELECT COALESCE(sum(v.amount), 0)::numeric(18, 2)::text AS reversed_amount,
            (sum(v.amount) FILTER (WHERE v.refund_id IS NOT DISTINCT FROM ?::text))::text AS existing_amount
       FROM receipt_reversals v WHERE v.receipt_no = ?`,
    [refundId, receiptNo],
  );
  const row = result.rows[0];
  assert(row !== undefined, 'an aggregate answers one row');
  return row;
}

export async function insertReversal(db: Queryable, receiptNo: string, reversal: ReversalRow): Promise<void> {
  await db.raw(`INSERT INTO receipt_reversals (receipt_no, refund_id, amount, reason, reversed_at) VALUES (?, ?, ?::numeric, ?, ?::timestamptz)`, [
    receiptNo,
    reversal.refund_id,
    reversal.amount,
    reversal.reason,
    reversal.reversed_at,
  ]);
}
