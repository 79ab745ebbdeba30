import { formatInstant } from '../../domain/businessDate';
import type { Party, PartyKey } from '../../services/parties';

/**
 * The wire shape of a party (docs/interface.md §6.1). Fields of other roles are left out rather than
 * sent as null: `regionCode` only for a unit, `clearingAccountNo` and `cutoffTime` only for an
 * agency, `onlinePayment` only for an agency that offers it; `callbackUrl` is always present, null when the party only pulls its events.
 */
export function serializeParty(party: Party): Record<string, unknown> {
  return {
    appId: party.appId,
    role: party.role,
    code: party.code,
    name: party.name,
    status: party.status,
    ...(party.regionCode !== null ? { regionCode: party.regionCode } : {}),
    callbackUrl: party.callbackUrl,
    ...(party.clearingAccountNo !== null ? { clearingAccountNo: party.clearingAccountNo } : {}),
    ...(party.cutoffTime !== null ? { cutoffTime: party.cutoffTime } : {}),
    // Only agencies offering online payment on the payer portal (contracts/decisions/0080).
    ...(party.onlinePayment !== null ? { onlinePayment: party.onlinePayment } : {}),
    keys: party.keys.map(serializePartyKey),
    createdAt: formatInstant(party.createdAt),
  };
}

export function serializePartyKey(key: PartyKey): Record<string, unknown> {
  return { keyId: key.keyId, algorithm: key.algorithm, status: key.status, createdAt: formatInstant(key.createdAt) };
}

/** `POST …/keys` answers the key without its timestamps: `{keyId, algorithm, status}`. */
export function serializeKeyRegistration(key: PartyKey): Record<string, unknown> {
  return { keyId: key.keyId, algorithm: key.algorithm, status: key.status };
}
