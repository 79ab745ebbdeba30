import type { Knex } from 'knex';
import type { Queryable } from '../database';
import type { DeliveryStatus } from '../../domain/callbacks';
import { fetchPage, Page, PageRequest } from '../pagination';

/** Callback deliveries and their attempts (migration 20261127000021). */

/** A delivery a worker has leased, with everything one attempt needs. */
export interface ClaimedDelivery {
  id: string;
  lease_token: string;
  recipient_party_id: string;
  recipient_app_id: string;
  /** Read in the claim, so an attempt always uses the URL as it is when the attempt starts. */
  callback_url: string;
  attempt_count: number;
  event_id: string;
  type: string;
  sequence: string;
  occurred_at: Date;
  data: Record<string, unknown>;
}

export interface ClaimRequest {
  realNow: Date;
  leaseUntil: Date;
  leaseToken: string;
  /** Deliveries to claim at most (the worker's free slots). */
  slots: number;
  perRecipientMax: number;
  /** Deliveries this worker already has in flight, by recipient party id. */
  inFlightByRecipient: ReadonlyMap<string, number>;
  /** Recipients with pending deliveries looked at in one claim, at most. */
  recipientsMax: number;
}

/**
 * Leases up to `slots` due deliveries, at most `perRecipientMax` per recipient counting what the
 * worker already has in flight, earliest first with each recipient's first delivery before any
 * recipient's second — so a recipient with a backlog never crowds the others out of the claim.
 *
 * The recipients with pending work are found by a loose index scan (one index probe per distinct
 * recipient, not one row per pending delivery), and joined to their party so that a disabled
 * party or one without a callback URL is not attempted (its deliveries wait, uncounted). Each
 * recipient's due deliveries are locked `FOR UPDATE SKIP LOCKED`, so concurrent claims on other
 * instances take other rows; rows locked but not picked are free again when this statement's
 * transaction commits, which it does at once.
 */
export async function claimDueDeliveries(db: Queryable, request: ClaimRequest): Promise<ClaimedDelivery[]> {
  if (request.slots <= 0) return [];
  const busyIds = [...request.inFlightByRecipient.keys()];
  const busyCounts = busyIds.map((id) => request.inFlightByRecipient.get(id) ?? 0);
  const result = await db.raw<{ rows: ClaimedDelivery[] }>(
    `WITH RECURSIVE pending_recipients AS (
       (SELECT recipient_party_id AS party_id FROM callback_deliveries WHERE status = 'PENDING' ORDER BY recipient_party_id LIMIT 1)
       UNION ALL
       SELECT (SELECT d.recipient_party_id FROM callback_deliveries d
                WHERE d.status = 'PENDING' AND d.recipient_party_id > r.party_id
                ORDER BY d.recipient_party_id LIMIT 1)
         FROM pending_recipients r
        WHERE r.party_id IS NOT NULL
     ),
     busy AS (
       SELECT * FROM unnest(CAST(? AS bigint[]), CAST(? AS integer[])) AS b(party_id, in_flight)
     ),
     candidates AS (
       SELECT c.id, c.next_attempt_at, p.id AS party_id, COALESCE(b.in_flight, 0) AS in_flight
         FROM (SELECT party_id FROM pending_recipients WHERE party_id IS NOT NULL LIMIT ?) r
         JOIN parties p ON p.id = r.party_id AND p.status = 'ACTIVE' AND p.callback_url IS NOT NULL
         LEFT JOIN busy b ON b.party_id = p.id
         CROSS JOIN LATERAL (
           SELECT d.id, d.next_attempt_at
             FROM callback_deliveries d
            WHERE d.recipient_party_id = p.id
              AND d.status = 'PENDING'
              AND d.next_attempt_at <= ?
              AND (d.lease_until IS NULL OR d.lease_until < ?)
            ORDER BY d.next_attempt_at, d.id
            LIMIT ?
              FOR UPDATE OF d SKIP LOCKED
         ) c
        WHERE COALESCE(b.in_flight, 0) < ?
     ),
     ranked AS (
       SELECT id, next_attempt_at, in_flight,
              row_number() OVER (PARTITION BY party_id ORDER BY next_attempt_at, id) AS rank
         FROM candidates
     ),
     picked AS (
       SELECT id FROM ranked
        WHERE rank + in_flight <= ?
        ORDER BY rank, next_attempt_at, id
        LIMIT ?
     )
     UPDATE callback_deliveries d
        SET lease_until = ?, lease_token = ?
       FROM picked, event_log l, event_bodies b, parties p
      WHERE d.id = picked.id AND l.id = d.event_row_id AND b.id = l.body_id AND p.id = d.recipient_party_id
     RETURNING d.id, d.lease_token, d.recipient_party_id, p.app_id AS recipient_app_id, p.callback_url, d.attempt_count,
               b.event_id, b.type, l.sequence, b.occurred_at, b.data`,
    [
      busyIds,
      busyCounts,
      request.recipientsMax,
      request.realNow,
      request.realNow,
      request.perRecipientMax,
      request.perRecipientMax,
      request.perRecipientMax,
      request.slots,
      request.leaseUntil,
      request.leaseToken,
    ],
  );
  return result.rows;
}

export interface AttemptRecord {
  deliveryId: string;
  leaseToken: string;
  attemptedAt: Date;
  url: string;
  delivered: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** At most 200 bytes of the answer's body (whole UTF-8 characters); null when no answer came. */
  responseExcerpt?: string | null;
  /** The delivery's state after the attempt. */
  status: DeliveryStatus;
  /** Failed attempts of the round after this one. */
  attemptCount: number;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  updatedAt: Date;
}

/**
 * Records an attempt and moves its delivery, in one statement. The attempt is always recorded —
 * it happened — but the delivery moves only if the worker still holds its lease: a redelivery
 * meanwhile (which clears the lease) has started a new round that this result must not end.
 * Returns whether the delivery moved.
 */
export async function recordAttempt(db: Queryable, record: AttemptRecord): Promise<boolean> {
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `WITH attempt AS (
       INSERT INTO callback_attempts (delivery_id, attempted_at, url, outcome, status_code, latency_ms, error, response_excerpt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     )
     UPDATE callback_deliveries
        SET status = ?, attempt_count = ?, next_attempt_at = ?, delivered_at = ?,
            lease_until = NULL, lease_token = NULL, updated_at = ?
      WHERE id = ? AND lease_token = ? AND status = 'PENDING'
     RETURNING id`,
    [
      record.deliveryId,
      record.attemptedAt,
      record.url,
      record.delivered ? 'DELIVERED' : 'FAILED',
      record.statusCode,
      record.latencyMs,
      record.error,
      record.responseExcerpt ?? null,
      record.status,
      record.attemptCount,
      record.nextAttemptAt,
      record.deliveredAt,
      record.updatedAt,
      record.deliveryId,
      record.leaseToken,
    ],
  );
  return result.rows.length === 1;
}

/** Gives a lease back without an attempt (the worker stopped before it could call). */
export async function releaseLease(db: Queryable, deliveryId: string, leaseToken: string): Promise<void> {
  await db('callback_deliveries').where({ id: deliveryId, lease_token: leaseToken }).update({ lease_until: null, lease_token: null });
}

/**
 * Starts a new round for every numbered row of an event: creates the deliveries missing for
 * recipients that have a callback URL now, then makes every delivery of the event PENDING and due
 * at `realNow`, its lease cleared and its failure count back to zero. Returns how many
 * deliveries the event now has.
 */
export async function redeliverEvent(trx: Knex.Transaction, eventId: string, realNow: Date): Promise<number> {
  await trx.raw(
    `INSERT INTO callback_deliveries (event_row_id, recipient_party_id, status, next_attempt_at, created_at, updated_at)
     SELECT l.id, l.recipient_party_id, 'PENDING', ?, ?, ?
       FROM event_bodies b
       JOIN event_log l ON l.body_id = b.id
       JOIN parties p ON p.id = l.recipient_party_id
      WHERE b.event_id = ? AND p.callback_url IS NOT NULL
     ON CONFLICT (event_row_id) DO NOTHING`,
    [realNow, realNow, realNow, eventId],
  );
  const result = await trx.raw<{ rows: Array<{ id: string }> }>(
    `UPDATE callback_deliveries d
        SET status = 'PENDING', attempt_count = 0, next_attempt_at = ?, delivered_at = NULL,
            lease_until = NULL, lease_token = NULL, redelivery_count = d.redelivery_count + 1, updated_at = ?
       FROM event_bodies b, event_log l
      WHERE b.event_id = ? AND l.body_id = b.id AND d.event_row_id = l.id
     RETURNING d.id`,
    [realNow, realNow, eventId],
  );
  return result.rows.length;
}

export interface DeliveryListRow {
  id: string;
  status: DeliveryStatus;
  attempt_count: number;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
  redelivery_count: number;
  created_at: Date;
  updated_at: Date;
  event_id: string;
  type: string;
  sequence: string;
  recipient_app_id: string;
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  attempted_at: Date;
  url: string;
  outcome: 'DELIVERED' | 'FAILED';
  status_code: number | null;
  latency_ms: number;
  error: string | null;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  recipientAppId?: string;
}

/** Deliveries in id order, filtered, one page. */
export async function listDeliveries(db: Queryable, filter: DeliveryFilter, page: PageRequest): Promise<Page<DeliveryListRow>> {
  const query = db('callback_deliveries as d')
    .join('event_log as l', 'l.id', 'd.event_row_id')
    .join('event_bodies as e', 'e.id', 'l.body_id')
    .join('parties as p', 'p.id', 'd.recipient_party_id')
    .select(
      'd.id',
      'd.status',
      'd.attempt_count',
      'd.next_attempt_at',
      'd.delivered_at',
      'd.redelivery_count',
      'd.created_at',
      'd.updated_at',
      'e.event_id',
      'e.type',
      'l.sequence',
      'p.app_id as recipient_app_id',
    );
  if (filter.status !== undefined) void query.where('d.status', filter.status);
  if (filter.recipientAppId !== undefined) void query.where('p.app_id', filter.recipientAppId);
  return fetchPage<DeliveryListRow & Record<string, unknown>>(query, 'd.id', page);
}

/** The latest `perDeliveryMax` attempts of each delivery, oldest first. */
export async function latestAttempts(db: Queryable, deliveryIds: readonly string[], perDeliveryMax: number): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  const result = await db.raw<{ rows: AttemptRow[] }>(
    `SELECT id, delivery_id, attempted_at, url, outcome, status_code, latency_ms, error
       FROM (SELECT a.*, row_number() OVER (PARTITION BY a.delivery_id ORDER BY a.id DESC) AS recent
               FROM callback_attempts a
              WHERE a.delivery_id = ANY(CAST(? AS bigint[]))) ranked
      WHERE recent <= ?
      ORDER BY delivery_id, id`,
    [[...deliveryIds], perDeliveryMax],
  );
  return result.rows;
}
