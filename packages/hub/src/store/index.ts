// The hub's SQLite store: the only importer of better-sqlite3. Opens the database file,
// applies numbered migrations, and exposes typed operations to the rest of the hub.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type BindingStore, bindingStore } from './bindings.ts';
import { migrations as allMigrations, type Migration } from './migrations.ts';
import { clusterSetStore, type ObjectStore, placementStore, workSetStore } from './placements.ts';
import { type TrustStore, trustStore } from './trust.ts';
import { type WorkStore, workStore } from './works.ts';

export type { BindingRow, BindingStore, BindingWrite } from './bindings.ts';
export type { ObjectRow, ObjectStore, ObjectWrite, PlacementRow, WorkSetRow } from './placements.ts';
export { objectKey, splitObjectKey } from './placements.ts';
export type * from './rows.ts';
export { allClaims } from './rows.ts';
export type { ClusterChangeKind, ClusterChangeListener, Page, TrustStore } from './trust.ts';
export type {
  ManifestRow,
  PreparedManifest,
  PreparedWork,
  StatusSummary,
  StoredText,
  WorkRow,
  WorkStore,
  WorkWrite,
} from './works.ts';
export { utf8Bytes } from './works.ts';

export interface Store extends TrustStore {
  readonly works: WorkStore;
  /** Placements (keyed by namespace and name). */
  readonly placements: ObjectStore;
  /** ManifestWorkReplicaSets (keyed by namespace and name). */
  readonly worksets: ObjectStore;
  /** ManagedClusterSets (cluster-scoped: namespace ''; `default` and `global` always exist). */
  readonly clusterSets: ObjectStore;
  /** ManagedClusterSetBindings (keyed by namespace and set name). */
  readonly bindings: BindingStore;
  /** This database's identity: a new database gets a new epoch (see architecture.md). */
  readonly epoch: string;
  readonly schemaVersion: number;
  /** For /readyz: reads one row of every table (throws when one cannot be read). */
  ping(): boolean;
  /** Runs `fn` in one SQLite transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export class StoreError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
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

  const getMeta = db.prepare('SELECT value FROM hub_meta WHERE key = ?');
  const insertMeta = db.prepare('INSERT OR IGNORE INTO hub_meta (key, value) VALUES (?, ?)');
  insertMeta.run('epoch', randomUUID());
  const epoch = (getMeta.get('epoch') as { value: string }).value;
  // /readyz reads one row of every table a request may need: a database that opens but
  // has a table it cannot read (damaged, dropped, locked out) is not ready.
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
  ];
  // Prepared once: SQLite prepares a statement again by itself when the schema changed, and
  // fails it while its table is gone.
  const reads = readable.map((table) => db.prepare(`SELECT 1 FROM ${table} LIMIT 1`));
  const ping = () => {
    for (const read of reads) read.get();
    return true;
  };

  const works = workStore(db);
  return {
    ...trustStore(db),
    works,
    placements: placementStore(db),
    worksets: workSetStore(db, works),
    clusterSets: clusterSetStore(db),
    bindings: bindingStore(db),
    epoch,
    schemaVersion,
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    ping,
    close: () => db.close(),
  };
}
