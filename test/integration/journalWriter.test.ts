import type { Knex } from 'knex';
import type { Db } from '../../src/db/database';
import { findJournalEntry, insertJournalEntry } from '../../src/db/repositories/ledger';
import { shanghaiDate } from '../../src/domain/businessDate';
import {
  agencyRefundConfirmedEntry,
  bankRefundConfirmedEntry,
  type JournalEntry,
  mismatchDifferenceEntry,
  reversalEntry,
  settlementConfirmedEntry,
  settlementExecutedEntry,
  succeededPaymentEntry,
  unappliedPaymentEntry,
  unidentifiedCreditEntry,
  writeOffEntry,
} from '../../src/domain/ledger';
import { Decimal, formatMoney } from '../../src/domain/money';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { discrepancyRowId, insertDiscrepancy } from '../helpers/discrepancyRows';
import { expectLedgerVerified, postingBody, unknownPayCode } from '../helpers/payments';
import { startTestService, TestService } from '../helpers/testService';
import { bankPostingRowFor, instructionRowFor } from '../helpers/journalReferences';

/**
 * The journal writer (docs/ledger.md): one repository function writes any entry the domain
 * builds, inside the caller's transaction; the payment posting's folded statement writes exactly
 * the rows the general writer writes for the same payment; the database keeps each entry's
 * cause, writes it once, and never lets it be edited.
 */

const ISSUED_AT = new Date('2026-11-20T09:00:00+08:00');
/** Three days after the due date: every item with a late fee has earned one. */
const PAID_AT = new Date('2026-11-23T10:00:00+08:00');

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;
let db: Db;

/** Runs `work` in a transaction that is then rolled back, and answers what it returned. */
async function rolledBack<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const trx = await db.transaction();
  try {
    return await work(trx);
  } finally {
    await trx.rollback();
  }
}

function lines(entry: Pick<JournalEntry, 'lines'>): string[] {
  return entry.lines.map((line) => `${line.side} ${line.account} ${formatMoney(line.amount)}`);
}

/** Every column of an entry and of its lines, but the ids that name the rows themselves. */
async function entryRows(via: Knex | Knex.Transaction, entryId: string): Promise<{ entry: Record<string, unknown>; lines: Array<Record<string, unknown>> }> {
  const { id: _id, ...entry } = await via('journal_entries').where({ id: entryId }).first();
  const rows = await via('journal_lines').where({ entry_id: entryId }).orderBy('line_no');
  return { entry, lines: rows.map(({ entry_id: _entryId, ...line }) => line) };
}

interface Posted {
  payment: Record<string, any>;
  postingEntryId: string;
}

async function post(body: Record<string, unknown>, status: string): Promise<Posted> {
  const response = await agency('POST', '/v1/agency/payments', body);
  expect(response.status).toBe(201);
  expect(response.body.status).toBe(status);
  const payment = await db('payments').where({ payment_id: response.body.paymentId }).first();
  const entries = await db('journal_entries').where({ payment_id: payment.id }).select('id');
  expect(entries).toHaveLength(1);
  return { payment, postingEntryId: (entries[0] as { id: string }).id };
}

let succeeded: Posted;
let unapplied: Posted;

beforeAll(async () => {
  service = await startTestService({ businessNow: ISSUED_AT });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
  db = service.database.db;

  // A notice of four items on two receiving accounts, three of them earning late fees.
  const issued = await unit('POST', '/v1/unit/notices', {
    bizRef: 'JOURNAL-WRITER-1',
    noticeType: 2,
    payer: { name: '其木格' },
    items: [
      { itemCode: ITEMS.fine, amount: '200.00' },
      { itemCode: ITEMS.sharedFee, amount: '100.00' },
      { itemCode: ITEMS.fixedFee, amount: '50.00' },
      { itemCode: ITEMS.fine, amount: '30.00' },
    ],
    dueDate: '2026-11-20',
  });
  expect(issued.status).toBe(201);
  service.clocks.business.set(PAID_AT);
  const verified = await agency('GET', `/v1/agency/notices/${issued.body.payCode}`);
  succeeded = await post(postingBody({ payCode: issued.body.payCode, amount: verified.body.amountDue, paidAt: PAID_AT.toISOString() }), 'SUCCEEDED');
  unapplied = await post(postingBody({ payCode: unknownPayCode(), amount: '12.34', paidAt: PAID_AT.toISOString(), fundsCaptured: true }), 'UNAPPLIED');
});

afterAll(async () => {
  await service.close();
});

describe('the folded posting statement and the general writer write the same rows', () => {
  it('SUCCEEDED with several items and late fees', async () => {
    const { payment } = succeeded;
    const items = await db('notice_items').where({ notice_id: payment.notice_id }).orderBy('position');
    // The premise: several items, on more than one account, several with a late fee.
    expect(items.filter((item) => new Decimal(item.late_fee_paid).gt(0)).length).toBeGreaterThanOrEqual(3);
    expect(new Set(items.map((item) => item.receiving_account_no)).size).toBe(2);

    // The same payment, built by the same builder from what is stored, and written by the writer.
    const now = service.clocks.business.now();
    const entry = succeededPaymentEntry({
      paymentId: String(payment.id),
      agencyCode: payment.agency_code,
      amount: new Decimal(payment.amount),
      items: items.map((item) => ({ receivingAccountNo: item.receiving_account_no, amount: new Decimal(item.amount), lateFee: new Decimal(item.late_fee_paid) })),
      accountingDate: shanghaiDate(now),
    });
    const { folded, general } = await rolledBack(async (trx) => {
      const written = await insertJournalEntry(trx, entry, now);
      expect(written.written).toBe(true);
      return { folded: await entryRows(trx, succeeded.postingEntryId), general: await entryRows(trx, written.entryId) };
    });
    expect(folded.lines).toHaveLength(5);
    expect(general).toEqual(folded);
  });

  it('UNAPPLIED', async () => {
    const { payment } = unapplied;
    const now = service.clocks.business.now();
    const entry = unappliedPaymentEntry({ paymentId: String(payment.id), agencyCode: payment.agency_code, amount: new Decimal(payment.amount), accountingDate: shanghaiDate(now) });
    const { folded, general } = await rolledBack(async (trx) => {
      const written = await insertJournalEntry(trx, entry, now);
      return { folded: await entryRows(trx, unapplied.postingEntryId), general: await entryRows(trx, written.entryId) };
    });
    expect(folded.lines).toHaveLength(2);
    expect(general).toEqual(folded);
    await expectLedgerVerified(db);
  });
});

describe('the general writer', () => {
  const DATE = '2026-11-23';

  it('writes every kind with its references, in the caller’s transaction, and reads each back as built', async () => {
    const refund = await db('refunds').where({ payment_id: unapplied.payment.id }).first('id');
    const original = await findJournalEntry(db, succeeded.postingEntryId);
    expect(original).toBeDefined();
    const items = [{ amount: new Decimal('10.00'), incomeSortCode: '1030402', budgetLevel: 0, shares: [{ budgetLevel: 2, ratio: new Decimal('0.4') }, { budgetLevel: 3, ratio: new Decimal('0.6') }] }];
    // Discrepancy references are checked by a foreign key (migration 20261202000100): real rows, OPEN.
    const [d0, d1, d2, d3] = await Promise.all(
      ['AROUND-0', 'AROUND-1', 'AROUND-2', 'AROUND-3'].map(async (agencyTxnId) => discrepancyRowId(db, await insertDiscrepancy(db, { agencyCode: world.agency.code, businessDate: DATE, type: 'SHORTAGE', agencyTxnId }))),
    ) as [string, string, string, string];
    const entries: JournalEntry[] = [];
    const read = await rolledBack(async (trx) => {
      // Instructions and bank postings are checked by foreign keys: real rows, rolled back with the entries.
      const instructionId = await instructionRowFor(trx, { agencyCode: world.agency.code, clearingAccountNo: world.clearingAccountNo, accountNo: world.fiscalAccountNo, amount: '10.00' });
      const [creditId, refundCreditId] = [await bankPostingRowFor(trx, { accountNo: world.fiscalAccountNo, amount: '5.00' }), await bankPostingRowFor(trx, { accountNo: world.fiscalAccountNo, amount: '10.00' })];
      entries.push(
      reversalEntry({ original: original!, accountingDate: DATE, cause: { discrepancyId: d0 } }),
      settlementExecutedEntry({ instructionId, agencyCode: world.agency.code, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('10.00'), accountingDate: DATE }),
      settlementConfirmedEntry({ instructionId, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('10.00'), items, accountingDate: DATE }).entry,
      agencyRefundConfirmedEntry({ refundId: String(refund.id), agencyCode: world.agency.code, amount: new Decimal('12.34'), unapplied: true, accountingDate: DATE }),
      bankRefundConfirmedEntry({ refundId: String(refund.id), bankPostingId: refundCreditId, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('10.00'), items, accountingDate: DATE }).entry,
      unidentifiedCreditEntry({ bankPostingId: creditId, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('5.00'), accountingDate: DATE }),
      writeOffEntry({ discrepancyId: d1, agencyCode: world.agency.code, shortfall: [{ receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('1.00') }], accountingDate: DATE }),
      mismatchDifferenceEntry({ discrepancyId: d2, agencyCode: world.agency.code, platformAmount: new Decimal('1.00'), statementAmount: new Decimal('2.00'), accountingDate: DATE }),
      mismatchDifferenceEntry({ discrepancyId: d3, agencyCode: world.agency.code, platformAmount: new Decimal('2.00'), statementAmount: new Decimal('1.00'), accountingDate: DATE }),
      );
      const stored = [];
      for (const entry of entries) {
        const written = await insertJournalEntry(trx, entry, PAID_AT);
        expect(written.written).toBe(true);
        stored.push(await findJournalEntry(trx, written.entryId));
      }
      return stored;
    });
    expect(read.map((entry) => entry?.kind)).toEqual(['REVERSAL', 'SETTLEMENT_EXECUTED', 'SETTLEMENT_CONFIRMED', 'AGENCY_REFUND_CONFIRMED', 'BANK_REFUND_CONFIRMED', 'UNIDENTIFIED_CREDIT', 'WRITE_OFF', 'MISMATCH_SURPLUS', 'MISMATCH_DEFICIT']);
    read.forEach((stored, index) => {
      const built = entries[index] as JournalEntry;
      expect({ accountingDate: stored?.accountingDate, references: stored?.references, lines: lines(stored!) }).toEqual({ accountingDate: built.accountingDate, references: built.references, lines: lines(built) });
    });
    expect(read[0]?.references).toEqual({ paymentId: String(succeeded.payment.id), discrepancyId: d0, reversesEntryId: succeeded.postingEntryId });
    // Rolled back: nothing stayed.
    expect(await db('journal_entries').whereNot({ kind: 'PAYMENT_SUCCEEDED' }).whereNot({ kind: 'PAYMENT_UNAPPLIED' }).count('* as count')).toEqual([{ count: '0' }]);
  });

  it('writes a cause’s entry once: a retry answers the entry already there; other lines for the same cause crash', async () => {
    await rolledBack(async (trx) => {
      const postingId = await bankPostingRowFor(trx, { accountNo: world.fiscalAccountNo, amount: '5.00' });
      const entry = unidentifiedCreditEntry({ bankPostingId: postingId, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('5.00'), accountingDate: DATE });
      const first = await insertJournalEntry(trx, entry, PAID_AT);
      const again = await insertJournalEntry(trx, { ...entry, accountingDate: '2026-11-24' }, PAID_AT);
      expect(again).toEqual({ entryId: first.entryId, written: false });
      const other = unidentifiedCreditEntry({ bankPostingId: postingId, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('6.00'), accountingDate: DATE });
      await expect(insertJournalEntry(trx, other, PAID_AT)).rejects.toThrow(/invariant broken: bankPostingId \d+ already has a UNIDENTIFIED_CREDIT entry \(\d+\) with other lines/);
    });
    await rolledBack(async (trx) => {
      const original = (await findJournalEntry(trx, unapplied.postingEntryId))!;
      const mirror = reversalEntry({ original, accountingDate: DATE });
      expect((await insertJournalEntry(trx, mirror, PAID_AT)).written).toBe(true);
      expect((await insertJournalEntry(trx, mirror, PAID_AT)).written).toBe(false);
      expect(await trx('journal_entries').where({ reverses_entry_id: unapplied.postingEntryId }).count('* as count')).toEqual([{ count: '1' }]);
    });
  });

  it('asserts before the insert: an unbalanced entry, a non-positive line or a missing reference throws the invariant error, and nothing is written', async () => {
    const good = unidentifiedCreditEntry({ bankPostingId: '700020', receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('5.00'), accountingDate: DATE });
    const broken: JournalEntry[] = [
      { ...good, lines: [good.lines[0]!, { ...good.lines[1]!, amount: new Decimal('4.99') }] },
      { ...good, lines: good.lines.map((line) => ({ ...line, amount: new Decimal('0') })) },
      { ...good, lines: good.lines.map((line) => ({ ...line, amount: new Decimal('-5.00') })) },
      { ...good, references: {} },
    ];
    const before = await entryCount();
    for (const entry of broken) {
      await expect(db.transaction((trx) => insertJournalEntry(trx, entry, PAID_AT))).rejects.toThrow(/^invariant broken/);
    }
    await expect(insertJournalEntry(db as never, good, PAID_AT)).rejects.toThrow(/invariant broken: a journal entry is written inside the transaction/);
    expect(await entryCount()).toBe(before);
  });
});

async function entryCount(): Promise<number> {
  const [row] = await db('journal_entries').count<Array<{ count: string }>>('* as count');
  return Number(row?.count);
}

describe('the database keeps each entry’s cause', () => {
  /** An entry written around the code: straight SQL, no builder, no assertion. */
  function insertAround(columns: Record<string, unknown>): Promise<unknown> {
    return db('journal_entries').insert({ accounting_date: '2026-11-23', created_at: PAID_AT, ...columns });
  }

  it.each([
    ['PAYMENT_SUCCEEDED', 'payment_id'],
    ['PAYMENT_UNAPPLIED', 'payment_id'],
    ['REVERSAL', 'reverses_entry_id'],
    ['SETTLEMENT_EXECUTED', 'instruction_id'],
    ['SETTLEMENT_CONFIRMED', 'instruction_id'],
    ['AGENCY_REFUND_CONFIRMED', 'refund_id'],
    ['BANK_REFUND_CONFIRMED', 'refund_id'],
    ['UNIDENTIFIED_CREDIT', 'bank_posting_id'],
    ['WRITE_OFF', 'discrepancy_id'],
    ['MISMATCH_SURPLUS', 'discrepancy_id'],
    ['MISMATCH_DEFICIT', 'discrepancy_id'],
  ])('refuses a %s entry without its %s', async (kind, column) => {
    // Every other reference given: only the required one is missing.
    const references: Record<string, unknown> = { payment_id: succeeded.payment.id, reverses_entry_id: succeeded.postingEntryId, instruction_id: 1, refund_id: (await db('refunds').first('id')).id, bank_posting_id: 1, discrepancy_id: 1 };
    delete references[column];
    await expect(insertAround({ kind, ...references })).rejects.toMatchObject({ code: '23514', constraint: 'journal_entries_kind_reference' });
  });

  it('refuses an unknown kind, and references to a payment or a refund that do not exist', async () => {
    await expect(insertAround({ kind: 'MANUAL_ADJUSTMENT', discrepancy_id: 1 })).rejects.toMatchObject({ code: '23514', constraint: 'journal_entries_kind_reference' });
    await expect(insertAround({ kind: 'AGENCY_REFUND_CONFIRMED', refund_id: 999_999_999 })).rejects.toMatchObject({ code: '23503' });
    await expect(insertAround({ kind: 'PAYMENT_UNAPPLIED', payment_id: 999_999_999 })).rejects.toMatchObject({ code: '23503' });
  });

  it('refuses a second entry for the same cause, and a second reversal of an entry', async () => {
    await rolledBack(async (trx) => {
      const instructionId = await instructionRowFor(trx, { agencyCode: world.agency.code, clearingAccountNo: world.clearingAccountNo, accountNo: world.fiscalAccountNo, amount: '10.00' });
      await trx('journal_entries').insert({ kind: 'SETTLEMENT_EXECUTED', instruction_id: instructionId, accounting_date: DATE_ANY, created_at: PAID_AT });
      await trx.raw('SAVEPOINT again');
      await expect(trx('journal_entries').insert({ kind: 'SETTLEMENT_EXECUTED', instruction_id: instructionId, accounting_date: DATE_ANY, created_at: PAID_AT })).rejects.toMatchObject({ code: '23505', constraint: 'journal_entries_once_per_instruction' });
      await trx.raw('ROLLBACK TO SAVEPOINT again');
      // Confirmed is another kind of entry for the same instruction.
      await trx('journal_entries').insert({ kind: 'SETTLEMENT_CONFIRMED', instruction_id: instructionId, accounting_date: DATE_ANY, created_at: PAID_AT });
      await trx('journal_entries').insert({ kind: 'REVERSAL', reverses_entry_id: succeeded.postingEntryId, accounting_date: DATE_ANY, created_at: PAID_AT });
      await expect(trx('journal_entries').insert({ kind: 'REVERSAL', reverses_entry_id: succeeded.postingEntryId, accounting_date: DATE_ANY, created_at: PAID_AT })).rejects.toMatchObject({ code: '23505', constraint: 'journal_entries_one_reversal' });
    });
  });

  it('keeps entries append-only, their new references included', async () => {
    await expect(db.raw('UPDATE journal_entries SET discrepancy_id = 1')).rejects.toMatchObject({ code: '23001' });
    await expect(db.raw('UPDATE journal_entries SET refund_id = NULL')).rejects.toMatchObject({ code: '23001' });
    await expectLedgerVerified(db);
  });
});

const DATE_ANY = '2026-11-23';
