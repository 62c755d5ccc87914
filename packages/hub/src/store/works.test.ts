import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storeBackends } from './backends.testing.ts';

const workBase = { labels: {}, annotations: {}, spec: {} };

const cm = (name: string, data: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'd' },
  data: { v: data },
});

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('a work records per-manifest change generations and tombstones', async () => {
      const store = await backend.open();
      const at = new Date().toISOString();
      const base = { cluster: 'c1', name: 'w', labels: {}, annotations: {}, spec: {} };
      const first = await store.works.write({ ...base, manifests: [cm('a', '1'), cm('b', '1'), cm('c', '1')] }, at);
      assert.equal(first.created, true);
      assert.equal(first.work.generation, 1);
      const rev1 = await store.works.desiredRevision('c1');

      // Same content, other key order: no new generation, no new desired revision.
      const same = await store.works.write(
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
      assert.equal(await store.works.desiredRevision('c1'), rev1);

      // One manifest changes, one leaves.
      const second = await store.works.write({ ...base, manifests: [cm('a', '1'), cm('b', '2')] }, at);
      assert.equal(second.work.generation, 2);
      assert.ok((await store.works.desiredRevision('c1')) > rev1);
      const delta = await store.works.changedSince(second.work.uid, 1);
      const value = async (hash: string) => JSON.parse(String(await store.works.text(hash))).data.v;
      const values: [string, unknown][] = [];
      for (const m of delta) values.push([m.key, m.hash === '' ? 'tombstone' : await value(m.hash)]);
      assert.deepEqual(values.sort(), [
        ['|ConfigMap|d|b', '2'],
        ['|ConfigMap|d|c', 'tombstone'],
      ]);
      assert.deepEqual(
        (await store.works.manifests(second.work.uid)).map((m) => m.key),
        ['|ConfigMap|d|a', '|ConfigMap|d|b'],
      );
      assert.equal((await store.works.changedSince(second.work.uid, 2)).length, 0);

      // A manifest that comes back after a tombstone is live again.
      const third = await store.works.write({ ...base, manifests: [cm('a', '1'), cm('b', '2'), cm('c', '1')] }, at);
      assert.equal(third.work.generation, 3);
      assert.equal((await store.works.manifests(third.work.uid)).length, 3);
      await store.close();
    });

    test('a text with a NUL character is found nowhere and refused as a write, alike on both backends; the audit log keeps a hostile name', async () => {
      const store = await backend.open();
      assert.equal(await store.clusters.get('nul\u0000byte'), undefined);
      assert.deepEqual((await store.works.page('c\u0000', { cluster: '', name: '' }, 10)).items, []);
      await assert.rejects(
        store.works.write(
          { ...workBase, cluster: 'c\u0000', name: 'w', manifests: [cm('a', '1')] },
          new Date().toISOString(),
        ),
        { code: 'STORE_TEXT_NUL' },
      );
      await store.audit.append({
        at: new Date().toISOString(),
        actor: 'anonymous',
        action: 'cluster.register',
        resource: 'clusters/nul\u0000byte',
        result: 'CLUSTER_NAME_INVALID',
        details: undefined,
      });
      const [row] = (await store.audit.page(Number.MAX_SAFE_INTEGER, 1)).items;
      assert.equal(row?.resource, 'clusters/nul\uFFFDbyte');
      await store.close();
    });

    test('keys sort by code point on both backends (pages by name never skip or repeat)', async () => {
      const store = await backend.open();
      const names = ['b', 'B', 'a-1', 'a', 'a0', 'é', 'Z'];
      for (const name of names) {
        await store.works.write(
          { ...workBase, cluster: 'c1', name, manifests: [cm(name, '1')] },
          new Date().toISOString(),
        );
      }
      const byCodePoint = [...names].sort();
      assert.deepEqual(
        (await store.works.forCluster('c1')).map((w) => w.name),
        byCodePoint,
      );
      const paged: string[] = [];
      let after = { cluster: '', name: '' };
      for (;;) {
        const page = await store.works.page('c1', after, 2);
        paged.push(...page.items.map((w) => w.name));
        const last = page.items.at(-1);
        if (!page.continue || !last) break;
        after = { cluster: 'c1', name: last.name };
      }
      assert.deepEqual(paged, byCodePoint);
      await store.close();
    });
  });
}
