import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { generateSm2KeyPair } from '../../src/crypto/keys';
import { signRequest } from '../../src/crypto/requestSigning';

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

function runCliProcess(dataDir: string, args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TONGFU_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, ['scripts/run.js', 'scripts/cli.ts', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}

interface E2eParty {
  appId: string;
  privateKeyHex: string;
}

/** Registers a party with a fresh SM2 key through the CLI, as an operator would. */
async function addPartyByCli(dataDir: string, role: string, code: string): Promise<E2eParty> {
  const keys = generateSm2KeyPair();
  const keyFile = path.join(dataDir, `${code}.pub.pem`);
  fs.writeFileSync(keyFile, keys.publicKeyPem);
  const added = await runCliProcess(dataDir, ['party', 'add', '--role', role, '--code', code, '--name', code, '--public-key', keyFile]);
  if (added.code !== 0) throw new Error(`party add ${role} ${code} failed (${added.code}): ${added.stdout}`);
  return { appId: (JSON.parse(added.stdout) as { appId: string }).appId, privateKeyHex: keys.privateKeyHex };
}

/** A signed request on a connection of its own, so the main process hands it to the next HTTP worker. */
async function signedOnFreshConnection(port: number, party: E2eParty, method: string, target: string, requestId: string, body?: unknown, agent: http.Agent | false = false): Promise<{ status: number; code: string | undefined }> {
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const headers: Record<string, string> = {
    ...signRequest({ method, target, body: bytes, appId: party.appId, privateKey: { algorithm: 'SM2', privateKeyHex: party.privateKeyHex }, timestampSeconds: Math.floor(Date.now() / 1000) }),
    'x-request-id': requestId,
    ...(bytes ? { 'content-type': 'application/json', 'content-length': String(bytes.length) } : {}),
  };
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, code: (JSON.parse(text) as { error?: { code?: string } }).error?.code }));
    });
    request.once('error', reject);
    request.end(bytes);
  });
}

/** The HTTP worker that logged the request `requestId`. */
function workerOf(started: Started, requestId: string): number | undefined {
  for (const line of started.output) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { requestId?: string; worker?: number; msg?: string };
    if (entry.msg === 'request' && entry.requestId === requestId) return entry.worker;
  }
  return undefined;
}

/** Which HTTP workers logged the requests whose ids start with `prefix`. */
function workersServing(started: Started, prefix: string): Set<number> {
  const workers = new Set<number>();
  for (const line of started.output) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { requestId?: string; worker?: number; msg?: string };
    if (entry.msg === 'request' && entry.requestId?.startsWith(prefix) && typeof entry.worker === 'number') workers.add(entry.worker);
  }
  return workers;
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
    const runCli = (args: string[]) => runCliProcess(dataDir, args);
    // The service is stopped: the CLI starts the server for itself and stops it after.
    const alone = await runCli(['migrate']);
    expect(alone.code).toBe(0);
    expect(JSON.parse(alone.stdout)).toEqual({ applied: [] });
    expect(postmasterPid(dataDir) === undefined || !isRunning(postmasterPid(dataDir) as number)).toBe(true);

    // The service runs: the CLI shares its server and leaves it running.
    const port = await freePort();
    current = start(dataDir, port);
    await waitReady(current);
    const shared = await runCli(['migrate']);
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

  it("drops a disabled party in every HTTP worker before the change is answered, takes it back as fast, and serves a burst from each worker's 8 connections", async () => {
    const port = await freePort();
    current = start(dataDir, port, { TONGFU_HTTP_WORKERS: '2' });
    await waitReady(current);
    // An earlier test killed this PostgreSQL: until the nonce horizon passes, requests signed
    // within 30 s of the server's start are refused (contracts/decisions/0059-nonces-after-a-database-crash.md).
    const pg = new Client({ connectionString: embeddedConnection(dataDir) });
    await pg.connect();
    const { rows } = await pg.query<{ wait_ms: number }>(`SELECT GREATEST(0, EXTRACT(EPOCH FROM pg_postmaster_start_time() + interval '31 seconds' - now()) * 1000)::int AS wait_ms`).finally(() => pg.end());
    await new Promise((resolve) => setTimeout(resolve, rows[0]!.wait_ms));
    const suffix = crypto.randomBytes(3).toString('hex').toUpperCase();
    const finance = await addPartyByCli(dataDir, 'finance', `FIN_${suffix}`);
    // A second finance party is the simplest party to register by hand; any role is cached alike.
    const colleague = await addPartyByCli(dataDir, 'finance', `FIN2_${suffix}`);
    const colleagueRound = async (label: string) => {
      const answers = [];
      for (let index = 0; index < 8; index += 1) answers.push(await signedOnFreshConnection(port, colleague, 'GET', '/v1/finance/parties/NO-SUCH-APP', `${label}-${index}`));
      expect(workersServing(current as Started, `${label}-`)).toEqual(new Set([1, 2]));
      return answers;
    };
    const setStatus = async (status: string, requestId: string) => {
      const changed = await signedOnFreshConnection(port, finance, 'PATCH', `/v1/finance/parties/${colleague.appId}`, requestId, { status });
      expect(changed.status).toBe(200);
    };

    // Both workers serve the colleague and cache it.
    expect(await colleagueRound('warm')).toEqual(Array(8).fill({ status: 404, code: 'NOT_FOUND' }));
    // Disabled: refused by both workers from the first request after the answer.
    await setStatus('DISABLED', 'disable');
    expect(await colleagueRound('disabled')).toEqual(Array(8).fill({ status: 403, code: 'PARTY_DISABLED' }));
    // Enabled again: accepted by both at once.
    await setStatus('ACTIVE', 'enable');
    expect(await colleagueRound('enabled')).toEqual(Array(8).fill({ status: 404, code: 'NOT_FOUND' }));

    // Each HTTP worker's pool is its 8 warm connections, never more (decision 0177). With the nonce
    // table locked, every request holds its connection while it waits to store its nonce: a burst
    // of 48 keeps both pools busy (the rest wait in the pools' queues), yet no connection is opened.
    const locker = new Client({ connectionString: embeddedConnection(dataDir) });
    await locker.connect();
    const counter = new Client({ connectionString: embeddedConnection(dataDir) });
    await counter.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE request_nonces IN SHARE MODE');
      const burst = Promise.all(Array.from({ length: 48 }, (_unused, index) => signedOnFreshConnection(port, colleague, 'GET', '/v1/finance/parties/NO-SUCH-APP', `burst-${index}`)));
      const waiting = async () =>
        (await counter.query<{ count: number }>("SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = 'tongfu' AND application_name = 'tongfu-http' AND wait_event_type = 'Lock'")).rows[0]!.count;
      for (let round = 0; round < 40 && (await waiting()) < 16; round += 1) await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const sessions = await counter.query<{ count: number }>("SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = 'tongfu' AND application_name = 'tongfu-http'");
      expect(await waiting()).toBe(2 * 8);
      expect(sessions.rows[0]!.count).toBe(2 * 8);
      await locker.query('COMMIT');
      expect(await burst).toEqual(Array(48).fill({ status: 404, code: 'NOT_FOUND' }));
      expect(workersServing(current, 'burst-')).toEqual(new Set([1, 2]));
    } finally {
      await locker.end();
      await counter.end();
    }

    // Each connection goes to the worker with the fewest open connections (decision 0244). Ten
    // kept-alive connections split 5 to 5; once one worker's five close, it takes the next ones
    // until the two are level again: at least 7 of the next 10, where taking them in turn would
    // give it 5.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
    await settle();
    const connect = async (label: string) => {
      const agents = await Promise.all(
        Array.from({ length: 10 }, async (_unused, index) => {
          const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
          const answer = await signedOnFreshConnection(port, colleague, 'GET', '/v1/finance/parties/NO-SUCH-APP', `${label}-${index}`, undefined, agent);
          expect(answer).toEqual({ status: 404, code: 'NOT_FOUND' });
          return agent;
        }),
      );
      // The request lines reach this test's output a moment after the answers.
      await settle();
      return agents.map((agent, index) => ({ agent, worker: workerOf(current as Started, `${label}-${index}`) }));
    };
    const first = await connect('spread');
    const firstCounts = [1, 2].map((worker) => first.filter((connection) => connection.worker === worker).length);
    expect(firstCounts.every((count) => count >= 4 && count <= 6)).toBe(true);
    for (const connection of first) if (connection.worker === 1) connection.agent.destroy();
    await settle();
    const second = await connect('refill');
    expect(second.filter((connection) => connection.worker === 1).length).toBeGreaterThanOrEqual(7);
    for (const connection of [...first, ...second]) connection.agent.destroy();

    current.child.kill('SIGTERM');
    expect((await exited(current.child)).code).toBe(0);
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
