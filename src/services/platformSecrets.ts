import { randomBytes } from 'node:crypto';
import type { Config } from '../config';
import { assertSm2PrivateKeyHex } from '../crypto/sm2';
import { FieldCipher, fieldCipherFromHex } from '../crypto/fieldCipher';
import { generateSm2KeyPair } from '../crypto/keys';
import type { Db } from '../db/database';
import { insertPlatformSettingIfAbsent, readPlatformSetting } from '../db/repositories/platformSettings';

/**
 * The platform's own secrets (docs/operations.md §2): its SM2 signing key (TONGFU_PLATFORM_KEY) and the
 * SM4 field key (TONGFU_FIELD_KEY). Configuration wins; without it (never in production, which
 * config.ts enforces) the first instance generates the secret and stores it in platform_settings,
 * and every later or concurrent instance reads the same value, so all of them sign with one key
 * and decrypt each other's fields.
 */
export const PLATFORM_SETTING = {
  signingKey: 'platform_signing_key_sm2',
  fieldKey: 'field_key_sm4',
} as const;

/** The version field values are tagged with (fieldCipher.ts). One key for now; rotation adds v2. */
export const FIELD_KEY_VERSION = 1;

const FIELD_KEY_HEX = /^[0-9a-f]{32}$/;

export type SecretSource = 'config' | 'database';

export interface PlatformSecret {
  hex: string;
  source: SecretSource;
}

/** The platform's SM2 private key (64 hex digits): configured, else generated once and stored. */
export async function resolvePlatformSigningKey(db: Db, config: Pick<Config, 'platformKeyHex'>): Promise<PlatformSecret> {
  if (config.platformKeyHex !== undefined) return { hex: assertSm2PrivateKeyHex(config.platformKeyHex), source: 'config' };
  const stored = await insertPlatformSettingIfAbsent(db, PLATFORM_SETTING.signingKey, generateSm2KeyPair().privateKeyHex);
  return { hex: assertStored(PLATFORM_SETTING.signingKey, stored, (value) => assertSm2PrivateKeyHex(value)), source: 'database' };
}

/** The generated signing key kept in the database, if one was ever generated (read only). */
export async function readStoredPlatformSigningKey(db: Db): Promise<string | undefined> {
  const stored = await readPlatformSetting(db, PLATFORM_SETTING.signingKey);
  return stored === undefined ? undefined : assertStored(PLATFORM_SETTING.signingKey, stored, (value) => assertSm2PrivateKeyHex(value));
}

/** The SM4 field key (32 hex digits): configured, else generated once and stored. */
export async function resolveFieldKey(db: Db, config: Pick<Config, 'fieldKeyHex'>): Promise<PlatformSecret> {
  if (config.fieldKeyHex !== undefined) return { hex: config.fieldKeyHex.toLowerCase(), source: 'config' };
  const stored = await insertPlatformSettingIfAbsent(db, PLATFORM_SETTING.fieldKey, randomBytes(16).toString('hex'));
  return {
    hex: assertStored(PLATFORM_SETTING.fieldKey, stored, (value) => {
      if (!FIELD_KEY_HEX.test(value)) throw new Error('not 32 lowercase hex digits');
      return value;
    }),
    source: 'database',
  };
}

/** The FieldCipher that encrypts payer id numbers and mobiles at rest (docs/interface.md §6.2). */
export async function loadFieldCipher(db: Db, config: Pick<Config, 'fieldKeyHex'>): Promise<FieldCipher> {
  const { hex } = await resolveFieldKey(db, config);
  return fieldCipherFromHex(hex, FIELD_KEY_VERSION);
}

/** A stored secret that does not parse is a broken invariant (someone edited the row): crash. */
function assertStored(name: string, value: string, check: (value: string) => string): string {
  try {
    return check(value);
  } catch (error) {
    throw new Error(`invariant broken: platform_settings.${name} is not a valid key (${(error as Error).message})`, { cause: error });
  }
}
