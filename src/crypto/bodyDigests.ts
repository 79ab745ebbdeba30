// The digests of a body that arrives in chunks, computed in one pass: what a streamed upload
// needs for line 5 of the string to sign (SM3 for SM2 keys, SHA-256 for RSA keys, as bodyDigest
// in requestSigning.ts) and for the file's fingerprint (SHA-256, which docs/interface.md §4 keys a
// statement upload's idempotency on).
import { createHash, type Hash } from 'node:crypto';

import type { KeyAlgorithm } from './keys';

/** Lowercase hex digests of one body. `sm3Hex` only when an SM2 key may have signed it. */
export interface BodyDigests {
  readonly sha256Hex: string;
  readonly sm3Hex?: string;
}

/** The digest line 5 of the string to sign carries for a key of this algorithm. */
export function lineFiveDigest(digests: BodyDigests, algorithm: KeyAlgorithm): string | undefined {
  return algorithm === 'SM2' ? digests.sm3Hex : digests.sha256Hex;
}

/**
 * Hashes chunks as they arrive. SHA-256 always (the fingerprint, and line 5 for RSA keys); SM3
 * only when asked, because it costs several times as much per byte (≈ 9× here: OpenSSL's SHA-256
 * uses the CPU's SHA instructions; see contracts/decisions/0070-streamed-signed-uploads.md).
 */
export class BodyDigester {
  private readonly sha256: Hash = createHash('sha256');
  private readonly sm3: Hash | undefined;
  private finished = false;

  constructor(algorithms: ReadonlySet<KeyAlgorithm>) {
    this.sm3 = algorithms.has('SM2') ? createHash('sm3') : undefined;
  }

  update(chunk: Uint8Array): void {
    if (this.finished) throw new Error('a body digester is finished once');
    this.sha256.update(chunk);
    this.sm3?.update(chunk);
  }

  digests(): BodyDigests {
    if (this.finished) throw new Error('a body digester is finished once');
    this.finished = true;
    const sha256Hex = this.sha256.digest('hex');
    return this.sm3 ? { sha256Hex, sm3Hex: this.sm3.digest('hex') } : { sha256Hex };
  }
}
