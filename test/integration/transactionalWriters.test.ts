import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { insertJournalEntry } from '../../src/db/repositories/ledger';
import { unidentifiedCreditEntry } from '../../src/domain/ledger';
import { Decimal } from '../../src/domain/money';
import { recordEvent } from '../../src/services/events';
import type { ReceiptWriter } from '../../src/services/receipts';
import { buildWorld, signedAs, SignedCall, World } from '../helpers/builders';
import { paymentSucceededData } from '../helpers/eventFixtures';
import { issueNotice } from '../helpers/receipts';
import { startTestService, TestService } from '../helpers/testService';
import { bankPostingRowFor } from '../helpers/journalReferences';

/**
 * The writers every use case calls inside its own transaction (docs/ledger.md): `recordEvent`,
 * the receipt writer (issue and reverse) and the journal writer. Each takes the caller's `trx`
 * and writes nothing of its own: a transaction that rolls back leaves no row of any of them, one
 * that commits leaves every one.
 */

const START = new Date('2026-11-18T10:00:00+08:00');
const PAID_AT = new Date('2026-11-23T09:30:00+08:00');

let service: TestService;
let world: World;
let unit: SignedCall;

beforeAll(async () => {
  service = await startTestService({ businessNow: START });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
});

afterAll(async () => {
  await service.close();
});

interface Written {
  eventId: string;
  receiptNo: string;
  entryId: string;
}

/** What a use case of another capability does: one change, an event, a receipt and its reversal, an entry — all in `trx`. */
async function writeEverything(trx: Knex.Transaction, receipts: ReceiptWriter, payCode: string): Promise<Written> {
  const notice = await trx('notices').where({ pay_code: payCode }).first('id', 'unit_party_id');
  const event = await recordEvent(trx, { type: 'payment.succeeded', recipients: [{ partyId: String(notice.unit_party_id) }], data: paymentSucceededData(), occurredAt: PAID_AT });
  const receipt = await receipts.issueReceipt(trx, {
    noticeId: String(notice.id),
    payCode,
    unitCode: 'UNIT_SCJ',
    unitName: '新城区市场监督管理局',
    payerName: '乌力吉·巴特尔',
    items: [
      { itemCode: 'FEE_LICENCE', itemName: '营业执照工本费', amount: new Decimal('100.00'), lateFee: new Decimal('0.00') },
      { itemCode: 'FINE_TRAFFIC', itemName: '交通违法罚款', amount: new Decimal('200.00'), lateFee: new Decimal('18.00') },
    ],
    totalAmount: new Decimal('300.00'),
    lateFee: new Decimal('18.00'),
    paidAmount: new Decimal('318.00'),
    paidAt: PAID_AT,
    agencyCode: world.agency.code,
    agencyTxnId: `TXN-${crypto.randomBytes(6).toString('hex')}`,
    issuedAt: PAID_AT,
  });
  const reversal = await receipts.recordReversal(trx, receipt.receiptNo, { refundId: 'R-IN-TRX', amount: new Decimal('18.00'), reason: '退付滞纳金', at: PAID_AT });
  expect(reversal.recorded).toBe(true);
  // A real unidentified credit for the entry to name (a foreign key checks it), written in the same transaction.
  const postingRowId = await bankPostingRowFor(trx, { accountNo: world.fiscalAccountNo, amount: '5.00' });
  const entry = await insertJournalEntry(trx, unidentifiedCreditEntry({ bankPostingId: postingRowId, receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('5.00'), accountingDate: '2026-11-23' }), PAID_AT);
  return { eventId: event.eventId, receiptNo: receipt.receiptNo, entryId: entry.entryId };
}

async function rowsLeft(written: Written): Promise<{ events: number; receipts: number; reversals: number; entries: number; lines: number }> {
  const db = service.database.db;
  const count = async (query: Knex.QueryBuilder): Promise<number> => Number(((await query.count('* as count')) as Array<{ count: string }>)[0]?.count);
  return {
    events: await count(db('events').where({ event_id: written.eventId })),
    receipts: await count(db('receipts').where({ receipt_no: written.receiptNo })),
    reversals: await count(db('receipt_reversals').where({ receipt_no: written.receiptNo })),
    entries: await count(db('journal_entries').where({ id: written.entryId })),
    lines: await count(db('journal_lines').where({ entry_id: written.entryId })),
  };
}

describe("recordEvent, the receipt writer and the journal writer inside the caller's transaction", () => {
  it('leave nothing when the transaction rolls back', async () => {
    const payCode = await issueNotice(unit);
    const trx = await service.database.db.transaction();
    let written: Written;
    try {
      written = await writeEverything(trx, service.runtime.services.receipts, payCode);
    } finally {
      await trx.rollback();
    }
    expect(await rowsLeft(written)).toEqual({ events: 0, receipts: 0, reversals: 0, entries: 0, lines: 0 });
  });

  it('leave every row when it commits', async () => {
    const payCode = await issueNotice(unit);
    const written = await service.database.db.transaction((trx) => writeEverything(trx, service.runtime.services.receipts, payCode));
    expect(await rowsLeft(written)).toEqual({ events: 1, receipts: 1, reversals: 1, entries: 1, lines: 2 });
  });

  it('refuse to run outside a transaction', async () => {
    const db = service.database.db;
    const receipts = service.runtime.services.receipts;
    await expect(recordEvent(db as never, { type: 'payment.succeeded', recipients: [], data: paymentSucceededData(), occurredAt: PAID_AT })).rejects.toThrow(/invariant broken/);
    await expect(receipts.recordReversal(db as never, 'X', { refundId: null, amount: new Decimal('1.00'), reason: 'x', at: PAID_AT })).rejects.toThrow(/invariant broken: a receipt is reversed inside the transaction/);
    await expect(receipts.issueReceipt(db as never, {} as never)).rejects.toThrow(/invariant broken: a receipt is issued inside the transaction/);
    await expect(insertJournalEntry(db as never, unidentifiedCreditEntry({ bankPostingId: '600003', receivingAccountNo: world.fiscalAccountNo, amount: new Decimal('5.00'), accountingDate: '2026-11-23' }), PAID_AT)).rejects.toThrow(/invariant broken/);
  });
});
