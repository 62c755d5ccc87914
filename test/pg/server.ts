// Real, private PostgreSQL servers for tests: initdb into a fresh temp folder, then postgres
// on a free loopback port with its unix socket in that folder, so several servers (and a
// cluster service of Debian's package on 5432) never meet. PostgreSQL refuses to run as
// root: under root the server runs as the system user `outpost-pg`, made when missing.
// Every server started here is shut down when the test process exits.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { access, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
  /** Process id of the postmaster. */
  pid: number;
  /** Operating-system user the server runs as: `outpost-pg` under root, else the caller. */
  osUser: string;
  /** Fast shutdown (running transactions are rolled back), then the temp folder goes. Idempotent. */
  stop(): Promise<void>;
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
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
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

// ---------------------------------------------------------------------------------------
// The server

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
  const [bins, user] = await Promise.all([locatePgBinaries(), ensureServerUser()]);
  const dir = await mkdtemp(join(tmpdir(), 'outpost-pg-'));
  liveDirs.add(dir);
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  const logPath = join(dir, 'postgres.log');
  try {
    await mkdir(socketDir);
    if (user.ids) {
      await chown(dir, user.ids.uid, user.ids.gid);
      await chown(socketDir, user.ids.uid, user.ids.gid);
    }
    try {
      await runTool(
        user,
        dir,
        bins.initdb,
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

    const fastButUnsafe: Record<string, string> = durable
      ? {}
      : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const serverSettings: Record<string, string | number | boolean> = {
        listen_addresses: HOST,
        port,
        unix_socket_directories: socketDir,
        wal_level: 'replica',
        max_wal_senders: 10,
        max_replication_slots: 10,
        hot_standby: 'on',
        ...fastButUnsafe,
        ...settings,
      };
      const args = [`-D${dataDir}`, ...Object.entries(serverSettings).map(([k, v]) => `-c${k}=${String(v)}`)];
      const proc = spawnManaged('postgres', user, dir, bins.postgres, args, logPath);
      try {
        await pollUntil(() => withClient({ host: HOST, port, database: 'postgres' }), {
          timeoutMs: left(),
          description: `postgres on ${HOST}:${port}`,
          signal: proc.gone,
        });
        await withClient({ host: HOST, port, database: 'postgres' }, `CREATE DATABASE ${DATABASE}`);
      } catch (err) {
        const tail = logTail(logPath); // read first, or it shows only the shutdown
        await stopManaged(proc);
        if (attempt === 1 && tail.includes(ADDRESS_IN_USE)) continue;
        throw new Error(
          `postgres did not accept connections within ${timeoutMs} ms: ${(err as Error).message}\nlog tail:\n${tail}`,
        );
      }
      let stopping: Promise<void> | undefined;
      return {
        url: `postgres://${SUPERUSER}@${HOST}:${port}/${DATABASE}`,
        host: HOST,
        port,
        user: SUPERUSER,
        database: DATABASE,
        dir,
        dataDir,
        socketDir,
        logPath,
        bin: bins.dir,
        pid: proc.child.pid ?? 0,
        osUser: user.name,
        stop: () => {
          stopping ??= (async () => {
            await stopManaged(proc);
            await rm(dir, { recursive: true, force: true });
            liveDirs.delete(dir);
          })();
          return stopping;
        },
      };
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
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
