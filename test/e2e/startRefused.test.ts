import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A start refused for a bad setting leaves nothing running: settings that can only be checked
 * once the embedded PostgreSQL has started (a TONGFU_CRON_* expression, a PORT already taken)
 * stop that server too, and the message names the setting and the form it accepts.
 */
jest.setTimeout(120_000);

const root = path.resolve(__dirname, '..', '..');

function run(dataDir: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TONGFU_DATA_DIR: dataDir, TONGFU_HTTP_WORKERS: '1', LOG_LEVEL: 'warn', ...env };
  delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, ['scripts/run.js', 'src/main.ts'], { cwd: root, env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

/** Processes whose command line names the data directory: the embedded server runs with `-D <dir>/pg`. */
function processesUsing(dataDir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (commandLine.includes(dataDir)) found.push(`${pid}: ${commandLine}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

async function expectNothingLeft(dataDir: string): Promise<void> {
  // The server stops before the process exits; give the kernel a moment to reap it.
  for (let attempt = 0; attempt < 50 && processesUsing(dataDir).length > 0; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(processesUsing(dataDir)).toEqual([]);
  expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
}

let dataDir: string;

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-refused-'));
  fs.chmodSync(dataDir, 0o755);
});

afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('a bad TONGFU_CRON_* stops the embedded PostgreSQL it started, and says what the setting takes', async () => {
  const result = await run(dataDir, { PORT: '0', TONGFU_CRON_EXPIRE_NOTICES: 'every night' });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('TONGFU_CRON_EXPIRE_NOTICES');
  expect(result.stderr).toContain('e.g. "0 2 * * *;30 6 * * *"');
  // It did start the server (the cluster exists), and stopped it.
  expect(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
  await expectNothingLeft(dataDir);
});

it('a PORT already in use stops the embedded PostgreSQL too, and names PORT', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as net.AddressInfo;
  try {
    const result = await run(dataDir, { PORT: String(port), HOST: '127.0.0.1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`PORT: port ${port} on 127\\.0\\.0\\.1 is already in use; set PORT to a free port number`));
    await expectNothingLeft(dataDir);
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});
