import crypto from 'node:crypto';
import { isValidPayCode } from '../../src/domain/payCode';
import { buildWorld, ITEMS, signedAs, World } from '../helpers/builders';
import { startSecondInstance } from '../helpers/instances';
import { startTestService, TestResponse, TestService } from '../helpers/testService';

/**
 * Concurrent notice creation with real concurrent connections (docs/quality.md §2): simultaneous
 * signed HTTP requests, on one instance and on two instances of one database. Distinct requests
 * never share a payCode; repeats of one bizRef create one notice and replay it to the others.
 */

let service: TestService;
let world: World;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date('2026-11-27T10:00:00+08:00') });
  world = await buildWorld(service);
});

afterAll(async () => {
  await service.close();
});

function body(bizRef: string): Record<string, unknown> {
  return {
    bizRef,
    noticeType: 1,
    payer: { name: '张三', idNumber: '11010519491231002X', mobile: '13912345678' },
    items: [
      { itemCode: ITEMS.fixedFee, amount: '50.00' },
      { itemCode: ITEMS.fine, amount: '88.80' },
      { itemCode: ITEMS.sharedFee, quantity: 2, amount: '20.00' },
    ],
    dueDate: '2026-12-31',
  };
}

describe('concurrent notice creation', () => {
  it('gives 200 simultaneous creations 200 distinct, valid payCodes', async () => {
    const unit = signedAs(service, world.unit);
    const prefix = crypto.randomBytes(4).toString('hex');
    const responses = await Promise.all(Array.from({ length: 200 }, (_, index) => unit('POST', '/v1/unit/notices', body(`C-${prefix}-${index}`))));
    expect(responses.map((response) => response.status)).toEqual(Array(200).fill(201));
    const codes = responses.map((response) => response.body.payCode as string);
    expect(new Set(codes).size).toBe(200);
    expect(codes.every((code) => isValidPayCode(code) && code.startsWith('150102261'))).toBe(true);
    const rows = await service.database.db('notices').where('biz_ref', 'like', `C-${prefix}-%`).count<{ count: string }[]>({ count: '*' });
    expect(Number(rows[0]?.count)).toBe(200);
    const lines = await service.database.db('notice_items').join('notices', 'notices.id', 'notice_items.notice_id').where('notices.biz_ref', 'like', `C-${prefix}-%`).count<{ count: string }[]>({ count: '*' });
    expect(Number(lines[0]?.count)).toBe(600);
  });

  it('runs 20 simultaneous repeats of one bizRef once: one notice, the others replay it', async () => {
    const unit = signedAs(service, world.unit);
    for (let round = 0; round < 3; round += 1) {
      const bizRef = `R-${crypto.randomBytes(6).toString('hex')}`;
      const responses = await Promise.all(Array.from({ length: 20 }, () => unit('POST', '/v1/unit/notices', body(bizRef))));
      expect(responses.map((response) => response.status)).toEqual(Array(20).fill(201));
      const fresh = responses.filter((response) => response.headers.get('idempotent-replay') === null);
      const replays = responses.filter((response) => response.headers.get('idempotent-replay') === 'true');
      expect([fresh.length, replays.length]).toEqual([1, 19]);
      const first = fresh[0] as TestResponse;
      for (const replay of replays) expect(replay.body).toEqual(first.body);
      expect(await service.database.db('notices').where({ biz_ref: bizRef }).select('pay_code')).toEqual([{ pay_code: first.body.payCode }]);
    }
  });

  it('keeps both guarantees across two instances on one database', async () => {
    const second = await startSecondInstance(service);
    try {
      const onFirst = signedAs(service, world.unit);
      const onSecond = signedAs(second, world.unit);
      const prefix = crypto.randomBytes(4).toString('hex');
      const distinct = await Promise.all(Array.from({ length: 100 }, (_, index) => (index % 2 === 0 ? onFirst : onSecond)('POST', '/v1/unit/notices', body(`D-${prefix}-${index}`))));
      expect(new Set(distinct.map((response) => response.body.payCode)).size).toBe(100);

      const bizRef = `S-${prefix}`;
      const repeats = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? onFirst : onSecond)('POST', '/v1/unit/notices', body(bizRef))));
      expect(repeats.filter((response) => response.headers.get('idempotent-replay') === null)).toHaveLength(1);
      expect(new Set(repeats.map((response) => response.body.payCode)).size).toBe(1);
    } finally {
      await second.close();
    }
  });
});
