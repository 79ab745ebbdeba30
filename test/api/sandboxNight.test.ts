import pino from 'pino';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { loadConfig } from '../../src/config';
import { shanghaiDate } from '../../src/domain/businessDate';
import { fixedClock, systemClock } from '../../src/domain/clock';
import { allJobs } from '../../src/jobs/registry';
import { SANDBOX_AGENCY_CODE, SANDBOX_BANK_CODE } from '../../src/sandbox/agency';
import { SandboxNight, sandboxReference } from '../../src/sandbox/night';
import { expectLedgerVerified } from '../helpers/payments';
import { PortalTestService, startPortalService } from '../helpers/portalService';

/**
 * The sandbox's night (contracts/decisions/0220): in the demo world, the sandbox agency sends its
 * statement and reports the instructions it executes, and the sandbox bank posts their money, all
 * over signed HTTP on the service's own address — so that the night completes by the normal
 * paths: reconciled, settled, executed, CONFIRMED.
 */
jest.setTimeout(120_000);

let service: PortalTestService;
const log = pino({ level: 'silent' });

/** The service's business clock: the real one, moved a day on once the demo world is built. */
let businessShiftMs = 0;

beforeAll(async () => {
  service = await startPortalService({}, { clocks: { real: systemClock, business: { now: () => new Date(Date.now() + businessShiftMs) } } });
  // The morning after, for the service as for its sandbox (one clock in a deployment): an
  // instruction cannot be reported executed later than the service's own time (decision 0201).
  businessShiftMs = 86_400_000;
});
afterAll(async () => {
  await service.close();
});

const db = () => service.database.db;
const today = (): string => shanghaiDate(new Date());

/** The sandbox as it runs the morning after the demo's payment: its business clock a day on. */
function nightAfter(): SandboxNight {
  return new SandboxNight({ db: db(), clocks: { real: systemClock, business: fixedClock(new Date(Date.now() + 86_400_000)) }, log, selfUrl: () => service.baseUrl });
}

async function runJob(name: string, businessDate: string, params: Record<string, string> = {}): Promise<void> {
  const job = allJobs(service.runtime.services).find((candidate) => candidate.name === name);
  if (job === undefined) throw new Error(`no job ${name}`);
  await service.runtime.runner.run({ job, trigger: 'MANUAL', businessDate, params });
}

async function snapshot(): Promise<Record<string, unknown>> {
  return {
    instructions: await db()('instructions').select('instruction_no', 'status').orderBy('instruction_no'),
    postings: await db()('bank_postings').select('bank_ref', 'status').orderBy('bank_ref'),
    statements: await db()('agency_statements').count<Array<{ count: string }>>({ count: '*' }),
    journal: await db()('journal_entries').count<Array<{ count: string }>>({ count: '*' }),
    runs: await db()('reconciliation_runs').count<Array<{ count: string }>>({ count: '*' }),
  };
}

describe('the sandbox night', () => {
  it('sends the statement, reports the settlement executed and posts its credit: the instruction is CONFIRMED', async () => {
    await service.runtime.services.events.sequence({ wait: true });
    const night = nightAfter();

    // The morning after: the sandbox agency sends the day's statement, signed, as TFS1.
    const first = await night.pass();
    expect(first).toMatchObject({ ran: true, statements: 1, agencyReports: 0, postings: 0, failures: 0 });
    const agency = await db()('parties').where({ role: 'agency', code: SANDBOX_AGENCY_CODE }).first();
    const statement = await db()('agency_statements').where({ agency_party_id: agency.id }).first();
    expect(statement).toMatchObject({ business_date: today(), file_seq: 1 });

    // The jobs of the night: the date reconciles BALANCED, the settle job instructs its money.
    await runJob('reconcile', today(), { agencyCode: SANDBOX_AGENCY_CODE });
    const run = await db()('reconciliation_runs').where({ agency_party_id: agency.id, business_date: today() }).orderBy('id', 'desc').first();
    expect(run.status).toBe('BALANCED');
    await runJob('settle', today());
    const created = await db()('instructions').where({ type: 'SETTLEMENT' });
    expect(created).toHaveLength(1);
    const instructionNo = created[0].instruction_no as string;
    expect(created[0]).toMatchObject({ status: 'CREATED', amount: '800.00' });

    // The sandbox executes it: the agency's report, then the bank's credit.
    const second = await night.pass();
    expect(second).toMatchObject({ ran: true, agencyReports: 1, postings: 1, failures: 0 });
    const instruction = await db()('instructions').where({ instruction_no: instructionNo }).first();
    expect(instruction.status).toBe('CONFIRMED');
    expect(instruction.executed_reference).toBe(sandboxReference(instructionNo));
    const bank = await db()('parties').where({ role: 'bank', code: SANDBOX_BANK_CODE }).first();
    const posting = await db()('bank_postings').where({ bank_ref: sandboxReference(instructionNo) }).first();
    expect(posting).toMatchObject({ bank_party_id: bank.id, source: 'JSON', direction: 'CREDIT', amount: '800.00', status: 'MATCHED', account_no: 'NMG_FISCAL_001' });
    // Signed requests of the sandbox parties: their nonces are on record.
    expect(await db()('request_nonces').where({ app_id: bank.app_id }).count<Array<{ count: string }>>({ count: '*' })).not.toEqual([{ count: '0' }]);
    await expectLedgerVerified(db());
  });

  it('changes nothing when it runs again', async () => {
    const before = await snapshot();
    const again = await nightAfter().pass();
    expect(again).toMatchObject({ ran: true, agencyReports: 0, bankReports: 0, postings: 0, failures: 0 });
    expect(await snapshot()).toEqual(before);
    await expectLedgerVerified(db());
  });

  it('runs one pass at a time across processes', async () => {
    const [one, two] = await Promise.all([nightAfter().pass(), nightAfter().pass()]);
    expect([one.ran, two.ran].sort()).toEqual([false, true]);
  });

  it('keeps signing with its own key after an operator adds another key to its parties', async () => {
    for (const code of [SANDBOX_AGENCY_CODE, SANDBOX_BANK_CODE]) {
      const party = await db()('parties').where({ code }).first('app_id');
      await service.runtime.services.parties.addKey(party.app_id as string, generateSm2KeyPair().publicKeyPem, 'cli');
    }
    const pass = await nightAfter().pass();
    expect(pass).toMatchObject({ ran: true, failures: 0 });
  });

  it('pays back a refund of settled money: the bank reports its instruction executed and posts the DEBIT; the refund SUCCEEDED', async () => {
    const paid = service.world.notices.find((notice) => notice.status === 'PAID');
    if (paid === undefined) throw new Error('the demo world has a paid notice');
    const notice = await db()('notices').where({ pay_code: paid.payCode }).first();
    const finance = await db()('parties').where({ role: 'finance' }).first();
    const { refunds } = service.runtime.services;
    const requested = await refunds.request({ partyId: String(notice.unit_party_id) }, { refundNo: 'SBX-NIGHT-RF-1', payCode: paid.payCode, amount: '10.00', reason: '多缴退付', payee: { name: '王建国', accountNo: '6222020200001111', bankName: '内蒙古银行呼和浩特分行' } });
    // The settlement is CONFIRMED: the receiving bank (the sandbox bank) pays it back.
    const decided = await refunds.decide({ partyId: String(finance.id), appId: finance.app_id }, requested.refund.refundId, { approve: true, comment: '' });
    expect(decided.refund.status).toBe('INSTRUCTED');
    const instructions = await db()('instructions').where({ type: 'REFUND' }).select('instruction_no', 'status', 'amount');
    expect(instructions.length).toBeGreaterThanOrEqual(1);
    expect(instructions.every((row: { status: string }) => row.status === 'CREATED')).toBe(true);

    const pass = await nightAfter().pass();
    expect(pass).toMatchObject({ ran: true, bankReports: instructions.length, postings: instructions.length, failures: 0 });
    const bank = await db()('parties').where({ role: 'bank', code: SANDBOX_BANK_CODE }).first();
    for (const { instruction_no: instructionNo } of instructions as Array<{ instruction_no: string }>) {
      expect((await db()('instructions').where({ instruction_no: instructionNo }).first()).status).toBe('CONFIRMED');
      expect(await db()('bank_postings').where({ bank_ref: sandboxReference(instructionNo) }).first()).toMatchObject({ bank_party_id: bank.id, direction: 'DEBIT', status: 'MATCHED' });
    }
    expect((await refunds.getForUnit({ partyId: String(notice.unit_party_id) }, 'SBX-NIGHT-RF-1')).status).toBe('SUCCEEDED');
    await expectLedgerVerified(db());
    // Again: nothing more to do.
    expect(await nightAfter().pass()).toMatchObject({ ran: true, bankReports: 0, postings: 0, failures: 0 });
  });

  it('does not exist with TONGFU_SANDBOX=off, nor run where TONGFU_JOBS=off', async () => {
    expect(loadConfig({ TONGFU_SANDBOX: 'off' }).sandbox).toBe(false);
    // This service: TONGFU_SANDBOX on, TONGFU_JOBS off — the loop exists but was never started.
    expect(service.config.jobsEnabled).toBe(false);
    expect(service.runtime.sandboxNight).toBeDefined();
    const off = await startPortalService({ TONGFU_SANDBOX: 'off' });
    try {
      expect(off.runtime.sandboxNight).toBeUndefined();
      expect(await off.database.db('agency_statements').count<Array<{ count: string }>>({ count: '*' })).toEqual([{ count: '0' }]);
    } finally {
      await off.close();
    }
  });
});

