// Runs a real `outpost-hub serve` process for end-to-end tests: free loopback port, its
// own data dir, readiness from its start-up line, and a stop that always cleans up.
// With OUTPOST_TEST_DATABASE=postgres every hub keeps its state in PostgreSQL instead of
// SQLite: one real server per test process (test/pg), one database per data dir, so a hub
// started again on its data dir finds its state, and a new data dir is a new database.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after } from 'node:test';
import pg from 'pg';
import { hubNodeFlags } from '../../packages/hub/src/node-flags.ts';
import { copyDatabase, createDatabase, dropDatabase, type PostgresServer, startPostgres } from '../pg/index.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const hubMain = join(repoRoot, 'packages/hub/src/main.ts');

export interface HubProcess {
  url: string;
  port: number;
  dataDir: string;
  caCertPem: string;
  caHash: string;
  proc: ChildProcess;
  output(): string;
  /** Sends `signal` and resolves with the exit code; removes the data dir unless kept. */
  stop(opts?: { signal?: NodeJS.Signals; keepDataDir?: boolean }): Promise<number | null>;
}

/** The backend the hubs of this test process use: OUTPOST_TEST_DATABASE (sqlite, the default, or postgres). */
export const testDatabase = process.env.OUTPOST_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
if (process.env.OUTPOST_TEST_DATABASE && !['sqlite', 'postgres'].includes(process.env.OUTPOST_TEST_DATABASE)) {
  throw new Error(`OUTPOST_TEST_DATABASE must be sqlite or postgres, got ${process.env.OUTPOST_TEST_DATABASE}`);
}
let postgres: Promise<PostgresServer> | undefined;
const databases = new Map<string, Promise<string>>();
if (testDatabase === 'postgres') {
  after(async () => {
    await (await postgres)?.stop();
  });
}

/** The PostgreSQL database of the hubs on `dataDir` (made on first use). */
export function databaseFor(dataDir: string): Promise<string> {
  let url = databases.get(dataDir);
  if (!url) {
    postgres ??= startPostgres();
    const n = databases.size + 1;
    url = postgres.then((s) => createDatabase(s.url, `hub_${process.pid}_${n}`));
    databases.set(dataDir, url);
  }
  return url;
}

/** The server of the hubs' databases and the name of the one of the hubs on `dataDir`. */
async function pgDatabaseOf(dataDir: string): Promise<{ server: string; name: string; url: string }> {
  const url = await databaseFor(dataDir);
  return { server: ((await postgres) as PostgresServer).url, name: new URL(url).pathname.slice(1), url };
}

/** SQLite's files of the hub's database in `dataDir` (the database, its -wal and -shm). */
async function sqliteFiles(dataDir: string): Promise<string[]> {
  return (await readdir(dataDir)).filter((f) => f.startsWith('outpost.db'));
}

/** A cold copy of a hub's database (databaseBackup), to restore later or remove. */
export interface DatabaseBackup {
  /** Replaces the hub's database with this copy (stop the hubs first). */
  restore(): Promise<void>;
  remove(): Promise<void>;
}

let backups = 0;

/**
 * A cold backup of the database of the hubs on `dataDir`, whichever the backend: SQLite's
 * files copied, or on PostgreSQL a database made from it as a template. Stop the hubs first.
 */
export async function backupDatabase(dataDir: string): Promise<DatabaseBackup> {
  if (testDatabase === 'postgres') {
    const db = await pgDatabaseOf(dataDir);
    const copy = `${db.name}_backup_${++backups}`;
    await copyDatabase(db.server, db.name, copy);
    return {
      async restore() {
        await dropDatabase(db.server, db.name);
        await copyDatabase(db.server, copy, db.name);
      },
      remove: () => dropDatabase(db.server, copy),
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'outpost-hub-backup-'));
  for (const f of await sqliteFiles(dataDir)) await copyFile(join(dataDir, f), join(dir, f));
  return {
    async restore() {
      for (const f of await sqliteFiles(dataDir)) await rm(join(dataDir, f));
      for (const f of await readdir(dir)) await copyFile(join(dir, f), join(dataDir, f));
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Replaces the database of the hubs on `dataDir` with an empty one (stop them first). On
 * SQLite the PKI stays in the data directory; on PostgreSQL it lived in the database, so the
 * next hub makes a new CA (sealed under the same key-encryption key file).
 */
export async function emptyDatabase(dataDir: string): Promise<void> {
  if (testDatabase === 'postgres') {
    const db = await pgDatabaseOf(dataDir);
    await dropDatabase(db.server, db.name);
    await createDatabase(db.server, db.name);
    return;
  }
  for (const f of await sqliteFiles(dataDir)) await rm(join(dataDir, f));
}

/** Runs `statement` on the database of the hubs on `dataDir` (a fault made by hand). */
export async function execOnDatabase(dataDir: string, statement: string): Promise<void> {
  if (testDatabase === 'postgres') {
    const client = new pg.Client({
      connectionString: (await pgDatabaseOf(dataDir)).url,
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
    return;
  }
  const db = new DatabaseSync(join(dataDir, 'outpost.db'));
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startHub(
  opts: { dataDir?: string; args?: string[]; timeoutMs?: number } = {},
): Promise<HubProcess> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'outpost-hub-e2e-')));
  const database =
    testDatabase === 'postgres' && !(opts.args ?? []).includes('--database')
      ? ['--database', await databaseFor(dataDir)]
      : [];
  const proc = spawn(
    process.execPath,
    [
      ...hubNodeFlags,
      hubMain,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      ...database,
      ...(opts.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Node flags for the hub alone (a profile of a benchmark's hub: --cpu-prof, --heap-prof).
      ...(process.env.OUTPOST_HUB_NODE_OPTIONS
        ? { env: { ...process.env, NODE_OPTIONS: process.env.OUTPOST_HUB_NODE_OPTIONS } }
        : {}),
    },
  );
  live.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(proc, 'exit');

  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let port = 0;
  while (!port) {
    const m = /serving https:\/\/[^\s]+:(\d+)/.exec(out);
    if (m) port = Number(m[1]);
    else if (proc.exitCode !== null) throw new Error(`hub exited with ${proc.exitCode} before serving:\n${out}`);
    else if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`hub did not start in time:\n${out}`);
    } else await new Promise((r) => setTimeout(r, 25));
  }
  const caCertPem = await readFile(join(dataDir, 'ca.crt'), 'utf8');
  const caHash = /CA cert hash:\s+(sha256:[0-9a-f]{64})/.exec(out)?.[1] ?? '';
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    dataDir,
    caCertPem,
    caHash,
    proc,
    output: () => out,
    async stop({ signal = 'SIGTERM', keepDataDir = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(proc);
      if (!keepDataDir && !opts.dataDir) await rm(dataDir, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = unknown>(): T;
}

/** One HTTPS request that trusts only `ca` (the hub's CA), as an agent would. */
export function httpsRequest(
  url: string,
  opts: { ca: string; method?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<Response> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', ca: opts.ca, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolvePromise({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: <T>() => JSON.parse(body) as T,
        });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}
