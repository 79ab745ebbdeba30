import { generateSm2KeyPair } from '../../src/crypto/keys';
import type { Db } from '../../src/db/database';
import type { PartyRole } from '../../src/domain/access';
import { EventData, EventType, recordEvent } from '../../src/services/events';
import { insertParty, PartyRow } from './partyRows';

/**
 * Parties and events for the tests of events and callbacks, before the use cases that record
 * events for real (notices, payments) are used: parties are rows, events are recorded with
 * `recordEvent` in a transaction of the test's own, exactly as a use case does.
 */
export async function newRecipient(db: Db, role: PartyRole, options: { callbackUrl?: string | null; status?: 'ACTIVE' | 'DISABLED' } = {}): Promise<PartyRow> {
  const party = await insertParty(db, { role, publicKeys: [generateSm2KeyPair().publicKeyPem], status: options.status });
  if (options.callbackUrl) await db('parties').where({ id: party.partyId }).update({ callback_url: options.callbackUrl });
  return party;
}

let serial = 0;

/** A `payment.succeeded` payload that follows contracts/ (the Event schema checks it). */
export function paymentSucceededData(): EventData {
  serial += 1;
  const n = String(serial).padStart(6, '0');
  const payCode = `15040126${n.padStart(10, '0')}00`;
  return {
    payment: {
      paymentId: `P${n}`,
      agencyCode: 'AG01',
      agencyTxnId: `TXN${n}`,
      payCode,
      amount: '218.00',
      paidAt: '2026-11-23T10:00:00+08:00',
      businessDate: '2026-11-23',
      channel: 'MOBILE',
      status: 'SUCCEEDED',
      receiptNo: `15040126${n}0000`,
      createdAt: '2026-11-23T10:00:01+08:00',
    },
    notice: { payCode, bizRef: `BIZ-${n}`, status: 'PAID' },
    receiptNo: `15040126${n}0000`,
  };
}

/** Records one event for the recipients in its own committed transaction; returns its eventId. */
export async function recordTestEvent(db: Db, recipientPartyIds: readonly string[], options: { type?: EventType; data?: EventData; occurredAt?: Date } = {}): Promise<string> {
  const recorded = await db.transaction((trx) =>
    recordEvent(trx, {
      type: options.type ?? 'payment.succeeded',
      recipients: recipientPartyIds.map((partyId) => ({ partyId })),
      data: options.data ?? paymentSucceededData(),
      occurredAt: options.occurredAt ?? new Date('2026-11-23T02:00:01Z'),
    }),
  );
  return recorded.eventId;
}
