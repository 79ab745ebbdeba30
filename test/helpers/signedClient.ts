import { generateKeyPairSync } from 'node:crypto';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { RequestPrivateKey, signRequest } from '../../src/crypto/requestSigning';
import type { RequestOptions, TestResponse, TestService } from './testService';

/** A party's credentials as a test holds them. */
export interface PartyCredentials {
  appId: string;
  keyId?: string;
  privateKey: RequestPrivateKey;
  /** What was registered: PEM or, for SM2, the 130-hex point. */
  publicKey: string;
}

export function newSm2Credentials(): { privateKey: RequestPrivateKey; publicKeyPem: string; publicKeyHex: string } {
  const pair = generateSm2KeyPair();
  return { privateKey: { algorithm: 'SM2', privateKeyHex: pair.privateKeyHex }, publicKeyPem: pair.publicKeyPem, publicKeyHex: pair.publicKeyHex };
}

export function newRsaCredentials(bits = 2048): { privateKey: RequestPrivateKey; publicKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    privateKey: { algorithm: 'RSA', privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export interface SignedRequestOptions extends RequestOptions {
  /** Override any signing input to forge or break a request on purpose. */
  timestampSeconds?: number;
  nonce?: string;
  keyId?: string | null;
}

/** Signs exactly the bytes it sends, as an integrating party would. */
export function signedRequest(service: TestService, credentials: PartyCredentials, method: string, path: string, options: SignedRequestOptions = {}): Promise<TestResponse> {
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const signed = signRequest({
    method,
    target: path,
    body,
    appId: credentials.appId,
    keyId: options.keyId === null ? undefined : (options.keyId ?? credentials.keyId),
    privateKey: credentials.privateKey,
    timestampSeconds: options.timestampSeconds ?? Math.floor(Date.now() / 1000),
    nonce: options.nonce,
  });
  const headers: Record<string, string> = { ...signed, ...options.headers };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  return service.request(method, path, { ...options, rawBody: body, body: undefined, headers });
}
