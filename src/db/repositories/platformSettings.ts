import type { Db } from '../database';

/** The stored value of a platform setting, or undefined when none was stored. */
export async function readPlatformSetting(db: Db, name: string): Promise<string | undefined> {
  const row = await db('platform_settings').where({ name }).first<{ value: string } | undefined>('value');
  return row?.value;
}

/**
 * Stores `candidate` under `name` unless a value is already there, and returns whichever value is
 * stored. Concurrent callers (several instances starting together) all get the first writer's
 * value: the losing INSERT waits on the primary key for the winner's commit and does nothing, and
 * the read that follows sees the committed row.
 */
export async function insertPlatformSettingIfAbsent(db: Db, name: string, candidate: string): Promise<string> {
  await db.raw('INSERT INTO platform_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name, candidate]);
  const stored = await readPlatformSetting(db, name);
  if (stored === undefined) throw new Error(`invariant broken: platform setting ${name} missing right after its insert`);
  return stored;
}
