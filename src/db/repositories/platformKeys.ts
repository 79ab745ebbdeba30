import type { Db } from '../database';

export interface PlatformKeyRow {
  key_id: string;
  public_key_hex: string;
  source: 'config' | 'database';
  first_used_at: Date;
}

/** Records a key the platform signs with; a key already recorded keeps its first row. */
export async function recordPlatformKey(db: Db, key: { keyId: string; publicKeyHex: string; source: PlatformKeyRow['source'] }): Promise<void> {
  await db.raw('INSERT INTO platform_keys (key_id, public_key_hex, source) VALUES (?, ?, ?) ON CONFLICT (key_id) DO NOTHING', [key.keyId, key.publicKeyHex, key.source]);
}

/** Every key the platform ever signed with, newest first. */
export async function listPlatformKeys(db: Db): Promise<PlatformKeyRow[]> {
  return db('platform_keys').select<PlatformKeyRow[]>('key_id', 'public_key_hex', 'source', 'first_used_at').orderBy([{ column: 'first_used_at', order: 'desc' }, { column: 'key_id' }]);
}

export async function findPlatformKey(db: Db, keyId: string): Promise<PlatformKeyRow | undefined> {
  return db('platform_keys').where({ key_id: keyId }).first<PlatformKeyRow | undefined>('key_id', 'public_key_hex', 'source', 'first_used_at');
}
