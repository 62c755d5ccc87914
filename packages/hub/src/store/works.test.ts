import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from './index.ts';

const cm = (name: string, data: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'd' },
  data: { v: data },
});

test('a work records per-manifest change generations and tombstones', () => {
  const store = openStore(':memory:');
  const at = new Date().toISOString();
  const base = { cluster: 'c1', name: 'w', labels: {}, annotations: {}, spec: {} };
  const first = store.works.write({ ...base, manifests: [cm('a', '1'), cm('b', '1'), cm('c', '1')] }, at);
  assert.equal(first.created, true);
  assert.equal(first.work.generation, 1);
  const rev1 = store.works.desiredRevision('c1');

  // Same content, other key order: no new generation, no new desired revision.
  const same = store.works.write(
    {
      ...base,
      manifests: [
        cm('a', '1'),
        cm('b', '1'),
        { data: { v: '1' }, metadata: { namespace: 'd', name: 'c' }, kind: 'ConfigMap', apiVersion: 'v1' },
      ],
    },
    at,
  );
  assert.equal(same.changed, false);
  assert.equal(same.work.generation, 1);
  assert.equal(store.works.desiredRevision('c1'), rev1);

  // One manifest changes, one leaves.
  const second = store.works.write({ ...base, manifests: [cm('a', '1'), cm('b', '2')] }, at);
  assert.equal(second.work.generation, 2);
  assert.ok(store.works.desiredRevision('c1') > rev1);
  const delta = store.works.changedSince(second.work.uid, 1);
  const value = (hash: string) => JSON.parse(String(store.works.text(hash))).data.v;
  assert.deepEqual(delta.map((m) => [m.key, m.hash === '' ? 'tombstone' : value(m.hash)]).sort(), [
    ['|ConfigMap|d|b', '2'],
    ['|ConfigMap|d|c', 'tombstone'],
  ]);
  assert.deepEqual(
    store.works.manifests(second.work.uid).map((m) => m.key),
    ['|ConfigMap|d|a', '|ConfigMap|d|b'],
  );
  assert.equal(store.works.changedSince(second.work.uid, 2).length, 0);

  // A manifest that comes back after a tombstone is live again.
  const third = store.works.write({ ...base, manifests: [cm('a', '1'), cm('b', '2'), cm('c', '1')] }, at);
  assert.equal(third.work.generation, 3);
  assert.equal(store.works.manifests(third.work.uid).length, 3);
  store.close();
});
