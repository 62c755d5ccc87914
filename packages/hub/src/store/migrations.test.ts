import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { canonicalJson, hashText } from '@outpost/shared';
import Database from 'better-sqlite3';
import { migrate, openStore } from './index.ts';
import { migrations } from './migrations.ts';

const dir = await mkdtemp(join(tmpdir(), 'outpost-migrations-'));
after(() => rm(dir, { recursive: true, force: true }));

test('migration 12: manifest texts move to texts, statuses lose the hub’s keys to a summary', async () => {
  const file = join(dir, 'm12.db');
  const db = new Database(file);
  assert.equal(migrations[11]?.version, 12);
  migrate(db, migrations.slice(0, 11));

  const content = canonicalJson({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { v: 'é€😀' } });
  const hash = hashText(content);
  const conditions = [{ type: 'Applied', status: 'True', reason: 'Applied', message: '' }];
  const agentStatus = { conditions, resourceStatus: { manifests: [] }, observedGeneration: 2 };
  const hubKeys = {
    observedAt: '2026-01-01T00:00:01.000Z',
    reportedGeneration: 2,
    completedAt: '2026-01-01T00:00:02.000Z',
  };
  const insertWork = db.prepare(`INSERT INTO works (cluster, name, uid, generation, resource_version, labels,
    annotations, spec, spec_hash, content_hash, manifest_count, size_bytes, status, status_seq, created_at, updated_at)
    VALUES ('c1', ?, ?, 2, 3, '{}', '{}', '{}', 'sh', 'ch', 1, ?, ?, 1, 'x', 'x')`);
  insertWork.run('w', 'u-w', Buffer.byteLength(content), JSON.stringify({ ...agentStatus, ...hubKeys }));
  insertWork.run('quiet', 'u-quiet', 0, null);
  const insertManifest = db.prepare(`INSERT INTO work_manifests (work_uid, key, ordinal, content, hash,
    changed_generation) VALUES ('u-w', ?, ?, ?, ?, ?)`);
  insertManifest.run('|ConfigMap|d|a', 0, content, hash, 1);
  insertManifest.run('|ConfigMap|d|gone', -1, null, '', 2);

  assert.equal(migrate(db), migrations.length);

  const texts = db.prepare('SELECT hash, content, size FROM texts').all();
  assert.deepEqual(texts, [{ hash, content, size: Buffer.byteLength(content) }]);
  assert.ok(Buffer.byteLength(content) > content.length, 'the size is in bytes, not characters');

  const columns = (db.prepare('PRAGMA table_info(work_manifests)').all() as { name: string }[]).map((c) => c.name);
  assert.equal(columns.includes('content'), false);
  assert.deepEqual(db.prepare('SELECT key, ordinal, hash, changed_generation FROM work_manifests ORDER BY key').all(), [
    { key: '|ConfigMap|d|a', ordinal: 0, hash, changed_generation: 1 },
    { key: '|ConfigMap|d|gone', ordinal: -1, hash: '', changed_generation: 2 },
  ]);

  const row = (uid: string) =>
    db.prepare('SELECT status, status_summary FROM works WHERE uid = ?').get(uid) as {
      status: string | null;
      status_summary: string | null;
    };
  const migrated = row('u-w');
  assert.deepEqual(JSON.parse(migrated.status_summary as string), { conditions, observedGeneration: 2, ...hubKeys });
  assert.deepEqual(JSON.parse(migrated.status as string), agentStatus);
  assert.deepEqual(row('u-quiet'), { status: null, status_summary: null });
  db.close();

  // What the store reads of it.
  const store = openStore(file);
  assert.deepEqual((await store.works.get('c1', 'w'))?.statusSummary, {
    conditions,
    observedGeneration: 2,
    ...hubKeys,
  });
  assert.equal((await store.works.get('c1', 'quiet'))?.statusSummary, null);
  assert.deepEqual(
    (await store.works.manifests('u-w')).map((m) => m.hash),
    [hash],
  );
  assert.deepEqual(
    (await store.works.changedSince('u-w', 1)).map((m) => [m.key, m.hash]),
    [['|ConfigMap|d|gone', '']],
  );
  assert.equal(String(await store.works.text(hash)), content);
  assert.equal(await store.works.textSize(hash), Buffer.byteLength(content));
  assert.deepEqual(JSON.parse(String(await store.works.statusBytes('u-w'))), agentStatus);
  await store.close();
});

test('migration 12: a status without the hub’s keys gets a summary without them', async () => {
  const file = join(dir, 'm12-partial.db');
  const db = new Database(file);
  migrate(db, migrations.slice(0, 11));
  db.prepare(`INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec,
    spec_hash, content_hash, manifest_count, size_bytes, status, status_seq, created_at, updated_at)
    VALUES ('c1', 'w', 'u-w', 1, 1, '{}', '{}', '{}', 'sh', 'ch', 0, 0, ?, 1, 'x', 'x')`).run(
    JSON.stringify({ resourceStatus: { manifests: [] }, observedAt: '2026-01-01T00:00:01.000Z' }),
  );
  migrate(db);
  db.close();
  const store = openStore(file);
  assert.deepEqual((await store.works.get('c1', 'w'))?.statusSummary, {
    conditions: [],
    observedAt: '2026-01-01T00:00:01.000Z',
  });
  assert.deepEqual(JSON.parse(String(await store.works.statusBytes('u-w'))), { resourceStatus: { manifests: [] } });
  await store.close();
});

test('migration 13: a workset’s spec leaves its row; it reads the same, and its next write stores it in parts', async () => {
  const file = join(dir, 'm13.db');
  const db = new Database(file);
  migrate(db, migrations.slice(0, 12));
  const spec = {
    cascadeDeletionPolicy: 'Background',
    manifestWorkTemplate: {
      workload: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'é' } }] },
    },
    placementRefs: [{ name: 'p', rolloutStrategy: { type: 'All' } }],
  };
  const text = canonicalJson(spec);
  db.prepare(`INSERT INTO worksets (name, uid, generation, resource_version, labels, annotations, spec, created_at,
    updated_at) VALUES ('ws', 'u-ws', 3, 4, '{}', '{}', ?, 'x', 'x')`).run(text);
  migrate(db);
  const columns = (db.prepare('PRAGMA table_info(worksets)').all() as { name: string }[]).map((c) => c.name);
  assert.equal(columns.includes('spec'), false);
  db.close();

  const store = openStore(file);
  const row = await store.worksets.get('default', 'ws');
  assert.equal(await store.worksets.specText('default', 'ws'), text);
  assert.equal(row?.generation, 3);
  const { manifestWorkTemplate: _, ...head } = spec;
  assert.deepEqual(await store.worksets.specHead('default', 'ws'), { bytes: Buffer.byteLength(text), head });
  assert.equal(row?.renderHash, null);
  // The same spec again is no change (its whole text is hashed to tell); another one is, and
  // is stored in parts.
  const write = { name: 'ws', namespace: 'default', labels: {}, annotations: {}, spec };
  assert.deepEqual(await store.worksets.replace(write, 'y'), {
    row: await store.worksets.get('default', 'ws'),
    changed: false,
    specChanged: false,
  });
  assert.ok(
    (await store.worksets.specParts('default', 'ws')) &&
      'whole' in ((await store.worksets.specParts('default', 'ws')) ?? {}),
  );
  const paused = { ...write, spec: { ...spec, paused: true } };
  assert.equal((await store.worksets.replace(paused, 'z'))?.specChanged, true);
  const parts = await store.worksets.specParts('default', 'ws');
  assert.ok(parts && 'hashes' in parts && parts.hashes.length === 1);
  assert.equal(await store.worksets.specText('default', 'ws'), canonicalJson(paused.spec));
  assert.equal((await store.worksets.get('default', 'ws'))?.generation, 4);
  assert.equal(typeof (await store.worksets.get('default', 'ws'))?.renderHash, 'string');
  await store.close();
});

test('migration 19: manifests say their work and object by column, and the inventory finds them', async () => {
  const file = join(dir, 'm19.db');
  const db = new Database(file);
  assert.equal(migrations[18]?.version, 19);
  migrate(db, migrations.slice(0, 18));
  db.prepare(`INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations, spec,
    spec_hash, content_hash, manifest_count, size_bytes, status_seq, created_at, updated_at)
    VALUES ('c1', 'web', 'u-w', 2, 2, '{}', '{}', '{}', 'sh', 'ch', 2, 0, 0, 'x', 'x')`).run();
  const insertManifest = db.prepare(`INSERT INTO work_manifests (work_uid, key, ordinal, hash, changed_generation)
    VALUES ('u-w', ?, ?, ?, 1)`);
  insertManifest.run('apps|Deployment|shop|web', 0, 'h1');
  insertManifest.run('|Namespace||shop', 1, 'h2');
  insertManifest.run('|ConfigMap|shop|gone', -1, '');
  assert.equal(migrate(db), migrations.length);
  assert.deepEqual(
    db
      .prepare('SELECT key, cluster, work, api_group, kind, namespace, name FROM work_manifests ORDER BY key')
      .all()
      .map((r) => Object.values(r as object)),
    [
      ['apps|Deployment|shop|web', 'c1', 'web', 'apps', 'Deployment', 'shop', 'web'],
      ['|ConfigMap|shop|gone', 'c1', 'web', '', 'ConfigMap', 'shop', 'gone'],
      ['|Namespace||shop', 'c1', 'web', '', 'Namespace', '', 'shop'],
    ],
  );
  db.close();
  const store = openStore(file);
  const all = await store.inventory.page({}, undefined, 10);
  assert.deepEqual(
    all.items.map((r) => `${r.cluster}/${r.work}/${r.group}/${r.kind}/${r.namespace}/${r.name}`),
    ['c1/web/apps/Deployment/shop/web', 'c1/web//Namespace//shop'],
  );
  await store.close();
});
