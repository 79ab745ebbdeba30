import { buildWorld, registerParty, signedAs, type SignedCall, type World } from '../helpers/builders';
import { newSm2Credentials, type PartyCredentials } from '../helpers/signedClient';
import { shanghai } from '../helpers/payments';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * Who may create finance parties and change parties' keys through the API
 * (contracts/decisions/0205-finance-parties-by-the-operator.md): the two ways one finance operator
 * could act as two — registering a puppet finance party, putting its own key on a colleague — are
 * refused with nothing stored, so a maker-checker proposal still needs a second person; a finance
 * party rotates its own keys; units, agencies and banks are still registered and re-keyed by
 * finance, every change in the audit log under the acting finance party. Every answer is checked
 * against contracts/ by the test service.
 */

let service: TestService;
let world: World;
/** The maker, and the attacker of both routes. */
let fin1: SignedCall;
/** The honest checker. */
let fin2Credentials: PartyCredentials;
let fin2: SignedCall;
let bank: SignedCall;
let unidentifiedPath: string;
const db = () => service.database.db;

async function counts(): Promise<{ parties: number; keys: number; audit: number }> {
  const count = async (table: string) => Number((await db()(table).count('* as n'))[0]?.n);
  return { parties: await count('parties'), keys: await count('party_keys'), audit: await count('audit_log') };
}

async function auditSince(seq: number): Promise<Array<{ action: string; target: string; actor: string }>> {
  const rows = await db()('audit_log').where('seq', '>', seq).orderBy('seq').select('action', 'target', 'actor_app_id');
  return rows.map((row) => ({ action: row.action as string, target: row.target as string, actor: row.actor_app_id as string }));
}

async function lastSeq(): Promise<number> {
  return Number((await db()('audit_log').max('seq as seq'))[0]?.seq ?? 0);
}

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-21T09:00:00')) });
  world = await buildWorld(service);
  fin1 = signedAs(service, world.finance);
  // The second finance party is the operator's doing (`party add`), as every finance party is.
  fin2Credentials = await registerParty(service.runtime.services, { role: 'finance', code: 'FIN_CHECK' });
  fin2 = signedAs(service, fin2Credentials);
  const holder = newSm2Credentials();
  const registered = await fin1('POST', '/v1/finance/parties', { role: 'bank', code: 'BANK_HOLDER', name: '持户银行', publicKey: holder.publicKeyPem });
  expect(registered.status).toBe(201);
  bank = signedAs(service, { appId: registered.body.appId, keyId: registered.body.keys[0].keyId, privateKey: holder.privateKey, publicKey: holder.publicKeyPem });
  expect((await fin1('PUT', `/v1/finance/accounts/${world.fiscalAccountNo}`, { name: '财政专户', bankCode: 'BANK_HOLDER', kind: 'FISCAL' })).status).toBe(200);
  // A credit that matches no instruction: RETURN of it to a payee is a maker-checker action.
  const posted = await bank('POST', '/v1/bank/postings', { bankRef: 'CUSTODY-1', accountNo: world.fiscalAccountNo, direction: 'CREDIT', amount: '500.00', valueDate: '2026-11-21', memo: '不明来款' });
  expect(posted.body.status).toBe('UNIDENTIFIED');
  unidentifiedPath = `/v1/finance/unidentified/${posted.body.postingId}`;
});

afterAll(async () => {
  await service.close();
});

describe('one finance operator cannot act as two', () => {
  let proposalId: string;

  beforeAll(async () => {
    const proposed = await fin1('POST', `${unidentifiedPath}/proposals`, { proposalRef: 'CUSTODY-RETURN', action: 'RETURN', reason: '退回来款', payee: { name: '攻击者', accountNo: '6222000000000666', bankName: '某银行' } });
    expect(proposed.status).toBe(201);
    proposalId = proposed.body.proposalId;
  });

  it('route 1: a finance party cannot register another finance party, not even one the operator registered — 403, nothing stored', async () => {
    const puppet = newSm2Credentials();
    const before = await counts();
    const refused = await fin1('POST', '/v1/finance/parties', { role: 'finance', code: 'FIN_PUPPET', name: '傀儡', publicKey: puppet.publicKeyPem });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/finance party is registered only by the platform operator/) });
    // A replay of the operator's own registration of FIN_CHECK is refused the same way.
    const replay = await fin1('POST', '/v1/finance/parties', { role: 'finance', code: 'FIN_CHECK', name: 'finance FIN_CHECK', publicKey: fin2Credentials.publicKey });
    expect([replay.status, replay.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect(await counts()).toEqual(before);
    expect(await db()('parties').where({ code: 'FIN_PUPPET' })).toHaveLength(0);
    // The puppet key signs as nobody.
    const asPuppet = await signedAs(service, { appId: 'ANOSUCHPUPPETPARTY000', privateKey: puppet.privateKey, publicKey: puppet.publicKeyPem })('POST', `${unidentifiedPath}/proposals/${proposalId}/decision`, { approve: true });
    expect(asPuppet.status).toBe(401);
  });

  it('route 2: a finance party cannot add its key to, nor retire a key of, another finance party — 403, nothing stored; its signature as the other is refused', async () => {
    const before = await counts();
    const added = await fin1('POST', `/v1/finance/parties/${fin2Credentials.appId}/keys`, { publicKey: world.finance.publicKey });
    expect(added.status).toBe(403);
    expect(added.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/may not add a key to another finance party/) });
    // A fresh key it holds, too: the key's owner does not matter, the party's role does.
    const fresh = newSm2Credentials();
    const addedFresh = await fin1('POST', `/v1/finance/parties/${fin2Credentials.appId}/keys`, { publicKey: fresh.publicKeyPem });
    expect([addedFresh.status, addedFresh.body.error.code]).toEqual([403, 'FORBIDDEN']);
    const retired = await fin1('DELETE', `/v1/finance/parties/${fin2Credentials.appId}/keys/${fin2Credentials.keyId}`);
    expect(retired.status).toBe(403);
    expect(retired.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/may not retire a key of another finance party/) });
    expect(await counts()).toEqual(before);
    expect((await db()('party_keys').where({ key_id: fin2Credentials.keyId }).first()).status).toBe('ACTIVE');

    // Signing as fin2 with a key fin2 does not hold is refused, so the decision stays fin2's.
    const forged = await signedAs(service, { appId: fin2Credentials.appId, privateKey: fresh.privateKey, publicKey: fresh.publicKeyPem })('POST', `${unidentifiedPath}/proposals/${proposalId}/decision`, { approve: true });
    expect(forged.status).toBe(401);
    const self = await fin1('POST', `${unidentifiedPath}/proposals/${proposalId}/decision`, { approve: true });
    expect([self.status, self.body.error.code]).toEqual([422, 'APPROVER_SAME_AS_REQUESTER']);
    const pending = await db()('finance_proposals').where({ proposal_id: proposalId }).first();
    expect(pending.status).toBe('PENDING');

    // The real second person decides.
    const rejected = await fin2('POST', `${unidentifiedPath}/proposals/${proposalId}/decision`, { approve: false, comment: '收款人不明' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'REJECTED', proposedBy: world.finance.appId, decidedBy: fin2Credentials.appId });
  });

  it('a finance party still adds and retires its own keys, in the audit log under its own name', async () => {
    const seq = await lastSeq();
    const next = newSm2Credentials();
    const added = await fin2('POST', `/v1/finance/parties/${fin2Credentials.appId}/keys`, { publicKey: next.publicKeyPem });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ keyId: expect.any(String), algorithm: 'SM2', status: 'ACTIVE' });
    const rotated = signedAs(service, { appId: fin2Credentials.appId, keyId: added.body.keyId, privateKey: next.privateKey, publicKey: next.publicKeyPem });
    const retired = await rotated('DELETE', `/v1/finance/parties/${fin2Credentials.appId}/keys/${fin2Credentials.keyId}`);
    expect(retired.status).toBe(200);
    expect(retired.body).toEqual({ keyId: fin2Credentials.keyId, status: 'RETIRED' });
    expect((await rotated('GET', '/v1/finance/regions')).status).toBe(200);
    expect(await auditSince(seq)).toEqual([
      { action: 'party.key_added', target: `party:${fin2Credentials.appId}/key:${added.body.keyId}`, actor: fin2Credentials.appId },
      { action: 'party.key_retired', target: `party:${fin2Credentials.appId}/key:${fin2Credentials.keyId}`, actor: fin2Credentials.appId },
    ]);
    fin2 = rotated;
    fin2Credentials = { ...fin2Credentials, keyId: added.body.keyId, privateKey: next.privateKey, publicKey: next.publicKeyPem };
  });
});

describe('finance still registers and re-keys units, agencies and banks, each change audited under its name and each key change announced', () => {
  it('registers a unit, an agency and a bank, adds and retires a key (announced to the agency and to finance), disables and enables: every row names the acting finance party', async () => {
    const seq = await lastSeq();
    const unit = await fin2('POST', '/v1/finance/parties', { role: 'unit', code: 'UNIT_CUSTODY', name: '执收单位', publicKey: newSm2Credentials().publicKeyPem, regionCode: world.unit.regionCode });
    const agencyKeys = newSm2Credentials();
    const agency = await fin2('POST', '/v1/finance/parties', { role: 'agency', code: 'AGENCY_CUSTODY', name: '代收机构', publicKey: agencyKeys.publicKeyPem, clearingAccountNo: world.clearingAccountNo });
    const bankParty = await fin2('POST', '/v1/finance/parties', { role: 'bank', code: 'BANK_CUSTODY', name: '收款银行', publicKey: newSm2Credentials().publicKeyPem });
    expect([unit.status, agency.status, bankParty.status]).toEqual([201, 201, 201]);
    const agencyAppId = agency.body.appId as string;
    const firstKey = agency.body.keys[0].keyId as string;
    const asAgency = signedAs(service, { appId: agencyAppId, keyId: firstKey, privateKey: agencyKeys.privateKey, publicKey: agencyKeys.publicKeyPem });
    const agencyAfter = (await asAgency('GET', '/v1/agency/events')).body.nextAfter as number;
    const financeAfter = (await fin1('GET', '/v1/finance/events')).body.nextAfter as number;
    const added = await fin2('POST', `/v1/finance/parties/${agencyAppId}/keys`, { publicKey: newSm2Credentials().publicKeyPem });
    expect(added.status).toBe(201);
    // The agency learns at once that another key signs as it, and who put it there; so does every finance party.
    const announced = { type: 'party.keyAdded', data: { party: { appId: agencyAppId, role: 'agency', code: 'AGENCY_CUSTODY' }, key: { keyId: added.body.keyId, algorithm: 'SM2', status: 'ACTIVE' }, changedBy: fin2Credentials.appId } };
    expect((await asAgency('GET', `/v1/agency/events?after=${agencyAfter}`)).body.data).toEqual([expect.objectContaining(announced)]);
    expect((await fin1('GET', `/v1/finance/events?after=${financeAfter}`)).body.data).toEqual([expect.objectContaining(announced)]);
    // A key added again is no change and is not announced again.
    expect((await fin2('POST', `/v1/finance/parties/${agencyAppId}/keys`, { publicKey: (await db()('party_keys').where({ key_id: added.body.keyId }).first()).public_key_pem })).status).toBe(200);
    expect((await fin2('DELETE', `/v1/finance/parties/${agencyAppId}/keys/${added.body.keyId}`)).status).toBe(200);
    const retiredEvents = (await fin1('GET', `/v1/finance/events?after=${financeAfter}`)).body.data;
    expect(retiredEvents.map((event: { type: string; data: { key: { keyId: string; status: string }; changedBy: string } }) => [event.type, event.data.key.keyId, event.data.key.status, event.data.changedBy])).toEqual([
      ['party.keyAdded', added.body.keyId, 'ACTIVE', fin2Credentials.appId],
      ['party.keyRetired', added.body.keyId, 'RETIRED', fin2Credentials.appId],
    ]);
    // The agency, still signing with its first key, reads the retirement too.
    expect((await asAgency('GET', `/v1/agency/events?after=${agencyAfter}`)).body.data.map((event: { type: string }) => event.type)).toEqual(['party.keyAdded', 'party.keyRetired']);
    expect((await fin2('PATCH', `/v1/finance/parties/${agencyAppId}`, { status: 'DISABLED' })).status).toBe(200);
    expect((await fin2('PATCH', `/v1/finance/parties/${agencyAppId}`, { status: 'ACTIVE' })).status).toBe(200);
    const actor = fin2Credentials.appId;
    expect(await auditSince(seq)).toEqual([
      { action: 'party.registered', target: `party:${unit.body.appId}`, actor },
      { action: 'party.registered', target: `party:${agencyAppId}`, actor },
      { action: 'party.registered', target: `party:${bankParty.body.appId}`, actor },
      { action: 'party.key_added', target: `party:${agencyAppId}/key:${added.body.keyId}`, actor },
      { action: 'party.key_retired', target: `party:${agencyAppId}/key:${added.body.keyId}`, actor },
      { action: 'party.updated', target: `party:${agencyAppId}`, actor },
      { action: 'party.updated', target: `party:${agencyAppId}`, actor },
    ]);
  });
});
