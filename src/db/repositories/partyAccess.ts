import type { Db } from '../database';

/** One active key of a party, as registered (the PEM is the normalized SPKI from parsePublicKey). */
export interface PartyAccessKey {
  keyId: string;
  algorithm: 'SM2' | 'RSA';
  publicKeyPem: string;
}

/**
 * What signed access needs to know about a party (docs/interface.md §2): who it is, whether it may
 * call, and the keys it may sign with. Retired keys are left out: they never verify.
 */
export interface PartyAccessRecord {
  partyId: string;
  appId: string;
  role: string;
  code: string;
  name: string;
  status: 'ACTIVE' | 'DISABLED';
  /** Active keys in registration order. */
  activeKeys: PartyAccessKey[];
}

interface PartyAccessRow {
  id: string;
  app_id: string;
  role: string;
  code: string;
  name: string;
  status: 'ACTIVE' | 'DISABLED';
  active_keys: PartyAccessKey[];
}

/**
 * The party with this appId and its active keys, in one round trip (the unique index on app_id,
 * then the partial index on active keys), or undefined when no party has the appId.
 */
export async function findPartyAccess(db: Db, appId: string): Promise<PartyAccessRecord | undefined> {
  const result = await db.raw<{ rows: PartyAccessRow[] }>(
    `SELECT p.id, p.app_id, p.role, p.code, p.name, p.status,
            COALESCE(
              json_agg(json_build_object('keyId', k.key_id, 'algorithm', k.algorithm, 'publicKeyPem', k.public_key_pem) ORDER BY k.id)
                FILTER (WHERE k.id IS NOT NULL),
              '[]'::json
            ) AS active_keys
       FROM parties p
       LEFT JOIN party_keys k ON k.party_id = p.id AND k.status = 'ACTIVE'
      WHERE p.app_id = ?
      GROUP BY p.id`,
    [appId],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return { partyId: row.id, appId: row.app_id, role: row.role, code: row.code, name: row.name, status: row.status, activeKeys: row.active_keys };
}
