import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/**
 * `npm start` as the README tells a newcomer to run it (contracts/decisions/0078-compiled-service.md):
 * the compiled JavaScript in dist/, exec'd by npm's shell so that npm's SIGTERM reaches the
 * service itself, no TypeScript compiler in any process, each process idle under 90 MB resident
 * (docs/quality.md §1, contracts/decisions/0079-idle-memory.md), the migrations found compiled
 * under their recorded names, and `npm run cli` compiled too. SIGTERM to npm stops everything:
 * exit 0 and no survivor.
 */
jest.setTimeout(180_000);

const root = path.resolve(__dirname, '..', '..');
const IDLE_RSS_LIMIT_KB = 90 * 1024;
const IDLE_SETTLE_MS = 6_000;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every live descendant of `pid`, found through the parent ids in /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = parentOf(Number(entry));
    if (parent !== undefined) parents.set(Number(entry), parent);
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const [child, parentOfChild] of parents) {
      if (parentOfChild === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function residentKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]);
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm start', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-npm-start-'));
  fs.chmodSync(dataDir, 0o755);
  let npm: ChildProcess | undefined;
  let tree: number[] = [];

  afterAll(async () => {
    // Leave nothing behind a failed run.
    for (const pid of [...tree].reverse()) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    if (npm && npm.exitCode === null) npm.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the compiled service in the process npm signals, idle under 90 MB each, and stops on SIGTERM to npm with exit 0 and no survivor', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', TONGFU_DATA_DIR: dataDir, TONGFU_HTTP_WORKERS: '2', LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    npm = spawn('npm', ['start'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    npm.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    npm.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));

    const begin = Date.now();
    for (;;) {
      if (npm.exitCode !== null) throw new Error(`npm start exited (${npm.exitCode}):\n${output.join('')}`);
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.status, () => 0);
      if (status === 200) break;
      if (Date.now() - begin > 120_000) throw new Error(`not ready within 120 s:\n${output.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));

    tree = descendants(npm.pid as number);
    const nodes = tree.filter((pid) => /dist\/src\/main\.js$/.test(commandLine(pid)));
    expect(nodes).toHaveLength(3); // the main process and two HTTP workers
    // npm's shell exec'd the service: npm's own child is the main process, no `sh -c` between.
    expect(nodes.filter((pid) => parentOf(pid) === npm?.pid)).toHaveLength(1);
    expect(tree.filter((pid) => /^(\S*\/)?sh /.test(commandLine(pid)))).toEqual([]);

    for (const pid of nodes) {
      const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
      expect({ pid, compilerLoaded: /swc|typescript/.test(maps) }).toEqual({ pid, compilerLoaded: false });
      expect(commandLine(pid)).not.toMatch(/scripts\/run\.js|\.ts\b/);
      const kb = residentKb(pid);
      expect({ pid, withinLimit: kb <= IDLE_RSS_LIMIT_KB, kb }).toEqual({ pid, withinLimit: true, kb });
    }

    // The statement inbox is there for the agencies' file transfers from the first start.
    expect(fs.statSync(path.join(dataDir, 'inbox', 'statements')).isDirectory()).toBe(true);
    // The migrations ran from dist/migrations (.js) under the names the .ts files have always had.
    const settings = JSON.parse(fs.readFileSync(path.join(dataDir, 'pg.json'), 'utf8')) as { port: number; password: string };
    const client = new Client({ connectionString: `postgres://tongfu:${settings.password}@127.0.0.1:${settings.port}/tongfu` });
    await client.connect();
    const applied = (await client.query<{ name: string }>('SELECT name FROM knex_migrations ORDER BY name').finally(() => client.end())).rows.map((row) => row.name);
    expect(applied).toEqual(fs.readdirSync(path.join(root, 'migrations')).filter((name) => name.endsWith('.ts')).sort());

    // The CLI runs compiled too, on the service's database.
    const cli = await run('npm', ['run', '--silent', 'cli', '--', 'migrate'], { ...env, LOG_LEVEL: 'warn' });
    expect({ code: cli.code, out: JSON.parse(cli.stdout) as unknown }).toEqual({ code: 0, out: { applied: [] } });

    const postmaster = Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(tree).toContain(postmaster);
    npm.kill('SIGTERM');
    const { code, signal } = await exited(npm);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // Give a survivor a moment to show itself: every process of the tree is gone.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(tree.filter(isRunning)).toEqual([]);
    expect(output.join('')).toMatch(/"msg":"stopped"/);
  });
});
