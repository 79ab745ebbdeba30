// Encryption at rest for payer id numbers and mobiles (interface standard §6.2).
//
// SM4 (the national standard cipher, as the sector expects) in CBC mode with a random IV, then
// HMAC-SM3 over everything (encrypt-then-MAC), because this OpenSSL offers no SM4-GCM. The MAC
// is checked, in constant time, before anything is decrypted, so tampered or swapped values are
// refused rather than decrypted into garbage (and CBC padding errors never become an oracle).
//
// Token: "v{version}:" + base64(iv[16] || ciphertext[16n] || mac[32]), where
//   mac = HMAC-SM3(macKey, "v{version}:" || iv || ciphertext)
// The version names the master key, so keys can be rotated: new values use the current version,
// old values still decrypt with theirs until they are re-encrypted.
// Per-version keys are derived from the 16-byte master key:
//   encKey = HMAC-SM3(master, "enc")[0..16), macKey = HMAC-SM3(master, "mac") (32 bytes)
// so one secret per version is configured and the two uses never share a key.
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';

import { hmacSm3 } from './sm3';

const IV_BYTES = 16;
const BLOCK_BYTES = 16;
const MAC_BYTES = 32;
const MASTER_KEY_BYTES = 16;
const TOKEN = /^v([1-9][0-9]{0,8}):([A-Za-z0-9+/]+={0,2})$/;

/** A value that cannot be decrypted: malformed, tampered with, or of an unknown key version. */
export class FieldCipherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FieldCipherError';
  }
}

interface DerivedKeys {
  encKey: Buffer;
  macKey: Buffer;
}

function deriveKeys(masterKey: Buffer): DerivedKeys {
  return {
    encKey: hmacSm3(masterKey, 'enc').subarray(0, 16),
    macKey: hmacSm3(masterKey, 'mac'),
  };
}

export class FieldCipher {
  private readonly keysByVersion = new Map<number, DerivedKeys>();

  /**
   * @param keys master keys (16 bytes each) by version, including every version still present
   *   in stored data
   * @param currentVersion the version new values are encrypted with
   */
  constructor(
    keys: Map<number, Buffer>,
    private readonly currentVersion: number,
  ) {
    for (const [version, masterKey] of keys) {
      if (!Number.isInteger(version) || version < 1 || version > 999_999_999) {
        throw new Error(`field key version must be an integer from 1 to 999999999, got ${version}`);
      }
      if (masterKey.length !== MASTER_KEY_BYTES) {
        throw new Error(`field key v${version} must be ${MASTER_KEY_BYTES} bytes, got ${masterKey.length}`);
      }
      this.keysByVersion.set(version, deriveKeys(masterKey));
    }
    if (!this.keysByVersion.has(currentVersion)) throw new Error(`no field key for current version ${currentVersion}`);
  }

  /** Encrypts a UTF-8 string with the current key version. */
  encrypt(plain: string): string {
    const version = this.currentVersion;
    const { encKey, macKey } = this.keysByVersion.get(version)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('sm4-cbc', encKey, iv);
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const prefix = `v${version}:`;
    const mac = hmacSm3(macKey, Buffer.concat([Buffer.from(prefix), iv, ciphertext]));
    return prefix + Buffer.concat([iv, ciphertext, mac]).toString('base64');
  }

  /** Decrypts a token from encrypt(); throws FieldCipherError if it is malformed or was altered. */
  decrypt(token: string): string {
    const match = TOKEN.exec(token);
    if (!match) throw new FieldCipherError('not an encrypted field value');
    const version = Number(match[1]);
    const keys = this.keysByVersion.get(version);
    if (!keys) throw new FieldCipherError(`no field key for version ${version}`);
    const raw = Buffer.from(match[2]!, 'base64');
    const ciphertextBytes = raw.length - IV_BYTES - MAC_BYTES;
    if (ciphertextBytes < BLOCK_BYTES || ciphertextBytes % BLOCK_BYTES !== 0) {
      throw new FieldCipherError('encrypted field value has the wrong length');
    }
    const iv = raw.subarray(0, IV_BYTES);
    const ciphertext = raw.subarray(IV_BYTES, IV_BYTES + ciphertextBytes);
    const mac = raw.subarray(IV_BYTES + ciphertextBytes);
    const expected = hmacSm3(keys.macKey, Buffer.concat([Buffer.from(`v${version}:`), iv, ciphertext]));
    if (!timingSafeEqual(mac, expected)) throw new FieldCipherError('encrypted field value failed authentication');
    const decipher = createDecipheriv('sm4-cbc', keys.encKey, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  }

  /** The version new values are encrypted with (re-encrypt values whose token has another). */
  get version(): number {
    return this.currentVersion;
  }

  /** True if the token was encrypted with an older key version and should be re-encrypted. */
  needsReencryption(token: string): boolean {
    const match = TOKEN.exec(token);
    return match !== null && Number(match[1]) !== this.currentVersion;
  }
}

/** A FieldCipher with one master key given as 32 hex digits (16 bytes), as key `version`. */
export function fieldCipherFromHex(hex32: string, version = 1): FieldCipher {
  if (!/^[0-9a-fA-F]{32}$/.test(hex32)) throw new Error('field master key must be 32 hex digits (16 bytes)');
  return new FieldCipher(new Map([[version, Buffer.from(hex32, 'hex')]]), version);
}
