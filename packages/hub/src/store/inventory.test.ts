// store.inventory: the objects works declare now, searched by kind (and group), namespace,
// name (exact, prefix) and cluster, paged with nothing skipped or repeated, on both
// backends; written with the works (a removed manifest leaves the search, a deleted work's
// objects stay until it is purged), and every search reads an index, never the whole table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Manifest } from '@outpost/shared';
import { storeBackends } from './backends.testing.ts';
import type { Store } from './index.ts';
import { type InventoryPosition, type InventoryQuery, inventoryWindow } from './inventory.ts';

const deployment = (ns: string, name: string): Manifest => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
});
const configMap = (ns: string, name: string): Manifest => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
});
const namespace = (name: string): Manifest => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

async function fleet(store: Store) {
  const at = new Date().toISOString();
  for (const cluster of ['c1', 'c2', 'c3']) {
    await store.clusters.insert({
      name: cluster,
      uid: `uid-${cluster}`,
      labels: {},
      hubAcceptsClient: true,
      claims: {},
      agentVersion: null,
      createdAt: at,
    });
  }
  const work = (cluster: string, name: string, manifests: Manifest[]) =>
    store.works.write({ cluster, name, labels: {}, annotations: {}, spec: {}, manifests }, at);
  await work('c1', 'web', [namespace('shop'), deployment('shop', 'web'), configMap('shop', 'web-config')]);
  await work('c2', 'web', [namespace('shop'), deployment('shop', 'web'), configMap('shop', 'web-config')]);
  await work('c2', 'api', [deployment('api', 'api'), deployment('shop', 'web-admin')]);
  await work('c3', 'tools', [deployment('tools', 'web'), configMap('shop', 'other')]);
  return { work, at };
}

/** Every row of a search, a page of `limit` at a time, as cluster/work/Kind/namespace/name. */
async function all(store: Store, s: InventoryQuery, limit = 2): Promise<string[]> {
  const out: string[] = [];
  let from: InventoryPosition | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.inventory.page(s, from, limit);
    assert.ok(page.items.length <= limit);
    out.push(...page.items.map((r) => `${r.cluster}/${r.work}/${r.kind}/${r.namespace}/${r.name}`));
    if (!page.next) return out;
    from = page.next;
  }
  throw new Error('the pages never end');
}

const sorted = (xs: string[]) => [...xs].sort();

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('searches by kind, group, namespace, name, prefix and cluster, and their combinations', async () => {
      const store = await backend.open();
      await fleet(store);
      const deployments = [
        'c1/web/Deployment/shop/web',
        'c2/api/Deployment/api/api',
        'c2/api/Deployment/shop/web-admin',
        'c2/web/Deployment/shop/web',
        'c3/tools/Deployment/tools/web',
      ];
      assert.deepEqual(sorted(await all(store, { kind: 'Deployment' })), deployments);
      assert.deepEqual(sorted(await all(store, { kind: 'Deployment', group: 'apps' })), deployments);
      assert.deepEqual(await all(store, { kind: 'Deployment', group: '' }), []);
      assert.deepEqual(sorted(await all(store, { kind: 'Namespace', group: '' })), [
        'c1/web/Namespace//shop',
        'c2/web/Namespace//shop',
      ]);
      assert.deepEqual(sorted(await all(store, { namespace: 'shop' })), [
        'c1/web/ConfigMap/shop/web-config',
        'c1/web/Deployment/shop/web',
        'c2/api/Deployment/shop/web-admin',
        'c2/web/ConfigMap/shop/web-config',
        'c2/web/Deployment/shop/web',
        'c3/tools/ConfigMap/shop/other',
      ]);
      assert.deepEqual(sorted(await all(store, { namespace: 'shop', kind: 'ConfigMap' })), [
        'c1/web/ConfigMap/shop/web-config',
        'c2/web/ConfigMap/shop/web-config',
        'c3/tools/ConfigMap/shop/other',
      ]);
      assert.deepEqual(sorted(await all(store, { name: 'web' })), [
        'c1/web/Deployment/shop/web',
        'c2/web/Deployment/shop/web',
        'c3/tools/Deployment/tools/web',
      ]);
      assert.deepEqual(sorted(await all(store, { name: 'web', namespace: 'shop', kind: 'Deployment' })), [
        'c1/web/Deployment/shop/web',
        'c2/web/Deployment/shop/web',
      ]);
      assert.deepEqual(sorted(await all(store, { name: 'web-', namePrefix: true })), [
        'c1/web/ConfigMap/shop/web-config',
        'c2/api/Deployment/shop/web-admin',
        'c2/web/ConfigMap/shop/web-config',
      ]);
      assert.deepEqual(sorted(await all(store, { cluster: 'c2', kind: 'Deployment' })), [
        'c2/api/Deployment/api/api',
        'c2/api/Deployment/shop/web-admin',
        'c2/web/Deployment/shop/web',
      ]);
      assert.deepEqual(sorted(await all(store, { cluster: 'c3' })), [
        'c3/tools/ConfigMap/shop/other',
        'c3/tools/Deployment/tools/web',
      ]);
      assert.deepEqual(await all(store, { cluster: 'c3', namespace: 'api' }), []);
      assert.deepEqual(await all(store, { cluster: 'nope' }), []);
      // No criterion: every object, a page at a time.
      assert.equal((await all(store, {}, 3)).length, 10);
      await store.close();
    });

    test('pages continue in the index order with nothing skipped or repeated, whatever the page size', async () => {
      const store = await backend.open();
      await fleet(store);
      const searches: InventoryQuery[] = [
        {},
        { kind: 'Deployment' },
        { namespace: 'shop' },
        { name: 'w', namePrefix: true },
        // A prefix with a cluster reads the cluster's index, where name does not lead the order.
        { cluster: 'c2', name: 'web-', namePrefix: true },
        { kind: 'Deployment', name: 'web', namePrefix: true },
      ];
      for (const s of searches) {
        const whole = await all(store, s, 1000);
        for (const limit of [1, 2, 3, 5]) assert.deepEqual(await all(store, s, limit), whole, JSON.stringify(s));
        assert.equal(new Set(whole).size, whole.length);
        if (s.namePrefix)
          for (const r of whole)
            assert.ok(r.split('/')[4]?.startsWith(s.name as string), `${r} for ${JSON.stringify(s)}`);
      }
      assert.deepEqual(sorted(await all(store, { cluster: 'c2', name: 'web-', namePrefix: true }, 1)), [
        'c2/api/Deployment/shop/web-admin',
        'c2/web/ConfigMap/shop/web-config',
      ]);
      // A position from another search (a continue copied into another link) still keeps
      // the names inside the prefix.
      const first = await store.inventory.page({ kind: 'Deployment' }, undefined, 1);
      assert.ok(first.next);
      const mixed = await store.inventory.page({ name: 'web', namePrefix: true }, first.next, 100);
      for (const r of mixed.items) assert.ok(r.name.startsWith('web'), r.name);
      // The kind index orders by group, namespace, name, then cluster and work.
      assert.deepEqual(await all(store, { kind: 'Deployment' }), [
        'c2/api/Deployment/api/api',
        'c1/web/Deployment/shop/web',
        'c2/web/Deployment/shop/web',
        'c2/api/Deployment/shop/web-admin',
        'c3/tools/Deployment/tools/web',
      ]);
      await store.close();
    });

    test(`a search with a filter walks at most ${inventoryWindow} index entries a page: short pages, nothing lost`, async () => {
      const store = await backend.open();
      const { work } = await fleet(store);
      // Many names with the prefix, and one Secret among them past the first window.
      const many = Array.from({ length: inventoryWindow + 500 }, (_, i) =>
        configMap('bulk', `a-${String(i).padStart(5, '0')}`),
      );
      many.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'a-99999', namespace: 'bulk' } });
      await work('c1', 'bulk', many);
      const first = await store.inventory.page({ kind: 'Secret', name: 'a-', namePrefix: true }, undefined, 10);
      assert.deepEqual(first.items, [], 'no match in the first window');
      assert.ok(first.next, 'and the walk goes on after it');
      assert.deepEqual(await all(store, { kind: 'Secret', name: 'a-', namePrefix: true }, 10), [
        'c1/bulk/Secret/bulk/a-99999',
      ]);
      assert.equal((await all(store, { kind: 'Nothing', name: 'a-', namePrefix: true }, 10)).length, 0);
      await store.close();
    });

    test('follows the works: a removed manifest leaves, a deleted work stays until purged', async () => {
      const store = await backend.open();
      const { work, at } = await fleet(store);
      await work('c1', 'web', [namespace('shop'), deployment('shop', 'web-v2')]);
      assert.deepEqual(sorted(await all(store, { cluster: 'c1' })), [
        'c1/web/Deployment/shop/web-v2',
        'c1/web/Namespace//shop',
      ]);
      // Back again: the tombstone row becomes live again.
      await work('c1', 'web', [namespace('shop'), deployment('shop', 'web')]);
      assert.deepEqual(sorted(await all(store, { cluster: 'c1', kind: 'Deployment' })), ['c1/web/Deployment/shop/web']);
      const w = await store.works.get('c2', 'api');
      assert.ok(w);
      await store.works.markDeleted(w.uid, 'c2', at);
      assert.equal((await all(store, { cluster: 'c2', namespace: 'api' })).length, 1);
      await store.works.purge(w.uid);
      assert.deepEqual(await all(store, { cluster: 'c2', namespace: 'api' }), []);
      await store.works.purgeCluster('c3');
      assert.deepEqual(await all(store, { cluster: 'c3' }), []);
      await store.close();
    });

    test('every search seeks an index: no full scan, no sort of what matched', async () => {
      const store = await backend.open();
      const from: InventoryPosition = { cluster: 'c', work: 'w', api_group: 'g', kind: 'K', namespace: 'n', name: 'x' };
      const searches: InventoryQuery[] = [
        { kind: 'Deployment' },
        { kind: 'Deployment', group: 'apps' },
        { kind: 'Deployment', group: 'apps', namespace: 'shop' },
        { namespace: 'shop' },
        { namespace: 'shop', kind: 'Deployment' },
        { name: 'web' },
        { name: 'web', namePrefix: true },
        { name: 'web', kind: 'Deployment' },
        { cluster: 'c1' },
        { cluster: 'c1', kind: 'Deployment', namespace: 'shop' },
      ];
      for (const s of searches) {
        for (const after of [undefined, from]) {
          const plan = await store.inventory.plan(s, after, 100, true);
          assert.doesNotMatch(
            plan,
            /SCAN work_manifests(?! USING)|Seq Scan|TEMP B-TREE|Sort/i,
            `${JSON.stringify(s)}:\n${plan}`,
          );
          // Sought (SQLite: SEARCH, PostgreSQL: an Index Cond), not walked whole.
          assert.match(
            plan,
            /SEARCH work_manifests USING INDEX work_manifests_|Index Scan using work_manifests_\w+ on work_manifests[^\n]*\n\s*Index Cond/,
            `${JSON.stringify(s)}:\n${plan}`,
          );
          if (process.env.OUTPOST_SHOW_PLANS) console.log(JSON.stringify(s), after ? 'next page' : '', `\n${plan}`);
        }
      }
      await store.close();
    });
  });
}

describe('prefixEnd', () => {
  test('the least string past every string that starts with the prefix', async () => {
    const { prefixEnd } = await import('./inventory.ts');
    assert.equal(prefixEnd('web-'), 'web.');
    assert.equal(prefixEnd('a\u{1F600}'), 'a\u{1F601}', 'a code point outside the BMP, not its low surrogate');
    assert.equal(prefixEnd('a\u{10FFFF}'), 'b', 'the largest code point has no successor: the one before moves');
    assert.equal(prefixEnd('\u{10FFFF}'), undefined);
    assert.equal(prefixEnd('x\uD7FF'), 'x\uE000', 'past the surrogates');
  });
});
