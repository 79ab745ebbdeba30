import type { Config } from '../config';
import { parsePublicKey } from '../crypto/keys';
import { createSm2Signer } from '../crypto/sm2';
import type { BytesLike } from '../crypto/sm3';
import type { Db } from '../db/database';
import { findPlatformKey, listPlatformKeys, recordPlatformKey } from '../db/repositories/platformKeys';
import type { Logger } from '../logger';
import { readStoredPlatformSigningKey, resolvePlatformSigningKey, SecretSource } from './platformSecrets';

/** The appId the platform signs its callbacks with (docs/interface.md §2). */
export const PLATFORM_APP_ID = 'TONGFU';

/**
 * The platform's SM2 key, for what it signs: callbacks (sign the string to sign), receipts and
 * daily closes (sign the canonical JSON). SM2 with SM3 and the default user ID, DER-encoded, like
 * every party's key.
 */
export interface PlatformSigner {
  readonly appId: typeof PLATFORM_APP_ID;
  readonly algorithm: 'SM2';
  /** Derived from the key (keys.ts), so every instance names it the same way. */
  readonly keyId: string;
  /** Uncompressed point, 130 lowercase hex digits (04…). */
  readonly publicKeyHex: string;
  /** SubjectPublicKeyInfo PEM as OpenSSL writes it. */
  readonly publicKeyPem: string;
  /** DER signature over the bytes (a string is signed as its UTF-8 bytes). */
  sign(message: BytesLike): Buffer;
}

/** One entry of `GET /v1/platform/keys`. */
export interface PublishedPlatformKey {
  keyId: string;
  algorithm: 'SM2';
  publicKey: string;
  publicKeyHex: string;
  status: 'ACTIVE' | 'RETIRED';
}

export function createPlatformSigner(privateKeyHex: string): PlatformSigner {
  const signer = createSm2Signer(privateKeyHex);
  const publicKey = parsePublicKey(signer.publicKeyHex);
  return {
    appId: PLATFORM_APP_ID,
    algorithm: 'SM2',
    keyId: publicKey.keyId,
    publicKeyHex: signer.publicKeyHex,
    publicKeyPem: publicKey.pem,
    sign: (message) => signer.sign(message),
  };
}

function published(signer: Pick<PlatformSigner, 'keyId' | 'publicKeyHex' | 'publicKeyPem'>, status: PublishedPlatformKey['status']): PublishedPlatformKey {
  return { keyId: signer.keyId, algorithm: 'SM2', publicKey: signer.publicKeyPem, publicKeyHex: signer.publicKeyHex, status };
}

/** The platform's signing key and the list it publishes. */
export class PlatformKeyService {
  private readonly keys: PublishedPlatformKey[];

  /**
   * `db`, when given, is where every key the platform ever signed with is recorded
   * (db/repositories/platformKeys.ts): the list is then read from there, so a key another
   * instance started with after this one is published too.
   */
  constructor(
    readonly signer: PlatformSigner,
    readonly source: SecretSource,
    retired: PublishedPlatformKey[] = [],
    private readonly db?: Db,
  ) {
    this.keys = [published(signer, 'ACTIVE'), ...retired.filter((key) => key.keyId !== signer.keyId)];
  }

  /** The keys known when this instance started: the active key first, then keys it replaced. */
  publishedKeys(): PublishedPlatformKey[] {
    return this.keys.map((key) => ({ ...key }));
  }

  /**
   * `GET /v1/platform/keys`: this instance's signing key first (ACTIVE), then every other key
   * the platform ever signed with (RETIRED), newest first.
   */
  async listKeys(): Promise<PublishedPlatformKey[]> {
    if (this.db === undefined) return this.publishedKeys();
    const rows = await listPlatformKeys(this.db);
    const retired = rows.filter((row) => row.key_id !== this.signer.keyId).map((row) => publishedRow(row.public_key_hex, 'RETIRED'));
    return [published(this.signer, 'ACTIVE'), ...retired];
  }

  /** The published key named `keyId`, active or retired, or undefined when the platform never had it. */
  async findKey(keyId: string): Promise<PublishedPlatformKey | undefined> {
    const known = this.keys.find((key) => key.keyId === keyId);
    if (known !== undefined || this.db === undefined) return known === undefined ? undefined : { ...known };
    const row = await findPlatformKey(this.db, keyId);
    return row === undefined ? undefined : publishedRow(row.public_key_hex, 'RETIRED');
  }
}

function publishedRow(publicKeyHex: string, status: PublishedPlatformKey['status']): PublishedPlatformKey {
  const key = parsePublicKey(publicKeyHex);
  return published({ keyId: key.keyId, publicKeyHex, publicKeyPem: key.pem }, status);
}

/**
 * The platform key from TONGFU_PLATFORM_KEY, else generated once and kept in the database
 * (docs/operations.md §2). Every key the platform signs with is recorded, public part only, in
 * platform_keys (contracts/decisions/0055-platform-keys-kept.md), and every recorded key other
 * than the one this instance signs with is published as RETIRED: a rotation of the configured
 * key, or a configured key replacing a generated one, leaves every receipt and close the old key
 * signed verifiable.
 */
export async function loadPlatformKeys(deps: { db: Db; config: Pick<Config, 'platformKeyHex'>; log: Logger }): Promise<PlatformKeyService> {
  const secret = await resolvePlatformSigningKey(deps.db, deps.config);
  const signer = createPlatformSigner(secret.hex);
  // A generated key that a configured one replaced signed before platform_keys existed perhaps:
  // record it too (its private part stays where it was generated, in platform_settings).
  if (secret.source === 'config') {
    const generated = await readStoredPlatformSigningKey(deps.db);
    if (generated !== undefined && generated !== secret.hex) {
      const old = createPlatformSigner(generated);
      await recordPlatformKey(deps.db, { keyId: old.keyId, publicKeyHex: old.publicKeyHex, source: 'database' });
    }
  }
  await recordPlatformKey(deps.db, { keyId: signer.keyId, publicKeyHex: signer.publicKeyHex, source: secret.source });
  const retired = (await listPlatformKeys(deps.db)).filter((row) => row.key_id !== signer.keyId).map((row) => publishedRow(row.public_key_hex, 'RETIRED'));
  deps.log.info({ keyId: signer.keyId, source: secret.source, retiredKeyIds: retired.map((key) => key.keyId) }, 'platform signing key loaded');
  return new PlatformKeyService(signer, secret.source, retired, deps.db);
}
