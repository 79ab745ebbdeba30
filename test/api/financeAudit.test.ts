import { canonicalJson } from '../../src/crypto/canonicalJson';
import { sm3Hex } from '../../src/crypto/sm3';
import { startTestService, TestService } from '../helpers/testService';
import { addFinanceParty, Call, caller, registerParty, seedCatalogue } from './financeFixtures';

// The finance audit log over HTTP (docs/audit.md): `GET /v1/finance/audit?after=&limit=` pages
// through every finance action — the first finance party's `party add` by the operator (`cli`),
// then what that party did through the API — and a reader checks the hash chain from the pages
// alone. Every response is checked against contracts/ by the test service.

interface AuditRecord {
  seq: number;
  at: string;
  actorAppId: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  previousHash: string;
  hash: string;
}

describe('finance audit API', () => {
  let service: TestService;
  let call: Call;
  let financeAppId: string;

  beforeAll(async () => {
    service = await startTestService();
    const finance = await addFinanceParty(service);
    financeAppId = finance.appId;
    call = caller(service, finance);
    await seedCatalogue(call);
  });
  afterAll(async () => {
    await service.close();
  });

  async function readAll(limit: number): Promise<{ records: AuditRecord[]; pages: number }> {
    const records: AuditRecord[] = [];
    let after = 0;
    for (let pages = 1; ; pages += 1) {
      const response = await call('GET', `/v1/finance/audit?after=${after}&limit=${limit}`);
      expect(response.status).toBe(200);
      const page = response.body as { data: AuditRecord[]; nextAfter: number };
      records.push(...page.data);
      if (page.data.length === 0) {
        expect(page.nextAfter).toBe(after);
        return { records, pages };
      }
      expect(page.nextAfter).toBe(page.data[page.data.length - 1]!.seq);
      after = page.nextAfter;
    }
  }

  it('pages through every finance action in seq order, the operator\'s party add first', async () => {
    await call('PUT', '/v1/finance/regions/150000', { name: '内蒙古' });
    const { records, pages } = await readAll(2);
    expect(pages).toBe(Math.ceil(records.length / 2) + 1);
    expect(records.map((record) => record.seq)).toEqual(records.map((_, index) => index + 1));
    expect(records.map((record) => [record.action, record.actorAppId])).toEqual([
      ['party.registered', 'cli'],
      ['region.saved', financeAppId],
      ['party.registered', financeAppId],
      ['account.saved', financeAppId],
      ['account.saved', financeAppId],
      ['region.saved', financeAppId],
    ]);
    expect(records[0]).toMatchObject({ target: `party:${financeAppId}`, before: null, after: { appId: financeAppId, role: 'finance', code: 'FIN-MAIN' } });
    expect(records[5]).toMatchObject({ target: 'region:150000', before: { name: '内蒙古自治区' }, after: { name: '内蒙古' } });
    expect(records[0]!.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
  });

  it('shows what a reader needs to check the chain from the pages alone', async () => {
    const unit = await registerParty(call, { role: 'unit', code: 'UNIT-AUDIT', regionCode: '150000' });
    expect(unit.response.status).toBe(201);
    const { records } = await readAll(500);
    let previous = '0'.repeat(64);
    for (const record of records) {
      const { previousHash, hash, ...content } = record;
      expect(previousHash).toBe(previous);
      expect(hash).toBe(sm3Hex(previous + canonicalJson(content)));
      previous = hash;
    }
    expect(records[records.length - 1]).toMatchObject({ action: 'party.registered', target: `party:${unit.credentials.appId}` });
  });

  it('answers an empty page past the end, refuses a bad after or limit, and is for finance only', async () => {
    const past = await call('GET', '/v1/finance/audit?after=1000');
    expect(past.status).toBe(200);
    expect(past.body).toEqual({ data: [], nextAfter: 1000 });
    expect((await call('GET', '/v1/finance/audit?after=-1')).status).toBe(400);
    expect((await call('GET', '/v1/finance/audit?limit=501')).body.error.code).toBe('VALIDATION_FAILED');
    const { credentials } = await registerParty(call, { role: 'unit', code: 'UNIT-NOSY', regionCode: '150000' });
    const refused = await caller(service, credentials)('GET', '/v1/finance/audit');
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    const unsigned = await service.request('GET', '/v1/finance/audit');
    expect(unsigned.status).toBe(401);
  });
});
