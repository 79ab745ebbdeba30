import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { partyAddCommand } from '../../src/cli/partyAdd';
import { newRsaCredentials, newSm2Credentials, PartyCredentials, signedRequest, SignedRequestOptions } from '../helpers/signedClient';
import type { TestResponse, TestService } from '../helpers/testService';

/**
 * Builders the finance API tests share. The first finance party is registered the way an operator
 * does it, through the `party add` core with a key file; every other party through the API.
 */

let fileCounter = 0;

/** Writes a public key to a temporary file, as an operator hands one to `party add`. */
export function writeKeyFile(contents: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-key-'));
  fileCounter += 1;
  const file = path.join(directory, `party-${fileCounter}.pub`);
  fs.writeFileSync(file, contents);
  return file;
}

/** A finance party registered with `party add`, and the credentials to sign as it. */
export async function addFinanceParty(service: TestService, code = 'FIN-MAIN'): Promise<PartyCredentials> {
  const credentials = newSm2Credentials();
  const file = writeKeyFile(credentials.publicKeyPem);
  const result = await partyAddCommand(['--role', 'finance', '--code', code, '--name', '内蒙古自治区财政厅', '--public-key', file], service.runtime.services);
  return { appId: result.appId, keyId: result.keyId, privateKey: credentials.privateKey, publicKey: credentials.publicKeyPem };
}

/** Signed calls as one party: `call('PUT', '/v1/finance/…', body)`. */
export function caller(service: TestService, credentials: PartyCredentials) {
  return (method: string, target: string, body?: unknown, options: SignedRequestOptions = {}): Promise<TestResponse> =>
    signedRequest(service, credentials, method, target, { ...options, ...(body === undefined ? {} : { body }) });
}

export type Call = ReturnType<typeof caller>;

/** Registers a party through the API and answers its credentials (SM2 PEM unless told otherwise). */
export async function registerParty(
  call: Call,
  fields: Record<string, unknown> & { role: string; code: string },
  keyKind: 'sm2-pem' | 'sm2-hex' | 'rsa' = 'sm2-pem',
): Promise<{ credentials: PartyCredentials; response: TestResponse }> {
  let credentials: PartyCredentials;
  if (keyKind === 'rsa') {
    const rsa = newRsaCredentials(2048);
    credentials = { appId: '', privateKey: rsa.privateKey, publicKey: rsa.publicKeyPem };
  } else {
    const sm2 = newSm2Credentials();
    credentials = { appId: '', privateKey: sm2.privateKey, publicKey: keyKind === 'sm2-hex' ? sm2.publicKeyHex : sm2.publicKeyPem };
  }
  const response = await call('POST', '/v1/finance/parties', { name: `${fields.role} ${fields.code}`, publicKey: credentials.publicKey, ...fields });
  if (response.status !== 201) throw new Error(`registering ${fields.role} ${fields.code} failed: ${response.status} ${response.text}`);
  credentials.appId = response.body.appId;
  credentials.keyId = response.body.keys[0].keyId;
  return { credentials, response };
}

/** A minimal catalogue: a region, a bank, a fiscal and a clearing account. */
export async function seedCatalogue(call: Call, suffix = ''): Promise<{ regionCode: string; bankCode: string; fiscalAccountNo: string; clearingAccountNo: string }> {
  const regionCode = '150000';
  const bankCode = `BANK${suffix}`;
  const fiscalAccountNo = `FISCAL${suffix}`;
  const clearingAccountNo = `CLEAR${suffix}`;
  await expectStatus(call('PUT', `/v1/finance/regions/${regionCode}`, { name: '内蒙古自治区' }), [200, 201]);
  await registerParty(call, { role: 'bank', code: bankCode });
  await expectStatus(call('PUT', `/v1/finance/accounts/${fiscalAccountNo}`, { name: '财政专户', bankCode, kind: 'FISCAL' }), [201]);
  await expectStatus(call('PUT', `/v1/finance/accounts/${clearingAccountNo}`, { name: '汇缴户', bankCode, kind: 'CLEARING' }), [201]);
  return { regionCode, bankCode, fiscalAccountNo, clearingAccountNo };
}

export async function expectStatus(pending: Promise<TestResponse>, statuses: number[]): Promise<TestResponse> {
  const response = await pending;
  if (!statuses.includes(response.status)) throw new Error(`expected ${statuses.join(' or ')}, got ${response.status}: ${response.text}`);
  return response;
}

/** The problems of a VALIDATION_FAILED (or UNKNOWN_REFERENCE) answer, as "path: problem" lines. */
export function problems(response: TestResponse): string[] {
  return ((response.body?.error?.details?.fields ?? []) as Array<{ path: string; problem: string }>).map((field) => `${field.path}: ${field.problem}`);
}
