import net from 'node:net';

/**
 * IP addresses and CIDR lists (TONGFU_TRUSTED_PROXIES, TONGFU_CALLBACK_ALLOW): parsing, matching,
 * the client address behind trusted proxies, and the /64 an IPv6 client is counted by.
 */

export type IpFamily = 'ipv4' | 'ipv6';

/** A set of address ranges; `contains` of an address that is not an IP is false. */
export interface AddressRanges {
  readonly cidrs: readonly string[];
  contains(address: string): boolean;
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1, as a dual-stack socket reports) is its IPv4 address; IPv6 is lower-cased. */
export function normaliseAddress(address: string): string {
  const trimmed = address.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(trimmed);
  if (mapped && net.isIPv4(mapped[1] as string)) return mapped[1] as string;
  return net.isIPv6(trimmed) ? trimmed.toLowerCase() : trimmed;
}

export function familyOf(address: string): IpFamily | undefined {
  const kind = net.isIP(address);
  return kind === 4 ? 'ipv4' : kind === 6 ? 'ipv6' : undefined;
}

/**
 * A comma-separated list of CIDRs (`10.0.0.0/8, fd00::/8`); a bare address is a range of one.
 * Empty text is an empty list. Throws an Error naming the first entry that is not a CIDR.
 */
export function parseCidrList(text: string): AddressRanges {
  const blocks = new net.BlockList();
  const cidrs: string[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [addressPart = '', prefixPart, extra] = entry.split('/');
    const address = normaliseAddress(addressPart);
    const family = familyOf(address);
    const bits = family === 'ipv4' ? 32 : 128;
    if (family === undefined || extra !== undefined || (prefixPart !== undefined && !/^\d{1,3}$/.test(prefixPart))) {
      throw new Error(`"${entry}" is not a CIDR (like 10.0.0.0/8 or fd00::/8)`);
    }
    const prefix = prefixPart === undefined ? bits : Number(prefixPart);
    if (prefix > bits) throw new Error(`"${entry}": an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} prefix is at most /${bits}`);
    blocks.addSubnet(address, prefix, family);
    cidrs.push(`${address}/${prefix}`);
  }
  return {
    cidrs,
    contains(candidate: string): boolean {
      const address = normaliseAddress(candidate);
      const family = familyOf(address);
      return family !== undefined && cidrs.length > 0 && blocks.check(address, family);
    },
  };
}

/**
 * The client's address (docs/interface.md §6; contracts/decisions/0057-client-address-and-callbacks.md):
 * the socket's peer, unless the peer is a trusted proxy; then the right-most hop of
 * X-Forwarded-For that is not itself a trusted proxy (each proxy appends the address it received
 * from, so hops right of it were written by trusted proxies and left of it by anyone). A hop that
 * is not an IP address ends the walk at the proxy that wrote it. With no trusted proxies the
 * header is ignored, whoever sends it.
 */
export function clientAddressOf(peer: string, forwardedFor: string | undefined, trusted: AddressRanges): string {
  let client = normaliseAddress(peer);
  if (!trusted.contains(client) || forwardedFor === undefined) return client;
  const hops = forwardedFor.split(',').map((hop) => normaliseAddress(hop));
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hops[index] as string;
    if (familyOf(hop) === undefined) return client;
    client = hop;
    if (!trusted.contains(hop)) return hop;
  }
  return client;
}

/**
 * The IPv4 address an IPv6 address carries and reaches through a translator or tunnel, if any:
 * IPv4-mapped (`::ffff:0:0/96`) and IPv4-translated (`::ffff:0:0:0/96`), IPv4-compatible
 * (`::/96`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`, RFC 6052 and 8215) in the last 32 bits, and
 * 6to4 (`2002::/16`) in bits 16–47.
 */
export function embeddedIpv4(address: string): string | undefined {
  if (familyOf(address) !== 'ipv6') return undefined;
  const g = ipv6Groups(address);
  const v4 = (high: number, low: number): string => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeros = (from: number, to: number): boolean => g.slice(from, to).every((group) => group === 0);
  if (g[0] === 0x2002) return v4(g[1] as number, g[2] as number);
  const tail = v4(g[6] as number, g[7] as number);
  if (zeros(0, 5) && g[5] === 0xffff) return tail;
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return tail;
  if (zeros(0, 6)) return tail;
  if (g[0] === 0x64 && g[1] === 0xff9b && (zeros(2, 6) || g[2] === 1)) return tail;
  return undefined;
}

/** The 8 groups of an IPv6 address, as numbers (an embedded IPv4 tail counts as two). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array.from({ length: missing }, () => '0'), ...right].map((group) => parseInt(group, 16));
}

/**
 * What the public lookup limits count a client by: an IPv4 address as it is, an IPv6 address by
 * its /64 (one subscriber's network: a client that rotates within it is still one client).
 */
export function lookupClientKey(address: string): string {
  const normalised = normaliseAddress(address);
  if (familyOf(normalised) !== 'ipv6') return normalised;
  return `${ipv6Groups(normalised).slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}
