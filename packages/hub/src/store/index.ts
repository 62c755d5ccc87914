// The hub's store: opens the database, applies numbered migrations, and exposes typed,
// asynchronous operations to the rest of the hub. The embedded default is one SQLite file
// (sqlite.ts: the only importer of better-sqlite3); the operations reach it through sql.ts.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type BindingStore, bindingStore } from './bindings.ts';
import { type ChangeStore, changeStore } from './changes.ts';
import { StoreError } from './errors.ts';
import { migratePg } from './migrate-pg.ts';
import { migrations as allMigrations, type Migration } from './migrations.ts';
import {
  clusterSetStore,
  gitRepoStore,
  type ObjectStore,
  placementStore,
  type WorkSetStore,
  workSetStore,
} from './placements.ts';
import { PostgresSql } from './postgres.ts';
import { type SessionStore, sessionStore } from './sessions.ts';
import type { Sql } from './sql.ts';
import { SqliteSql } from './sqlite.ts';

export { StoreError } from './errors.ts';

import { type InventoryStore, inventoryStore } from './inventory.ts';
import { type ReplicaStore, replicaStore } from './replicas.ts';
import { type ClusterRelay, type TrustStore, trustStore } from './trust.ts';
import { type WorkStore, workStore } from './works.ts';

export type { BindingRow, BindingStore, BindingWrite } from './bindings.ts';
export type { ChangeRow, ChangeStore, WatchedResource } from './changes.ts';
export type { InventoryPosition, InventoryQuery, InventoryRow, InventoryStore } from './inventory.ts';
export type {
  ObjectMeta,
  ObjectRow,
  ObjectStore,
  ObjectWrite,
  PlacementRow,
  WorkSetRow,
  WorkSetStore,
} from './placements.ts';
export { objectKey, splitObjectKey } from './placements.ts';
export type { CaRow, PkiStateRow, ReplicaStore, ServingRow } from './replicas.ts';
export type * from './rows.ts';
export { allClaims } from './rows.ts';
export type { SessionRow, SessionStore, SessionWithToken } from './sessions.ts';
export type { Sql } from './sql.ts';
export type { AuditFilter, ClusterChangeKind, ClusterChangeListener, Page, TrustStore } from './trust.ts';
export { auditScanRows } from './trust.ts';
export type {
  KeptStatus,
  ManifestRow,
  PreparedManifest,
  PreparedWork,
  StatusSummary,
  StoredText,
  WorkCounts,
  WorkRow,
  WorkStore,
  WorkWrite,
} from './works.ts';
export { utf8Bytes } from './works.ts';

export interface Store extends TrustStore {
  readonly works: WorkStore;
  /** The objects works declare, searched by kind, namespace, name and cluster. */
  readonly inventory: InventoryStore;
  /** Placements (keyed by namespace and name). */
  readonly placements: ObjectStore;
  /** ManifestWorkReplicaSets (keyed by namespace and name). */
  readonly worksets: WorkSetStore;
  /** GitRepos (keyed by namespace and name; gitrepos/). */
  readonly gitrepos: ObjectStore;
  /** ManagedClusterSets (cluster-scoped: namespace ''; `default` and `global` always exist). */
  readonly clusterSets: ObjectStore;
  /** ManagedClusterSetBindings (keyed by namespace and set name). */
  readonly bindings: BindingStore;
  /** The log of changes to the API objects, which watches read (changes.ts). */
  readonly changes: ChangeStore;
  /** Browser sessions of the dashboard (sessions.ts). */
  readonly sessions: SessionStore;
  /** The hub PKI when it lives in the database (hubs on PostgreSQL; pki/ seals the keys). */
  readonly pki: ReplicaStore['pki'];
  /** Leases of the duties one hub at a time does (replicas/). */
  readonly leases: ReplicaStore['leases'];
  /** Whether several hubs may share this database (PostgreSQL): the PKI lives in it, and
   *  singleton duties go by lease. */
  readonly shared: boolean;
  /** This database's identity: a new database gets a new epoch (see architecture.md). */
  readonly epoch: string;
  readonly schemaVersion: number;
  /** For /readyz: reads one row of every table (throws when one cannot be read). */
  ping(): Promise<boolean>;
  /**
   * Runs `fn` in one transaction: the store operations it awaits are part of it (nested
   * calls become savepoints). `fn` awaits nothing but store operations (sql.ts).
   */
  transaction<T>(fn: () => Promise<T> | T): Promise<T>;
  /**
   * Tells every hub on this database that `cluster`'s desired state changed, so the one
   * holding its agent's poll answers it (PostgreSQL: NOTIFY, sent when the caller's
   * transaction commits; SQLite has one hub, which its caller tells itself).
   */
  wake(cluster: string): Promise<void>;
  /**
   * Calls `onWake` for every wake() made through another hub on this database;
   * `onReset` when wake-ups may have been lost (the listening connection dropped and is
   * back): every waiting poll must look again. Returns the function that stops listening.
   */
  onWake(onWake: (cluster: string) => void, onReset: () => void): () => Promise<void>;
  /**
   * Sends `body` on `topic` to every other hub on this database, when the caller's
   * transaction commits (at once outside one); nothing on SQLite. `body` stays under 7,000
   * bytes.
   */
  tell(topic: string, body: string): Promise<void>;
  /**
   * Calls `onTold` for every tell() of another hub, and the cluster listeners
   * (clusters.onChange) for the cluster changes other hubs made; `onReset` when some may
   * have been lost (the listening connection dropped and is back). Returns the function that
   * stops listening.
   */
  onTold(onTold: (topic: string, body: string) => void, onReset: () => void): () => Promise<void>;
  close(): Promise<void>;
}

type DB = Database.Database;

function currentVersion(db: DB): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

export function migrate(db: DB, migrations: readonly Migration[] = allMigrations): number {
  let version = currentVersion(db);
  const latest = migrations.at(-1)?.version ?? 0;
  if (version > latest) {
    throw new StoreError(
      'STORE_SCHEMA_TOO_NEW',
      `database schema is version ${version}, this hub knows up to ${latest}; run a newer hub`,
    );
  }
  for (const m of migrations) {
    if (m.version <= version) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    })();
    version = m.version;
  }
  return version;
}

export function openStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  // WAL lets readers (long-polls, lists) proceed while one writer commits.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const schemaVersion = migrate(db);
  const sql = new SqliteSql(db);

  const getMeta = db.prepare('SELECT value FROM hub_meta WHERE key = ?');
  const insertMeta = db.prepare('INSERT OR IGNORE INTO hub_meta (key, value) VALUES (?, ?)');
  insertMeta.run('epoch', randomUUID());
  const epoch = (getMeta.get('epoch') as { value: string }).value;
  return storeOn(sql, { epoch, schemaVersion, ping: () => readAll(sql) });
}

/**
 * Opens the store on a PostgreSQL database shared by several hub replicas (`url`: a libpq
 * connection URL, postgres://…), migrating it first when it is behind (one replica at a time).
 */
export async function openPostgresStore(
  url: string,
  opts: { poolSize?: number; onError?: (err: unknown) => void } = {},
): Promise<Store> {
  const sql = new PostgresSql({ connectionString: url, max: opts.poolSize ?? 10 }, { onError: opts.onError });
  try {
    const client = await sql.pool.connect();
    // Lost while migrating: the migration's statement fails (and the start with it); without a
    // listener the connection's error event would end the process first.
    const lost = (err: Error) => opts.onError?.(err);
    client.on('error', lost);
    let schemaVersion: number;
    try {
      schemaVersion = await migratePg(client);
    } finally {
      client.off('error', lost);
      client.release();
    }
    await sql.run('INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [
      'epoch',
      randomUUID(),
    ]);
    const epoch = (await sql.get<{ value: string }>('SELECT value FROM hub_meta WHERE key = ?', ['epoch']))?.value;
    if (!epoch) throw new StoreError('STORE_NO_EPOCH', 'the database has no epoch');
    // A hub has told its own polls already (SyncService.changed): it skips its own wake-ups.
    const self = randomUUID();
    const send = (topic: string, body: string) => sql.notify(hubChannel, `${self} ${topic} ${body}`);
    const ping = async () => {
      // A standby answers reads but takes no write: not ready (a failover under way).
      if ((await sql.get<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby'))?.standby) {
        throw new StoreError('STORE_UNAVAILABLE', 'the database is a read-only standby');
      }
      return readAll(sql);
    };
    const store = storeOn(sql, { epoch, schemaVersion, ping }, { send: (t) => send('cluster', t) });
    /** The other hubs' texts on `channel`, without the sender's id. */
    const fromOthers = (payload: string, then: (text: string) => void) => {
      const cut = payload.indexOf(' ');
      if (cut > 0 && payload.slice(0, cut) !== self) then(payload.slice(cut + 1));
    };
    return {
      ...store,
      wake: (cluster) => sql.notify(wakeChannel, `${self} ${cluster}`),
      onWake: (onWake, onReset) => sql.listen(wakeChannel, (p) => fromOthers(p, onWake), onReset),
      tell: send,
      onTold: (onTold, onReset) =>
        sql.listen(
          hubChannel,
          (p) =>
            fromOthers(p, (text) => {
              const cut = text.indexOf(' ');
              const topic = cut < 0 ? text : text.slice(0, cut);
              const body = cut < 0 ? '' : text.slice(cut + 1);
              if (topic === 'cluster') store.clusters.heard(body);
              else onTold(topic, body);
            }),
          onReset,
        ),
    };
  } catch (err) {
    await sql.close();
    throw err;
  }
}

/** The NOTIFY channel of wake-ups (Store.wake). */
const wakeChannel = 'outpost_wake';
/** The NOTIFY channel of everything else hubs tell each other (Store.tell, cluster changes). */
const hubChannel = 'outpost_hub';

/** The tables /readyz reads a row of. */
const readable = [
  'hub_meta',
  'api_tokens',
  'bootstrap_tokens',
  'clusters',
  'registrations',
  'certificates',
  'audit_log',
  'works',
  'work_manifests',
  'texts',
  'work_status_parts',
  'cluster_desired',
  'placements',
  'worksets',
  'workset_spec_parts',
  'cluster_sets',
  'cluster_set_bindings',
  'pki_cas',
  'hub_leases',
  'changes',
  'ui_sessions',
  'gitrepos',
];

/** /readyz reads one row of every table a request may need: a database that opens but has
 *  a table it cannot read (damaged, dropped, locked out) is not ready. */
async function readAll(sql: Sql): Promise<boolean> {
  for (const table of readable) await sql.get(`SELECT 1 FROM ${table} LIMIT 1`);
  return true;
}

/** The store's operations on a database that is open and migrated. */
function storeOn(
  sql: Sql,
  meta: { epoch: string; schemaVersion: number; ping: () => Promise<boolean> },
  relay?: ClusterRelay,
): Store {
  const works = workStore(sql);
  return {
    ...trustStore(sql, relay),
    works,
    inventory: inventoryStore(sql),
    placements: placementStore(sql),
    worksets: workSetStore(sql, works),
    gitrepos: gitRepoStore(sql),
    clusterSets: clusterSetStore(sql),
    bindings: bindingStore(sql),
    changes: changeStore(sql),
    sessions: sessionStore(sql),
    ...replicaStore(sql),
    shared: sql.dialect === 'postgres',
    ...meta,
    transaction: (fn) => sql.transaction(fn),
    // One hub: it tells its own polls (PostgreSQL's store replaces these).
    wake: async () => {},
    onWake: () => async () => {},
    tell: async () => {},
    onTold: () => async () => {},
    close: () => sql.close(),
  };
}
