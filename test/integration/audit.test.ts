import type { Knex } from 'knex';
import pino from 'pino';
import { CliIo, runCli } from '../../src/cli/main';
import { canonicalJson } from '../../src/crypto/canonicalJson';
import { sm3Hex } from '../../src/crypto/sm3';
import { ManualClock } from '../../src/domain/clock';
import { AUDIT_GENESIS_HASH, AuditVerification, CLI_ACTOR, recordAudit, verifyAuditChain } from '../../src/services/audit';
import { CatalogueService } from '../../src/services/catalogue';
import { EventService } from '../../src/services/events';
import { PartyService } from '../../src/services/parties';
import { createTestDatabase, TestDatabase } from '../helpers/database';
import { recordTestEvent } from '../helpers/eventFixtures';
import { newSm2Credentials } from '../helpers/signedClient';

// The finance audit log (docs/audit.md) on a real PostgreSQL: every finance use case appends in
// its transaction, the chain verifies, concurrent actions get gap-free seqs, the database refuses
// edits, and `audit verify` finds a tampered, a missing and an edited last row.

const log = pino({ level: 'silent' });

interface AuditRowRead {
  seq: string;
  at: Date;
  actor_app_id: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  previous_hash: string;
  hash: string;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: unknown[]; err: string[] }> {
  const out: unknown[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (value) => out.push(value), err: (message) => err.push(message) };
  const code = await runCli(argv, io, env);
  return { code, out, err };
}

describe('the finance audit log', () => {
  let database: TestDatabase;
  let parties: PartyService;
  let catalogue: CatalogueService;
  let events: EventService;
  let env: NodeJS.ProcessEnv;
  let financeAppId: string;
  const clock = new ManualClock(new Date('2026-12-01T09:30:00.750+08:00'));

  async function rows(): Promise<AuditRowRead[]> {
    return (await database.db.raw<{ rows: AuditRowRead[] }>('SELECT seq::text AS seq, at, actor_app_id, action, target, before, after, previous_hash, hash FROM audit_log ORDER BY audit_log.seq')).rows;
  }

  async function lastSeq(): Promise<number> {
    const result = await database.db.raw<{ rows: Array<{ seq: string }> }>('SELECT coalesce(max(seq), 0)::text AS seq FROM audit_log');
    return Number(result.rows[0]!.seq);
  }

  /** Runs statements as the superuser with every trigger off, as someone tampering with the table would. */
  async function asTamperer(work: (trx: Knex.Transaction) => Promise<unknown>): Promise<void> {
    await database.db.transaction(async (trx) => {
      await trx.raw('SET LOCAL session_replication_role = replica');
      await work(trx);
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase(20);
    const clocks = { business: clock, real: clock };
    parties = new PartyService({ db: database.db, clocks, log });
    catalogue = new CatalogueService({ db: database.db, clocks, log });
    events = new EventService({ db: database.db, clocks, log });
    env = { DATABASE_URL: database.connectionString, LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    await database.drop();
  });

  it('records every finance action in its transaction, with its actor and snapshots, chained from 64 zeros', async () => {
    const finance = await parties.register({ role: 'finance', code: 'FIN-AUDIT', name: '财政厅', publicKey: newSm2Credentials().publicKeyHex }, CLI_ACTOR);
    financeAppId = finance.party.appId;
    const actor = financeAppId;
    const bank = await parties.register({ role: 'bank', code: 'BANK-A', name: '银行', publicKey: newSm2Credentials().publicKeyHex }, actor);
    await catalogue.putRegion('150000', { name: '内蒙古自治区' }, actor);
    await catalogue.putRegion('150000', { name: '内蒙古' }, actor);
    await catalogue.putAccount('FISCAL-A', { name: '财政专户', bankCode: 'BANK-A', kind: 'FISCAL' }, actor);
    await catalogue.putSharingRule('SPLIT-A', { name: '分成', shares: [{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.6' }] }, actor);
    await catalogue.putSharingRule('SPLIT-A', { name: '分成', shares: [{ budgetLevel: 2, ratio: '0.5' }, { budgetLevel: 3, ratio: '0.5' }] }, actor);
    const item = { name: '工本费', incomeSortCode: '103040101', budgetLevel: 3, receivingAccountNo: 'FISCAL-A', pricing: { type: 'FIXED' as const, amount: '50.00' }, lateFee: { type: 'NONE' as const }, status: 'ACTIVE' as const };
    await catalogue.putItem('ITEM-A', item, actor);
    await catalogue.putItem('ITEM-A', { ...item, pricing: { type: 'FIXED', amount: '60.00' } }, actor);
    const unitInput = { role: 'unit' as const, code: 'UNIT-A', name: '单位', publicKey: newSm2Credentials().publicKeyHex, regionCode: '150000' };
    const unit = await parties.register(unitInput, actor);
    await catalogue.putUnitItems('UNIT-A', { itemCodes: ['ITEM-A'] }, actor);
    await parties.update(bank.party.appId, { callbackUrl: 'https://bank.example/callback' }, actor);
    const nextKey = newSm2Credentials().publicKeyHex;
    const added = await parties.addKey(bank.party.appId, nextKey, actor);
    await parties.retireKey(bank.party.appId, bank.keyId, actor);
    const eventId = await recordTestEvent(database.db, [unit.party.partyId]);
    await events.redeliver(eventId, actor);

    // The same content again, replays and refusals change nothing and record nothing.
    const before = await lastSeq();
    await catalogue.putRegion('150000', { name: '内蒙古' }, actor);
    await catalogue.putAccount('FISCAL-A', { name: '财政专户', bankCode: 'BANK-A', kind: 'FISCAL' }, actor);
    await catalogue.putSharingRule('SPLIT-A', { name: '分成', shares: [{ budgetLevel: 2, ratio: '0.5' }, { budgetLevel: 3, ratio: '0.50' }] }, actor);
    await catalogue.putItem('ITEM-A', { ...item, pricing: { type: 'FIXED', amount: '60.00' } }, actor);
    await catalogue.putUnitItems('UNIT-A', { itemCodes: ['ITEM-A'] }, actor);
    expect((await parties.register(unitInput, actor)).replayed).toBe(true);
    await parties.update(bank.party.appId, { callbackUrl: 'https://bank.example/callback' }, actor);
    expect((await parties.addKey(bank.party.appId, nextKey, actor)).created).toBe(false);
    await parties.retireKey(bank.party.appId, bank.keyId, actor);
    await expect(catalogue.putRegion('150100', { name: '呼和浩特市', parentCode: '990000' }, actor)).rejects.toMatchObject({ code: 'UNKNOWN_REFERENCE' });
    expect(await lastSeq()).toBe(before);

    const recorded = await rows();
    expect(recorded.map((row) => [row.action, row.target, row.actor_app_id])).toEqual([
      ['party.registered', `party:${financeAppId}`, 'cli'],
      ['party.registered', `party:${bank.party.appId}`, actor],
      ['region.saved', 'region:150000', actor],
      ['region.saved', 'region:150000', actor],
      ['account.saved', 'account:FISCAL-A', actor],
      ['sharing_rule.saved', 'sharing_rule:SPLIT-A', actor],
      ['sharing_rule.saved', 'sharing_rule:SPLIT-A', actor],
      ['item.saved', 'item:ITEM-A', actor],
      ['item.saved', 'item:ITEM-A', actor],
      ['party.registered', `party:${unit.party.appId}`, actor],
      ['unit_items.replaced', 'unit:UNIT-A/items', actor],
      ['party.updated', `party:${bank.party.appId}`, actor],
      ['party.key_added', `party:${bank.party.appId}/key:${added.key.keyId}`, actor],
      ['party.key_retired', `party:${bank.party.appId}/key:${bank.keyId}`, actor],
      ['event.redelivered', `event:${eventId}`, actor],
    ]);
    expect(recorded.map((row) => Number(row.seq))).toEqual(recorded.map((_, index) => index + 1));

    // Snapshots: what the action changed, from what to what.
    expect(recorded[0]!.before).toBeNull();
    expect(recorded[0]!.after).toMatchObject({ appId: financeAppId, role: 'finance', code: 'FIN-AUDIT', status: 'ACTIVE', keys: [{ keyId: finance.keyId, algorithm: 'SM2', status: 'ACTIVE' }] });
    expect(recorded[3]!.before).toEqual({ regionCode: '150000', name: '内蒙古自治区', parentCode: null });
    expect(recorded[3]!.after).toEqual({ regionCode: '150000', name: '内蒙古', parentCode: null });
    expect(recorded[6]!.before).toEqual({ ruleCode: 'SPLIT-A', name: '分成', shares: [{ budgetLevel: 2, ratio: '0.4' }, { budgetLevel: 3, ratio: '0.6' }] });
    expect(recorded[6]!.after).toEqual({ ruleCode: 'SPLIT-A', name: '分成', shares: [{ budgetLevel: 2, ratio: '0.5' }, { budgetLevel: 3, ratio: '0.5' }] });
    expect(recorded[8]!.before).toMatchObject({ itemCode: 'ITEM-A', version: 1, pricing: { type: 'FIXED', amount: '50.00' } });
    expect(recorded[8]!.after).toMatchObject({ itemCode: 'ITEM-A', version: 2, pricing: { type: 'FIXED', amount: '60.00' } });
    expect(recorded[10]!.before).toEqual({ unitCode: 'UNIT-A', itemCodes: [] });
    expect(recorded[10]!.after).toEqual({ unitCode: 'UNIT-A', itemCodes: ['ITEM-A'] });
    expect(recorded[11]!.before).toMatchObject({ callbackUrl: null });
    expect(recorded[11]!.after).toMatchObject({ callbackUrl: 'https://bank.example/callback' });
    expect(recorded[13]!.before).toEqual({ keyId: bank.keyId, algorithm: 'SM2', status: 'ACTIVE' });
    expect(recorded[13]!.after).toEqual({ keyId: bank.keyId, algorithm: 'SM2', status: 'RETIRED' });
    expect(recorded[14]!.after).toEqual({ eventId, deliveries: 0 });
    // Whole seconds: the fraction of the clock's instant is dropped.
    expect(recorded[0]!.at.toISOString()).toBe('2026-12-01T01:30:00.000Z');

    // The hash, computed here from its definition: SM3(previousHash ‖ canonical JSON of the content).
    let previous = '0'.repeat(64);
    for (const row of recorded) {
      expect(row.previous_hash).toBe(previous);
      const content = { seq: Number(row.seq), at: '2026-12-01T09:30:00+08:00', actorAppId: row.actor_app_id, action: row.action, target: row.target, before: row.before, after: row.after };
      expect(row.hash).toBe(sm3Hex(previous + canonicalJson(content)));
      previous = row.hash;
    }
    expect(await database.db('audit_chain_head').first()).toEqual({ id: 1, seq: String(recorded.length), hash: previous });
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, rows: recorded.length, head: { seq: recorded.length, hash: previous }, firstBrokenSeq: null, problem: null });
  });

  it('gives concurrent actions gap-free seqs in commit order, and a rolled-back action gives its seq back', async () => {
    const first = await lastSeq();
    const codes = Array.from({ length: 12 }, (_, index) => `15${String(index + 10).padStart(2, '0')}00`);
    await Promise.all(codes.map((code) => catalogue.putRegion(code, { name: `地区 ${code}` }, financeAppId)));
    await expect(
      database.db.transaction(async (trx) => {
        await recordAudit(trx, { actor: financeAppId, action: 'region.saved', target: 'region:159900', before: null, after: { regionCode: '159900' }, at: clock.now() });
        throw new Error('the action fails after its audit row');
      }),
    ).rejects.toThrow('the action fails');
    await catalogue.putRegion('159800', { name: '最后' }, financeAppId);
    const seqs = (await rows()).map((row) => Number(row.seq)).filter((seq) => seq > first);
    expect(seqs).toEqual(Array.from({ length: codes.length + 1 }, (_, index) => first + index + 1));
    expect((await verifyAuditChain(database.db)).ok).toBe(true);
  });

  it('serialises different finance actions running at once without a deadlock, and they all verify', async () => {
    await catalogue.putItem('ITEM-B', { name: '工本费乙', incomeSortCode: '103040101', budgetLevel: 3, receivingAccountNo: 'FISCAL-A', pricing: { type: 'FIXED', amount: '5.00' }, lateFee: { type: 'NONE' }, status: 'ACTIVE' }, financeAppId);
    const first = await lastSeq();
    const bankAppId = (await database.db('parties').where({ role: 'bank', code: 'BANK-A' }).first('app_id')).app_id as string;
    const actions: Array<Promise<unknown>> = [
      ...Array.from({ length: 4 }, (_, index) => parties.register({ role: 'bank', code: `BANK-MIX-${index}`, name: `银行 ${index}`, publicKey: newSm2Credentials().publicKeyHex }, financeAppId)),
      ...Array.from({ length: 4 }, (_, index) => catalogue.putRegion(`16${index}000`, { name: `地区 ${index}` }, financeAppId)),
      catalogue.putUnitItems('UNIT-A', { itemCodes: [] }, financeAppId),
      catalogue.putUnitItems('UNIT-A', { itemCodes: ['ITEM-A', 'ITEM-B'] }, financeAppId),
      parties.update(bankAppId, { callbackUrl: 'https://bank.example/one' }, financeAppId),
      parties.update(bankAppId, { callbackUrl: 'https://bank.example/two' }, financeAppId),
      parties.addKey(bankAppId, newSm2Credentials().publicKeyHex, financeAppId),
    ];
    await Promise.all(actions);
    const added = (await rows()).filter((row) => Number(row.seq) > first);
    // Both unit-item replacements and both updates change something, whichever runs first (the
    // unit's set is ['ITEM-A'] before, the bank's callback URL neither of the two).
    expect(added).toHaveLength(actions.length);
    expect(added.map((row) => Number(row.seq))).toEqual(added.map((_, index) => first + index + 1));
    expect((await verifyAuditChain(database.db)).ok).toBe(true);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the log, moving the head by hand, and a row that does not continue the chain', async () => {
    await expect(database.db.raw("UPDATE audit_log SET target = 'region:000000' WHERE seq = 1")).rejects.toThrow(/audit_log is append-only: UPDATE/);
    await expect(database.db.raw('DELETE FROM audit_log WHERE seq = 1')).rejects.toThrow(/audit_log is append-only: DELETE/);
    await expect(database.db.raw('TRUNCATE audit_log')).rejects.toThrow(/audit_log is append-only: TRUNCATE/);
    await expect(database.db.raw('UPDATE audit_chain_head SET seq = 1')).rejects.toThrow(/audit_chain_head only moves one row forward/);
    await expect(database.db.raw('DELETE FROM audit_chain_head')).rejects.toThrow(/audit_chain_head only moves/);
    const head = await database.db('audit_chain_head').first();
    const row = { at: new Date('2026-12-01T01:30:00Z'), actor_app_id: 'cli', action: 'region.saved', target: 'region:1', after: '{}', hash: 'f'.repeat(64) };
    await expect(database.db('audit_log').insert({ ...row, seq: Number(head.seq) + 2, previous_hash: head.hash })).rejects.toMatchObject({ code: 'TF010' });
    await expect(database.db('audit_log').insert({ ...row, seq: Number(head.seq) + 1, previous_hash: AUDIT_GENESIS_HASH })).rejects.toMatchObject({ code: 'TF010' });
    expect((await verifyAuditChain(database.db)).ok).toBe(true);
  });

  describe('audit verify', () => {
    async function verify(): Promise<{ code: number; result: AuditVerification; err: string[] }> {
      const run = await cli(['audit', 'verify'], env);
      return { code: run.code, result: run.out[0] as AuditVerification, err: run.err };
    }

    it('refuses other subcommands with exit 2', async () => {
      expect((await cli(['audit'], env)).code).toBe(2);
      expect((await cli(['audit', 'verify', '--all'], env)).code).toBe(2);
    });

    it('answers the whole chain with exit 0', async () => {
      const { code, result } = await verify();
      expect(code).toBe(0);
      expect(result).toMatchObject({ ok: true, rows: await lastSeq(), firstBrokenSeq: null });
    });

    it('catches a middle row whose content was changed, naming its seq', async () => {
      const original = (await rows())[4]!;
      await asTamperer((trx) => trx.raw("UPDATE audit_log SET after = jsonb_set(after, '{name}', '\"改过的\"') WHERE seq = 5"));
      try {
        const { code, result, err } = await verify();
        expect(code).toBe(1);
        expect(result).toMatchObject({ ok: false, firstBrokenSeq: 5 });
        expect(result.problem).toMatch(/row 5: its content does not hash to its stored hash/);
        expect(err.join('\n')).toMatch(/breaks at seq 5/);
      } finally {
        await asTamperer((trx) => trx.raw('UPDATE audit_log SET after = ?::jsonb WHERE seq = 5', [JSON.stringify(original.after)]));
      }
      expect((await verify()).code).toBe(0);
    });

    it('catches a row re-hashed to match its new content: the next row no longer links to it', async () => {
      const original = (await rows())[2]!;
      const content = { seq: 3, at: '2026-12-01T09:30:00+08:00', actorAppId: 'cli', action: original.action, target: original.target, before: original.before, after: original.after };
      await asTamperer((trx) => trx.raw("UPDATE audit_log SET actor_app_id = 'cli', hash = ? WHERE seq = 3", [sm3Hex(original.previous_hash + canonicalJson(content))]));
      try {
        const { code, result } = await verify();
        expect(code).toBe(1);
        expect(result).toMatchObject({ ok: false, firstBrokenSeq: 4 });
        expect(result.problem).toMatch(/row 4: previousHash [0-9a-f]{64} is not the hash of the row before it/);
      } finally {
        await asTamperer((trx) => trx.raw('UPDATE audit_log SET actor_app_id = ?, hash = ? WHERE seq = 3', [original.actor_app_id, original.hash]));
      }
      expect((await verify()).code).toBe(0);
    });

    it('catches a deleted middle row as a gap', async () => {
      const original = (await rows())[6]!;
      await asTamperer((trx) => trx.raw('DELETE FROM audit_log WHERE seq = 7'));
      try {
        const { code, result } = await verify();
        expect(code).toBe(1);
        expect(result).toMatchObject({ ok: false, firstBrokenSeq: 7 });
        expect(result.problem).toMatch(/row 7 is missing: the row after 6 is 8/);
      } finally {
        await asTamperer((trx) => trx('audit_log').insert({ ...original, before: JSON.stringify(original.before), after: JSON.stringify(original.after) }));
      }
      expect((await verify()).code).toBe(0);
    });

    it('catches an edited last row, and a deleted last row (the chain head remembers it)', async () => {
      const last = await lastSeq();
      const original = (await rows())[last - 1]!;
      await asTamperer((trx) => trx.raw("UPDATE audit_log SET target = 'region:000000' WHERE seq = ?", [last]));
      const edited = await verify();
      expect(edited.code).toBe(1);
      expect(edited.result.firstBrokenSeq).toBe(last);

      // Re-hashed to match, it still differs from the head.
      const forged = sm3Hex(original.previous_hash + canonicalJson({ seq: last, at: '2026-12-01T09:30:00+08:00', actorAppId: original.actor_app_id, action: original.action, target: 'region:000000', before: original.before, after: original.after }));
      await asTamperer((trx) => trx.raw('UPDATE audit_log SET hash = ? WHERE seq = ?', [forged, last]));
      const rehashed = await verify();
      expect(rehashed.code).toBe(1);
      expect(rehashed.result).toMatchObject({ firstBrokenSeq: last });
      expect(rehashed.result.problem).toMatch(/is not the one the chain head records/);

      await asTamperer((trx) => trx.raw('DELETE FROM audit_log WHERE seq = ?', [last]));
      const deleted = await verify();
      expect(deleted.code).toBe(1);
      expect(deleted.result).toMatchObject({ firstBrokenSeq: last });
      expect(deleted.result.problem).toMatch(new RegExp(`rows ${last}–${last} are missing`));

      await asTamperer((trx) => trx('audit_log').insert({ ...original, before: JSON.stringify(original.before), after: JSON.stringify(original.after) }));
      expect((await verify()).code).toBe(0);
    });
  });
});
