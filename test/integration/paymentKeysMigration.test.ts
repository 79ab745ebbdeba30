import { migrateLatest } from '../../src/db/database';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { insertParty } from '../helpers/partyRows';

/**
 * Migration 20261212000100 (contracts/decisions/0241-payment-keys-carry-code-and-amount.md): the
 * keys written before it take their payment's payCode and amount, and every key must carry them
 * from then on.
 */
const MIGRATION = '20261212000100_payment_keys_code_and_amount.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

it("fills each existing key with its payment's payCode and amount, then refuses a key without them", async () => {
  const db = database.db;
  const agency = await insertParty(db, { role: 'agency', publicKeys: [] });
  const now = new Date('2026-12-01T02:00:00Z');
  const payments = [
    { agencyTxnId: 'MIGRATED-1', payCode: 'X-1', amount: '3.00' },
    { agencyTxnId: 'MIGRATED-2', payCode: '15010226100000000103', amount: '99999999999.99' },
  ];
  // The state before the migration: keys without the two columns.
  await db.raw('ALTER TABLE payment_keys DROP COLUMN pay_code, DROP COLUMN amount');
  await db('knex_migrations').where({ name: MIGRATION }).delete();
  for (const [index, payment] of payments.entries()) {
    const [row] = await db('payments')
      .insert({
        payment_id: `P-MIGRATED-${index}`,
        agency_party_id: agency.partyId,
        agency_code: agency.code,
        agency_txn_id: payment.agencyTxnId,
        pay_code: payment.payCode,
        amount: payment.amount,
        paid_at: now,
        business_date: '2026-12-01',
        channel: 'OTHER',
        funds_captured: true,
        status: 'UNAPPLIED',
        unapplied_reason: 'PAY_CODE_INVALID',
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    await db('payment_keys').insert({ agency_party_id: agency.partyId, agency_txn_id: payment.agencyTxnId, request_hash: null, payment_id: (row as { id: string }).id, created_at: now });
  }

  await migrateLatest(db);

  const keys = await db('payment_keys').where({ agency_party_id: agency.partyId }).orderBy('agency_txn_id').select('agency_txn_id', 'pay_code', db.raw('amount::text AS amount'));
  expect(keys).toEqual(payments.map((payment) => ({ agency_txn_id: payment.agencyTxnId, pay_code: payment.payCode, amount: payment.amount })));
  // Append-only again, and both columns required.
  await expect(db('payment_keys').where({ agency_party_id: agency.partyId }).update({ amount: '1.00' })).rejects.toThrow(/append-only/);
  await expect(db('payment_keys').insert({ agency_party_id: agency.partyId, agency_txn_id: 'NO-COPY', request_hash: null, payment_id: '1', created_at: now })).rejects.toThrow(/null value in column "pay_code"/);
});
