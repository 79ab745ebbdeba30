import fc from 'fast-check';
import { type StatementLine, StatementParser } from '../../../src/domain/statementFormats';

// The streaming parser (docs/reconciliation.md §1): the same lines and problems however the bytes
// are cut into chunks, CRLF read as LF, and a line's bytes never kept past the limit.

const FILE = [
  'H|TFS1|ABC|2026-12-01|1|2026-12-02T01:30:00+08:00',
  'D|PAY|ABC20261201000123|15010226100000000103|100.00|2026-12-01T10:15:00+08:00|MOBILE',
  'D|PAY|ABC20261201000124|15010226200001234520|218.00|2026-12-01T11:02:41+08:00|COUNTER',
  'D|REFUND|ABCR0001|TFR2026120100000007|50.00|2026-12-01T15:00:00+08:00|',
  'T|2|318.00|1|50.00',
];

function parse(bytes: Buffer, cut: (length: number) => number[]) {
  const lines: StatementLine[] = [];
  const parser = new StatementParser({ format: 'TFS1', agencyCode: 'ABC', today: '2026-12-02', now: new Date('2026-12-02T09:00:00+08:00') }, (line) => lines.push(line));
  let at = 0;
  for (const size of cut(bytes.length)) {
    parser.push(Buffer.from(bytes.subarray(at, at + size)));
    at += size;
  }
  parser.push(Buffer.from(bytes.subarray(at)));
  return { lines, result: parser.finish() };
}

describe('StatementParser', () => {
  it('reads the example of docs/reconciliation.md §1 the same in any chunking, LF or CRLF, with or without a final line ending', () => {
    const whole = parse(Buffer.from(FILE.join('\n') + '\n'), () => []);
    expect(whole.result.problems).toEqual([]);
    expect(whole.result.totals).toEqual({ payCount: 2, payTotal: '318.00', refundCount: 1, refundTotal: '50.00' });
    expect(whole.result.header).toEqual({ agencyCode: 'ABC', businessDate: '2026-12-01', fileSeq: 1, generatedAt: new Date('2026-12-01T17:30:00Z') });
    expect(whole.lines.map((l) => [l.lineNo, l.kind, l.agencyTxnId, l.payCode, l.instructionNo, l.amount, l.channel])).toEqual([
      [2, 'PAY', 'ABC20261201000123', '15010226100000000103', null, '100.00', 'MOBILE'],
      [3, 'PAY', 'ABC20261201000124', '15010226200001234520', null, '218.00', 'COUNTER'],
      [4, 'REFUND', 'ABCR0001', null, 'TFR2026120100000007', '50.00', null],
    ]);
    for (const text of [FILE.join('\n') + '\n', FILE.join('\r\n') + '\r\n', FILE.join('\n'), FILE.join('\r\n')]) {
      const bytes = Buffer.from(text);
      for (const size of [1, 2, 3, 7, 64]) {
        const chunked = parse(bytes, (length) => Array.from({ length: Math.floor(length / size) }, () => size));
        expect(chunked.result.problems).toEqual([]);
        expect(chunked.lines).toEqual(whole.lines);
      }
    }
  });

  it('a line whose time is more than 60 s after the platform’s time is a problem, as a posting’s paidAt is; 60 s is not', () => {
    // The parser's now is 2026-12-02T09:00:00+08:00.
    const file = (times: string[]) => [
      FILE[0],
      ...times.map((time, index) => `D|PAY|ABC${index}|15010226100000000103|1.00|${time}|MOBILE`),
      `T|${times.length}|${times.length}.00|0|0.00`,
    ].join('\n') + '\n';
    const within = parse(Buffer.from(file(['2026-12-02T09:01:00+08:00', '2026-12-02T01:01:00Z', '2026-12-01T23:59:59+08:00'])), () => []);
    expect(within.result.problems).toEqual([]);
    expect(within.lines).toHaveLength(3);
    const ahead = parse(Buffer.from(file(['2026-12-02T09:01:01+08:00', '2099-12-31T23:00:00+08:00', '2026-12-02T09:00:00+08:00'])), () => []);
    expect(ahead.result.problems).toEqual([
      { lineNo: 2, problem: "paidAt 2026-12-02T09:01:01+08:00 is more than 60 s after the platform's time (2026-12-02T09:00:00+08:00): no payment or refund has happened yet at that time" },
      { lineNo: 3, problem: expect.stringMatching(/^paidAt 2099-12-31T23:00:00\+08:00 is more than 60 s after/) },
    ]);
    expect(ahead.lines.map((line) => line.lineNo)).toEqual([4]);
  });

  it('a payCode typed in groups of four is the code without its spaces, as in a posting; spaces in other fields stay problems', () => {
    const file = [
      FILE[0],
      'D|PAY|ABC1|1501 0226 1000 0000 0103|1.00|2026-12-01T10:00:00+08:00|MOBILE',
      'D|PAY|ABC2| QR 0042 |1.00|2026-12-01T10:00:00+08:00|MOBILE',
      'D|PAY|ABC 3|15010226100000000103|1.00|2026-12-01T10:00:00+08:00|MOBILE',
      'T|3|3.00|0|0.00',
    ].join('\n') + '\n';
    const parsed = parse(Buffer.from(file), () => []);
    expect(parsed.result.problems).toEqual([{ lineNo: 4, problem: 'agencyTxnId "ABC 3" is not 1–64 of A–Z a–z 0–9 _ -' }]);
    expect(parsed.lines.map((line) => [line.agencyTxnId, line.payCode, line.payCodeToLookUp])).toEqual([
      ['ABC1', '15010226100000000103', false],
      ['ABC2', 'QR0042', true],
    ]);
  });

  it('a line of more than 99999999999.99 is a problem, the largest single amount (decision 0190); that amount itself is not', () => {
    const file = (amounts: string[]) => [
      FILE[0],
      ...amounts.map((amount, index) => `D|PAY|ABC${index}|15010226100000000103|${amount}|2026-12-01T10:00:00+08:00|MOBILE`),
      `T|${amounts.length}|${amounts.reduce((sum, amount) => sum + BigInt(amount.replace('.', '')), 0n).toString().replace(/(\d\d)$/, '.$1')}|0|0.00`,
    ].join('\n') + '\n';
    expect(parse(Buffer.from(file(['99999999999.99', '0.01'])), () => []).result.problems).toEqual([]);
    const over = parse(Buffer.from(file(['100000000000.00', '999999999999999.99'])), () => []);
    expect(over.result.problems).toEqual([
      { lineNo: 2, problem: 'amount 100000000000.00 is more than 99999999999.99, the largest single amount the platform takes in' },
      { lineNo: 3, problem: 'amount 999999999999999.99 is more than 99999999999.99, the largest single amount the platform takes in' },
    ]);
  });

  it('a line ending unlike the first line is a problem of that line, and the line is still read (its trailer counts)', () => {
    const crlfHeader = parse(Buffer.from(`${FILE[0]}\r\n${FILE.slice(1).join('\n')}\n`), () => []);
    expect(crlfHeader.result.problems).toEqual([2, 3, 4, 5].map((lineNo) => ({ lineNo, problem: "the line ends with LF, but the file's lines end with CRLF" })));
    expect(crlfHeader.result.trailer).toEqual({ payCount: 2, payTotal: '318.00', refundCount: 1, refundTotal: '50.00' });
    expect(crlfHeader.result.totalsMismatch).toBeNull();
    const crlfTrailer = parse(Buffer.from(`${FILE.slice(0, 4).join('\n')}\n${FILE[4]}\r\n`), () => []);
    expect(crlfTrailer.result.problems).toEqual([{ lineNo: 5, problem: "the line ends with CRLF, but the file's lines end with LF" }]);
    const other = parse(Buffer.from(`${FILE[0]}\n${FILE[1]!.replace('MOBILE', 'WECHAT')}\r\n${FILE.slice(2).join('\n')}\n`), () => []);
    expect(other.result.problems).toEqual([
      { lineNo: 2, problem: "the line ends with CRLF, but the file's lines end with LF" },
      { lineNo: 2, problem: expect.stringMatching(/^channel "WECHAT" is not one of/) },
    ]);
  });

  it('a line past the limit is one problem, whatever its length', () => {
    const long = Buffer.alloc(10_000, 0x41);
    const bytes = Buffer.concat([Buffer.from(`${FILE[0]}\n`), long, Buffer.from(`\n${FILE[4]!.replace('2|318.00|1|50.00', '0|0.00|0|0.00')}\n`)]);
    for (const size of [1, 100, 4097, 100_000]) {
      const { result } = parse(bytes, (length) => Array.from({ length: Math.floor(length / size) }, () => size));
      expect(result.problems).toEqual([{ lineNo: 2, problem: 'the line is longer than 4096 bytes' }]);
    }
  });
  it('empty lines after the trailer end the file without a problem (decision 0212); any other line after it is one', () => {
    for (const eol of ['\n', '\r\n']) {
      for (const tail of [eol, eol + eol, eol + eol + eol]) {
        const { lines, result } = parse(Buffer.from(FILE.join(eol) + tail), () => []);
        expect(result.problems).toEqual([]);
        expect(result.totalsMismatch).toBeNull();
        expect(lines).toHaveLength(3);
      }
    }
    const after = parse(Buffer.from(`${FILE.join('\n')}\n\n${FILE[1]}\n`), () => []);
    expect(after.result.problems).toEqual([{ lineNo: 7, problem: 'a line after the trailer (line 5): the trailer is the last line, only empty lines may follow it' }]);
    const spaces = parse(Buffer.from(`${FILE.join('\n')}\n \n`), () => []);
    expect(spaces.result.problems).toEqual([{ lineNo: 6, problem: 'a line after the trailer (line 5): the trailer is the last line, only empty lines may follow it' }]);
    // A blank line ending the other way than the file's lines is still that line's problem.
    const mixed = parse(Buffer.from(`${FILE.join('\n')}\n\r\n`), () => []);
    expect(mixed.result.problems).toEqual([{ lineNo: 6, problem: "the line ends with CRLF, but the file's lines end with LF" }]);
  });

  it('APPBILL: empty lines after the summary end the file; a second header is named as one', () => {
    const header = '交易时间,交易类型,商户订单号,缴款码或指令号,交易状态,金额,渠道';
    const row = (id: string) => ['2026-12-01 10:15:00', '支付', id, '15010226100000000103', 'SUCCESS', '100.00', 'MOBILE'].map((v) => `\`${v}`).join(',');
    const appbill = (text: string) => {
      const lines: StatementLine[] = [];
      const parser = new StatementParser({ format: 'APPBILL', agencyCode: 'ABC', today: '2026-12-02', now: new Date('2026-12-02T09:00:00+08:00'), businessDate: '2026-12-01', fileSeq: 1 }, (line) => lines.push(line));
      parser.push(Buffer.from(text));
      return { lines, result: parser.finish() };
    };
    const bill = [header, row('A1'), row('A2'), '总交易单数,总支付金额,总退款金额', '`2,`200.00,`0.00'];
    const blank = appbill(`${bill.join('\r\n')}\r\n\r\n\r\n`);
    expect(blank.result.problems).toEqual([]);
    expect(blank.lines).toHaveLength(2);
    expect(appbill(`${bill.join('\n')}\n\n${row('A3')}\n`).result.problems).toEqual([
      { lineNo: 7, problem: 'a line after the summary (line 5): the summary values are the last line, only empty lines may follow them' },
    ]);
    const twice = appbill([header, row('A1'), header, row('A2'), ...bill.slice(3)].join('\n') + '\n');
    expect(twice.result.problems).toEqual([{ lineNo: 3, problem: 'a second header: the header is line 1 only' }]);
  });

  it('reads PAY lines from their bytes exactly as it reads them as text, problems and totals included, in any chunking (decision 0240, property)', () => {
    // Lines mostly well formed, each field sometimes replaced by a near miss: the in-place reading
    // must take exactly the lines the text reading takes, with the same values, and leave the rest
    // to it (which names their problems).
    const pick = <T>(...values: T[]) => fc.constantFrom(...values);
    const id = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      pick('', 'x'.repeat(64), 'x'.repeat(65), 'AB C', 'AB|C', 'AB\rC', '单号1', 'A\u0000B', 'Ab-_9'),
    );
    const payCode = fc.oneof(
      pick('15010226100000000103', '15010226200001234520', '1501 0226 1000 0000 0103', '15010226100000000104', '1501022610000000010', '150102261000000001033', '1501022610000000010x', 'ABCDEF', ''),
      fc.stringMatching(/^[0-9]{20}$/),
    );
    const amount = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 99_999_999_999 }), fc.integer({ min: 0, max: 99 })).map(([whole, cents]) => `${whole}.${String(cents).padStart(2, '0')}`),
      pick('0.00', '0.01', '01.00', '1.0', '1.000', '99999999999.99', '100000000000.00', '-1.00', '1e5', '.50', '1.', '１.00', '10000000000000000.00'),
    );
    const time = fc.oneof(
      fc.tuple(fc.integer({ min: 1990, max: 2110 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 24 }), pick('+08:00', 'Z', 'z', '-14:00', '+14:00', '+14:01', '-00:00', '+23:59', '+24:00', '+08:60', '')).map(
        ([year, month, day, hour, zone]) => `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:15:00${zone}`,
      ),
      pick('2026-12-02T09:01:00+08:00', '2026-12-02T09:01:01+08:00', '2026-12-02T01:01:01Z', '2026-12-01T10:15:00.5+08:00', '2026-12-01 10:15:00+08:00', '2026-12-01T10:15+08:00', '2026-02-29T10:15:00+08:00', '2028-02-29T10:15:00+08:00', '2026-12-01T10:1５:00+08:00'),
    );
    const channel = pick('MOBILE', 'COUNTER', 'ONLINE_BANKING', 'QR', 'POS', 'OTHER', 'mobile', '', 'MOBILE ', 'CARD', 'MOBILE|X');
    const payLine = fc.tuple(id, payCode, amount, time, channel).map(([i, c, a, t, ch]) => `D|PAY|${i}|${c}|${a}|${t}|${ch}`);
    const otherLine = pick('D|REFUND|R1|TFR2026120100000007|50.00|2026-12-01T15:00:00+08:00|', 'D|PAY|A|15010226100000000103|1.00|2026-12-01T10:15:00+08:00', 'D|PAY|A|15010226100000000103|1.00|2026-12-01T10:15:00+08:00|MOBILE|', 'D|PA|A', 'D|PAY', 'X|PAY|A', '', 'T|1|1.00|0|0.00', 'H|TFS1|ABC|2026-12-01|1|2026-12-02T01:30:00+08:00');
    const file = fc.record({
      lines: fc.array(fc.oneof({ weight: 6, arbitrary: payLine }, { weight: 1, arbitrary: otherLine }), { minLength: 1, maxLength: 30 }),
      crlf: fc.boolean(),
      chunk: fc.integer({ min: 1, max: 200 }),
    });
    fc.assert(
      fc.property(file, ({ lines, crlf, chunk }) => {
        const text = [FILE[0], ...lines, 'T|0|0.00|0|0.00'].join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n' : '\n');
        const bytes = Buffer.from(text);
        const read = (payLinesInPlace: boolean) => {
          const seen: StatementLine[] = [];
          const parser = new StatementParser({ format: 'TFS1', agencyCode: 'ABC', today: '2026-12-02', now: new Date('2026-12-02T09:00:00+08:00') }, (line) => seen.push(line), { payLinesInPlace });
          for (let at = 0; at < bytes.length; at += chunk) parser.push(Buffer.from(bytes.subarray(at, at + chunk)));
          return { lines: seen, result: parser.finish() };
        };
        expect(read(true)).toEqual(read(false));
      }),
      { numRuns: 3000 },
    );
  });

  it('the totals stay exact when the lines read in place sum past 2^53 fen (BigInt, never a double)', () => {
    // 1,000 lines of 99999999999.99 yuan: 10^16 fen, past the doubles' exact integers.
    const count = 1000;
    const lines = Array.from({ length: count }, (_, index) => `D|PAY|BIG${index}|15010226100000000103|99999999999.99|2026-12-01T10:15:00+08:00|MOBILE`);
    const { result } = parse(Buffer.from([FILE[0], ...lines, `T|${count}|99999999999990.00|0|0.00`].join('\n') + '\n'), () => []);
    expect(result.problems).toEqual([]);
    expect(result.totals.payTotal).toBe('99999999999990.00');
    expect(result.totalsMismatch).toBeNull();
  });
});

