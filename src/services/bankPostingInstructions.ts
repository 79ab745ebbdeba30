import type { Knex } from 'knex';
import type { Decimal } from '../domain/money';
import type { InstructionOutcome, PostingDirection } from '../domain/bankPostings';
import * as settlement from './instructions';

/**
 * What bank postings need of settlement instructions (docs/settlement.md §1–§2;
 * contracts/decisions/0135-bank-postings.md): find the live instruction a posting names, and
 * confirm it with the posting. Settlement (src/services/instructions.ts) implements it; the
 * posting service takes it injected, so the two are built and tested apart and wired in
 * src/services/index.ts.
 */

/** A live instruction, as the matcher finds it. */
export interface LiveInstruction {
  /** Its row id. */
  id: string;
  instructionNo: string;
  type: string;
  status: string;
  amount: Decimal | string;
}

export interface InstructionMatcher {
  /**
   * The live instruction numbered `instructionNo` whose credit (for a CREDIT) or debit (for a
   * DEBIT) account is `accountNo`, and which has taken no posting yet; undefined when there is
   * none. It runs in the posting's transaction and must lock the row it answers (FOR UPDATE), so
   * that the confirmation that follows cannot race another posting for it.
   */
  findLiveInstructionForPosting(trx: Knex.Transaction, input: { instructionNo: string; accountNo: string; direction: PostingDirection }): Promise<LiveInstruction | undefined>;
  /**
   * Confirms the instruction with the posting (its state, journal entries and events, in the
   * posting's transaction): CONFIRMED for the same amount, MISMATCHED for another.
   */
  confirmInstructionByPosting(trx: Knex.Transaction, input: { instructionRowId: string; postingRowId: string; amount: Decimal; at: Date }): Promise<InstructionOutcome>;
}

/** The matcher before settlement exists: no instruction is live, so every posting is UNIDENTIFIED. */
export const NO_LIVE_INSTRUCTIONS: InstructionMatcher = {
  async findLiveInstructionForPosting() {
    return undefined;
  },
  async confirmInstructionByPosting() {
    throw new Error('invariant broken: no instruction was found, so none is confirmed');
  },
};

/** Settlement's instructions (src/services/instructions.ts) as the matcher bank postings use. */
export const SETTLEMENT_INSTRUCTIONS: InstructionMatcher = {
  async findLiveInstructionForPosting(trx, input) {
    const row = await settlement.findLiveInstructionForPosting(trx, input);
    return row === undefined ? undefined : { id: row.id, instructionNo: row.instruction_no, type: row.type, status: row.status, amount: row.amount };
  },
  confirmInstructionByPosting: (trx, input) => settlement.confirmInstructionByPosting(trx, input),
};
