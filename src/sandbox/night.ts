/**
 * The sandbox's night (contracts/decisions/0220): what the sandbox agency and bank do after the
 * day, so that the demo world's night completes — statement, reconciliation, settlement,
 * confirmation — with nobody standing in for them. Each pass, over signed HTTP on the service's
 * own address, exactly as external parties do it:
 *
 * 1. the sandbox agency sends its TFS1 statement (`POST /v1/agency/statements`) of each business
 *    date of the last 7 that is over and had its payments (learnt from its own events,
 *    `GET /v1/agency/events`) or the refunds it executed;
 * 2. it reports executed every instruction it executes that waits for it
 *    (`POST /v1/agency/instructions/{instructionNo}/result`): settlements and agency refunds;
 * 3. the sandbox bank reports executed the refunds and returns it executes
 *    (`POST /v1/bank/instructions/{instructionNo}/result`), then posts the movement of every
 *    executed instruction on its accounts (`POST /v1/bank/postings` with `instructionNo`): the
 *    CREDIT of a settlement, the DEBIT of a refund it paid.
 *
 * Nothing is remembered between passes but what Tongfu answers, so a restart loses nothing; the
 * references are derived from the instruction number (`SBX-{instructionNo}`) and the statement
 * from the date's own lines, so a repeat is a replay. The loop runs only where TONGFU_SANDBOX and
 * TONGFU_JOBS are on (never in production), one pass at a time across processes (an advisory
 * lock), and does nothing until `demo seed` registered the sandbox parties.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db/database';
import { addDays, formatInstant, parseInstant, shanghaiDate } from '../domain/businessDate';
import { Decimal, formatMoney } from '../domain/money';
import type { Logger } from '../logger';
import { SANDBOX_AGENCY_CODE, SANDBOX_BANK_CODE, SandboxAgency } from './agency';
import { SandboxBank } from './bank';
import type { SandboxAnswer, SandboxClientDependencies, SandboxCredentials } from './client';

/** How often the loop runs a pass. */
export const SANDBOX_PASS_INTERVAL_MS = 30_000;
/** The dates a pass sends statements for: the reconcile job's window (docs/reconciliation.md §2). */
export const SANDBOX_STATEMENT_DAYS = 7;
/** The first key of the pass's advisory lock (two-int form, so it never collides with the others). */
const SANDBOX_LOCK_NAMESPACE = 0x7f_0b_5b;
const PAGE_LIMIT = 100;

/** The fields of the Instruction wire object the sandbox reads. */
interface WireInstruction {
  instructionNo: string;
  type: 'SETTLEMENT' | 'REFUND';
  status: string;
  amount: string;
  executorCode: string;
  debitAccount: { accountNo: string; bankCode: string };
  creditAccount?: { accountNo: string; bankCode: string };
  executedAt: string | null;
}

interface WirePayment {
  agencyTxnId: string;
  payCode: string;
  amount: string;
  paidAt: string;
  businessDate: string;
  channel: string;
}

interface StatementLine {
  kind: 'PAY' | 'REFUND';
  id: string;
  code: string;
  amount: string;
  at: string;
  channel: string;
}

/** What one pass did: counts of requests that changed something or replayed. */
export interface SandboxPassResult {
  ran: boolean;
  statements: number;
  agencyReports: number;
  bankReports: number;
  postings: number;
  failures: number;
}

/** The reference the sandbox gives the movement of an instruction: a repeat is a replay. */
export function sandboxReference(instructionNo: string): string {
  return `SBX-${instructionNo}`;
}

/** A TFS1 statement (docs/reconciliation.md §1) of these lines, in a stable order, so equal lines make an equal file. */
export function sandboxStatementFile(businessDate: string, fileSeq: number, lines: StatementLine[]): string {
  const sorted = [...lines].sort((a, b) => (a.kind === b.kind ? (a.at === b.at ? (a.id < b.id ? -1 : 1) : a.at < b.at ? -1 : 1) : a.kind === 'PAY' ? -1 : 1));
  const total = (kind: StatementLine['kind']): string => formatMoney(sorted.filter((line) => line.kind === kind).reduce((sum, line) => sum.plus(line.amount), new Decimal(0)));
  const pays = sorted.filter((line) => line.kind === 'PAY').length;
  return [
    `H|TFS1|${SANDBOX_AGENCY_CODE}|${businessDate}|${fileSeq}|${addDays(businessDate, 1)}T00:00:00+08:00`,
    ...sorted.map((line) => `D|${line.kind}|${line.id}|${line.code}|${line.amount}|${line.at}|${line.channel}`),
    `T|${pays}|${total('PAY')}|${sorted.length - pays}|${total('REFUND')}`,
  ].join('\n') + '\n';
}

function errorCode(answer: SandboxAnswer): string | undefined {
  return (answer.body as { error?: { code?: string } } | undefined)?.error?.code;
}

export class SandboxNight {
  private readonly agency: SandboxAgency;
  private readonly bank: SandboxBank;

  constructor(private readonly deps: SandboxClientDependencies) {
    this.agency = new SandboxAgency(deps);
    this.bank = new SandboxBank(deps);
  }

  /**
   * One pass, unless another process is running one (then `ran: false`). A request that fails
   * is logged and tried again by the next pass; it never stops the others.
   */
  async pass(): Promise<SandboxPassResult> {
    const result: SandboxPassResult = { ran: false, statements: 0, agencyReports: 0, bankReports: 0, postings: 0, failures: 0 };
    const db: Db = this.deps.db;
    await db.transaction(async (trx) => {
      const row = (await trx.raw<{ rows: Array<{ locked: boolean }> }>('SELECT pg_try_advisory_xact_lock(?, 0) AS locked', [SANDBOX_LOCK_NAMESPACE])).rows[0];
      if (row?.locked !== true) return;
      result.ran = true;
      const agency = await this.agency.credentials();
      if (agency !== undefined) {
        await this.sendStatements(agency, result);
        await this.reportAgencyInstructions(agency, result);
      }
      const bank = await this.bank.credentials();
      if (bank !== undefined) await this.bankMovements(bank, result);
    });
    if (result.statements + result.agencyReports + result.bankReports + result.postings + result.failures > 0) this.deps.log.info(result, 'sandbox pass');
    return result;
  }

  private today(): string {
    return shanghaiDate(this.deps.clocks.business.now());
  }

  private failed(result: SandboxPassResult, what: string, answer: SandboxAnswer): void {
    result.failures += 1;
    this.deps.log.warn({ status: answer.status, error: answer.body }, `sandbox: ${what} answered HTTP ${answer.status}`);
  }

  /** Every instruction of the caller's role with this status (all of them without), page by page. */
  private async instructions(send: (target: string) => Promise<SandboxAnswer>, role: 'agency' | 'bank', status?: string): Promise<WireInstruction[]> {
    const all: WireInstruction[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ limit: String(PAGE_LIMIT), ...(status === undefined ? {} : { status }), ...(cursor === null ? {} : { cursor }) });
      const answer = await send(`/v1/${role}/instructions?${query.toString()}`);
      if (answer.status !== 200) throw new Error(`sandbox ${role}: GET /v1/${role}/instructions answered HTTP ${answer.status}`);
      const page = answer.body as { data: WireInstruction[]; nextCursor: string | null };
      all.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return all;
  }

  /** Instructions that wait for their executor's report: CREATED, or UNCONFIRMED without one. */
  private static awaitingReport(instruction: WireInstruction): boolean {
    return instruction.status === 'CREATED' || (instruction.status === 'UNCONFIRMED' && instruction.executedAt === null);
  }

  private reportBody(instruction: WireInstruction): string {
    return JSON.stringify({ status: 'EXECUTED', executedAt: formatInstant(this.deps.clocks.business.now()), reference: sandboxReference(instruction.instructionNo) });
  }

  private async reportAgencyInstructions(credentials: SandboxCredentials, result: SandboxPassResult): Promise<void> {
    const get = (target: string): Promise<SandboxAnswer> => this.agency.send(credentials, { method: 'GET', target });
    const waiting = [...(await this.instructions(get, 'agency', 'CREATED')), ...(await this.instructions(get, 'agency', 'UNCONFIRMED'))].filter(SandboxNight.awaitingReport);
    for (const instruction of waiting) {
      const answer = await this.agency.send(credentials, { method: 'POST', target: `/v1/agency/instructions/${instruction.instructionNo}/result`, body: this.reportBody(instruction) });
      if (answer.status === 200) result.agencyReports += 1;
      else this.failed(result, `reporting ${instruction.instructionNo} executed`, answer);
    }
  }

  private async bankMovements(credentials: SandboxCredentials, result: SandboxPassResult): Promise<void> {
    const get = (target: string): Promise<SandboxAnswer> => this.bank.send(credentials, { method: 'GET', target });
    const ownRefund = (instruction: WireInstruction): boolean => instruction.type === 'REFUND' && instruction.executorCode === SANDBOX_BANK_CODE;
    // The refunds and returns it pays: paid (reported executed), then debited below.
    const toPay = [...(await this.instructions(get, 'bank', 'CREATED')), ...(await this.instructions(get, 'bank', 'UNCONFIRMED'))].filter((instruction) => ownRefund(instruction) && SandboxNight.awaitingReport(instruction));
    for (const instruction of toPay) {
      const answer = await this.bank.send(credentials, { method: 'POST', target: `/v1/bank/instructions/${instruction.instructionNo}/result`, body: this.reportBody(instruction) });
      if (answer.status === 200) result.bankReports += 1;
      else this.failed(result, `reporting ${instruction.instructionNo} executed`, answer);
    }
    // Every executed movement on its accounts: a settlement's money arrived, a refund's left.
    const executed = [...(await this.instructions(get, 'bank', 'EXECUTED')), ...(await this.instructions(get, 'bank', 'UNCONFIRMED'))].filter((instruction) => instruction.executedAt !== null);
    for (const instruction of executed) {
      const credit = instruction.type === 'SETTLEMENT' && instruction.creditAccount?.bankCode === SANDBOX_BANK_CODE;
      if (!credit && !ownRefund(instruction)) continue;
      const answer = await this.bank.post(credentials, {
        bankRef: sandboxReference(instruction.instructionNo),
        accountNo: credit ? (instruction.creditAccount as { accountNo: string }).accountNo : instruction.debitAccount.accountNo,
        direction: credit ? 'CREDIT' : 'DEBIT',
        amount: instruction.amount,
        valueDate: this.today(),
        instructionNo: instruction.instructionNo,
        memo: instruction.instructionNo,
      });
      if (answer.status === 201) result.postings += 1;
      else this.failed(result, `posting ${instruction.instructionNo}`, answer);
    }
  }

  /** The agency's own record of what it collected: its payments, from its events. */
  private async payments(credentials: SandboxCredentials): Promise<WirePayment[]> {
    const payments: WirePayment[] = [];
    let after = 0;
    for (;;) {
      const answer = await this.agency.send(credentials, { method: 'GET', target: `/v1/agency/events?after=${after}&limit=500` });
      if (answer.status !== 200) throw new Error(`sandbox agency: GET /v1/agency/events answered HTTP ${answer.status}`);
      const page = answer.body as { data: Array<{ type: string; data: { payment?: WirePayment } }>; nextAfter: number };
      for (const event of page.data) if (event.type === 'payment.succeeded' && event.data.payment !== undefined) payments.push(event.data.payment);
      if (page.data.length === 0 || page.nextAfter === after) break;
      after = page.nextAfter;
    }
    return payments;
  }

  private async sendStatements(credentials: SandboxCredentials, result: SandboxPassResult): Promise<void> {
    const today = this.today();
    const first = addDays(today, -SANDBOX_STATEMENT_DAYS);
    const lines = new Map<string, StatementLine[]>();
    const add = (date: string, line: StatementLine): void => {
      if (date < first || date >= today) return;
      lines.set(date, [...(lines.get(date) ?? []), line]);
    };
    for (const payment of await this.payments(credentials)) {
      add(payment.businessDate, { kind: 'PAY', id: payment.agencyTxnId, code: payment.payCode, amount: payment.amount, at: payment.paidAt, channel: payment.channel });
    }
    const get = (target: string): Promise<SandboxAnswer> => this.agency.send(credentials, { method: 'GET', target });
    for (const instruction of await this.instructions(get, 'agency')) {
      const executedAt = instruction.executedAt === null ? null : parseInstant(instruction.executedAt);
      if (instruction.type !== 'REFUND' || executedAt === null) continue;
      add(shanghaiDate(executedAt), { kind: 'REFUND', id: sandboxReference(instruction.instructionNo), code: instruction.instructionNo, amount: instruction.amount, at: formatInstant(executedAt), channel: '' });
    }
    for (const [date, dateLines] of [...lines.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (await this.sendStatement(credentials, date, dateLines, result)) result.statements += 1;
    }
  }

  /**
   * Sends the date's statement as sequence 1; when a different one is current, compares with it
   * and sends the next sequence only if the lines changed. True when Tongfu took it or has it.
   */
  private async sendStatement(credentials: SandboxCredentials, date: string, lines: StatementLine[], result: SandboxPassResult): Promise<boolean> {
    const upload = (fileSeq: number): Promise<SandboxAnswer> =>
      this.agency.send(credentials, { method: 'POST', target: '/v1/agency/statements?format=TFS1', body: sandboxStatementFile(date, fileSeq, lines), contentType: 'text/plain' });
    let answer = await upload(1);
    if (answer.status === 409 && errorCode(answer) === 'STATEMENT_SEQ_NOT_HIGHER') {
      const details = (answer.body as { error: { details?: { currentFileSeq?: number; currentStatementId?: string } } }).error.details ?? {};
      const current = details.currentFileSeq ?? 1;
      const stored = await this.agency.send(credentials, { method: 'GET', target: `/v1/agency/statements/${encodeURIComponent(details.currentStatementId ?? '')}` });
      const sha = (stored.body as { sha256?: string } | undefined)?.sha256;
      if (sha !== undefined && createHash('sha256').update(sandboxStatementFile(date, current, lines)).digest('hex') === sha) return false;
      answer = await upload(current + 1);
    }
    if (answer.status === 201) return true;
    if (answer.status === 409 && errorCode(answer) === 'BUSINESS_DATE_CLOSED') return false;
    this.failed(result, `the statement of ${date}`, answer);
    return false;
  }
}

/** The pass on a timer, in the process that runs jobs (src/runtime.ts). */
export class SandboxNightLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly night: SandboxNight, private readonly log: Logger, private readonly intervalMs = SANDBOX_PASS_INTERVAL_MS) {}

  start(): void {
    if (this.timer !== undefined || this.stopping) return;
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.night
        .pass()
        .then(() => undefined)
        .catch((error: unknown) => this.log.warn({ err: error }, 'sandbox pass failed; the next one tries again'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopping) this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.running === undefined) return;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => (grace = setTimeout(resolve, Math.max(0, graceMs))))]);
    if (grace !== undefined) clearTimeout(grace);
  }
}
