import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';

/**
 * What the embedded PostgreSQL's start-up does with a data directory that is not as it left it
 * (docs/operations.md §1): it never deletes a cluster directory that holds anything, and a damaged
 * pg.json stops start-up with a message that names the file and what to do.
 */
jest.setTimeout(120_000);

const dirs: string[] = [];
function dataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-pgstart-'));
  fs.chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}
function embedded(dir: string): EmbeddedPostgres {
  return new EmbeddedPostgres({ dataDir: dir, log: pino({ level: 'silent' }), durable: false, reuseLiveServer: false });
}

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

it('leaves a cluster directory that lost its PG_VERSION as it is, and says so', async () => {
  const dir = dataDir();
  // What a cluster with its data but without the 3-byte marker looks like to start-up.
  fs.mkdirSync(path.join(dir, 'pg', 'base', '1'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'pg', 'base', '1', '1259'), 'the payments');
  fs.writeFileSync(path.join(dir, 'pg.json'), JSON.stringify({ port: 5999, password: 'kept' }), { mode: 0o600 });

  await expect(embedded(dir).start()).rejects.toThrow(`${path.join(dir, 'pg')} holds files but no PG_VERSION`);
  expect(fs.readFileSync(path.join(dir, 'pg', 'base', '1', '1259'), 'utf8')).toBe('the payments');
  expect(fs.readdirSync(path.join(dir, 'pg')).sort()).toEqual(['base']);
});

it('stops on a damaged pg.json, naming it, and changes nothing', async () => {
  const dir = dataDir();
  fs.writeFileSync(path.join(dir, 'pg.json'), '{"port":341', { mode: 0o600 });
  await expect(embedded(dir).start()).rejects.toThrow(`${path.join(dir, 'pg.json')} is damaged`);
  expect(fs.readFileSync(path.join(dir, 'pg.json'), 'utf8')).toBe('{"port":341');
  expect(fs.existsSync(path.join(dir, 'pg'))).toBe(false);
});

it('creates a fresh cluster through pg.init, removing what a start killed during initdb left', async () => {
  const dir = dataDir();
  fs.mkdirSync(path.join(dir, 'pg.init', 'base'), { recursive: true });
  const server = embedded(dir);
  try {
    await server.start();
    expect(fs.existsSync(path.join(dir, 'pg', 'PG_VERSION'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'pg.init'))).toBe(false);
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'pg.json'), 'utf8')) as object).sort()).toEqual(['password', 'port']);
    expect(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  } finally {
    await server.stop();
  }
});
