import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliIo, runCli } from '../../src/cli/main';
import { createTestDatabase, TestDatabase } from '../helpers/database';

/** Runs a CLI command in-process against this file's database; returns exit code and output. */
async function cli(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: unknown[]; err: string[] }> {
  const out: unknown[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (value) => out.push(value), err: (message) => err.push(message) };
  const code = await runCli(argv, io, env);
  return { code, out, err };
}

describe('the CLI', () => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-cli-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    env = { DATABASE_URL: database.connectionString, LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    await database.drop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('migrate applies nothing on a migrated database and says so in JSON', async () => {
    const result = await cli(['migrate'], env);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([{ applied: [] }]);
  });

  it('keygen writes a private key only its owner can read, and a PEM public key', async () => {
    const prefix = path.join(workDir, 'integrator');
    const result = await cli(['keygen', '--out', prefix], env);
    expect(result.code).toBe(0);
    const written = result.out[0] as { privateKeyFile: string; publicKeyFile: string; publicKeyHex: string; keyId: string };
    expect(fs.readFileSync(written.privateKeyFile, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(fs.statSync(written.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(written.publicKeyFile, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(written.publicKeyHex).toMatch(/^04[0-9a-f]{128}$/);
    expect(written.keyId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('keygen takes a relative --out from where the operator ran `npm run cli` (INIT_CWD), not from the package root', async () => {
    const before = process.env.INIT_CWD;
    process.env.INIT_CWD = workDir;
    try {
      const written = (await cli(['keygen', '--out', 'keys/ops'], env)).out[0] as { privateKeyFile: string; publicKeyFile: string };
      expect(written).toMatchObject({ privateKeyFile: path.join(workDir, 'keys', 'ops.key'), publicKeyFile: path.join(workDir, 'keys', 'ops.pub.pem') });
      expect(fs.existsSync(written.privateKeyFile)).toBe(true);
    } finally {
      if (before === undefined) delete process.env.INIT_CWD;
      else process.env.INIT_CWD = before;
    }
  });

  it('keygen never overwrites an existing key: exit 1, the file named, nothing touched', async () => {
    const prefix = path.join(workDir, 'existing');
    fs.writeFileSync(`${prefix}.key`, 'the old private key\n', { mode: 0o600 });
    const result = await cli(['keygen', '--out', prefix], env);
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toContain(`${prefix}.key already exists`);
    expect(fs.readFileSync(`${prefix}.key`, 'utf8')).toBe('the old private key\n');
    expect(fs.existsSync(`${prefix}.pub.pem`)).toBe(false);
  });

  it('keygen refuses an existing public key file before writing the private key', async () => {
    const prefix = path.join(workDir, 'half');
    fs.writeFileSync(`${prefix}.pub.pem`, 'the old public key\n');
    const result = await cli(['keygen', '--out', prefix], env);
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toContain(`${prefix}.pub.pem already exists`);
    expect(fs.readFileSync(`${prefix}.pub.pem`, 'utf8')).toBe('the old public key\n');
    expect(fs.existsSync(`${prefix}.key`)).toBe(false);
  });

  it('keygen follows no symlink, dangling or not', async () => {
    const victim = path.join(workDir, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    const linked = path.join(workDir, 'linked');
    fs.symlinkSync(victim, `${linked}.key`);
    const first = await cli(['keygen', '--out', linked], env);
    expect(first.code).toBe(1);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');

    const planted = path.join(workDir, 'planted-target.key');
    const dangling = path.join(workDir, 'dangling');
    fs.symlinkSync(planted, `${dangling}.pub.pem`);
    const second = await cli(['keygen', '--out', dangling], env);
    expect(second.code).toBe(1);
    expect(second.err.join('\n')).toContain(`${dangling}.pub.pem already exists`);
    expect(fs.existsSync(planted)).toBe(false);
    expect(fs.existsSync(`${dangling}.key`)).toBe(false);
  });

  it('party key add and retire change a finance party’s keys as the operator, in the audit log as cli', async () => {
    const first = (await cli(['keygen', '--out', path.join(workDir, 'fin-key-1')], env)).out[0] as { publicKeyFile: string; keyId: string };
    const added = await cli(['party', 'add', '--role', 'finance', '--code', 'FIN-KEYS', '--name', '财政厅', '--public-key', first.publicKeyFile], env);
    expect(added.code).toBe(0);
    const { appId } = added.out[0] as { appId: string; keyId: string };
    const second = (await cli(['keygen', '--out', path.join(workDir, 'fin-key-2')], env)).out[0] as { publicKeyFile: string; keyId: string };

    const keyAdded = await cli(['party', 'key', 'add', '--app-id', appId, '--public-key', second.publicKeyFile], env);
    expect(keyAdded.code).toBe(0);
    expect(keyAdded.out).toEqual([{ appId, keyId: second.keyId, algorithm: 'SM2', status: 'ACTIVE', created: true }]);
    // The same key again answers it; nothing more is recorded.
    expect((await cli(['party', 'key', 'add', '--app-id', appId, '--public-key', second.publicKeyFile], env)).out).toEqual([{ appId, keyId: second.keyId, algorithm: 'SM2', status: 'ACTIVE', created: false }]);

    const retired = await cli(['party', 'key', 'retire', '--app-id', appId, '--key-id', first.keyId], env);
    expect(retired.code).toBe(0);
    expect(retired.out).toEqual([{ appId, keyId: first.keyId, status: 'RETIRED' }]);
    const last = await cli(['party', 'key', 'retire', '--app-id', appId, '--key-id', second.keyId], env);
    expect(last.code).toBe(1);
    expect(last.err.join('\n')).toMatch(/^LAST_ACTIVE_KEY: key .* is the last active key/);

    const keys = await database.db('party_keys').join('parties', 'parties.id', 'party_keys.party_id').where({ 'parties.app_id': appId }).orderBy('party_keys.id').select('party_keys.key_id', 'party_keys.status');
    expect(keys).toEqual([
      { key_id: first.keyId, status: 'RETIRED' },
      { key_id: second.keyId, status: 'ACTIVE' },
    ]);
    const audit = await database.db('audit_log').where('target', 'like', `party:${appId}%`).orderBy('seq').select('action', 'target', 'actor_app_id');
    expect(audit).toEqual([
      { action: 'party.registered', target: `party:${appId}`, actor_app_id: 'cli' },
      { action: 'party.key_added', target: `party:${appId}/key:${second.keyId}`, actor_app_id: 'cli' },
      { action: 'party.key_retired', target: `party:${appId}/key:${first.keyId}`, actor_app_id: 'cli' },
    ]);
  });

  it('party key refuses an unknown party or key, missing options and a file that is not a key, naming the options', async () => {
    const key = (await cli(['keygen', '--out', path.join(workDir, 'orphan-key')], env)).out[0] as { publicKeyFile: string };
    const unknownParty = await cli(['party', 'key', 'add', '--app-id', 'ANOSUCHAPPID', '--public-key', key.publicKeyFile], env);
    expect(unknownParty.code).toBe(1);
    expect(unknownParty.out[0]).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const missing = await cli(['party', 'key', 'retire', '--app-id', 'ANOSUCHAPPID'], env);
    expect(missing.code).toBe(1);
    expect(missing.out[0]).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { fields: [{ path: '--key-id', problem: 'is required' }] } } });
    const notAKey = path.join(workDir, 'not-a-key.pem');
    fs.writeFileSync(notAKey, 'hello\n');
    const finance = await database.db('parties').where({ code: 'FIN-KEYS' }).first('app_id');
    const bad = await cli(['party', 'key', 'add', '--app-id', finance.app_id, '--public-key', notAKey], env);
    expect(bad.code).toBe(1);
    expect(bad.out[0]).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { fields: [{ path: '--public-key' }] } } });
    const unknownKey = await cli(['party', 'key', 'retire', '--app-id', finance.app_id, '--key-id', 'k000000000000000000000000'], env);
    expect(unknownKey.out[0]).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await cli(['party', 'key', 'rotate'], env)).code).toBe(2);
  });

  it('refuses usage errors with exit 2 and the usage text', async () => {
    expect((await cli(['keygen'], env)).code).toBe(2);
    const unknown = await cli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.err.join('\n')).toMatch(/unknown command "frobnicate"[\s\S]*usage:/);
    const noJob = await cli(['job', 'run', 'no-such-job'], env);
    expect(noJob.code).toBe(2);
    expect(noJob.err.join('\n')).toMatch(/no job is named no-such-job: .*reconcile/);
    expect((await cli(['job', 'run'], env)).err.join('\n')).toMatch(/job run needs a job name: /);
    const badDate = await cli(['job', 'run', 'purge-nonces', '--date', '2026-02-30'], env);
    expect(badDate.code).toBe(2);
    // A day that is not over is never sealed: `close` runs for yesterday at the latest.
    const openDay = await cli(['job', 'run', 'close', '--date', '2099-01-01'], env);
    expect(openDay.code).toBe(2);
    expect(openDay.err.join('\n')).toMatch(/--date 2099-01-01 is refused for close: the latest business date it runs for now is \d{4}-\d{2}-\d{2}/);
  });

  it('refuses a bad configuration naming the variable', async () => {
    const result = await cli(['migrate'], { ...env, DATABASE_URL: 'mysql://nope' });
    expect(result.code).toBe(2);
    expect(result.err.join('\n')).toMatch(/DATABASE_URL/);
  });
});
