import { startTestService, TestService } from '../helpers/testService';
import { addFinanceParty, Call, caller, problems, registerParty, seedCatalogue } from './financeFixtures';

// The finance catalogue over HTTP (docs/interface.md §6.1): regions, accounts, sharing rules, items and
// unit item authorisations, signed by a finance party registered with `party add`. Every
// response is checked against contracts/ by the test service.

describe('finance catalogue API', () => {
  let service: TestService;
  let call: Call;
  let seeded: Awaited<ReturnType<typeof seedCatalogue>>;

  beforeAll(async () => {
    service = await startTestService();
    call = caller(service, await addFinanceParty(service));
    seeded = await seedCatalogue(call);
  });
  afterAll(async () => {
    await service.close();
  });

  function item(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      name: '营业执照工本费',
      incomeSortCode: '103040101',
      budgetLevel: 3,
      receivingAccountNo: seeded.fiscalAccountNo,
      pricing: { type: 'FIXED', amount: '100.00' },
      lateFee: { type: 'NONE' },
      status: 'ACTIVE',
      ...overrides,
    };
  }

  describe('regions', () => {
    it('creates with 201, replaces with 200, and reads one', async () => {
      const created = await call('PUT', '/v1/finance/regions/150100', { name: '呼和浩特市', parentCode: '150000' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ regionCode: '150100', name: '呼和浩特市', parentCode: '150000' });
      expect(created.body.createdAt).toMatch(/\+08:00$/);

      const replaced = await call('PUT', '/v1/finance/regions/150100', { name: '呼和浩特' });
      expect(replaced.status).toBe(200);
      expect(replaced.body.name).toBe('呼和浩特');
      expect(replaced.body).not.toHaveProperty('parentCode');

      const read = await call('GET', '/v1/finance/regions/150100');
      expect(read.status).toBe(200);
      expect(read.body).toEqual(replaced.body);

      // The same content an hour later answers 200 and changes nothing, not even updatedAt.
      service.clocks.business.advance(60 * 60 * 1000);
      const same = await call('PUT', '/v1/finance/regions/150100', { name: '呼和浩特' });
      expect(same.status).toBe(200);
      expect(same.body).toEqual(replaced.body);
      const changed = await call('PUT', '/v1/finance/regions/150100', { name: '呼和浩特市' });
      expect(changed.body.updatedAt).not.toBe(replaced.body.updatedAt);
      expect(changed.body.createdAt).toBe(created.body.createdAt);
    });

    it('answers 404 NOT_FOUND for a region never registered', async () => {
      const response = await call('GET', '/v1/finance/regions/159999');
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    });

    it('refuses an unknown parent with UNKNOWN_REFERENCE and writes nothing', async () => {
      const response = await call('PUT', '/v1/finance/regions/150200', { name: '包头市', parentCode: '990000' });
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect(problems(response)).toEqual([expect.stringContaining('/parentCode')]);
      expect((await call('GET', '/v1/finance/regions/150200')).status).toBe(404);
    });

    it('refuses a region as its own parent, and a cycle', async () => {
      const own = await call('PUT', '/v1/finance/regions/150300', { name: '乌海市', parentCode: '150300' });
      expect(own.status).toBe(400);
      expect(own.body.error.code).toBe('VALIDATION_FAILED');

      await call('PUT', '/v1/finance/regions/150400', { name: '赤峰市', parentCode: '150000' });
      await call('PUT', '/v1/finance/regions/150402', { name: '红山区', parentCode: '150400' });
      const cycle = await call('PUT', '/v1/finance/regions/150400', { name: '赤峰市', parentCode: '150402' });
      expect(cycle.status).toBe(400);
      expect(cycle.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(cycle).join()).toMatch(/cycle/);
      expect((await call('GET', '/v1/finance/regions/150400')).body.parentCode).toBe('150000');
    });

    it('refuses a region code that is not six digits, unknown fields and a blank name, listing every problem', async () => {
      const badCode = await call('PUT', '/v1/finance/regions/15ab', { name: 'x' });
      expect(badCode.status).toBe(400);
      expect(badCode.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(badCode)).toEqual([expect.stringContaining('/path/regionCode')]);

      const several = await call('PUT', '/v1/finance/regions/150500', { name: ' ', nmae: '通辽市' });
      expect(several.status).toBe(400);
      expect(several.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(several)).toEqual(expect.arrayContaining(['/nmae: unknown field', expect.stringMatching(/^\/name: /)]));
    });

    it('answers MALFORMED_JSON for a broken body and UNSUPPORTED_MEDIA_TYPE for another type', async () => {
      const broken = await call('PUT', '/v1/finance/regions/150600', undefined, { rawBody: '{"name": "鄂尔多斯市"' });
      expect(broken.status).toBe(400);
      expect(broken.body.error.code).toBe('MALFORMED_JSON');
      const xml = await call('PUT', '/v1/finance/regions/150600', undefined, { rawBody: '<name/>', headers: { 'content-type': 'text/xml' } });
      expect(xml.status).toBe(415);
      expect(xml.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('lists every region across pages in registration order, without repeats', async () => {
      for (const code of ['152100', '152200', '152500', '152900', '153000']) {
        expect((await call('PUT', `/v1/finance/regions/${code}`, { name: `region ${code}`, parentCode: '150000' })).status).toBe(201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const target: string = `/v1/finance/regions?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await call('GET', target);
        expect(page.status).toBe(200);
        expect(page.body.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.data.map((region: { regionCode: string }) => region.regionCode));
        cursor = page.body.nextCursor;
        pages += 1;
      } while (cursor !== null && pages < 50);
      const all = await call('GET', '/v1/finance/regions');
      expect(all.body.nextCursor).toBeNull();
      expect(seen).toEqual(all.body.data.map((region: { regionCode: string }) => region.regionCode));
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(['150000', '152100', '153000']));
      expect(pages).toBeGreaterThan(2);
    });

    it('refuses a limit outside 1–500, an unknown query parameter and a forged cursor', async () => {
      for (const target of ['/v1/finance/regions?limit=0', '/v1/finance/regions?limit=501', '/v1/finance/regions?colour=red', '/v1/finance/regions?cursor=bm90LWEtY3Vyc29y']) {
        const response = await call('GET', target);
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('VALIDATION_FAILED');
      }
    });
  });

  describe('accounts', () => {
    it('creates with 201, replaces with 200, reads and lists', async () => {
      const created = await call('PUT', '/v1/finance/accounts/TREASURY-1', { name: '国库', bankCode: seeded.bankCode, kind: 'TREASURY' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ accountNo: 'TREASURY-1', name: '国库', bankCode: seeded.bankCode, kind: 'TREASURY' });
      const replaced = await call('PUT', '/v1/finance/accounts/TREASURY-1', { name: '中央国库', bankCode: seeded.bankCode, kind: 'TREASURY' });
      expect(replaced.status).toBe(200);
      expect((await call('GET', '/v1/finance/accounts/TREASURY-1')).body.name).toBe('中央国库');
      expect((await call('GET', '/v1/finance/accounts/NO-SUCH')).status).toBe(404);
      const list = await call('GET', '/v1/finance/accounts?limit=500');
      expect(list.body.data.map((account: { accountNo: string }) => account.accountNo)).toEqual(expect.arrayContaining([seeded.fiscalAccountNo, seeded.clearingAccountNo, 'TREASURY-1']));
    });

    it('needs a registered bank party: an unknown code or another role’s code is UNKNOWN_REFERENCE', async () => {
      const unknown = await call('PUT', '/v1/finance/accounts/ACC-X', { name: 'x', bankCode: 'NOBANK', kind: 'FISCAL' });
      expect(unknown.status).toBe(422);
      expect(unknown.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect(problems(unknown)).toEqual([expect.stringContaining('/bankCode')]);

      await registerParty(call, { role: 'unit', code: 'UNIT-NOT-BANK', regionCode: seeded.regionCode });
      const notABank = await call('PUT', '/v1/finance/accounts/ACC-X', { name: 'x', bankCode: 'UNIT-NOT-BANK', kind: 'FISCAL' });
      expect(notABank.status).toBe(422);
      expect(notABank.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect((await call('GET', '/v1/finance/accounts/ACC-X')).status).toBe(404);
    });

    it('refuses an unknown kind', async () => {
      const response = await call('PUT', '/v1/finance/accounts/ACC-Y', { name: 'x', bankCode: seeded.bankCode, kind: 'SAVINGS' });
      expect(response.status).toBe(400);
      expect(problems(response)).toEqual([expect.stringMatching(/^\/kind: must be one of FISCAL, TREASURY, CLEARING, SUSPENSE/)]);
    });

    it('refuses to change the kind of an account an item receives into', async () => {
      await call('PUT', '/v1/finance/accounts/FISCAL-GUARD', { name: '专户', bankCode: seeded.bankCode, kind: 'FISCAL' });
      expect((await call('PUT', '/v1/finance/items/GUARDED', item({ receivingAccountNo: 'FISCAL-GUARD' }))).status).toBe(201);
      const response = await call('PUT', '/v1/finance/accounts/FISCAL-GUARD', { name: '专户', bankCode: seeded.bankCode, kind: 'SUSPENSE' });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(response).join()).toMatch(/GUARDED/);
      // FISCAL → TREASURY keeps it a receiving account.
      expect((await call('PUT', '/v1/finance/accounts/FISCAL-GUARD', { name: '专户', bankCode: seeded.bankCode, kind: 'TREASURY' })).status).toBe(200);
    });
  });

  describe('sharing rules', () => {
    it('creates with 201, replaces with 200, keeps the order of the shares, and reads', async () => {
      const created = await call('PUT', '/v1/finance/sharing-rules/SHARE-A', { name: '自治区与盟市 3:7', shares: [{ budgetLevel: 3, ratio: '0.7' }, { budgetLevel: 2, ratio: '0.3000' }] });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ ruleCode: 'SHARE-A', shares: [{ budgetLevel: 3, ratio: '0.7' }, { budgetLevel: 2, ratio: '0.3' }] });
      const replaced = await call('PUT', '/v1/finance/sharing-rules/SHARE-A', { name: '三级', shares: [{ budgetLevel: 2, ratio: '0.2' }, { budgetLevel: 3, ratio: '0.3' }, { budgetLevel: 4, ratio: '0.5' }] });
      expect(replaced.status).toBe(200);
      const read = await call('GET', '/v1/finance/sharing-rules/SHARE-A');
      expect(read.body.shares).toEqual([{ budgetLevel: 2, ratio: '0.2' }, { budgetLevel: 3, ratio: '0.3' }, { budgetLevel: 4, ratio: '0.5' }]);
      service.clocks.business.advance(60 * 60 * 1000);
      const same = await call('PUT', '/v1/finance/sharing-rules/SHARE-A', { name: '三级', shares: [{ budgetLevel: 2, ratio: '0.20' }, { budgetLevel: 3, ratio: '0.3' }, { budgetLevel: 4, ratio: '0.5000' }] });
      expect(same.status).toBe(200);
      expect(same.body).toEqual(read.body);
      // Another order is another rule: the last share takes the rounding remainder.
      const reordered = await call('PUT', '/v1/finance/sharing-rules/SHARE-A', { name: '三级', shares: [{ budgetLevel: 4, ratio: '0.5' }, { budgetLevel: 3, ratio: '0.3' }, { budgetLevel: 2, ratio: '0.2' }] });
      expect(reordered.body.shares.map((share: { budgetLevel: number }) => share.budgetLevel)).toEqual([4, 3, 2]);
      expect(reordered.body.updatedAt).not.toBe(read.body.updatedAt);
      expect((await call('GET', '/v1/finance/sharing-rules/NONE')).status).toBe(404);
      const list = await call('GET', '/v1/finance/sharing-rules');
      expect(list.body.data.map((rule: { ruleCode: string }) => rule.ruleCode)).toContain('SHARE-A');
    });

    it('refuses ratios that do not sum to exactly 1, with a problem that says so', async () => {
      const thirds = await call('PUT', '/v1/finance/sharing-rules/THIRDS', { name: 'x', shares: [{ budgetLevel: 1, ratio: '0.3333' }, { budgetLevel: 2, ratio: '0.3333' }, { budgetLevel: 3, ratio: '0.3333' }] });
      expect(thirds.status).toBe(400);
      expect(thirds.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(thirds)).toEqual(['/shares: the ratios must sum to exactly 1; they sum to 0.9999']);
      const over = await call('PUT', '/v1/finance/sharing-rules/OVER', { name: 'x', shares: [{ budgetLevel: 1, ratio: '0.6' }, { budgetLevel: 2, ratio: '0.5' }] });
      expect(problems(over)).toEqual(['/shares: the ratios must sum to exactly 1; they sum to 1.1']);
      expect((await call('GET', '/v1/finance/sharing-rules/THIRDS')).status).toBe(404);
    });

    it('refuses a repeated budget level, a ratio with five decimals, a numeric ratio and level 0', async () => {
      const repeated = await call('PUT', '/v1/finance/sharing-rules/REP', { name: 'x', shares: [{ budgetLevel: 2, ratio: '0.5' }, { budgetLevel: 2, ratio: '0.5' }] });
      expect(repeated.status).toBe(400);
      expect(problems(repeated)).toEqual([expect.stringMatching(/^\/shares\/1\/budgetLevel: budget level 2 already has a share/)]);

      const malformed = await call('PUT', '/v1/finance/sharing-rules/MAL', { name: 'x', shares: [{ budgetLevel: 0, ratio: '0.50000' }, { budgetLevel: 1, ratio: 0.5 }] });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(malformed)).toEqual(expect.arrayContaining([expect.stringMatching(/^\/shares\/0\/budgetLevel/), expect.stringMatching(/^\/shares\/0\/ratio/), expect.stringMatching(/^\/shares\/1\/ratio/)]));
    });
  });

  describe('items', () => {
    beforeAll(async () => {
      await call('PUT', '/v1/finance/sharing-rules/SHARE-ITEMS', { name: '五五', shares: [{ budgetLevel: 2, ratio: '0.5' }, { budgetLevel: 4, ratio: '0.5' }] });
    });

    it('creates with 201, replaces with 200 as a new version, and the same content again changes nothing', async () => {
      const created = await call('PUT', '/v1/finance/items/LICENSE', item({ lateFee: { type: 'DAILY_RATE', ratePerDay: '0.000300', capRatio: '1.0' } }));
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ itemCode: 'LICENSE', version: 1, pricing: { type: 'FIXED', amount: '100.00' }, lateFee: { type: 'DAILY_RATE', ratePerDay: '0.0003', capRatio: '1' }, status: 'ACTIVE' });
      expect(created.body).not.toHaveProperty('sharingRuleCode');

      service.clocks.business.advance(60 * 60 * 1000);
      const changed = await call('PUT', '/v1/finance/items/LICENSE', item({ pricing: { type: 'RANGE', min: '50.00', max: '200.00' }, status: 'INACTIVE' }));
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ version: 2, pricing: { type: 'RANGE', min: '50.00', max: '200.00' }, lateFee: { type: 'NONE' }, status: 'INACTIVE' });

      service.clocks.business.advance(60 * 60 * 1000);
      const same = await call('PUT', '/v1/finance/items/LICENSE', item({ pricing: { type: 'RANGE', min: '50.00', max: '200.00' }, status: 'INACTIVE' }));
      expect(same.status).toBe(200);
      expect(same.body.version).toBe(2);
      expect(same.body.updatedAt).toBe(changed.body.updatedAt);

      const read = await call('GET', '/v1/finance/items/LICENSE');
      expect(read.body).toEqual(same.body);
      const history = await service.database.db('item_versions').join('items', 'items.id', 'item_versions.item_id').where('items.code', 'LICENSE').orderBy('item_versions.version').select('item_versions.version', 'item_versions.content');
      expect(history.map((row: { version: number }) => row.version)).toEqual([1, 2]);
      expect(history[0].content.pricing).toEqual({ type: 'FIXED', amount: '100.00' });
    });

    it('takes a sharing rule exactly when the budget level is 0', async () => {
      const shared = await call('PUT', '/v1/finance/items/SHARED', item({ budgetLevel: 0, sharingRuleCode: 'SHARE-ITEMS' }));
      expect(shared.status).toBe(201);
      expect(shared.body).toMatchObject({ budgetLevel: 0, sharingRuleCode: 'SHARE-ITEMS' });

      const missing = await call('PUT', '/v1/finance/items/NO-RULE', item({ budgetLevel: 0 }));
      expect(missing.status).toBe(400);
      expect(problems(missing)).toEqual([expect.stringMatching(/^\/sharingRuleCode: is required when budgetLevel is 0/)]);
      const extra = await call('PUT', '/v1/finance/items/NO-RULE', item({ budgetLevel: 2, sharingRuleCode: 'SHARE-ITEMS' }));
      expect(extra.status).toBe(400);
      expect(problems(extra)).toEqual([expect.stringMatching(/^\/sharingRuleCode: is only for budgetLevel 0/)]);
      const level6 = await call('PUT', '/v1/finance/items/NO-RULE', item({ budgetLevel: 6 }));
      expect(level6.status).toBe(400);
    });

    it('answers UNKNOWN_REFERENCE for each unknown reference, and for an account that cannot receive revenue', async () => {
      const both = await call('PUT', '/v1/finance/items/BAD-REFS', item({ budgetLevel: 0, sharingRuleCode: 'NO-RULE', receivingAccountNo: 'NO-ACCOUNT' }));
      expect(both.status).toBe(422);
      expect(both.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect(problems(both)).toEqual([expect.stringMatching(/^\/sharingRuleCode: /), expect.stringMatching(/^\/receivingAccountNo: /)]);

      const clearing = await call('PUT', '/v1/finance/items/BAD-REFS', item({ receivingAccountNo: seeded.clearingAccountNo }));
      expect(clearing.status).toBe(422);
      expect(clearing.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect(problems(clearing)).toEqual([expect.stringMatching(/CLEARING account/)]);
      expect((await call('GET', '/v1/finance/items/BAD-REFS')).status).toBe(404);
    });

    it.each([
      ['a JSON number', { type: 'FIXED', amount: 100 }],
      ['three decimals', { type: 'FIXED', amount: '100.005' }],
      ['one decimal', { type: 'RANGE', min: '1.0', max: '2.00' }],
      ['a sign', { type: 'RANGE', min: '1.00', max: '-2.00' }],
      ['an exponent', { type: 'FIXED', amount: '1e2' }],
    ])('answers AMOUNT_INVALID for a pricing amount with %s', async (_label, pricing) => {
      const response = await call('PUT', '/v1/finance/items/BAD-AMOUNT', item({ pricing }));
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('AMOUNT_INVALID');
    });

    it('refuses a range whose min exceeds its max, fields of the other pricing type and unknown fields', async () => {
      const inverted = await call('PUT', '/v1/finance/items/BAD-RANGE', item({ pricing: { type: 'RANGE', min: '300.00', max: '200.00' } }));
      expect(inverted.status).toBe(400);
      expect(problems(inverted)).toEqual([expect.stringMatching(/^\/pricing\/max: max \(200.00\) must not be less than min \(300.00\)/)]);

      const mixed = await call('PUT', '/v1/finance/items/BAD-RANGE', item({ pricing: { type: 'FIXED', amount: '1.00', max: '2.00' }, colour: 'red' }));
      expect(mixed.status).toBe(400);
      expect(mixed.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(mixed)).toEqual(expect.arrayContaining(['/pricing/max: unknown field', '/colour: unknown field']));
    });

    it('refuses a FIXED price of 0.00: a notice for it could never be paid', async () => {
      const free = await call('PUT', '/v1/finance/items/FREE-ITEM', item({ pricing: { type: 'FIXED', amount: '0.00' } }));
      expect(free.status).toBe(400);
      expect(free.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(free)).toEqual([expect.stringMatching(/^\/pricing\/amount: must be above 0.00/)]);
      expect((await call('GET', '/v1/finance/items/FREE-ITEM')).status).toBe(404);
    });

    it('refuses late-fee rates with too many decimals or as numbers', async () => {
      const response = await call('PUT', '/v1/finance/items/BAD-FEE', item({ lateFee: { type: 'DAILY_RATE', ratePerDay: '0.0000001', capRatio: 1 } }));
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      expect(problems(response)).toEqual(expect.arrayContaining([expect.stringMatching(/^\/lateFee\/ratePerDay/), expect.stringMatching(/^\/lateFee\/capRatio/)]));
      const extra = await call('PUT', '/v1/finance/items/BAD-FEE', item({ lateFee: { type: 'NONE', ratePerDay: '0.0003' } }));
      expect(problems(extra)).toEqual(['/lateFee/ratePerDay: unknown field']);
    });

    it('lists items across pages', async () => {
      for (const code of ['PAGE-1', 'PAGE-2', 'PAGE-3']) expect((await call('PUT', `/v1/finance/items/${code}`, item())).status).toBe(201);
      const first = await call('GET', '/v1/finance/items?limit=2');
      expect(first.body.data).toHaveLength(2);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const rest = await call('GET', `/v1/finance/items?limit=500&cursor=${first.body.nextCursor}`);
      expect(rest.body.nextCursor).toBeNull();
      const codes = [...first.body.data, ...rest.body.data].map((entry: { itemCode: string }) => entry.itemCode);
      expect(codes).toEqual(expect.arrayContaining(['PAGE-1', 'PAGE-2', 'PAGE-3', 'LICENSE']));
      expect(new Set(codes).size).toBe(codes.length);
    });
  });

  describe('unit item authorisations', () => {
    beforeAll(async () => {
      await registerParty(call, { role: 'unit', code: 'SCJGJ', regionCode: seeded.regionCode }, 'sm2-hex');
      for (const code of ['FEE-A', 'FEE-B', 'FEE-C']) await call('PUT', `/v1/finance/items/${code}`, item());
    });

    it('starts empty, replaces the whole set, and reads it back in code order', async () => {
      expect((await call('GET', '/v1/finance/units/SCJGJ/items')).body).toEqual({ unitCode: 'SCJGJ', itemCodes: [] });
      const first = await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: ['FEE-B', 'FEE-A'] });
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ unitCode: 'SCJGJ', itemCodes: ['FEE-A', 'FEE-B'] });
      const second = await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: ['FEE-C', 'FEE-B'] });
      expect(second.body.itemCodes).toEqual(['FEE-B', 'FEE-C']);
      expect((await call('GET', '/v1/finance/units/SCJGJ/items')).body.itemCodes).toEqual(['FEE-B', 'FEE-C']);
      expect((await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: [] })).body.itemCodes).toEqual([]);
    });

    it('answers 404 NOT_FOUND for a code that names no unit (a bank’s code included)', async () => {
      for (const code of ['NO-UNIT', seeded.bankCode]) {
        const put = await call('PUT', `/v1/finance/units/${code}/items`, { itemCodes: ['FEE-A'] });
        expect(put.status).toBe(404);
        expect(put.body.error.code).toBe('NOT_FOUND');
        expect((await call('GET', `/v1/finance/units/${code}/items`)).status).toBe(404);
      }
    });

    it('answers UNKNOWN_REFERENCE naming every unknown item, and changes nothing', async () => {
      await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: ['FEE-A'] });
      const response = await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: ['FEE-B', 'NOPE-1', 'NOPE-2'] });
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('UNKNOWN_REFERENCE');
      expect(problems(response)).toEqual([expect.stringMatching(/^\/itemCodes\/1: .*NOPE-1/), expect.stringMatching(/^\/itemCodes\/2: .*NOPE-2/)]);
      expect((await call('GET', '/v1/finance/units/SCJGJ/items')).body.itemCodes).toEqual(['FEE-A']);
    });

    it('refuses a repeated item code and a code with characters outside the identifier alphabet', async () => {
      const repeated = await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: ['FEE-A', 'FEE-A'] });
      expect(repeated.status).toBe(400);
      expect(repeated.body.error.code).toBe('VALIDATION_FAILED');
      const odd = await call('PUT', '/v1/finance/units/SCJGJ/items', { itemCodes: ['FEE|A'] });
      expect(odd.status).toBe(400);
      expect(problems(odd)).toEqual([expect.stringMatching(/^\/itemCodes\/0: /)]);
    });
  });
});
