import { formatInstant } from '../../src/domain/businessDate';
import { settleJob } from '../../src/jobs/settle';
import { verifyLedger } from '../../src/services/ledger';
import { buildWorld, ITEMS, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { expectLedgerVerified, issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { paymentRowId, reconcileDay } from '../helpers/reconciledDay';
import { executedBeforeNow, startTestService, type TestService } from '../helpers/testService';

/**
 * Settlement end to end over signed HTTP with real instructions (docs/settlement.md §1–§2): days
 * reconciled and settled, then the receiving bank's postings by JSON and by camt.053 — a match,
 * another amount, a credit naming a CONFIRMED instruction, the same entry twice — and finance's
 * maker-checker on them: LINK and RETURN of unidentified credits, REISSUE of a FAILED
 * instruction (a return's to a new payee), with the engine's refusals. `ledger verify` passes after each step; every answer is
 * checked against contracts/ by the test service.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let bank: SignedCall;
let maker: SignedCall;
let checker: SignedCall;
/** The SETTLEMENT instruction of each business date, all to the fiscal account (BANK_HOLDER's). */
const byDate = new Map<string, { instructionNo: string; amount: string }>();
const db = () => service.database.db;

async function pay(amount: string, paidAt: string): Promise<string> {
  service.clocks.business.set(new Date(new Date(paidAt).getTime() - 60_000));
  const payCode = await issueNotice(unit, { items: [{ itemCode: ITEMS.fixedFee, amount }], dueDate: '2026-12-31' });
  service.clocks.business.set(new Date(new Date(paidAt).getTime() + 60_000));
  const due = await agency('GET', `/v1/agency/notices/${payCode}`);
  const agencyTxnId = newTxnId();
  expect((await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount: due.body.amountDue as string, paidAt, agencyTxnId }))).status).toBe(201);
  return paymentRowId(db(), agencyTxnId);
}

const DATES = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20'];

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-16T09:00:00')) });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  const holder = await registerParty(service.runtime.services, { role: 'bank', code: 'BANK_HOLDER' }, world.finance.appId);
  await service.runtime.services.catalogue.putAccount(world.fiscalAccountNo, { name: '财政专户', bankCode: 'BANK_HOLDER', kind: 'FISCAL' }, world.finance.appId);
  bank = signedAs(service, holder);
  maker = signedAs(service, world.finance);
  checker = signedAs(service, await registerParty(service.runtime.services, { role: 'finance', code: 'FIN_CHECK' }));

  // Date i has i + 1 payments of 50.00: instructions of 50.00, 100.00, … 250.00.
  for (const [index, date] of DATES.entries()) {
    const payments: string[] = [];
    for (let n = 0; n <= index; n += 1) payments.push(await pay('50.00', shanghai(`${date}T08:0${n}:00`)));
    await reconcileDay(db(), { agencyCode: world.agency.code, businessDate: date, matched: payments });
  }
  service.clocks.business.set(new Date(shanghai('2026-11-21T03:00:00')));
  await service.runtime.runner.run({ job: settleJob(service.runtime.services), trigger: 'MANUAL' });
  for (const row of await db()('instructions').orderBy('business_date').select('instruction_no', 'business_date', 'amount', 'credit_account_no')) {
    expect(row.credit_account_no).toBe(world.fiscalAccountNo);
    byDate.set(String((await db().raw(`SELECT to_char(?::date, 'YYYY-MM-DD') AS d`, [row.business_date])).rows[0].d), { instructionNo: row.instruction_no, amount: row.amount });
  }
  expect([...byDate.values()].map((i) => i.amount)).toEqual(['50.00', '100.00', '150.00', '200.00', '250.00']);
  service.clocks.business.set(new Date(shanghai('2026-11-21T17:00:00')));
});

afterAll(async () => {
  await service.close();
});

const instruction = (date: string) => byDate.get(date) as { instructionNo: string; amount: string };
const credit = (overrides: Record<string, unknown>) => ({ accountNo: world.fiscalAccountNo, direction: 'CREDIT', valueDate: '2026-11-21', ...overrides });
const propose = (as: SignedCall, path: string, body: Record<string, unknown>) => as('POST', `${path}/proposals`, { reason: '两人复核', ...body });
const decide = (as: SignedCall, path: string, proposalId: string, approve = true) => as('POST', `${path}/proposals/${proposalId}/decision`, { approve, comment: approve ? '同意' : '驳回' });

async function postingRow(postingId: string) {
  return db()('bank_postings').where({ posting_id: postingId }).first();
}

async function balance(account: string): Promise<string> {
  const result = await db().raw(`SELECT COALESCE(sum(CASE side WHEN 'DEBIT' THEN amount ELSE -amount END), 0)::numeric(18,2)::text AS b FROM journal_lines WHERE account = ?`, [account]);
  return result.rows[0].b as string;
}

/** A statement as banks send it: `.02` with `Sts` as text and `Dt` dates, or `.08` with `Sts/Cd`, `DtTm` dates and `Dbtr/Pty/Nm`. */
function camt(version: '02' | '08', entries: Array<{ ref: string; amount: string; endToEndId: string }>): string {
  const v08 = version === '08';
  const total = entries.reduce((sum, e) => sum + Math.round(Number(e.amount) * 100), 0);
  const money = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
  const ntry = entries
    .map(
      (e) => `      <Ntry>
        <Amt Ccy="CNY">${e.amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>${v08 ? '<Cd>BOOK</Cd>' : 'BOOK'}</Sts>
        <BookgDt>${v08 ? '<DtTm>2026-11-21T11:02:03+08:00</DtTm>' : '<Dt>2026-11-21</Dt>'}</BookgDt>
        <ValDt>${v08 ? '<DtTm>2026-11-21T11:02:03+08:00</DtTm>' : '<Dt>2026-11-21</Dt>'}</ValDt>
        <AcctSvcrRef>${e.ref}</AcctSvcrRef>
        <BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>${e.endToEndId}</EndToEndId></Refs>
          <RltdPties><Dbtr>${v08 ? '<Pty><Nm>通付汇缴户</Nm></Pty>' : '<Nm>通付汇缴户</Nm>'}</Dbtr></RltdPties>
          <RmtInf><Ustrd>非税收入划缴</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.${version}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>HOLDER-20261121-${version}</MsgId><CreDtTm>2026-11-21T18:00:00+08:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>HOLDER-20261121-${version}-01</Id>
      <ElctrncSeqNb>1</ElctrncSeqNb>
      <CreDtTm>2026-11-21T18:00:00+08:00</CreDtTm>
      <Acct><Id><Othr><Id>${world.fiscalAccountNo}</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-21</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLAV</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-21</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">${money(100000 + total)}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-21</Dt></Dt></Bal>
${ntry}
    </Stmt>
  </BkToCstmrStmt>
</Document>
`;
}

describe('bank postings against real instructions', () => {
  it('a JSON posting of the amount confirms its instruction: MATCHED, SETTLEMENT_CONFIRMED, instruction.confirmed to agency and finance', async () => {
    const a = instruction('2026-11-16');
    const response = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0001', amount: a.amount, instructionNo: a.instructionNo }));
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ bankRef: 'HOLDER-0001', status: 'MATCHED', instructionNo: a.instructionNo });
    expect((await agency('GET', `/v1/agency/instructions/${a.instructionNo}`)).body).toMatchObject({ status: 'CONFIRMED' });
    const row = await db()('instructions').where({ instruction_no: a.instructionNo }).first('id');
    expect((await db()('journal_entries').where({ instruction_id: row.id }).orderBy('id')).map((e) => e.kind)).toEqual(['SETTLEMENT_EXECUTED', 'SETTLEMENT_CONFIRMED']);
    expect(Number((await db()('events').where({ type: 'instruction.confirmed' }).count('* as n'))[0]?.n)).toBe(3); // the agency and two finance parties
    await expectLedgerVerified(db());
  });

  it('camt.053 .02 and .08: the same entry as the JSON one is the same posting; an entry naming another instruction in EndToEndId confirms it', async () => {
    const a = instruction('2026-11-16');
    const e = instruction('2026-11-20');
    const post = (xml: string) => bank('POST', '/v1/bank/statements', undefined, { rawBody: xml, headers: { 'content-type': 'application/xml' } });
    const v02 = await post(camt('02', [{ ref: 'HOLDER-0001', amount: a.amount, endToEndId: a.instructionNo }]));
    expect(v02.status).toBe(201);
    expect([v02.body.camtVersion, v02.body.postings]).toEqual(['camt.053.001.02', [{ postingId: expect.any(String), bankRef: 'HOLDER-0001', status: 'MATCHED', instructionNo: a.instructionNo }]]);
    expect(Number((await db()('bank_postings').where({ bank_ref: 'HOLDER-0001' }).count('* as n'))[0]?.n)).toBe(1);
    const v08 = await post(camt('08', [{ ref: 'HOLDER-0002', amount: e.amount, endToEndId: e.instructionNo }]));
    expect(v08.status).toBe(201);
    expect([v08.body.camtVersion, v08.body.postings]).toEqual(['camt.053.001.08', [{ postingId: expect.any(String), bankRef: 'HOLDER-0002', status: 'MATCHED', instructionNo: e.instructionNo }]]);
    expect((await agency('GET', `/v1/agency/instructions/${e.instructionNo}`)).body.status).toBe('CONFIRMED');
    // And the camt entry again by JSON: a replay of the one posting.
    const again = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0002', amount: e.amount, instructionNo: e.instructionNo }));
    expect([again.status, again.headers.get('idempotent-replay'), again.body.status]).toEqual([201, 'true', 'MATCHED']);
    expect(Number((await db()('bank_postings').where({ bank_ref: 'HOLDER-0002' }).count('* as n'))[0]?.n)).toBe(1);
    await expectLedgerVerified(db());
  });

  it('another amount on an executed instruction is MISMATCHED; a credit naming a CONFIRMED instruction is UNIDENTIFIED, in suspense', async () => {
    const b = instruction('2026-11-17');
    expect((await agency('POST', `/v1/agency/instructions/${b.instructionNo}/result`, { status: 'EXECUTED', executedAt: '2026-11-21T10:00:00+08:00', reference: 'AG-B' })).status).toBe(200);
    const mismatched = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0003', amount: '99.99', instructionNo: b.instructionNo }));
    expect(mismatched.body).toMatchObject({ status: 'MISMATCHED', instructionNo: b.instructionNo });
    expect((await agency('GET', `/v1/agency/instructions/${b.instructionNo}`)).body.status).toBe('MISMATCHED');
    expect(Number((await db()('events').where({ type: 'instruction.mismatched' }).count('* as n'))[0]?.n)).toBe(3);

    const a = instruction('2026-11-16');
    const unidentified = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0004', amount: '50.00', memo: `再次划缴 ${a.instructionNo}`, counterparty: { name: '张三', accountNo: '6222020200000001' } }));
    expect(unidentified.body).toMatchObject({ status: 'UNIDENTIFIED', instructionNo: null });
    expect(await balance('suspense:unidentified')).toBe('-50.00');
    await expectLedgerVerified(db());
  });
});

describe('finance resolves unidentified credits and failed instructions, two operators each', () => {
  let unidentifiedId: string;
  let linkableId: string;

  beforeAll(async () => {
    unidentifiedId = (await db()('bank_postings').where({ bank_ref: 'HOLDER-0004' }).first('posting_id')).posting_id;
    const d = instruction('2026-11-19');
    const posted = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0005', amount: d.amount, memo: '划缴 无编号' }));
    expect(posted.body.status).toBe('UNIDENTIFIED');
    linkableId = posted.body.postingId;
  });

  it('LINK: refused for a confirmed instruction or another amount; proposed, not decided by its maker, one pending at a time; approved by another: LINKED, the instruction CONFIRMED, suspense emptied', async () => {
    const path = `/v1/finance/unidentified/${linkableId}`;
    const d = instruction('2026-11-19');
    const confirmed = await propose(maker, path, { proposalRef: 'LINK-A', action: 'LINK', instructionNo: instruction('2026-11-16').instructionNo });
    expect([confirmed.status, confirmed.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    const otherAmount = await propose(maker, `/v1/finance/unidentified/${unidentifiedId}`, { proposalRef: 'LINK-B', action: 'LINK', instructionNo: d.instructionNo });
    expect([otherAmount.status, otherAmount.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    const missing = await propose(maker, path, { proposalRef: 'LINK-C', action: 'LINK' });
    expect([missing.status, missing.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    // A RETURN's payee reaches the bank's instruction: one line each, as SET_PAYEE's and REISSUE's.
    const piped = await propose(maker, path, { proposalRef: 'LINK-E', action: 'RETURN', payee: { name: '张三|李四', accountNo: '6222\n1', bankName: '工行' } });
    expect([piped.status, piped.body.error.code, piped.body.error.details.fields.map((f: { path: string }) => f.path).sort()]).toEqual([400, 'VALIDATION_FAILED', ['/payee/accountNo', '/payee/name']]);
    const reissue = await propose(maker, path, { proposalRef: 'LINK-D', action: 'REISSUE' });
    expect([reissue.status, reissue.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);

    const proposed = await propose(maker, path, { proposalRef: 'LINK-1', action: 'LINK', instructionNo: d.instructionNo });
    expect(proposed.status).toBe(201);
    expect(proposed.body).toMatchObject({ action: 'LINK', status: 'PENDING', proposedBy: world.finance.appId, decidedBy: null });
    const replay = await propose(maker, path, { proposalRef: 'LINK-1', action: 'LINK', instructionNo: d.instructionNo });
    expect([replay.status, replay.headers.get('idempotent-replay'), replay.body.proposalId]).toEqual([201, 'true', proposed.body.proposalId]);
    const second = await propose(checker, path, { proposalRef: 'LINK-2', action: 'RETURN', payee: { name: '张三', accountNo: '6222', bankName: '工行' } });
    expect([second.status, second.body.error.code]).toEqual([409, 'PROPOSAL_PENDING']);
    const self = await decide(maker, path, proposed.body.proposalId);
    expect([self.status, self.body.error.code]).toEqual([422, 'APPROVER_SAME_AS_REQUESTER']);
    expect((await postingRow(linkableId)).status).toBe('UNIDENTIFIED');

    const approved = await decide(checker, path, proposed.body.proposalId);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'APPROVED', decidedBy: expect.any(String), comment: '同意' });
    const posting = await postingRow(linkableId);
    expect([posting.status, posting.matched_instruction_no]).toEqual(['LINKED', d.instructionNo]);
    expect((await agency('GET', `/v1/agency/instructions/${d.instructionNo}`)).body.status).toBe('CONFIRMED');
    expect(await balance('suspense:unidentified')).toBe('-50.00'); // only HOLDER-0004 is left
    expect((await db()('audit_log').where('target', 'like', `unidentified:${linkableId}/%`).orderBy('seq')).map((row) => row.action)).toEqual(['proposal.created', 'proposal.approved']);
    const after = await propose(maker, path, { proposalRef: 'LINK-3', action: 'LINK', instructionNo: d.instructionNo });
    expect([after.status, after.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    await expectLedgerVerified(db());
  });

  it('RETURN: a bank REFUND instruction to the payee from the receiving account, suspense and the account drop by the credit, the posting RETURNED', async () => {
    const path = `/v1/finance/unidentified/${unidentifiedId}`;
    const receivingBefore = await balance(`receiving:${world.fiscalAccountNo}`);
    const payee = { name: '张三', accountNo: '6222020200000001', bankName: '中国工商银行北京分行' };
    const proposed = await propose(maker, path, { proposalRef: 'RET-1', action: 'RETURN', payee });
    expect(proposed.status).toBe(201);
    const stored = await db()('finance_proposals').where({ proposal_id: proposed.body.proposalId }).first('fields');
    expect(JSON.stringify(stored.fields)).not.toContain('6222020200000001');
    const rejected = await decide(checker, path, proposed.body.proposalId, false);
    expect(rejected.body.status).toBe('REJECTED');
    expect((await postingRow(unidentifiedId)).status).toBe('UNIDENTIFIED');

    const again = await propose(maker, path, { proposalRef: 'RET-2', action: 'RETURN', payee });
    const approved = await decide(checker, path, again.body.proposalId);
    expect(approved.body.status).toBe('APPROVED');
    expect((await postingRow(unidentifiedId)).status).toBe('RETURNED');
    expect(await balance('suspense:unidentified')).toBe('0.00');
    expect(await balance(`receiving:${world.fiscalAccountNo}`)).toBe((Number(receivingBefore) - 50).toFixed(2));

    const refunds = await bank('GET', '/v1/bank/instructions?status=CREATED');
    const refund = refunds.body.data.find((row: { type: string }) => row.type === 'REFUND');
    expect(refund).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '50.00', executorCode: 'BANK_HOLDER', debitAccount: { accountNo: world.fiscalAccountNo }, payee, reissueOf: null });
    expect(refund.instructionNo).toMatch(/^TFR20261121[0-9]{8}$/);
    const row = await db()('instructions').where({ instruction_no: refund.instructionNo }).first();
    expect(String(row.payee_account_no)).not.toContain('6222');
    expect(Number((await db()('events').where({ type: 'instruction.created' }).whereRaw(`data->'instruction'->>'instructionNo' = ?`, [refund.instructionNo]).count('* as n'))[0]?.n)).toBe(1);
    const twice = await propose(maker, path, { proposalRef: 'RET-3', action: 'RETURN', payee });
    expect([twice.status, twice.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    await expectLedgerVerified(db());

    // The bank pays it out and posts the debit: the return is CONFIRMED and books nothing more.
    const receivingAfter = await balance(`receiving:${world.fiscalAccountNo}`);
    const debit = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-R001', direction: 'DEBIT', amount: '50.00', instructionNo: refund.instructionNo }));
    expect(debit.body).toMatchObject({ status: 'MATCHED', instructionNo: refund.instructionNo });
    expect((await bank('GET', `/v1/bank/instructions/${refund.instructionNo}`)).body.status).toBe('CONFIRMED');
    expect(await balance(`receiving:${world.fiscalAccountNo}`)).toBe(receivingAfter);
    await expectLedgerVerified(db());
  });

  it('REISSUE: only a FAILED instruction, once; approved by another operator: a new instruction taking over the payments', async () => {
    const c = instruction('2026-11-18');
    const path = `/v1/finance/instructions/${c.instructionNo}`;
    const notFailed = await propose(maker, path, { proposalRef: 'RE-0', action: 'REISSUE' });
    expect([notFailed.status, notFailed.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    expect((await propose(maker, '/v1/finance/instructions/TFS2026112199999999', { proposalRef: 'RE-X', action: 'REISSUE' })).status).toBe(404);
    expect((await agency('POST', `/v1/agency/instructions/${c.instructionNo}/result`, { status: 'FAILED', executedAt: '2026-11-21T11:00:00+08:00', reference: 'AG-C', failureReason: '账户冻结' })).body.status).toBe('FAILED');

    // A settlement pays a receiving account: a payee is no field of its reissue, and nothing is stored.
    const withPayee = await propose(maker, path, { proposalRef: 'RE-P', action: 'REISSUE', payee: { name: '张三', accountNo: '6222020200000009', bankName: '工行' } });
    expect([withPayee.status, withPayee.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(withPayee.body.error.details.fields).toEqual([expect.objectContaining({ path: '/payee' })]);
    expect(await db()('finance_proposals').where({ proposal_ref: 'RE-P' })).toEqual([]);

    const proposed = await propose(maker, path, { proposalRef: 'RE-1', action: 'REISSUE' });
    expect(proposed.status).toBe(201);
    expect(proposed.body.payee).toBeUndefined();
    expect((await propose(checker, path, { proposalRef: 'RE-2', action: 'REISSUE' })).body.error.code).toBe('PROPOSAL_PENDING');
    expect((await decide(maker, path, proposed.body.proposalId)).body.error.code).toBe('APPROVER_SAME_AS_REQUESTER');
    expect(await db()('instructions').where({ reissue_of: db()('instructions').where({ instruction_no: c.instructionNo }).select('id') })).toEqual([]);
    const approved = await decide(checker, path, proposed.body.proposalId);
    expect(approved.body.status).toBe('APPROVED');
    const list = await agency('GET', '/v1/agency/instructions?status=CREATED');
    const reissue = list.body.data.find((row: { reissueOf: string | null }) => row.reissueOf === c.instructionNo);
    expect(reissue).toMatchObject({ type: 'SETTLEMENT', status: 'CREATED', amount: c.amount });
    const repeat = await propose(maker, path, { proposalRef: 'RE-3', action: 'REISSUE' });
    expect([repeat.status, repeat.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);

    // The reissue is confirmed by the bank like any other.
    const posted = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0006', amount: c.amount, memo: `划缴 ${reissue.instructionNo}` }));
    expect(posted.body).toMatchObject({ status: 'MATCHED', instructionNo: reissue.instructionNo });
    await expectLedgerVerified(db());
  });

  it('REISSUE of a return that failed on a closed account, to the new payee finance names: the bank pays it, the posting stays RETURNED, the ledger ties', async () => {
    const posted = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0007', amount: '30.00', memo: '来款 无编号', counterparty: { name: '李四', accountNo: '6222020200000002' } }));
    expect(posted.body.status).toBe('UNIDENTIFIED');
    const closed = { name: '李四', accountNo: '6222020200000002', bankName: '中国工商银行' };
    const returned = await propose(maker, `/v1/finance/unidentified/${posted.body.postingId as string}`, { proposalRef: 'RET-P1', action: 'RETURN', payee: closed });
    expect(returned.body.payee).toEqual({ name: '**四', accountNo: '****0002', bankName: closed.bankName });
    expect((await decide(checker, `/v1/finance/unidentified/${posted.body.postingId as string}`, returned.body.proposalId)).body.status).toBe('APPROVED');
    const failedNo = (await db()('instructions').where({ returns_posting_id: (await postingRow(posted.body.postingId)).id }).first('instruction_no')).instruction_no as string;
    expect((await bank('POST', `/v1/bank/instructions/${failedNo}/result`, { status: 'FAILED', executedAt: executedBeforeNow(service, '2026-11-21T18:00:00+08:00'), reference: 'BK-RET-1', failureReason: '收款账户已销户' })).body.status).toBe('FAILED');

    const path = `/v1/finance/instructions/${failedNo}`;
    const payee = { name: '李四', accountNo: '6217000010002000300', bankName: '中国建设银行呼和浩特分行' };
    const proposed = await propose(maker, path, { proposalRef: 'RE-R1', action: 'REISSUE', payee });
    expect(proposed.status).toBe(201);
    expect(proposed.body.payee).toEqual({ name: '**四', accountNo: '****0300', bankName: payee.bankName });
    expect((await decide(maker, path, proposed.body.proposalId)).body.error.code).toBe('APPROVER_SAME_AS_REQUESTER');
    expect((await decide(checker, path, proposed.body.proposalId)).body.status).toBe('APPROVED');

    const reissue = (await bank('GET', '/v1/bank/instructions?status=CREATED')).body.data.find((row: { reissueOf: string | null }) => row.reissueOf === failedNo);
    expect(reissue).toMatchObject({ type: 'REFUND', status: 'CREATED', amount: '30.00', executorCode: 'BANK_HOLDER', debitAccount: { accountNo: world.fiscalAccountNo }, payee });
    expect((await bank('GET', `/v1/bank/instructions/${failedNo}`)).body.payee).toEqual(closed);
    // A return names the credit it pays back, the failed one and its reissue alike (decision 0224); a refund names none.
    const returnsPosting = { postingId: posted.body.postingId, bankRef: 'HOLDER-0007' };
    expect([(await bank('GET', `/v1/bank/instructions/${failedNo}`)).body.returnsPosting, reissue.returnsPosting]).toEqual([returnsPosting, returnsPosting]);
    expect(((await maker('GET', `/v1/finance/instructions?type=REFUND`)).body.data as Array<{ instructionNo: string; returnsPosting?: unknown }>).find((row) => row.instructionNo === failedNo)?.returnsPosting).toEqual(returnsPosting);
    expect((await bank('GET', `/v1/bank/instructions/${instruction('2026-11-16').instructionNo}`)).body.returnsPosting).toBeUndefined();
    const events = (await bank('GET', '/v1/bank/events?after=0&limit=500')).body.data as Array<{ type: string; data: { instruction?: { instructionNo: string; payee?: unknown } } }>;
    // The event names the instruction; the bank reads the payee with GET (decision 0204).
    expect(events.filter((e) => e.type === 'instruction.created' && e.data.instruction?.instructionNo === reissue.instructionNo).map((e) => e.data.instruction?.payee)).toEqual([undefined]);
    // … and the credit it returns, as every view does (decision 0224).
    expect(events.filter((e) => e.type === 'instruction.created' && e.data.instruction?.instructionNo === reissue.instructionNo).map((e) => (e.data.instruction as { returnsPosting?: unknown }).returnsPosting)).toEqual([returnsPosting]);
    const audit = await db()('audit_log').where('target', 'like', `instruction:${failedNo}/proposal:%`).orderBy('seq');
    expect(audit.map((row) => [row.action, row.after.payee])).toEqual([
      ['proposal.created', { name: '**四', accountNo: '****0300', bankName: payee.bankName }],
      ['proposal.approved', { name: '**四', accountNo: '****0300', bankName: payee.bankName }],
    ]);
    expect((await postingRow(posted.body.postingId)).status).toBe('RETURNED');
    await expectLedgerVerified(db());

    const debit = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-R002', direction: 'DEBIT', amount: '30.00', instructionNo: reissue.instructionNo }));
    expect(debit.body).toMatchObject({ status: 'MATCHED', instructionNo: reissue.instructionNo });
    await expectLedgerVerified(db());
  });
});

describe('finance detaches the posting of another amount from a MISMATCHED instruction (DETACH, decision 0195)', () => {
  const mismatchedPosting = async () => (await db()('bank_postings').where({ bank_ref: 'HOLDER-0003' }).first('posting_id')).posting_id as string;
  const countEvents = async (type: string, instructionNo: string) =>
    Number((await db()('events').where({ type }).whereRaw(`data->'instruction'->>'instructionNo' = ?`, [instructionNo]).count('* as n'))[0]?.n);

  it('the stuck money is visible: the MISMATCHED posting in finance\'s list, and ledger verify after three days', async () => {
    const b = instruction('2026-11-17');
    const listed = await maker('GET', '/v1/finance/unidentified?status=MISMATCHED');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((p: { bankRef: string; instructionNo: string; amount: string; detachedFrom: unknown }) => [p.bankRef, p.instructionNo, p.amount, p.detachedFrom])).toEqual([['HOLDER-0003', b.instructionNo, '99.99', null]]);
    expect((await maker('GET', '/v1/finance/instructions?status=MISMATCHED')).body.data.map((i: { instructionNo: string }) => i.instructionNo)).toEqual([b.instructionNo]);
    expect((await verifyLedger(db(), { businessToday: '2026-11-24' })).ok).toBe(true);
    const late = await verifyLedger(db(), { businessToday: '2026-11-25' });
    const check = late.checks.find((c) => c.name === 'mismatchedInstructions');
    expect(late.ok).toBe(false);
    expect(check?.breaks).toEqual([
      { subject: `instruction ${b.instructionNo}`, detail: { type: 'SETTLEMENT', amount: '100.00', postingId: await mismatchedPosting(), postingAmount: '99.99', direction: 'CREDIT', accountNo: world.fiscalAccountNo, mismatchedOn: '2026-11-21' } },
    ]);
  });

  it('DETACH of a credit: only a MISMATCHED instruction; approved by another operator: the credit UNIDENTIFIED in suspense, the instruction UNCONFIRMED, events and audit', async () => {
    const b = instruction('2026-11-17');
    const path = `/v1/finance/instructions/${b.instructionNo}`;
    const confirmed = await propose(maker, `/v1/finance/instructions/${instruction('2026-11-16').instructionNo}`, { proposalRef: 'DET-0', action: 'DETACH' });
    expect([confirmed.status, confirmed.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    const reissue = await propose(maker, path, { proposalRef: 'DET-R', action: 'REISSUE' });
    expect([reissue.status, reissue.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    const withPayee = await propose(maker, path, { proposalRef: 'DET-P', action: 'DETACH', payee: { name: '张三', accountNo: '6222', bankName: '工行' } });
    expect([withPayee.status, withPayee.body.error.code, withPayee.body.error.details]).toEqual([400, 'VALIDATION_FAILED', { fields: [{ path: '/payee', problem: 'is not a field of DETACH' }] }]);
    const suspenseBefore = await balance('suspense:unidentified');
    const receivingBefore = await balance(`receiving:${world.fiscalAccountNo}`);
    const inTransitBefore = await balance(`in_transit:${world.fiscalAccountNo}`);

    const proposed = await propose(maker, path, { proposalRef: 'DET-1', action: 'DETACH' });
    expect(proposed.status).toBe(201);
    expect(proposed.body).toMatchObject({ action: 'DETACH', status: 'PENDING' });
    expect((await decide(maker, path, proposed.body.proposalId)).body.error.code).toBe('APPROVER_SAME_AS_REQUESTER');
    expect((await agency('GET', `/v1/agency/instructions/${b.instructionNo}`)).body.status).toBe('MISMATCHED');
    const approved = await decide(checker, path, proposed.body.proposalId);
    expect([approved.status, approved.body.status]).toEqual([200, 'APPROVED']);

    const postingId = await mismatchedPosting();
    const row = await postingRow(postingId);
    expect([row.status, row.instruction_id, row.matched_instruction_no, row.detached_instruction_no]).toEqual(['UNIDENTIFIED', null, null, b.instructionNo]);
    const unidentified = await maker('GET', '/v1/finance/unidentified');
    expect(unidentified.body.data.find((p: { postingId: string }) => p.postingId === postingId)).toMatchObject({ status: 'UNIDENTIFIED', instructionNo: null, amount: '99.99', detachedFrom: { instructionNo: b.instructionNo } });
    expect((await maker('GET', '/v1/finance/unidentified?status=MISMATCHED')).body.data).toEqual([]);
    expect((await agency('GET', `/v1/agency/instructions/${b.instructionNo}`)).body.status).toBe('UNCONFIRMED');
    // The credit is booked to suspense; the executed settlement stays in transit, waiting for its posting.
    expect(await balance('suspense:unidentified')).toBe((Number(suspenseBefore) - 99.99).toFixed(2));
    expect(await balance(`receiving:${world.fiscalAccountNo}`)).toBe((Number(receivingBefore) + 99.99).toFixed(2));
    expect(await balance(`in_transit:${world.fiscalAccountNo}`)).toBe(inTransitBefore);
    expect(await countEvents('instruction.reopened', b.instructionNo)).toBe(3); // the agency and two finance parties
    const reopened = await db()('events').where({ type: 'instruction.reopened' }).first('data');
    expect(reopened.data).toMatchObject({ postingAmount: '99.99', detachedPostingId: postingId, instruction: { status: 'UNCONFIRMED' } });
    expect(Number((await db()('events').where({ type: 'bankPosting.unidentified' }).whereRaw(`data->'posting'->>'postingId' = ?`, [postingId]).count('* as n'))[0]?.n)).toBe(2);
    expect((await db()('audit_log').where('target', 'like', `instruction:${b.instructionNo}/%`).orderBy('seq')).map((r) => r.action)).toEqual(['proposal.created', 'proposal.approved']);
    await expectLedgerVerified(db());
    expect((await verifyLedger(db(), { businessToday: '2026-11-30' })).checks.find((c) => c.name === 'mismatchedInstructions')?.ok).toBe(true);

    // Detached once: a second DETACH does not apply; the bank's repeat of the posting answers what it answered.
    const twice = await propose(maker, path, { proposalRef: 'DET-2', action: 'DETACH' });
    expect([twice.status, twice.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    const replay = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0003', amount: '99.99', instructionNo: b.instructionNo }));
    expect([replay.status, replay.headers.get('idempotent-replay'), replay.body.status, replay.body.instructionNo]).toEqual([201, 'true', 'MISMATCHED', b.instructionNo]);
    await expect(db()('bank_postings').where({ posting_id: postingId }).update({ detached_instruction_no: null, detached_instruction_id: null, detached_at: null })).rejects.toThrow(/append-only/);
  });

  it('the instruction is then confirmed by a posting of its amount, and the detached credit is returned like any unidentified credit', async () => {
    const b = instruction('2026-11-17');
    const right = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0017', amount: b.amount, instructionNo: b.instructionNo }));
    expect(right.body).toMatchObject({ status: 'MATCHED', instructionNo: b.instructionNo });
    expect((await agency('GET', `/v1/agency/instructions/${b.instructionNo}`)).body.status).toBe('CONFIRMED');
    expect(await balance(`in_transit:${world.fiscalAccountNo}`)).toBe('0.00');
    await expectLedgerVerified(db());

    const postingId = await mismatchedPosting();
    const path = `/v1/finance/unidentified/${postingId}`;
    const linkBack = await propose(maker, path, { proposalRef: 'DET-L', action: 'LINK', instructionNo: b.instructionNo });
    expect([linkBack.status, linkBack.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    const returned = await propose(maker, path, { proposalRef: 'DET-RET', action: 'RETURN', payee: { name: '通付汇缴户', accountNo: '6222020200000099', bankName: '中国农业银行' } });
    expect((await decide(checker, path, returned.body.proposalId)).body.status).toBe('APPROVED');
    expect((await postingRow(postingId)).status).toBe('RETURNED');
    expect(await balance('suspense:unidentified')).toBe('0.00');
    await expectLedgerVerified(db());
  });

  it('DETACH of a debit: a bank executes a return with another amount; detached, the debit is unidentified with no entry and the instruction waits for the right debit', async () => {
    const posted = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-0018', amount: '30.00', memo: '误汇' }));
    const path = `/v1/finance/unidentified/${posted.body.postingId}`;
    const proposed = await propose(maker, path, { proposalRef: 'DET-RET-2', action: 'RETURN', payee: { name: '李四', accountNo: '6222020200000002', bankName: '中国建设银行' } });
    expect((await decide(checker, path, proposed.body.proposalId)).body.status).toBe('APPROVED');
    const refund = (await bank('GET', '/v1/bank/instructions?status=CREATED')).body.data.find((i: { type: string; amount: string }) => i.type === 'REFUND' && i.amount === '30.00');
    const receivingBefore = await balance(`receiving:${world.fiscalAccountNo}`);

    const wrong = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-R012', direction: 'DEBIT', amount: '3.00', instructionNo: refund.instructionNo }));
    expect(wrong.body).toMatchObject({ status: 'MISMATCHED', instructionNo: refund.instructionNo });
    // Held by the posting of another amount, it is not reported executed; the answer says why and when.
    const heldReport = await bank('POST', `/v1/bank/instructions/${refund.instructionNo}/result`, { status: 'EXECUTED', executedAt: formatInstant(service.clocks.business.now()), reference: 'BK-HELD-1' });
    expect([heldReport.status, heldReport.body.error.code, heldReport.body.error.details]).toEqual([409, 'INVALID_STATE_TRANSITION', { machine: 'instruction', from: 'MISMATCHED', event: 'reportExecuted' }]);
    expect(heldReport.body.error.message).toBe(`instruction ${refund.instructionNo} is MISMATCHED and cannot be reported EXECUTED: a bank posting of another amount holds it until finance detaches that posting (DETACH); report it then`);
    const instructionPath = `/v1/finance/instructions/${refund.instructionNo}`;
    const detach = await propose(maker, instructionPath, { proposalRef: 'DET-D', action: 'DETACH' });
    expect((await decide(checker, instructionPath, detach.body.proposalId)).body.status).toBe('APPROVED');
    expect((await postingRow(wrong.body.postingId)).status).toBe('UNIDENTIFIED');
    expect((await bank('GET', `/v1/bank/instructions/${refund.instructionNo}`)).body.status).toBe('UNCONFIRMED');
    expect(await db()('journal_entries').where({ bank_posting_id: (await postingRow(wrong.body.postingId)).id })).toEqual([]);
    expect(await balance(`receiving:${world.fiscalAccountNo}`)).toBe(receivingBefore);
    expect(await countEvents('instruction.reopened', refund.instructionNo)).toBe(3); // the bank and two finance parties
    // The bank moved money against it: it cannot be reported FAILED, which would let a reissue pay twice (decision 0221).
    const failDetached = await bank('POST', `/v1/bank/instructions/${refund.instructionNo}/result`, { status: 'FAILED', executedAt: formatInstant(service.clocks.business.now()), reference: 'BK-DET-1', failureReason: '户名不符' });
    expect([failDetached.status, failDetached.body.error.code, failDetached.body.error.details]).toEqual([409, 'INVALID_STATE_TRANSITION', { machine: 'instruction', from: 'UNCONFIRMED', event: 'reportFailed' }]);
    expect(failDetached.body.error.message).toMatch(/was detached from it/);
    // Finance's actions on unidentified postings are for credits: a detached debit is not linked or returned.
    const linkDebit = await propose(maker, `/v1/finance/unidentified/${wrong.body.postingId}`, { proposalRef: 'DET-D-L', action: 'LINK', instructionNo: refund.instructionNo });
    expect([linkDebit.status, linkDebit.body.error.code]).toEqual([422, 'ACTION_NOT_APPLICABLE']);
    await expectLedgerVerified(db());

    const right = await bank('POST', '/v1/bank/postings', credit({ bankRef: 'HOLDER-R013', direction: 'DEBIT', amount: '30.00', instructionNo: refund.instructionNo }));
    expect(right.body).toMatchObject({ status: 'MATCHED', instructionNo: refund.instructionNo });
    expect((await bank('GET', `/v1/bank/instructions/${refund.instructionNo}`)).body.status).toBe('CONFIRMED');
    await expectLedgerVerified(db());
  });
});
