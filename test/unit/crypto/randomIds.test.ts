import { randomBase64Url } from '../../../src/crypto/randomIds';

describe('randomBase64Url', () => {
  it('answers base64url of the bytes asked for, without padding', () => {
    for (const byteCount of [1, 9, 20, 4096]) {
      const text = randomBase64Url(byteCount);
      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(text, 'base64url')).toHaveLength(byteCount);
    }
  });

  it('hands out every byte once, across the refills of its pool', () => {
    // 9 and 20 do not divide the pool's 4 KiB: draws straddle its end and refill it.
    const seen = new Set<string>();
    for (let draw = 0; draw < 20_000; draw += 1) seen.add(randomBase64Url(draw % 2 === 0 ? 9 : 20));
    expect(seen.size).toBe(20_000);
  });

  it('looks random: every value of a byte appears, none far more often than the others', () => {
    const counts = new Array<number>(256).fill(0);
    for (let draw = 0; draw < 4_000; draw += 1) for (const byte of Buffer.from(randomBase64Url(9), 'base64url')) counts[byte] = (counts[byte] ?? 0) + 1;
    // 36,000 bytes: 140.6 expected per value; a uniform source stays well inside 70–230.
    expect(Math.min(...counts)).toBeGreaterThan(70);
    expect(Math.max(...counts)).toBeLessThan(230);
  });

  it('refuses a size it cannot draw at once', () => {
    for (const byteCount of [0, -1, 1.5, 4097]) expect(() => randomBase64Url(byteCount)).toThrow(/random bytes/);
  });
});
