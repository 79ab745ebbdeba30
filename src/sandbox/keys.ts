import { assertSm2PrivateKeyHex } from '../crypto/sm2';
import { generateSm2KeyPair, sm2PointToPem, sm2PublicKeyFromPrivate } from '../crypto/keys';
import type { Db } from '../db/database';
import { insertPlatformSettingIfAbsent, readPlatformSetting } from '../db/repositories/platformSettings';

/**
 * The sandbox parties' private keys (contracts/decisions/0081). Like the platform's generated key
 * (src/services/platformSecrets.ts) each is generated once and kept in platform_settings, so every
 * instance on the database signs as the same sandbox party. They are test credentials: the
 * sandbox is off in production, where nothing reads them.
 */
export const SANDBOX_KEY_SETTING = {
  agency: 'sandbox_agency_key_sm2',
  bank: 'sandbox_bank_key_sm2',
} as const;

export type SandboxRole = keyof typeof SANDBOX_KEY_SETTING;

export interface SandboxKey {
  privateKeyHex: string;
  publicKeyPem: string;
}

function keyOf(privateKeyHex: string): SandboxKey {
  const hex = assertSm2PrivateKeyHex(privateKeyHex);
  return { privateKeyHex: hex, publicKeyPem: sm2PointToPem(sm2PublicKeyFromPrivate(hex)) };
}

/** The sandbox party's key, generated and stored on first use. */
export async function sandboxKey(db: Db, role: SandboxRole): Promise<SandboxKey> {
  return keyOf(await insertPlatformSettingIfAbsent(db, SANDBOX_KEY_SETTING[role], generateSm2KeyPair().privateKeyHex));
}

/** The stored key, or undefined when the sandbox party was never set up. */
export async function readSandboxKey(db: Db, role: SandboxRole): Promise<SandboxKey | undefined> {
  const stored = await readPlatformSetting(db, SANDBOX_KEY_SETTING[role]);
  return stored === undefined ? undefined : keyOf(stored);
}
