import { sm3 as jsSm3 } from 'sm-crypto-v2';

import { hmacSm3, sm3Bytes, sm3Hex } from '../../../src/crypto/sm3';

describe('sm3', () => {
  it('matches the GB/T 32905 examples', () => {
    expect(sm3Hex('abc')).toBe('66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
    expect(sm3Hex('abcd'.repeat(16))).toBe('debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732');
  });

  it('hashes strings as UTF-8 and agrees with bytes', () => {
    expect(sm3Hex('通付')).toBe(sm3Hex(Buffer.from('通付', 'utf8')));
    expect(sm3Bytes('abc').toString('hex')).toBe(sm3Hex('abc'));
    expect(sm3Hex('')).toBe('1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b');
  });

  it('computes HMAC-SM3 like the independent implementation in sm-crypto-v2', () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const longKey = Buffer.alloc(100, 0xab); // longer than the 64-byte block: hashed first
    for (const k of [key, longKey]) {
      const expected = jsSm3(new Uint8Array(Buffer.from('payload')), { key: new Uint8Array(k), mode: 'hmac' });
      expect(hmacSm3(k, 'payload').toString('hex')).toBe(expected);
    }
    expect(hmacSm3(key, 'x')).toHaveLength(32);
  });
});
