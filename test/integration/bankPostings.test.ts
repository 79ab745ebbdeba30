import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { FieldCipher } from '../../src/crypto/fieldCipher';
import { insertJournalEntries, insertJournalEntry } from '../../src/db/repositories/ledger';
import { systemClock } from '../../src/domain/clock';
import { unidentifiedCreditEntry } from '../../src/domain/ledger';
import { Decimal } from '../../src/domain/money';
import type { InstructionMatcher } from '../../src/services/bankPostingInstructions';
import { BankPostingService } from '../../src/services/bankPostings';
import { verifyLedger } from '../../src/services/ledger';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { instructionRowFor } from '../helpers/journalReferences';
import { insertParty, type PartyRow } from '../helpers/partyRows';

// The posting path against the real schema: what it writes when the InstructionMatcher confirms
// (the matcher here is a stand-in for settlement's, which is wired at the merge), the batched
// journal writer, the append-only rule of bank_postings, and ledger verify's suspense check.

/**
 * The checks a stand-in matcher leaves meaningful: the entries balance and the suspense ties. (The
 * stand-in does not move its instruction, so the settlement checks are the API tests' business,
 * test/api/settlementProposals.test.ts, with settlement's real matcher.)
 */
async function postingChecksHold(db: TestDatabase['db']): Promise<boolean> {
  const verification = await verifyLedger(db);
  return verification.checks.filter((check) => ['entriesBalance', 'trialBalance', 'suspenseUnidentified'].includes(check.name)).every((check) => check.ok);
}

describe('bank postings on the real schema', () => {
  let database: TestDatabase;
  let bank: PartyRow;
  const confirmed: Array<{ instructionRowId: string; postingRowId: string; amount: string }> = [];
  /** Instruction TFS2026120200000041 (1250.00) credits FISCAL_X; nothing else is live. Its row is real (journal entries reference it). */
  let instructionRowId = '';
  const matcher: InstructionMatcher = {
    async findLiveInstructionForPosting(_trx, { instructionNo, accountNo, direction }) {
      return instructionNo === 'TFS2026120200000041' && accountNo === 'FISCAL_X' && direction === 'CREDIT' ? { id: instructionRowId, instructionNo, type: 'SETTLEMENT', status: 'EXECUTED', amount: '1250.00' } : undefined;
    },
    async confirmInstructionByPosting(_trx, { instructionRowId, postingRowId, amount }) {
      confirmed.push({ instructionRowId, postingRowId, amount: amount.toFixed(2) });
      return amount.eq('1250.00') ? 'CONFIRMED' : 'MISMATCHED';
    },
  };
  let service: BankPostingService;
  const caller = () => ({ partyId: bank.partyId, code: bank.code });
  const credit = (bankRef: string, amount: string, more: { instructionNo?: string; memo?: string } = {}) => ({ bankRef, accountNo: 'FISCAL_X', direction: 'CREDIT' as const, amount: new Decimal(amount), valueDate: '2026-12-02', ...more });

  beforeAll(async () => {
    database = await createTestDatabase();
    bank = await insertParty(database.db, { role: 'bank', publicKeys: [] });
    await insertParty(database.db, { role: 'finance', publicKeys: [] });
    await database.db.raw("INSERT INTO accounts (account_no, name, bank_code, kind, created_at, updated_at) VALUES ('FISCAL_X', 'x', ?, 'FISCAL', now(), now())", [bank.code]);
    const agency = await insertParty(database.db, { role: 'agency', publicKeys: [] });
    await database.db.raw("INSERT INTO accounts (account_no, name, bank_code, kind, created_at, updated_at) VALUES ('CLEARING_X', 'x', ?, 'CLEARING', now(), now())", [bank.code]);
    instructionRowId = await instructionRowFor(database.db, { agencyCode: agency.code, clearingAccountNo: 'CLEARING_X', accountNo: 'FISCAL_X', amount: '1250.00' });
    const fieldCipher = new FieldCipher(new Map([[1, randomBytes(16)]]), 1);
    service = new BankPostingService({ db: database.db, clocks: { business: systemClock, real: systemClock }, log: pino({ level: 'silent' }), fieldCipher, instructions: matcher });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('confirms the instruction a posting names (instructionNo, else memo): MATCHED or MISMATCHED, no suspense, no event', async () => {
    const events = async () => Number((await database.db.raw("SELECT count(*) AS n FROM events WHERE type = 'bankPosting.unidentified'")).rows[0].n);
    const before = await events();
    const matched = await service.postPosting(caller(), credit('X-1', '1250.00', { memo: '提现 TFS2026120200000041' }));
    expect(matched.posting).toEqual({ postingId: expect.any(String), bankRef: 'X-1', status: 'MATCHED', instructionNo: 'TFS2026120200000041' });
    const mismatched = await service.postPosting(caller(), credit('X-2', '1249.99', { instructionNo: 'TFS2026120200000041', memo: 'TFS2026120200000099' }));
    expect(mismatched.posting).toMatchObject({ status: 'MISMATCHED', instructionNo: 'TFS2026120200000041' });
    const unknown = await service.postPosting(caller(), credit('X-3', '10.00', { instructionNo: 'TFS2026120200000099', memo: 'TFS2026120200000041' }));
    expect(unknown.posting).toMatchObject({ status: 'UNIDENTIFIED', instructionNo: null });
    expect(confirmed.map((c) => [c.instructionRowId, c.amount])).toEqual([[instructionRowId, '1250.00'], [instructionRowId, '1249.99']]);
    const rows = await database.db('bank_postings').whereIn('bank_ref', ['X-1', 'X-2', 'X-3']).orderBy('bank_ref').select('bank_ref', 'status', 'instruction_id', 'matched_instruction_no', 'instruction_no');
    expect(rows).toEqual([
      { bank_ref: 'X-1', status: 'MATCHED', instruction_id: instructionRowId, matched_instruction_no: 'TFS2026120200000041', instruction_no: null },
      { bank_ref: 'X-2', status: 'MISMATCHED', instruction_id: instructionRowId, matched_instruction_no: 'TFS2026120200000041', instruction_no: 'TFS2026120200000041' },
      { bank_ref: 'X-3', status: 'UNIDENTIFIED', instruction_id: null, matched_instruction_no: null, instruction_no: 'TFS2026120200000099' },
    ]);
    expect(await events()).toBe(before + 1);
    // A replay answers as first answered, and does not confirm again.
    const replay = await service.postPosting(caller(), credit('X-1', '1250.00'));
    expect([replay.replayed, replay.posting]).toEqual([true, matched.posting]);
    expect(confirmed).toHaveLength(2);
    expect(await postingChecksHold(database.db)).toBe(true);
  });

  it('links an unidentified credit to a live instruction: suspense reversed, instruction confirmed, LINKED', async () => {
    const posted = await service.postPosting(caller(), credit('X-20', '1250.00', { memo: 'no reference' }));
    expect(posted.posting.status).toBe('UNIDENTIFIED');
    const rowId = String((await database.db('bank_postings').where({ bank_ref: 'X-20' }).first('id')).id);
    const link = (instructionNo: string) => database.db.transaction((trx) => service.linkUnidentified(trx, { postingRowId: rowId, instructionNo }));
    await expect(link('TFS2026120200000099')).rejects.toMatchObject({ code: 'ACTION_NOT_APPLICABLE' });
    expect(await link('TFS2026120200000041')).toEqual({ status: 'LINKED', instructionNo: 'TFS2026120200000041', outcome: 'CONFIRMED' });
    expect(confirmed[confirmed.length - 1]).toEqual({ instructionRowId, postingRowId: rowId, amount: '1250.00' });
    const stored = await database.db('bank_postings').where({ id: rowId }).first('status', 'instruction_id', 'matched_instruction_no');
    expect(stored).toEqual({ status: 'LINKED', instruction_id: instructionRowId, matched_instruction_no: 'TFS2026120200000041' });
    const reversal = await database.db.raw("SELECT r.instruction_id::text AS instruction FROM journal_entries r JOIN journal_entries o ON o.id = r.reverses_entry_id WHERE o.bank_posting_id = ? AND o.kind = 'UNIDENTIFIED_CREDIT'", [rowId]);
    expect(reversal.rows).toEqual([{ instruction: instructionRowId }]);
    await expect(link('TFS2026120200000041')).rejects.toMatchObject({ code: 'ACTION_NOT_APPLICABLE' });
    // Replays still answer what the posting was answered with.
    expect((await service.postPosting(caller(), credit('X-20', '1250.00'))).posting).toEqual(posted.posting);
    expect(await postingChecksHold(database.db)).toBe(true);
  });

  it('keeps a posting append-only but for its one resolution out of UNIDENTIFIED', async () => {
    await service.postPosting(caller(), credit('X-10', '5.00'));
    await expect(database.db('bank_postings').where({ bank_ref: 'X-10' }).update({ amount: '6.00' })).rejects.toThrow(/append-only/);
    await expect(database.db('bank_postings').where({ bank_ref: 'X-10' }).delete()).rejects.toThrow(/append-only/);
    await expect(database.db('bank_postings').where({ bank_ref: 'X-1' }).update({ status: 'LINKED' })).rejects.toThrow(/append-only/);
    await database.db('bank_postings').where({ bank_ref: 'X-10' }).update({ status: 'RETURNED', resolved_at: new Date() });
    await expect(database.db('bank_postings').where({ bank_ref: 'X-10' }).update({ status: 'LINKED', instruction_id: 7, matched_instruction_no: 'TFS2026120200000007' })).rejects.toThrow(/append-only/);
  });

  it('ledger verify finds suspense that no unidentified credit explains, and a credit not booked', async () => {
    // A RETURNED credit leaves its suspense until the return is booked (the resolution entries come with LINK/RETURN).
    let verification = await verifyLedger(database.db);
    const suspense = verification.checks.find((check) => check.name === 'suspenseUnidentified');
    expect(suspense?.ok).toBe(false);
    expect(suspense?.breaks[0]).toEqual({ subject: 'account suspense:unidentified', detail: { ledger: '15.00', unidentifiedCredits: '10.00' } });
    await database.db.raw("INSERT INTO bank_postings (posting_id, bank_party_id, bank_ref, account_no, direction, amount, value_date, status, source, created_at) VALUES ('BPforged', ?, 'X-FORGED', 'FISCAL_X', 'CREDIT', 3.00, '2026-12-02', 'UNIDENTIFIED', 'JSON', now())", [bank.partyId]);
    verification = await verifyLedger(database.db);
    expect(verification.checks.find((check) => check.name === 'suspenseUnidentified')?.breaks).toContainEqual({ subject: 'bank posting BPforged', detail: { amount: '3.00', entries: 0, booked: '0' } });
  });

  it('writes a batch of entries as the single writer does, and answers a retry with the entries already there', async () => {
    const ids = (await database.db.raw("INSERT INTO bank_postings (posting_id, bank_party_id, bank_ref, account_no, direction, amount, value_date, status, source, created_at) SELECT 'BPbatch' || g, ?, 'X-B' || g, 'FISCAL_X', 'CREDIT', g, '2026-12-02', 'UNIDENTIFIED', 'JSON', now() FROM generate_series(1, 3) g RETURNING id::text AS id", [bank.partyId])).rows.map((r: { id: string }) => r.id) as string[];
    const entries = ids.map((id, index) => unidentifiedCreditEntry({ bankPostingId: id, receivingAccountNo: 'FISCAL_X', amount: new Decimal(index + 1), accountingDate: '2026-12-02' }));
    const first = await database.db.transaction(async (trx) => {
      const single = await insertJournalEntry(trx, entries[0]!, new Date());
      const batch = await insertJournalEntries(trx, entries, new Date());
      return { single, batch };
    });
    expect(first.batch[0]).toEqual({ entryId: first.single.entryId, written: false });
    expect(first.batch.slice(1).map((w) => w.written)).toEqual([true, true]);
    const again = await database.db.transaction((trx) => insertJournalEntries(trx, entries, new Date()));
    expect(again).toEqual(first.batch.map((w) => ({ entryId: w.entryId, written: false })));
    const lines = await database.db.raw('SELECT e.bank_posting_id::text AS posting, l.line_no, l.account, l.side, l.amount::text AS amount FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id WHERE e.bank_posting_id = ANY(?::bigint[]) ORDER BY e.bank_posting_id, l.line_no', [ids]);
    expect(lines.rows).toEqual(ids.flatMap((id, index) => [
      { posting: id, line_no: 1, account: 'receiving:FISCAL_X', side: 'DEBIT', amount: `${index + 1}.00` },
      { posting: id, line_no: 2, account: 'suspense:unidentified', side: 'CREDIT', amount: `${index + 1}.00` },
    ]));
  });
});
