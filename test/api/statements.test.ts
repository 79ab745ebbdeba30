import { addAgency, buildWorld, signedAs, World } from '../helpers/builders';
import { badCheckDigits, postingBody, shanghai, unknownPayCode } from '../helpers/payments';
import { signedRequest } from '../helpers/signedClient';
import { appbill, payLine, refundLine, tfs1 } from '../helpers/statementFiles';
import { startTestService, TestService } from '../helpers/testService';

/**
 * POST /v1/agency/statements and GET /v1/agency/statements/{id} (docs/reconciliation.md §1,
 * contracts/decisions/0100-statement-files.md) over real HTTP, signed, with real PostgreSQL;
 * every response is checked against contracts/.
 */

let service: TestService;
let world: World;

const NOW = '2026-12-02T09:00:00';

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai(NOW)) });
  world = await buildWorld(service);
});

afterAll(async () => {
  await service.close();
});

function upload(credentials: World['agency'], text: string | Buffer, query = '', contentType = 'text/plain') {
  return signedRequest(service, credentials, 'POST', `/v1/agency/statements${query}`, { rawBody: text, headers: { 'content-type': contentType } });
}

async function statementRows(agencyCode: string, date = '2026-12-01') {
  return service.database.db('agency_statements').where({ agency_code: agencyCode, business_date: date }).orderBy('id');
}

async function lineCount(statementRowId: string): Promise<number> {
  const [row] = await service.database.db('agency_statement_lines').where({ statement_id: statementRowId }).count('* as n');
  return Number(row?.n);
}

describe('TFS1', () => {
  it('accepts a file, stores its lines and asks for the reconcile run; the agency reads it back, others cannot', async () => {
    const agency = await addAgency(world);
    const lines = [payLine({ amount: '100.00' }), payLine({ amount: '218.00', channel: 'COUNTER' }), refundLine({ amount: '50.00' })];
    const response = await upload(agency, tfs1({ agency: agency.code, lines }));
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ statementId: expect.any(String), agencyCode: agency.code, businessDate: '2026-12-01', fileSeq: 1, format: 'TFS1', payCount: 2, payTotal: '318.00', refundCount: 1, refundTotal: '50.00', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), status: 'ACCEPTED' });
    const [row] = await statementRows(agency.code);
    expect(row).toMatchObject({ source: 'UPLOAD', format: 'TFS1', superseded_by: null });
    expect(await lineCount(row.id)).toBe(3);
    const stored = await service.database.db('agency_statement_lines').where({ statement_id: row.id }).orderBy('line_no');
    expect(stored.map((l) => [l.line_no, l.kind, l.agency_txn_id, l.amount])).toEqual([
      [2, 'PAY', lines[0]!.id, '100.00'],
      [3, 'PAY', lines[1]!.id, '218.00'],
      [4, 'REFUND', lines[2]!.id, '50.00'],
    ]);
    expect(stored[2]).toMatchObject({ pay_code: null, instruction_no: lines[2]!.code, channel: null });
    const requests = await service.database.db('job_requests').where({ agency_code: agency.code });
    expect(requests).toEqual([expect.objectContaining({ job: 'reconcile', business_date: '2026-12-01', statement_id: response.body.statementId, status: 'PENDING' })]);

    const read = await signedAs(service, agency)('GET', `/v1/agency/statements/${response.body.statementId}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ ...response.body, status: 'ACCEPTED', source: 'UPLOAD', supersededBy: null });
    const other = await addAgency(world);
    const foreign = await signedAs(service, other)('GET', `/v1/agency/statements/${response.body.statementId}`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
  });

  it('accepts CRLF line endings', async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, tfs1({ agency: agency.code, lines: [payLine(), payLine()], eol: '\r\n' }));
    expect(response.status).toBe(201);
    expect(response.body.payCount).toBe(2);
  });

  it('a replay answers the original body; nothing new is stored', async () => {
    const agency = await addAgency(world);
    const text = tfs1({ agency: agency.code, lines: [payLine(), refundLine()] });
    const first = await upload(agency, text);
    expect(first.status).toBe(201);
    const again = await upload(agency, text);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await statementRows(agency.code)).toHaveLength(1);
    expect(await service.database.db('job_requests').where({ agency_code: agency.code })).toHaveLength(1);
  });

  it('a strictly higher fileSeq supersedes; the same or a lower one is STATEMENT_SEQ_NOT_HIGHER', async () => {
    const agency = await addAgency(world);
    const firstText = tfs1({ agency: agency.code, seq: 2, lines: [payLine()] });
    const first = await upload(agency, firstText);
    expect(first.status).toBe(201);
    for (const seq of [1, 2]) {
      const refused = await upload(agency, tfs1({ agency: agency.code, seq, lines: [payLine(), payLine()] }));
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('STATEMENT_SEQ_NOT_HIGHER');
      expect(refused.body.error.details).toMatchObject({ currentFileSeq: 2 });
    }
    const second = await upload(agency, tfs1({ agency: agency.code, seq: 3, lines: [payLine(), payLine()] }));
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ fileSeq: 3, payCount: 2 });
    const rows = await statementRows(agency.code);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ file_seq: 2, superseded_by: rows[1].id, superseded_at: expect.any(Date) });
    expect(rows[1]).toMatchObject({ file_seq: 3, superseded_by: null });
    const old = await signedAs(service, agency)('GET', `/v1/agency/statements/${first.body.statementId}`);
    expect(old.body).toMatchObject({ status: 'SUPERSEDED', supersededBy: second.body.statementId });
    // The superseded file again is still a replay of its first answer.
    const replay = await upload(agency, firstText);
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(await statementRows(agency.code)).toHaveLength(2);
  });

  it('a closed business date refuses statements with BUSINESS_DATE_CLOSED', async () => {
    const agency = await addAgency(world);
    const hash = (c: string) => c.repeat(64);
    await service.database.db('daily_closes').insert({ business_date: '2026-11-25', previous_close_hash: hash('0'), content: '{}', close_hash: hash('a'), signature: 'x', key_id: 'k', created_at: new Date() });
    const response = await upload(agency, tfs1({ agency: agency.code, date: '2026-11-25', lines: [payLine({ at: '2026-11-25T10:00:00+08:00' })] }));
    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe('BUSINESS_DATE_CLOSED');
    expect(await statementRows(agency.code, '2026-11-25')).toHaveLength(0);
  });

  it("a header naming another agency is STATEMENT_MALFORMED at line 1, nothing stored", async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, tfs1({ agency: world.agency.code, lines: [payLine()] }));
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('STATEMENT_MALFORMED');
    expect(response.body.error.details.lines).toEqual([{ lineNo: 1, problem: expect.stringContaining(`not for the caller ${agency.code}`) }]);
    expect(await statementRows(agency.code)).toHaveLength(0);
    expect(await statementRows(world.agency.code)).toHaveLength(0);
  });

  it('a trailer that disagrees with the lines is STATEMENT_TOTALS_MISMATCH', async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, tfs1({ agency: agency.code, lines: [payLine({ amount: '10.00' })], trailer: 'T|1|10.01|0|0.00' }));
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('STATEMENT_TOTALS_MISMATCH');
    expect(response.body.error.details).toMatchObject({ lineNo: 3, trailer: { payTotal: '10.01' }, lines: { payTotal: '10.00' } });
    expect(await statementRows(agency.code)).toHaveLength(0);
  });

  it("a PAY payCode that is not a valid code is accepted only as exactly the posted code of the agency's UNAPPLIED payment", async () => {
    const agency = await addAgency(world);
    const mistyped = badCheckDigits(unknownPayCode());
    const posting = await signedAs(service, agency)('POST', '/v1/agency/payments', postingBody({ payCode: mistyped, amount: '30.00', paidAt: shanghai('2026-12-01T11:00:00'), fundsCaptured: true }));
    expect(posting.status).toBe(201);
    expect(posting.body).toMatchObject({ status: 'UNAPPLIED', unappliedReason: 'PAY_CODE_INVALID' });
    const otherMistyped = badCheckDigits(unknownPayCode());
    const refused = await upload(agency, tfs1({ agency: agency.code, lines: [payLine({ code: mistyped }), payLine({ code: otherMistyped }), payLine({ code: 'ABC' })] }));
    expect(refused.status).toBe(422);
    expect(refused.body.error.details.lines).toEqual([
      { lineNo: 3, problem: expect.stringContaining(otherMistyped) },
      { lineNo: 4, problem: expect.stringContaining('ABC') },
    ]);
    // Another agency's UNAPPLIED code is not this agency's.
    const other = await addAgency(world);
    const foreign = await upload(other, tfs1({ agency: other.code, lines: [payLine({ code: mistyped })] }));
    expect(foreign.status).toBe(422);
    const accepted = await upload(agency, tfs1({ agency: agency.code, lines: [payLine({ code: mistyped, amount: '30.00' })] }));
    expect(accepted.status).toBe(201);
  });

  it('duplicate agencyTxnIds are listed with the line that had it first', async () => {
    const agency = await addAgency(world);
    const line = payLine();
    const response = await upload(agency, tfs1({ agency: agency.code, lines: [line, payLine(), { ...line, amount: '5.00' }] }));
    expect(response.status).toBe(422);
    expect(response.body.error.details.lines).toEqual([{ lineNo: 4, problem: `agencyTxnId ${line.id} is already on line 2` }]);
  });

  it('stores each line\'s instant exactly as the parser read it, whatever form the file wrote it in', async () => {
    const agency = await addAgency(world);
    // Whole seconds with an offset or Z go to COPY as the file's text; the other forms as the
    // parsed instant (a fraction past milliseconds is cut, as the parser cuts it).
    // Read back to the microsecond: the file's `.1239` must be stored as the parser's .123000.
    const forms = [
      ['2026-12-01T10:15:00+08:00', '2026-12-01T02:15:00.000000'],
      ['2026-12-01T02:15:00Z', '2026-12-01T02:15:00.000000'],
      ['2026-11-30T21:15:00-05:00', '2026-12-01T02:15:00.000000'],
      ['2026-12-01T10:15:00.1239+08:00', '2026-12-01T02:15:00.123000'],
      ['2026-12-01t02:15:00.5z', '2026-12-01T02:15:00.500000'],
    ];
    const response = await upload(agency, tfs1({ agency: agency.code, lines: forms.map(([at]) => payLine({ at })) }));
    expect(response.status).toBe(201);
    const [row] = await statementRows(agency.code);
    const stored = await service.database.db.raw<{ rows: Array<{ utc: string }> }>(
      `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS utc FROM agency_statement_lines WHERE statement_id = ? ORDER BY line_no`,
      [row.id],
    );
    expect(stored.rows.map((l) => l.utc)).toEqual(forms.map(([, instant]) => instant));
  });

  it('a REFUND may share a PAY line\'s id; a second REFUND with it is a duplicate', async () => {
    const agency = await addAgency(world);
    const pay = payLine();
    const accepted = await upload(agency, tfs1({ agency: agency.code, lines: [pay, refundLine({ id: pay.id })] }));
    expect(accepted.status).toBe(201);
    const other = await addAgency(world);
    const refused = await upload(other, tfs1({ agency: other.code, lines: [pay, refundLine({ id: pay.id }), refundLine({ id: pay.id })] }));
    expect(refused.status).toBe(422);
    expect(refused.body.error.details.lines).toEqual([{ lineNo: 4, problem: `agencyRefundRef ${pay.id} is already on line 3` }]);
  });

  it('a business date in the future is refused', async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, tfs1({ agency: agency.code, date: '2026-12-03', lines: [payLine()] }));
    expect(response.status).toBe(422);
    expect(response.body.error.details.lines[0]).toEqual({ lineNo: 1, problem: expect.stringContaining('in the future') });
  });
});

describe('APPBILL', () => {
  it('accepts a bill with agency from the caller and date and sequence from the query', async () => {
    const agency = await addAgency(world);
    const lines = [payLine({ amount: '100.00' }), payLine({ amount: '0.01', channel: 'QR' }), refundLine({ amount: '20.00' })];
    const response = await upload(agency, appbill({ lines }), '?format=APPBILL&businessDate=2026-12-01&fileSeq=4', 'text/csv');
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ agencyCode: agency.code, businessDate: '2026-12-01', fileSeq: 4, format: 'APPBILL', payCount: 2, payTotal: '100.01', refundCount: 1, refundTotal: '20.00' });
    const [row] = await statementRows(agency.code);
    const stored = await service.database.db('agency_statement_lines').where({ statement_id: row.id }).orderBy('line_no');
    expect(stored.map((l) => [l.line_no, l.kind, l.agency_txn_id])).toEqual([
      [2, 'PAY', lines[0]!.id],
      [3, 'PAY', lines[1]!.id],
      [4, 'REFUND', lines[2]!.id],
    ]);
    expect((stored[0].occurred_at as Date).toISOString()).toBe('2026-12-01T02:15:00.000Z');
  });

  it('an APPBILL file sent without format=APPBILL is refused as TFS1, with a hint', async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, appbill({ lines: [payLine()] }), '', 'text/csv');
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('STATEMENT_MALFORMED');
    expect(response.body.error.details.lines[0]).toEqual({ lineNo: 1, problem: 'line 1 must be the header H|TFS1|agencyCode|businessDate|fileSeq|generatedAt; this is an APPBILL header: send an APPBILL file with format=APPBILL, businessDate and fileSeq' });
  });

  it('needs businessDate and fileSeq', async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, appbill({ lines: [payLine()] }), '?format=APPBILL', 'text/csv');
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('takes a fileSeq up to 2147483647, as a TFS1 header does; a larger one is VALIDATION_FAILED at /query/fileSeq', async () => {
    const agency = await addAgency(world);
    const accepted = await upload(agency, appbill({ lines: [payLine()] }), '?format=APPBILL&businessDate=2026-12-01&fileSeq=2147483647', 'text/csv');
    expect(accepted.status).toBe(201);
    expect(accepted.body).toMatchObject({ fileSeq: 2147483647, format: 'APPBILL' });
    for (const fileSeq of ['2147483648', '9999999999']) {
      const refused = await upload(agency, appbill({ lines: [payLine()] }), `?format=APPBILL&businessDate=2026-12-01&fileSeq=${fileSeq}`, 'text/csv');
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: '/query/fileSeq', problem: 'must be 1–2147483647' }] } });
    }
  });

  it('a summary that disagrees is STATEMENT_TOTALS_MISMATCH', async () => {
    const agency = await addAgency(world);
    const response = await upload(agency, appbill({ lines: [payLine()], summary: '`2,`100.00,`0.00' }), '?format=APPBILL&businessDate=2026-12-01&fileSeq=1', 'text/csv');
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('STATEMENT_TOTALS_MISMATCH');
  });
});
