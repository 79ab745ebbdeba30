import type { Knex } from 'knex';
import { assert } from '../../domain/errors';
import type { NoticeStatus } from '../../domain/stateMachines';
import type { Db } from '../database';
import { fetchPage, Page, PageRequest } from '../pagination';
import type { ItemRow } from './catalogue';
import type { Queryable } from '../database';
import { compileStatement, pgRunner, withPooledClient } from '../statements';
import { distinctNonceBatch, type NonceClaimValues, nonceClaimsCte } from './requestNonces';

/**
 * Notices, their item snapshots and their idempotency keys (migration 20261127000010), and the
 * sequences their payCode serials come from. Money and rates come back as the strings pg
 * returns (or as text inside JSON, never a JSON number); the service parses them into Decimal.
 */

/** One line of a notice, as snapshotted when it was issued. */
export interface NoticeItemRow {
  position: number;
  item_id: string;
  item_version: number;
  item_code: string;
  item_name: string;
  income_sort_code: string;
  budget_level: number;
  sharing_rule_code: string | null;
  receiving_account_no: string;
  quantity: number;
  amount: string;
  pricing_type: 'FIXED' | 'RANGE';
  fixed_amount: string | null;
  min_amount: string | null;
  max_amount: string | null;
  late_fee_type: 'NONE' | 'DAILY_RATE';
  rate_per_day: string | null;
  cap_ratio: string | null;
  late_fee_paid: string | null;
}

export interface NoticeRow {
  id: string;
  pay_code: string;
  unit_party_id: string;
  unit_code: string;
  unit_name: string;
  region_code: string;
  biz_ref: string;
  notice_type: number;
  status: NoticeStatus;
  payer_name: string;
  payer_id_number_encrypted: string | null;
  payer_id_number_masked: string | null;
  payer_mobile_encrypted: string | null;
  payer_mobile_masked: string | null;
  total_amount: string;
  due_date: string;
  expire_date: string | null;
  remark: string | null;
  paid_at: Date | null;
  paid_amount: string | null;
  late_fee_paid: string | null;
  receipt_no: string | null;
  voided_at: Date | null;
  void_reason: string | null;
  created_at: Date;
  updated_at: Date;
  /** The lines in position order. */
  items: NoticeItemRow[];
}

const NOTICE_COLUMNS = `
  n.id::text AS id, n.pay_code, n.unit_party_id::text AS unit_party_id, n.unit_code, n.unit_name, n.region_code,
  n.biz_ref, n.notice_type, n.status, n.payer_name, n.payer_id_number_encrypted, n.payer_id_number_masked,
  n.payer_mobile_encrypted, n.payer_mobile_masked, n.total_amount, n.due_date, n.expire_date, n.remark,
  n.paid_at, n.paid_amount, n.late_fee_paid, n.receipt_no, n.voided_at, n.void_reason, n.created_at, n.updated_at`;

/**
 * The lines of notice `n` as one JSON array, so a notice and its lines are one row of one round
 * trip. Numerics are cast to text: json_build_object would otherwise write them as JSON numbers,
 * which JavaScript reads as binary floating point.
 */
const ITEMS_COLUMN = `
  (SELECT json_agg(json_build_object(
            'position', ni.position, 'item_id', ni.item_id::text, 'item_version', ni.item_version,
            'item_code', ni.item_code, 'item_name', ni.item_name, 'income_sort_code', ni.income_sort_code,
            'budget_level', ni.budget_level, 'sharing_rule_code', ni.sharing_rule_code,
            'receiving_account_no', ni.receiving_account_no, 'quantity', ni.quantity, 'amount', ni.amount::text,
            'pricing_type', ni.pricing_type, 'fixed_amount', ni.fixed_amount::text, 'min_amount', ni.min_amount::text,
            'max_amount', ni.max_amount::text, 'late_fee_type', ni.late_fee_type, 'rate_per_day', ni.rate_per_day::text,
            'cap_ratio', ni.cap_ratio::text, 'late_fee_paid', ni.late_fee_paid::text
          ) ORDER BY ni.position)
     FROM notice_items ni WHERE ni.notice_id = n.id) AS items`;

/** A notice with its lines; exported so benchmarks measure the very statement (scripts/bench). */
export const SELECT_NOTICE = `SELECT ${NOTICE_COLUMNS}, ${ITEMS_COLUMN} FROM notices n`;

function checked(row: NoticeRow | undefined): NoticeRow | undefined {
  if (row === undefined) return undefined;
  assert(Array.isArray(row.items) && row.items.length > 0, `notice ${row.pay_code} has lines`);
  return row;
}

/** The notice with this payCode, whoever issued it; `lock` holds it FOR UPDATE until the transaction ends. */
export async function findNoticeByPayCode(db: Queryable, payCode: string, options: { lock?: 'update' } = {}): Promise<NoticeRow | undefined> {
  const lock = options.lock === 'update' ? ' FOR UPDATE OF n' : '';
  const result = await db.raw<{ rows: NoticeRow[] }>(`${SELECT_NOTICE} WHERE n.pay_code = ?${lock}`, [payCode]);
  return checked(result.rows[0]);
}

/** One verification of a batch: the payCode asked for, and the request's nonce to store. */
export interface VerificationRead {
  payCode: string;
  nonce: NonceClaimValues;
}

/** The statement of findNoticesByPayCodeStoringNonces; exported so benchmarks run the very text (scripts/bench). */
export const FIND_NOTICES_STORING_NONCES_SQL = `WITH input AS (
       SELECT * FROM unnest(@app_ids::text[], @nonces::text[], @seen_ats::timestamptz[], @signed_ats::timestamptz[], @pay_codes::text[])
                WITH ORDINALITY AS i(app_id, nonce, seen_at, signed_at, pay_code, position)
     ), ${nonceClaimsCte('input', '@reuse_window_ms')}
     SELECT i.position::int AS position, (c.nonce IS NOT NULL) AS nonce_claimed, found.*
       FROM input i
       LEFT JOIN nonce_claims c ON c.app_id = i.app_id AND c.nonce = i.nonce
       LEFT JOIN LATERAL (${SELECT_NOTICE} WHERE n.pay_code = i.pay_code) AS found ON true
      ORDER BY i.position`;

const FIND_NOTICES_STORING_NONCES = compileStatement('notices_by_pay_code_nonces', FIND_NOTICES_STORING_NONCES_SQL);

/**
 * findNoticeByPayCodeStoringNonce for many verifications at once: one statement, one round trip
 * and one transaction for the batch (decision 0173), each answer as if alone. A nonce that appears
 * twice in the batch is claimed by its first request only; the later ones are refused as replays,
 * as they would be one after the other (distinctNonceBatch).
 */
export async function findNoticesByPayCodeStoringNonces(db: Db, reads: readonly VerificationRead[]): Promise<Array<{ row: NoticeRow | undefined; nonceClaimed: boolean }>> {
  const batch = distinctNonceBatch(reads, (read) => read.nonce);
  const rows = await withPooledClient(db, (client) =>
    pgRunner(client).run<NoticeRow & { position: number; nonce_claimed: boolean }>(FIND_NOTICES_STORING_NONCES, {
      pay_codes: batch.sent.map((read) => read.payCode),
      ...batch.nonceValues,
    }),
  );
  assert(rows.length === batch.sent.length, 'one row per verification whether or not its notice exists');
  const answers = rows.map(({ position, nonce_claimed: nonceClaimed, ...row }, index) => {
    assert(position === index + 1, 'rows in the order of the batch');
    return { row: row.id === null ? undefined : checked(row as NoticeRow), nonceClaimed };
  });
  return batch.answer(answers, { row: undefined, nonceClaimed: false });
}

/** The notice a unit bound to `bizRef`, with the fingerprint of the request that bound it. */
export async function findNoticeByKey(db: Queryable, unitPartyId: string, bizRef: string): Promise<(NoticeRow & { request_hash: string }) | undefined> {
  const result = await db.raw<{ rows: Array<NoticeRow & { request_hash: string }> }>(
    `SELECT ${NOTICE_COLUMNS}, ${ITEMS_COLUMN}, k.request_hash
       FROM notice_keys k JOIN notices n ON n.id = k.notice_id
      WHERE k.unit_party_id = ? AND k.biz_ref = ?`,
    [unitPartyId, bizRef],
  );
  const row = result.rows[0];
  return row === undefined ? undefined : (checked(row) as NoticeRow & { request_hash: string });
}

export interface NoticeFilter {
  unitPartyId: string;
  bizRef?: string;
  status?: NoticeStatus;
  /** Inclusive lower bound of created_at. */
  createdFrom?: Date;
  /** Exclusive upper bound of created_at. */
  createdBefore?: Date;
}

/** A unit's notices in id order, one page (docs/interface.md §5). */
export async function listNotices(db: Queryable, filter: NoticeFilter, page: PageRequest): Promise<Page<NoticeRow>> {
  const query = db
    .from({ n: 'notices' })
    .select(db.raw(`${NOTICE_COLUMNS}, ${ITEMS_COLUMN}`))
    .where('n.unit_party_id', filter.unitPartyId);
  // A bizRef names at most one notice of the unit: found through the key's primary key, not by
  // scanning the unit's notices.
  if (filter.bizRef !== undefined) {
    void query.where('n.id', db('notice_keys').select('notice_id').where({ unit_party_id: filter.unitPartyId, biz_ref: filter.bizRef }).first());
  }
  if (filter.status !== undefined) void query.where('n.status', filter.status);
  if (filter.createdFrom !== undefined) void query.where('n.created_at', '>=', filter.createdFrom);
  if (filter.createdBefore !== undefined) void query.where('n.created_at', '<', filter.createdBefore);
  const result = await fetchPage<NoticeRow & Record<string, unknown>>(query, 'n.id', page);
  return { rows: result.rows.map((row) => checked(row) as NoticeRow), nextCursor: result.nextCursor };
}

// ---- payCode serials -------------------------------------------------------------------------

const SERIAL_SEQUENCE_NAME = /^pay_code_serial_[0-9]{6}_[0-9]{2}_[0-9]$/;

/**
 * The sequence that numbers the payCodes of one (region, yy, T) (docs/payment-code.md: serials are
 * allocated per triple and never reused). The name is built from digits only, and checked, because
 * it is written into SQL as an identifier.
 */
export function serialSequenceName(regionCode: string, year2: string, kind: string): string {
  const name = `pay_code_serial_${regionCode}_${year2}_${kind}`;
  assert(SERIAL_SEQUENCE_NAME.test(name), `a serial sequence is named from digits only, got ${JSON.stringify(name)}`);
  return name;
}

/** Every payCode serial sequence with the last serial it gave (0 when it gave none yet). */
export async function listSerialSequences(db: Queryable): Promise<Array<{ regionCode: string; year2: string; kind: string; lastSerial: string }>> {
  const result = await db.raw<{ rows: Array<{ sequencename: string; last_value: string | null }> }>(
    `SELECT sequencename, last_value::text AS last_value FROM pg_sequences
      WHERE schemaname = current_schema() AND sequencename LIKE 'pay\\_code\\_serial\\_%'`,
  );
  return result.rows
    .filter((row) => SERIAL_SEQUENCE_NAME.test(row.sequencename))
    .map((row) => {
      const [regionCode = '', year2 = '', kind = ''] = row.sequencename.slice('pay_code_serial_'.length).split('_');
      return { regionCode, year2, kind, lastSerial: row.last_value ?? '0' };
    });
}

/** The largest serial: 9 digits. The sequence stops there (NO CYCLE), so a code is never reused. */
export const SERIAL_MAX = 999_999_999;

/**
 * Creates the sequence if it does not exist. The advisory lock keeps two instances from racing
 * in CREATE SEQUENCE IF NOT EXISTS, which PostgreSQL does not make safe under concurrency.
 */
export async function ensureSerialSequence(db: Db, name: string): Promise<void> {
  assert(SERIAL_SEQUENCE_NAME.test(name), `not a serial sequence name: ${name}`);
  await db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [name]);
    await trx.raw(`CREATE SEQUENCE IF NOT EXISTS ${name} AS bigint MINVALUE 1 MAXVALUE ${SERIAL_MAX} NO CYCLE`);
  });
}

export interface SerialAndItems {
  /** The items that exist among the codes asked for, each with whether the unit may charge it. */
  items: Array<ItemRow & { authorized: boolean }>;
}

/**
 * Reads the items a new notice names, with the unit's authorisation of each, in one round trip.
 * No serial is drawn here: insertNotice draws it, and only for a notice it really inserts
 * (contracts/decisions/0058-pay-code-serials-drawn-last.md). A signed request's read also stores
 * its nonce, batched with others: readItemsForNotices.
 */
export async function readItemsForNotice(db: Queryable, unitPartyId: string, itemCodes: readonly string[]): Promise<SerialAndItems> {
  const result = await db.raw<{ rows: Array<Record<string, unknown>> }>(
    `SELECT (ui.item_code IS NOT NULL) AS authorized, i.*
       FROM items i
       LEFT JOIN unit_items ui ON ui.unit_party_id = ?::bigint AND ui.item_code = i.code
      WHERE i.code = ANY(?::text[])`,
    [unitPartyId, [...new Set(itemCodes)]],
  );
  return { items: result.rows.map(({ authorized, ...item }) => ({ ...item, authorized }) as unknown as ItemRow & { authorized: boolean }) };
}

/** One notice creation's item read in a batch: the unit, the item codes it names, the request's nonce. */
export interface BatchedItemRead {
  unitPartyId: string;
  itemCodes: readonly string[];
  nonce: NonceClaimValues;
}

const ITEMS_FOR_NOTICES_CLAIMING_NONCES = compileStatement(
  'items_for_notices_nonces',
  `WITH input AS (
     SELECT * FROM unnest(@unit_party_ids::bigint[], @app_ids::text[], @nonces::text[], @seen_ats::timestamptz[], @signed_ats::timestamptz[])
              WITH ORDINALITY AS t(unit_party_id, app_id, nonce, seen_at, signed_at, batch_position)
   ), codes AS (
     SELECT * FROM unnest(@code_positions::int[], @item_codes::text[]) AS c(batch_position, item_code)
   ), ${nonceClaimsCte('input', '@reuse_window_ms')}
   SELECT input.batch_position::int AS batch_position, (claimed.nonce IS NOT NULL) AS nonce_claimed,
          (ui.item_code IS NOT NULL) AS authorized, i.*
     FROM input
     LEFT JOIN nonce_claims claimed ON claimed.app_id = input.app_id AND claimed.nonce = input.nonce
     LEFT JOIN codes ON codes.batch_position = input.batch_position
     LEFT JOIN items i ON i.code = codes.item_code
     LEFT JOIN unit_items ui ON ui.unit_party_id = input.unit_party_id AND ui.item_code = i.code
    ORDER BY input.batch_position`,
);

/**
 * readItemsForNotice's nonce-storing read for many notice creations in one statement (decision
 * 0175), each answered as if alone; a nonce repeated in the batch is claimed by its first request
 * only (distinctNonceBatch).
 */
export async function readItemsForNotices(db: Db, reads: readonly BatchedItemRead[]): Promise<Array<SerialAndItems & { nonceClaimed: boolean }>> {
  const batch = distinctNonceBatch(reads, (read) => read.nonce);
  const codes = batch.sent.flatMap((read, index) => [...new Set(read.itemCodes)].map((code) => ({ position: index + 1, code })));
  const rows = await withPooledClient(db, (client) =>
    pgRunner(client).run<Record<string, unknown> & { batch_position: number; nonce_claimed: boolean; authorized: boolean }>(ITEMS_FOR_NOTICES_CLAIMING_NONCES, {
      unit_party_ids: batch.sent.map((read) => read.unitPartyId),
      code_positions: codes.map((code) => code.position),
      item_codes: codes.map((code) => code.code),
      ...batch.nonceValues,
    }),
  );
  const answers = batch.sent.map(() => ({ items: [] as Array<ItemRow & { authorized: boolean }>, nonceClaimed: false, answered: false }));
  for (const { batch_position: position, nonce_claimed: nonceClaimed, authorized, ...item } of rows) {
    const answer = answers[position - 1];
    assert(answer !== undefined, `row for batch position ${position}`);
    answer.answered = true;
    answer.nonceClaimed = nonceClaimed;
    if (item.id !== null && item.id !== undefined) answer.items.push({ ...item, authorized } as unknown as ItemRow & { authorized: boolean });
  }
  assert(answers.every((answer) => answer.answered), 'every creation of the batch is answered');
  return batch.answer(
    answers.map(({ items, nonceClaimed }) => ({ items, nonceClaimed })),
    { items: [], nonceClaimed: false },
  );
}

/**
 * Where a new notice's payCode comes from: the serial sequence of its (region, yy, T) and the
 * code's first 9 digits. The insert draws the serial and builds the code (serial zero-padded to 9
 * digits, then the MOD 97-10 check digits) in the statement that binds the key.
 */
export interface PayCodeSource {
  sequenceName: string;
  /** region (6) + yy (2) + T (1). */
  prefix: string;
}

// ---- writes ----------------------------------------------------------------------------------

/** A line as inserted: the snapshot, before any payment has set its late fee. */
export type NewNoticeItem = Omit<NoticeItemRow, 'late_fee_paid'>;

/** A notice as inserted: the issued columns of NoticeRow, the request's fingerprint and the lines. */
export type NewNotice = Pick<
  NoticeRow,
  | 'unit_party_id' | 'unit_code' | 'unit_name' | 'region_code' | 'biz_ref' | 'notice_type' | 'status' | 'payer_name'
  | 'payer_id_number_encrypted' | 'payer_id_number_masked' | 'payer_mobile_encrypted' | 'payer_mobile_masked'
  | 'total_amount' | 'due_date' | 'expire_date' | 'remark' | 'created_at'
> & {
  request_hash: string;
  items: NewNoticeItem[];
};

const INSERT_NOTICE = compileStatement(
  'insert_notice',
  `WITH notice_key AS (
       INSERT INTO notice_keys (unit_party_id, biz_ref, request_hash, notice_id, created_at)
       VALUES (@unit_party_id::bigint, @biz_ref, @request_hash, nextval('notices_id_seq'), @created_at::timestamptz)
       ON CONFLICT (unit_party_id, biz_ref) DO NOTHING
       RETURNING notice_id
     ), serial AS (
       -- Evaluated only for a key this statement bound: a replay or a racing repeat draws nothing.
       SELECT notice_key.notice_id, s.serial, @prefix::text || lpad(s.serial::text, 9, '0') AS body
         FROM notice_key CROSS JOIN LATERAL (SELECT nextval(@sequence_name::regclass) AS serial) s
     ), code AS (
       SELECT notice_id, serial, body || lpad((98 - ((body || '00')::numeric % 97))::text, 2, '0') AS pay_code FROM serial
     ), notice AS (
       INSERT INTO notices (id, pay_code, unit_party_id, unit_code, unit_name, region_code, biz_ref, notice_type, status,
                            payer_name, payer_id_number_encrypted, payer_id_number_masked, payer_mobile_encrypted,
                            payer_mobile_masked, total_amount, due_date, expire_date, remark, created_at, updated_at)
       SELECT code.notice_id, code.pay_code, @unit_party_id::bigint, @unit_code, @unit_name, @region_code, @biz_ref, @notice_type::smallint, @status,
              @payer_name, @payer_id_number_encrypted, @payer_id_number_masked, @payer_mobile_encrypted,
              @payer_mobile_masked, @total_amount::numeric, @due_date::date, @expire_date::date, @remark, @created_at::timestamptz, @created_at::timestamptz
         FROM code
       RETURNING id, pay_code
     ), lines AS (
       INSERT INTO notice_items (notice_id, position, item_id, item_version, item_code, item_name, income_sort_code,
                                 budget_level, sharing_rule_code, receiving_account_no, quantity, amount, pricing_type,
                                 fixed_amount, min_amount, max_amount, late_fee_type, rate_per_day, cap_ratio)
       SELECT notice.id, line.position, line.item_id, line.item_version, line.item_code, line.item_name, line.income_sort_code,
              line.budget_level, line.sharing_rule_code, line.receiving_account_no, line.quantity, line.amount, line.pricing_type,
              line.fixed_amount, line.min_amount, line.max_amount, line.late_fee_type, line.rate_per_day, line.cap_ratio
         FROM notice
        CROSS JOIN json_to_recordset(@items::json) AS line(
              position smallint, item_id bigint, item_version integer, item_code text, item_name text, income_sort_code text,
              budget_level smallint, sharing_rule_code text, receiving_account_no text, quantity integer, amount numeric,
              pricing_type text, fixed_amount numeric, min_amount numeric, max_amount numeric, late_fee_type text,
              rate_per_day numeric, cap_ratio numeric)
       RETURNING notice_id, position, sharing_rule_code
     ), shares AS (
       INSERT INTO notice_item_shares (notice_id, line_position, position, budget_level, ratio)
       SELECT lines.notice_id, lines.position, s.position, s.budget_level, s.ratio
         FROM lines
         JOIN sharing_rules r ON r.code = lines.sharing_rule_code
         JOIN sharing_rule_shares s ON s.sharing_rule_id = r.id
       RETURNING line_position
     )
     SELECT notice.id::text AS id, notice.pay_code, (SELECT serial FROM code)::text AS serial, (SELECT count(*) FROM lines)::int AS line_count,
            (SELECT count(DISTINCT line_position) FROM shares)::int AS shared_line_count
       FROM notice`,
);

/**
 * Binds (unit, bizRef) and inserts the notice with its lines, in one statement (so one round trip
 * and atomic without a transaction). The key is inserted first with ON CONFLICT DO NOTHING; when
 * another request holds the key — committed, or in flight, which PostgreSQL waits for — nothing is
 * inserted and the result is undefined: the caller re-reads the key and replays.
 *
 * The same statement snapshots the shares of each shared line's sharing rule into
 * notice_item_shares (migration 20261201000551), as the rule stands in the statement's snapshot:
 * no extra round trip, and no read of the shares by the service.
 */
export async function insertNotice(db: Db, notice: NewNotice, payCode: PayCodeSource): Promise<{ id: string; payCode: string; serial: string } | undefined> {
  assert(SERIAL_SEQUENCE_NAME.test(payCode.sequenceName), `not a serial sequence name: ${payCode.sequenceName}`);
  assert(/^[0-9]{9}$/.test(payCode.prefix), `a payCode prefix is 9 digits, got ${JSON.stringify(payCode.prefix)}`);
  // A named prepared statement (src/db/statements.ts): parsed and planned once per connection.
  const rows = await withPooledClient(db, (client) =>
    pgRunner(client).run<{ id: string; pay_code: string; serial: string; line_count: number; shared_line_count: number }>(INSERT_NOTICE, {
      unit_party_id: notice.unit_party_id,
      biz_ref: notice.biz_ref,
      request_hash: notice.request_hash,
      created_at: notice.created_at,
      prefix: payCode.prefix,
      sequence_name: payCode.sequenceName,
      unit_code: notice.unit_code,
      unit_name: notice.unit_name,
      region_code: notice.region_code,
      notice_type: notice.notice_type,
      status: notice.status,
      payer_name: notice.payer_name,
      payer_id_number_encrypted: notice.payer_id_number_encrypted,
      payer_id_number_masked: notice.payer_id_number_masked,
      payer_mobile_encrypted: notice.payer_mobile_encrypted,
      payer_mobile_masked: notice.payer_mobile_masked,
      total_amount: notice.total_amount,
      due_date: notice.due_date,
      expire_date: notice.expire_date,
      remark: notice.remark,
      items: JSON.stringify(notice.items),
    }),
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  assert(row.line_count === notice.items.length, `notice ${row.pay_code} was written with all ${notice.items.length} lines, not ${row.line_count}`);
  const sharedLines = notice.items.filter((line) => line.sharing_rule_code !== null).length;
  assert(row.shared_line_count === sharedLines, `notice ${row.pay_code}: each of its ${sharedLines} shared lines has its rule's shares, not ${row.shared_line_count}`);
  return { id: row.id, payCode: row.pay_code, serial: row.serial };
}

/** Moves a locked notice to VOIDED; the caller got `status` from the state machine. */
export async function markNoticeVoided(trx: Knex.Transaction, id: string, change: { status: NoticeStatus; voidedAt: Date; reason: string }): Promise<void> {
  const updated = await trx('notices')
    .where({ id })
    .update({ status: change.status, voided_at: change.voidedAt, void_reason: change.reason, updated_at: change.voidedAt });
  assert(updated === 1, `notice ${id} was voided (${updated} rows)`);
}

/**
 * One batch of the expire-notices job: ISSUED notices whose expireDate is before `today` become
 * `to` (what the state machine says `expire` leads to). The outer condition is evaluated again on
 * a row that a concurrent payment held locked, so a notice paid meanwhile stays PAID.
 */
/** A notice the expire-notices job moved: what its unit's `notice.expired` event carries. */
export interface ExpiredNoticeRow {
  unit_party_id: string;
  pay_code: string;
  biz_ref: string;
  expire_date: string;
}

export async function expireIssuedNotices(db: Queryable, change: { from: NoticeStatus; to: NoticeStatus; today: string; at: Date; batchSize: number }): Promise<ExpiredNoticeRow[]> {
  const result = await db.raw<{ rows: ExpiredNoticeRow[] }>(
    `UPDATE notices SET status = ?, updated_at = ?::timestamptz
      WHERE id IN (SELECT id FROM notices
                    WHERE status = ? AND expire_date IS NOT NULL AND expire_date < ?::date
                    ORDER BY id LIMIT ?)
        AND status = ? AND expire_date < ?::date
      RETURNING unit_party_id::text AS unit_party_id, pay_code, biz_ref, to_char(expire_date, 'YYYY-MM-DD') AS expire_date`,
    [change.to, change.at, change.from, change.today, change.batchSize, change.from, change.today],
  );
  return result.rows;
}
