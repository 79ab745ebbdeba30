import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { TongfuError } from '../../src/domain/errors';
import type { StatementFormat } from '../../src/domain/statementFormats';
import type { LoadStatementInput } from '../../src/services/statements';
import { addAgency, buildWorld, World } from '../helpers/builders';
import { shanghai } from '../helpers/payments';
import { appbill, payLine, refundLine, tfs1 } from '../helpers/statementFiles';
import { startTestService, TestService } from '../helpers/testService';

/**
 * A corpus of malformed statement files (docs/reconciliation.md §1,
 * contracts/decisions/0100-statement-files.md): each is refused as a unit with the problem on its
 * line, and nothing of it is loaded — no statement, no line, no job request.
 */

let service: TestService;
let world: World;
let agency: World['agency'];

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-12-02T09:00:00')) });
  world = await buildWorld(service);
  agency = await addAgency(world);
});

afterAll(async () => {
  await service.close();
});

function fileOf(chunks: () => Iterable<Buffer> | AsyncIterable<Buffer>, sha256Hex: string, sizeBytes: number): LoadStatementInput['file'] {
  return { open: () => Readable.from(chunks(), { objectMode: false }), sha256Hex, sizeBytes };
}

function bytesFile(bytes: Buffer): LoadStatementInput['file'] {
  return fileOf(() => [bytes], crypto.createHash('sha256').update(bytes).digest('hex'), bytes.length);
}

async function refusal(bytes: Buffer | LoadStatementInput['file'], format: StatementFormat = 'TFS1'): Promise<TongfuError> {
  const file = Buffer.isBuffer(bytes) ? bytesFile(bytes) : bytes;
  const query = format === 'APPBILL' ? { businessDate: '2026-12-01', fileSeq: 1 } : {};
  try {
    await service.runtime.services.statements.load({ agency: { partyId: await partyIdOf(agency.appId), code: agency.code }, format, file, source: 'UPLOAD', requestedBy: agency.appId, ...query });
  } catch (error) {
    if (error instanceof TongfuError) return error;
    throw error;
  }
  throw new Error('the file was accepted');
}

async function partyIdOf(appId: string): Promise<string> {
  return String((await service.database.db('parties').where({ app_id: appId }).first('id')).id);
}

afterEach(async () => {
  // Nothing of any refused file was loaded.
  const db = service.database.db;
  expect(await db('agency_statements').where({ agency_code: agency.code })).toEqual([]);
  expect(await db('agency_statement_lines').count('* as n').first()).toEqual({ n: '0' });
  expect(await db('job_requests').where({ agency_code: agency.code })).toEqual([]);
});

const good = () => tfs1({ agency: agency.code, lines: [payLine({ amount: '10.00' }), refundLine({ amount: '5.00' })] });

function expectProblem(error: TongfuError, lineNo: number, text: string | RegExp, code = 'STATEMENT_MALFORMED'): void {
  expect(error.code).toBe(code);
  const lines = (error.details?.lines ?? []) as Array<{ lineNo: number; problem: string }>;
  expect(lines).toContainEqual({ lineNo, problem: expect.stringMatching(text) });
}

describe('refused as a unit', () => {
  it('bad UTF-8', async () => {
    const text = Buffer.from(good());
    // A broken two-byte sequence inside line 2's agencyTxnId.
    const at = text.indexOf('\n') + 8;
    const bad = Buffer.concat([text.subarray(0, at), Buffer.from([0xc3, 0x28]), text.subarray(at)]);
    expectProblem(await refusal(bad), 2, /not valid UTF-8/);
  });

  it('a UTF-8 byte order mark', async () => {
    expectProblem(await refusal(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(good())])), 1, /byte order mark/);
  });

  it('a bare CR, and LF mixed into a CRLF file', async () => {
    const crlf = tfs1({ agency: agency.code, lines: [payLine(), payLine(), payLine()], eol: '\r\n' }).split('\r\n');
    const mixed = `${crlf[0]}\r\n${crlf[1]}\n${crlf[2]}\r${crlf[3]}\r\n${crlf[4]}\r\n`;
    const error = await refusal(Buffer.from(mixed));
    expectProblem(error, 2, /ends with LF, but/);
    expectProblem(error, 3, /carriage return/);
  });

  it('wrong totals', async () => {
    const error = await refusal(Buffer.from(tfs1({ agency: agency.code, lines: [payLine({ amount: '10.00' })], trailer: 'T|2|10.00|0|0.00' })));
    expect(error.code).toBe('STATEMENT_TOTALS_MISMATCH');
    expect(error.details).toMatchObject({ lineNo: 3, problems: ['payCount is 2, the PAY lines are 1'] });
  });

  it('duplicate agencyTxnIds (of a kind)', async () => {
    const line = payLine();
    const refund = refundLine();
    expectProblem(await refusal(Buffer.from(tfs1({ agency: agency.code, lines: [line, refund, line, refund] }))), 4, new RegExp(`${line.id} is already on line 2`));
  });

  it('a header for another agency', async () => {
    expectProblem(await refusal(Buffer.from(tfs1({ agency: world.agency.code, lines: [payLine()] }))), 1, /not for the caller/);
  });

  it('a 20 MB single line, without holding it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const count = 320;
    const file = fileOf(
      function* () {
        yield Buffer.from(`H|TFS1|${agency.code}|2026-12-01|1|2026-12-02T01:30:00+08:00\nD|PAY|`);
        for (let i = 0; i < count; i += 1) yield chunk;
        yield Buffer.from('\nT|0|0.00|0|0.00\n');
      },
      'f'.repeat(64),
      count * chunk.length,
    );
    const error = await refusal(file);
    expectProblem(error, 2, /longer than 4096 bytes/);
    expect((error.details?.lines as unknown[]).length).toBe(1);
  });

  it('an empty file', async () => {
    expectProblem(await refusal(Buffer.alloc(0)), 1, /empty/);
  });

  it('a missing trailer', async () => {
    const text = good().split('\n').slice(0, 3).join('\n') + '\n';
    expectProblem(await refusal(Buffer.from(text)), 4, /without a trailer/);
  });

  it('lines after the trailer', async () => {
    expectProblem(await refusal(Buffer.from(`${good()}D|PAY|X1|15010226100000000103|1.00|2026-12-01T10:15:00+08:00|MOBILE\n`)), 5, /after the trailer/);
  });

  it('three-decimal, zero, negative and exponent amounts', async () => {
    const lines = [payLine({ amount: '1.005' }), payLine({ amount: '0.00' }), payLine({ amount: '-1.00' }), payLine({ amount: '1e2' })];
    const error = await refusal(Buffer.from(tfs1({ agency: agency.code, lines, trailer: 'T|4|0.00|0|0.00' })));
    expectProblem(error, 2, /not money/);
    expectProblem(error, 3, /more than 0.00/);
    expectProblem(error, 4, /not money/);
    expectProblem(error, 5, /not money/);
  });

  it('an unknown channel, bad ids, bad times, bad instruction numbers', async () => {
    const lines = [payLine({ channel: 'WECHAT' }), payLine({ id: 'has space' }), payLine({ at: '2026-12-01 10:15:00' }), refundLine({ code: 'TFX2026120100000001' }), refundLine({ code: 'TFR2026023000000001' }), payLine({ at: '1999-12-01T10:15:00+08:00' })];
    const error = await refusal(Buffer.from(tfs1({ agency: agency.code, lines })));
    expectProblem(error, 2, /channel "WECHAT"/);
    expectProblem(error, 3, /agencyTxnId "has space"/);
    expectProblem(error, 4, /paidAt .* not an ISO 8601/);
    expectProblem(error, 5, /instructionNo/);
    expectProblem(error, 6, /instructionNo/);
    expectProblem(error, 7, /years 2000/);
  });

  it('identifiers with a character outside A–Z a–z 0–9 _ -, or longer than 64, in either format (the table checks only lengths, decision 0188)', async () => {
    const lines = [
      payLine({ id: '订单0001' }),
      payLine({ id: 'T-1/2' }),
      payLine({ id: 'T\\1' }),
      payLine({ id: 'X'.repeat(65) }),
      payLine({ code: '缴款码0001' }),
      payLine({ code: 'P/1' }),
      refundLine({ id: 'R;1' }),
    ];
    for (const format of ['TFS1', 'APPBILL'] as const) {
      const text = format === 'TFS1' ? tfs1({ agency: agency.code, lines }) : appbill({ lines });
      const error = await refusal(Buffer.from(text), format);
      for (const lineNo of [2, 3, 4, 5]) expectProblem(error, lineNo, /agencyTxnId .* is not 1–64 of A–Z a–z 0–9 _ -/);
      for (const lineNo of [6, 7]) expectProblem(error, lineNo, /payCode .* is neither a valid 20-digit payCode nor a posted code/);
      expectProblem(error, 8, /agencyRefundRef .* is not 1–64 of A–Z a–z 0–9 _ -/);
    }
  });

  it('line times more than 60 s after the platform’s time, in either format (a payment cannot have happened yet)', async () => {
    // The service's business clock is at 2026-12-02T09:00:00+08:00.
    const lines = [payLine({ at: '2026-12-02T09:05:00+08:00' }), payLine({ at: '2099-12-31T23:00:00+08:00' }), refundLine({ at: '2026-12-02T10:00:00+08:00' }), payLine({ at: '2026-12-02T09:00:30+08:00' })];
    const tfs1Error = await refusal(Buffer.from(tfs1({ agency: agency.code, lines })));
    expectProblem(tfs1Error, 2, /^paidAt 2026-12-02T09:05:00\+08:00 is more than 60 s after the platform's time \(2026-12-02T09:00:00\+08:00\)/);
    expectProblem(tfs1Error, 3, /^paidAt 2099-12-31T23:00:00\+08:00 is more than 60 s after/);
    expectProblem(tfs1Error, 4, /^refundedAt 2026-12-02T10:00:00\+08:00 is more than 60 s after/);
    expect(tfs1Error.details?.problemCount).toBe(3);
    const appbillError = await refusal(Buffer.from(appbill({ lines })), 'APPBILL');
    expectProblem(appbillError, 2, /^交易时间 2026-12-02T09:05:00\+08:00 is more than 60 s after/);
    expectProblem(appbillError, 3, /^交易时间 2099-12-31T23:00:00\+08:00 is more than 60 s after/);
    expectProblem(appbillError, 4, /^交易时间 2026-12-02T10:00:00\+08:00 is more than 60 s after/);
    expect(appbillError.details?.problemCount).toBe(3);
  });

  it('a payCode that is neither valid nor posted', async () => {
    expectProblem(await refusal(Buffer.from(tfs1({ agency: agency.code, lines: [payLine({ code: '15010226100000000104' })] }))), 2, /neither a valid 20-digit payCode nor the posted code/);
  });

  it('wrong field counts, unknown record types, a second header, empty lines', async () => {
    const text = [`H|TFS1|${agency.code}|2026-12-01|1|2026-12-02T01:30:00+08:00`, 'D|PAY|X|1', 'X|whatever', `H|TFS1|${agency.code}|2026-12-01|1|2026-12-02T01:30:00+08:00`, '', 'T|0|0.00|0|0.00'].join('\n') + '\n';
    const error = await refusal(Buffer.from(text));
    expectProblem(error, 2, /fields, not 7/);
    expectProblem(error, 3, /neither a detail/);
    expectProblem(error, 4, /second header/);
    expectProblem(error, 5, /empty line/);
  });

  it('at most 100 problems are listed, in line order, with the total', async () => {
    const lines = Array.from({ length: 150 }, () => payLine({ channel: 'NOPE' }));
    const error = await refusal(Buffer.from(tfs1({ agency: agency.code, lines })));
    const listed = error.details?.lines as Array<{ lineNo: number }>;
    expect(listed).toHaveLength(100);
    expect(listed.map((p) => p.lineNo)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(error.details?.problemCount).toBe(150);
  });

  it('APPBILL: missing backticks, a wrong header, a non-SUCCESS status, a missing summary', async () => {
    const ok = appbill({ lines: [payLine(), payLine()] }).split('\n');
    const broken = [ok[0]!.replace('渠道', '通道'), ok[1]!.replace('`SUCCESS', '`CLOSED'), ok[2]!.replace(/`/g, '')].join('\n') + '\n';
    const error = await refusal(Buffer.from(broken), 'APPBILL');
    expectProblem(error, 1, /header/);
    expectProblem(error, 2, /not SUCCESS/);
    expectProblem(error, 3, /backtick/);
    expectProblem(error, 4, /without the summary/);
  });
});
