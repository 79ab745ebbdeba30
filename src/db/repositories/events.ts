import type { Knex } from 'knex';
import type { Queryable } from '../database';

/**
 * The events outbox and its sequencer (migration 20261127000020). Every function takes the
 * connection or transaction to run on.
 */

export interface NewEventRow {
  event_id: string;
  type: string;
  recipient_party_id: string;
  occurred_at: Date;
  /** The payload's JSON text, stored as it is. */
  data_json: string;
}

export interface EventRow {
  id: string;
  event_id: string;
  type: string;
  recipient_party_id: string;
  /** bigint as the string pg returns; null until the sequencer numbers the row. */
  sequence: string | null;
  occurred_at: Date;
  data: Record<string, unknown>;
}

/**
 * The first key of the sequencer's advisory lock (two-int form, so it never collides with the
 * single-bigint keys or with the job runner's namespace); the second is hashtext of a name.
 */
const SEQUENCER_LOCK_NAMESPACE = 0x7f_0b_20;
const SEQUENCER_LOCK_NAME = 'event-sequencer';

export async function insertEvents(trx: Knex.Transaction, rows: readonly NewEventRow[]): Promise<void> {
  if (rows.length === 0) return;
  const placeholders = rows.map(() => '(?, ?, ?, ?, CAST(? AS json))').join(', ');
  const bindings = rows.flatMap((row) => [row.event_id, row.type, row.recipient_party_id, row.occurred_at, row.data_json]);
  await trx.raw(`INSERT INTO events (event_id, type, recipient_party_id, occurred_at, data) VALUES ${placeholders}`, bindings);
}

/** Ids of every party of a role, in registration order, whatever their status. */
export async function partyIdsWithRole(db: Queryable, role: string): Promise<string[]> {
  const rows = (await db('parties').where({ role }).orderBy('id').select('id')) as Array<{ id: string }>;
  return rows.map((row) => row.id);
}

/** Whether any committed event (of this recipient, when given) still waits for its number. */
export async function hasUnnumberedEvents(db: Queryable, recipientPartyId?: string): Promise<boolean> {
  const query = db('events').whereNull('sequence').select(db.raw('1')).first();
  if (recipientPartyId !== undefined) void query.where({ recipient_party_id: recipientPartyId });
  return (await query) !== undefined;
}

/** Takes the sequencer's lock for the rest of the transaction, waiting for another holder. */
export async function lockSequencer(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [SEQUENCER_LOCK_NAMESPACE, SEQUENCER_LOCK_NAME]);
}

/** Takes the sequencer's lock for the rest of the transaction if it is free; false if not. */
export async function tryLockSequencer(trx: Knex.Transaction): Promise<boolean> {
  const result = await trx.raw<{ rows: Array<{ locked: boolean }> }>('SELECT pg_try_advisory_xact_lock(?, hashtext(?)) AS locked', [SEQUENCER_LOCK_NAMESPACE, SEQUENCER_LOCK_NAME]);
  return result.rows[0]?.locked === true;
}

export interface NumberingResult {
  /** Unnumbered rows the batch found. */
  selected: number;
  /** Rows it numbered: always equal to `selected` (checked by the caller). */
  numbered: number;
  /** Deliveries it created, for recipients with a callback URL. */
  deliveriesCreated: number;
}

/**
 * Numbers up to `batchSizeMax` committed, unnumbered events, in id order, continuing each
 * recipient's counter, and creates a PENDING delivery due at `realNow` for each numbered event
 * whose recipient has a callback URL. One statement, run under the sequencer's lock and in a
 * statement after the one that took it, so that its snapshot includes every earlier numbering
 * (READ COMMITTED takes a snapshot per statement).
 */
export async function numberEvents(trx: Knex.Transaction, batchSizeMax: number, realNow: Date): Promise<NumberingResult> {
  const result = await trx.raw<{ rows: Array<{ selected: string; numbered: string; deliveries: string }> }>(
    `WITH batch AS (
       SELECT id, recipient_party_id FROM events WHERE sequence IS NULL ORDER BY id LIMIT ?
     ),
     counts AS (
       SELECT recipient_party_id, count(*) AS n FROM batch GROUP BY recipient_party_id
     ),
     counters AS (
       INSERT INTO event_sequences AS s (recipient_party_id, last_sequence)
       SELECT recipient_party_id, n FROM counts
       ON CONFLICT (recipient_party_id) DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
       RETURNING s.recipient_party_id, s.last_sequence
     ),
     ranked AS (
       SELECT b.id,
              c.last_sequence - k.n + row_number() OVER (PARTITION BY b.recipient_party_id ORDER BY b.id) AS sequence
         FROM batch b
         JOIN counts k USING (recipient_party_id)
         JOIN counters c USING (recipient_party_id)
     ),
     numbered AS (
       UPDATE events e SET sequence = r.sequence
         FROM ranked r
        WHERE e.id = r.id AND e.sequence IS NULL
       RETURNING e.id, e.recipient_party_id
     ),
     deliveries AS (
       INSERT INTO callback_deliveries (event_row_id, recipient_party_id, status, next_attempt_at, created_at, updated_at)
       SELECT n.id, n.recipient_party_id, 'PENDING', ?, ?, ?
         FROM numbered n
         JOIN parties p ON p.id = n.recipient_party_id
        WHERE p.callback_url IS NOT NULL
       RETURNING id
     )
     SELECT (SELECT count(*) FROM batch) AS selected,
            (SELECT count(*) FROM numbered) AS numbered,
            (SELECT count(*) FROM deliveries) AS deliveries`,
    [batchSizeMax, realNow, realNow, realNow],
  );
  const row = result.rows[0];
  return { selected: Number(row?.selected ?? 0), numbered: Number(row?.numbered ?? 0), deliveriesCreated: Number(row?.deliveries ?? 0) };
}

/** A recipient's numbered events with a sequence above `after`, in sequence order. */
export async function listEventsAfter(db: Queryable, recipientPartyId: string, after: number, limit: number): Promise<EventRow[]> {
  return (await db('events')
    .where({ recipient_party_id: recipientPartyId })
    .where('sequence', '>', after)
    .orderBy('sequence', 'asc')
    .limit(limit)
    .select('id', 'event_id', 'type', 'recipient_party_id', 'sequence', 'occurred_at', 'data')) as EventRow[];
}

/** Every recipient's row of one event. */
export async function findEventRows(db: Queryable, eventId: string): Promise<EventRow[]> {
  return (await db('events')
    .where({ event_id: eventId })
    .orderBy('id')
    .select('id', 'event_id', 'type', 'recipient_party_id', 'sequence', 'occurred_at', 'data')) as EventRow[];
}
