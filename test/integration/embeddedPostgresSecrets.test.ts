import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';

// The embedded cluster's superuser password (contracts/decisions/0056-embedded-password.md) is
// never readable by another user: not in the file initdb reads while it runs, not on any command
// line (which every user reads in /proc), not in pg.json. Checked on a real initdb and a real
// server: spawnSync and spawn are watched, and call through.

jest.setTimeout(120_000);

const realSpawnSync = childProcess.spawnSync;

interface SeenPasswordFile {
  mode: number;
  directoryMode: number;
  uid: number;
  readableByNobody: boolean;
  directoryListableByNobody: boolean;
}

/** Whether the user `nobody` can read `target` (really trying, as that user). */
function nobodyCan(args: string[]): boolean {
  const nobody = realSpawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
  const uid = Number(nobody.stdout.trim());
  return realSpawnSync(args[0] as string, args.slice(1), { uid, gid: uid, stdio: 'ignore' }).status === 0;
}

describe('the embedded PostgreSQL superuser password', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-pgsecret-'));
  fs.chmodSync(dataDir, 0o755);
  let embedded: EmbeddedPostgres | undefined;

  afterAll(async () => {
    jest.restoreAllMocks();
    await embedded?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('reaches initdb in a file and directory only initdb’s user can read, and is on no command line', async () => {
    const commandLines: string[][] = [];
    let seen: SeenPasswordFile | undefined;
    let passwordFile: string | undefined;
    jest.spyOn(childProcess, 'spawnSync').mockImplementation(((command: string, args: readonly string[] = [], options?: childProcess.SpawnSyncOptions) => {
      commandLines.push([command, ...args]);
      if (path.basename(command) === 'initdb') {
        const flag = args.find((arg) => arg.startsWith('--pwfile='));
        if (flag === undefined) throw new Error('initdb gets no --pwfile');
        passwordFile = flag.slice('--pwfile='.length);
        const stat = fs.statSync(passwordFile);
        seen = {
          mode: stat.mode & 0o777,
          directoryMode: fs.statSync(path.dirname(passwordFile)).mode & 0o777,
          uid: stat.uid,
          readableByNobody: nobodyCan(['cat', passwordFile]),
          directoryListableByNobody: nobodyCan(['ls', path.dirname(passwordFile)]),
        };
      }
      return realSpawnSync(command, args, options as childProcess.SpawnSyncOptions);
    }) as typeof childProcess.spawnSync);
    const spawned: string[][] = [];
    const realSpawn = childProcess.spawn;
    jest.spyOn(childProcess, 'spawn').mockImplementation(((command: string, args: readonly string[], options: childProcess.SpawnOptions) => {
      spawned.push([command, ...args]);
      return realSpawn(command, args, options);
    }) as typeof childProcess.spawn);

    embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'silent' }), durable: false, reuseLiveServer: false });
    await embedded.start();

    const settingsFile = path.join(dataDir, 'pg.json');
    const { password } = JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as { password: string };
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(seen).toBeDefined();
    expect(seen!.mode).toBe(0o600);
    expect(seen!.directoryMode).toBe(0o700);
    expect(seen!.readableByNobody).toBe(false);
    expect(seen!.directoryListableByNobody).toBe(false);
    if (process.getuid?.() === 0) {
      // As root, initdb runs as postgres: the file is postgres's, so initdb reads it without it being shared.
      expect(seen!.uid).toBe(Number(realSpawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()));
    }
    expect(fs.existsSync(passwordFile!)).toBe(false);
    expect(fs.existsSync(path.dirname(passwordFile!))).toBe(false);

    // No command line we control carries it, the server's included, as /proc shows it to everyone.
    expect(spawned.some((line) => path.basename(line[0] as string) === 'postgres')).toBe(true);
    for (const line of [...commandLines, ...spawned]) expect(line.join(' ')).not.toContain(password);
    const postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(fs.readFileSync(`/proc/${postmasterPid}/cmdline`, 'utf8')).not.toContain(password);

    expect(fs.statSync(settingsFile).mode & 0o777).toBe(0o600);
    expect(nobodyCan(['cat', settingsFile])).toBe(false);
  });
});
