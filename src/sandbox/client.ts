/**
 * How the sandbox parties (contracts/decisions/0081, 0220) talk to Tongfu: signed HTTP requests to
 * the service's own address, exactly as an external agency or bank sends them. Nothing here calls
 * a use case: what the sandbox proves about a path is true of every party.
 */
import { keyIdFromSpkiDer, sm2PointToSpkiDer, sm2PublicKeyFromPrivate } from '../crypto/keys';
import { signRequest } from '../crypto/requestSigning';
import type { Db } from '../db/database';
import { findPartyByRoleCode, listKeys } from '../db/repositories/parties';
import type { Clocks } from '../domain/clock';
import type { Logger } from '../logger';
import { readSandboxKey, type SandboxRole } from './keys';

/** How long the sandbox waits for Tongfu's answer; a real party's timeout is its own business. */
export const SANDBOX_REQUEST_TIMEOUT_MS = 10_000;
/** At most this much of an answer is read: Tongfu's answers are a few KiB, a page of 100 instructions some tens. */
const ANSWER_BYTES_MAX = 1024 * 1024;

export interface SandboxAnswer {
  status: number;
  body: unknown;
}

export interface SandboxCredentials {
  appId: string;
  keyId: string;
  privateKeyHex: string;
}

export interface SandboxClientDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  /** Where this service listens, e.g. http://127.0.0.1:8080 (the bound address, else PUBLIC_BASE_URL). */
  selfUrl: () => string;
}

/** The registered, active sandbox party's credentials; undefined until `demo seed` registered it. */
export async function sandboxCredentials(db: Db, role: SandboxRole, code: string): Promise<SandboxCredentials | undefined> {
  const party = await findPartyByRoleCode(db, role, code);
  const key = await readSandboxKey(db, role);
  if (party === undefined || key === undefined || party.status !== 'ACTIVE') return undefined;
  // The key id of the sandbox's own key pair, not the party's newest key: an operator may add a
  // key to a sandbox party (`party key add`), and a signature names the key that made it.
  const ownKeyId = keyIdFromSpkiDer(sm2PointToSpkiDer(sm2PublicKeyFromPrivate(key.privateKeyHex)));
  const keyRow = (await listKeys(db, [party.id])).find((row) => row.key_id === ownKeyId && row.status === 'ACTIVE');
  if (keyRow === undefined) return undefined;
  return { appId: party.app_id, keyId: keyRow.key_id, privateKeyHex: key.privateKeyHex };
}

/** One signed request to this service; `who` names the sandbox party in the log. */
export async function sendSigned(
  deps: SandboxClientDependencies,
  who: string,
  credentials: SandboxCredentials,
  request: { method: 'GET' | 'POST'; target: string; body?: string; contentType?: string },
): Promise<SandboxAnswer> {
  const { method, target, body } = request;
  const headers = signRequest({
    method,
    target,
    ...(body === undefined ? {} : { body }),
    appId: credentials.appId,
    keyId: credentials.keyId,
    privateKey: { algorithm: 'SM2', privateKeyHex: credentials.privateKeyHex },
    // Signature timestamps follow the real clock (docs/interface.md §2).
    timestampSeconds: Math.floor(deps.clocks.real.now().getTime() / 1000),
  });
  if (body !== undefined) headers['content-type'] = request.contentType ?? 'application/json';
  const response = await fetch(`${deps.selfUrl()}${target}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    redirect: 'manual',
    signal: AbortSignal.timeout(SANDBOX_REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(0, ANSWER_BYTES_MAX));
  } catch {
    parsed = undefined;
  }
  deps.log.info({ method, target: target.split('?')[0], status: response.status }, `${who} request`);
  return { status: response.status, body: parsed };
}
