import type { Config } from '../config';
import { parsePublicKey } from '../crypto/keys';
import { createSm2Signer } from '../crypto/sm2';
import type { BytesLike } from '../crypto/sm3';
import type { Db } from '../db/database';
import type { Logger } from '../logger';
import { readStoredPlatformSigningKey, resolvePlatformSigningKey, SecretSource } from './platformSecrets';

/** The appId the platform signs its callbacks with (interface.md §2). */
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

  constructor(
    readonly signer: PlatformSigner,
    readonly source: SecretSource,
    retired: PublishedPlatformKey[] = [],
  ) {
    this.keys = [published(signer, 'ACTIVE'), ...retired.filter((key) => key.keyId !== signer.keyId)];
  }

  /** `GET /v1/platform/keys`: the active key first, then keys it replaced. */
  publishedKeys(): PublishedPlatformKey[] {
    return this.keys.map((key) => ({ ...key }));
  }
}

/**
 * The platform key from TONGFU_PLATFORM_KEY, else generated once and kept in the database
 * (operations.md §2). When a configured key replaces one generated earlier (a sandbox promoted to
 * a configured key), the generated one is still published, as RETIRED, so receipts and closes it
 * signed stay verifiable.
 */
export async function loadPlatformKeys(deps: { db: Db; config: Pick<Config, 'platformKeyHex'>; log: Logger }): Promise<PlatformKeyService> {
  const secret = await resolvePlatformSigningKey(deps.db, deps.config);
  const signer = createPlatformSigner(secret.hex);
  const retired: PublishedPlatformKey[] = [];
  if (secret.source === 'config') {
    const generated = await readStoredPlatformSigningKey(deps.db);
    if (generated !== undefined && generated !== secret.hex) retired.push(published(createPlatformSigner(generated), 'RETIRED'));
  }
  deps.log.info({ keyId: signer.keyId, source: secret.source }, 'platform signing key loaded');
  return new PlatformKeyService(signer, secret.source, retired);
}
