import type { Services } from '../services';
import { CLI_ACTOR } from '../services/audit';
import { SANDBOX_AGENCY_CODE, SANDBOX_AGENCY_NAME, SANDBOX_BANK_CODE, SANDBOX_BANK_NAME, SANDBOX_CHECKOUT_TEMPLATE } from './agency';
import { sandboxKey } from './keys';

/**
 * Registers the sandbox bank and agency through the party use case, each with its own key
 * (generated once and kept in platform_settings). The bank comes first because the agency's
 * clearing account is held at a bank; the caller creates that account in between. Repeating a
 * registration answers the registered party (the use case is idempotent on role and code).
 */
export async function registerSandboxBank(services: Services): Promise<{ appId: string; code: string }> {
  const key = await sandboxKey(services.deps.db, 'bank');
  const registration = await services.parties.register({ role: 'bank', code: SANDBOX_BANK_CODE, name: SANDBOX_BANK_NAME, publicKey: key.publicKeyPem }, CLI_ACTOR);
  return { appId: registration.party.appId, code: SANDBOX_BANK_CODE };
}

export async function registerSandboxAgency(services: Services, clearingAccountNo: string): Promise<{ appId: string; code: string }> {
  const key = await sandboxKey(services.deps.db, 'agency');
  const registration = await services.parties.register({
    role: 'agency',
    code: SANDBOX_AGENCY_CODE,
    name: SANDBOX_AGENCY_NAME,
    publicKey: key.publicKeyPem,
    clearingAccountNo,
    onlinePayment: { displayName: SANDBOX_AGENCY_NAME, logoText: '沙箱', checkoutUrlTemplate: SANDBOX_CHECKOUT_TEMPLATE },
  }, CLI_ACTOR);
  return { appId: registration.party.appId, code: SANDBOX_AGENCY_CODE };
}
