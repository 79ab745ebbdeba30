import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { UploadSpool } from '../../src/http/streamedBody';

// The spool of streamed uploads (decision 0070): private files, a cap on uploads at once, and a
// start-up sweep that removes only the files of processes that no longer run.

describe('UploadSpool', () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'tongfu-spool-'));
  });
  afterEach(async () => {
    await fs.promises.rm(root, { recursive: true, force: true });
  });

  it('creates unique files of mode 0600 in a directory of mode 0700', async () => {
    const spool = new UploadSpool(path.join(root, 'tmp'));
    const first = await spool.create();
    const second = await spool.create();
    await Promise.all([first.handle.close(), second.handle.close()]);
    expect(first.path).not.toBe(second.path);
    expect((await fs.promises.stat(first.path)).mode & 0o777).toBe(0o600);
    expect((await fs.promises.stat(path.join(root, 'tmp'))).mode & 0o777).toBe(0o700);
  });

  it('gives at most inFlightMax places, and a released place once', () => {
    const spool = new UploadSpool(root, 2);
    const a = spool.acquire();
    const b = spool.acquire();
    expect(a && b).toBeTruthy();
    expect(spool.acquire()).toBeUndefined();
    a?.release();
    a?.release();
    expect(spool.uploadsInFlight).toBe(1);
    expect(spool.acquire()).toBeDefined();
    expect(spool.acquire()).toBeUndefined();
  });

  it("sweeps the files of dead processes and keeps live processes' files and anything else", async () => {
    const spool = new UploadSpool(root);
    const own = `upload-${process.pid}-${crypto.randomUUID()}.part`;
    // Linux pids stay below 2^22: this one cannot be running.
    const dead = `upload-999999999-${crypto.randomUUID()}.part`;
    const parent = `upload-${process.ppid}-${crypto.randomUUID()}.part`;
    for (const name of [own, dead, parent, 'notes.txt']) await fs.promises.writeFile(path.join(root, name), 'x');
    expect(await spool.sweepAbandoned(pino({ level: 'silent' }))).toBe(1);
    expect((await fs.promises.readdir(root)).sort()).toEqual([own, parent, 'notes.txt'].sort());
  });

  it('sweeps a directory that does not exist yet as empty', async () => {
    expect(await new UploadSpool(path.join(root, 'missing')).sweepAbandoned(pino({ level: 'silent' }))).toBe(0);
  });
});
