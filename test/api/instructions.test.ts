import { settleJob, confirmCheckJob } from '../../src/jobs/settle';
import { confirmInstructionByPosting, findLiveInstructionForPosting, reissueInstruction } from '../../src/services/instructions';
import { addAgency, buildWorld, ITEMS, registerParty, signedAs, SignedCall, World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { startTestService, TestService } from '../helpers/testService';

/**
 * Instructions over signed HTTP (docs/settlement.md §1): each party sees only its own, the
 * executor's result (replay, conflict, only the executor), the journal at execution and
 * confirmation, FAILED and its reissue, and the confirm-check job on the business clock.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let otherAgency: SignedCall;
let bank: SignedCall;
let otherBank: SignedCall;
let finance: SignedCall;
let numbers: string[];

async function pay(items: Array<{ itemCode: string; amount: string }>, paidAt: string, as: SignedCall): Promise<string> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items, dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const due = await as('GET', `/v1/agency/notices/${payCode}`);
  const agencyTxnId = newTxnId();
  expect((await as('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt, agencyTxnId }))).status).toBe(201);
  return paymentRowId(service.database.db, agencyTxnId);
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-20T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  const second = await addAgency(world, 'AGENCY_TWO');
  otherAgency = signedAs(service, second);
  bank = signedAs(service, await bankHoldingTheFiscalAccount());
  otherBank = signedAs(service, await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_OTHER' }, world.finance.appId));
  finance = signedAs(service, world.finance);

  const date = '2026-11-20';
  const payments = [
    await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }, { itemCode: ITEMS.sharedFee, amount: '12.35' }], shanghai(`${date}T08:00:00`), agency),
    await pay([{ itemCode: ITEMS.fine, amount: '20.00' }], shanghai(`${date}T08:10:00`), agency),
  ];
  await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: payments });
  service.clocks.business.set(new Date(shanghai('2026-11-21T03:00:00')));
  await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
  numbers = (await service.database.db('instructions').orderBy('id').select('instruction_no')).map((row) => row.instruction_no as string);
  expect(numbers).toHaveLength(2);
});

/** A bank registered here (the world keeps no bank credentials) that holds the fiscal account; BANK_NM keeps the others. */
async function bankHoldingTheFiscalAccount() {
  const credentials = await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_HOLDER' }, world.finance.appId);
  await service.runtime.services.catalogue.putAccount(world.fiscalAccountNo, { name: '财政专户', bankCode: 'BANK_HOLDER', kind: 'FISCAL' }, world.finance.appId);
  return credentials;
}

afterAll(async () => {
  await service.close();
});

describe('who sees what', () => {
  it('lists an agency’s own instructions, a bank’s on its accounts, and finance all; any other is 404', async () => {
    const mine = await agency('GET', '/v1/agency/instructions?status=CREATED');
    expect(mine.status).toBe(200);
    expect(mine.body.data.map((row: { instructionNo: string }) => row.instructionNo)).toEqual(numbers);
    expect((await otherAgency('GET', '/v1/agency/instructions')).body.data).toEqual([]);
    expect((await otherAgency('GET', `/v1/agency/instructions/${numbers[0]}`)).status).toBe(404);

    // The fiscal account is BANK_HOLDER's; the treasury and clearing accounts BANK_NM's.
    const banked = await bank('GET', '/v1/bank/instructions');
    expect(banked.body.data.map((row: { creditAccount: { accountNo: string } }) => row.creditAccount.accountNo)).toEqual([world.fiscalAccountNo]);
    expect((await bank('GET', `/v1/bank/instructions/${banked.body.data[0].instructionNo}`)).status).toBe(200);
    expect((await otherBank('GET', `/v1/bank/instructions/${numbers[0]}`)).status).toBe(404);
    // A malformed number is 400 at /path/instructionNo, as the contract says (not a 404).
    const malformed = await bank('GET', `/v1/bank/instructions/${'T'.repeat(65)}`);
    expect([malformed.status, malformed.body.error.code, malformed.body.error.details.fields[0].path]).toEqual([400, 'VALIDATION_FAILED', '/path/instructionNo']);
    expect((await otherBank('GET', '/v1/bank/instructions')).body.data).toEqual([]);

    const all = await finance('GET', '/v1/finance/instructions?type=SETTLEMENT&status=CREATED');
    expect(all.body.data).toHaveLength(2);
    expect((await finance('GET', '/v1/finance/instructions?type=REFUND')).body.data).toEqual([]);
  });
});

describe('the executor’s result', () => {
  it('refuses an executedAt later than now, out of a paidAt’s bounds, or before the instruction was created, writing nothing — agency and bank alike (decision 0201)', async () => {
    const no = numbers[1] as string;
    const created = await service.database.db('instructions').where({ instruction_no: no }).first();
    const now = service.clocks.business.now();
    service.clocks.business.set(new Date(shanghai('2026-11-21T09:00:00')));
    try {
      const report = (executedAt: string) => ({ status: 'EXECUTED', executedAt, reference: 'BOUNDS-1' });
      const refusals: Array<[string, string | RegExp]> = [
        ['2099-01-01T00:00:00+08:00', "must not be more than 60 s after the platform's time (2026-11-21T09:00:00+08:00): an instruction cannot have been executed later than now"],
        ['2026-11-21T09:01:01+08:00', /^must not be more than 60 s after the platform's time/],
        ['2100-01-01T00:00:00+08:00', 'must be in the years 2000–2099, not 2100'],
        ['2026-11-21T09:00:00+15:00', 'must have an offset within ±14:00, not +15:00'],
        ['2026-11-21T02:58:59+08:00', 'must not be before the instruction was created (2026-11-21T03:00:00+08:00): an instruction cannot have been executed before it existed'],
        ['1999-12-31T23:00:00+08:00', 'must be in the years 2000–2099, not 1999'],
      ];
      for (const [executedAt, problem] of refusals) {
        const refused = await agency('POST', `/v1/agency/instructions/${no}/result`, report(executedAt));
        expect([refused.status, refused.body.error.code, refused.body.error.details.fields]).toEqual([400, 'VALIDATION_FAILED', [{ path: '/executedAt', problem: typeof problem === 'string' ? problem : expect.stringMatching(problem) }]]);
      }
      // With a FAILED report missing its reason, both problems are listed.
      const both = await agency('POST', `/v1/agency/instructions/${no}/result`, { status: 'FAILED', executedAt: '2099-01-01T00:00:00+08:00', reference: 'BOUNDS-2' });
      expect(both.body.error.details.fields.map((field: { path: string }) => field.path)).toEqual(['/executedAt', '/failureReason']);
      // An EXECUTED report that gives a reason for failing contradicts itself: refused, with nothing written.
      const contradictory = await agency('POST', `/v1/agency/instructions/${no}/result`, { status: 'EXECUTED', executedAt: '2026-11-21T08:00:00+08:00', reference: 'BOUNDS-3', failureReason: '余额不足' });
      expect([contradictory.status, contradictory.body.error.code, contradictory.body.error.details.fields]).toEqual([400, 'VALIDATION_FAILED', [{ path: '/failureReason', problem: 'is only for a FAILED report: an EXECUTED one carries no failure reason' }]]);
      const fromBankContradictory = await bank('POST', `/v1/bank/instructions/${no}/result`, { status: 'EXECUTED', executedAt: '2026-11-21T08:00:00+08:00', reference: 'BOUNDS-3', failureReason: '账户冻结' });
      expect([fromBankContradictory.status, fromBankContradictory.body.error.details.fields[0].path]).toEqual([400, '/failureReason']);
      // The bank's result endpoint is the same code: the bounds answer before its 404.
      const fromBank = await bank('POST', `/v1/bank/instructions/${no}/result`, report('2099-01-01T00:00:00+08:00'));
      expect([fromBank.status, fromBank.body.error.details.fields[0].path]).toEqual([400, '/executedAt']);
      // Not the executor: 404, not a hint of when the instruction was created.
      expect((await otherAgency('POST', `/v1/agency/instructions/${no}/result`, report('2026-11-21T02:00:00+08:00'))).status).toBe(404);
      const after = await service.database.db('instructions').where({ instruction_no: no }).first();
      expect([after.status, after.reported_status, after.executed_at, after.updated_at]).toEqual(['CREATED', null, null, created.updated_at]);
      expect(await service.database.db('journal_entries').where({ instruction_id: created.id })).toEqual([]);
    } finally {
      service.clocks.business.set(now);
    }
  });

  it('EXECUTED once: SETTLEMENT_EXECUTED in the ledger; the same report replays, another is 409; only the executor may report', async () => {
    const no = numbers[0] as string;
    // The agency reports after it executed: an executedAt cannot be later than now (decision 0201).
    service.clocks.business.set(new Date(shanghai('2026-11-21T10:30:00')));
    const report = { status: 'EXECUTED', executedAt: '2026-11-21T10:00:00+08:00', reference: 'BANKREF-1' };
    expect((await otherAgency('POST', `/v1/agency/instructions/${no}/result`, report)).status).toBe(404);
    expect((await bank('POST', `/v1/bank/instructions/${no}/result`, report)).status).toBe(404);
    const first = await agency('POST', `/v1/agency/instructions/${no}/result`, report);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ instructionNo: no, status: 'EXECUTED', executedAt: '2026-11-21T10:00:00+08:00', reference: 'BANKREF-1' });
    const again = await agency('POST', `/v1/agency/instructions/${no}/result`, report);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replay')).toBe('true');
    expect(again.body).toEqual(first.body);
    const contradicting = await agency('POST', `/v1/agency/instructions/${no}/result`, { ...report, reference: 'BANKREF-2' });
    expect(contradicting.status).toBe(409);
    expect(contradicting.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    const failing = await agency('POST', `/v1/agency/instructions/${no}/result`, { status: 'FAILED', executedAt: report.executedAt, reference: 'X', failureReason: '余额不足' });
    expect(failing.status).toBe(409);
    const row = await service.database.db('instructions').where({ instruction_no: no }).first();
    const entries = await service.database.db('journal_entries').where({ instruction_id: row.id });
    expect(entries.map((entry) => entry.kind)).toEqual(['SETTLEMENT_EXECUTED']);
    await expectLedgerVerified(service.database.db);
  });

  it('a bank posting confirms it: SETTLEMENT_CONFIRMED with the revenue per share, instruction.confirmed to executor and finance; the ledger ties', async () => {
    const no = numbers[0] as string;
    const row = await service.database.db('instructions').where({ instruction_no: no }).first();
    const result = await service.database.db.transaction(async (trx) => {
      expect(await findLiveInstructionForPosting(trx, { instructionNo: no, accountNo: row.credit_account_no, direction: 'DEBIT' })).toBeUndefined();
      const found = await findLiveInstructionForPosting(trx, { instructionNo: no, accountNo: row.credit_account_no, direction: 'CREDIT' });
      expect(found?.id).toBe(String(row.id));
      return confirmInstructionByPosting(trx, { instructionRowId: String(row.id), postingRowId: '1', amount: row.amount, at: service.clocks.business.now() });
    });
    expect(result).toBe('CONFIRMED');
    expect((await agency('GET', `/v1/agency/instructions/${no}`)).body).toMatchObject({ status: 'CONFIRMED' });
    const lines = await service.database.db('journal_lines as l').join('journal_entries as e', 'e.id', 'l.entry_id').where({ 'e.instruction_id': row.id, 'e.kind': 'SETTLEMENT_CONFIRMED' }).select('l.account', 'l.side', 'l.amount');
    // 50.00 at level 3 and 12.35 shared 0.4 / 0.6 between levels 2 and 3: 4.94 and 7.41.
    expect(lines.filter((line) => line.account.startsWith('revenue:')).map((line) => [line.account, line.amount]).sort()).toEqual([
      [`revenue:${world.fiscalAccountNo}:2:1030402`, '4.94'],
      [`revenue:${world.fiscalAccountNo}:3:103040101`, '50.00'],
      [`revenue:${world.fiscalAccountNo}:3:1030402`, '7.41'],
    ]);
    const events = await service.database.db('events').where({ type: 'instruction.confirmed' });
    expect(events.length).toBe(2); // the agency and the one finance party
    await service.database.db.transaction(async (trx) => {
      expect(await findLiveInstructionForPosting(trx, { instructionNo: no, accountNo: row.credit_account_no, direction: 'CREDIT' })).toBeUndefined();
    });
    await expectLedgerVerified(service.database.db);
  });

  it('FAILED: instruction.failed to executor and finance, the items freed; reissue takes them over once; a confirm-first settlement executes then confirms', async () => {
    const no = numbers[1] as string;
    const failed = await agency('POST', `/v1/agency/instructions/${no}/result`, { status: 'FAILED', executedAt: '2026-11-21T10:05:00+08:00', reference: 'R-9', failureReason: '账户冻结' });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ status: 'FAILED', failureReason: '账户冻结' });
    expect(await service.database.db('events').where({ type: 'instruction.failed' }).count('* as n')).toEqual([{ n: '2' }]);
    const row = await service.database.db('instructions').where({ instruction_no: no }).first();
    expect(await service.database.db('instruction_payment_items').where({ instruction_id: row.id, live: true })).toEqual([]);
    // The settle job does not take a FAILED instruction's money: that is the reissue's.
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    expect(await service.database.db('instructions').count('* as n')).toEqual([{ n: '2' }]);

    const reissued = await service.database.db.transaction((trx) => reissueInstruction(trx, { instructionRowId: String(row.id), actor: world.finance.appId, now: service.clocks.business.now() }));
    expect(reissued.instructionNo).toMatch(/^TFS20261121[0-9]{8}$/);
    await expect(service.database.db.transaction((trx) => reissueInstruction(trx, { instructionRowId: String(row.id), actor: world.finance.appId, now: service.clocks.business.now() }))).rejects.toMatchObject({ code: 'ACTION_NOT_APPLICABLE' });
    const view = await agency('GET', `/v1/agency/instructions/${reissued.instructionNo}`);
    expect(view.body).toMatchObject({ status: 'CREATED', reissueOf: no, amount: failed.body.amount, lines: failed.body.lines });
    expect(await service.database.db('instruction_payment_items').where({ instruction_id: reissued.instructionRowId, live: true }).count('* as n')).toEqual([{ n: '1' }]);

    // Confirmed before any report: executed and confirmed at once.
    const outcome = await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: reissued.instructionRowId, postingRowId: '2', amount: '20.00', at: service.clocks.business.now() }));
    expect(outcome).toBe('CONFIRMED');
    const kinds = (await service.database.db('journal_entries').where({ instruction_id: reissued.instructionRowId }).orderBy('id')).map((entry) => entry.kind);
    expect(kinds).toEqual(['SETTLEMENT_EXECUTED', 'SETTLEMENT_CONFIRMED']);
    await expectLedgerVerified(service.database.db);
  });
});

describe('a receiving bank\'s camt.053 statement', () => {
  it('confirms the settlement its Ustrd names when EndToEndId is the agency\'s own reference (decision 0222)', async () => {
    const date = '2026-11-29';
    const payment = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai(`${date}T08:00:00`), agency);
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [payment] });
    service.clocks.business.set(new Date(shanghai('2026-11-30T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const row = await service.database.db('instructions').where({ business_date: date }).first();
    service.clocks.business.set(new Date(shanghai('2026-11-30T10:00:00')));
    const ntry = `<Ntry><Amt Ccy="CNY">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-30</Dt></BookgDt><ValDt><Dt>2026-11-30</Dt></ValDt><AcctSvcrRef>HOLDER-E2E-1</AcctSvcrRef><BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>AGYPAY202611300001</EndToEndId></Refs><RltdPties><Dbtr><Nm>代收机构汇缴户</Nm></Dbtr></RltdPties><RmtInf><Ustrd>非税收入划缴 ${row.instruction_no}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`;
    const xml = `\ufeff<?xml version="1.0" encoding="UTF-8"?>\r\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>HOLDER-E2E</MsgId><CreDtTm>2026-11-30T18:00:00+08:00</CreDtTm></GrpHdr><Stmt><Id>HOLDER-E2E-01</Id><CreDtTm>2026-11-30T18:00:00+08:00</CreDtTm><Acct><Id><Othr><Id>${world.fiscalAccountNo}</Id></Othr></Id></Acct>\r\n<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal>\r\n<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal>\r\n${ntry}\r\n</Stmt></BkToCstmrStmt></Document>\r\n`;
    const posted = await bank('POST', '/v1/bank/statements', undefined, { rawBody: xml, headers: { 'content-type': 'application/xml' } });
    expect([posted.status, posted.body.postings]).toEqual([201, [{ postingId: expect.any(String), bankRef: 'HOLDER-E2E-1', status: 'MATCHED', instructionNo: row.instruction_no }]]);
    expect((await bank('GET', `/v1/bank/instructions/${row.instruction_no}`)).body.status).toBe('CONFIRMED');
    expect(await service.database.db('bank_postings').where({ bank_ref: 'HOLDER-E2E-1' }).first('instruction_no', 'memo')).toEqual({ instruction_no: null, memo: `非税收入划缴 ${row.instruction_no}` });
    await expectLedgerVerified(service.database.db);
  });
});

describe('confirm-check', () => {
  it('marks CREATED and EXECUTED instructions past their deadline UNCONFIRMED on the business clock; a posting with another amount then MISMATCHES', async () => {
    const date = '2026-11-23';
    const payment = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai(`${date}T08:00:00`), agency);
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [payment] });
    service.clocks.business.set(new Date(shanghai('2026-11-24T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const row = await service.database.db('instructions').where({ business_date: date }).first();
    service.clocks.business.set(new Date(shanghai('2026-11-25T15:59:59')));
    expect(await service.runtime.runner.run({ job: confirmCheckJob(service.runtime.services), trigger: 'MANUAL' })).toMatchObject({ counts: { unconfirmed: 0 } });
    service.clocks.business.set(new Date(shanghai('2026-11-25T16:30:00')));
    expect(await service.runtime.runner.run({ job: confirmCheckJob(service.runtime.services), trigger: 'MANUAL' })).toMatchObject({ counts: { unconfirmed: 1 } });
    expect((await agency('GET', `/v1/agency/instructions/${row.instruction_no}`)).body.status).toBe('UNCONFIRMED');
    // A late report still moves it to EXECUTED (UNCONFIRMED → EXECUTED).
    const late = await agency('POST', `/v1/agency/instructions/${row.instruction_no}/result`, { status: 'EXECUTED', executedAt: '2026-11-25T16:20:00+08:00', reference: 'LATE' });
    expect(late.body.status).toBe('EXECUTED');
    const outcome = await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: String(row.id), postingRowId: '3', amount: '49.99', at: service.clocks.business.now() }));
    expect(outcome).toBe('MISMATCHED');
    expect(await service.database.db('events').where({ type: 'instruction.mismatched' }).count('* as n')).toEqual([{ n: '2' }]);
    await expectLedgerVerified(service.database.db);
  });

  it('an executor that never reported may still report FAILED after the deadline (UNCONFIRMED → FAILED, decision 0221); a confirmed one says why it cannot', async () => {
    const date = '2026-11-26';
    const payment = await pay([{ itemCode: ITEMS.fixedFee, amount: '50.00' }], shanghai(`${date}T08:00:00`), agency);
    await reconcileDay(service.database.db, { agencyCode: world.agency.code, businessDate: date, matched: [payment] });
    service.clocks.business.set(new Date(shanghai('2026-11-27T03:00:00')));
    await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
    const row = await service.database.db('instructions').where({ business_date: date }).first();
    service.clocks.business.set(new Date(shanghai('2026-11-28T16:30:00')));
    expect(await service.runtime.runner.run({ job: confirmCheckJob(service.runtime.services), trigger: 'MANUAL' })).toMatchObject({ counts: { unconfirmed: 1 } });
    expect((await agency('GET', `/v1/agency/instructions/${row.instruction_no}`)).body.status).toBe('UNCONFIRMED');

    const failed = await agency('POST', `/v1/agency/instructions/${row.instruction_no}/result`, { status: 'FAILED', executedAt: '2026-11-28T16:20:00+08:00', reference: 'LATE-F', failureReason: '汇缴户余额不足' });
    expect([failed.status, failed.body.status, failed.body.failureReason]).toEqual([200, 'FAILED', '汇缴户余额不足']);
    expect(await service.database.db('instruction_payment_items').where({ instruction_id: row.id, live: true })).toEqual([]);
    expect(await service.database.db('events').where({ type: 'instruction.failed' }).whereRaw(`data->'instruction'->>'instructionNo' = ?`, [row.instruction_no]).count('* as n')).toEqual([{ n: '2' }]);
    // Finance may now reissue it.
    const reissued = await service.database.db.transaction((trx) => reissueInstruction(trx, { instructionRowId: String(row.id), actor: world.finance.appId, now: service.clocks.business.now() }));
    expect((await agency('GET', `/v1/agency/instructions/${reissued.instructionNo}`)).body).toMatchObject({ status: 'CREATED', reissueOf: row.instruction_no });

    // The reissue, confirmed by the bank before any report, cannot be reported FAILED: the message says why.
    expect(await service.database.db.transaction((trx) => confirmInstructionByPosting(trx, { instructionRowId: reissued.instructionRowId, postingRowId: '4', amount: '50.00', at: service.clocks.business.now() }))).toBe('CONFIRMED');
    const late = await agency('POST', `/v1/agency/instructions/${reissued.instructionNo}/result`, { status: 'FAILED', executedAt: '2026-11-28T16:30:00+08:00', reference: 'LATE-G', failureReason: '账户冻结' });
    expect([late.status, late.body.error.code, late.body.error.details]).toEqual([409, 'INVALID_STATE_TRANSITION', { machine: 'instruction', from: 'CONFIRMED', event: 'reportFailed' }]);
    expect(late.body.error.message).toBe(`instruction ${reissued.instructionNo} is CONFIRMED and cannot be reported FAILED: a bank posting already confirmed it`);
    await expectLedgerVerified(service.database.db);
  });
});
