/**
 * The sandbox 代收机构 (沙箱代收机构, contracts/decisions/0081): an agency built into Tongfu so
 * that a newcomer can pay a notice end to end without an agency of their own. It is a registered
 * agency party with its own SM2 key, and it talks to Tongfu exactly as an external agency does:
 * signed HTTP requests to `GET /v1/agency/notices/{payCode}` and `POST /v1/agency/payments` on
 * the service's own address. It never calls a use case directly, so what it proves about the
 * posting path is true of every agency. Off when NODE_ENV=production (the routes are not mounted).
 */
import crypto from 'node:crypto';
import { formatInstant } from '../domain/businessDate';
import { sandboxCredentials, sendSigned, type SandboxAnswer, type SandboxClientDependencies, type SandboxCredentials } from './client';

export type { SandboxAnswer, SandboxCredentials } from './client';
export const SANDBOX_AGENCY_CODE = 'SANDBOX_AGENCY';
export const SANDBOX_AGENCY_NAME = '沙箱代收机构';
export const SANDBOX_BANK_CODE = 'SANDBOX_BANK';
export const SANDBOX_BANK_NAME = '沙箱收款银行';
/** The sandbox's checkout on this service: a path, so it works whatever PUBLIC_BASE_URL says. */
export const SANDBOX_CHECKOUT_TEMPLATE = '/sandbox/agency/checkout?payCode={payCode}&amount={amount}&returnUrl={returnUrl}';
export type SandboxAgencyDependencies = SandboxClientDependencies;

export class SandboxAgency {
  constructor(private readonly deps: SandboxAgencyDependencies) {}

  /** The registered sandbox agency's credentials; undefined until `demo seed` registered it. */
  credentials(): Promise<SandboxCredentials | undefined> {
    return sandboxCredentials(this.deps.db, 'agency', SANDBOX_AGENCY_CODE);
  }

  /** A fresh agencyTxnId: the checkout page carries it, so a double submit posts once (docs/interface.md §4). */
  newAgencyTxnId(): string {
    return `SBX-${crypto.randomBytes(12).toString('base64url')}`;
  }

  /** Signed `GET /v1/agency/notices/{payCode}`: what the checkout shows before the payer confirms. */
  verify(credentials: SandboxCredentials, payCode: string): Promise<SandboxAnswer> {
    return this.send(credentials, { method: 'GET', target: `/v1/agency/notices/${encodeURIComponent(payCode)}` });
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
    return this.send(credentials, { method: 'POST', target: '/v1/agency/payments', body });
  }

  /** Any other signed request of the sandbox agency (its instructions, events, statements). */
  send(credentials: SandboxCredentials, request: { method: 'GET' | 'POST'; target: string; body?: string; contentType?: string }): Promise<SandboxAnswer> {
    return sendSigned(this.deps, 'sandbox agency', credentials, request);
  }
}
