import fs from 'node:fs';
import path from 'node:path';
import { expectLedgerVerified } from '../helpers/payments';
import { buildWorld, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { startTestService, type TestService } from '../helpers/testService';

// Bank postings and camt.053 statements over HTTP (docs/settlement.md §2), on the real pipeline and
// PostgreSQL; every answer is checked against contracts/. No instruction exists in this branch, so
// every posting is UNIDENTIFIED: matching itself is covered by the unit tests of the domain rule.

const FIXTURES = path.join(__dirname, '../fixtures/camt053');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

describe('bank postings and statements API', () => {
  let service: TestService;
  let world: World;
  let bank: SignedCall;
  let otherBank: SignedCall;
  let finance: SignedCall;
  const db = () => service.database.db;
  const postXml = (as: SignedCall, xml: string | Buffer, contentType = 'application/xml') => as('POST', '/v1/bank/statements', undefined, { rawBody: xml, headers: { 'content-type': contentType } });
  const count = async (sql: string, bindings: string[] = []): Promise<number> => Number(((await db().raw(sql, bindings)) as { rows: Array<{ n: string }> }).rows[0]?.n);

  beforeAll(async () => {
    service = await startTestService({ businessNow: new Date('2026-12-02T17:30:00+08:00') });
    world = await buildWorld(service);
    const { catalogue } = world.services;
    const actor = world.finance.appId;
    bank = signedAs(service, await registerParty(world.services, { role: 'bank', code: 'BANK_RX', name: '融信银行' }, actor));
    otherBank = signedAs(service, await registerParty(world.services, { role: 'bank', code: 'BANK_OT', name: '他行' }, actor));
    finance = signedAs(service, world.finance);
    await catalogue.putAccount('FISCAL_RX1', { name: '财政专户', bankCode: 'BANK_RX', kind: 'FISCAL' }, actor);
    await catalogue.putAccount('TREASURY_RX1', { name: '国库户', bankCode: 'BANK_RX', kind: 'TREASURY' }, actor);
    await catalogue.putAccount('CN0412345678901234', { name: '财政专户 IBAN', bankCode: 'BANK_RX', kind: 'FISCAL' }, actor);
    await catalogue.putAccount('CLEARING_RX1', { name: '汇缴户', bankCode: 'BANK_RX', kind: 'CLEARING' }, actor);
    await catalogue.putAccount('FISCAL_OT1', { name: '他行专户', bankCode: 'BANK_OT', kind: 'FISCAL' }, actor);
  });
  afterAll(async () => {
    await service.close();
  });

  const posting = (overrides: Record<string, unknown> = {}) => ({ bankRef: 'RX-JSON-0001', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '500.00', valueDate: '2026-12-02', memo: '来款 未知', counterparty: { name: '王五', accountNo: '6217000099998888' }, ...overrides });

  it('records an unidentified credit: suspense entry, event to finance, counterparty encrypted, readable by its bank', async () => {
    const response = await bank('POST', '/v1/bank/postings', posting());
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ postingId: expect.any(String), bankRef: 'RX-JSON-0001', status: 'UNIDENTIFIED', instructionNo: null });
    expect(response.headers.get('idempotent-replay')).toBeNull();
    const { postingId } = response.body as { postingId: string };

    const stored = await db()('bank_postings').where({ posting_id: postingId }).first();
    expect([stored.source, stored.status, stored.counterparty_name === '王五', String(stored.counterparty_account_no).includes('6217')]).toEqual(['JSON', 'UNIDENTIFIED', false, false]);
    const lines = await db().raw(`SELECT l.account, l.side, l.amount::text AS amount FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id WHERE e.bank_posting_id = ? AND e.kind = 'UNIDENTIFIED_CREDIT' ORDER BY l.line_no`, [stored.id]);
    expect(lines.rows).toEqual([{ account: 'receiving:FISCAL_RX1', side: 'DEBIT', amount: '500.00' }, { account: 'suspense:unidentified', side: 'CREDIT', amount: '500.00' }]);

    const read = await bank('GET', `/v1/bank/postings/${postingId}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ postingId, bankCode: 'BANK_RX', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '500.00', valueDate: '2026-12-02', instructionNo: null, givenInstructionNo: null, memo: '来款 未知', counterparty: { name: '王五', accountNo: '6217000099998888' }, status: 'UNIDENTIFIED', source: 'JSON', resolvedAt: null });
    expect((await otherBank('GET', `/v1/bank/postings/${postingId}`)).status).toBe(404);

    const events = await finance('GET', '/v1/finance/events');
    const unidentified = (events.body as { data: Array<{ type: string; data: { posting: { postingId: string } } }> }).data.filter((event) => event.type === 'bankPosting.unidentified');
    expect(unidentified.map((event) => event.data.posting.postingId)).toEqual([postingId]);

    const list = await finance('GET', '/v1/finance/unidentified');
    expect(list.status).toBe(200);
    expect((list.body as { data: Array<{ postingId: string; counterparty: unknown }> }).data).toEqual([expect.objectContaining({ postingId, counterparty: { name: '王五', accountNo: '6217000099998888' } })]);
    expect((await finance('GET', '/v1/finance/unidentified?status=LINKED')).body).toEqual({ data: [], nextCursor: null });
    await expectLedgerVerified(db());
  });

  it('replays a repeat with the same money fields (whatever else differs) and refuses one with other money fields', async () => {
    const first = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-JSON-0002' }));
    const again = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-JSON-0002', memo: 'another memo', counterparty: undefined, instructionNo: 'TFS2026120200000099' }));
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    expect(again.body).toEqual(first.body);
    for (const [field, value] of [['amount', '500.01'], ['direction', 'DEBIT'], ['valueDate', '2026-12-03'], ['accountNo', 'TREASURY_RX1']] as const) {
      const conflict = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-JSON-0002', [field]: value }));
      expect([conflict.status, conflict.body.error.code, conflict.body.error.details.differingFields]).toEqual([409, 'IDEMPOTENCY_CONFLICT', [field]]);
    }
    expect(await count(`SELECT count(*) AS n FROM bank_postings WHERE bank_ref = 'RX-JSON-0002'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM journal_entries e JOIN bank_postings p ON p.id = e.bank_posting_id WHERE p.bank_ref = 'RX-JSON-0002'`)).toBe(1);
  });

  it('lets only the bank holding a receiving account post to it', async () => {
    const foreign = await otherBank('POST', '/v1/bank/postings', posting({ bankRef: 'OT-1' }));
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const clearing = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-CLR-1', accountNo: 'CLEARING_RX1' }));
    expect([clearing.status, clearing.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const unknown = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-UNK-1', accountNo: 'NO_SUCH_ACCOUNT' }));
    expect(unknown.status).toBe(404);
    expect((await finance('POST', '/v1/bank/postings', posting({ bankRef: 'FIN-1' }))).status).toBe(403);
    expect((await otherBank('POST', '/v1/bank/postings', posting({ bankRef: 'OT-2', accountNo: 'FISCAL_OT1' }))).status).toBe(201);
    const invalid = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX bad ref', amount: '0.00' }));
    expect([invalid.status, invalid.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    const zero = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-ZERO-1', amount: '0.00' }));
    expect([zero.status, zero.body.error.code, zero.body.error.details]).toEqual([400, 'VALIDATION_FAILED', { fields: [{ path: '/amount', problem: 'must be more than 0.00: a payment moves money' }] }]);
    // Past the largest single amount (decision 0190): two of the wire's largest once stopped every later daily close.
    const huge = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-HUGE-1', amount: '9999999999999999.99' }));
    expect([huge.status, huge.body.error.code, huge.body.error.details]).toEqual([400, 'VALIDATION_FAILED', { fields: [{ path: '/amount', problem: 'must be at most 99999999999.99, the largest single amount the platform takes in' }] }]);
    expect((await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-LARGEST-1', amount: '99999999999.99' }))).status).toBe(201);
    expect(await count(`SELECT count(*) AS n FROM bank_postings WHERE bank_ref IN ('OT-1', 'RX-CLR-1', 'RX-UNK-1', 'FIN-1', 'RX-ZERO-1', 'RX-HUGE-1')`)).toBe(0);
  });

  it('refuses a value date after tomorrow or more than 31 days back, listing it with every other problem; a repeat of a recorded posting still replays (decision 0199)', async () => {
    // The business clock's today is 2026-12-02: value dates from 2026-11-01 to 2026-12-03.
    const refusals: Array<[string, string]> = [
      ['2099-01-01', "must not be after 2026-12-03, the day after the platform's date (2026-12-02): a bank books money value-dated tomorrow at the latest"],
      ['2026-12-04', "must not be after 2026-12-03, the day after the platform's date (2026-12-02): a bank books money value-dated tomorrow at the latest"],
      ['2026-10-31', "must not be before 2026-11-01, 31 days before the platform's date (2026-12-02)"],
      ['1999-01-01', "must not be before 2026-11-01, 31 days before the platform's date (2026-12-02)"],
    ];
    for (const [valueDate, problem] of refusals) {
      const refused = await bank('POST', '/v1/bank/postings', posting({ bankRef: `RX-VD-${valueDate}`, valueDate }));
      expect([refused.status, refused.body.error.code, refused.body.error.details]).toEqual([400, 'VALIDATION_FAILED', { fields: [{ path: '/valueDate', problem }] }]);
    }
    // Every problem at once, and before the account's 404.
    const both = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-VD-BOTH', amount: '0.00', valueDate: '2099-01-01', accountNo: 'FISCAL_OT1' }));
    expect([both.status, both.body.error.details.fields.map((f: { path: string }) => f.path)]).toEqual([400, ['/amount', '/valueDate']]);
    expect(await count(`SELECT count(*) AS n FROM bank_postings WHERE bank_ref LIKE 'RX-VD-%'`)).toBe(0);

    const first = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-VD-EDGE-1', valueDate: '2026-11-01', amount: '3.00' }));
    const last = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-VD-EDGE-2', valueDate: '2026-12-03', amount: '4.00' }));
    expect([first.status, last.status]).toEqual([201, 201]);
    // Two days on, 2026-11-01 is out of the window for a new posting, but this one was recorded: it replays.
    const now = service.clocks.business.now();
    service.clocks.business.set(new Date(now.getTime() + 2 * 86_400_000));
    try {
      const again = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-VD-EDGE-1', valueDate: '2026-11-01', amount: '3.00' }));
      expect([again.status, again.headers.get('idempotent-replay'), again.body.postingId]).toEqual([201, 'true', first.body.postingId]);
      const fresh = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-VD-EDGE-3', valueDate: '2026-11-01', amount: '3.00' }));
      expect([fresh.status, fresh.body.error.details.fields[0].path]).toEqual([400, '/valueDate']);
    } finally {
      service.clocks.business.set(now);
    }
    await expectLedgerVerified(db());
  });

  it('records an unidentified debit without a suspense entry', async () => {
    const debit = await bank('POST', '/v1/bank/postings', posting({ bankRef: 'RX-DEBIT-1', direction: 'DEBIT', amount: '12.34' }));
    expect(debit.body.status).toBe('UNIDENTIFIED');
    expect(await count(`SELECT count(*) AS n FROM journal_entries e JOIN bank_postings p ON p.id = e.bank_posting_id WHERE p.bank_ref = 'RX-DEBIT-1'`)).toBe(0);
    await expectLedgerVerified(db());
  });

  it('records one posting for identical postings sent at once on separate connections', async () => {
    const body = posting({ bankRef: 'RX-RACE-1', amount: '77.70' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => bank('POST', '/v1/bank/postings', body)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
    expect(new Set(answers.map((a) => a.body.postingId)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replay') === null)).toHaveLength(1);
    expect(await count(`SELECT count(*) AS n FROM bank_postings WHERE bank_ref = 'RX-RACE-1'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM journal_entries e JOIN bank_postings p ON p.id = e.bank_posting_id WHERE p.bank_ref = 'RX-RACE-1'`)).toBe(1);
    await expectLedgerVerified(db());
  });

  it('turns a .001.02 statement into postings, one with the same entry posted by JSON before, and replays the same file', async () => {
    const json = await bank('POST', '/v1/bank/postings', { bankRef: 'RX20261202000001', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '1250.00', valueDate: '2026-12-02' });
    expect(json.status).toBe(201);
    const xml = fixture('camt053_v02_othr_batch.xml');
    const response = await postXml(bank, xml);
    expect(response.status).toBe(201);
    expect(response.body).toEqual({
      statementId: expect.any(String),
      accountNo: 'FISCAL_RX1',
      camtVersion: 'camt.053.001.02',
      messageId: 'RX053202612020001',
      fileStatementId: 'RX-STMT-20261202-FISCAL_RX1',
      openingBalance: '10000.00',
      closingBalance: '11350.00',
      entries: 3,
      postings: ['RX20261202000001', 'RX20261202000002-1', 'RX20261202000002-2', 'RX20261202000002-3', 'RX20261202000003'].map((bankRef) => ({ postingId: expect.any(String), bankRef, status: 'UNIDENTIFIED', instructionNo: null })),
    });
    // Each posting is named by its postingId, which the bank reads it by (the JSON one's as its own answer gave it; decision 0223).
    expect(response.body.postings[0].postingId).toBe(json.body.postingId);
    const batchPart = response.body.postings[2] as { postingId: string };
    const read = await bank('GET', `/v1/bank/postings/${batchPart.postingId}`);
    expect([read.status, read.body.bankRef, read.body.amount, read.body.source]).toEqual([200, 'RX20261202000002-2', '150.00', 'CAMT053']);
    const rows = await db()('bank_postings').where('bank_ref', 'like', 'RX2026120200000%').orderBy('bank_ref').select('bank_ref', 'source', db().raw('amount::text AS amount'), 'instruction_no', 'memo', 'direction');
    expect(rows).toEqual([
      { bank_ref: 'RX20261202000001', source: 'JSON', amount: '1250.00', instruction_no: null, memo: null, direction: 'CREDIT' },
      { bank_ref: 'RX20261202000002-1', source: 'CAMT053', amount: '100.00', instruction_no: null, memo: '罚款 代缴', direction: 'CREDIT' },
      { bank_ref: 'RX20261202000002-2', source: 'CAMT053', amount: '150.00', instruction_no: null, memo: null, direction: 'CREDIT' },
      { bank_ref: 'RX20261202000002-3', source: 'CAMT053', amount: '50.00', instruction_no: null, memo: 'PART 1 PART 2', direction: 'CREDIT' },
      { bank_ref: 'RX20261202000003', source: 'CAMT053', amount: '200.00', instruction_no: null, memo: '退付 TFR2026120200000007 王五', direction: 'DEBIT' },
    ]);
    const replay = await postXml(bank, xml);
    expect([replay.status, replay.headers.get('idempotent-replay')]).toEqual([201, 'true']);
    expect(replay.body).toEqual(response.body);
    expect(await count('SELECT count(*) AS n FROM bank_statements')).toBe(1);
    await expectLedgerVerified(db());
  });

  it('accepts .001.04 (IBAN, DtTm), .001.06 (prefixes, NtryRef) and .001.08 (Sts/Cd) statements', async () => {
    const v04 = await postXml(bank, fixture('camt053_v04_iban_dttm.xml'), 'text/xml');
    expect([v04.status, v04.body.accountNo, v04.body.openingBalance, v04.body.postings.map((p: { bankRef: string }) => p.bankRef)]).toEqual([201, 'CN0412345678901234', '-50.00', ['V4-0001', 'V4-0002-1', 'V4-0002-2']]);
    const v06 = await postXml(bank, fixture('camt053_v06_ntryref_cdata.xml'));
    expect([v06.status, v06.body.postings.map((p: { bankRef: string }) => p.bankRef)]).toEqual([201, ['RX6-000101', 'RX6-000102']]);
    const v08 = await postXml(bank, fixture('camt053_v08_stscd_pty.xml'));
    expect([v08.status, v08.body.entries, v08.body.postings.map((p: { bankRef: string }) => p.bankRef)]).toEqual([201, 2, ['TRSY8000001-1', 'TRSY8000001-2', 'TRSY8000002']]);
    const given = await db()('bank_postings').where({ bank_ref: 'TRSY8000001-1' }).first('instruction_no', 'value_date');
    expect(given.instruction_no).toBe('TFS2026120200000011');
    await expectLedgerVerified(db());
  });

  it('refuses a whole file, recording nothing, for wrong totals, a DOCTYPE, a foreign currency, another bank, a conflicting entry or the wrong media type', async () => {
    const statements = await count('SELECT count(*) AS n FROM bank_statements');
    const postings = await count('SELECT count(*) AS n FROM bank_postings');
    const base = fixture('camt053_v08_stscd_pty.xml').replace(/TRSY800000/g, 'NEW800000').replace('TRSY-20261202-000001-01', 'NEW-01');
    const refusals: Array<[string | Buffer, number, string, SignedCall?, string?]> = [
      [base.replace('<Amt Ccy="CNY">1025.50</Amt>', '<Amt Ccy="CNY">1025.51</Amt>'), 422, 'STATEMENT_TOTALS_MISMATCH'],
      [base.replace('<Document', '<!DOCTYPE Document [<!ENTITY e SYSTEM "file:///etc/passwd">]><Document'), 422, 'STATEMENT_MALFORMED'],
      [base.replace('<Amt Ccy="CNY">600.00</Amt>', '<Amt Ccy="EUR">600.00</Amt>'), 422, 'STATEMENT_MALFORMED'],
      [base.replace('<Amt Ccy="CNY">400.00</Amt>', '<Amt Ccy="CNY">400.10</Amt>'), 422, 'STATEMENT_MALFORMED'],
      [Buffer.concat([Buffer.from(base.slice(0, 200)), Buffer.from([0xff, 0xfe]), Buffer.from(base.slice(200))]), 422, 'STATEMENT_MALFORMED'],
      [base, 404, 'NOT_FOUND', otherBank],
      // Another bank's account answers 404 before what the file gets wrong after naming it (docs/interface.md §3).
      [base.replace('<Amt Ccy="CNY">1025.50</Amt>', '<Amt Ccy="CNY">1025.51</Amt>'), 404, 'NOT_FOUND', otherBank],
      [base.replace('<Amt Ccy="CNY">600.00</Amt>', '<Amt Ccy="EUR">600.00</Amt>'), 404, 'NOT_FOUND', otherBank],
      [base.replace(/2026-12-02/g, '2026-10-02'), 404, 'NOT_FOUND', otherBank],
      [base.replace('NEW8000002', 'RX-JSON-0001'), 409, 'IDEMPOTENCY_CONFLICT'],
      [base, 415, 'UNSUPPORTED_MEDIA_TYPE', bank, 'text/plain'],
    ];
    for (const [body, status, code, as, contentType] of refusals) {
      const response = await postXml(as ?? bank, body, contentType);
      expect([response.status, response.body.error.code]).toEqual([status, code]);
      // The catalogue's STATEMENT_MALFORMED (docs/interface.md §3): each problem with its line, and the count.
      if (code === 'STATEMENT_MALFORMED') expect(response.body.error.details).toMatchObject({ lines: [{ lineNo: expect.any(Number), problem: expect.any(String) }], problemCount: 1 });
    }
    expect(await count('SELECT count(*) AS n FROM bank_statements')).toBe(statements);
    expect(await count('SELECT count(*) AS n FROM bank_postings')).toBe(postings);
    await expectLedgerVerified(db());
  });

  it('refuses a corrected statement whose entry carries a recorded reference with another amount, naming the entry and its line, and records nothing of it', async () => {
    const original = fixture('camt053_v08_stscd_pty.xml').replace(/TRSY800000/g, 'CORR800000').replace('TRSY-20261202-000001-01', 'CORR-01').replace('TRSY-20261202-000001', 'CORR-MSG-1');
    expect((await postXml(bank, original)).status).toBe(201);
    const statements = await count('SELECT count(*) AS n FROM bank_statements');
    const postings = await count('SELECT count(*) AS n FROM bank_postings');
    // The bank's correction: entry 2 (its <Ntry> on line 139) booked 25.60, not 25.50 (its TxDtls too), the balances with it.
    const corrected = original.replace('CORR-MSG-1', 'CORR-MSG-2').replace(/<Amt Ccy="CNY">25\.50<\/Amt>/g, '<Amt Ccy="CNY">25.60</Amt>').replace(/1025\.50/g, '1025.60');
    const response = await postXml(bank, corrected);
    expect([response.status, response.body.error.code]).toEqual([409, 'IDEMPOTENCY_CONFLICT']);
    expect(response.body.error.message).toBe('entry 2 (line 139): bankRef CORR8000002 was posted with another amount');
    expect(response.body.error.details).toEqual({ bankRef: 'CORR8000002', postingId: expect.any(String), differingFields: ['amount'], entryNo: 2, lineNo: 139 });
    expect(await count('SELECT count(*) AS n FROM bank_statements')).toBe(statements);
    expect(await count('SELECT count(*) AS n FROM bank_postings')).toBe(postings);
    await expectLedgerVerified(db());
  });

  it('refuses a statement whose entries are value-dated out of the window, every such posting listed on the line of its date, before its totals (decision 0199)', async () => {
    const statements = await count('SELECT count(*) AS n FROM bank_statements');
    const postings = await count('SELECT count(*) AS n FROM bank_postings');
    const base = fixture('camt053_v08_stscd_pty.xml').replace(/TRSY800000/g, 'VD800000').replace('TRSY-20261202-000001-01', 'VD-01');
    const lines = base.split('\n');
    const valDtLine = lines.findIndex((line, index) => line.includes('<Dt>2026-12-02</Dt>') && (lines[index - 1] ?? '').includes('<ValDt>')) + 1;
    const bookgDtLine = lines.findIndex((line) => line.includes('<DtTm>2026-12-02T15:40:00+08:00</DtTm>')) + 1;
    const dated = base
      .replace('<ValDt>\n          <Dt>2026-12-02</Dt>', '<ValDt>\n          <Dt>2099-01-01</Dt>')
      .replace('<DtTm>2026-12-02T15:40:00+08:00</DtTm>', '<DtTm>1999-01-01T15:40:00+08:00</DtTm>');
    const tomorrow = "must not be after 2026-12-03, the day after the platform's date (2026-12-02): a bank books money value-dated tomorrow at the latest";
    const expected = {
      lines: [
        { lineNo: valDtLine, problem: `entry 1 (VD8000001-1): the value date 2099-01-01 ${tomorrow}` },
        { lineNo: valDtLine, problem: `entry 1 (VD8000001-2): the value date 2099-01-01 ${tomorrow}` },
        { lineNo: bookgDtLine, problem: "entry 2 (VD8000002): the value date 1999-01-01 must not be before 2026-11-01, 31 days before the platform's date (2026-12-02)" },
      ],
      problemCount: 3,
    };
    for (const file of [dated, dated.replace('<Amt Ccy="CNY">1025.50</Amt>', '<Amt Ccy="CNY">1025.51</Amt>')]) {
      const refused = await postXml(bank, file);
      expect([refused.status, refused.body.error.code, refused.body.error.details]).toEqual([422, 'STATEMENT_MALFORMED', expected]);
    }
    // A problem of the file's structure: the catalogue's shape too, the one problem on its line.
    const decimals = await postXml(bank, base.replace('<Amt Ccy="CNY">600.00</Amt>', '<Amt Ccy="CNY">600.001</Amt>'));
    const amountLine = lines.findIndex((line) => line.includes('<Amt Ccy="CNY">600.00</Amt>')) + 1;
    expect([decimals.status, decimals.body.error.code, decimals.body.error.details]).toEqual([422, 'STATEMENT_MALFORMED', { lines: [{ lineNo: amountLine, problem: 'TxDtls/Amt 600.001 has more than two decimals' }], problemCount: 1 }]);
    expect(decimals.body.error.message).toBe(`line ${amountLine}: TxDtls/Amt 600.001 has more than two decimals`);
    expect(await count('SELECT count(*) AS n FROM bank_statements')).toBe(statements);
    expect(await count('SELECT count(*) AS n FROM bank_postings')).toBe(postings);
  });

  it('streams a large statement of 10,000 entries into postings in one transaction', async () => {
    const entries = 10_000;
    const parts: string[] = [];
    let total = 0;
    let postingsExpected = 0;
    for (let i = 1; i <= entries; i += 1) {
      const batch = i % 10 === 0;
      total += batch ? 3 : 1;
      postingsExpected += batch ? 2 : 1;
      const details = batch
        ? `<NtryDtls><TxDtls><Amt Ccy="CNY">1.00</Amt><RmtInf><Ustrd>A ${i}</Ustrd></RmtInf></TxDtls><TxDtls><Amt Ccy="CNY">2.00</Amt><Refs><EndToEndId>TFS2026120299${String(i).padStart(6, '0')}</EndToEndId></Refs></TxDtls></NtryDtls>`
        : `<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><RltdPties><Dbtr><Nm>PAYER ${i}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>REMITTANCE ${i} TFS2026120288${String(i).padStart(6, '0')}</Ustrd></RmtInf></TxDtls></NtryDtls>`;
      parts.push(`<Ntry><Amt Ccy="CNY">${batch ? '3.00' : '1.00'}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>2026-12-02T12:00:00+08:00</DtTm></BookgDt><AcctSvcrRef>BIG${i}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>${details}</Ntry>\n`);
    }
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>BIG-1</MsgId><CreDtTm>2026-12-02T20:00:00+08:00</CreDtTm></GrpHdr><Stmt><Id>BIG-1-1</Id><Acct><Id><Othr><Id>TREASURY_RX1</Id></Othr></Id></Acct>` +
      `<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">1025.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-02</Dt></Dt></Bal>` +
      `<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">${total + 1025.5}0</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-02</Dt></Dt></Bal>\n${parts.join('')}</Stmt></BkToCstmrStmt></Document>`;
    const started = Date.now();
    const response = await postXml(bank, xml);
    process.stdout.write(`large statement: ${(xml.length / 1e6).toFixed(1)} MB in ${Date.now() - started} ms\n`);
    expect(response.status).toBe(201);
    expect([response.body.entries, response.body.postings.length]).toEqual([entries, postingsExpected]);
    expect(await count(`SELECT count(*) AS n FROM bank_postings WHERE bank_ref LIKE 'BIG%'`)).toBe(postingsExpected);
    expect(await count(`SELECT count(*) AS n FROM journal_entries e JOIN bank_postings p ON p.id = e.bank_posting_id WHERE p.bank_ref LIKE 'BIG%'`)).toBe(postingsExpected);
    expect(await count(`SELECT count(*) AS n FROM bank_postings WHERE bank_ref = 'BIG10-2' AND instruction_no = 'TFS2026120299000010' AND amount = 2.00`)).toBe(1);
    await expectLedgerVerified(db());
  }, 300_000);
});
