import crypto from 'node:crypto';
import { BodyDigester, lineFiveDigest } from '../../../src/crypto/bodyDigests';
import { bodyDigest } from '../../../src/crypto/requestSigning';

// A streamed body's digests, computed chunk by chunk in one pass, must be exactly line 5 as
// bodyDigest computes it from the whole body, for each kind of key.

describe('BodyDigester', () => {
  it.each([0, 1, 63, 64, 65, 100_003])('hashes %i bytes in uneven chunks to what bodyDigest gives the whole', (sizeBytes) => {
    const body = crypto.randomBytes(sizeBytes);
    const digester = new BodyDigester(new Set(['SM2', 'RSA']));
    for (let offset = 0, step = 1; offset < sizeBytes; offset += step, step = (step * 7) % 4093 + 1) digester.update(body.subarray(offset, offset + step));
    const digests = digester.digests();
    expect(lineFiveDigest(digests, 'SM2')).toBe(bodyDigest('SM2', body));
    expect(lineFiveDigest(digests, 'RSA')).toBe(bodyDigest('RSA', body));
    expect(digests.sha256Hex).toBe(crypto.createHash('sha256').update(body).digest('hex'));
  });

  it('computes SM3 only when an SM2 key may need it', () => {
    const digester = new BodyDigester(new Set(['RSA']));
    digester.update(Buffer.from('abc'));
    const digests = digester.digests();
    expect(digests.sm3Hex).toBeUndefined();
    expect(lineFiveDigest(digests, 'SM2')).toBeUndefined();
    expect(lineFiveDigest(digests, 'RSA')).toBe(bodyDigest('RSA', 'abc'));
  });

  it('finishes once', () => {
    const digester = new BodyDigester(new Set());
    digester.digests();
    expect(() => digester.update(Buffer.from('x'))).toThrow();
    expect(() => digester.digests()).toThrow();
  });
});
