import { canonicalJson } from '../../src/crypto/canonicalJson';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { createDb, Db } from '../../src/db/database';
import { drawReceiptSerials } from '../../src/db/repositories/receipts';
import { Decimal } from '../../src/domain/money';
import { formatReceiptNo, RECEIPT_NO_PATTERN } from '../../src/domain/receipt';
import { createPlatformSigner, PlatformKeyService } from '../../src/services/platformKeys';
import { insertReceipt, ReceiptSerialAllocator, ReceiptService, receiptInsert, recordReversal } from '../../src/services/receipts';
import { buildWorld, signedAs, SignedCall, World } from '../helpers/builders';
import { issueNotice, payNotice, payNoticeIn, receiptDependencies, storedReceiptBytes } from '../helpers/receipts';
import { startTestService, TestService } from '../helpers/testService';
import { smCryptoSm2 } from '../unit/crypto/smCrypto';

// E-receipts against PostgreSQL (docs/lifecycle.md §6): numbering under concurrency, the signed bytes,
// folding the INSERT into a payment's statement, append-only storage, and reversals (冲红).

/** Before the due date of the notices these tests issue (2026-11-20). */
const START = new Date('2026-11-18T10:00:00+08:00');
/** Three days after the due date: the fine of 200.00 at 0.03 a day owes 18.00. */
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

function services() {
  return service.runtime.services;
}


describe('receipt serials', () => {
  let otherPool: Db;

  beforeAll(() => {
    otherPool = createDb({ connectionString: service.database.connectionString, poolMax: 5 });
  });

  afterAll(async () => {
    await otherPool.destroy();
  });

  it('never collide between allocators on different connections, whatever their block sizes', async () => {
    // Two allocators stand for two processes: each has its own pool (its own PostgreSQL
    // sessions) and its own blocks; small, different block sizes force hundreds of draws that
    // interleave in the sequence.
    const first = new ReceiptSerialAllocator(7);
    const second = new ReceiptSerialAllocator(13);
    const takesEach = 1500;
    const [a, b] = await Promise.all([
      Promise.all(Array.from({ length: takesEach }, () => first.take(service.database.db, '15040126'))),
      Promise.all(Array.from({ length: takesEach }, () => second.take(otherPool, '15040126'))),
    ]);
    const all = [...a, ...b];
    expect(new Set(all).size).toBe(2 * takesEach);
    for (const serial of all) expect(formatReceiptNo('15040126', serial)).toMatch(RECEIPT_NO_PATTERN);
  });

  it('numbers each receipt code from its own sequence', async () => {
    const [serial26] = await drawReceiptSerials(service.database.db, '15040126', 1);
    const [serial99] = await drawReceiptSerials(service.database.db, '15040199', 1);
    expect(serial99).toBe('1'); // nothing has used the 2099 code
    expect(Number(serial26)).toBeGreaterThan(1);
  });

  it('draws one block for many concurrent takes in one process', async () => {
    const allocator = new ReceiptSerialAllocator(50);
    const before = await drawReceiptSerials(service.database.db, '15040125', 1);
    const serials = await Promise.all(Array.from({ length: 50 }, () => allocator.take(service.database.db, '15040125')));
    const after = await drawReceiptSerials(service.database.db, '15040125', 1);
    expect(new Set(serials).size).toBe(50);
    // One draw of 50 between the two single draws: the sequence moved by exactly 51.
    expect(Number(after[0]) - Number(before[0])).toBe(51);
  });

  it('reserves serials ahead: the takes that follow draw nothing, and the block\'s rest is taken first, with no gap', async () => {
    const allocator = new ReceiptSerialAllocator(4);
    const code = '15040123';
    const first = Number(await allocator.take(service.database.db, code)); // a block of 4: 3 held
    await allocator.reserve(service.database.db, code, 3); // enough held: no draw
    await allocator.reserve(service.database.db, code, 10); // 3 held: one draw of 7
    const [probe] = await drawReceiptSerials(service.database.db, code, 1);
    expect(Number(probe)).toBe(first + 11);
    await service.database.db
      .transaction(async (broken) => {
        // A connection that can run no statement: every take below is answered from the reserve.
        await broken.raw('SELECT 1/0').catch(() => undefined);
        const taken = await Promise.all(Array.from({ length: 10 }, () => allocator.take(broken, code)));
        expect(taken.map(Number)).toEqual(Array.from({ length: 10 }, (_, index) => first + 1 + index));
        await expect(allocator.take(broken, code)).rejects.toThrow(/current transaction is aborted/);
        throw new Error('roll back');
      })
      .catch((error: Error) => expect(error.message).toBe('roll back'));
  });

  it('lets a take go on through its own connection when the draw it waited for fails', async () => {
    const allocator = new ReceiptSerialAllocator(5);
    await service.database.db
      .transaction(async (broken) => {
        // An aborted transaction: every statement in it now fails.
        await broken.raw('SELECT 1/0').catch(() => undefined);
        const failing = allocator.take(broken, '15040124');
        const healthy = allocator.take(service.database.db, '15040124');
        await expect(failing).rejects.toThrow(/current transaction is aborted/);
        await expect(healthy).resolves.toMatch(/^[1-9][0-9]*$/);
        throw new Error('roll back');
      })
      .catch((error: Error) => expect(error.message).toBe('roll back'));
  });
});

describe('issuing a receipt', () => {
  it('stores exactly the signed canonical bytes, and the signature verifies with sm-crypto', async () => {
    const payCode = await issueNotice(unit);
    const prepared = await payNotice(services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code, agencyTxnId: 'TXN-SIGNED-1' });
    expect(prepared.content).toEqual({
      receiptNo: prepared.receiptNo,
      checkCode: prepared.checkCode,
      payCode,
      unitCode: 'UNIT_SCJ',
      unitName: '新城区市场监督管理局',
      payerName: '乌力吉·巴特尔',
      items: [
        { itemCode: 'FEE_LICENCE', itemName: '营业执照工本费', amount: '100.00', lateFee: '0.00' },
        { itemCode: 'FINE_TRAFFIC', itemName: '交通违法罚款', amount: '200.00', lateFee: '18.00' },
      ],
      totalAmount: '300.00',
      lateFee: '18.00',
      paidAmount: '318.00',
      paidAt: '2026-11-23T09:30:00+08:00',
      agencyCode: world.agency.code,
      agencyTxnId: 'TXN-SIGNED-1',
      issuedAt: '2026-11-18T10:00:00+08:00',
    });
    expect(prepared.receiptNo).toMatch(/^15040126[0-9]{10}$/);
    expect(prepared.qrText).toBe(`http://tongfu.test/v1/public/receipts/${prepared.receiptNo}?checkCode=${prepared.checkCode}`);

    const stored = await storedReceiptBytes(services(), prepared.receiptNo);
    expect(stored.equals(Buffer.from(canonicalJson(prepared.content), 'utf8'))).toBe(true);
    expect(stored.toString('utf8')).toContain('"payerName":"乌力吉·巴特尔"'); // UTF-8, not \u escapes

    const publicKeyHex = services().platformSigner.publicKeyHex;
    const signatureHex = prepared.signature.toString('hex');
    expect(smCryptoSm2.doVerifySignature(stored.toString('utf8'), signatureHex, publicKeyHex, { hash: true, der: true })).toBe(true);
    // One character changed anywhere in the content breaks it.
    const forged = stored.toString('utf8').replace('"paidAmount":"318.00"', '"paidAmount":"518.00"');
    expect(forged).not.toBe(stored.toString('utf8'));
    expect(smCryptoSm2.doVerifySignature(forged, signatureHex, publicKeyHex, { hash: true, der: true })).toBe(false);
  });

  it('folds into the payment statement as a CTE: one round trip for notice and receipt', async () => {
    // The way the payment posting folds it: the notice update and the receipt insert in one
    // statement.
    const other = await issueNotice(unit);
    const result = await services().deps.db.transaction(async (trx) => {
      const row = await trx('notices').where({ pay_code: other }).first('id');
      const prepared = await services().receipts.prepareReceipt(
        {
          noticeId: String(row.id),
          payCode: other,
          unitCode: 'UNIT_SCJ',
          unitName: '新城区市场监督管理局',
          payerName: '乌力吉·巴特尔',
          items: [
            { itemCode: 'FEE_LICENCE', itemName: '营业执照工本费', amount: new Decimal('100.00'), lateFee: new Decimal('0') },
            { itemCode: 'FINE_TRAFFIC', itemName: '交通违法罚款', amount: new Decimal('200.00'), lateFee: new Decimal('18.00') },
          ],
          totalAmount: new Decimal('300.00'),
          lateFee: new Decimal('18.00'),
          paidAmount: new Decimal('318.00'),
          paidAt: PAID_AT,
          agencyCode: world.agency.code,
          agencyTxnId: 'TXN-FOLDED-1',
        },
        trx,
      );
      const { sql, bindings } = receiptInsert(prepared);
      const folded = await trx.raw<{ rows: Array<{ receipt_no: string; notice_id: string }> }>(
        `WITH notice AS (
           UPDATE notices SET status = 'PAID', paid_at = ?::timestamptz, paid_amount = ?::numeric, late_fee_paid = ?::numeric, receipt_no = ?, updated_at = ?::timestamptz
            WHERE id = ?::bigint RETURNING id
         ), receipt AS (${sql})
         SELECT receipt.receipt_no, notice.id::text AS notice_id FROM receipt, notice`,
        [PAID_AT, '318.00', '18.00', prepared.receiptNo, PAID_AT, row.id, ...bindings],
      );
      return { folded: folded.rows[0], prepared };
    });
    expect(result.folded).toEqual({ receipt_no: result.prepared.receiptNo, notice_id: expect.any(String) });
    const stored = await storedReceiptBytes(services(), result.prepared.receiptNo);
    expect(stored.equals(result.prepared.signedBytes)).toBe(true);
  });

  it('issues one receipt per payment: the same agencyTxnId again is refused by the database', async () => {
    const payCode = await issueNotice(unit);
    const prepared = await payNotice(services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code, agencyTxnId: 'TXN-ONCE' });
    const again = await services().receipts.prepareReceipt({
      noticeId: (await services().deps.db('receipts').where({ receipt_no: prepared.receiptNo }).first('notice_id')).notice_id,
      payCode,
      unitCode: 'UNIT_SCJ',
      unitName: 'x',
      payerName: 'x',
      items: [{ itemCode: 'FEE_LICENCE', itemName: 'x', amount: new Decimal('1.00'), lateFee: new Decimal('0') }],
      totalAmount: new Decimal('1.00'),
      lateFee: new Decimal('0'),
      paidAmount: new Decimal('1.00'),
      paidAt: PAID_AT,
      agencyCode: world.agency.code,
      agencyTxnId: 'TXN-ONCE',
    });
    await expect(services().deps.db.transaction((trx) => insertReceipt(trx, again))).rejects.toThrow(/receipts_payment_key/);
  });

  it('crashes rather than sign a receipt whose figures do not add up', async () => {
    const input = {
      noticeId: '1',
      payCode: '15010226100000000000',
      unitCode: 'U',
      unitName: 'u',
      payerName: 'p',
      items: [{ itemCode: 'I', itemName: 'i', amount: new Decimal('100.00'), lateFee: new Decimal('3.00') }],
      totalAmount: new Decimal('100.00'),
      lateFee: new Decimal('3.00'),
      paidAmount: new Decimal('100.00'),
      paidAt: PAID_AT,
      agencyCode: 'A',
      agencyTxnId: 'T',
    };
    await expect(services().receipts.prepareReceipt(input)).rejects.toThrow(/invariant broken: .*paidAmount is totalAmount \+ lateFee/);
    await expect(services().receipts.prepareReceipt({ ...input, paidAmount: new Decimal('103.00'), totalAmount: new Decimal('99.00') })).rejects.toThrow(/add up to totalAmount/);
  });

  it('never reuses the number of a receipt whose payment rolled back', async () => {
    const payCode = await issueNotice(unit);
    let rolledBack = '';
    await services()
      .deps.db.transaction(async (trx) => {
        rolledBack = (await payNoticeIn(trx, services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code })).receiptNo;
        throw new Error('the payment failed later');
      })
      .catch(() => undefined);
    expect(await services().deps.db('receipts').where({ receipt_no: rolledBack }).first()).toBeUndefined();
    const paid = await payNotice(services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code });
    expect(paid.receiptNo).not.toBe(rolledBack);
  });

  it('keeps receipts and reversals append-only: UPDATE, DELETE and TRUNCATE are refused', async () => {
    const payCode = await issueNotice(unit);
    const prepared = await payNotice(services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code });
    const db = services().deps.db;
    await db.transaction((trx) => recordReversal(trx, prepared.receiptNo, { refundId: 'R-APPEND', amount: new Decimal('1.00'), reason: '测试', at: PAID_AT }));
    await expect(db('receipts').where({ receipt_no: prepared.receiptNo }).update({ check_code: 'AAAAAA' })).rejects.toThrow(/append-only/);
    await expect(db('receipts').where({ receipt_no: prepared.receiptNo }).delete()).rejects.toThrow(/append-only/);
    await expect(db.raw('TRUNCATE receipts CASCADE')).rejects.toThrow(/append-only/);
    await expect(db('receipt_reversals').where({ receipt_no: prepared.receiptNo }).update({ amount: '2.00' })).rejects.toThrow(/append-only/);
    await expect(db('receipt_reversals').where({ receipt_no: prepared.receiptNo }).delete()).rejects.toThrow(/append-only/);
    await expect(db.raw('TRUNCATE receipt_reversals')).rejects.toThrow(/append-only/);
    expect((await storedReceiptBytes(services(), prepared.receiptNo)).equals(prepared.signedBytes)).toBe(true);
  });

  it('is issued by every instance without collisions', async () => {
    // Two receipt services with allocators of their own, as two processes have, posting at once.
    const second = new ReceiptService(receiptDependencies(service));
    const payCodes = await Promise.all(Array.from({ length: 24 }, () => issueNotice(unit)));
    const receipts = await Promise.all(
      payCodes.map((payCode, index) =>
        services().deps.db.transaction((trx) => payNoticeIn(trx, services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code }, index % 2 === 0 ? services().receipts : second)),
      ),
    );
    expect(new Set(receipts.map((receipt) => receipt.receiptNo)).size).toBe(payCodes.length);
  });
});

describe('reversals (冲红)', () => {
  async function paidReceipt(): Promise<string> {
    const payCode = await issueNotice(unit);
    return (await payNotice(services(), payCode, { paidAt: PAID_AT, agencyCode: world.agency.code })).receiptNo; // 318.00
  }

  function reverse(receiptNo: string, refundId: string | null, amount: string) {
    return services().deps.db.transaction((trx) => recordReversal(trx, receiptNo, { refundId, amount: new Decimal(amount), reason: '退付', at: PAID_AT }));
  }

  it('derives the status from the reversals against the paid amount, and a retry adds nothing', async () => {
    const receiptNo = await paidReceipt();
    const first = await reverse(receiptNo, 'R-1', '18.00');
    expect(first).toEqual({ recorded: true, status: 'PARTIALLY_REVERSED', reversedAmount: new Decimal('18.00') });
    const retry = await reverse(receiptNo, 'R-1', '18.00');
    expect(retry).toEqual({ recorded: false, status: 'PARTIALLY_REVERSED', reversedAmount: new Decimal('18.00') });
    const rest = await reverse(receiptNo, 'R-2', '300.00');
    expect(rest).toEqual({ recorded: true, status: 'REVERSED', reversedAmount: new Decimal('318.00') });
    expect(await services().deps.db('receipt_reversals').where({ receipt_no: receiptNo }).count('* as n').first()).toEqual({ n: '2' });
  });

  it('refuses reversals beyond the paid amount: REFUND_EXCEEDS_PAID', async () => {
    const receiptNo = await paidReceipt();
    await reverse(receiptNo, 'R-A', '300.00');
    await expect(reverse(receiptNo, 'R-B', '18.01')).rejects.toMatchObject({ code: 'REFUND_EXCEEDS_PAID' });
  });

  it('records the reversal of the whole payment once', async () => {
    const receiptNo = await paidReceipt();
    expect(await reverse(receiptNo, null, '318.00')).toMatchObject({ recorded: true, status: 'REVERSED' });
    expect(await reverse(receiptNo, null, '318.00')).toMatchObject({ recorded: false, status: 'REVERSED' });
  });

  it('decides concurrent reversals of one receipt one at a time', async () => {
    const receiptNo = await paidReceipt();
    const outcomes = await Promise.allSettled(['R-X', 'R-Y', 'R-Z'].map((refundId) => reverse(receiptNo, refundId, '150.00')));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2);
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect(refused[0]?.reason).toMatchObject({ code: 'REFUND_EXCEEDS_PAID' });
  });
});

describe('verification with the platform keys', () => {
  it('still verifies a receipt signed by a key that has since been retired', async () => {
    const oldKey = generateSm2KeyPair();
    const oldSigner = createPlatformSigner(oldKey.privateKeyHex);
    const deps = receiptDependencies(service);
    const signedByOld = await new ReceiptService({ ...deps, signer: oldSigner, platformKeys: new PlatformKeyService(oldSigner, 'database') }).prepareReceipt({
      noticeId: '1',
      payCode: '15010226100000000000',
      unitCode: 'U',
      unitName: 'u',
      payerName: 'p',
      items: [{ itemCode: 'I', itemName: 'i', amount: new Decimal('1.00'), lateFee: new Decimal('0') }],
      totalAmount: new Decimal('1.00'),
      lateFee: new Decimal('0'),
      paidAmount: new Decimal('1.00'),
      paidAt: PAID_AT,
      agencyCode: 'A',
      agencyTxnId: 'T',
    });
    const newSigner = createPlatformSigner(generateSm2KeyPair().privateKeyHex);
    const retired = new PlatformKeyService(oldSigner, 'database').publishedKeys().map((key) => ({ ...key, status: 'RETIRED' as const }));
    const rotated = new ReceiptService({ ...deps, signer: newSigner, platformKeys: new PlatformKeyService(newSigner, 'config', retired) });
    expect(rotated.verify(signedByOld)).toBe(true);
    // A key the platform never published verifies nothing.
    const unrelated = new ReceiptService({ ...deps, signer: newSigner, platformKeys: new PlatformKeyService(newSigner, 'config') });
    expect(unrelated.verify(signedByOld)).toBe(false);
  });
});
