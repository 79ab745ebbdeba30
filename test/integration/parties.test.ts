import pino from 'pino';
import { partyAddCommand } from '../../src/cli/partyAdd';
import { parsePublicKey } from '../../src/crypto/keys';
import { ManualClock } from '../../src/domain/clock';
import { TongfuError } from '../../src/domain/errors';
import { CatalogueService, findItems, findSharingRules, unauthorizedItemCodes } from '../../src/services/catalogue';
import { findPartyRecord, PartyService, RegisterPartyInput } from '../../src/services/parties';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { newRsaCredentials, newSm2Credentials } from '../helpers/signedClient';
import { writeKeyFile } from '../api/financeFixtures';
import { CLI_ACTOR } from '../../src/services/audit';

// The party and catalogue use cases on a real PostgreSQL, without HTTP: the `party add` core,
// idempotency under real concurrent connections, the after-commit hook the authenticator relies
// on, and the reads later use cases (notices, payments) build on.

const log = pino({ level: 'silent' });

async function rejection(promise: Promise<unknown>): Promise<TongfuError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TongfuError) return error;
    throw error;
  }
  throw new Error('expected a TongfuError, but the call succeeded');
}

describe('parties and catalogue use cases', () => {
  let database: TestDatabase;
  let parties: PartyService;
  let catalogue: CatalogueService;
  const changed: string[] = [];
  const clock = new ManualClock(new Date('2026-11-27T09:30:00+08:00'));

  beforeAll(async () => {
    database = await createTestDatabase(20);
    const clocks = { business: clock, real: clock };
    parties = new PartyService({ db: database.db, clocks, log, onPartyChanged: (appId) => void changed.push(appId) });
    catalogue = new CatalogueService({ db: database.db, clocks, log });
  });
  afterAll(async () => {
    await database.drop();
  });

  async function seedBankAndAccounts(): Promise<void> {
    if (await findPartyRecord(database.db, 'bank', 'BANK-1')) return;
    await parties.register({ role: 'bank', code: 'BANK-1', name: '工商银行', publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR);
    await catalogue.putRegion('150000', { name: '内蒙古自治区' }, CLI_ACTOR);
    await catalogue.putAccount('FISCAL-1', { name: '财政专户', bankCode: 'BANK-1', kind: 'FISCAL' }, CLI_ACTOR);
    await catalogue.putAccount('CLEAR-1', { name: '汇缴户', bankCode: 'BANK-1', kind: 'CLEARING' }, CLI_ACTOR);
  }

  describe('party add', () => {
    it('registers the first finance party from a key file and answers {appId, keyId}', async () => {
      const key = newSm2Credentials();
      const file = writeKeyFile(key.publicKeyPem);
      const args = ['--role', 'finance', '--code', 'FIN-1', '--name', '财政厅', '--public-key', file];
      const result = await partyAddCommand(args, { parties });
      expect(result).toEqual({ appId: expect.stringMatching(/^A[A-Z2-7]{20}$/), keyId: parsePublicKey(key.publicKeyPem).keyId });
      const party = await parties.get(result.appId);
      expect(party).toMatchObject({ role: 'finance', code: 'FIN-1', name: '财政厅', status: 'ACTIVE', regionCode: null, clearingAccountNo: null, cutoffTime: null });
      expect(party.createdAt).toEqual(clock.now());

      // Running the same command again answers the same party; other content is a conflict.
      expect(await partyAddCommand(args, { parties })).toEqual(result);
      const conflict = await rejection(partyAddCommand(['--role', 'finance', '--code', 'FIN-1', '--name', '财政局', '--public-key', file], { parties }));
      expect(conflict.code).toBe('IDEMPOTENCY_CONFLICT');
    });

    it('registers an agency and a unit with their role options (a hex key file too)', async () => {
      await seedBankAndAccounts();
      const rsa = newRsaCredentials(2048);
      const agency = await partyAddCommand(['--role', 'agency', '--code', 'AG-CLI', '--name', '代收行', '--public-key', writeKeyFile(rsa.publicKeyPem), '--clearing-account', 'CLEAR-1', '--cutoff', '22:30', '--callback-url', 'https://ag.example.cn/cb'], { parties });
      expect(await findPartyRecord(database.db, 'agency', 'AG-CLI')).toMatchObject({ appId: agency.appId, clearingAccountNo: 'CLEAR-1', cutoffTime: '22:30', callbackUrl: 'https://ag.example.cn/cb' });
      const sm2 = newSm2Credentials();
      const unit = await partyAddCommand(['--role', 'unit', '--code', 'UNIT-CLI', '--name', '市场监管局', '--public-key', writeKeyFile(`${sm2.publicKeyHex}\n`), '--region', '150000'], { parties });
      expect(unit.keyId).toBe(parsePublicKey(sm2.publicKeyHex).keyId);
      expect((await findPartyRecord(database.db, 'unit', 'UNIT-CLI'))?.regionCode).toBe('150000');
    });

    it('names the options in its problems', async () => {
      const file = writeKeyFile(newSm2Credentials().publicKeyPem);
      const missing = await rejection(partyAddCommand(['--role', 'finance'], { parties }));
      expect(missing.code).toBe('VALIDATION_FAILED');
      expect(missing.details?.fields).toEqual([
        { path: '--code', problem: 'is required' },
        { path: '--name', problem: 'is required' },
        { path: '--public-key', problem: 'is required' },
      ]);
      const unknownOption = await rejection(partyAddCommand(['--role', 'finance', '--code', 'X', '--name', 'x', '--public-key', file, '--colour', 'red'], { parties }));
      expect(unknownOption.code).toBe('VALIDATION_FAILED');
      const badValues = await rejection(partyAddCommand(['--role', 'payer', '--code', 'X Y', '--name', 'x', '--public-key', file, '--cutoff', '25:00'], { parties }));
      expect((badValues.details?.fields as Array<{ path: string }>).map((field) => field.path).sort()).toEqual(['--code', '--cutoff', '--role']);
      const noFile = await rejection(partyAddCommand(['--role', 'finance', '--code', 'X', '--name', 'x', '--public-key', '/nonexistent/key.pem'], { parties }));
      expect(noFile.details?.fields).toEqual([{ path: '--public-key', problem: expect.stringContaining('ENOENT') }]);
      const weak = await rejection(partyAddCommand(['--role', 'finance', '--code', 'X', '--name', 'x', '--public-key', writeKeyFile(newRsaCredentials(1024).publicKeyPem)], { parties }));
      expect(weak.details?.fields).toEqual([{ path: '--public-key', problem: expect.stringMatching(/^RSA key must be at least 2048 bits/) }]);
      const unknownRegion = await rejection(partyAddCommand(['--role', 'unit', '--code', 'X', '--name', 'x', '--public-key', file, '--region', '110000'], { parties }));
      expect(unknownRegion.code).toBe('UNKNOWN_REFERENCE');
      expect(unknownRegion.details?.fields).toEqual([{ path: '--region', problem: 'no region 110000 is registered' }]);
      expect(await database.db('parties').where({ code: 'X' })).toHaveLength(0);
    });
  });

  describe('registration idempotency', () => {
    it('creates one party from ten concurrent identical registrations on separate connections', async () => {
      const input: RegisterPartyInput = { role: 'bank', code: 'CONCURRENT', name: '并发银行', publicKey: newSm2Credentials().publicKeyPem };
      const results = await Promise.all(Array.from({ length: 10 }, () => parties.register({ ...input }, CLI_ACTOR)));
      expect(new Set(results.map((result) => result.party.appId)).size).toBe(1);
      expect(results.filter((result) => !result.replayed)).toHaveLength(1);
      expect(await database.db('parties').where({ role: 'bank', code: 'CONCURRENT' })).toHaveLength(1);
    });

    it('lets one of ten concurrent different registrations of a (role, code) win; the others conflict', async () => {
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, index) => parties.register({ role: 'bank', code: 'CONTESTED', name: `银行 ${index}`, publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR)));
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      expect(refused.map((outcome) => (outcome.reason as TongfuError).code)).toEqual(Array(9).fill('IDEMPOTENCY_CONFLICT'));
    });

    it('writes nothing for a registration refused on a reference, and leaves its key free', async () => {
      await seedBankAndAccounts();
      const input: RegisterPartyInput = { role: 'agency', code: 'AG-LATER', name: '代收', publicKey: newSm2Credentials().publicKeyPem, clearingAccountNo: 'CLEAR-2' };
      expect((await rejection(parties.register(input, CLI_ACTOR))).code).toBe('UNKNOWN_REFERENCE');
      expect(await database.db('parties').where({ code: 'AG-LATER' })).toHaveLength(0);
      await catalogue.putAccount('CLEAR-2', { name: '汇缴户二', bankCode: 'BANK-1', kind: 'CLEARING' }, CLI_ACTOR);
      expect((await parties.register(input, CLI_ACTOR)).replayed).toBe(false);
      // The clearing account is now in use: it must stay a CLEARING account.
      const kindChange = await rejection(catalogue.putAccount('CLEAR-2', { name: '汇缴户二', bankCode: 'BANK-1', kind: 'FISCAL' }, CLI_ACTOR));
      expect(kindChange.code).toBe('VALIDATION_FAILED');
      expect(JSON.stringify(kindChange.details)).toMatch(/AG-LATER/);
    });
  });

  describe('after-commit notifications', () => {
    it('tells the authenticator about every committed change to a party, and about nothing refused', async () => {
      const registration = await parties.register({ role: 'bank', code: 'NOTIFY', name: '通知', publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR);
      const { appId } = registration.party;
      const notified = (): number => changed.filter((entry) => entry === appId).length;
      expect(notified()).toBe(1);

      await parties.update(appId, { status: 'DISABLED' }, CLI_ACTOR);
      expect(notified()).toBe(2);
      const nextKey = newSm2Credentials().publicKeyPem;
      expect((await parties.addKey(appId, nextKey, CLI_ACTOR)).created).toBe(true);
      expect(notified()).toBe(3);
      // The same key again changes nothing, and says nothing.
      expect((await parties.addKey(appId, nextKey, CLI_ACTOR)).created).toBe(false);
      expect(notified()).toBe(3);
      const keys = (await parties.get(appId)).keys;
      await parties.retireKey(appId, keys[0]!.keyId, CLI_ACTOR);
      expect(notified()).toBe(4);
      await parties.retireKey(appId, keys[0]!.keyId, CLI_ACTOR);
      expect(notified()).toBe(4);
      expect((await rejection(parties.update(appId, { callbackUrl: 'ftp://nowhere' }, CLI_ACTOR))).code).toBe('VALIDATION_FAILED');
      expect((await rejection(parties.retireKey(appId, keys[1]!.keyId, CLI_ACTOR))).code).toBe('LAST_ACTIVE_KEY');
      expect(notified()).toBe(4);
    });

    it('refuses to retire the last active key and keeps it active', async () => {
      const { party, keyId } = await parties.register({ role: 'bank', code: 'ONE-KEY', name: '单钥', publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR);
      const refused = await rejection(parties.retireKey(party.appId, keyId, CLI_ACTOR));
      expect(refused.code).toBe('LAST_ACTIVE_KEY');
      expect((await parties.get(party.appId)).keys.map((key) => key.status)).toEqual(['ACTIVE']);
    });
  });

  describe('catalogue upserts under concurrency', () => {
    const fixedItem = { name: '工本费', incomeSortCode: '1030401', budgetLevel: 4, receivingAccountNo: 'FISCAL-1', pricing: { type: 'FIXED' as const, amount: '20.00' }, lateFee: { type: 'NONE' as const }, status: 'ACTIVE' as const };

    it('creates an item once when ten identical PUTs race, and keeps one version', async () => {
      await seedBankAndAccounts();
      const results = await Promise.all(Array.from({ length: 10 }, () => catalogue.putItem('RACE-ITEM', fixedItem, CLI_ACTOR)));
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(results.every((result) => result.resource.version === 1)).toBe(true);
      expect(await database.db('item_versions').join('items', 'items.id', 'item_versions.item_id').where('items.code', 'RACE-ITEM')).toHaveLength(1);
    });

    it('numbers the versions of racing changes without gaps, one history row each', async () => {
      await seedBankAndAccounts();
      const amounts = Array.from({ length: 8 }, (_, index) => `${index + 1}.00`);
      await Promise.all(amounts.map((amount) => catalogue.putItem('RACE-VERSIONS', { ...fixedItem, pricing: { type: 'FIXED', amount } }, CLI_ACTOR)));
      const item = await catalogue.getItem('RACE-VERSIONS');
      const history = await database.db('item_versions').join('items', 'items.id', 'item_versions.item_id').where('items.code', 'RACE-VERSIONS').orderBy('item_versions.version').select('item_versions.version', 'item_versions.content');
      expect(item.version).toBe(amounts.length);
      expect(history.map((row: { version: number }) => row.version)).toEqual(amounts.map((_, index) => index + 1));
      expect(history[history.length - 1].content.pricing.amount).toBe(item.pricing.type === 'FIXED' ? item.pricing.amount.toFixed(2) : undefined);
    });

    it('ends a race of unit item replacements with exactly one of the sets', async () => {
      await seedBankAndAccounts();
      for (const code of ['SET-A', 'SET-B', 'SET-C', 'SET-D']) await catalogue.putItem(code, fixedItem, CLI_ACTOR);
      const unit = await parties.register({ role: 'unit', code: 'UNIT-RACE', name: '单位', publicKey: newSm2Credentials().publicKeyHex, regionCode: '150000' }, CLI_ACTOR);
      const sets = [['SET-A', 'SET-B'], ['SET-C', 'SET-D'], ['SET-A', 'SET-D'], ['SET-B']];
      await Promise.all(sets.map((itemCodes) => catalogue.putUnitItems('UNIT-RACE', { itemCodes }, CLI_ACTOR)));
      const final = (await catalogue.getUnitItems('UNIT-RACE')).itemCodes;
      expect(sets.map((set) => [...set].sort().join())).toContain(final.join());
      expect(await unauthorizedItemCodes(database.db, unit.party.partyId, ['SET-A', 'SET-B', 'SET-C', 'SET-D'])).toEqual(['SET-A', 'SET-B', 'SET-C', 'SET-D'].filter((code) => !final.includes(code)));
    });
  });

  describe('reads for later use cases', () => {
    it('loads items with their pricing and late-fee rules as decimals, and sharing rules in order', async () => {
      await seedBankAndAccounts();
      await catalogue.putSharingRule('SPLIT', { name: '分成', shares: [{ budgetLevel: 4, ratio: '0.6' }, { budgetLevel: 2, ratio: '0.4' }] }, CLI_ACTOR);
      await catalogue.putItem('FINE-1', { name: '罚没', incomeSortCode: '10305', budgetLevel: 0, sharingRuleCode: 'SPLIT', receivingAccountNo: 'FISCAL-1', pricing: { type: 'RANGE', min: '50.00', max: '500.00' }, lateFee: { type: 'DAILY_RATE', ratePerDay: '0.03', capRatio: '1' }, status: 'ACTIVE' }, CLI_ACTOR);
      const items = await findItems(database.db, ['FINE-1', 'NOPE']);
      expect([...items.keys()]).toEqual(['FINE-1']);
      const item = items.get('FINE-1')!;
      expect(item.pricing.type === 'RANGE' && [item.pricing.min.toFixed(2), item.pricing.max.toFixed(2)]).toEqual(['50.00', '500.00']);
      expect(item.lateFee.type === 'DAILY_RATE' && [item.lateFee.ratePerDay.toString(), item.lateFee.capRatio.toString()]).toEqual(['0.03', '1']);
      const rules = await findSharingRules(database.db, [item.sharingRuleCode!]);
      expect(rules.get('SPLIT')?.shares.map((share) => [share.budgetLevel, share.ratio.toString()])).toEqual([[4, '0.6'], [2, '0.4']]);
    });

    it('finds an agency’s cut-off and clearing account by its code', async () => {
      await seedBankAndAccounts();
      await parties.register({ role: 'agency', code: 'AG-READ', name: '代收', publicKey: newSm2Credentials().publicKeyHex, clearingAccountNo: 'CLEAR-1' }, CLI_ACTOR);
      expect(await findPartyRecord(database.db, 'agency', 'AG-READ')).toMatchObject({ role: 'agency', code: 'AG-READ', clearingAccountNo: 'CLEAR-1', cutoffTime: '24:00', status: 'ACTIVE' });
      expect(await findPartyRecord(database.db, 'unit', 'AG-READ')).toBeUndefined();
    });
  });
});
