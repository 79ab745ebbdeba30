import crypto from 'node:crypto';
import { parsePublicKey } from '../../src/crypto/keys';
import type { Db } from '../../src/db/database';
import type { PartyRole } from '../../src/domain/access';

/**
 * Parties written straight into the database, for tests of signed access that must not depend on
 * the registration endpoints. The rows satisfy the schema's checks for every role.
 */
export interface PartyRow {
  partyId: string;
  appId: string;
  role: PartyRole;
  code: string;
  keyIds: string[];
}

export async function insertParty(db: Db, options: { role: PartyRole; publicKeys: string[]; status?: 'ACTIVE' | 'DISABLED'; appId?: string }): Promise<PartyRow> {
  const suffix = crypto.randomBytes(6).toString('hex');
  const appId = options.appId ?? `app_${suffix}`;
  const code = `${options.role}_${suffix}`;
  const now = new Date();
  if (options.role === 'unit') await ensureRegion(db, TEST_REGION_CODE);
  if (options.role === 'agency') await insertClearingAccount(db, `CLR${suffix}`);
  const [row] = await db('parties')
    .insert({
      app_id: appId,
      role: options.role,
      code,
      name: `Test ${options.role} ${suffix}`,
      status: options.status ?? 'ACTIVE',
      region_code: options.role === 'unit' ? TEST_REGION_CODE : null,
      clearing_account_no: options.role === 'agency' ? `CLR${suffix}` : null,
      cutoff_time: options.role === 'agency' ? '24:00' : null,
      request_hash: 'test',
      created_at: now,
      updated_at: now,
    })
    .returning<Array<{ id: string }>>('id');
  const partyId = (row as { id: string }).id;
  const keyIds: string[] = [];
  for (const publicKey of options.publicKeys) keyIds.push(await insertPartyKey(db, partyId, publicKey));
  return { partyId, appId, role: options.role, code, keyIds };
}

const TEST_REGION_CODE = '150000';
const TEST_BANK_CODE = 'test_clearing_bank';

/** A unit names a registered region. */
async function ensureRegion(db: Db, code: string): Promise<void> {
  await db.raw("INSERT INTO regions (code, name, created_at, updated_at) VALUES (?, 'Test region', now(), now()) ON CONFLICT (code) DO NOTHING", [code]);
}

/** An agency names a CLEARING account, which names a registered bank party. */
async function insertClearingAccount(db: Db, accountNo: string): Promise<void> {
  await db.raw(
    `INSERT INTO parties (app_id, role, code, name, request_hash, created_at, updated_at)
     VALUES (?, 'bank', ?, 'Test clearing bank', 'test', now(), now()) ON CONFLICT DO NOTHING`,
    [`app_${TEST_BANK_CODE}`, TEST_BANK_CODE],
  );
  await db.raw("INSERT INTO accounts (account_no, name, bank_code, kind, created_at, updated_at) VALUES (?, 'Test clearing account', ?, 'CLEARING', now(), now())", [accountNo, TEST_BANK_CODE]);
}

export async function insertPartyKey(db: Db, partyId: string, publicKeyText: string): Promise<string> {
  const key = parsePublicKey(publicKeyText);
  await db('party_keys').insert({ party_id: partyId, key_id: key.keyId, algorithm: key.algorithm, public_key_pem: key.pem, created_at: new Date() });
  return key.keyId;
}

export async function retirePartyKey(db: Db, partyId: string, keyId: string): Promise<void> {
  const updated = await db('party_keys').where({ party_id: partyId, key_id: keyId }).update({ status: 'RETIRED', retired_at: new Date() });
  if (updated !== 1) throw new Error(`no key ${keyId} for party ${partyId}`);
}

export async function setPartyStatus(db: Db, appId: string, status: 'ACTIVE' | 'DISABLED'): Promise<void> {
  const updated = await db('parties').where({ app_id: appId }).update({ status, updated_at: new Date() });
  if (updated !== 1) throw new Error(`no party ${appId}`);
}
