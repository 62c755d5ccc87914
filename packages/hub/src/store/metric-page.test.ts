// works.metricPage, the paged read of every work's conditions (metrics, the overview): pages
// continue across clusters in (cluster, name) order, on both backends, with nothing skipped
// or repeated.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storeBackends } from './backends.testing.ts';

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('metricPage pages through every work in (cluster, name) order', async () => {
      const store = await backend.open();
      const at = new Date().toISOString();
      const want: string[] = [];
      for (const cluster of ['a', 'a-b', 'b']) {
        await store.clusters.insert({
          name: cluster,
          uid: `uid-${cluster}`,
          labels: {},
          hubAcceptsClient: true,
          claims: {},
          agentVersion: null,
          createdAt: at,
        });
        for (const name of ['w1', 'w2', 'w3']) {
          await store.works.write({ cluster, name, labels: {}, annotations: {}, spec: {}, manifests: [] }, at);
          want.push(`${cluster}/${name}`);
        }
      }
      const got: string[] = [];
      let after = { cluster: '', name: '' };
      for (;;) {
        const rows = await store.works.metricPage(after, 2);
        got.push(...rows.map((r) => `${r.cluster}/${r.name}`));
        const last = rows.at(-1);
        if (!last || rows.length < 2) break;
        after = { cluster: last.cluster, name: last.name };
      }
      assert.deepEqual(got, want);
      await store.close();
    });
  });
}
