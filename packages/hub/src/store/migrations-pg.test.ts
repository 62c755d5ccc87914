// PostgreSQL's migrations against a real server (test/pg): the schema they make is SQLite's
// after its migrations, table for table and column for column; and the runner is safe to
// run again, by replicas starting at once, and refuses a schema newer than it knows.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { createDatabase, type PostgresServer, startPostgres } from '../../../../test/pg/index.ts';
import { migrate, StoreError } from './index.ts';
import { migratePg } from './migrate-pg.ts';
import { migrations } from './migrations.ts';
import { pgMigrations } from './migrations-pg.ts';

/** The newest schema version (both dialects have the same). */
const latest = migrations.at(-1)?.version ?? 0;

let server: PostgresServer;
let databases = 0;

before(async () => {
  server = await startPostgres();
});

after(async () => {
  if (!server) return;
  await server.stop();
  assert.equal(existsSync(server.dir), false, 'the server’s temp folder is removed');
  assert.equal(existsSync(`/proc/${server.pid}`), false, 'the postmaster is gone');
});

/** A connection to a new, empty database of the shared server, closed after the test. */
async function freshDatabase(t: { after(fn: () => Promise<void>): void }, connections = 1): Promise<Client[]> {
  const url = await createDatabase(server.url, `migrations_${++databases}`);
  const clients = Array.from({ length: connections }, () => new Client({ connectionString: url }));
  t.after(() => Promise.all(clients.map((c) => c.end())).then(() => undefined));
  await Promise.all(clients.map((c) => c.connect()));
  return clients;
}

async function rows<T>(client: Client, sql: string): Promise<T[]> {
  return (await client.query(sql)).rows as T[];
}

// ---------------------------------------------------------------------------------------
// Both schemas, described alike: one line per column, key, index and constraint.

interface Schema {
  tables: string[];
  /** Per table, its columns in order: `name type [not null] [default …]`. */
  columns: Record<string, string[]>;
  /** `table primary key (a, b)`, `table unique (a)`, `table index NAME (a, b) [unique]`. */
  keys: string[];
  /** `table.column in (a, b)`: the CHECK constraints, all of the form SQLite's schema uses. */
  checks: string[];
  /** `table (a) references other (b) on delete ACTION`. */
  foreignKeys: string[];
}

const sqliteTypes: Record<string, string> = {
  TEXT: 'text',
  INTEGER: 'bigint',
  BLOB: 'bytea',
  REAL: 'double precision',
};

function sqliteSchema(db: Database.Database): Schema {
  const tables = (
    db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .pluck()
      .all() as string[]
  ).sort();
  const columns: Schema['columns'] = {};
  const keys: string[] = [];
  const checks: string[] = [];
  const foreignKeys: string[] = [];
  for (const table of tables) {
    const info = db.prepare(`PRAGMA table_info(${table})`).all() as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }[];
    columns[table] = info.map((c) =>
      // A primary key is never NULL: STRICT says so for TEXT keys, INTEGER ones are the rowid.
      describeColumn(c.name, sqliteTypes[c.type] ?? `unmapped ${c.type}`, c.notnull === 1 || c.pk > 0, c.dflt_value),
    );
    const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    if (pk.length) keys.push(`${table} primary key (${pk.map((c) => c.name).join(', ')})`);
    for (const index of db.prepare(`PRAGMA index_list(${table})`).all() as {
      name: string;
      unique: number;
      origin: string;
    }[]) {
      const cols = (db.prepare(`PRAGMA index_info(${index.name})`).all() as { name: string }[]).map((c) => c.name);
      if (index.origin === 'u') keys.push(`${table} unique (${cols.join(', ')})`);
      if (index.origin === 'c') keys.push(describeIndex(table, index.name, cols, index.unique === 1));
    }
    const sql = db.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).pluck().get(table) as string;
    const found = [...sql.matchAll(/CHECK \((\w+) IN \(([^)]*)\)\)/g)];
    assert.equal(found.length, sql.split('CHECK').length - 1, `every CHECK of ${table} is one this test reads`);
    for (const [, column, list] of found) checks.push(describeCheck(table, column, list));
    const fks = db.prepare(`PRAGMA foreign_key_list(${table})`).all() as {
      id: number;
      table: string;
      from: string;
      to: string;
      on_delete: string;
    }[];
    for (const id of new Set(fks.map((f) => f.id))) {
      const parts = fks.filter((f) => f.id === id);
      foreignKeys.push(
        `${table} (${parts.map((f) => f.from).join(', ')}) references ${parts[0]?.table} ` +
          `(${parts.map((f) => f.to).join(', ')}) on delete ${parts[0]?.on_delete.toLowerCase()}`,
      );
    }
  }
  return { tables, columns, keys: keys.sort(), checks: checks.sort(), foreignKeys: foreignKeys.sort() };
}

const pgDeleteActions: Record<string, string> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};

async function pgSchema(client: Client): Promise<Schema> {
  const cols = await rows<{
    table: string;
    name: string;
    type: string;
    nullable: string;
    default: string | null;
    collation: string | null;
  }>(
    client,
    `SELECT table_name AS table, column_name AS name, data_type AS type, is_nullable AS nullable,
            column_default AS default, collation_name AS collation
     FROM information_schema.columns WHERE table_schema = current_schema()
     ORDER BY table_name, ordinal_position`,
  );
  const columns: Schema['columns'] = {};
  for (const c of cols) {
    // Every text column compares by code point, as SQLite's BINARY collation does.
    if (c.type === 'text') assert.equal(c.collation, 'C', `${c.table}.${c.name} collates "C"`);
    const dflt = c.default?.replace(/::text$/, '') ?? null;
    columns[c.table] ??= [];
    columns[c.table]?.push(describeColumn(c.name, c.type, c.nullable === 'NO', dflt));
  }
  const indexes = await rows<{
    table: string;
    name: string;
    unique: boolean;
    primary: boolean;
    constraint: boolean;
    columns: string;
  }>(
    client,
    `SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
            EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype = 'u') AS constraint,
            array_to_string(ARRAY(
              SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ', ') AS columns
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
     WHERE t.relnamespace = current_schema()::regnamespace`,
  );
  const keys = indexes.map((i) =>
    i.primary
      ? `${i.table} primary key (${i.columns})`
      : i.constraint
        ? `${i.table} unique (${i.columns})`
        : describeIndex(i.table, i.name, i.columns.split(', '), i.unique),
  );
  const constraints = await rows<{ table: string; type: string; def: string; ref: string; action: string }>(
    client,
    `SELECT conrelid::regclass::text AS table, contype AS type, pg_get_constraintdef(oid) AS def,
            confrelid::regclass::text AS ref, confdeltype AS action
     FROM pg_constraint WHERE connamespace = current_schema()::regnamespace AND contype IN ('c', 'f')`,
  );
  const checks: string[] = [];
  const foreignKeys: string[] = [];
  for (const c of constraints) {
    if (c.type === 'c') {
      const m = /^CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)$/.exec(c.def);
      assert.ok(m, `CHECK of ${c.table} is one this test reads: ${c.def}`);
      checks.push(describeCheck(c.table, m[1], m[2]?.replaceAll('::text', '')));
    } else {
      const m = /^FOREIGN KEY \((.*)\) REFERENCES (\w+)\((.*)\)/.exec(c.def);
      assert.ok(m, `foreign key of ${c.table} is one this test reads: ${c.def}`);
      foreignKeys.push(`${c.table} (${m[1]}) references ${m[2]} (${m[3]}) on delete ${pgDeleteActions[c.action]}`);
    }
  }
  return {
    tables: Object.keys(columns).sort(),
    columns,
    keys: keys.sort(),
    checks: checks.sort(),
    foreignKeys: foreignKeys.sort(),
  };
}

function describeColumn(name: string, type: string, notNull: boolean, dflt: string | null): string {
  return [name, type, notNull ? 'not null' : '', dflt === null ? '' : `default ${dflt}`].filter(Boolean).join(' ');
}

function describeIndex(table: string, name: string, columns: string[], unique: boolean): string {
  return `${table} index ${name} (${columns.join(', ')})${unique ? ' unique' : ''}`;
}

function describeCheck(table: string, column: string | undefined, list: string | undefined): string {
  const values = [...(list ?? '').matchAll(/'([^']*)'/g)].map((m) => m[1]);
  return `${table}.${column} in (${values.join(', ')})`;
}

function migratedSqlite(): Database.Database {
  const db = new Database(':memory:');
  assert.equal(migrate(db), latest);
  return db;
}

// ---------------------------------------------------------------------------------------

test('the versions are SQLite’s: 1..14 recorded empty, 15 makes the whole schema, later ones follow', () => {
  assert.deepEqual(
    pgMigrations.map((m) => m.version),
    migrations.map((m) => m.version),
  );
  for (const m of pgMigrations.filter((m) => m.version < 15))
    assert.equal(m.sql, '', `version ${m.version} has no SQL`);
  for (const m of pgMigrations.filter((m) => m.version >= 15))
    assert.notEqual(m.sql, '', `version ${m.version} has SQL`);
  assert.match(pgMigrations[0]?.name ?? '', /contained in version 15/);
});

test('PostgreSQL’s schema is SQLite’s after all migrations, but for text_orphans.id', async (t) => {
  const [client] = await freshDatabase(t);
  assert.ok(client);
  assert.equal(await migratePg(client), latest);
  const sqlite = migratedSqlite();
  t.after(() => sqlite.close());
  const want = sqliteSchema(sqlite);
  const got = await pgSchema(client);

  // The one documented difference: SQLite's store finds text_orphans rows by the implicit
  // rowid, PostgreSQL's by an explicit identity column.
  assert.deepEqual(got.columns.text_orphans?.[0], 'id bigint not null');
  got.columns.text_orphans?.shift();
  assert.ok(got.keys.includes('text_orphans primary key (id)'));
  got.keys = got.keys.filter((k) => k !== 'text_orphans primary key (id)');

  assert.deepEqual(got.tables, want.tables);
  for (const table of want.tables) assert.deepEqual(got.columns[table], want.columns[table], `columns of ${table}`);
  assert.deepEqual(got.keys, want.keys);
  assert.deepEqual(got.checks, want.checks);
  assert.deepEqual(got.foreignKeys, want.foreignKeys);
  // Not vacuous: the comparison saw what the schema is known to have.
  assert.ok(want.keys.includes('works primary key (cluster, name)'));
  assert.ok(want.keys.includes('clusters unique (uid)'));
  assert.ok(want.keys.includes('registrations index registrations_cluster (cluster_name, state)'));
  assert.ok(want.checks.includes('api_tokens.scope in (admin, read-only)'));
  assert.ok(want.columns.api_tokens?.includes('secret_hash bytea not null'));

  // What a new database holds: the cluster sets OCM's hub keeps, global bound to default.
  const setsSql =
    'SELECT name, namespace, generation, resource_version, labels, annotations, spec, status FROM cluster_sets ORDER BY name';
  const bindingsSql =
    'SELECT namespace, name, resource_version, labels, annotations FROM cluster_set_bindings ORDER BY namespace, name';
  const numbers = (r: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v]),
    );
  assert.deepEqual((await rows<Record<string, unknown>>(client, setsSql)).map(numbers), sqlite.prepare(setsSql).all());
  assert.deepEqual(
    (await rows<Record<string, unknown>>(client, bindingsSql)).map(numbers),
    sqlite.prepare(bindingsSql).all(),
  );
  for (const r of await rows<{ uid: string; created_at: string }>(
    client,
    'SELECT uid, created_at FROM cluster_sets UNION ALL SELECT uid, created_at FROM cluster_set_bindings',
  )) {
    assert.match(r.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(r.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
});

test('migratePg a second time changes nothing and returns the latest version', async (t) => {
  const [client] = await freshDatabase(t);
  assert.ok(client);
  assert.equal(await migratePg(client), latest);
  const first = await rows(client, 'SELECT version::integer, name, applied_at FROM schema_migrations ORDER BY version');
  assert.deepEqual(
    first.map((r) => (r as { version: number }).version),
    Array.from({ length: latest }, (_, i) => i + 1),
  );
  assert.equal(await migratePg(client), latest);
  assert.deepEqual(
    await rows(client, 'SELECT version::integer, name, applied_at FROM schema_migrations ORDER BY version'),
    first,
  );
});

test('replicas migrating at once: all succeed, each version applied once', async (t) => {
  const clients = await freshDatabase(t, 3);
  assert.deepEqual(await Promise.all(clients.map((c) => migratePg(c))), [latest, latest, latest]);
  const [client] = clients;
  assert.ok(client);
  const counts = await rows<{ version: number; n: number }>(
    client,
    'SELECT version::integer, count(*)::integer AS n FROM schema_migrations GROUP BY version ORDER BY version',
  );
  assert.deepEqual(
    counts,
    Array.from({ length: latest }, (_, i) => ({ version: i + 1, n: 1 })),
  );
});

test('the lock serialises replicas even when a migration takes a while', async (t) => {
  // Without the lock the second replica would create the same table (and fail) while the
  // first one sleeps inside its transaction.
  const slow = [
    { version: 1, name: 'slow', sql: 'SELECT pg_sleep(0.3); CREATE TABLE slow (x INTEGER)' },
    { version: 2, name: 'next', sql: 'CREATE TABLE next (x INTEGER)' },
  ];
  const clients = await freshDatabase(t, 2);
  assert.deepEqual(await Promise.all(clients.map((c) => migratePg(c, slow))), [2, 2]);
  const [client] = clients;
  assert.ok(client);
  assert.deepEqual(await rows(client, 'SELECT version::integer, name FROM schema_migrations ORDER BY version'), [
    { version: 1, name: 'slow' },
    { version: 2, name: 'next' },
  ]);
});

test('a database migrated by a newer hub is refused, as SQLite’s is', async (t) => {
  const [client] = await freshDatabase(t);
  assert.ok(client);
  await client.query(`CREATE TABLE schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  await client.query(`INSERT INTO schema_migrations VALUES (99, 'from the future', 'x')`);
  await assert.rejects(migratePg(client), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, 'STORE_SCHEMA_TOO_NEW');
    return true;
  });
  // Nothing was applied, and the connection is usable (no transaction left open).
  assert.deepEqual(await rows(client, `SELECT to_regclass('hub_meta') AS t`), [{ t: null }]);

  const sqlite = new Database(':memory:');
  t.after(() => sqlite.close());
  migrate(sqlite);
  sqlite.prepare(`INSERT INTO schema_migrations VALUES (99, 'from the future', 'x')`).run();
  assert.throws(() => migrate(sqlite), { code: 'STORE_SCHEMA_TOO_NEW' });
});

test('migration 19 on a database with works: manifests say their work and object by column', async (t) => {
  const [client] = await freshDatabase(t);
  assert.ok(client);
  assert.equal(pgMigrations[18]?.version, 19);
  assert.equal(await migratePg(client, pgMigrations.slice(0, 18)), 18);
  await client.query(`INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec,
    spec_hash, content_hash, manifest_count, size_bytes, status_seq, created_at, updated_at)
    VALUES ('c1', 'web', 'u-w', 2, 2, '{}', '{}', '{}', 'sh', 'ch', 2, 0, 0, 'x', 'x')`);
  for (const [key, ordinal, hash] of [
    ['apps|Deployment|shop|web', 0, 'h1'],
    ['|Namespace||shop', 1, 'h2'],
    ['|ConfigMap|shop|gone', -1, ''],
  ] as const) {
    await client.query(
      `INSERT INTO work_manifests (work_uid, key, ordinal, hash, changed_generation) VALUES ('u-w', $1, $2, $3, 1)`,
      [key, ordinal, hash],
    );
  }
  assert.equal(await migratePg(client), latest);
  assert.deepEqual(
    (
      await rows<Record<string, string>>(
        client,
        'SELECT key, cluster, work, api_group, kind, namespace, name FROM work_manifests ORDER BY key',
      )
    ).map((r) => Object.values(r)),
    [
      ['apps|Deployment|shop|web', 'c1', 'web', 'apps', 'Deployment', 'shop', 'web'],
      ['|ConfigMap|shop|gone', 'c1', 'web', '', 'ConfigMap', 'shop', 'gone'],
      ['|Namespace||shop', 'c1', 'web', '', 'Namespace', '', 'shop'],
    ],
  );
});
