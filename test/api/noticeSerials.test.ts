import crypto from 'node:crypto';
import { SERIAL_MAX, serialSequenceName } from '../../src/db/repositories/notices';
import { isValidPayCode } from '../../src/domain/payCode';
import { buildWorld, ITEMS, signedAs, SignedCall } from '../helpers/builders';
import { startTestService, TestService } from '../helpers/testService';

// PayCode serials (contracts/decisions/0058-pay-code-serials-drawn-last.md) are drawn only by a
// creation that passed its rules and its idempotency check: a refused, conflicting, replayed or
// nonce-reused creation draws none. Serials are counted on the sequence itself.

let service: TestService;
let unit: SignedCall;
let sequence: string;

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    bizRef: `S-${crypto.randomBytes(6).toString('hex')}`,
    noticeType: 1,
    payer: { name: '斯琴·图雅' },
    items: [{ itemCode: ITEMS.fixedFee, amount: '50.00' }],
    dueDate: '2026-12-20',
    ...overrides,
  };
}

/** Serials the sequence has given: its last value once called, else none. */
async function serialsDrawn(): Promise<number> {
  const result = await service.database.db.raw<{ rows: Array<{ last_value: string; is_called: boolean }> }>(`SELECT last_value::text, is_called FROM ${sequence}`);
  const row = result.rows[0]!;
  return row.is_called ? Number(row.last_value) : 0;
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date('2026-12-01T10:00:00+08:00') });
  const world = await buildWorld(service);
  unit = signedAs(service, world.unit);
  const first = await unit('POST', '/v1/unit/notices', body());
  expect(first.status).toBe(201);
  const payCode = first.body.payCode as string;
  sequence = serialSequenceName(payCode.slice(0, 6), payCode.slice(6, 8), payCode.slice(8, 9));
});

afterAll(async () => {
  await service.close();
});

describe('payCode serials', () => {
  it('are drawn by a creation that issues a notice, one each, and build valid codes', async () => {
    const before = await serialsDrawn();
    const created = await unit('POST', '/v1/unit/notices', body());
    expect(created.status).toBe(201);
    expect(await serialsDrawn()).toBe(before + 1);
    expect(created.body.payCode.slice(9, 18)).toBe(String(before + 1).padStart(9, '0'));
    expect(isValidPayCode(created.body.payCode)).toBe(true);
  });

  it('are not drawn by a creation a business rule refuses', async () => {
    const before = await serialsDrawn();
    const refusals = [
      body({ dueDate: '2026-11-30' }),
      body({ items: [{ itemCode: 'NO_SUCH_ITEM', amount: '50.00' }] }),
      body({ items: [{ itemCode: ITEMS.notGranted, amount: '50.00' }] }),
      body({ items: [{ itemCode: ITEMS.retired, amount: '50.00' }] }),
      body({ items: [{ itemCode: ITEMS.fixedFee, amount: '49.00' }] }),
    ];
    const codes: string[] = [];
    for (const refused of refusals) {
      const response = await unit('POST', '/v1/unit/notices', refused);
      expect(response.status).toBeGreaterThanOrEqual(400);
      codes.push(response.body.error.code as string);
    }
    expect(codes).toEqual(['DUE_DATE_IN_PAST', 'UNKNOWN_REFERENCE', 'ITEM_NOT_AUTHORIZED', 'ITEM_INACTIVE', 'ITEM_AMOUNT_OUT_OF_RANGE']);
    expect(await serialsDrawn()).toBe(before);
  });

  it('are not drawn by a replay, a conflicting repeat or a reused nonce', async () => {
    const original = body();
    const created = await unit('POST', '/v1/unit/notices', original);
    expect(created.status).toBe(201);
    const before = await serialsDrawn();
    const replayed = await unit('POST', '/v1/unit/notices', original);
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get('idempotent-replay')).toBe('true');
    expect(replayed.body.payCode).toBe(created.body.payCode);
    // Replays that race each other still draw nothing.
    const racing = await Promise.all(Array.from({ length: 6 }, () => unit('POST', '/v1/unit/notices', original)));
    expect(racing.map((response) => response.status)).toEqual(Array(6).fill(201));
    const conflict = await unit('POST', '/v1/unit/notices', { ...original, remark: 'other content' });
    expect([conflict.status, conflict.body.error.code]).toEqual([409, 'IDEMPOTENCY_CONFLICT']);
    const fresh = body();
    const nonce = `n${crypto.randomBytes(12).toString('hex')}`;
    expect((await unit('POST', '/v1/unit/notices', fresh, { nonce })).status).toBe(201);
    const afterFresh = await serialsDrawn();
    expect(afterFresh).toBe(before + 1);
    const reused = await unit('POST', '/v1/unit/notices', body(), { nonce });
    expect([reused.status, reused.body.error.code]).toEqual([401, 'NONCE_REUSED']);
    expect(await serialsDrawn()).toBe(afterFresh);
  });

  it('export their headroom per (region, year, type) as a metric', async () => {
    const drawn = await serialsDrawn();
    const metrics = await fetch(`${service.baseUrl}/metrics`).then((response) => response.text());
    const [region, year, type] = sequence.slice('pay_code_serial_'.length).split('_');
    const line = metrics.split('\n').find((text) => text.startsWith(`tongfu_pay_code_serial_headroom_ratio{region="${region}",year="${year}",type="${type}"}`));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ')[1])).toBeCloseTo((SERIAL_MAX - drawn) / SERIAL_MAX, 12);
    await service.database.db.raw(`SELECT setval('${sequence}', ${Math.floor(SERIAL_MAX * 0.95)})`);
    const low = await fetch(`${service.baseUrl}/metrics`).then((response) => response.text());
    const lowLine = low.split('\n').find((text) => text.startsWith(`tongfu_pay_code_serial_headroom_ratio{region="${region}"`));
    expect(Number(lowLine!.split(' ')[1])).toBeLessThan(0.1);
  });
});
