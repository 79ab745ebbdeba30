/**
 * The sandbox 代收机构 (沙箱代收机构, contracts/decisions/0081): an agency built into Tongfu so
 * that a newcomer can pay a notice end to end without an agency of their own. It is a registered
 * agency party with its own SM2 key, and it talks to Tongfu exactly as an external agency does:
 * signed HTTP requests to `GET /v1/agency/notices/{payCode}` and `POST /v1/agency/payments` on
 * the service's own address. It never calls a use case directly, so what it proves about the
 * posting path is true of every agency. Off when NODE_ENV=production (the routes are not mounted).
 */
import crypto from 'node:crypto';
import { signRequest } from '../crypto/requestSigning';
import type { Db } from '../db/database';
import { findPartyByRoleCode, listKeys } from '../db/repositories/parties';
import { formatInstant } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import type { Logger } from '../logger';
import { readSandboxKey } from './keys';

export const SANDBOX_AGENCY_CODE = 'SANDBOX_AGENCY';
export const SANDBOX_AGENCY_NAME = '沙箱代收机构';
export const SANDBOX_BANK_CODE = 'SANDBOX_BANK';
export const SANDBOX_BANK_NAME = '沙箱收款银行';
/** The sandbox's checkout on this service: a path, so it works whatever PUBLIC_BASE_URL says. */
export const SANDBOX_CHECKOUT_TEMPLATE = '/sandbox/agency/checkout?payCode={payCode}&amount={amount}&returnUrl={returnUrl}';
/** How long the sandbox waits for Tongfu's answer; a real agency's timeout is its own business. */
export const SANDBOX_REQUEST_TIMEOUT_MS = 10_000;
/** At most this much of an answer is read: Tongfu's answers are a few KiB. */
const ANSWER_BYTES_MAX = 256 * 1024;

export interface SandboxAnswer {
  status: number;
  body: unknown;
}

export interface SandboxCredentials {
  appId: string;
  keyId: string;
  privateKeyHex: string;
}

export interface SandboxAgencyDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  /** Where this service listens, e.g. http://127.0.0.1:8080 (the bound address, else PUBLIC_BASE_URL). */
  selfUrl: () => string;
}

export class SandboxAgency {
  constructor(private readonly deps: SandboxAgencyDependencies) {}

  /** The registered sandbox agency's credentials; undefined until `demo seed` registered it. */
  async credentials(): Promise<SandboxCredentials | undefined> {
    const party = await findPartyByRoleCode(this.deps.db, 'agency', SANDBOX_AGENCY_CODE);
    const key = await readSandboxKey(this.deps.db, 'agency');
    if (party === undefined || key === undefined || party.status !== 'ACTIVE') return undefined;
    const keyRow = (await listKeys(this.deps.db, [party.id])).filter((row) => row.status === 'ACTIVE').at(-1);
    if (keyRow === undefined) return undefined;
    return { appId: party.app_id, keyId: keyRow.key_id, privateKeyHex: key.privateKeyHex };
  }

  /** A fresh agencyTxnId: the checkout page carries it, so a double submit posts once (docs/interface.md §4). */
  newAgencyTxnId(): string {
    return `SBX-${crypto.randomBytes(12).toString('base64url')}`;
  }

  /** Signed `GET /v1/agency/notices/{payCode}`: what the checkout shows before the payer confirms. */
  verify(credentials: SandboxCredentials, payCode: string): Promise<SandboxAnswer> {
    return this.send(credentials, 'GET', `/v1/agency/notices/${encodeURIComponent(payCode)}`, undefined);
  }

  /**
   * Signed `POST /v1/agency/payments` with funds not yet captured: like a bank counter, the
   * sandbox asks before it "takes" the money, so a refused posting records nothing. `paidAt` is
   * the business clock's now, so that a moved TONGFU_CLOCK pays on the day the portal shows.
   */
  pay(credentials: SandboxCredentials, input: { agencyTxnId: string; payCode: string; amount: string }): Promise<SandboxAnswer> {
    const body = JSON.stringify({
      agencyTxnId: input.agencyTxnId,
      payCode: input.payCode,
      amount: input.amount,
      paidAt: formatInstant(this.deps.clocks.business.now()),
      channel: 'ONLINE_BANKING',
      fundsCaptured: false,
    });
    return this.send(credentials, 'POST', '/v1/agency/payments', body);
  }

  private async send(credentials: SandboxCredentials, method: 'GET' | 'POST', target: string, body: string | undefined): Promise<SandboxAnswer> {
    const headers = signRequest({
      method,
      target,
      ...(body === undefined ? {} : { body }),
      appId: credentials.appId,
      keyId: credentials.keyId,
      privateKey: { algorithm: 'SM2', privateKeyHex: credentials.privateKeyHex },
      // Signature timestamps follow the real clock (docs/interface.md §2).
      timestampSeconds: Math.floor(this.deps.clocks.real.now().getTime() / 1000),
    });
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.deps.selfUrl()}${target}`, {
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
    this.deps.log.info({ method, target: target.split('?')[0], status: response.status }, 'sandbox agency request');
    return { status: response.status, body: parsed };
  }
}
