import fs from 'node:fs';
import path from 'node:path';
import { instructionNoToMatch } from '../../../src/domain/bankPostings';
import { Camt053Reader, type Camt053Posting, type Camt053Summary, formatSignedMoney } from '../../../src/domain/camt053';
import { TongfuError } from '../../../src/domain/errors';
import { formatMoney } from '../../../src/domain/money';

// The streaming camt.053 reader (src/domain/camt053.ts, decision 0136) over fixtures shaped like
// real banks' files of each version, fed in chunks of every size down to one character.

const FIXTURES = path.join(__dirname, '../../fixtures/camt053');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

function read(text: string, chunkSize = text.length): { summary: Camt053Summary; postings: Camt053Posting[] } {
  const postings: Camt053Posting[] = [];
  const reader = new Camt053Reader((posting) => postings.push(posting));
  for (let at = 0; at < text.length; at += chunkSize) reader.feed(text.slice(at, at + chunkSize));
  return { summary: reader.end(), postings };
}

function refusal(text: string): TongfuError {
  try {
    read(text);
  } catch (error) {
    if (error instanceof TongfuError) return error;
    throw error;
  }
  throw new Error('the file was accepted');
}

// Each posting's valueDateLine is checked on its own below.
const plain = (postings: Camt053Posting[]) => postings.map(({ valueDateLine: _line, entryLine: _entryLine, ...p }) => ({ ...p, amount: formatMoney(p.amount) }));

describe('camt.053 reader', () => {
  it('reads a .001.02 file: Othr/Id, OPBD/CLBD among OPAV/CLAV, a 3-TxDtls batch from AmtDtls/TxAmt, a debit, a pending entry skipped', () => {
    const text = fixture('camt053_v02_othr_batch.xml');
    for (const chunk of [1, 7, 64, 4096, text.length]) {
      const { summary, postings } = read(text, chunk);
      expect({ ...summary, openingBalance: formatMoney(summary.openingBalance), closingBalance: formatMoney(summary.closingBalance), creditTotal: formatMoney(summary.creditTotal), debitTotal: formatMoney(summary.debitTotal) }).toEqual({
        version: 'camt.053.001.02',
        messageId: 'RX053202612020001',
        statementId: 'RX-STMT-20261202-FISCAL_RX1',
        electronicSeqNo: '336',
        accountNo: 'FISCAL_RX1',
        openingBalance: '10000.00',
        closingBalance: '11350.00',
        entryCount: 3,
        skippedEntryCount: 1,
        postingCount: 5,
        creditTotal: '1550.00',
        debitTotal: '200.00',
      });
      expect(plain(postings)).toEqual([
        { entryNo: 1, bankRef: 'RX20261202000001', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '1250.00', valueDate: '2026-12-02', instructionNo: 'TFS2026120200000001', memo: '提现 TFS2026120200000001', counterparty: { name: '内蒙古代收银行汇缴户', accountNo: '6222000011112222' } },
        { entryNo: 2, bankRef: 'RX20261202000002-1', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '100.00', valueDate: '2026-12-02', memo: '罚款 代缴', counterparty: { name: '张三', accountNo: '6217000000000001' } },
        { entryNo: 2, bankRef: 'RX20261202000002-2', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '150.00', valueDate: '2026-12-02', counterparty: { name: '李四' } },
        { entryNo: 2, bankRef: 'RX20261202000002-3', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '50.00', valueDate: '2026-12-02', memo: 'PART 1 PART 2' },
        { entryNo: 3, bankRef: 'RX20261202000003', accountNo: 'FISCAL_RX1', direction: 'DEBIT', amount: '200.00', valueDate: '2026-12-01', memo: '退付 TFR2026120200000007 王五' },
      ]);
    }
  });

  it('reads a .001.04 file: IBAN, DtTm dates, a debit opening balance, an ITBD in another currency ignored, TxDtls/Amt', () => {
    const { summary, postings } = read(fixture('camt053_v04_iban_dttm.xml'), 13);
    expect([summary.version, summary.accountNo, formatSignedMoney(summary.openingBalance), formatSignedMoney(summary.closingBalance), summary.entryCount]).toEqual(['camt.053.001.04', 'CN0412345678901234', '-50.00', '50.00', 2]);
    expect(plain(postings)).toEqual([
      { entryNo: 1, bankRef: 'V4-0001', accountNo: 'CN0412345678901234', direction: 'CREDIT', amount: '88.80', valueDate: '2026-12-02', memo: 'payment ref TFS2026120200000042 thanks', counterparty: { name: 'HOHHOT TRAFFIC AGENCY', accountNo: 'CN9900000000000077' } },
      { entryNo: 2, bankRef: 'V4-0002-1', accountNo: 'CN0412345678901234', direction: 'CREDIT', amount: '5.20', valueDate: '2026-12-02' },
      { entryNo: 2, bankRef: 'V4-0002-2', accountNo: 'CN0412345678901234', direction: 'CREDIT', amount: '6.00', valueDate: '2026-12-02' },
    ]);
  });

  it('reads a .001.06 file: prefixed namespace, a comment, NtryRef without AcctSvcrRef, CDATA and entities', () => {
    const { summary, postings } = read(fixture('camt053_v06_ntryref_cdata.xml'), 5);
    expect([summary.version, summary.messageId, formatMoney(summary.closingBalance)]).toEqual(['camt.053.001.06', 'STMT20261203RX000017', '11830.00']);
    expect(plain(postings)).toEqual([
      // EndToEndId E2E-UNKNOWN-77 is the originator's reference, not an instruction number (decision 0222).
      { entryNo: 1, bankRef: 'RX6-000101', accountNo: 'FISCAL_RX1', direction: 'CREDIT', amount: '500.00', valueDate: '2026-12-03', memo: 'Invoice <2026-118> & fee', counterparty: { name: 'Smith & Sons Trading' } },
      { entryNo: 2, bankRef: 'RX6-000102', accountNo: 'FISCAL_RX1', direction: 'DEBIT', amount: '20.00', valueDate: '2026-12-03', memo: 'Account maintenance fee 费' },
    ]);
  });

  it('reads a .001.08 file: Sts/Cd, BookgDt/DtTm, Dbtr/Pty/Nm, an INFO entry skipped', () => {
    const { summary, postings } = read(fixture('camt053_v08_stscd_pty.xml'), 3);
    expect([summary.version, summary.accountNo, summary.entryCount, summary.skippedEntryCount]).toEqual(['camt.053.001.08', 'TREASURY_RX1', 2, 1]);
    expect(plain(postings)).toEqual([
      { entryNo: 1, bankRef: 'TRSY8000001-1', accountNo: 'TREASURY_RX1', direction: 'CREDIT', amount: '600.00', valueDate: '2026-12-02', instructionNo: 'TFS2026120200000011', counterparty: { name: '呼和浩特代收点', accountNo: 'CLEARING_AG1' } },
      { entryNo: 1, bankRef: 'TRSY8000001-2', accountNo: 'TREASURY_RX1', direction: 'CREDIT', amount: '400.00', valueDate: '2026-12-02', instructionNo: 'TFS2026120200000012', counterparty: { name: '包头代收点' } },
      { entryNo: 2, bankRef: 'TRSY8000002', accountNo: 'TREASURY_RX1', direction: 'CREDIT', amount: '25.50', valueDate: '2026-12-02', memo: 'unknown payer' },
    ]);
  });

  const v02 = fixture('camt053_v02_othr_batch.xml');

  it('opens a statement without OPBD with its PRCD, the previous closing booked balance; beside an OPBD a PRCD is ignored (decision 0225)', () => {
    const prcd = v02.replace('<Cd>OPBD</Cd>', '<Cd>PRCD</Cd>');
    const { summary, postings } = read(prcd, 11);
    expect([formatSignedMoney(summary.openingBalance), formatSignedMoney(summary.closingBalance), postings.length]).toEqual(['10000.00', '11350.00', 5]);
    const wrong = refusal(prcd.replace('<Amt Ccy="CNY">11350.00</Amt>', '<Amt Ccy="CNY">11350.01</Amt>'));
    expect([wrong.code, wrong.message, wrong.details?.openingBalance]).toEqual(['STATEMENT_TOTALS_MISMATCH', expect.stringMatching(/^PRCD 10000\.00 \+ credits/), '10000.00']);
    // Beside the OPBD, a PRCD is not read, whatever it holds (the .04 fixture has one, DBIT 50.00).
    const both = v02.replace('<Bal>', '<Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-01</Dt></Dt></Bal>\n      <Bal>');
    expect(formatSignedMoney(read(both).summary.openingBalance)).toBe('10000.00');
    // Without an OPBD, the PRCD must be sound, and one.
    expect(refusal(prcd.replace('<Cd>PRCD</Cd>\n          </CdOrPrtry>\n        </Tp>\n        <Amt Ccy="CNY">10000.00</Amt>', '<Cd>PRCD</Cd>\n          </CdOrPrtry>\n        </Tp>\n        <Amt Ccy="USD">10000.00</Amt>')).message).toMatch(/the PRCD balance is in USD/);
    expect(refusal(both.replace('<Cd>OPBD</Cd>', '<Cd>PRCD</Cd>')).message).toMatch(/two PRCD balances and no OPBD/);
    expect(refusal(v02.replace('<Cd>OPBD</Cd>', '<Cd>OPAV</Cd>').replace(/<Bal>\s*<Tp>\s*<CdOrPrtry>\s*<Cd>OPAV<\/Cd>[\s\S]*?<\/Bal>/, '')).message).toMatch(/needs an opening balance \(OPBD, else PRCD\)/);
  });

  it('refuses a closing balance that the entries do not reach: STATEMENT_TOTALS_MISMATCH with the totals', () => {
    const error = refusal(v02.replace('<Amt Ccy="CNY">11350.00</Amt>', '<Amt Ccy="CNY">11350.01</Amt>'));
    expect(error.code).toBe('STATEMENT_TOTALS_MISMATCH');
    expect(error.details).toEqual({ openingBalance: '10000.00', closingBalance: '11350.01', creditTotal: '1550.00', debitTotal: '200.00', expectedClosingBalance: '11350.00' });
  });

  it('refuses a file in which two entries, or an entry and a TxDtls, share a reference: the second would pass as a replay and its money be lost', () => {
    const v04 = fixture('camt053_v04_iban_dttm.xml');
    // Entries 1 and 3 of the .001.02 file are one posting each: the same AcctSvcrRef twice.
    const twice = refusal(v02.replace('<AcctSvcrRef>RX20261202000003</AcctSvcrRef>', '<AcctSvcrRef>RX20261202000001</AcctSvcrRef>'));
    expect(twice.code).toBe('STATEMENT_MALFORMED');
    expect(twice.message).toMatch(/entry 3: the reference RX20261202000001 is already entry 1's/);
    // Entry 2 has two TxDtls, read as V4-0002-1 and V4-0002-2: an entry 1 named V4-0002-1 collides.
    const batch = refusal(v04.replace('<AcctSvcrRef>V4-0001</AcctSvcrRef>', '<AcctSvcrRef>V4-0002-1</AcctSvcrRef>'));
    expect(batch.code).toBe('STATEMENT_MALFORMED');
    expect(batch.message).toMatch(/entry 2: the reference V4-0002-1 is already entry 1's/);
    expect(batch.details).toEqual({ lines: [{ lineNo: expect.any(Number), problem: expect.stringMatching(/^entry 2: the reference V4-0002-1 is already entry 1's/) }], problemCount: 1 });
  });

  it('names the line each value date was read from (ValDt, else BookgDt), where the service puts a value date out of its window', () => {
    const text = fixture('camt053_v02_othr_batch.xml');
    const lines = text.split('\n');
    const { postings } = read(text);
    for (const posting of postings) {
      const line = lines[posting.valueDateLine - 1] ?? '';
      expect(line).toContain(posting.valueDate);
      expect(line).toMatch(/<\/(Dt|DtTm)>/);
    }
    const refused = refusal(text.replace('<Amt Ccy="CNY">1250.00</Amt>', '<Amt Ccy="CNY">1250.001</Amt>'));
    expect(refused.details).toEqual({ lines: [{ lineNo: expect.any(Number), problem: expect.stringMatching(/has more than two decimals/) }], problemCount: 1 });
  });

  it('refuses an entry of more than 99999999999.99, the largest single amount (decision 0190)', () => {
    const huge = '<Amt Ccy="CNY">100000000000.00</Amt>';
    const error = refusal(v02.replace('<Amt Ccy="CNY">1250.00</Amt>', huge).replace('<Amt Ccy="CNY">11350.00</Amt>', '<Amt Ccy="CNY">100000010100.00</Amt>'));
    expect(error.code).toBe('STATEMENT_MALFORMED');
    expect(error.message).toMatch(/entry 1's amount 100000000000\.00 is more than 99999999999\.99/);
  });

  it('refuses TxDtls amounts that do not add up to their entry', () => {
    const error = refusal(v02.replace('<Amt Ccy="CNY">150.00</Amt>', '<Amt Ccy="CNY">150.01</Amt>'));
    expect(error.code).toBe('STATEMENT_MALFORMED');
    expect(error.message).toMatch(/3 TxDtls add up to 300\.01, the entry is 300\.00/);
  });

  it('refuses a single TxDtls whose own amount is not its entry\'s; one that agrees, or has none, is read as the entry', () => {
    const withTx = (amount: string) => v02.replace('        <AddtlNtryInf>退付 TFR2026120200000007 王五</AddtlNtryInf>', `        <NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="CNY">${amount}</Amt></TxAmt></AmtDtls></TxDtls></NtryDtls>\n        <AddtlNtryInf>退付 TFR2026120200000007 王五</AddtlNtryInf>`);
    expect(withTx('200.00')).not.toBe(v02);
    const error = refusal(withTx('150.00'));
    expect(error.code).toBe('STATEMENT_MALFORMED');
    expect(error.message).toMatch(/entry 3: its TxDtls amount is 150\.00, the entry is 200\.00/);
    expect(plain(read(withTx('200.00')).postings)).toEqual(plain(read(v02).postings));
  });

  it('takes an EndToEndId as the instruction number only when it is one; an originator\'s own reference leaves the memo to name it (decision 0222)', () => {
    const withTx = (endToEndId: string) =>
      v02.replace('        <AddtlNtryInf>退付 TFR2026120200000007 王五</AddtlNtryInf>', `        <NtryDtls><TxDtls><Refs><EndToEndId>${endToEndId}</EndToEndId></Refs><RmtInf><Ustrd>退付 TFR2026120200000007</Ustrd></RmtInf></TxDtls></NtryDtls>`);
    const debit = (endToEndId: string) => read(withTx(endToEndId)).postings.find((posting) => posting.entryNo === 3) as Camt053Posting;
    for (const reference of ['AGY01PAY202612020007', 'NOTPROVIDED', 'tfr2026120200000008', 'TFR20261202000000081']) {
      const posting = debit(reference);
      expect([posting.instructionNo, posting.memo, instructionNoToMatch(posting)]).toEqual([undefined, '退付 TFR2026120200000007', 'TFR2026120200000007']);
    }
    // An instruction number in EndToEndId is the one named, whatever the memo says.
    expect(instructionNoToMatch(debit('TFR2026120200000008'))).toBe('TFR2026120200000008');
  });

  it('refuses a DOCTYPE, an entity declaration and an unknown entity reference', () => {
    const withDoctype = v02.replace('<Document', '<!DOCTYPE Document [<!ENTITY x "boom">]>\n<Document');
    expect(refusal(withDoctype).message).toMatch(/DOCTYPE or other declaration is refused/);
    expect(refusal(v02.replace('<Document', '<!ENTITY x SYSTEM "file:///etc/passwd">\n<Document')).code).toBe('STATEMENT_MALFORMED');
    const entity = refusal(v02.replace('<Nm>李四</Nm>', '<Nm>&x;</Nm>'));
    expect([entity.code, entity.message]).toEqual(['STATEMENT_MALFORMED', expect.stringMatching(/entity reference &x; is refused/)]);
    // Split across chunks, the DOCTYPE is refused all the same.
    expect(() => read(withDoctype, 2)).toThrow(/DOCTYPE/);
  });

  it('refuses a control character XML does not allow, written or as a character reference, where a JSON posting could not carry it', () => {
    for (const [text, problem] of [
      ['李&#x1;四', /character reference &#x1; is not a character XML allows/],
      ['李&#27;四', /character reference &#27; is not a character XML allows/],
      ['李&#xFFFE;四', /character reference &#xFFFE; is not a character XML allows/],
      ['李\u0007四', /the character U\+0007 is not allowed in XML/],
      ['李\uFFFE四', /the character U\+FFFE is not allowed in XML/],
    ] as const) {
      const error = refusal(v02.replace('<Nm>李四</Nm>', `<Nm>${text}</Nm>`));
      expect([error.code, error.message]).toEqual(['STATEMENT_MALFORMED', expect.stringMatching(problem)]);
    }
    // TAB, LF, CR and what XML allows still read.
    const { postings } = read(v02.replace('<Nm>李四</Nm>', '<Nm>李&#x9;四&#x10FFFF;</Nm>'));
    expect(postings.find((posting) => posting.counterparty?.name.startsWith('李'))?.counterparty?.name).toBe('李\t四\u{10FFFF}');
  });

  it('refuses amounts in another currency than CNY, in an entry, a TxDtls or a booked balance', () => {
    expect(refusal(v02.replace('<Amt Ccy="CNY">1250.00</Amt>\n        <CdtDbtInd>', '<Amt Ccy="EUR">1250.00</Amt>\n        <CdtDbtInd>')).details).toMatchObject({ currency: 'EUR' });
    expect(refusal(v02.replace('<Amt Ccy="CNY">100.00</Amt>', '<Amt Ccy="USD">100.00</Amt>')).details).toMatchObject({ currency: 'USD' });
    expect(refusal(v02.replace('<Amt Ccy="CNY">10000.00</Amt>', '<Amt Ccy="HKD">10000.00</Amt>')).details).toMatchObject({ currency: 'HKD' });
  });

  it('refuses what is not one camt.053 statement of the four versions', () => {
    expect(refusal(v02.replace('camt.053.001.02', 'camt.053.001.10')).message).toMatch(/not camt\.053/);
    expect(refusal(v02.replace('camt.053.001.02', 'camt.052.001.02')).message).toMatch(/not camt\.053/);
    const twoStatements = v02.replace('</Stmt>', '</Stmt><Stmt><Id>2</Id></Stmt>');
    expect(refusal(twoStatements).message).toMatch(/exactly one Stmt/);
    expect(refusal(v02.replace(/<Bal>\s*<Tp>\s*<CdOrPrtry>\s*<Cd>CLBD<\/Cd>/, '<Bal><Tp><CdOrPrtry><Cd>XXXX</Cd>')).message).toMatch(/an opening balance \(OPBD, else PRCD\) and one CLBD/);
    expect(refusal(v02.replace('<Amt Ccy="CNY">1250.00</Amt>\n        <CdtDbtInd>', '<Amt Ccy="CNY">1250.001</Amt>\n        <CdtDbtInd>')).message).toMatch(/more than two decimals/);
    expect(refusal(v02.replace('</Document>', '')).code).toBe('STATEMENT_MALFORMED');
    expect(refusal(v02.replace('<Sts>BOOK</Sts>', '')).message).toMatch(/no Sts/);
  });

  it('reads a generated file of tens of MB in chunks with bounded memory', () => {
    const entries = 60_000;
    const entry = (i: number) =>
      `<Ntry><Amt Ccy="CNY">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-12-02</Dt></BookgDt><AcctSvcrRef>G${i}</AcctSvcrRef>` +
      `<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>` +
      `<RltdPties><Dbtr><Nm>PAYER ${i}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>${'REMITTANCE TEXT '.repeat(20)}${i}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n`;
    const head = `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>BIG</MsgId><CreDtTm>2026-12-02T20:00:00</CreDtTm></GrpHdr><Stmt><Id>BIG-1</Id><Acct><Id><Othr><Id>BIG_ACCT</Id></Othr></Id></Acct>` +
      `<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-02</Dt></Dt></Bal>` +
      `<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">${entries}.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-02</Dt></Dt></Bal>\n`;
    let count = 0;
    let bytes = 0;
    const reader = new Camt053Reader(() => {
      count += 1;
    });
    global.gc?.();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    reader.feed(head);
    let batch = '';
    for (let i = 1; i <= entries; i += 1) {
      batch += entry(i);
      if (batch.length >= 64 * 1024) {
        bytes += batch.length;
        reader.feed(batch);
        batch = '';
        if (i % 5000 < 100) peak = Math.max(peak, process.memoryUsage().heapUsed);
      }
    }
    reader.feed(`${batch}</Stmt></BkToCstmrStmt></Document>`);
    const summary = reader.end();
    expect([count, summary.entryCount, formatMoney(summary.closingBalance)]).toEqual([entries, entries, `${entries}.00`]);
    expect(bytes).toBeGreaterThan(30 * 1024 * 1024);
    // The file is > 30 MB of text (> 60 MB in memory as a JS string); reading it holds one entry.
    expect(peak - baseline).toBeLessThan(24 * 1024 * 1024);
  });
});

describe('the instruction number a posting names', () => {
  it('is its instructionNo as given, else the first instruction number in its memo, else none', () => {
    expect(instructionNoToMatch({ instructionNo: 'TFS2026120200000001', memo: 'TFS2026120200000002' })).toBe('TFS2026120200000001');
    expect(instructionNoToMatch({ instructionNo: 'whatever-the-bank-sent' })).toBe('whatever-the-bank-sent');
    expect(instructionNoToMatch({ memo: '提现TFS2026120200000009 and TFR2026120200000010' })).toBe('TFS2026120200000009');
    expect(instructionNoToMatch({ memo: 'refund TFR2026120200000010/2' })).toBe('TFR2026120200000010');
    expect(instructionNoToMatch({ memo: 'TFS20261202000000011 is 17 digits' })).toBeUndefined();
    expect(instructionNoToMatch({ memo: 'TFX2026120200000001' })).toBeUndefined();
    expect(instructionNoToMatch({ instructionNo: '', memo: null })).toBeUndefined();
    expect(instructionNoToMatch({})).toBeUndefined();
  });
});
