import pino from 'pino';
import { migrateLatest } from '../../src/db/database';
import { ManualClock } from '../../src/domain/clock';
import { PartyService } from '../../src/services/parties';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newSm2Credentials } from '../helpers/signedClient';
import { CLI_ACTOR } from '../../src/services/audit';

/**
 * Migrations that guard data written before them: migration 20261128000060 makes a key belong to
 * one party, and on a database where a key is already shared it must stop, naming the key and
 * its parties, rather than fail obscurely or decide for the operator.
 */
const KEY_OWNER_MIGRATION = '20261128000060_party_key_owner.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

it('stops on keys several parties share, names them, and applies once an operator has settled them', async () => {
  const clock = new ManualClock(new Date('2026-11-28T08:00:00+08:00'));
  const parties = new PartyService({ db: database.db, clocks: { business: clock, real: clock }, log: pino({ level: 'silent' }) });
  const owner = await parties.register({ role: 'bank', code: 'KEY-FIRST', name: '先持钥', publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR);
  const borrower = await parties.register({ role: 'bank', code: 'KEY-SECOND', name: '后持钥', publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR);

  // The state before the migration: its index gone, and the first party's key bound to the second too.
  await database.db.raw('DROP INDEX party_keys_one_owner');
  await database.db('knex_migrations').where({ name: KEY_OWNER_MIGRATION }).delete();
  const borrowerRow = await database.db('parties').where({ app_id: borrower.party.appId }).first('id');
  const ownerKey = await database.db('party_keys').where({ key_id: owner.keyId }).first();
  await database.db('party_keys').insert({ ...ownerKey, id: undefined, party_id: borrowerRow.id });

  await expect(migrateLatest(database.db)).rejects.toThrow(new RegExp(`${owner.keyId} \\(held by (${owner.party.appId}, ${borrower.party.appId}|${borrower.party.appId}, ${owner.party.appId})\\)`));
  expect(await database.db('knex_migrations').where({ name: KEY_OWNER_MIGRATION }).first()).toBeUndefined();

  // The operator removes the borrowed copy; the migration then applies and the index holds.
  await database.db('party_keys').where({ key_id: owner.keyId, party_id: borrowerRow.id }).delete();
  expect(await migrateLatest(database.db)).toEqual([KEY_OWNER_MIGRATION]);
  await expect(database.db('party_keys').insert({ ...ownerKey, id: undefined, party_id: borrowerRow.id })).rejects.toMatchObject({ code: '23505', constraint: 'party_keys_one_owner' });
});
