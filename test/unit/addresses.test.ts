import { clientAddressOf, lookupClientKey, parseCidrList } from '../../src/net/addresses';

describe('the client address behind proxies', () => {
  const none = parseCidrList('');
  const trusted = parseCidrList('10.0.0.0/8,fd00::/8');

  it('is the socket peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddressOf('203.0.113.9', '198.51.100.1', none)).toBe('203.0.113.9');
    expect(clientAddressOf('::ffff:203.0.113.9', undefined, none)).toBe('203.0.113.9');
  });

  it('is the peer when the peer is not a trusted proxy (a spoofed header from outside)', () => {
    expect(clientAddressOf('203.0.113.9', '198.51.100.1', trusted)).toBe('203.0.113.9');
  });

  it('is the right-most hop that is not a trusted proxy', () => {
    expect(clientAddressOf('10.0.0.2', '198.51.100.1', trusted)).toBe('198.51.100.1');
    // The client sent a forged hop on the left; the proxies appended the real one and themselves.
    expect(clientAddressOf('10.0.0.2', '1.2.3.4, 198.51.100.1, 10.0.0.7', trusted)).toBe('198.51.100.1');
    expect(clientAddressOf('fd00::2', '2001:db8::1, fd00::3', trusted)).toBe('2001:db8::1');
  });

  it('stops at a hop that is not an address, and at the last proxy when every hop is one', () => {
    expect(clientAddressOf('10.0.0.2', 'garbage, 10.0.0.9', trusted)).toBe('10.0.0.9');
    expect(clientAddressOf('10.0.0.2', '10.0.0.8, 10.0.0.9', trusted)).toBe('10.0.0.8');
    expect(clientAddressOf('10.0.0.2', undefined, trusted)).toBe('10.0.0.2');
  });
});

describe('the key the public lookup limits count a client by', () => {
  it('is an IPv4 address itself and an IPv6 address’s /64', () => {
    expect(lookupClientKey('203.0.113.9')).toBe('203.0.113.9');
    expect(lookupClientKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(lookupClientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(lookupClientKey('2001:DB8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(lookupClientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(lookupClientKey('::1')).toBe('0:0:0:0::/64');
    expect(lookupClientKey('2001:db8:1:3::1')).not.toBe(lookupClientKey('2001:db8:1:2::1'));
  });
});
