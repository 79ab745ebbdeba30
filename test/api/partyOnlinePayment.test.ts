import { newSm2Credentials, type PartyCredentials } from '../helpers/signedClient';
import { startTestService, TestService } from '../helpers/testService';
import { addFinanceParty, Call, caller, problems, registerParty, seedCatalogue } from './financeFixtures';

// Agencies that offer online payment on the payer portal (contracts/decisions/0080): finance sets
// `onlinePayment` when it registers an agency and changes it with PATCH; every answer is checked
// against contracts/ by the test client.

const SANDBOX_LIKE = { displayName: '草原银行', logoText: '草原', checkoutUrlTemplate: 'https://pay.grassland.example/checkout?code={payCode}&amt={amount}&back={returnUrl}' };

describe('onlinePayment of agency parties', () => {
  let service: TestService;
  let finance: PartyCredentials;
  let call: Call;
  let seeded: Awaited<ReturnType<typeof seedCatalogue>>;

  beforeAll(async () => {
    service = await startTestService();
    finance = await addFinanceParty(service);
    call = caller(service, finance);
    seeded = await seedCatalogue(call);
  });
  afterAll(async () => {
    await service.close();
  });

  it('registers an agency with its online payment, and a read answers it', async () => {
    const { response } = await registerParty(call, { role: 'agency', code: 'GRASSLAND', clearingAccountNo: seeded.clearingAccountNo, onlinePayment: SANDBOX_LIKE });
    expect(response.body.onlinePayment).toEqual(SANDBOX_LIKE);
    expect((await call('GET', `/v1/finance/parties/${response.body.appId}`)).body.onlinePayment).toEqual(SANDBOX_LIKE);
  });

  it('leaves it out for an agency that offers none', async () => {
    const { response } = await registerParty(call, { role: 'agency', code: 'COUNTER-ONLY', clearingAccountNo: seeded.clearingAccountNo });
    expect(response.body).not.toHaveProperty('onlinePayment');
  });

  it('sets, changes and removes it with PATCH', async () => {
    const { credentials } = await registerParty(call, { role: 'agency', code: 'LATER-ONLINE', clearingAccountNo: seeded.clearingAccountNo });
    const set = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { onlinePayment: { ...SANDBOX_LIKE, displayName: '后来上线的银行' } });
    expect(set.status).toBe(200);
    expect(set.body.onlinePayment.displayName).toBe('后来上线的银行');
    const local = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { onlinePayment: { ...SANDBOX_LIKE, checkoutUrlTemplate: '/sandbox/agency/checkout?payCode={payCode}&amount={amount}' } });
    expect(local.body.onlinePayment.checkoutUrlTemplate).toBe('/sandbox/agency/checkout?payCode={payCode}&amount={amount}');
    const removed = await call('PATCH', `/v1/finance/parties/${credentials.appId}`, { onlinePayment: null });
    expect(removed.status).toBe(200);
    expect(removed.body).not.toHaveProperty('onlinePayment');
    const row = await service.database.db('parties').where({ app_id: credentials.appId }).first();
    expect([row.online_payment_display_name, row.online_payment_logo_text, row.online_payment_checkout_url_template]).toEqual([null, null, null]);
  });

  it('refuses it for a party that is not an agency, on registration and on PATCH', async () => {
    const bank = await call('POST', '/v1/finance/parties', { role: 'bank', code: 'BANK-ONLINE', name: '银行', publicKey: newSm2Credentials().publicKeyPem, onlinePayment: SANDBOX_LIKE });
    expect(bank.status).toBe(400);
    expect(problems(bank)).toContain('/onlinePayment: is only for an agency, not a bank');
    const seededBank = (await call('GET', '/v1/finance/parties?role=bank')).body.data.find((party: { code: string }) => party.code === seeded.bankCode);
    const patched = await call('PATCH', `/v1/finance/parties/${seededBank.appId}`, { onlinePayment: SANDBOX_LIKE });
    expect(patched.status).toBe(400);
    expect(problems(patched)).toEqual(['/onlinePayment: is only for an agency, not a bank']);
  });

  it.each([
    ['without {amount}', 'https://pay.example/c?code={payCode}', '/onlinePayment/checkoutUrlTemplate: must contain {amount}'],
    ['with an unknown placeholder', 'https://pay.example/c?code={payCode}&amt={amount}&n={payerName}', '/onlinePayment/checkoutUrlTemplate: has an unknown placeholder {payerName}; the placeholders are {payCode}, {amount} and {returnUrl}'],
    ['to a javascript: URL', 'javascript:alert({payCode}+{amount})', '/onlinePayment/checkoutUrlTemplate: must be an absolute http:// or https:// URL, or a path on this service starting with /'],
    ['to another host by //', '//evil.example/c?code={payCode}&amt={amount}', '/onlinePayment/checkoutUrlTemplate: must be an absolute http:// or https:// URL, or a path on this service starting with /'],
    ['with credentials', 'https://user:secret@pay.example/c?code={payCode}&amt={amount}', '/onlinePayment/checkoutUrlTemplate: must not carry a user name or password'],
    ['with white space', 'https://pay.example/c?code={payCode}& amt={amount}', '/onlinePayment/checkoutUrlTemplate: must not contain white space or control characters'],
  ])('refuses a checkout URL template %s', async (_name, checkoutUrlTemplate, problem) => {
    const response = await call('POST', '/v1/finance/parties', {
      role: 'agency',
      code: `BAD-${Math.random().toString(36).slice(2, 8)}`,
      name: '坏模板',
      publicKey: newSm2Credentials().publicKeyPem,
      clearingAccountNo: seeded.clearingAccountNo,
      onlinePayment: { ...SANDBOX_LIKE, checkoutUrlTemplate },
    });
    expect(response.status).toBe(400);
    expect(problems(response)).toEqual([problem]);
  });
});
