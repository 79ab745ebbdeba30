import crypto from 'node:crypto';
import { buildWorld, ITEMS, signedAs, SignedCall, World } from '../helpers/builders';
import { startTestService, TestService } from '../helpers/testService';

/**
 * Late fees (docs/lifecycle.md §2) as every reader sees them, on the business clock: the unit's
 * notice, the agency's verification and the payer's lookup. The figures are worked out by hand
 * here, not by the code under test.
 */

let service: TestService;
let world: World;
let unit: SignedCall;
let agency: SignedCall;

const PAYER = '孟和';

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date('2026-11-20T09:00:00+08:00') });
  world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  agency = signedAs(service, world.agency);
});

afterAll(async () => {
  await service.close();
});

/** Issues a notice due on 2026-11-20 (the clock is moved there first). */
async function issue(items: unknown[], expireDate?: string): Promise<string> {
  service.clocks.business.set(new Date('2026-11-20T09:00:00+08:00'));
  const response = await unit('POST', '/v1/unit/notices', { bizRef: `LF-${crypto.randomBytes(6).toString('hex')}`, noticeType: 2, payer: { name: PAYER }, items, dueDate: '2026-11-20', ...(expireDate ? { expireDate } : {}) });
  expect(response.status).toBe(201);
  return response.body.payCode;
}

/** What the three readers say at `instant`. */
async function chargesAt(payCode: string, instant: string): Promise<Array<{ lateFee: string; amountDue: string; totalAmount: string }>> {
  service.clocks.business.set(new Date(instant));
  const notice = await unit('GET', `/v1/unit/notices/${payCode}`);
  const verified = await agency('GET', `/v1/agency/notices/${payCode}`);
  const looked = await service.request('GET', `/v1/public/notices/${payCode}?payerName=${encodeURIComponent(PAYER)}`);
  await service.database.db('public_lookup_counters').delete();
  return [notice.body, verified.body, looked.body].map((body) => ({ lateFee: body.lateFee, amountDue: body.amountDue, totalAmount: body.totalAmount }));
}

function same(figures: { lateFee: string; amountDue: string; totalAmount: string }) {
  return [figures, figures, figures];
}

describe('late fees on the business clock', () => {
  it('follows the worked example: 200.00 at 0.03 a day, 3 days late → 18.00; 40 days late → capped at 200.00', async () => {
    const payCode = await issue([{ itemCode: ITEMS.fine, amount: '200.00' }]);
    expect(await chargesAt(payCode, '2026-11-20T23:30:00+08:00')).toEqual(same({ totalAmount: '200.00', lateFee: '0.00', amountDue: '200.00' }));
    // 16:30 UTC on the 20th is already 00:30 on the 21st in Shanghai: one day late.
    expect(await chargesAt(payCode, '2026-11-20T16:30:00Z')).toEqual(same({ totalAmount: '200.00', lateFee: '6.00', amountDue: '206.00' }));
    expect(await chargesAt(payCode, '2026-11-23T10:00:00+08:00')).toEqual(same({ totalAmount: '200.00', lateFee: '18.00', amountDue: '218.00' }));
    // 33 days × 6.00 = 198.00, still below the cap; 34 days would be 204.00 → 200.00.
    expect(await chargesAt(payCode, '2026-12-23T10:00:00+08:00')).toEqual(same({ totalAmount: '200.00', lateFee: '198.00', amountDue: '398.00' }));
    expect(await chargesAt(payCode, '2026-12-24T10:00:00+08:00')).toEqual(same({ totalAmount: '200.00', lateFee: '200.00', amountDue: '400.00' }));
    expect(await chargesAt(payCode, '2026-12-30T10:00:00+08:00')).toEqual(same({ totalAmount: '200.00', lateFee: '200.00', amountDue: '400.00' }));
  });

  it('rounds each line half up on its own, and adds nothing for lines without a late-fee rule', async () => {
    // fine 100.01 × 0.03 × 3 = 9.0009 → 9.00; shared 333.33 × 0.0005 × 3 = 0.499995 → 0.50 (its cap
    // 333.33 × 0.3 = 99.999 → 100.00); the fixed fee has no rule. 9.00 + 0.50 = 9.50.
    const payCode = await issue([
      { itemCode: ITEMS.fine, amount: '100.01' },
      { itemCode: ITEMS.sharedFee, amount: '333.33' },
      { itemCode: ITEMS.fixedFee, quantity: 2, amount: '100.00' },
    ]);
    expect(await chargesAt(payCode, '2026-11-23T12:00:00+08:00')).toEqual(same({ totalAmount: '533.34', lateFee: '9.50', amountDue: '542.84' }));
    // 1,000 days: fine capped at 100.01; shared 333.33 × 0.0005 × 1000 = 166.665 → capped at 100.00.
    expect(await chargesAt(payCode, '2029-08-16T12:00:00+08:00')).toEqual(same({ totalAmount: '533.34', lateFee: '200.01', amountDue: '733.35' }));
  });

  it('owes nothing once the notice is no longer ISSUED', async () => {
    const payCode = await issue([{ itemCode: ITEMS.fine, amount: '200.00' }]);
    service.clocks.business.set(new Date('2026-11-25T10:00:00+08:00'));
    const voided = await unit('POST', `/v1/unit/notices/${payCode}/void`, { reason: '撤销处罚决定' });
    expect(voided.body).toMatchObject({ status: 'VOIDED', totalAmount: '200.00', lateFee: '0.00', amountDue: '0.00', paidAmount: '0.00' });
    expect(await chargesAt(payCode, '2026-11-26T10:00:00+08:00')).toEqual(same({ totalAmount: '200.00', lateFee: '0.00', amountDue: '0.00' }));
  });
});
