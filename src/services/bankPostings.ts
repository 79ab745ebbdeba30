import { randomBase64Url } from '../crypto/randomIds';
import type { ReadStream } from 'node:fs';
import type { Knex } from 'knex';
import type { FieldCipher } from '../crypto/fieldCipher';
import type { Db } from '../db/database';
import type { PageRequest } from '../db/pagination';
import * as repo from '../db/repositories/bankPostings';
import { findJournalEntry, insertJournalEntries, insertJournalEntry } from '../db/repositories/ledger';
import { answeredStatus, type BankPostingInput, differingMoneyFields, instructionNoToMatch, type PostingStatus, postingStatusFor, valueDateProblem } from '../domain/bankPostings';
import { formatInstant, shanghaiDate } from '../domain/businessDate';
import { Camt053Reader, type Camt053Posting, type Camt053Summary, formatSignedMoney } from '../domain/camt053';
import type { Clocks } from '../domain/clock';
import { assert, type FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import { reversalEntry, unidentifiedCreditEntry } from '../domain/ledger';
import { Decimal, formatMoney } from '../domain/money';
import { malformed, statementMalformed } from '../domain/xmlStream';
import { STATEMENT_PROBLEMS_MAX, type StatementProblem } from '../domain/statementFormats';
import type { Logger } from '../logger';
import type { InstructionMatcher } from './bankPostingInstructions';
import { createReturnInstruction, reopenMismatchedInstruction } from './instructions';
import { financeRecipients, type NewEvent, recordEvents } from './events';

/**
 * Bank postings (入账回单 / 到账确认) and camt.053 statements (docs/settlement.md §2;
 * contracts/decisions/0135-bank-postings.md, 0136-camt053-statements.md).
 *
 * One path records every posting, whether it came alone as JSON or as an entry of a statement
 * (`recordPostings`, set-based for a batch): the key (bank, bankRef) is claimed by the INSERT
 * (ON CONFLICT DO NOTHING, so a concurrent twin waits for the first and then finds it); a key
 * already taken is a replay when account, direction, amount and value date agree, else
 * IDEMPOTENCY_CONFLICT; a new posting naming a live instruction (its instructionNo, else the
 * first instruction number in its memo) is confirmed through the InstructionMatcher and becomes
 * MATCHED or MISMATCHED; the rest stay UNIDENTIFIED (待查): a credit is booked to suspense
 * (UNIDENTIFIED_CREDIT), and every finance party gets `bankPosting.unidentified`.
 */

/** The posting bank: the authenticated party. */
export interface BankCaller {
  partyId: string;
  code: string;
}

/** The answer to a posting: `201 {postingId, bankRef, status, instructionNo}`. */
export interface PostingAnswer {
  postingId: string;
  bankRef: string;
  status: PostingStatus;
  instructionNo: string | null;
}

export interface PostedPosting {
  posting: PostingAnswer;
  replayed: boolean;
}

/** A posting as its bank and finance read it. */
export interface BankPostingWire {
  postingId: string;
  bankCode: string;
  bankRef: string;
  accountNo: string;
  direction: 'CREDIT' | 'DEBIT';
  amount: string;
  valueDate: string;
  instructionNo: string | null;
  givenInstructionNo: string | null;
  memo: string | null;
  counterparty: { name: string; accountNo: string | null } | null;
  status: PostingStatus;
  source: 'JSON' | 'CAMT053';
  createdAt: string;
  resolvedAt: string | null;
  /** The instruction it mismatched until finance detached it (DETACH, decision 0195), and when. */
  detachedFrom: { instructionNo: string; detachedAt: string } | null;
}

export interface StatementAnswer {
  statementId: string;
  accountNo: string;
  camtVersion: string;
  messageId: string;
  fileStatementId: string;
  openingBalance: string;
  closingBalance: string;
  entries: number;
  /** Each posting as answered, with its postingId: what the bank reads it by later (GET /v1/bank/postings/{postingId}). */
  postings: Array<{ postingId: string; bankRef: string; status: PostingStatus; instructionNo: string | null }>;
}

/** The verified upload a statement is read from (src/http/streamedBody.ts, decision 0070). */
export interface StatementFile {
  sha256Hex: string;
  sizeBytes: number;
  open(): ReadStream;
}

export interface BankPostingDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  fieldCipher: FieldCipher;
  instructions: InstructionMatcher;
}

/** Statement postings recorded per round of recordPostings. */
export const STATEMENT_POSTINGS_PER_BATCH = 1_000;

const EVENT_TYPE = 'bankPosting.unidentified';

function newId(prefix: string, realNow: Date): string {
  return `${prefix}${realNow.getTime().toString(36).padStart(9, '0')}${randomBase64Url(9)}`;
}

interface Recorded {
  rowId: string;
  answer: PostingAnswer;
  replayed: boolean;
}

/** Thrown inside a statement's transaction when the same file committed meanwhile: roll back, answer the replay. */
class StatementCommittedMeanwhile extends Error {}

export class BankPostingService {
  constructor(private readonly deps: BankPostingDependencies) {}

  /**
   * `POST /v1/bank/postings`. `problems` are those the edge found in the body; the value date's
   * window (decision 0199) is added here, for a posting that would be new: a repeat of one
   * recorded replays (or conflicts) whatever its date, as every repeat does (docs/interface.md §4).
   * Any problem is VALIDATION_FAILED, before the account's 404.
   */
  async postPosting(bank: BankCaller, input: BankPostingInput, problems: readonly FieldProblem[] = []): Promise<PostedPosting> {
    const all = [...problems];
    const dateProblem = valueDateProblem(input.valueDate, shanghaiDate(this.deps.clocks.business.now()));
    if (dateProblem !== null && (await repo.findPostingsByRefs(this.deps.db, bank.partyId, [input.bankRef])).length === 0) all.push({ path: '/valueDate', problem: dateProblem });
    if (all.length > 0) throw validationFailed(all);
    if (!(await repo.isBanksReceivingAccount(this.deps.db, bank.code, input.accountNo))) throw notYourAccount(input.accountNo);
    const [recorded] = await this.deps.db.transaction((trx) => this.recordPostings(trx, bank, [input], null));
    assert(recorded !== undefined, 'one posting recorded');
    return { posting: recorded.answer, replayed: recorded.replayed };
  }

  /** `GET /v1/bank/postings/{postingId}`: the bank's own postings only. */
  async getPosting(bank: BankCaller, postingId: string): Promise<BankPostingWire> {
    const row = await repo.findPosting(this.deps.db, bank.partyId, postingId);
    if (row === undefined) throw new TongfuError('NOT_FOUND', `no posting ${postingId} of this bank`, { postingId });
    return this.wire(row);
  }

  /**
   * `GET /v1/finance/unidentified?status=`: unidentified postings (or those resolved LINKED /
   * RETURNED, or MISMATCHED ones holding their instruction until finance detaches them, decision 0195).
   */
  async listUnidentified(status: 'UNIDENTIFIED' | 'LINKED' | 'RETURNED' | 'MISMATCHED', page: PageRequest): Promise<{ data: BankPostingWire[]; nextCursor: string | null }> {
    const result = await repo.listPostingsByStatus(this.deps.db, status, page);
    return { data: result.rows.map((row) => this.wire(row)), nextCursor: result.nextCursor };
  }

  /**
   * `POST /v1/bank/statements`: the file is read once to validate it as a unit (nothing is
   * written for a refused file), then once more inside one transaction that records the
   * statement and each of its postings through recordPostings, in batches.
   */
  async postStatement(bank: BankCaller, file: StatementFile): Promise<{ statement: StatementAnswer; replayed: boolean }> {
    const earlier = await repo.findStatementBySha(this.deps.db, bank.partyId, file.sha256Hex);
    if (earlier !== undefined) return { statement: await this.statementReplay(earlier), replayed: true };
    // Validated: the account is one this bank holds (else NOT_FOUND), and the file is sound.
    const summary = await this.validateStatement(bank, file);
    const realNow = this.deps.clocks.real.now();
    const statementId = newId('S', realNow);
    try {
      const postings = await this.deps.db.transaction(async (trx) => {
        const rowId = await repo.insertStatement(trx, {
          statement_id: statementId,
          bank_party_id: bank.partyId,
          account_no: summary.accountNo,
          sha256: file.sha256Hex,
          size_bytes: file.sizeBytes,
          camt_version: summary.version,
          message_id: summary.messageId,
          file_statement_id: summary.statementId,
          electronic_seq_no: summary.electronicSeqNo,
          opening_balance: formatSignedMoney(summary.openingBalance),
          closing_balance: formatSignedMoney(summary.closingBalance),
          entry_count: summary.entryCount,
          posting_count: summary.postingCount,
          credit_total: formatMoney(summary.creditTotal),
          debit_total: formatMoney(summary.debitTotal),
          received_at: this.deps.clocks.business.now(),
        });
        if (rowId === undefined) throw new StatementCommittedMeanwhile();
        const answers: StatementAnswer['postings'] = [];
        let pending: Camt053Posting[] = [];
        const flush = async (): Promise<void> => {
          const batch = pending;
          pending = [];
          const recorded = await this.recordPostings(trx, bank, batch, rowId);
          await repo.insertStatementPostings(trx, rowId, answers.length + 1, recorded.map((r) => ({ bank_posting_id: r.rowId, answered_status: r.answer.status, answered_instruction_no: r.answer.instructionNo })));
          for (const r of recorded) answers.push({ postingId: r.answer.postingId, bankRef: r.answer.bankRef, status: r.answer.status, instructionNo: r.answer.instructionNo });
        };
        const again = await readStatement(file, (posting) => pending.push(posting), async () => {
          if (pending.length >= STATEMENT_POSTINGS_PER_BATCH) await flush();
        });
        if (pending.length > 0) await flush();
        assert(again.postingCount === summary.postingCount && answers.length === summary.postingCount, 'the second reading of a verified file gives what the first did');
        return answers;
      });
      this.deps.log.info({ statementId, bankCode: bank.code, accountNo: summary.accountNo, entries: summary.entryCount, postings: postings.length }, 'bank statement recorded');
      return { statement: statementAnswer(statementId, summary, postings), replayed: false };
    } catch (error) {
      if (!(error instanceof StatementCommittedMeanwhile)) throw error;
      const committed = await repo.findStatementBySha(this.deps.db, bank.partyId, file.sha256Hex);
      assert(committed !== undefined, 'a statement that conflicted on its SHA-256 is there');
      return { statement: await this.statementReplay(committed), replayed: true };
    }
  }

  /**
   * The validating read of a statement: the reader's checks (the first problem of the file stops
   * it), then every posting's value date against the window (decision 0199). A posting out of the
   * window that is not a repeat of one recorded (the bank's reference, looked up a batch at a time
   * between chunks) is a problem on the line of its date; all of them are listed, the first
   * STATEMENT_PROBLEMS_MAX, as STATEMENT_MALFORMED — which, as for an agency's statement, answers
   * before a balance that does not add up.
   */
  private async validateStatement(bank: BankCaller, file: StatementFile): Promise<Camt053Summary> {
    const today = shanghaiDate(this.deps.clocks.business.now());
    const problems: StatementProblem[] = [];
    let problemCount = 0;
    let outOfWindow: Array<{ bankRef: string; problem: StatementProblem }> = [];
    const settle = async (): Promise<void> => {
      const batch = outOfWindow;
      outOfWindow = [];
      if (batch.length === 0) return;
      const recorded = new Set((await repo.findPostingsByRefs(this.deps.db, bank.partyId, [...new Set(batch.map((item) => item.bankRef))])).map((row) => row.bank_ref));
      for (const item of batch) {
        if (recorded.has(item.bankRef)) continue;
        problemCount += 1;
        if (problems.length < STATEMENT_PROBLEMS_MAX) problems.push(item.problem);
      }
    };
    let summary: Camt053Summary | undefined;
    let refusal: TongfuError | undefined;
    const seen: { accountNo?: string } = {};
    try {
      summary = await readStatement(
        file,
        (posting) => {
          const problem = valueDateProblem(posting.valueDate, today);
          if (problem !== null) outOfWindow.push({ bankRef: posting.bankRef, problem: { lineNo: posting.valueDateLine, problem: `entry ${posting.entryNo} (${posting.bankRef}): the value date ${posting.valueDate} ${problem}` } });
        },
        async () => {
          if (outOfWindow.length >= STATEMENT_POSTINGS_PER_BATCH) await settle();
        },
        seen,
      );
    } catch (error) {
      if (!(error instanceof TongfuError)) throw error;
      refusal = error;
    }
    // The resource's 404 answers before the file's own problems (docs/interface.md §3, precedence):
    // once the reader has the account, a file of an account this bank does not hold is NOT_FOUND,
    // whatever else it gets wrong.
    if (seen.accountNo !== undefined && !(await repo.isBanksReceivingAccount(this.deps.db, bank.code, seen.accountNo))) throw notYourAccount(seen.accountNo);
    if (refusal !== undefined && refusal.code !== 'STATEMENT_TOTALS_MISMATCH') throw refusal;
    await settle();
    if (problemCount > 0) throw statementMalformed(problems, problemCount);
    if (refusal !== undefined) throw refusal;
    assert(summary !== undefined, 'a statement read without a refusal has its summary');
    return summary;
  }

  private async statementReplay(row: repo.StatementRow): Promise<StatementAnswer> {
    const postings = await repo.statementPostings(this.deps.db, row.id);
    return {
      statementId: row.statement_id,
      accountNo: row.account_no,
      camtVersion: row.camt_version,
      messageId: row.message_id,
      fileStatementId: row.file_statement_id,
      openingBalance: row.opening_balance,
      closingBalance: row.closing_balance,
      entries: row.entry_count,
      postings: postings.map((p) => ({ postingId: p.posting_id, bankRef: p.bank_ref, status: p.answered_status, instructionNo: p.answered_instruction_no })),
    };
  }

  /**
   * The one path of every posting (docs/settlement.md §2), for a batch, in the caller's
   * transaction; the answers are in the inputs' order. Each input's account is the bank's (the
   * caller checked it). A bankRef twice in one batch is recorded once, the later a repeat.
   */
  async recordPostings(trx: Knex.Transaction, bank: BankCaller, inputs: readonly BankPostingInput[], statementRowId: string | null): Promise<Recorded[]> {
    const businessNow = this.deps.clocks.business.now();
    const realNow = this.deps.clocks.real.now();
    const firsts = new Map<string, BankPostingInput>();
    for (const input of inputs) if (!firsts.has(input.bankRef)) firsts.set(input.bankRef, input);
    const inserted = await repo.insertPostings(
      trx,
      [...firsts.values()].map((input) => ({
        posting_id: newId('BP', realNow),
        bank_party_id: bank.partyId,
        bank_ref: input.bankRef,
        account_no: input.accountNo,
        direction: input.direction,
        amount: formatMoney(input.amount),
        value_date: input.valueDate,
        instruction_no: input.instructionNo ?? null,
        memo: input.memo ?? null,
        counterparty_name: input.counterparty === undefined ? null : this.deps.fieldCipher.encrypt(input.counterparty.name),
        counterparty_account_no: input.counterparty?.accountNo === undefined ? null : this.deps.fieldCipher.encrypt(input.counterparty.accountNo),
        source: statementRowId === null ? 'JSON' : 'CAMT053',
        statement_id: statementRowId,
        created_at: businessNow,
      })),
    );

    // New postings: match them, then book and announce those left unidentified.
    const fresh = [...firsts.values()].filter((input) => inserted.has(input.bankRef));
    const outcomes = new Map<string, { status: PostingStatus; instructionNo: string | null }>();
    const resolutions: Array<{ id: string; status: PostingStatus; instructionId: string | null; instructionNo: string | null }> = [];
    for (const input of fresh) {
      const row = inserted.get(input.bankRef) as { id: string; postingId: string };
      const candidate = instructionNoToMatch(input);
      const instruction = candidate === undefined ? undefined : await this.deps.instructions.findLiveInstructionForPosting(trx, { instructionNo: candidate, accountNo: input.accountNo, direction: input.direction });
      if (instruction === undefined) {
        outcomes.set(input.bankRef, { status: 'UNIDENTIFIED', instructionNo: null });
        continue;
      }
      const outcome = await this.deps.instructions.confirmInstructionByPosting(trx, { instructionRowId: instruction.id, postingRowId: row.id, amount: input.amount, at: businessNow });
      const status = postingStatusFor(outcome);
      resolutions.push({ id: row.id, status, instructionId: instruction.id, instructionNo: instruction.instructionNo });
      outcomes.set(input.bankRef, { status, instructionNo: instruction.instructionNo });
    }
    await repo.resolvePostings(trx, resolutions, businessNow);
    const unidentified = fresh.filter((input) => outcomes.get(input.bankRef)?.status === 'UNIDENTIFIED');
    const accountingDate = shanghaiDate(businessNow);
    await insertJournalEntries(
      trx,
      unidentified.filter((input) => input.direction === 'CREDIT').map((input) => unidentifiedCreditEntry({ bankPostingId: (inserted.get(input.bankRef) as { id: string }).id, receivingAccountNo: input.accountNo, amount: input.amount, accountingDate })),
      businessNow,
    );
    if (unidentified.length > 0) {
      const recipients = await financeRecipients(trx);
      const events: NewEvent[] = unidentified.map((input) => ({
        type: EVENT_TYPE,
        recipients,
        occurredAt: businessNow,
        data: {
          posting: {
            postingId: (inserted.get(input.bankRef) as { postingId: string }).postingId,
            bankCode: bank.code,
            bankRef: input.bankRef,
            accountNo: input.accountNo,
            direction: input.direction,
            amount: formatMoney(input.amount),
            valueDate: input.valueDate,
            instructionNo: input.instructionNo ?? null,
            memo: input.memo ?? null,
            status: 'UNIDENTIFIED',
          },
        },
      }));
      await recordEvents(trx, events);
    }

    // Keys already taken (before this call, or by an earlier input of this batch): replays or conflicts.
    const repeatedRefs: string[] = [];
    const counted = new Set<string>();
    for (const input of inputs) {
      if (!inserted.has(input.bankRef) || counted.has(input.bankRef)) repeatedRefs.push(input.bankRef);
      counted.add(input.bankRef);
    }
    const stored = new Map((await repo.findPostingsByRefs(trx, bank.partyId, [...new Set(repeatedRefs)])).map((row) => [row.bank_ref, row]));
    const seen = new Set<string>();
    return inputs.map((input) => {
      const first = !seen.has(input.bankRef);
      seen.add(input.bankRef);
      const own = inserted.get(input.bankRef);
      if (own !== undefined && first) {
        const outcome = outcomes.get(input.bankRef) as { status: PostingStatus; instructionNo: string | null };
        return { rowId: own.id, answer: { postingId: own.postingId, bankRef: input.bankRef, status: outcome.status, instructionNo: outcome.instructionNo }, replayed: false };
      }
      const row = stored.get(input.bankRef);
      assert(row !== undefined, `bankRef ${input.bankRef} was refused by its key, and a posting holds it`);
      const differ = differingMoneyFields({ accountNo: row.account_no, direction: row.direction, amount: new Decimal(row.amount), valueDate: row.value_date }, input);
      if (differ.length > 0) {
        // A statement's entry is named by its number and line, as the file's other refusals are.
        const where = 'entryLine' in input ? (input as Camt053Posting) : undefined;
        throw new TongfuError(
          'IDEMPOTENCY_CONFLICT',
          `${where !== undefined ? `entry ${where.entryNo} (line ${where.entryLine}): ` : ''}bankRef ${input.bankRef} was posted with another ${differ.join(', ')}`,
          { bankRef: input.bankRef, postingId: row.posting_id, differingFields: differ, ...(where !== undefined ? { entryNo: where.entryNo, lineNo: where.entryLine } : {}) },
        );
      }
      const status = answeredStatus(row.status, row.detached_instruction_no);
      const instructionNo = row.detached_instruction_no ?? (status === 'UNIDENTIFIED' ? null : row.matched_instruction_no);
      return { rowId: row.id, answer: { postingId: row.posting_id, bankRef: row.bank_ref, status, instructionNo }, replayed: true };
    });
  }

  /**
   * LINK (docs/settlement.md §2): finance ties an unidentified credit to the instruction it pays.
   * Runs in the caller's transaction — the maker-checker decision's, which also writes the audit
   * record. Under the posting's lock: it must still be an UNIDENTIFIED credit, and the instruction
   * a live one of this account's side (else ACTION_NOT_APPLICABLE). Its UNIDENTIFIED_CREDIT entry
   * is reversed (the money leaves suspense), the instruction is confirmed by the posting as if it
   * had named it, and the posting becomes LINKED.
   */
  async linkUnidentified(trx: Knex.Transaction, input: { postingRowId: string; instructionNo: string }): Promise<{ status: 'LINKED'; instructionNo: string; outcome: 'CONFIRMED' | 'MISMATCHED' }> {
    const at = this.deps.clocks.business.now();
    const posting = await repo.lockPosting(trx, input.postingRowId);
    if (posting === undefined) throw new TongfuError('NOT_FOUND', 'no such bank posting', { postingRowId: input.postingRowId });
    if (posting.status !== 'UNIDENTIFIED' || posting.direction !== 'CREDIT') {
      throw new TongfuError('ACTION_NOT_APPLICABLE', `posting ${posting.posting_id} is ${posting.status} (${posting.direction}): only an unidentified credit is linked`, { postingId: posting.posting_id, status: posting.status, direction: posting.direction });
    }
    const instruction = await this.deps.instructions.findLiveInstructionForPosting(trx, { instructionNo: input.instructionNo, accountNo: posting.account_no, direction: posting.direction });
    if (instruction === undefined) throw new TongfuError('ACTION_NOT_APPLICABLE', `${input.instructionNo} is no live instruction crediting ${posting.account_no}`, { instructionNo: input.instructionNo });
    const entryId = await repo.unidentifiedCreditEntryId(trx, posting.id);
    const original = entryId === undefined ? undefined : await findJournalEntry(trx, entryId);
    assert(original !== undefined, `unidentified credit ${posting.posting_id} has its UNIDENTIFIED_CREDIT entry`);
    await insertJournalEntry(trx, reversalEntry({ original, accountingDate: shanghaiDate(at), cause: { instructionId: instruction.id } }), at);
    const outcome = await this.deps.instructions.confirmInstructionByPosting(trx, { instructionRowId: instruction.id, postingRowId: posting.id, amount: new Decimal(posting.amount), at });
    await repo.resolvePostings(trx, [{ id: posting.id, status: 'LINKED', instructionId: instruction.id, instructionNo: instruction.instructionNo }], at);
    return { status: 'LINKED', instructionNo: instruction.instructionNo, outcome };
  }

  /**
   * RETURN (docs/settlement.md §2, contracts/decisions/0146-return-of-unidentified-credits.md):
   * finance sends an unidentified credit back. In the caller's transaction (the maker-checker
   * decision's), under the posting's lock: it must still be an UNIDENTIFIED credit (else
   * ACTION_NOT_APPLICABLE). A bank REFUND instruction pays `payee` (encrypted already) from the
   * receiving account; the UNIDENTIFIED_CREDIT entry is reversed, so the money leaves suspense and
   * the receiving account's books at once (the instruction's confirmation later books nothing); the
   * posting becomes RETURNED.
   */
  async returnUnidentified(trx: Knex.Transaction, input: { postingRowId: string; payee: { name: string; accountNo: string; bankName: string } }): Promise<{ status: 'RETURNED'; instructionNo: string }> {
    const at = this.deps.clocks.business.now();
    const posting = await repo.lockPosting(trx, input.postingRowId);
    if (posting === undefined) throw new TongfuError('NOT_FOUND', 'no such bank posting', { postingRowId: input.postingRowId });
    if (posting.status !== 'UNIDENTIFIED' || posting.direction !== 'CREDIT') {
      throw new TongfuError('ACTION_NOT_APPLICABLE', `posting ${posting.posting_id} is ${posting.status} (${posting.direction}): only an unidentified credit is returned`, { postingId: posting.posting_id, status: posting.status, direction: posting.direction });
    }
    const created = await createReturnInstruction(trx, { postingRowId: posting.id, accountNo: posting.account_no, amount: posting.amount, payee: input.payee, now: at });
    const entryId = await repo.unidentifiedCreditEntryId(trx, posting.id);
    const original = entryId === undefined ? undefined : await findJournalEntry(trx, entryId);
    assert(original !== undefined, `unidentified credit ${posting.posting_id} has its UNIDENTIFIED_CREDIT entry`);
    await insertJournalEntry(trx, reversalEntry({ original, accountingDate: shanghaiDate(at), cause: { instructionId: created.instructionRowId } }), at);
    await repo.resolvePostings(trx, [{ id: posting.id, status: 'RETURNED', instructionId: null, instructionNo: null }], at);
    return { status: 'RETURNED', instructionNo: created.instructionNo };
  }

  /**
   * DETACH (docs/settlement.md §1–§2, contracts/decisions/0195-detach-mismatched-posting.md):
   * finance decides that the posting which mismatched instruction `instructionRowId` is not its
   * money. In the caller's transaction (the maker-checker decision's, which locked the
   * instruction), under the posting's lock: the posting goes back to UNIDENTIFIED, remembering the
   * instruction; a credit is booked to suspense now (UNIDENTIFIED_CREDIT, as it would have been had
   * it named nothing) and a debit has no entry, as every unidentified debit; every finance party
   * gets `bankPosting.unidentified`, so the credit is LINKed or RETURNed like any other; the
   * instruction waits again for its own posting (UNCONFIRMED, `instruction.reopened`).
   */
  async detachMismatched(trx: Knex.Transaction, input: { instructionRowId: string }): Promise<{ postingId: string; direction: 'CREDIT' | 'DEBIT' }> {
    const at = this.deps.clocks.business.now();
    const posting = await repo.lockMismatchedPostingOf(trx, input.instructionRowId);
    if (posting === undefined) throw new TongfuError('ACTION_NOT_APPLICABLE', 'the instruction has no MISMATCHED posting to detach', { instructionRowId: input.instructionRowId });
    await repo.detachPosting(trx, posting.id, at);
    const amount = new Decimal(posting.amount);
    if (posting.direction === 'CREDIT') {
      await insertJournalEntry(trx, unidentifiedCreditEntry({ bankPostingId: posting.id, receivingAccountNo: posting.account_no, amount, accountingDate: shanghaiDate(at) }), at);
    }
    await recordEvents(trx, [
      {
        type: EVENT_TYPE,
        recipients: await financeRecipients(trx),
        occurredAt: at,
        data: {
          posting: {
            postingId: posting.posting_id,
            bankCode: posting.bank_code,
            bankRef: posting.bank_ref,
            accountNo: posting.account_no,
            direction: posting.direction,
            amount: formatMoney(amount),
            valueDate: posting.value_date,
            instructionNo: posting.instruction_no,
            memo: posting.memo,
            status: 'UNIDENTIFIED',
          },
        },
      },
    ]);
    await reopenMismatchedInstruction(trx, { instructionRowId: input.instructionRowId, postingId: posting.posting_id, postingAmount: posting.amount, at });
    return { postingId: posting.posting_id, direction: posting.direction };
  }

  private wire(row: repo.PostingRow): BankPostingWire {
    return {
      postingId: row.posting_id,
      bankCode: row.bank_code,
      bankRef: row.bank_ref,
      accountNo: row.account_no,
      direction: row.direction,
      amount: row.amount,
      valueDate: row.value_date,
      instructionNo: row.matched_instruction_no,
      givenInstructionNo: row.instruction_no,
      memo: row.memo,
      counterparty: row.counterparty_name === null ? null : { name: this.deps.fieldCipher.decrypt(row.counterparty_name), accountNo: row.counterparty_account_no === null ? null : this.deps.fieldCipher.decrypt(row.counterparty_account_no) },
      status: row.status,
      source: row.source,
      createdAt: formatInstant(row.created_at),
      resolvedAt: row.resolved_at === null ? null : formatInstant(row.resolved_at),
      detachedFrom: row.detached_instruction_no === null || row.detached_at === null ? null : { instructionNo: row.detached_instruction_no, detachedAt: formatInstant(row.detached_at) },
    };
  }
}

function notYourAccount(accountNo: string): TongfuError {
  return new TongfuError('NOT_FOUND', `no receiving account ${accountNo} is held by this bank`, { accountNo });
}

function statementAnswer(statementId: string, summary: Camt053Summary, postings: StatementAnswer['postings']): StatementAnswer {
  return {
    statementId,
    accountNo: summary.accountNo,
    camtVersion: summary.version,
    messageId: summary.messageId,
    fileStatementId: summary.statementId,
    openingBalance: formatSignedMoney(summary.openingBalance),
    closingBalance: formatSignedMoney(summary.closingBalance),
    entries: summary.entryCount,
    postings,
  };
}

/**
 * Reads a statement file through the camt.053 reader, chunk by chunk (UTF-8, strictly decoded):
 * `onPosting` sees each posting, `afterChunk` runs between chunks (where a caller may await), and
 * `seen.accountNo` is the statement's account once read, even when the file is then refused.
 */
export async function readStatement(file: { open(): ReadStream }, onPosting: (posting: Camt053Posting) => void, afterChunk?: () => Promise<void>, seen?: { accountNo?: string }): Promise<Camt053Summary> {
  const reader = new Camt053Reader(onPosting);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (chunk?: Buffer): string => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw malformed(reader.currentLine, 'the file is not UTF-8');
    }
  };
  const stream = file.open();
  try {
    for await (const chunk of stream) {
      reader.feed(decode(chunk as Buffer));
      if (afterChunk) await afterChunk();
    }
    reader.feed(decode());
    return reader.end();
  } finally {
    stream.destroy();
    if (seen !== undefined && reader.statementAccountNo !== undefined) seen.accountNo = reader.statementAccountNo;
  }
}
