import fc from 'fast-check';
import {
  isValidIdNumber,
  isValidMobile,
  maskIdNumber,
  maskMobile,
  maskName,
  namesMatch,
  normalizeName,
  payerNameProblem,
} from '../../../src/domain/payer';

describe('normalizeName and namesMatch (docs/interface.md §6)', () => {
  it.each([
    ['张三', '张三'],
    [' 张三 ', '张三'],
    ['张 三', '张三'],
    ['张\u3000三', '张三'], // ideographic space
    ['张\t三\n', '张三'],
    ['\uFEFF张三', '张三'],
    ['阿拉坦·巴根', '阿拉坦·巴根'],
    ['阿拉坦・巴根', '阿拉坦·巴根'], // U+30FB
    ['阿拉坦•巴根', '阿拉坦·巴根'], // U+2022
    ['阿拉坦‧巴根', '阿拉坦·巴根'], // U+2027
    ['阿拉坦･巴根', '阿拉坦·巴根'], // U+FF65, NFKC → U+30FB
    ['乌云.其木格', '乌云·其木格'], // a full stop, where the keyboard has no middle dot
    ['乌云．其木格', '乌云·其木格'], // U+FF0E, NFKC → '.'
    ['乌云․其木格', '乌云·其木格'], // U+2024
    ['阿拉坦 · 巴根', '阿拉坦·巴根'],
    ['ＺＨＡＮＧ　Ｓａｎ', 'ZHANGSan'], // full-width Latin, NFKC
    ['\u2F08\u4E09', '\u4EBA\u4E09'], // Kangxi radical ⼈ → 人 under NFKC
  ])('%j normalizes to %j', (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });

  it('matches the forms people type', () => {
    expect(namesMatch('阿拉坦·巴根', ' 阿拉坦・巴根')).toBe(true);
    expect(namesMatch('阿拉坦•巴根', '阿拉坦‧巴根')).toBe(true);
    expect(namesMatch('张 三', '张三')).toBe(true);
    expect(namesMatch('e\u0301', '\u00E9')).toBe(true); // composed and decomposed é
  });

  it('does not match different names', () => {
    expect(namesMatch('张三', '张四')).toBe(false);
    expect(namesMatch('张三', '张三丰')).toBe(false);
    expect(namesMatch('阿拉坦巴根', '阿拉坦·巴根')).toBe(false); // a dot is not nothing
  });

  it('never matches an empty name', () => {
    expect(namesMatch('', '')).toBe(false);
    expect(namesMatch('  ', '\u3000')).toBe(false);
    expect(namesMatch('', '张三')).toBe(false);
  });

  it('is idempotent (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (name) => {
        const once = normalizeName(name);
        expect(normalizeName(once)).toBe(once);
        expect(once).not.toMatch(/\s/u);
        if (once.length > 0) {
          expect(namesMatch(name, once)).toBe(true);
        }
      }),
    );
  });
});

describe('masking (docs/interface.md §6)', () => {
  it.each([
    ['张三', '**三'],
    ['欧阳娜娜', '**娜'],
    ['李', '**李'],
    ['阿拉坦·巴根', '**根'],
    [' 张三 ', '**三'],
    ['王𠀀', '**𠀀'], // a character outside the BMP is kept whole
    ['Zoe\u0308', '**e\u0308'], // a combining mark stays with its letter
    ['', '**'],
  ])('name %j → %j', (name, masked) => {
    expect(maskName(name)).toBe(masked);
  });

  it('never reveals the length of a name', () => {
    expect(maskName('张三').length).toBe(maskName('欧阳娜娜').length);
  });

  it.each([
    ['11010519491231002X', '110105********002X'],
    ['440308199901101512', '440308********1512'],
    ['1234567890', '**********'],
    ['', ''],
  ])('id number %s → %s', (id, masked) => {
    expect(maskIdNumber(id)).toBe(masked);
  });

  it.each([
    ['13812345678', '138****5678'],
    ['1234567', '*******'],
  ])('mobile %s → %s', (mobile, masked) => {
    expect(maskMobile(mobile)).toBe(masked);
  });
});

/** An independent GB 11643 check character, only to build test cases. */
function checkCharacter(first17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = weights.reduce((acc, weight, index) => acc + weight * Number(first17[index]), 0);
  return '10X98765432'.charAt(sum % 11);
}

describe('isValidIdNumber (GB 11643-1999)', () => {
  it('accepts the standard example', () => {
    expect(isValidIdNumber('11010519491231002X')).toBe(true);
    expect(checkCharacter('11010519491231002')).toBe('X');
  });

  it.each([
    ['a wrong check character', '110105194912310021'],
    ['a lower-case x', '11010519491231002x'],
    ['a changed digit', '11010519491231003X'],
    ['17 characters', '11010519491231002'],
    ['19 characters', '11010519491231002X1'],
    ['an X inside', '1101051949X231002X'],
    ['full-width digits', '１１０１０５１９４９１２３１００２Ｘ'],
    ['a number', 110105194912310020],
    ['null', null],
  ])('refuses %s', (_label, value) => {
    expect(isValidIdNumber(value)).toBe(false);
  });

  it('refuses a birth date that does not exist even with the right check character', () => {
    for (const birth of ['19490230', '19491301', '19490000', '20230229', '00000101']) {
      const first17 = `110105${birth}002`;
      expect(isValidIdNumber(`${first17}${checkCharacter(first17)}`)).toBe(false);
    }
    const leap = '110105200002290021';
    expect(isValidIdNumber(`${leap.slice(0, 17)}${checkCharacter(leap.slice(0, 17))}`)).toBe(true);
  });

  it('accepts any real birth date with its check character, and no other (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[1-9][0-9]{5}$/),
        fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }),
        fc.stringMatching(/^[0-9]{3}$/),
        fc.constantFrom(...'0123456789X'),
        (region, birth, sequence, other) => {
          const first17 = `${region}${birth.toISOString().slice(0, 10).replace(/-/g, '')}${sequence}`;
          const check = checkCharacter(first17);
          expect(isValidIdNumber(`${first17}${check}`)).toBe(true);
          if (other !== check) {
            expect(isValidIdNumber(`${first17}${other}`)).toBe(false);
          }
        },
      ),
    );
  });
});

describe('isValidMobile', () => {
  it.each(['13812345678', '19912345678', '15000000000'])('accepts %s', (mobile) => {
    expect(isValidMobile(mobile)).toBe(true);
  });

  it.each(['12812345678', '1381234567', '138123456789', '23812345678', '+8613812345678', ' 13812345678', 13812345678])(
    'refuses %p',
    (mobile) => {
      expect(isValidMobile(mobile)).toBe(false);
    },
  );
});

describe('payerNameProblem', () => {
  it('refuses a blank name and one holding an invisible format character; a name with a middle dot or a space is fine', () => {
    expect(payerNameProblem('阿拉坦·巴根')).toBeNull();
    expect(payerNameProblem('张 三')).toBeNull();
    expect(payerNameProblem(' \u3000 ')).toBe('must not be blank');
    expect(payerNameProblem('\u200B')).toMatch(/invisible format characters/);
    expect(payerNameProblem('张\u200D三')).toMatch(/invisible format characters/);
    expect(payerNameProblem('\u202E根巴坦拉阿')).toMatch(/invisible format characters/);
    expect(payerNameProblem('\uFEFF张三')).toMatch(/invisible format characters/);
  });

  it('refuses DEL, the C1 controls and the line separators, which show as nothing but keep a name from ever matching; keeps rare and Mongolian letters', () => {
    for (const name of ['王\u007F建国', '王\u0080建国', '王\u0085建国', '王\u009F建国', '王\u2028建国', '王\u2029建国']) {
      expect({ name, problem: payerNameProblem(name) }).toEqual({ name, problem: expect.stringMatching(/control characters/) });
    }
    expect(payerNameProblem('𠀀𠀁')).toBeNull();
    expect(payerNameProblem('ᠮᠣᠩᠭᠣᠯ')).toBeNull();
    expect(payerNameProblem('ᠮᠣᠩᠭᠣᠯ\u202Fᠤᠨ')).toBeNull();
    expect(payerNameProblem('张\t三')).toBeNull();
    expect(payerNameProblem('\u00A0王\u00A0')).toBeNull();
  });

  it('takes the Mongolian vowel separator where Mongolian script writes it, before a final a or e, and nowhere else', () => {
    expect(payerNameProblem('ᠰᠠᠷ\u180Eᠠ')).toBeNull();
    expect(payerNameProblem('ᠴᠡᠴᠡᠭ\u180Eᠡ')).toBeNull();
    expect(payerNameProblem('ᠰᠠᠷ\u180B\u180Eᠠ ᠪᠠᠭᠠᠲᠤᠷ')).toBeNull();
    for (const name of ['王\u180E建国', '\u180Eᠠ', 'ᠰᠠᠷ\u180E', 'ᠰᠠᠷ\u180Eᠤ', 'ᠰᠠᠷ\u180E\u180Eᠠ', 'ᠰᠠᠷ\u180Eᠠ\u200B']) {
      expect({ name, problem: payerNameProblem(name) }).toEqual({ name, problem: expect.stringMatching(/invisible format characters/) });
    }
  });
});
