import { decodeCursor, encodeCursor, pageRequest, PAGE_LIMIT_DEFAULT } from '../../src/db/pagination';
import { TongfuError } from '../../src/domain/errors';

describe('cursor pagination', () => {
  it('round-trips an id through an opaque cursor', () => {
    const cursor = encodeCursor('12345');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('12345');
    expect(decodeCursor(cursor)).toBe('12345');
  });

  it.each(['', 'garbage', Buffer.from('c1.abc').toString('base64url'), Buffer.from('c1.1;DROP').toString('base64url')])('refuses a cursor it did not issue: %p', (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(TongfuError);
  });

  it('takes the largest bigint id and refuses one past it, which the database could not compare', () => {
    expect(decodeCursor(encodeCursor('9223372036854775807'))).toBe('9223372036854775807');
    expect(() => decodeCursor(encodeCursor('9223372036854775808'))).toThrow(TongfuError);
    expect(() => decodeCursor(encodeCursor('9999999999999999999'))).toThrow(TongfuError);
  });

  it('defaults the limit and clamps it to 1–500', () => {
    expect(pageRequest({})).toEqual({ limit: PAGE_LIMIT_DEFAULT, afterId: undefined });
    expect(pageRequest({ limit: 700 }).limit).toBe(500);
    expect(pageRequest({ limit: 0 }).limit).toBe(1);
    expect(pageRequest({ limit: 7, cursor: encodeCursor('9') })).toEqual({ limit: 7, afterId: '9' });
  });
});
