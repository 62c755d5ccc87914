import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storeBackends } from './backends.testing.ts';

const at = '2025-01-01T00:00:00.000Z';
const base = {
  name: 'p',
  namespace: 'default',
  labels: { team: 'a' },
  annotations: {},
  spec: { predicates: [], numberOfClusters: 2 },
};

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('placements: create, replace (generation only on spec change), status, delete', async () => {
      const store = await backend.open();
      const created = await store.placements.create(base, at);
      assert.ok(created);
      assert.equal(created.resourceVersion, 1);
      assert.equal(created.generation, 1);
      assert.equal(created.status, null);
      assert.equal(await store.placements.create(base, at), undefined, 'a second create of the name is refused');

      // Same content in another key order: nothing changes, nothing is bumped.
      const same = await store.placements.replace({ ...base, spec: { numberOfClusters: 2, predicates: [] } }, at);
      assert.deepEqual([same?.changed, same?.row.resourceVersion, same?.row.generation], [false, 1, 1]);

      const relabelled = await store.placements.replace({ ...base, labels: { team: 'b' } }, at);
      assert.deepEqual([relabelled?.changed, relabelled?.specChanged], [true, false]);
      assert.deepEqual([relabelled?.row.resourceVersion, relabelled?.row.generation], [2, 1]);

      const respecced = await store.placements.replace({ ...base, spec: { predicates: [], numberOfClusters: 3 } }, at);
      assert.deepEqual([respecced?.row.resourceVersion, respecced?.row.generation], [3, 2]);

      const withStatus = await store.placements.setStatus('default', 'p', { numberOfSelectedClusters: 1 });
      assert.deepEqual(withStatus?.status, { numberOfSelectedClusters: 1 });
      assert.equal(withStatus?.resourceVersion, 4, 'a status write bumps the resourceVersion');
      assert.equal(withStatus?.generation, 2, 'but not the generation');
      // A replace keeps the status (the scheduler owns it).
      assert.deepEqual((await store.placements.replace({ ...base, labels: {} }, at))?.row.status, {
        numberOfSelectedClusters: 1,
      });

      assert.equal(await store.placements.replace({ ...base, name: 'missing' }, at), undefined);
      assert.equal(await store.placements.setStatus('default', 'missing', {}), undefined);
      assert.equal(await store.placements.delete('default', 'p'), true);
      assert.equal(await store.placements.delete('default', 'p'), false);
      assert.equal(await store.placements.get('default', 'p'), undefined);
      // Created again: a new uid, so a stale writer can be told apart.
      const again = await store.placements.create(base, at);
      assert.notEqual(again?.uid, created.uid);
      await store.close();
    });

    test('placements and worksets are separate tables, paged by namespace and name', async () => {
      const store = await backend.open();
      for (const [namespace, name] of [
        ['team-b', 'a'],
        ['default', 'c'],
        ['default', 'a'],
        ['team-a', 'b'],
      ] as const) {
        await store.worksets.create({ ...base, namespace, name }, at);
      }
      assert.equal((await store.placements.all()).length, 0);
      const key = (r: { namespace: string; name: string }) => `${r.namespace}/${r.name}`;
      const first = await store.worksets.page('', 3);
      assert.deepEqual(first.items.map(key), ['default/a', 'default/c', 'team-a/b']);
      assert.equal(first.continue, 'team-a/b');
      const second = await store.worksets.page(first.continue ?? '', 3);
      assert.deepEqual(second.items.map(key), ['team-b/a']);
      assert.equal(second.continue, undefined);
      // One namespace only.
      const inDefault = await store.worksets.page('', 1, 'default');
      assert.deepEqual(inDefault.items.map(key), ['default/a']);
      assert.deepEqual((await store.worksets.page(inDefault.continue ?? '', 5, 'default')).items.map(key), [
        'default/c',
      ]);
      assert.deepEqual((await store.worksets.page('', 5, 'team-c')).items, []);
      await store.close();
    });
  });
}
