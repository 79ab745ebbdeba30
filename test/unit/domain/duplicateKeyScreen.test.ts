import { DuplicateKeyScreen, hashKey } from '../../../src/domain/duplicateKeyScreen';

// The parse's duplicate screen (contracts/decisions/0183): it may only ever say "no duplicate" when
// there is none; any doubt sends the load to its exact check.

describe('DuplicateKeyScreen', () => {
  it('clears a file whose keys all differ, and flags one with a repeated key wherever it is', () => {
    const clean = new DuplicateKeyScreen();
    for (let index = 0; index < 100_000; index += 1) clean.add('PAY', `AG-${index}`);
    expect(clean.mayHaveDuplicates()).toBe(false);

    for (const repeatAt of [0, 1, 50_000, 99_999]) {
      const screen = new DuplicateKeyScreen();
      for (let index = 0; index < 100_000; index += 1) screen.add('PAY', `AG-${index}`);
      screen.add('PAY', `AG-${repeatAt}`);
      expect(screen.mayHaveDuplicates()).toBe(true);
    }
  });

  it('keeps PAY and REFUND keys apart, as the exact check does', () => {
    const screen = new DuplicateKeyScreen();
    screen.add('PAY', 'X1');
    screen.add('REFUND', 'X1');
    expect(screen.mayHaveDuplicates()).toBe(false);
    screen.add('REFUND', 'X1');
    expect(screen.mayHaveDuplicates()).toBe(true);
  });

  it('tells apart keys that differ in one character, in non-ASCII text, or only by where kind and key meet', () => {
    expect(hashKey('PAY', 'ABC0001')).not.toBe(hashKey('PAY', 'ABC0002'));
    expect(hashKey('PAY', '支付宝-1')).not.toBe(hashKey('PAY', '支付宝-2'));
    expect(hashKey('PAY', 'A')).not.toBe(hashKey('PA', 'YA'));
    expect(Number.isSafeInteger(hashKey('REFUND', 'x'.repeat(200)))).toBe(true);
  });

  it('answers "may have duplicates" once more keys came than it holds, so the exact check runs', () => {
    const screen = new DuplicateKeyScreen(10);
    for (let index = 0; index < 10; index += 1) screen.add('PAY', `K${index}`);
    expect(screen.mayHaveDuplicates()).toBe(false);
    screen.add('PAY', 'K10');
    expect(screen.mayHaveDuplicates()).toBe(true);
  });
});
