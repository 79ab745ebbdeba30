import pino from 'pino';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { signRequest } from '../../src/crypto/requestSigning';
import { ManualClock } from '../../src/domain/clock';
import { TongfuError } from '../../src/domain/errors';
import type { SignedRequest } from '../../src/domain/access';
import { PARTY_CACHE_REFRESH_AT_SHARE, PARTY_CACHE_TTL_MS_MAX, SignedAccessAuthenticator, SignedAccessOptions } from '../../src/services/authentication';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { insertParty, insertPartyKey, PartyRow, retirePartyKey, setPartyStatus } from '../helpers/partyRows';

// The party cache behind signed access, with several "instances" (authenticators) on one database
// and a real clock the test moves: a change made through one instance takes effect there at once,
// and everywhere within PARTY_CACHE_TTL_MS_MAX (contracts/decisions/0003-party-cache.md).

const log = pino({ level: 'silent' });

interface Credentials {
  party: PartyRow;
  privateKeyHex: string;
}

describe('the party cache of signed access', () => {
  let database: TestDatabase;
  let partyReads = 0;
  const clock = new ManualClock(new Date());

  beforeAll(async () => {
    database = await createTestDatabase();
    database.db.on('query', (query: { sql: string }) => {
      if (query.sql.includes('FROM parties p')) partyReads += 1;
    });
  });
  afterAll(async () => {
    await database.drop();
  });

  function instance(options: SignedAccessOptions = {}): SignedAccessAuthenticator {
    return new SignedAccessAuthenticator({ db: database.db, realClock: clock, log }, options);
  }

  async function newAgency(): Promise<Credentials> {
    const pair = generateSm2KeyPair();
    const party = await insertParty(database.db, { role: 'agency', publicKeys: [pair.publicKeyPem] });
    return { party, privateKeyHex: pair.privateKeyHex };
  }

  function request(credentials: { party: Pick<PartyRow, 'appId'>; privateKeyHex: string }, keyId?: string): SignedRequest {
    const headers = signRequest({
      method: 'GET',
      target: '/v1/agency/ping',
      appId: credentials.party.appId,
      keyId,
      privateKey: { algorithm: 'SM2', privateKeyHex: credentials.privateKeyHex },
      timestampSeconds: Math.floor(clock.now().getTime() / 1000),
    });
    return { method: 'GET', target: '/v1/agency/ping', headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])), body: Buffer.alloc(0) };
  }

  async function until(condition: () => boolean): Promise<void> {
    for (let round = 0; round < 200 && !condition(); round += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(condition()).toBe(true);
  }

  async function outcome(authenticator: SignedAccessAuthenticator, signed: SignedRequest): Promise<string> {
    try {
      await authenticator.authenticate(signed, 'agency');
      return 'OK';
    } catch (error) {
      if (error instanceof TongfuError) return error.code;
      throw error;
    }
  }

  it('applies a change at once on the instance told, and within the TTL on every other', async () => {
    const [a, b] = [instance(), instance()];
    const agency = await newAgency();
    expect(await outcome(a, request(agency))).toBe('OK');
    expect(await outcome(b, request(agency))).toBe('OK');

    // Instance a disables the party and, after its commit, invalidates its own cache.
    await setPartyStatus(database.db, agency.party.appId, 'DISABLED');
    a.invalidate(agency.party.appId);
    expect(await outcome(a, request(agency))).toBe('PARTY_DISABLED');
    clock.advance(PARTY_CACHE_TTL_MS_MAX - 1);
    expect(await outcome(b, request(agency))).toBe('OK');
    clock.advance(1);
    expect(await outcome(b, request(agency))).toBe('PARTY_DISABLED');
  });

  it('stops accepting a retired key everywhere within the TTL', async () => {
    const [a, b] = [instance(), instance()];
    const agency = await newAgency();
    const second = generateSm2KeyPair();
    const secondKeyId = await insertPartyKey(database.db, agency.party.partyId, second.publicKeyPem);
    const withSecond = { party: agency.party, privateKeyHex: second.privateKeyHex };
    expect(await outcome(a, request(withSecond, secondKeyId))).toBe('OK');
    expect(await outcome(b, request(withSecond))).toBe('OK');

    await retirePartyKey(database.db, agency.party.partyId, secondKeyId);
    a.invalidate(agency.party.appId);
    expect(await outcome(a, request(withSecond, secondKeyId))).toBe('SIGNATURE_INVALID');
    clock.advance(PARTY_CACHE_TTL_MS_MAX);
    expect(await outcome(b, request(withSecond, secondKeyId))).toBe('SIGNATURE_INVALID');
    expect(await outcome(b, request(withSecond))).toBe('SIGNATURE_INVALID');
    expect(await outcome(b, request(agency))).toBe('OK');
  });

  it('reads a party once for a burst of concurrent first requests', async () => {
    const authenticator = instance();
    const agency = await newAgency();
    const before = partyReads;
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => outcome(authenticator, request(agency))));
    expect(outcomes).toEqual(Array(20).fill('OK'));
    expect(partyReads - before).toBe(1);
    // While fresh and not yet due for a read ahead, nothing is read again.
    clock.advance(PARTY_CACHE_TTL_MS_MAX * PARTY_CACHE_REFRESH_AT_SHARE - 1);
    expect(await outcome(authenticator, request(agency))).toBe('OK');
    expect(partyReads - before).toBe(1);
    // Unused past the TTL, the next request reads for itself.
    clock.advance(PARTY_CACHE_TTL_MS_MAX);
    expect(await outcome(authenticator, request(agency))).toBe('OK');
    expect(partyReads - before).toBe(2);
  });

  it('reads a party in use again ahead of its expiry, so that no request waits at the expiry, and keeps the bound (decision 0245)', async () => {
    const [a, b] = [instance(), instance()];
    const agency = await newAgency();
    expect(await outcome(b, request(agency))).toBe('OK');
    const before = partyReads;
    // Due for a read ahead: this request is answered from the entry, and one read follows.
    clock.advance(PARTY_CACHE_TTL_MS_MAX * PARTY_CACHE_REFRESH_AT_SHARE);
    const duringRead = await Promise.all([outcome(b, request(agency)), outcome(b, request(agency))]);
    expect(duringRead).toEqual(['OK', 'OK']);
    await until(() => partyReads - before === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Past the first read's TTL, the entry read ahead still serves: no read of its own.
    const pastFirstExpiry = PARTY_CACHE_TTL_MS_MAX * (1 - PARTY_CACHE_REFRESH_AT_SHARE) + 1;
    clock.advance(pastFirstExpiry);
    expect(await outcome(b, request(agency))).toBe('OK');
    expect(partyReads - before).toBe(1);

    // A change made on another instance after that read reaches b within the TTL of it: the
    // request that finds the entry due is answered from it, and the read it starts sees the change.
    await setPartyStatus(database.db, agency.party.appId, 'DISABLED');
    a.invalidate(agency.party.appId);
    clock.advance(PARTY_CACHE_TTL_MS_MAX * PARTY_CACHE_REFRESH_AT_SHARE - pastFirstExpiry);
    expect(await outcome(b, request(agency))).toBe('OK');
    await until(() => partyReads - before === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await outcome(b, request(agency))).toBe('PARTY_DISABLED');
  });

  it('does not trust a read that was in flight when an invalidation came', async () => {
    const authenticator = instance();
    const agency = await newAgency();
    const before = partyReads;
    const first = outcome(authenticator, request(agency));
    // The party service commits a change and invalidates while the read may predate the commit.
    authenticator.invalidate(agency.party.appId);
    expect(await first).toBe('OK');
    expect(await outcome(authenticator, request(agency))).toBe('OK');
    expect(partyReads - before).toBe(2);
  });

  it('reads again after a failed signature at most once a second', async () => {
    const authenticator = instance();
    const agency = await newAgency();
    const forger = { party: agency.party, privateKeyHex: generateSm2KeyPair().privateKeyHex };
    expect(await outcome(authenticator, request(agency))).toBe('OK');
    const before = partyReads;
    for (let attempt = 0; attempt < 5; attempt += 1) expect(await outcome(authenticator, request(forger))).toBe('SIGNATURE_INVALID');
    expect(partyReads - before).toBe(0);
    clock.advance(1_000);
    for (let attempt = 0; attempt < 5; attempt += 1) expect(await outcome(authenticator, request(forger))).toBe('SIGNATURE_INVALID');
    expect(partyReads - before).toBe(1);
  });

  it('keeps at most partyCacheEntriesMax parties, evicting the least recently used', async () => {
    const authenticator = instance({ partyCacheEntriesMax: 2 });
    const [p1, p2, p3] = [await newAgency(), await newAgency(), await newAgency()];
    for (const credentials of [p1, p2, p1, p3]) expect(await outcome(authenticator, request(credentials))).toBe('OK');
    const before = partyReads;
    // p2 was the least recently used when p3 came in.
    expect(await outcome(authenticator, request(p1))).toBe('OK');
    expect(await outcome(authenticator, request(p3))).toBe('OK');
    expect(partyReads - before).toBe(0);
    expect(await outcome(authenticator, request(p2))).toBe('OK');
    expect(partyReads - before).toBe(1);
  });

  it('never caches an unknown appId, and accepts no TTL above the bound', async () => {
    const authenticator = instance();
    const pair = generateSm2KeyPair();
    const appId = 'app_registered_later';
    expect(await outcome(authenticator, request({ party: { appId }, privateKeyHex: pair.privateKeyHex }))).toBe('UNKNOWN_APP');
    await insertParty(database.db, { role: 'agency', publicKeys: [pair.publicKeyPem], appId });
    expect(await outcome(authenticator, request({ party: { appId }, privateKeyHex: pair.privateKeyHex }))).toBe('OK');
    expect(() => instance({ partyCacheTtlMs: PARTY_CACHE_TTL_MS_MAX + 1 })).toThrow(/TTL/);
  });
});
