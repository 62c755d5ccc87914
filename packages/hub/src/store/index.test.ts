import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, openStore, type StoreError } from './index.ts';
import { migrations } from './migrations.ts';

describe('store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-store-'));
  after(() => rm(dir, { recursive: true, force: true }));

  test('migrations are numbered 1..n without gaps', () => {
    for (const [i, m] of migrations.entries()) assert.equal(m.version, i + 1, m.name);
  });

  test('a database keeps its epoch across reopen; a new database gets a new one', () => {
    const file = join(dir, 'a.db');
    const first = openStore(file);
    const epoch = first.epoch;
    assert.equal(first.ping(), true);
    first.close();
    const again = openStore(file);
    assert.equal(again.epoch, epoch);
    assert.equal(again.schemaVersion, migrations.length);
    again.close();
    const other = openStore(join(dir, 'b.db'));
    assert.notEqual(other.epoch, epoch);
    other.close();
  });

  test('migrate is idempotent and refuses a schema newer than this hub', () => {
    const db = new Database(join(dir, 'c.db'));
    assert.equal(migrate(db), migrations.length);
    assert.equal(migrate(db), migrations.length);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(999, 'future', 'x');
    assert.throws(
      () => migrate(db),
      (err: StoreError) => err.code === 'STORE_SCHEMA_TOO_NEW',
    );
    db.close();
  });

  test('migration 9: placements and worksets written before it have no namespace until their next write adopts one', () => {
    const path = join(dir, 'ns.db');
    const db = new Database(path);
    migrate(db, migrations.slice(0, 8));
    for (const table of ['placements', 'worksets']) {
      db.prepare(
        `INSERT INTO ${table} (name, uid, generation, resource_version, labels, annotations, spec, created_at, updated_at)
         VALUES ('old', 'u-${table}', 1, 1, '{}', '{}', '{}', 'x', 'x')`,
      ).run();
    }
    db.close();
    const store = openStore(path);
    assert.equal(store.placements.get('old')?.namespace, null);
    assert.equal(store.worksets.get('old')?.namespace, null);
    const w = { name: 'old', labels: {}, annotations: {}, spec: {} };
    const adopted = store.placements.replace({ ...w, namespace: 'team-a' }, 'y');
    assert.deepEqual([adopted?.changed, adopted?.specChanged, adopted?.row.namespace], [true, false, 'team-a']);
    const kept = store.placements.replace({ ...w, namespace: 'team-b' }, 'y');
    assert.equal(kept?.row.namespace, 'team-a', 'a namespace once kept is not replaced (the API refuses first)');
    assert.equal(
      store.placements.create({ name: 'new', namespace: 'team-a', labels: {}, annotations: {}, spec: {} }, 'x')
        ?.namespace,
      'team-a',
    );
    store.close();
  });

  test('a failing migration leaves no trace of itself', () => {
    const db = new Database(join(dir, 'd.db'));
    const broken = [
      ...migrations,
      { version: migrations.length + 1, name: 'broken', sql: 'CREATE TABLE x (a); BOOM;' },
    ];
    assert.throws(() => migrate(db, broken));
    const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number };
    assert.equal(row.v, migrations.length);
    assert.equal(db.prepare("SELECT name FROM sqlite_master WHERE name = 'x'").get(), undefined);
    db.close();
  });
});
