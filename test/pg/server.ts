// Real, private PostgreSQL servers for tests: initdb into a fresh temp folder, then postgres
// on a free loopback port with its unix socket in that folder, so several servers (and a
// cluster service of Debian's package on 5432) never meet. PostgreSQL refuses to run as
// root: under root the server runs as the system user `outpost-pg`, made when missing.
// Every server started here is shut down when the test process exits.
// For fault tests a server can be stopped and started again on its data dir and port, crash,
// freeze (stop answering with its sockets open), and have a streaming standby
// (startStandby) that is promoted to primary.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { access, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';

export interface PgBinaries {
  /** The folder, e.g. `/usr/lib/postgresql/15/bin`. */
  dir: string;
  postgres: string;
  initdb: string;
  pgCtl: string;
  /** Checked only by startStandby(). */
  pgBasebackup: string;
}

export interface StartPostgresOptions {
  /**
   * Keep PostgreSQL's crash-safe defaults (fsync, synchronous_commit, full_page_writes).
   * Off by default: test data need not survive a power cut, and fsync dominates commits.
   */
  durable?: boolean;
  /** More `-c name=value` server settings, applied after (so over) ours. */
  settings?: Record<string, string | number | boolean>;
  /** Bound on the whole start-up, initdb included (default 60 s). */
  timeoutMs?: number;
}

export interface PostgresServer {
  /** `postgres://outpost@127.0.0.1:PORT/outpost`: superuser `outpost`, database `outpost`. */
  url: string;
  host: string;
  port: number;
  /** Superuser, made by initdb; every loopback connection is trusted (no password). */
  user: string;
  database: string;
  /** Temp folder holding dataDir, socketDir and `postgres.log`; removed by stop(). */
  dir: string;
  dataDir: string;
  /** The server's unix socket lives here (`host=<socketDir>` in libpq terms). */
  socketDir: string;
  logPath: string;
  /** The folder of postgres, initdb, pg_ctl, pg_basebackup and friends. */
  bin: string;
  /** Process id of the postmaster (restart() starts another). */
  readonly pid: number;
  /** Operating-system user the server runs as: `outpost-pg` under root, else the caller. */
  osUser: string;
  /** Whether the postmaster runs (false once stopped or crashed, until restart()). */
  running(): boolean;
  /**
   * Fast shutdown (running transactions are rolled back), then the temp folder goes. Idempotent.
   * With `keep`, the data dir stays, and restart() starts the server again on it and its port.
   */
  stop(opts?: { keep?: boolean }): Promise<void>;
  /**
   * After stop({ keep: true }) or crash(): the server again on its data dir and port (after
   * crash recovery), accepting connections when this resolves. Bounded (default 60 s).
   */
  restart(opts?: { timeoutMs?: number }): Promise<void>;
  /**
   * Ends the server as a crash does, keeping its data dir: SIGKILL to the postmaster (the
   * default: no checkpoint, no goodbye to clients; its backends notice and exit, and the
   * shared memory it leaves is removed) or SIGQUIT (immediate shutdown). Resolves once every
   * process of the server is gone.
   */
  crash(signal?: 'SIGKILL' | 'SIGQUIT'): Promise<void>;
  /**
   * Stops every process of the server (SIGSTOP), sockets left open: it answers nothing, as a
   * server cut off by a partition (the kernel still completes TCP handshakes, up to the
   * listen backlog). thaw() lets it go on; stop() thaws first.
   */
  freeze(): Promise<void>;
  thaw(): void;
}

export interface StartStandbyOptions {
  /** Its application_name and replication slot (default `standby_N`). */
  name?: string;
  /**
   * The primary waits for this standby on every commit (`synchronous_standby_names`), so a
   * commit acknowledged by the primary is on the standby. The primary must commit
   * synchronously: started with `durable: true` or `settings: { synchronous_commit: 'on' }`.
   */
  synchronous?: boolean;
  /**
   * Serve read-only queries while in recovery (default true). A warm standby (false) refuses
   * every client until promoted: a load balancer's plain PostgreSQL health check then sends
   * traffic to it only once it is the primary.
   */
  hotStandby?: boolean;
  /** As for startPostgres (for the standby's own commits once promoted). */
  durable?: boolean;
  settings?: Record<string, string | number | boolean>;
  /** Bound on the base backup and start-up (default 60 s). */
  timeoutMs?: number;
}

/** A streaming standby of `primary`, made from a base backup of it (startStandby). */
export interface StandbyServer extends PostgresServer {
  primary: PostgresServer;
  /** Its application_name (pg_stat_replication, synchronous_standby_names) and slot name. */
  name: string;
  /**
   * Ends recovery (`pg_ctl promote`): the standby becomes a primary, on a new timeline, and
   * accepts writes when this resolves. Bounded (default 60 s).
   */
  promote(opts?: { timeoutMs?: number }): Promise<void>;
}

const SUPERUSER = 'outpost';
const DATABASE = 'outpost';
const HOST = '127.0.0.1';
/** Who runs initdb and postgres when the tests run as root. */
const SERVER_OS_USER = 'outpost-pg';
/** After SIGINT (fast shutdown) in stop(); then SIGQUIT (immediate), then SIGKILL. */
const FAST_SHUTDOWN_GRACE_MS = 15_000;
const IMMEDIATE_SHUTDOWN_GRACE_MS = 5_000;
/** How long the exit hook waits for servers to finish their immediate shutdown. */
const EXIT_HOOK_WAIT_MS = 3_000;
const LOG_TAIL_LINES = 40;
/** How postgres reports losing the race for a port from freePort(). */
const ADDRESS_IN_USE = 'Address already in use';
/** PostgreSQL identifiers we make: plain lower case, so they need no quoting. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------
// Binaries

const DEBIAN_BIN_DIR = '/usr/lib/postgresql/15/bin';

/** From `$OUTPOST_PG_BIN_DIR` when set, else Debian's postgresql-15 folder. */
export async function locatePgBinaries(): Promise<PgBinaries> {
  const dir = process.env.OUTPOST_PG_BIN_DIR || DEBIAN_BIN_DIR;
  const found: PgBinaries = {
    dir,
    postgres: join(dir, 'postgres'),
    initdb: join(dir, 'initdb'),
    pgCtl: join(dir, 'pg_ctl'),
    pgBasebackup: join(dir, 'pg_basebackup'),
  };
  for (const path of [found.postgres, found.initdb, found.pgCtl]) {
    await access(path, constants.X_OK).catch(() => {
      throw new Error(
        `test/pg: ${path} is missing or not executable; run \`source scripts/toolchain.sh && outpost_ensure_postgres\` ` +
          '(installs Debian’s postgresql-15 as root) or set OUTPOST_PG_BIN_DIR',
      );
    });
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// Who runs the server

interface OsUser {
  name: string;
  /** Set only when we switch to this user (the tests run as root). */
  ids?: { uid: number; gid: number };
}

let serverUser: Promise<OsUser> | undefined;

/** Once per process: the current user, or under root `outpost-pg` (made when missing). */
function ensureServerUser(): Promise<OsUser> {
  serverUser ??= (process.getuid?.() === 0 ? systemUser(SERVER_OS_USER) : currentUser()).catch((err: unknown) => {
    serverUser = undefined;
    throw err;
  });
  return serverUser;
}

async function currentUser(): Promise<OsUser> {
  const { stdout } = await execFileAsync('id', ['-un'], { timeout: 5_000 });
  return { name: stdout.trim() };
}

async function systemUser(name: string): Promise<OsUser> {
  if (!setpriv) throw new Error('test/pg: setpriv (util-linux) is needed to run PostgreSQL as a user other than root');
  // Test files run as parallel processes: another may be adding the user right now, and
  // useradd then fails (the name exists, or /etc/passwd is locked). Look again, bounded.
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    const ids = await userIds(name);
    if (ids) return { name, ids };
    try {
      await execFileAsync(
        'useradd',
        ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
        { timeout: 10_000 },
      );
    } catch (err) {
      lastError = err;
      await sleep(250);
    }
  }
  throw new Error(`test/pg: could not create the system user ${name}: ${(lastError as Error)?.message}`);
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name], { timeout: 5_000 }),
      execFileAsync('id', ['-g', name], { timeout: 5_000 }),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined; // no such user (yet)
  }
}

// setpriv (util-linux) switches user (without the helper process su and runuser keep, so
// our signals reach the postmaster itself), sets PR_SET_PDEATHSIG after the switch (a
// switch clears it), and execs the binary: the kernel signals the server even when the
// test process is SIGKILLed and no exit hook runs. SIGQUIT is PostgreSQL's immediate
// shutdown, which still removes its shared memory.
const setpriv = process.env.PATH?.split(delimiter)
  .map((dir) => join(dir, 'setpriv'))
  .find((path) => existsSync(path));

function command(user: OsUser, deathSignal: 'QUIT' | 'KILL', file: string, args: string[]): [string, string[]] {
  if (!setpriv) return [file, args];
  const as = user.ids ? [`--reuid=${user.ids.uid}`, `--regid=${user.ids.gid}`, '--clear-groups'] : [];
  return [setpriv, [...as, '--pdeathsig', deathSignal, '--', file, ...args]];
}

function childEnv(user: OsUser, dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // libpq's variables (PGPORT, PGDATA, PGHOST…) of the caller must not steer our server.
  for (const key of Object.keys(env)) if (key.startsWith('PG')) delete env[key];
  // root's home is closed to outpost-pg.
  if (user.ids) env.HOME = dir;
  return env;
}

// ---------------------------------------------------------------------------------------
// Process registry: whatever happens to the test, no postgres outlives it.

interface Managed {
  child: ChildProcess;
  /** Aborted with an explanatory reason as soon as the process is gone. */
  gone: AbortSignal;
  exited: Promise<void>;
}

const liveServers = new Set<ChildProcess>();
const liveDirs = new Set<string>();
/** Processes of frozen servers (freeze()): a stopped process acts on no signal but SIGKILL
 *  until it is continued. */
const frozenPids = new Set<number>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', shutDownEverythingNow);
  // Our own handlers replace Node's default "die at once", so exit with the usual codes.
  process.once('SIGINT', () => {
    shutDownEverythingNow();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    shutDownEverythingNow();
    process.exit(143);
  });
}

function shutDownEverythingNow(): void {
  // Immediate shutdown rather than SIGKILL: the postmaster then stops its backends and
  // removes its shared memory segment, which a killed one leaves behind.
  const pids: number[] = [];
  for (const child of liveServers) {
    child.kill('SIGQUIT');
    if (child.pid) pids.push(child.pid);
  }
  for (const pid of frozenPids) signalQuietly(pid, 'SIGCONT');
  // Nothing asynchronous runs in an exit hook, so wait here, briefly: a folder removed under
  // a server still shutting down keeps what it writes meanwhile.
  const deadline = Date.now() + EXIT_HOOK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (pids.some(running) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Still in use after all; the OS temp cleaner gets the rest.
    }
  }
}

/** Whether `pid` still runs; an exited child stays a zombie (state Z) until Node reaps it. */
function running(pid: number): boolean {
  const state = procState(pid);
  return state !== undefined && state !== 'Z';
}

/** The state letter of `pid` in /proc (R, S, T for stopped, Z…); undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** The processes whose parent is `pid` (a postmaster's backends and helpers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command: state, then the parent's id.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/** Waits until none of `pids` runs; SIGKILL to those left when `graceMs` runs out. */
async function waitAllGone(pids: readonly number[], graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (pids.some(running) && Date.now() < deadline) await sleep(20);
  const left = pids.filter(running);
  for (const pid of left) signalQuietly(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (left.some(running) && Date.now() < killDeadline) await sleep(20);
}

function spawnManaged(
  label: string,
  user: OsUser,
  dir: string,
  file: string,
  args: string[],
  logPath: string,
): Managed {
  installExitHooks();
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    const [exe, argv] = command(user, 'QUIT', file, args);
    child = spawn(exe, argv, { stdio: ['ignore', logFd, logFd], env: childEnv(user, dir) });
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
  liveServers.add(child);
  // Unreferenced, so a forgotten server cannot keep the test process alive; the exit hook
  // stops it. stop() references it again while it waits for the exit.
  child.unref();
  const gone = new AbortController();
  const exited = new Promise<void>((resolve) => {
    const done = (reason: string) => {
      liveServers.delete(child);
      gone.abort(new Error(`${label} ${reason}`));
      resolve();
    };
    child.once('exit', (code, signal) => done(`exited (${signal ?? `exit code ${code}`})`));
    child.once('error', (err) => done(`could not be started (${err.message})`));
  });
  return { child, gone: gone.signal, exited };
}

/** Fast shutdown, escalating to immediate and then SIGKILL when a grace runs out. */
async function stopManaged(proc: Managed): Promise<void> {
  if (proc.gone.aborted) return;
  proc.child.ref();
  const steps: [NodeJS.Signals, number][] = [
    ['SIGINT', FAST_SHUTDOWN_GRACE_MS],
    ['SIGQUIT', IMMEDIATE_SHUTDOWN_GRACE_MS],
  ];
  for (const [signal, graceMs] of steps) {
    proc.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace over'>((resolve) => {
      timer = setTimeout(resolve, graceMs, 'grace over');
    });
    const outcome = await Promise.race([proc.exited, graceOver]);
    clearTimeout(timer);
    if (outcome !== 'grace over') return;
  }
  proc.child.kill('SIGKILL');
  await proc.exited;
}

/** initdb and other short-lived tools: output to the log, killed when the bound runs out. */
function runTool(user: OsUser, dir: string, file: string, args: string[], logPath: string, timeoutMs: number) {
  return new Promise<void>((resolve, reject) => {
    const logFd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      const [exe, argv] = command(user, 'KILL', file, args);
      child = spawn(exe, argv, { stdio: ['ignore', logFd, logFd], env: childEnv(user, dir), timeout: timeoutMs });
    } finally {
      closeSync(logFd);
    }
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${file} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

function logTail(logPath: string, lines = LOG_TAIL_LINES): string {
  try {
    return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------
// Small utilities

/** Polls `probe` until it resolves; its errors mean "not yet". Bounded, and ends with `signal`. */
async function pollUntil(
  probe: () => Promise<void>,
  options: { timeoutMs: number; description: string; signal: AbortSignal },
): Promise<void> {
  const { timeoutMs, description, signal } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal.throwIfAborted();
    try {
      return await probe();
    } catch (err) {
      lastError = err;
    }
    signal.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${why}`);
    }
    await sleep(Math.min(100, left), undefined, { signal }).catch(() => undefined);
  }
}

/** A free loopback port; another process may still take it first, hence one retry on clash. */
async function freePort(): Promise<number> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, HOST, resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return address.port;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

/** One connection, one statement, closed again; for start-up probes and set-up. */
async function withClient(config: string | { host: string; port: number; database: string }, sql?: string) {
  const client = new Client(
    typeof config === 'string'
      ? { connectionString: config, connectionTimeoutMillis: 5_000 }
      : { ...config, user: SUPERUSER, connectionTimeoutMillis: 2_000 },
  );
  // A server going away mid-probe emits 'error' on an idle client; the query rejects anyway.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(sql ?? 'SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One connection, one query with `params`, its rows; bounded, for set-up and probes. */
async function queryRows<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------
// The server

/** Where a server keeps its things, and who runs it. */
interface Layout {
  bins: PgBinaries;
  user: OsUser;
  /** Temp folder holding dataDir, socketDir and the log. */
  dir: string;
  dataDir: string;
  socketDir: string;
  logPath: string;
}

async function newLayout(prefix: string): Promise<Layout> {
  const [bins, user] = await Promise.all([locatePgBinaries(), ensureServerUser()]);
  const dir = await mkdtemp(join(tmpdir(), prefix));
  liveDirs.add(dir);
  const layout = {
    bins,
    user,
    dir,
    dataDir: join(dir, 'data'),
    socketDir: join(dir, 'socket'),
    logPath: join(dir, 'postgres.log'),
  };
  try {
    await mkdir(layout.socketDir);
    if (user.ids) {
      await chown(dir, user.ids.uid, user.ids.gid);
      await chown(layout.socketDir, user.ids.uid, user.ids.gid);
    }
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
  return layout;
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** The postgres command line: ours, then the fast defaults unless durable, then `settings`. */
function serverArgs(
  layout: Layout,
  port: number,
  durable: boolean,
  settings: Record<string, string | number | boolean>,
): string[] {
  const fastButUnsafe: Record<string, string> = durable
    ? {}
    : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };
  const all: Record<string, string | number | boolean> = {
    listen_addresses: HOST,
    port,
    unix_socket_directories: layout.socketDir,
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    hot_standby: 'on',
    ...fastButUnsafe,
    ...settings,
  };
  return [`-D${layout.dataDir}`, ...Object.entries(all).map(([k, v]) => `-c${k}=${String(v)}`)];
}

class LaunchError extends Error {
  readonly tail: string;
  constructor(message: string, tail: string) {
    super(message);
    this.tail = tail;
  }
}

/** postgres with `args`, once `ready` resolves; stopped again (the log's tail in the error) when it rejects. */
async function launch(
  layout: Layout,
  args: string[],
  ready: (gone: AbortSignal) => Promise<void>,
  timeoutMs: number,
): Promise<Managed> {
  const proc = spawnManaged('postgres', layout.user, layout.dir, layout.bins.postgres, args, layout.logPath);
  try {
    await ready(proc.gone);
    return proc;
  } catch (err) {
    const tail = logTail(layout.logPath); // read first, or it shows only the shutdown
    await stopManaged(proc);
    throw new LaunchError(
      `postgres did not accept connections within ${timeoutMs} ms: ${(err as Error).message}\nlog tail:\n${tail}`,
      tail,
    );
  }
}

/** launch() on a free port; on another once when the first was taken meanwhile. */
async function launchOnFreePort(
  layout: Layout,
  argsFor: (port: number) => string[],
  ready: (port: number, gone: AbortSignal) => Promise<void>,
  timeoutMs: number,
): Promise<{ proc: Managed; port: number; args: string[] }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = argsFor(port);
    try {
      return { proc: await launch(layout, args, (gone) => ready(port, gone), timeoutMs), port, args };
    } catch (err) {
      if (attempt === 1 && err instanceof LaunchError && err.tail.includes(ADDRESS_IN_USE)) continue;
      throw err;
    }
  }
}

/** The SysV shared memory segment a running postmaster noted in postmaster.pid (line 7: key, id). */
async function sharedMemoryId(dataDir: string): Promise<number | undefined> {
  try {
    const line = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[6] ?? '';
    const id = Number(line.trim().split(/\s+/)[1]);
    return Number.isInteger(id) && id >= 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** A server started here: its postmaster may be stopped and started again on the same data dir and port. */
class Server implements PostgresServer {
  readonly url: string;
  readonly host = HOST;
  readonly port: number;
  readonly user = SUPERUSER;
  readonly database = DATABASE;
  readonly dir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logPath: string;
  readonly bin: string;
  readonly osUser: string;
  protected readonly layout: Layout;
  readonly #args: string[];
  #proc: Managed | undefined;
  #pid: number;
  /** The postmaster, then its children, while frozen. */
  #frozen: number[] = [];
  #removed: Promise<void> | undefined;

  constructor(layout: Layout, port: number, args: string[], proc: Managed) {
    this.layout = layout;
    this.port = port;
    this.url = `postgres://${SUPERUSER}@${HOST}:${port}/${DATABASE}`;
    this.dir = layout.dir;
    this.dataDir = layout.dataDir;
    this.socketDir = layout.socketDir;
    this.logPath = layout.logPath;
    this.bin = layout.bins.dir;
    this.osUser = layout.user.name;
    this.#args = args;
    this.#proc = proc;
    this.#pid = proc.child.pid ?? 0;
  }

  get pid(): number {
    return this.#pid;
  }

  running(): boolean {
    return this.#proc !== undefined && !this.#proc.gone.aborted;
  }

  /** Aborted once the current postmaster is gone (already aborted when none runs). */
  protected gone(): AbortSignal {
    return this.#proc?.gone ?? AbortSignal.abort(new Error(`postgres on port ${this.port} is not running`));
  }

  /** Resolves once a (re)started postmaster serves what it should: here, connections. */
  protected async ready(gone: AbortSignal, timeoutMs: number): Promise<void> {
    await pollUntil(() => withClient({ host: HOST, port: this.port, database: 'postgres' }), {
      timeoutMs,
      description: `postgres on ${HOST}:${this.port}`,
      signal: gone,
    });
  }

  stop(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.#removed) return this.#removed;
    this.thaw();
    const proc = this.#proc;
    if (opts.keep) return proc ? stopManaged(proc) : Promise.resolve();
    this.#removed = (async () => {
      if (proc) await stopManaged(proc);
      await removeDir(this.dir);
    })();
    return this.#removed;
  }

  async restart(opts: { timeoutMs?: number } = {}): Promise<void> {
    const { timeoutMs = 60_000 } = opts;
    if (this.#removed)
      throw new Error(`test/pg: the server of port ${this.port} is stopped for good (stop({ keep: true }) keeps it)`);
    if (this.running()) throw new Error(`test/pg: the server of port ${this.port} runs already`);
    const proc = await launch(this.layout, this.#args, (gone) => this.ready(gone, timeoutMs), timeoutMs);
    this.#proc = proc;
    this.#pid = proc.child.pid ?? 0;
  }

  async crash(signal: 'SIGKILL' | 'SIGQUIT' = 'SIGKILL'): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.gone.aborted) return;
    const shm = await sharedMemoryId(this.dataDir);
    const children = childrenOf(this.#pid);
    proc.child.ref();
    proc.child.kill(signal);
    this.thaw(); // a frozen server acts on the signal once it goes on
    await proc.exited;
    // Without their postmaster the backends end themselves (they watch it); bounded all the same.
    await waitAllGone(children, 10_000);
    // A killed postmaster leaves its (small) segment behind; restart() would make a new one.
    if (signal === 'SIGKILL' && shm !== undefined) {
      await execFileAsync('ipcrm', ['-m', String(shm)], { timeout: 5_000 }).catch(() => undefined);
    }
  }

  async freeze(): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.gone.aborted || this.#frozen.length > 0) return;
    const pid = this.#pid;
    // The postmaster first: stopped, it starts no more backends; then every process it has.
    process.kill(pid, 'SIGSTOP');
    this.#frozen.push(pid);
    frozenPids.add(pid);
    const deadline = Date.now() + 5_000;
    while (procState(pid) !== 'T' && Date.now() < deadline) await sleep(5);
    for (const child of childrenOf(pid)) {
      signalQuietly(child, 'SIGSTOP');
      this.#frozen.push(child);
      frozenPids.add(child);
    }
  }

  thaw(): void {
    for (const pid of this.#frozen.toReversed()) {
      signalQuietly(pid, 'SIGCONT');
      frozenPids.delete(pid);
    }
    this.#frozen = [];
  }
}

/**
 * PostgreSQL on a free loopback port with a throw-away data dir, database `outpost` made and
 * accepting connections when this resolves. Ready to serve a streaming standby (wal_level
 * replica, WAL senders, `replication` trusted in pg_hba.conf).
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const { durable = false, settings = {}, timeoutMs = 60_000 } = options;
  const deadline = Date.now() + timeoutMs;
  // At least 1: a spawn timeout of 0 means none.
  const left = () => Math.max(1, deadline - Date.now());
  const layout = await newLayout('outpost-pg-');
  const { user, dir, dataDir, logPath } = layout;
  try {
    try {
      await runTool(
        user,
        dir,
        layout.bins.initdb,
        [
          `--pgdata=${dataDir}`,
          `--username=${SUPERUSER}`,
          '--auth=trust',
          '--encoding=UTF8',
          // C locale: text sorts by code point (as SQLite's BINARY collation), and the log
          // tails in our errors are in English.
          '--no-locale',
          '--no-instructions',
          ...(durable ? [] : ['--no-sync']),
        ],
        logPath,
        left(),
      );
    } catch (err) {
      const hint = user.ids
        ? `\n(initdb runs as ${user.name}: every folder above ${dir} must be searchable by it; TMPDIR=/tmp is)`
        : '';
      throw new Error(`initdb failed: ${(err as Error).message}\nlog tail:\n${logTail(logPath)}${hint}`);
    }
    // Only loopback and the private socket, trusted; `replication` lets a standby stream.
    const hba = join(dataDir, 'pg_hba.conf');
    await writeFile(
      hba,
      [
        '# test/pg: a private test server; nothing but this machine reaches it',
        'local all         all              trust',
        'host  all         all 127.0.0.1/32 trust',
        'local replication all              trust',
        'host  replication all 127.0.0.1/32 trust',
        '',
      ].join('\n'),
    );
    if (user.ids) await chown(hba, user.ids.uid, user.ids.gid);

    const { proc, port, args } = await launchOnFreePort(
      layout,
      (port) => serverArgs(layout, port, durable, settings),
      async (port, gone) => {
        await pollUntil(() => withClient({ host: HOST, port, database: 'postgres' }), {
          timeoutMs: left(),
          description: `postgres on ${HOST}:${port}`,
          signal: gone,
        });
        await withClient({ host: HOST, port, database: 'postgres' }, `CREATE DATABASE ${DATABASE}`);
      },
      timeoutMs,
    );
    return new Server(layout, port, args, proc);
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Streaming standbys

/** Settings a hot standby must have at least as high as its primary (PostgreSQL refuses to start otherwise). */
const AT_LEAST_PRIMARY = [
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_prepared_transactions',
  'max_locks_per_transaction',
];
let standbyCount = 0;

class Standby extends Server implements StandbyServer {
  readonly primary: PostgresServer;
  readonly name: string;
  readonly #synchronous: boolean;
  readonly #hot: boolean;
  #promoted = false;
  #detached = false;

  constructor(
    layout: Layout,
    port: number,
    args: string[],
    proc: Managed,
    standby: { primary: PostgresServer; name: string; synchronous: boolean; hot: boolean },
  ) {
    super(layout, port, args, proc);
    this.primary = standby.primary;
    this.name = standby.name;
    this.#synchronous = standby.synchronous;
    this.#hot = standby.hot;
  }

  protected override async ready(gone: AbortSignal, timeoutMs: number): Promise<void> {
    if (this.#hot || this.#promoted) return super.ready(gone, timeoutMs);
    // A warm standby refuses clients: it is up once its primary sees it stream.
    await streaming(this.primary, this.name, gone, timeoutMs);
  }

  async promote(opts: { timeoutMs?: number } = {}): Promise<void> {
    const { timeoutMs = 60_000 } = opts;
    const gone = this.gone();
    gone.throwIfAborted();
    const { user, dir, bins, dataDir, logPath } = this.layout;
    const deadline = Date.now() + timeoutMs;
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    try {
      // Waits until the control file says "in production" (no connection needed: a warm
      // standby takes none until then).
      await runTool(
        user,
        dir,
        bins.pgCtl,
        ['promote', `--pgdata=${dataDir}`, '--wait', `--timeout=${seconds}`],
        logPath,
        timeoutMs,
      );
    } catch (err) {
      throw new Error(
        `pg_ctl promote of standby ${this.name} failed: ${(err as Error).message}\nlog tail:\n${logTail(logPath)}`,
      );
    }
    this.#promoted = true;
    await pollUntil(
      async () => {
        const [row] = await queryRows<{ recovery: boolean }>(this.url, 'SELECT pg_is_in_recovery() AS recovery');
        if (row?.recovery !== false) throw new Error('still in recovery');
      },
      {
        timeoutMs: Math.max(1, deadline - Date.now()),
        description: `standby ${this.name} accepting writes`,
        signal: gone,
      },
    );
  }

  override async stop(opts: { keep?: boolean } = {}): Promise<void> {
    // The primary must not go on waiting for a standby that is gone for good: every commit would hang.
    if (!opts.keep && !this.#detached) {
      this.#detached = true;
      if (this.#synchronous && this.primary.running()) {
        await queryRows(this.primary.url, 'ALTER SYSTEM RESET synchronous_standby_names')
          .then(() => queryRows(this.primary.url, 'SELECT pg_reload_conf()'))
          .catch(() => undefined);
      }
      await super.stop(opts);
      if (this.primary.running()) await dropSlot(this.primary, this.name);
      return;
    }
    await super.stop(opts);
  }
}

/** Waits until `primary` streams to the standby `name` (pg_stat_replication). */
async function streaming(primary: PostgresServer, name: string, gone: AbortSignal, timeoutMs: number): Promise<void> {
  await pollUntil(
    async () => {
      const [row] = await queryRows<{ state: string }>(
        primary.url,
        'SELECT state FROM pg_stat_replication WHERE application_name = $1',
        [name],
      );
      if (row?.state !== 'streaming') throw new Error(`replication state ${row?.state ?? 'absent'}`);
    },
    { timeoutMs, description: `standby ${name} streaming from ${primary.host}:${primary.port}`, signal: gone },
  );
}

/** Drops the replication slot `name` once its standby has let go of it; best effort, bounded. */
async function dropSlot(primary: PostgresServer, name: string): Promise<void> {
  await pollUntil(
    async () => {
      await queryRows(
        primary.url,
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [name],
      );
    },
    { timeoutMs: 5_000, description: `slot ${name} dropped`, signal: new AbortController().signal },
  ).catch(() => undefined);
}

/**
 * A streaming standby of `primary` (a server of startPostgres, running): a base backup of it
 * (pg_basebackup, as the server's OS user, into a new temp folder), started on a free loopback
 * port with its own replication slot, resolved once the primary streams to it. With
 * `synchronous`, the primary then waits for it on every commit. A standby stopped for good
 * lets the primary commit alone again and drops its slot.
 */
export async function startStandby(primary: PostgresServer, options: StartStandbyOptions = {}): Promise<StandbyServer> {
  const { synchronous = false, hotStandby = true, durable = false, settings = {}, timeoutMs = 60_000 } = options;
  const name = options.name ?? `standby_${process.pid}_${++standbyCount}`;
  if (!DATABASE_NAME.test(name)) throw new Error(`standby name ${JSON.stringify(name)} is not a plain identifier`);
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const primarySettings = await queryRows<{ name: string; setting: string }>(
    primary.url,
    `SELECT name, setting FROM pg_settings WHERE name = ANY($1) OR name = 'synchronous_commit'`,
    [AT_LEAST_PRIMARY],
  );
  const commit = primarySettings.find((s) => s.name === 'synchronous_commit')?.setting;
  if (synchronous && (commit === 'off' || commit === 'local')) {
    throw new Error(
      `test/pg: a synchronous standby needs a primary that waits for it (synchronous_commit is ${commit}); ` +
        "start the primary with durable: true or settings: { synchronous_commit: 'on' }",
    );
  }
  const layout = await newLayout('outpost-pg-standby-');
  const { user, dir, dataDir, logPath, bins } = layout;
  let standby: Standby | undefined;
  try {
    await access(bins.pgBasebackup, constants.X_OK).catch(() => {
      throw new Error(`test/pg: ${bins.pgBasebackup} is missing or not executable (Debian's postgresql-15 has it)`);
    });
    try {
      await runTool(
        user,
        dir,
        bins.pgBasebackup,
        [
          `--host=${primary.host}`,
          `--port=${primary.port}`,
          `--username=${primary.user}`,
          `--pgdata=${dataDir}`,
          '--wal-method=stream',
          '--checkpoint=fast',
          '--write-recovery-conf',
          '--create-slot',
          `--slot=${name}`,
          ...(durable ? [] : ['--no-sync']),
        ],
        logPath,
        left(),
      );
    } catch (err) {
      throw new Error(
        `pg_basebackup from ${primary.url} failed: ${(err as Error).message}\nlog tail:\n${logTail(logPath)}`,
      );
    }
    // What the primary waits for is not for the standby to wait for once promoted.
    const autoConf = join(dataDir, 'postgresql.auto.conf');
    const conf = await readFile(autoConf, 'utf8');
    await writeFile(
      autoConf,
      conf
        .split('\n')
        .filter((line) => !/^\s*synchronous_standby_names\s*=/.test(line))
        .join('\n'),
    );
    const standbySettings: Record<string, string | number | boolean> = {
      ...Object.fromEntries(
        primarySettings.filter((s) => s.name !== 'synchronous_commit').map((s) => [s.name, s.setting]),
      ),
      primary_conninfo: `host=${primary.host} port=${primary.port} user=${primary.user} application_name=${name}`,
      primary_slot_name: name,
      hot_standby: hotStandby ? 'on' : 'off',
      ...settings,
    };
    const { proc, port, args } = await launchOnFreePort(
      layout,
      (port) => serverArgs(layout, port, durable, standbySettings),
      async (port, gone) => {
        await streaming(primary, name, gone, left());
        if (hotStandby) {
          await pollUntil(() => withClient({ host: HOST, port, database: 'postgres' }), {
            timeoutMs: left(),
            description: `standby ${name} on ${HOST}:${port}`,
            signal: gone,
          });
        }
      },
      timeoutMs,
    );
    standby = new Standby(layout, port, args, proc, { primary, name, synchronous, hot: hotStandby });
    if (synchronous) {
      // The name is a plain identifier (checked above), so it needs no quoting.
      await queryRows(primary.url, `ALTER SYSTEM SET synchronous_standby_names = '${name}'`);
      await queryRows(primary.url, 'SELECT pg_reload_conf()');
      await pollUntil(
        async () => {
          const [row] = await queryRows<{ sync: string }>(
            primary.url,
            'SELECT sync_state AS sync FROM pg_stat_replication WHERE application_name = $1',
            [name],
          );
          if (row?.sync !== 'sync') throw new Error(`sync_state ${row?.sync ?? 'absent'}`);
        },
        { timeoutMs: left(), description: `standby ${name} synchronous`, signal: proc.gone },
      );
    }
    return standby;
  } catch (err) {
    if (standby) await standby.stop();
    else {
      await removeDir(dir);
      await dropSlot(primary, name);
    }
    throw err;
  }
}

/**
 * Database `to` on the server of `url`, made as a copy of database `from` (CREATE DATABASE
 * … TEMPLATE: a cold backup, as pg_dump and a restore would give). Nobody may be connected to
 * `from`: the sessions of a hub just stopped may take a moment to end, so a copy refused for
 * them is tried again for up to 10 s.
 */
export async function copyDatabase(url: string, from: string, to: string): Promise<void> {
  for (const name of [from, to]) {
    if (!DATABASE_NAME.test(name)) throw new Error(`database name ${JSON.stringify(name)} is not a plain identifier`);
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await withClient(url, `CREATE DATABASE ${to} TEMPLATE ${from}`);
      return;
    } catch (err) {
      // 55006: the source database is being accessed by other users.
      if ((err as { code?: string }).code !== '55006' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Drops database `name` on the server of `url`, ending its sessions first (WITH (FORCE)). */
export async function dropDatabase(url: string, name: string): Promise<void> {
  if (!DATABASE_NAME.test(name)) throw new Error(`database name ${JSON.stringify(name)} is not a plain identifier`);
  await withClient(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * A new, empty database `name` on the server of `url` (any database of it), so tests can
 * share one server; returns `url` naming the new database.
 */
export async function createDatabase(url: string, name: string): Promise<string> {
  if (!DATABASE_NAME.test(name)) throw new Error(`database name ${JSON.stringify(name)} is not a plain identifier`);
  await withClient(url, `CREATE DATABASE ${name}`);
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
}
