import { createDecipheriv, createHmac } from 'node:crypto';

import { FieldCipher, FieldCipherError, fieldCipherFromHex } from '../../../src/crypto/fieldCipher';

const MASTER_V1 = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const MASTER_V2 = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex');

function mutate(token: string, byteIndex: number): string {
  const [prefix, base64] = token.split(':') as [string, string];
  const raw = Buffer.from(base64, 'base64');
  raw[byteIndex] = raw[byteIndex]! ^ 0x01;
  return `${prefix}:${raw.toString('base64')}`;
}

describe('FieldCipher', () => {
  const cipher = new FieldCipher(new Map([[1, MASTER_V1]]), 1);

  it('roundtrips id numbers, mobiles, unicode and the empty string', () => {
    for (const plain of ['11010519491231002X', '13800138000', '', '维吾尔·阿不都', 'x'.repeat(16), 'y'.repeat(1000)]) {
      const token = cipher.encrypt(plain);
      expect(token).toMatch(/^v1:[A-Za-z0-9+/]+={0,2}$/);
      expect(token).not.toContain(plain || '\u0000');
      expect(cipher.decrypt(token)).toBe(plain);
    }
  });

  it('uses a fresh IV: the same value encrypts differently each time', () => {
    const a = cipher.encrypt('13800138000');
    const b = cipher.encrypt('13800138000');
    expect(a).not.toBe(b);
    expect(cipher.decrypt(a)).toBe(cipher.decrypt(b));
  });

  it('has the documented layout: iv(16) || SM4-CBC ciphertext || HMAC-SM3(32) with derived keys', () => {
    const token = cipher.encrypt('13800138000');
    const raw = Buffer.from(token.slice(3), 'base64');
    expect(raw).toHaveLength(16 + 16 + 32);
    const encKey = createHmac('sm3', MASTER_V1).update('enc').digest().subarray(0, 16);
    const macKey = createHmac('sm3', MASTER_V1).update('mac').digest();
    const iv = raw.subarray(0, 16);
    const ciphertext = raw.subarray(16, 32);
    const mac = createHmac('sm3', macKey).update(Buffer.concat([Buffer.from('v1:'), iv, ciphertext])).digest();
    expect(raw.subarray(32).equals(mac)).toBe(true);
    const decipher = createDecipheriv('sm4-cbc', encKey, iv);
    expect(Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString()).toBe('13800138000');
  });

  it('detects tampering with any byte of iv, ciphertext or mac', () => {
    const token = cipher.encrypt('11010519491231002X');
    const length = Buffer.from(token.slice(3), 'base64').length;
    for (let i = 0; i < length; i++) {
      expect(() => cipher.decrypt(mutate(token, i))).toThrow(FieldCipherError);
    }
  });

  it('rejects malformed tokens', () => {
    const token = cipher.encrypt('13800138000');
    const raw = Buffer.from(token.slice(3), 'base64');
    const bad = [
      '',
      '13800138000',
      'v1:',
      'v0:' + token.slice(3),
      'v01:' + token.slice(3),
      'v1:' + raw.subarray(0, raw.length - 1).toString('base64'), // truncated
      'v1:' + Buffer.concat([raw, Buffer.alloc(16)]).toString('base64'), // extended
      `${token}\n`,
    ];
    for (const value of bad) expect(() => cipher.decrypt(value)).toThrow(FieldCipherError);
  });

  it('rotates keys: old versions still decrypt, new values use the current version', () => {
    const oldToken = cipher.encrypt('11010519491231002X');
    const rotated = new FieldCipher(new Map([[1, MASTER_V1], [2, MASTER_V2]]), 2);
    const newToken = rotated.encrypt('11010519491231002X');
    expect(newToken.startsWith('v2:')).toBe(true);
    expect(rotated.decrypt(oldToken)).toBe('11010519491231002X');
    expect(rotated.decrypt(newToken)).toBe('11010519491231002X');
    expect(rotated.needsReencryption(oldToken)).toBe(true);
    expect(rotated.needsReencryption(newToken)).toBe(false);
    expect(rotated.version).toBe(2);
    // Without the new key, v2 values are refused; relabelling a v1 value as v2 fails the MAC.
    expect(() => cipher.decrypt(newToken)).toThrow('no field key for version 2');
    expect(() => rotated.decrypt(oldToken.replace(/^v1:/, 'v2:'))).toThrow('failed authentication');
  });

  it('validates its keys', () => {
    expect(() => new FieldCipher(new Map([[1, Buffer.alloc(32)]]), 1)).toThrow('16 bytes');
    expect(() => new FieldCipher(new Map([[1, MASTER_V1]]), 2)).toThrow('current version 2');
    expect(() => new FieldCipher(new Map([[0, MASTER_V1]]), 0)).toThrow('version');
    expect(() => fieldCipherFromHex('00')).toThrow('32 hex digits');
  });

  it('builds from a hex master key', () => {
    const fromHex = fieldCipherFromHex(MASTER_V1.toString('hex'));
    expect(fromHex.decrypt(cipher.encrypt('13800138000'))).toBe('13800138000');
    const v3 = fieldCipherFromHex(MASTER_V2.toString('hex').toUpperCase(), 3);
    expect(v3.encrypt('a').startsWith('v3:')).toBe(true);
  });
});
