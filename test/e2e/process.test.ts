import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/**
 * The process as an operator runs it: `node scripts/run.js src/main.ts` (what `npm start` runs)
 * on an embedded PostgreSQL in a data directory of its own — first start, SIGTERM, restart on the
 * same data, SIGKILL and the start after it.
 */
jest.setTimeout(120_000);

interface Started {
  child: ChildProcess;
  output: string[];
  port: number;
}

const root = path.resolve(__dirname, '..', '..');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function start(dataDir: string, port: number, extraEnv: Record<string, string> = {}): Started {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), TONGFU_DATA_DIR: dataDir, LOG_LEVEL: 'info', ...extraEnv };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, ['scripts/run.js', 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    output.push(...lines.filter((l) => l !== ''));
  });
  child.stderr?.on('data', (chunk: Buffer) => output.push(`stderr: ${chunk.toString('utf8')}`));
  return { child, output, port };
}

async function waitReady(started: Started, timeoutMs = 60_000): Promise<number> {
  const begin = Date.now();
  while (Date.now() - begin < timeoutMs) {
    if (started.child.exitCode !== null) throw new Error(`the service exited (${started.child.exitCode}):\n${started.output.join('\n')}`);
    try {
      const response = await fetch(`http://127.0.0.1:${started.port}/readyz`);
      if (response.status === 200) return Date.now() - begin;
    } catch {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready within ${timeoutMs} ms:\n${started.output.join('\n')}`);
}

/** Waits for a log line: the service may answer before it has logged what it did. */
async function waitForOutput(started: Started, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const begin = Date.now();
  while (!started.output.some((line) => pattern.test(line))) {
    if (Date.now() - begin > timeoutMs) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${started.output.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function embeddedConnection(dataDir: string): string {
  const settings = JSON.parse(fs.readFileSync(path.join(dataDir, 'pg.json'), 'utf8')) as { port: number; password: string };
  return `postgres://tongfu:${settings.password}@127.0.0.1:${settings.port}/tongfu`;
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
}

/** Client sessions on the tongfu database, by transport (this query's own session is one over TCP). */
async function sessionsOfService(client: Client): Promise<{ overSocket: number; overTcp: number }> {
  const { rows } = await client.query<{ over_socket: number; over_tcp: number }>(
    "SELECT count(*) FILTER (WHERE client_port = -1)::int AS over_socket, count(*) FILTER (WHERE client_port > 0)::int AS over_tcp FROM pg_stat_activity WHERE datname = 'tongfu' AND backend_type = 'client backend'",
  );
  return { overSocket: rows[0]?.over_socket ?? 0, overTcp: rows[0]?.over_tcp ?? 0 };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}

describe('the service process', () => {
  if (process.getuid?.() === 0) {
    it('as root, runs PostgreSQL as the postgres user even when the data directory is closed to it', async () => {
      const closedParent = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-closed-')); // mode 0700
      const port = await freePort();
      const started = start(path.join(closedParent, 'var'), port);
      try {
        await waitReady(started);
        expect(started.output.join('\n')).toMatch(/cannot reach the data directory/);
      } finally {
        started.child.kill('SIGTERM');
        expect((await exited(started.child)).code).toBe(0);
        fs.rmSync(closedParent, { recursive: true, force: true });
        const moved = started.output.map((l) => /"clusterDir":"([^"]+)"/.exec(l)?.[1]).find((d) => d?.startsWith('/var/lib/tongfu/'));
        if (moved) fs.rmSync(path.dirname(moved), { recursive: true, force: true });
      }
    });
  }

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-e2e-'));
  fs.chmodSync(dataDir, 0o755);
  let current: Started | undefined;

  afterAll(async () => {
    if (current && current.child.exitCode === null) {
      current.child.kill('SIGTERM');
      await exited(current.child);
    }
    const orphan = postmasterPid(dataDir);
    if (orphan && isRunning(orphan)) process.kill(orphan, 'SIGINT');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts on a fresh embedded PostgreSQL, logs JSON, and stops on SIGTERM with exit 0', async () => {
    const port = await freePort();
    current = start(dataDir, port);
    const readyMs = await waitReady(current);
    expect(readyMs).toBeGreaterThan(0);

    const health = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { 'x-request-id': 'e2e-health' } });
    expect(await health.json()).toEqual({ status: 'ok' });
    await fetch(`http://127.0.0.1:${port}/v1/nowhere`, { headers: { 'x-request-id': 'e2e-404' } });

    // Leave a mark in the database to find after the restart.
    const client = new Client({ connectionString: embeddedConnection(dataDir) });
    await client.connect();
    await client.query('CREATE TABLE e2e_mark (note text)');
    await client.query("INSERT INTO e2e_mark VALUES ('survives restarts')");
    // The service reaches its server through the Unix socket in the cluster directory (decision
    // 0011); such sessions show client_port -1, this test's TCP session a real port.
    const sessions = await sessionsOfService(client);
    expect(sessions.overSocket).toBeGreaterThan(0);
    expect(sessions.overTcp).toBe(1);
    expect(fs.readdirSync(path.join(dataDir, 'pg')).some((name) => /^\.s\.PGSQL\.[0-9]+$/.test(name))).toBe(true);
    await client.end();

    const pgPid = postmasterPid(dataDir) as number;
    current.child.kill('SIGTERM');
    const { code } = await exited(current.child);
    expect(code).toBe(0);
    expect(isRunning(pgPid)).toBe(false);

    const lines = current.output.filter((l) => !l.startsWith('stderr:')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.every((l) => typeof l.level === 'string' && typeof l.time === 'string' && typeof l.msg === 'string')).toBe(true);
    expect(lines.find((l) => l.requestId === 'e2e-404')).toMatchObject({ status: 404, path: '/v1/nowhere' });
    expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('runs the CLI on the same embedded database, with and without the service running', async () => {
    const runCliProcess = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, TONGFU_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
        delete env.DATABASE_URL;
        const child = spawn(process.execPath, ['scripts/run.js', 'scripts/cli.ts', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
        let stdout = '';
        child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        child.once('exit', (code) => resolve({ code, stdout }));
      });
    // The service is stopped: the CLI starts the server for itself and stops it after.
    const alone = await runCliProcess(['migrate']);
    expect(alone.code).toBe(0);
    expect(JSON.parse(alone.stdout)).toEqual({ applied: [] });
    expect(postmasterPid(dataDir) === undefined || !isRunning(postmasterPid(dataDir) as number)).toBe(true);

    // The service runs: the CLI shares its server and leaves it running.
    const port = await freePort();
    current = start(dataDir, port);
    await waitReady(current);
    const shared = await runCliProcess(['migrate']);
    expect(shared.code).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    current.child.kill('SIGTERM');
    expect((await exited(current.child)).code).toBe(0);
  });

  it('restarts on the same data, then recovers from SIGKILL (orphaned server, stale lock)', async () => {
    const port = await freePort();
    current = start(dataDir, port);
    await waitReady(current);
    const client = new Client({ connectionString: embeddedConnection(dataDir) });
    await client.connect();
    expect((await client.query('SELECT note FROM e2e_mark')).rows).toEqual([{ note: 'survives restarts' }]);
    await client.end();

    const orphan = postmasterPid(dataDir) as number;
    current.child.kill('SIGKILL');
    await exited(current.child);
    expect(isRunning(orphan)).toBe(true); // PostgreSQL outlives the killed service

    current = start(dataDir, port);
    await waitReady(current);
    expect(isRunning(orphan)).toBe(false);
    expect(current.output.join('\n')).toMatch(/orphaned by a killed process/);
    current.child.kill('SIGTERM');
    expect((await exited(current.child)).code).toBe(0);
  });

  it('starts after both the service and its PostgreSQL were killed (a stale postmaster.pid)', async () => {
    const port = await freePort();
    current = start(dataDir, port);
    await waitReady(current);
    const pgPid = postmasterPid(dataDir) as number;
    current.child.kill('SIGKILL');
    process.kill(pgPid, 'SIGKILL');
    await exited(current.child);
    while (isRunning(pgPid)) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(true);

    current = start(dataDir, port);
    await waitReady(current);
    current.child.kill('SIGTERM');
    expect((await exited(current.child)).code).toBe(0);
  });

  it('starts its PostgreSQL again when it dies under the running service, and answers 503 meanwhile', async () => {
    const port = await freePort();
    current = start(dataDir, port);
    await waitReady(current);
    const before = new Client({ connectionString: embeddedConnection(dataDir) });
    await before.connect();
    await before.query('CREATE TABLE IF NOT EXISTS e2e_supervised (note text)');
    await before.query("INSERT INTO e2e_supervised VALUES ('committed before the kill')");
    await before.end();
    const killed = postmasterPid(dataDir) as number;
    process.kill(killed, 'SIGKILL');
    while (isRunning(killed)) await new Promise((resolve) => setTimeout(resolve, 20));
    // Meanwhile: fast refusals, never a hang or a 500.
    const during = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(during.status).toBe(503);

    // Ready again within a minute (waitReady fails the test otherwise). The service's pool can
    // reach the new server a poll before the supervisor logs that it is back.
    await waitReady(current, 60_000);
    await waitForOutput(current, /is running again/);
    const restarted = postmasterPid(dataDir) as number;
    expect(restarted).not.toBe(killed);
    expect(isRunning(restarted)).toBe(true);
    expect(current.output.join('\n')).toMatch(/stopped unexpectedly; starting it again/);
    const client = new Client({ connectionString: embeddedConnection(dataDir) });
    await client.connect();
    const rows = await client.query('SELECT note FROM e2e_supervised').finally(() => client.end());
    expect(rows.rows).toEqual([{ note: 'committed before the kill' }]);

    // A stop that was asked for is not undone.
    current.child.kill('SIGTERM');
    expect((await exited(current.child)).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(isRunning(restarted)).toBe(false);
    expect(postmasterPid(dataDir)).toBeUndefined();
  });

  it('connects over TCP when the Unix socket path would be too long for the kernel', async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-deep-'));
    fs.chmodSync(parent, 0o755); // as root, a closed parent would move the cluster to a short path
    const deepDir = path.join(parent, 'd'.repeat(100));
    fs.mkdirSync(deepDir, { mode: 0o755 });
    const port = await freePort();
    const started = start(deepDir, port);
    try {
      await waitReady(started);
      expect(fs.readdirSync(path.join(deepDir, 'pg')).some((name) => name.startsWith('.s.PGSQL.'))).toBe(false);
      const client = new Client({ connectionString: embeddedConnection(deepDir) });
      await client.connect();
      const sessions = await sessionsOfService(client).finally(() => client.end());
      expect(sessions.overSocket).toBe(0);
      expect(sessions.overTcp).toBeGreaterThan(1);
    } finally {
      started.child.kill('SIGTERM');
      expect((await exited(started.child)).code).toBe(0);
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });

  it('refuses bad configuration with a message naming the variable', async () => {
    const started = start(dataDir, 1, { PORT: 'eighty', TONGFU_CLOCK: 'offset:+1d' });
    const { code } = await exited(started.child);
    expect(code).toBe(2);
    expect(started.output.join('\n')).toMatch(/PORT/);
  });
});
