import { Decimal } from '../../../src/domain/money';
import { CHECK_CODE_ALPHABET, formatReceiptNo, receiptCodeOf, receiptStatus, RECEIPT_NO_PATTERN } from '../../../src/domain/receipt';
import { generateCheckCode, receiptQrText } from '../../../src/services/receipts';

// Receipt numbers, check codes and the status reversals give a receipt (docs/lifecycle.md §6).

describe('the receipt code', () => {
  it('is 15 04 01 and the yy of the payment in Shanghai, not in UTC', () => {
    expect(receiptCodeOf(new Date('2026-11-27T10:00:00+08:00'))).toBe('15040126');
    // 31 December 2026 16:30 UTC is 00:30 on 1 January 2027 in Shanghai.
    expect(receiptCodeOf(new Date('2026-12-31T16:30:00Z'))).toBe('15040127');
    expect(receiptCodeOf(new Date('2026-12-31T15:59:59Z'))).toBe('15040126');
    expect(receiptCodeOf(new Date('2100-06-01T00:00:00+08:00'))).toBe('15040100');
  });
});

describe('the receipt number', () => {
  it('is the code and the serial padded to ten digits: 18 digits', () => {
    expect(formatReceiptNo('15040126', '1')).toBe('150401260000000001');
    expect(formatReceiptNo('15040126', '9999999999')).toBe('150401269999999999');
    expect(formatReceiptNo('15040127', '123456')).toMatch(RECEIPT_NO_PATTERN);
  });

  it('refuses a serial that does not fit, zero, or a code that is not a receipt code', () => {
    expect(() => formatReceiptNo('15040126', '10000000000')).toThrow(/invariant/);
    expect(() => formatReceiptNo('15040126', '0')).toThrow(/invariant/);
    expect(() => formatReceiptNo('15040126', '-1')).toThrow(/invariant/);
    expect(() => formatReceiptNo('15050126', '1')).toThrow(/invariant/);
  });
});

describe('the check code', () => {
  it('is 6 characters of [0-9A-Z]', () => {
    for (let index = 0; index < 2000; index += 1) expect(generateCheckCode()).toMatch(/^[0-9A-Z]{6}$/);
  });

  it('uses every character of the alphabet about equally often (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const codes = 12_000; // 72,000 characters: 2,000 expected per symbol
    for (let index = 0; index < codes; index += 1) for (const character of generateCheckCode()) counts.set(character, (counts.get(character) ?? 0) + 1);
    expect([...counts.keys()].sort().join('')).toBe(CHECK_CODE_ALPHABET);
    const expected = (codes * 6) / CHECK_CODE_ALPHABET.length;
    let chiSquare = 0;
    for (const count of counts.values()) chiSquare += (count - expected) ** 2 / expected;
    // 35 degrees of freedom: a fair draw exceeds 90 about once in a million runs. A byte taken
    // modulo 36, which favours the first 4 symbols by 8 to 7, gives about 140 here.
    expect(chiSquare).toBeLessThan(90);
  });

  it('differs between receipts', () => {
    const codes = new Set(Array.from({ length: 1000 }, () => generateCheckCode()));
    expect(codes.size).toBeGreaterThan(995);
  });
});

describe('the QR text', () => {
  it('opens the public verification with the check code', () => {
    expect(receiptQrText('https://pay.example.gov.cn', '150401260000000001', 'AB12CD')).toBe('https://pay.example.gov.cn/v1/public/receipts/150401260000000001?checkCode=AB12CD');
  });
});

describe('the status a receipt has given its reversals', () => {
  const paid = new Decimal('218.00');

  it('is VALID with nothing reversed, PARTIALLY_REVERSED with part, REVERSED with all', () => {
    expect(receiptStatus(paid, new Decimal('0'))).toBe('VALID');
    expect(receiptStatus(paid, new Decimal('0.01'))).toBe('PARTIALLY_REVERSED');
    expect(receiptStatus(paid, new Decimal('217.99'))).toBe('PARTIALLY_REVERSED');
    expect(receiptStatus(paid, new Decimal('218.00'))).toBe('REVERSED');
  });

  it('crashes on reversals beyond the paid amount, which recordReversal never lets in', () => {
    expect(() => receiptStatus(paid, new Decimal('218.01'))).toThrow(/invariant/);
    expect(() => receiptStatus(paid, new Decimal('-1'))).toThrow(/invariant/);
  });
});
