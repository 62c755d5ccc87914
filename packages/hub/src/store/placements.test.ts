import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from './index.ts';

const at = '2025-01-01T00:00:00.000Z';
const base = {
  name: 'p',
  namespace: 'default',
  labels: { team: 'a' },
  annotations: {},
  spec: { predicates: [], numberOfClusters: 2 },
};

test('placements: create, replace (generation only on spec change), status, delete', () => {
  const store = openStore(':memory:');
  const created = store.placements.create(base, at);
  assert.ok(created);
  assert.equal(created.resourceVersion, 1);
  assert.equal(created.generation, 1);
  assert.equal(created.status, null);
  assert.equal(store.placements.create(base, at), undefined, 'a second create of the name is refused');

  // Same content in another key order: nothing changes, nothing is bumped.
  const same = store.placements.replace({ ...base, spec: { numberOfClusters: 2, predicates: [] } }, at);
  assert.deepEqual([same?.changed, same?.row.resourceVersion, same?.row.generation], [false, 1, 1]);

  const relabelled = store.placements.replace({ ...base, labels: { team: 'b' } }, at);
  assert.deepEqual([relabelled?.changed, relabelled?.specChanged], [true, false]);
  assert.deepEqual([relabelled?.row.resourceVersion, relabelled?.row.generation], [2, 1]);

  const respecced = store.placements.replace({ ...base, spec: { predicates: [], numberOfClusters: 3 } }, at);
  assert.deepEqual([respecced?.row.resourceVersion, respecced?.row.generation], [3, 2]);

  const withStatus = store.placements.setStatus('default', 'p', { numberOfSelectedClusters: 1 });
  assert.deepEqual(withStatus?.status, { numberOfSelectedClusters: 1 });
  assert.equal(withStatus?.resourceVersion, 4, 'a status write bumps the resourceVersion');
  assert.equal(withStatus?.generation, 2, 'but not the generation');
  // A replace keeps the status (the scheduler owns it).
  assert.deepEqual(store.placements.replace({ ...base, labels: {} }, at)?.row.status, { numberOfSelectedClusters: 1 });

  assert.equal(store.placements.replace({ ...base, name: 'missing' }, at), undefined);
  assert.equal(store.placements.setStatus('default', 'missing', {}), undefined);
  assert.equal(store.placements.delete('default', 'p'), true);
  assert.equal(store.placements.delete('default', 'p'), false);
  assert.equal(store.placements.get('default', 'p'), undefined);
  // Created again: a new uid, so a stale writer can be told apart.
  const again = store.placements.create(base, at);
  assert.notEqual(again?.uid, created.uid);
  store.close();
});

test('placements and worksets are separate tables, paged by namespace and name', () => {
  const store = openStore(':memory:');
  for (const [namespace, name] of [
    ['team-b', 'a'],
    ['default', 'c'],
    ['default', 'a'],
    ['team-a', 'b'],
  ] as const) {
    store.worksets.create({ ...base, namespace, name }, at);
  }
  assert.equal(store.placements.all().length, 0);
  const key = (r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`;
  const first = store.worksets.page('', 3);
  assert.deepEqual(first.items.map(key), ['default/a', 'default/c', 'team-a/b']);
  assert.equal(first.continue, 'team-a/b');
  const second = store.worksets.page(first.continue ?? '', 3);
  assert.deepEqual(second.items.map(key), ['team-b/a']);
  assert.equal(second.continue, undefined);
  // One namespace only.
  const inDefault = store.worksets.page('', 1, 'default');
  assert.deepEqual(inDefault.items.map(key), ['default/a']);
  assert.deepEqual(store.worksets.page(inDefault.continue ?? '', 5, 'default').items.map(key), ['default/c']);
  assert.deepEqual(store.worksets.page('', 5, 'team-c').items, []);
  store.close();
});
