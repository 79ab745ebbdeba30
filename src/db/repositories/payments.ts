import type { Knex } from 'knex';
import { assert } from '../../domain/errors';
import { compileStatement, type CompiledStatement, type StatementRunner } from '../statements';
import { JOURNAL_ENTRY_INSERT_CTES, type JournalEntryParameters } from './ledger';
import { RECEIPT_INSERT_SQL } from './receipts';
import { distinctNonceBatch, type NonceClaimValues, nonceClaimCte, nonceClaimsCte } from './requestNonces';

/**
 * Payments, their keys, refund obligations and their journal entries (migrations
 * 20261127000030–32): the posting's two statements, and the reads of a payment.
 *
 * ## The posting's round trips
 *
 * A posting is decided in code (late fees, the state machines, the receipt's signature) between a
 * read and a write, and both are one statement each:
 *
 *   1. READ  — the agency's cut-off, its key (bound? to which payment?) and the notice with its
 *              lines, by payCode, with the notice's row version (`xmin`);
 *   2. WRITE — one statement of data-modifying CTEs: lock the notice and check its version is the
 *              one read; bind the key; insert the payment; mark the notice paid and each line's late
 *              fee; insert the journal entry and its lines (the journal writer's own SQL,
 *              src/db/repositories/ledger.ts); the receipt (applied) or the refund obligation
 *              (unapplied); the events. It commits on its own (autocommit): one statement is one
 *              transaction.
 *
 * The notice is locked FOR UPDATE for the whole of the transaction that writes, and the write
 * happens only if the notice is still the version the decision was made on, so concurrent
 * postings for one notice are decided one at a time (docs/lifecycle.md §3.2): a posting that finds the
 * notice changed, or its key bound meanwhile, writes nothing and raises (SQLSTATE TF001/TF002);
 * the service then decides again under `SELECT … FOR UPDATE` in an explicit transaction. See
 * contracts/decisions/0030-posting-statements.md for why the uncontended case takes no explicit
 * transaction (two round trips instead of four).
 *
 * Statements are written with named parameters (`@name`) and compiled once (src/db/statements.ts):
 * run as named prepared statements on a raw `pg` connection, so the server parses and plans each
 * once per connection, and with knex's `?` inside a knex transaction on the locked path.
 */

// ---- 1. READ ---------------------------------------------------------------------------------

/** One line of the notice as the posting reads it (numerics as text, never JSON numbers). */
export interface PostingNoticeItemRow {
  position: number;
  item_code: string;
  item_name: string;
  amount: string;
  receiving_account_no: string;
  late_fee_type: 'NONE' | 'DAILY_RATE';
  rate_per_day: string | null;
  cap_ratio: string | null;
}

export interface PostingReadRow {
  /**
   * The row id the payment gets if this posting writes one (`nextval`, drawn by the read so that
   * the journal entry is built whole, its payment reference included, before the write; a read
   * that writes nothing leaves a gap in the sequence, which is harmless).
   */
  payment_row_id: string;
  agency_code: string;
  cutoff_time: string;
  key_bound: boolean;
  key_request_hash: string | null;
  bound_payment_id: string | null;
  bound_agency_code: string | null;
  bound_agency_txn_id: string | null;
  bound_pay_code: string | null;
  bound_amount: string | null;
  bound_paid_at: Date | null;
  bound_business_date: string | null;
  bound_channel: string | null;
  bound_status: string | null;
  bound_unapplied_reason: string | null;
  bound_receipt_no: string | null;
  bound_refund_id: string | null;
  bound_created_at: Date | null;
  /** Encrypted (src/crypto/fieldCipher.ts), as written. */
  bound_payer_account_name: string | null;
  bound_payer_account_no: string | null;
  notice_id: string | null;
  /** The notice row's version (`xmin`): the write proceeds only if it is unchanged. */
  notice_version: string | null;
  notice_status: string | null;
  notice_due_date: string | null;
  notice_expire_date: string | null;
  notice_created_at: Date | null;
  notice_unit_party_id: string | null;
  notice_unit_code: string | null;
  notice_unit_name: string | null;
  notice_biz_ref: string | null;
  notice_payer_name: string | null;
  notice_total_amount: string | null;
  notice_items: PostingNoticeItemRow[] | null;
}

/** The bound payment's columns, as the replay and GET answer them. */
const BOUND_PAYMENT_COLUMNS = `
       p.payment_id AS bound_payment_id, p.agency_code AS bound_agency_code, p.agency_txn_id AS bound_agency_txn_id,
       p.pay_code AS bound_pay_code, p.amount::text AS bound_amount, p.paid_at AS bound_paid_at,
       p.business_date AS bound_business_date, p.channel AS bound_channel, p.status AS bound_status,
       p.unapplied_reason AS bound_unapplied_reason, p.receipt_no AS bound_receipt_no, r.refund_id AS bound_refund_id,
       p.created_at AS bound_created_at, p.payer_account_name AS bound_payer_account_name, p.payer_account_no AS bound_payer_account_no`;

/** The request nonce's claim, folded into the unlocked read (decision 0009). */
const NONCE_CLAIM_CTE = `${nonceClaimCte({ appId: '@nonce_app_id', nonce: '@nonce', seenAt: '@nonce_seen_at', signedAt: '@nonce_signed_at', reusableAtOrBefore: '@nonce_reusable_at' })},\n`;

/** The notice a posting is decided on, with its lines, as the read's `notice` answers it. */
const NOTICE_READ_COLUMNS = `n.id::text AS notice_id, n.xmin::text AS notice_version, n.status AS notice_status,
         n.due_date AS notice_due_date, n.expire_date AS notice_expire_date, n.created_at AS notice_created_at,
         n.unit_party_id::text AS notice_unit_party_id, n.unit_code AS notice_unit_code, n.unit_name AS notice_unit_name,
         n.biz_ref AS notice_biz_ref, n.payer_name AS notice_payer_name, n.total_amount::text AS notice_total_amount,
         (SELECT json_agg(json_build_object(
                   'position', i.position, 'item_code', i.item_code, 'item_name', i.item_name, 'amount', i.amount::text,
                   'receiving_account_no', i.receiving_account_no, 'late_fee_type', i.late_fee_type,
                   'rate_per_day', i.rate_per_day::text, 'cap_ratio', i.cap_ratio::text) ORDER BY i.position)
            FROM notice_items i WHERE i.notice_id = n.id) AS notice_items`;

/** The agency, its key and the key's payment, for `agencyParty` and `agencyTxnId` (SQL expressions). */
function keyReadColumnsAndJoins(agencyTxnId: string): { columns: string; joins: string } {
  return {
    columns: `nextval('payments_id_seq')::text AS payment_row_id, a.code AS agency_code, a.cutoff_time,
       (k.agency_party_id IS NOT NULL) AS key_bound, k.request_hash AS key_request_hash,${BOUND_PAYMENT_COLUMNS}`,
    joins: `LEFT JOIN payment_keys k ON k.agency_party_id = a.id AND k.agency_txn_id = ${agencyTxnId}
  LEFT JOIN payments p ON p.id = k.payment_id
  LEFT JOIN refunds r ON r.payment_id = p.id AND r.refund_no IS NULL`,
  };
}

function postingReadText(lock: boolean, claimNonce: boolean): string {
  const key = keyReadColumnsAndJoins('@agency_txn_id');
  return `
WITH ${claimNonce ? NONCE_CLAIM_CTE : ''}notice AS (
  SELECT ${NOTICE_READ_COLUMNS}
    FROM notices n
   WHERE n.pay_code = @pay_code${lock ? '\n     FOR UPDATE OF n' : ''}
)
SELECT ${key.columns},
       notice.*${claimNonce ? ',\n       (SELECT count(*) FROM nonce_claim)::int AS nonce_claimed' : ''}
  FROM parties a
  ${key.joins}
  LEFT JOIN notice ON true
 WHERE a.id = @agency_party_id::bigint AND a.role = 'agency'`;
}

/**
 * The unlocked, nonce-storing read for a batch of postings (decision 0175): one row per posting
 * in the batch's order, each as postingReadText(false, true) answers it alone.
 */
const POSTING_READS_CLAIMING_NONCES_TEXT = (() => {
  const key = keyReadColumnsAndJoins('input.agency_txn_id');
  return `
WITH input AS (
  SELECT * FROM unnest(@agency_party_ids::bigint[], @agency_txn_ids::text[], @pay_codes::text[], @app_ids::text[], @nonces::text[],
                       @seen_ats::timestamptz[], @signed_ats::timestamptz[])
           WITH ORDINALITY AS t(agency_party_id, agency_txn_id, pay_code, app_id, nonce, seen_at, signed_at, position)
), ${nonceClaimsCte('input', '@reuse_window_ms')}
SELECT input.position::int AS position, (c.nonce IS NOT NULL) AS nonce_claimed, ${key.columns},
       notice.*
  FROM input
  JOIN parties a ON a.id = input.agency_party_id AND a.role = 'agency'
  LEFT JOIN nonce_claims c ON c.app_id = input.app_id AND c.nonce = input.nonce
  ${key.joins}
  LEFT JOIN LATERAL (SELECT ${NOTICE_READ_COLUMNS} FROM notices n WHERE n.pay_code = input.pay_code) AS notice ON true
 ORDER BY input.position`;
})();

const POSTING_READ = compileStatement('posting_read', postingReadText(false, false));
const POSTING_READ_CLAIMING_NONCE = compileStatement('posting_read_nonce', postingReadText(false, true));
const POSTING_READ_LOCKED = compileStatement('posting_read_locked', postingReadText(true, false));
const POSTING_READS_CLAIMING_NONCES = compileStatement('posting_reads_nonces', POSTING_READS_CLAIMING_NONCES_TEXT);

export interface PostingReadParameters {
  agencyPartyId: string;
  agencyTxnId: string;
  /** null when the code fails its check digits: such a code is never looked up. */
  payCode: string | null;
}

/**
 * Reads what a posting is decided on, in one round trip. `lock` holds the notice FOR UPDATE until
 * the transaction ends (the locked path runs in an explicit transaction); `nonce` is stored by the
 * same statement (unlocked reads only), and `nonceClaimed` says whether it was free. Exactly one
 * row: the agency exists, since it signed the request.
 */
export async function readForPosting(
  runner: StatementRunner,
  parameters: PostingReadParameters,
  options: { lock: boolean; nonce?: NonceClaimValues },
): Promise<{ row: PostingReadRow; nonceClaimed: boolean }> {
  const { lock, nonce } = options;
  assert(!(lock && nonce), 'a nonce is stored by the unlocked read');
  const values: Record<string, unknown> = {
    agency_party_id: parameters.agencyPartyId,
    agency_txn_id: parameters.agencyTxnId,
    pay_code: parameters.payCode,
  };
  if (nonce) Object.assign(values, { nonce_app_id: nonce.appId, nonce: nonce.nonce, nonce_seen_at: nonce.seenAt, nonce_signed_at: nonce.signedAt ?? nonce.seenAt, nonce_reusable_at: nonce.reusableAtOrBefore });
  const statement = lock ? POSTING_READ_LOCKED : nonce ? POSTING_READ_CLAIMING_NONCE : POSTING_READ;
  const rows = await runner.run<PostingReadRow & { nonce_claimed?: number }>(statement, values);
  assert(rows.length === 1, `agency party ${parameters.agencyPartyId} exists (read ${rows.length} rows)`);
  const { nonce_claimed: nonceClaimedCount, ...row } = rows[0]!;
  assert(row.notice_id === null || (Array.isArray(row.notice_items) && row.notice_items.length > 0), `notice ${row.notice_id} has lines`);
  return { row, nonceClaimed: nonce === undefined || nonceClaimedCount === 1 };
}

/** One posting's unlocked read in a batch: what it reads, and the request's nonce to store. */
export interface BatchedPostingRead {
  parameters: PostingReadParameters;
  nonce: NonceClaimValues;
}

/**
 * readForPosting's unlocked, nonce-storing read for many postings in one statement (decision
 * 0175), each answered as if alone. A nonce that appears twice in the batch is claimed by its
 * first posting only; the later one reads as a used nonce (it is sent once, and answered no row).
 */
export async function readForPostingsClaimingNonces(runner: StatementRunner, reads: readonly BatchedPostingRead[]): Promise<Array<{ row: PostingReadRow | undefined; nonceClaimed: boolean }>> {
  const batch = distinctNonceBatch(reads, (read) => read.nonce);
  const rows = await runner.run<PostingReadRow & { position: number; nonce_claimed: boolean }>(POSTING_READS_CLAIMING_NONCES, {
    agency_party_ids: batch.sent.map((read) => read.parameters.agencyPartyId),
    agency_txn_ids: batch.sent.map((read) => read.parameters.agencyTxnId),
    pay_codes: batch.sent.map((read) => read.parameters.payCode),
    ...batch.nonceValues,
  });
  assert(rows.length === batch.sent.length, `every agency of the batch exists (read ${rows.length} rows for ${batch.sent.length})`);
  const answers = rows.map(({ position, nonce_claimed: nonceClaimed, ...row }, index) => {
    assert(position === index + 1, 'rows in the order of the batch');
    assert(row.notice_id === null || (Array.isArray(row.notice_items) && row.notice_items.length > 0), `notice ${row.notice_id} has lines`);
    return { row: row as PostingReadRow | undefined, nonceClaimed };
  });
  return batch.answer(answers, { row: undefined, nonceClaimed: false });
}

// ---- 2. WRITE --------------------------------------------------------------------------------

/**
 * Which checks and writes a posting needs:
 * - APPLIED: the notice is locked and must be the version read; it is marked paid; a receipt.
 * - UNAPPLIED_NOTICE: the code names a notice that cannot take the payment; the notice is locked
 *   and must be the version read (the reason was decided on it), but is not changed.
 * - UNAPPLIED_ABSENT: a valid code that named no notice; still none when the write runs.
 * - UNAPPLIED_INVALID: a code failing its check digits, never looked up.
 */
export type PostingVariant = 'APPLIED' | 'UNAPPLIED_NOTICE' | 'UNAPPLIED_ABSENT' | 'UNAPPLIED_INVALID';

/** SQLSTATEs the write raises when it lost a race and wrote nothing. */
export const POSTING_LOST_NOTICE_CHANGED = 'TF001';
export const POSTING_LOST_KEY_BOUND = 'TF002';

const CHECKED: Record<PostingVariant, string> = {
  APPLIED: `SELECT n.id FROM notices n WHERE n.id = @notice_id::bigint AND n.xmin = @notice_version::xid FOR UPDATE`,
  UNAPPLIED_NOTICE: `SELECT n.id FROM notices n WHERE n.id = @notice_id::bigint AND n.xmin = @notice_version::xid FOR UPDATE`,
  UNAPPLIED_ABSENT: `SELECT NULL::bigint AS id WHERE NOT EXISTS (SELECT 1 FROM notices n WHERE n.pay_code = @pay_code)`,
  UNAPPLIED_INVALID: `SELECT NULL::bigint AS id`,
};

/** `?` placeholders of the receipts repository's INSERT, renamed @receipt_0…; its bindings fill them in order. */
let receiptParameterCount = 0;
const RECEIPT_INSERT = RECEIPT_INSERT_SQL.replace(/\?/g, () => `@receipt_${receiptParameterCount++}`);
export const RECEIPT_PARAMETER_COUNT = receiptParameterCount;

function postingWriteText(variant: PostingVariant): string {
  const applied = variant === 'APPLIED';
  const ctes: string[] = [
    `checked AS (${CHECKED[variant]})`,
    // The key is bound only once the notice is locked and unchanged; a key bound meanwhile (a
    // concurrent repeat) waits for that transaction, then inserts nothing.
    `payment_key AS (
  INSERT INTO payment_keys (agency_party_id, agency_txn_id, request_hash, payment_id, pay_code, amount, created_at)
  SELECT @agency_party_id::bigint, @agency_txn_id, @request_hash, @payment_row_id::bigint, @pay_code, @amount::numeric, @now::timestamptz FROM checked
  ON CONFLICT (agency_party_id, agency_txn_id) DO NOTHING
  RETURNING payment_id
)`,
    `payment AS (
  INSERT INTO payments (id, payment_id, agency_party_id, agency_code, agency_txn_id, pay_code, notice_id, amount, paid_at,
                        business_date, channel, funds_captured, payer_account_name, payer_account_no, payer_bank_name,
                        status, unapplied_reason, receipt_no, created_at, updated_at)
  SELECT payment_key.payment_id, @payment_id, @agency_party_id::bigint, @agency_code, @agency_txn_id, @pay_code, @notice_id::bigint,
         @amount::numeric, @paid_at::timestamptz, @business_date::date, @channel, @funds_captured::boolean,
         @payer_account_name, @payer_account_no, @payer_bank_name, @payment_status, @unapplied_reason, @receipt_no,
         @now::timestamptz, @now::timestamptz
    FROM payment_key
  RETURNING id
)`,
    // The journal writer's own INSERTs (src/db/repositories/ledger.ts), from the parameters of the
    // entry the domain built (journalEntryParameters). Like the receipt's, they are not
    // conditional on the payment: the guard below rolls the statement back if no payment was
    // written, before the entry's reference to it is checked at the statement's end.
    JOURNAL_ENTRY_INSERT_CTES,
    // The events outbox (src/services/events.ts, recordEvent): the payload once in event_bodies,
    // one narrow inbox row per recipient, unnumbered until the sequencer numbers it after commit
    // (contracts/decisions/0120-event-storage.md). Folded in here so it costs no round trip.
    `event_body AS (
  INSERT INTO event_bodies (event_id, type, occurred_at, data)
  SELECT @event_id, @event_type, @now::timestamptz, @event_data::json FROM payment
  RETURNING id
)`,
    `event_rows AS (
  INSERT INTO event_inbox (body_id, recipient_party_id)
  SELECT event_body.id, recipient.id
    FROM event_body,
         (SELECT r.value::bigint AS id FROM json_array_elements_text(@event_recipients::json) AS r
          UNION
          SELECT f.id FROM parties f WHERE @event_to_finance::boolean AND f.role = 'finance') AS recipient
  RETURNING recipient_party_id
)`,
  ];
  if (applied) {
    ctes.push(
      `notice AS (
  UPDATE notices n
     SET status = @notice_status, paid_at = @paid_at::timestamptz, paid_amount = @amount::numeric,
         late_fee_paid = @late_fee_paid::numeric, receipt_no = @receipt_no, updated_at = @now::timestamptz
    FROM payment
   WHERE n.id = @notice_id::bigint
  RETURNING n.id
)`,
      `notice_lines AS (
  UPDATE notice_items i
     SET late_fee_paid = f.late_fee_paid
    FROM notice, json_to_recordset(@line_late_fees::json) AS f(position smallint, late_fee_paid numeric)
   WHERE i.notice_id = notice.id AND i.position = f.position
  RETURNING i.position
)`,
      // The receipts repository's INSERT (src/services/receipts.ts, receiptInsert). It is not
      // conditional on the payment, so the guard below rolls the statement back if no payment
      // was written.
      `receipt AS (${RECEIPT_INSERT})`,
    );
  } else {
    ctes.push(`refund AS (
  INSERT INTO refunds (refund_id, payment_id, pay_code, amount, reason, payee_name, payee_account_no, payee_bank_name,
                       status, approval, approved_at, created_at, updated_at)
  SELECT @refund_id, payment.id, @pay_code, @amount::numeric, @unapplied_reason, @payer_account_name, @payer_account_no,
         @payer_bank_name, @refund_status, 'AUTO_POLICY', @now::timestamptz, @now::timestamptz, @now::timestamptz
    FROM payment
  RETURNING id
)`);
  }
  const counts = applied
    ? `(SELECT count(*) FROM notice)::int AS notices, (SELECT count(*) FROM notice_lines)::int AS notice_lines, (SELECT count(*) FROM receipt)::int AS receipts, 0 AS refunds`
    : `0 AS notices, 0 AS notice_lines, 0 AS receipts, (SELECT count(*) FROM refund)::int AS refunds`;
  return `WITH ${ctes.join(',\n')}
SELECT (SELECT id::text FROM payment) AS payment_row_id,
       (SELECT count(*) FROM journal_entry_lines)::int AS entry_lines,
       (SELECT count(*) FROM event_rows)::int AS events,
       ${counts},
       posting_guard((SELECT count(*) FROM checked), (SELECT count(*) FROM payment)) AS written`;
}

const POSTING_WRITES: Record<PostingVariant, CompiledStatement> = {
  APPLIED: compileStatement('posting_applied', postingWriteText('APPLIED')),
  UNAPPLIED_NOTICE: compileStatement('posting_unapplied_notice', postingWriteText('UNAPPLIED_NOTICE')),
  UNAPPLIED_ABSENT: compileStatement('posting_unapplied_absent', postingWriteText('UNAPPLIED_ABSENT')),
  UNAPPLIED_INVALID: compileStatement('posting_unapplied_invalid', postingWriteText('UNAPPLIED_INVALID')),
};

/** The write's answer: how many rows each part wrote, for the service to assert. */
export interface PostingWriteRow {
  payment_row_id: string;
  entry_lines: number;
  events: number;
  notices: number;
  notice_lines: number;
  receipts: number;
  refunds: number;
  written: boolean;
}

/**
 * Every value the write statements take; the variant decides which it reads. The journal entry's
 * are journalEntryParameters of the entry the domain built, its payment reference the row id
 * the read drew (`payment_row_id`).
 */
export interface PostingWriteValues extends JournalEntryParameters {
  payment_row_id: string;
  notice_id: string | null;
  notice_version: string | null;
  agency_party_id: string;
  agency_code: string;
  agency_txn_id: string;
  request_hash: string;
  now: Date;
  payment_id: string;
  pay_code: string;
  amount: string;
  paid_at: Date;
  business_date: string;
  channel: string;
  funds_captured: boolean;
  /** The payer's account name and number, encrypted (src/crypto/fieldCipher.ts). */
  payer_account_name: string | null;
  payer_account_no: string | null;
  payer_bank_name: string | null;
  payment_status: string;
  unapplied_reason: string | null;
  receipt_no: string | null;
  event_id: string;
  event_type: string;
  /** JSON array of party ids (strings). */
  event_recipients: string;
  event_to_finance: boolean;
  /** JSON text of the event's data, stored as written. */
  event_data: string;
  /** APPLIED only. */
  notice_status?: string;
  late_fee_paid?: string;
  /** JSON: [{position, late_fee_paid}]. */
  line_late_fees?: string;
  receipt_bindings?: readonly unknown[];
  /** UNAPPLIED only. */
  refund_id?: string;
  refund_status?: string;
}

/** A write that lost its race and wrote nothing. */
export type LostRace = 'NOTICE_CHANGED' | 'KEY_BOUND';

/**
 * Runs the posting's write. Resolves to the counts when the payment was written, or to the race
 * it lost (nothing written: the statement raised and rolled back). Other errors propagate.
 */
export async function writePosting(runner: StatementRunner, variant: PostingVariant, values: PostingWriteValues): Promise<PostingWriteRow | LostRace> {
  const named: Record<string, unknown> = { ...values };
  delete named.receipt_bindings;
  if (variant === 'APPLIED') {
    const bindings = values.receipt_bindings;
    assert(bindings !== undefined && bindings.length === RECEIPT_PARAMETER_COUNT, `the receipt INSERT takes ${RECEIPT_PARAMETER_COUNT} bindings`);
    bindings.forEach((binding, index) => {
      named[`receipt_${index}`] = binding;
    });
  }
  try {
    const rows = await runner.run<PostingWriteRow>(POSTING_WRITES[variant], named);
    assert(rows.length === 1 && rows[0]?.written === true, 'the posting write answers one row once written');
    return rows[0] as PostingWriteRow;
  } catch (error) {
    const lost = lostRace(error);
    if (lost !== undefined) return lost;
    throw error;
  }
}

/**
 * The races a write can lose. Besides the guard's own SQLSTATEs: the receipt's key (one receipt
 * per agencyTxnId) is violated when a concurrent repeat bound the key and issued its receipt
 * first, and the one-live-applied-payment index if another payment applied first — both mean the
 * same as the guard would have said, and the next attempt re-reads.
 */
function lostRace(error: unknown): LostRace | undefined {
  const { code, constraint } = (error ?? {}) as { code?: string; constraint?: string };
  if (code === POSTING_LOST_NOTICE_CHANGED) return 'NOTICE_CHANGED';
  if (code === POSTING_LOST_KEY_BOUND) return 'KEY_BOUND';
  if (code === '23505' && constraint === 'receipts_payment_key') return 'KEY_BOUND';
  if (code === '23505' && constraint === 'payment_keys_pkey') return 'KEY_BOUND';
  if (code === '23505' && constraint === 'payments_applied_notice') return 'NOTICE_CHANGED';
  return undefined;
}

// ---- reads -----------------------------------------------------------------------------------

/** A payment as GET answers it (the bound_* columns of the read, without the prefix). */
export interface PaymentRow {
  payment_id: string;
  agency_code: string;
  agency_txn_id: string;
  pay_code: string;
  amount: string;
  paid_at: Date;
  business_date: string;
  channel: string;
  status: string;
  unapplied_reason: string | null;
  receipt_no: string | null;
  refund_id: string | null;
  created_at: Date;
}

/** An agency's payment by its agencyTxnId; another agency's is not found. */
export async function findPaymentByKey(db: Knex | Knex.Transaction, agencyPartyId: string, agencyTxnId: string): Promise<PaymentRow | undefined> {
  const result = await db.raw<{ rows: PaymentRow[] }>(
    `SELECT p.payment_id, p.agency_code, p.agency_txn_id, p.pay_code, p.amount::text AS amount, p.paid_at, p.business_date,
            p.channel, p.status, p.unapplied_reason, p.receipt_no, r.refund_id, p.created_at
       FROM payment_keys k
       JOIN payments p ON p.id = k.payment_id
       LEFT JOIN refunds r ON r.payment_id = p.id AND r.refund_no IS NULL
      WHERE k.agency_party_id = ?::bigint AND k.agency_txn_id = ?`,
    [agencyPartyId, agencyTxnId],
  );
  return result.rows[0];
}

/**
 * The posting's statements as they run, for the benchmark's raw baseline (scripts/bench/pay.ts),
 * which drives the very same SQL through pgbench.
 */
export const POSTING_STATEMENTS = { read: POSTING_READ, readClaimingNonce: POSTING_READ_CLAIMING_NONCE, readLocked: POSTING_READ_LOCKED, writes: POSTING_WRITES } as const;
