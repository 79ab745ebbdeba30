import crypto from 'node:crypto';
import type { Services } from '../../src/services';
import { CLI_ACTOR } from '../../src/services/audit';
import type { PutItemInput } from '../../src/services/catalogue';
import { newSm2Credentials, PartyCredentials, signedRequest, SignedRequestOptions } from './signedClient';
import type { TestResponse, TestService } from './testService';

/**
 * A world to test notices, verification and payments in, built through the real use cases
 * (src/services/parties.ts and catalogue.ts) — the same code the finance endpoints run — so a
 * test never depends on table layouts: regions, a receiving bank with its accounts, a sharing
 * rule, items of every kind, a unit authorised for some of them, and an agency.
 */

export const REGION = { province: '150000', city: '150100', district: '150102' } as const;

/** Item codes of the catalogue `buildWorld` creates. */
export const ITEMS = {
  /** FIXED 50.00 per unit, no late fee, city level. */
  fixedFee: 'FEE_LICENCE',
  /** RANGE 0.01–100000.00 per unit, late fee 0.03 a day capped at 1.00 × amount, county level. */
  fine: 'FINE_TRAFFIC',
  /** RANGE 1.00–500.00, late fee 0.0005 a day capped at 0.3, shared (budget level 0). */
  sharedFee: 'FEE_SHARED',
  /** INACTIVE; the unit is authorised for it. */
  retired: 'FEE_RETIRED',
  /** ACTIVE, but the unit is not authorised for it. */
  notGranted: 'FEE_OTHER_UNIT',
} as const;

export interface World {
  services: Services;
  finance: PartyCredentials;
  unit: PartyCredentials & { code: string; regionCode: string };
  agency: PartyCredentials & { code: string };
  bankCode: string;
  fiscalAccountNo: string;
  treasuryAccountNo: string;
  clearingAccountNo: string;
}

/** Signed calls as one party: `call('POST', '/v1/unit/notices', body)`. */
export function signedAs(service: TestService, credentials: PartyCredentials) {
  return (method: string, target: string, body?: unknown, options: SignedRequestOptions = {}): Promise<TestResponse> =>
    signedRequest(service, credentials, method, target, { ...options, ...(body === undefined ? {} : { body }) });
}

export type SignedCall = ReturnType<typeof signedAs>;

/**
 * Registers a party through the party use case; answers the credentials to sign as it. `actor` is
 * who the audit log says did it: the operator (`cli`) unless a finance party's appId is given.
 */
export async function registerParty(
  services: Services,
  fields: { role: 'finance' | 'unit' | 'agency' | 'bank'; code: string; name?: string; regionCode?: string; clearingAccountNo?: string; cutoffTime?: string },
  actor: string = CLI_ACTOR,
): Promise<PartyCredentials> {
  const credentials = newSm2Credentials();
  const registration = await services.parties.register({ name: `${fields.role} ${fields.code}`, publicKey: credentials.publicKeyPem, ...fields }, actor);
  return { appId: registration.party.appId, keyId: registration.keyId, privateKey: credentials.privateKey, publicKey: credentials.publicKeyPem };
}

/** An item with sensible defaults for whatever the test does not care about. */
export function itemInput(overrides: Partial<PutItemInput> & Pick<PutItemInput, 'receivingAccountNo'>): PutItemInput {
  return {
    name: '测试收费项目',
    incomeSortCode: '1030401',
    budgetLevel: 3,
    pricing: { type: 'FIXED', amount: '10.00' },
    lateFee: { type: 'NONE' },
    status: 'ACTIVE',
    ...overrides,
  };
}

/** Another unit in the world's region, authorised for `itemCodes`. */
export async function addUnit(world: World, options: { code?: string; name?: string; regionCode?: string; itemCodes?: string[] } = {}): Promise<PartyCredentials & { code: string; regionCode: string }> {
  const code = options.code ?? `UNIT_${crypto.randomBytes(4).toString('hex')}`;
  const regionCode = options.regionCode ?? REGION.district;
  const credentials = await registerParty(world.services, { role: 'unit', code, name: options.name ?? `执收单位 ${code}`, regionCode }, world.finance.appId);
  await world.services.catalogue.putUnitItems(code, { itemCodes: options.itemCodes ?? [] }, world.finance.appId);
  return { ...credentials, code, regionCode };
}

/** Another agency collecting into the world's clearing account. */
export async function addAgency(world: World, code = `AGENCY_${crypto.randomBytes(4).toString('hex')}`): Promise<PartyCredentials & { code: string }> {
  const credentials = await registerParty(world.services, { role: 'agency', code, name: `代收机构 ${code}`, clearingAccountNo: world.clearingAccountNo }, world.finance.appId);
  return { ...credentials, code };
}

/**
 * The whole world. `unitName` and the codes are fixed so tests can assert on them; a test that
 * needs more units or agencies adds them.
 */
export async function buildWorld(service: TestService): Promise<World> {
  const services = service.runtime.services;
  const { catalogue } = services;
  const finance = await registerParty(services, { role: 'finance', code: 'FIN_NM', name: '内蒙古自治区财政厅' });
  // Everything else is the finance party's doing, as the audit log records it.
  const actor = finance.appId;
  await catalogue.putRegion(REGION.province, { name: '内蒙古自治区' }, actor);
  await catalogue.putRegion(REGION.city, { name: '呼和浩特市', parentCode: REGION.province }, actor);
  await catalogue.putRegion(REGION.district, { name: '新城区', parentCode: REGION.city }, actor);
  const bankCode = 'BANK_NM';
  await registerParty(services, { role: 'bank', code: bankCode, name: '内蒙古银行' }, actor);
  const fiscalAccountNo = 'FISCAL_001';
  const treasuryAccountNo = 'TREASURY_001';
  const clearingAccountNo = 'CLEARING_001';
  await catalogue.putAccount(fiscalAccountNo, { name: '财政专户', bankCode, kind: 'FISCAL' }, actor);
  await catalogue.putAccount(treasuryAccountNo, { name: '国库待报解户', bankCode, kind: 'TREASURY' }, actor);
  await catalogue.putAccount(clearingAccountNo, { name: '汇缴户', bankCode, kind: 'CLEARING' }, actor);
  await catalogue.putSharingRule('SHARE_40_60', { name: '区市四六分成', shares: [{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.6' }] }, actor);

  await catalogue.putItem(ITEMS.fixedFee, itemInput({ name: '营业执照工本费', incomeSortCode: '103040101', budgetLevel: 3, receivingAccountNo: fiscalAccountNo, pricing: { type: 'FIXED', amount: '50.00' } }), actor);
  await catalogue.putItem(
    ITEMS.fine,
    itemInput({
      name: '交通违法罚款',
      incomeSortCode: '1030501',
      budgetLevel: 4,
      receivingAccountNo: treasuryAccountNo,
      pricing: { type: 'RANGE', min: '0.01', max: '100000.00' },
      lateFee: { type: 'DAILY_RATE', ratePerDay: '0.03', capRatio: '1.00' },
    }),
    actor,
  );
  await catalogue.putItem(
    ITEMS.sharedFee,
    itemInput({
      name: '分成收费',
      incomeSortCode: '1030402',
      budgetLevel: 0,
      sharingRuleCode: 'SHARE_40_60',
      receivingAccountNo: fiscalAccountNo,
      pricing: { type: 'RANGE', min: '1.00', max: '500.00' },
      lateFee: { type: 'DAILY_RATE', ratePerDay: '0.0005', capRatio: '0.3' },
    }),
    actor,
  );
  await catalogue.putItem(ITEMS.retired, itemInput({ name: '已停征项目', receivingAccountNo: fiscalAccountNo, status: 'INACTIVE' }), actor);
  await catalogue.putItem(ITEMS.notGranted, itemInput({ name: '他单位项目', receivingAccountNo: fiscalAccountNo }), actor);

  const world: World = {
    services,
    finance,
    unit: undefined as unknown as World['unit'],
    agency: undefined as unknown as World['agency'],
    bankCode,
    fiscalAccountNo,
    treasuryAccountNo,
    clearingAccountNo,
  };
  world.unit = await addUnit(world, { code: 'UNIT_SCJ', name: '新城区市场监督管理局', itemCodes: [ITEMS.fixedFee, ITEMS.fine, ITEMS.sharedFee, ITEMS.retired] });
  world.agency = await addAgency(world, 'AGENCY_BANK');
  return world;
}
