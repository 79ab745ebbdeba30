import dns from 'node:dns';
import { AddressRanges, embeddedIpv4, familyOf, normaliseAddress, parseCidrList } from './addresses';

/**
 * Where a callback may go (contracts/decisions/0057-client-address-and-callbacks.md). With
 * NODE_ENV=production a callback URL whose host resolves to an address inside the platform's own
 * networks — loopback, private (RFC 1918), link-local, unique-local, unspecified, CGNAT — is
 * refused, at registration and again at every delivery attempt (DNS may change in between),
 * unless TONGFU_CALLBACK_ALLOW lists it. Outside production everything is allowed: sandboxes and
 * tests call receivers on loopback.
 *
 * In production the address checked is the address connected to: the attempt resolves the host
 * once, checks every address it got, and connects to the first with the URL's host name kept for
 * the Host header and TLS, so a DNS answer that changes between the check and the connection
 * (rebinding) cannot move the attempt elsewhere.
 */
export interface CallbackAddressPolicy {
  production: boolean;
  allow: AddressRanges;
  /** Resolves a host name to all its addresses (tests inject one); dns.lookup by default. */
  lookup?: (hostname: string) => Promise<ResolvedAddress[]>;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type CallbackTargetCheck = { allowed: true; pinned: ResolvedAddress | undefined } | { allowed: false; problem: string };

const FORBIDDEN_RANGES: ReadonlyArray<{ label: string; ranges: AddressRanges }> = [
  { label: 'loopback', ranges: parseCidrList('127.0.0.0/8, ::1/128') },
  { label: 'private (RFC 1918)', ranges: parseCidrList('10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16') },
  { label: 'link-local', ranges: parseCidrList('169.254.0.0/16, fe80::/10') },
  { label: 'unique-local', ranges: parseCidrList('fc00::/7') },
  { label: 'unspecified', ranges: parseCidrList('0.0.0.0/8, ::/128') },
  { label: 'CGNAT (shared address space)', ranges: parseCidrList('100.64.0.0/10') },
];

/**
 * The kind of internal address `address` is, or undefined for an address callbacks may reach. An
 * IPv6 address that carries an IPv4 one (NAT64, 6to4, mapped, translated) is judged by that IPv4
 * address too: a translator would deliver it there.
 */
export function internalAddressKind(address: string): string | undefined {
  const normalised = normaliseAddress(address);
  const own = FORBIDDEN_RANGES.find((forbidden) => forbidden.ranges.contains(normalised))?.label;
  if (own !== undefined) return own;
  const carried = embeddedIpv4(normalised);
  const label = carried === undefined ? undefined : FORBIDDEN_RANGES.find((forbidden) => forbidden.ranges.contains(carried))?.label;
  return label === undefined ? undefined : `${label} (as the IPv4 address ${carried ?? ''} it carries)`;
}

async function systemLookup(hostname: string): Promise<ResolvedAddress[]> {
  const found = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
}

/** Whether a callback may go to `url` now, and (in production) the address to connect to. */
export async function checkCallbackTarget(url: URL, policy: CallbackAddressPolicy): Promise<CallbackTargetCheck> {
  if (!policy.production) return { allowed: true, pinned: undefined };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  const literal = familyOf(normaliseAddress(host));
  if (literal !== undefined) {
    addresses = [{ address: normaliseAddress(host), family: literal === 'ipv4' ? 4 : 6 }];
  } else {
    try {
      addresses = await (policy.lookup ?? systemLookup)(host);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'lookup failed';
      return { allowed: false, problem: `the host ${host} does not resolve (${code})` };
    }
    if (addresses.length === 0) return { allowed: false, problem: `the host ${host} does not resolve` };
  }
  for (const { address } of addresses) {
    const kind = internalAddressKind(address);
    if (kind !== undefined && !policy.allow.contains(address)) {
      const described = `${kind === 'unspecified' ? 'an' : 'a'} ${kind} address`;
      const what = literal !== undefined ? `${address} is ${described}` : `${host} resolves to ${address}, ${described}`;
      return { allowed: false, problem: `${what}, which callbacks may not reach (unless TONGFU_CALLBACK_ALLOW lists it)` };
    }
  }
  const [first] = addresses;
  return { allowed: true, pinned: first === undefined ? undefined : { address: normaliseAddress(first.address), family: first.family } };
}
