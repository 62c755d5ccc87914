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

  test('a database keeps its epoch across reopen; a new database gets a new one', async () => {
    const file = join(dir, 'a.db');
    const first = openStore(file);
    const epoch = first.epoch;
    assert.equal(await first.ping(), true);
    await first.close();
    const again = openStore(file);
    assert.equal(again.epoch, epoch);
    assert.equal(again.schemaVersion, migrations.length);
    await again.close();
    const other = openStore(join(dir, 'b.db'));
    assert.notEqual(other.epoch, epoch);
    await other.close();
  });

  test("certificates.latestIn: each cluster's newest unrevoked certificate in a page of names, as latestFor finds it", async () => {
    const store = openStore(join(dir, 'certs.db'));
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const cert = (serial: string, cluster: string, issued: number) =>
      store.certificates.insert({
        serial,
        clusterName: cluster,
        caHash: 'sha256:ca',
        certPem: `pem of ${serial}`,
        notBefore: at(issued),
        notAfter: at(issued + 60),
        issuedAt: at(issued),
      });
    await cert('a1', 'a', 1);
    await cert('b1', 'b', 1);
    await cert('b2', 'b', 2); // renewed: the newer one counts
    await cert('c1', 'c', 1);
    await cert('c2', 'c', 2);
    await store.certificates.revokeOthersFor('c', 'c1', at(3), 'test'); // the newer one revoked
    await cert('d1', 'd', 1);
    await store.certificates.revokeAllFor('d', at(3), 'test'); // none left
    await cert('e1', 'e', 1); // past the page
    const page = await store.certificates.latestIn('a', 'd'); // names after a, up to d
    assert.deepEqual([...page.keys()], ['b', 'c']);
    for (const name of ['b', 'c', 'd']) {
      assert.deepEqual(page.get(name), await store.certificates.latestFor(name), name);
    }
    assert.equal(page.get('b')?.serial, 'b2');
    assert.equal(page.get('c')?.serial, 'c1');
    assert.deepEqual([...(await store.certificates.latestIn('', 'e')).keys()], ['a', 'b', 'c', 'e']);
    await store.close();
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

  test('migration 15: rows from before namespaces were kept take the namespace their references say, else default; works name their workset’s namespace', async () => {
    const path = join(dir, 'ns.db');
    const db = new Database(path);
    migrate(db, migrations.slice(0, 14));
    const insert = (table: string, name: string, namespace: string | null, spec: object) =>
      db
        .prepare(
          `INSERT INTO ${table} (name, namespace, uid, generation, resource_version, labels, annotations, ${
            table === 'worksets' ? 'spec_head, spec_bytes' : 'spec'
          }, created_at, updated_at) VALUES (?, ?, ?, 1, 1, '{}', '{}', ?, ${table === 'worksets' ? '2, ' : ''}'x', 'x')`,
        )
        .run(name, namespace, `u-${table}-${name}`, JSON.stringify(spec));
    // p-old is named by a workset of team-a; lone has no reference; ws-old names p-a.
    insert('placements', 'p-old', null, {});
    insert('placements', 'lone', null, {});
    insert('placements', 'p-a', 'team-a', {});
    insert('worksets', 'ws-a', 'team-a', { placementRefs: [{ name: 'p-old' }] });
    insert('worksets', 'ws-old', null, { placementRefs: [{ name: 'p-a' }] });
    db.prepare(
      `INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec, spec_hash,
         content_hash, manifest_count, size_bytes, status_seq, created_at, updated_at)
       VALUES ('c1', 'ws-a', 'u-w1', 1, 1, '{"outpost.dev/workset":"ws-a"}', '{}', '{}', 'sh', 'ch', 0, 0, 1, 'x', 'x')`,
    ).run();
    db.close();
    const store = openStore(path);
    assert.equal((await store.placements.get('team-a', 'p-old'))?.uid, 'u-placements-p-old');
    assert.equal((await store.placements.get('default', 'lone'))?.uid, 'u-placements-lone');
    assert.equal((await store.worksets.get('team-a', 'ws-old'))?.uid, 'u-worksets-ws-old');
    assert.equal((await store.works.get('c1', 'ws-a'))?.labels['outpost.dev/workset-namespace'], 'team-a');
    // Two namespaces hold the same name side by side now.
    const w = { name: 'p-a', labels: {}, annotations: {}, spec: { numberOfClusters: 1 } };
    assert.ok(await store.placements.create({ ...w, namespace: 'team-b' }, 'y'));
    assert.deepEqual(
      (await store.placements.named('p-a')).map((r) => r.namespace),
      ['team-a', 'team-b'],
    );
    assert.equal(await store.placements.create({ ...w, namespace: 'team-b' }, 'y'), undefined);
    await store.close();
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
