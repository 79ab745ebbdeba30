import { parseCidrList } from '../../src/net/addresses';
import { checkCallbackTarget, internalAddressKind, ResolvedAddress } from '../../src/net/callbackTarget';

describe('internal addresses callbacks may not reach in production', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private (RFC 1918)'],
    ['172.16.0.1', 'private (RFC 1918)'],
    ['172.31.255.254', 'private (RFC 1918)'],
    ['192.168.1.1', 'private (RFC 1918)'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'CGNAT (shared address space)'],
    ['100.127.255.254', 'CGNAT (shared address space)'],
  ])('%s is %s', (address, kind) => {
    expect(internalAddressKind(address)).toBe(kind);
  });

  it.each([
    ['64:ff9b::7f00:1', 'loopback (as the IPv4 address 127.0.0.1 it carries)'],
    ['64:ff9b::10.0.0.1', 'private (RFC 1918) (as the IPv4 address 10.0.0.1 it carries)'],
    ['64:ff9b:1::a9fe:a9fe', 'link-local (as the IPv4 address 169.254.169.254 it carries)'],
    ['2002:7f00:1::', 'loopback (as the IPv4 address 127.0.0.1 it carries)'],
    ['2002:c0a8:101::1', 'private (RFC 1918) (as the IPv4 address 192.168.1.1 it carries)'],
    ['::ffff:0:7f00:1', 'loopback (as the IPv4 address 127.0.0.1 it carries)'],
    ['::ffff:7f00:1', 'loopback'],
    ['::7f00:1', 'loopback (as the IPv4 address 127.0.0.1 it carries)'],
  ])('%s, an IPv6 address carrying an internal IPv4 one, is internal: %s', (address, kind) => {
    expect(internalAddressKind(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:db8::1', '198.51.100.7', '64:ff9b::808:808', '2002:808:808::1'])('%s is not internal', (address) => {
    expect(internalAddressKind(address)).toBeUndefined();
  });
});

describe('checkCallbackTarget', () => {
  const none = parseCidrList('');
  const resolvingTo = (...addresses: ResolvedAddress[]) => jest.fn(async () => addresses);

  it('allows anything outside production, resolving nothing', async () => {
    const lookup = resolvingTo({ address: '127.0.0.1', family: 4 });
    expect(await checkCallbackTarget(new URL('http://localhost:9/x'), { production: false, allow: none, lookup })).toEqual({ allowed: true, pinned: undefined });
    expect(lookup).not.toHaveBeenCalled();
  });

  it('refuses literal and resolved internal addresses in production, saying which and why', async () => {
    const literal = await checkCallbackTarget(new URL('http://[::1]:8080/x'), { production: true, allow: none });
    expect(literal).toEqual({ allowed: false, problem: expect.stringContaining('::1 is a loopback address') });
    // Any one internal address among the answers refuses: the connection could go to it.
    const mixed = await checkCallbackTarget(new URL('https://partner.example/cb'), { production: true, allow: none, lookup: resolvingTo({ address: '198.51.100.7', family: 4 }, { address: '10.0.0.8', family: 4 }) });
    expect(mixed).toEqual({ allowed: false, problem: expect.stringContaining('partner.example resolves to 10.0.0.8, a private (RFC 1918) address') });
    const failing = await checkCallbackTarget(new URL('https://nowhere.example/cb'), { production: true, allow: none, lookup: jest.fn(async () => Promise.reject(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }))) });
    expect(failing).toEqual({ allowed: false, problem: 'the host nowhere.example does not resolve (ENOTFOUND)' });
  });

  it('pins the first address checked, and lets TONGFU_CALLBACK_ALLOW through', async () => {
    const publicHost = await checkCallbackTarget(new URL('https://partner.example/cb'), { production: true, allow: none, lookup: resolvingTo({ address: '198.51.100.7', family: 4 }, { address: '2001:db8::7', family: 6 }) });
    expect(publicHost).toEqual({ allowed: true, pinned: { address: '198.51.100.7', family: 4 } });
    const allowed = await checkCallbackTarget(new URL('http://10.20.0.5:8080/cb'), { production: true, allow: parseCidrList('10.20.0.0/16') });
    expect(allowed).toEqual({ allowed: true, pinned: { address: '10.20.0.5', family: 4 } });
  });
});
