// works.counts, the clusters list's status.works: each named cluster's works counted in one
// grouped statement, on both backends, by the rules of fleet/compliance.ts addWork (the
// test counts the same works with addWork and compares), whatever the conditions hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addWork, countsOf, noWorks } from '../fleet/compliance.ts';
import { storeBackends } from './backends.testing.ts';
import type { StatusSummary } from './index.ts';

type Conditions = StatusSummary['conditions'];
const c = (type: string, status: string) => ({ type, status, reason: 'Test', message: '' }) as Conditions[number];

/** Works of cluster "a" by what their status says (undefined: no status yet). */
const works: { name: string; conditions: Conditions | undefined }[] = [
  { name: 'fine', conditions: [c('Applied', 'True'), c('Available', 'True')] },
  { name: 'fine-too', conditions: [c('Available', 'True'), c('Applied', 'True'), c('Progressing', 'False')] },
  { name: 'never-reported', conditions: undefined },
  { name: 'empty-status', conditions: [] },
  { name: 'not-applied', conditions: [c('Applied', 'False'), c('Available', 'True')] },
  { name: 'applied-unknown', conditions: [c('Applied', 'Unknown')] },
  { name: 'not-available', conditions: [c('Applied', 'True'), c('Available', 'False')] },
  { name: 'degraded', conditions: [c('Applied', 'True'), c('Available', 'True'), c('Degraded', 'True')] },
  { name: 'degraded-false', conditions: [c('Applied', 'True'), c('Available', 'True'), c('Degraded', 'False')] },
  { name: 'held', conditions: [c('Applied', 'True'), c('DeletionsHeld', 'True')] },
  { name: 'all-wrong', conditions: [c('Applied', 'False'), c('Degraded', 'True'), c('DeletionsHeld', 'True')] },
  // Case matters, as in addWork.
  { name: 'lower-case', conditions: [c('applied', 'true'), c('Available', 'true')] },
];

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('counts each named cluster’s works by addWork’s rules, in one answer', async () => {
      const store = await backend.open();
      const at = new Date().toISOString();
      for (const name of ['a', 'b', 'empty']) {
        await store.clusters.insert({
          name,
          uid: `uid-${name}`,
          labels: {},
          hubAcceptsClient: true,
          claims: {},
          agentVersion: null,
          createdAt: at,
        });
      }
      let seq = 0;
      const want = noWorks();
      for (const w of works) {
        const out = await store.works.write(
          { cluster: 'a', name: w.name, labels: {}, annotations: {}, spec: {}, manifests: [] },
          at,
        );
        if (w.conditions) {
          const status = { conditions: w.conditions };
          await store.works.setStatus(out.work.uid, { text: JSON.stringify(status), summary: status }, ++seq);
        }
        addWork(want, w.name, w.conditions ?? []);
      }
      // Another cluster's works do not count for "a", nor "a"'s for it.
      const other = await store.works.write(
        { cluster: 'b', name: 'x', labels: {}, annotations: {}, spec: {}, manifests: [] },
        at,
      );
      const degraded = { conditions: [c('Applied', 'True'), c('Degraded', 'True')] };
      await store.works.setStatus(other.work.uid, { text: JSON.stringify(degraded), summary: degraded }, ++seq);

      const got = await store.works.counts(['a', 'b', 'empty', 'unknown']);
      assert.deepEqual(got.get('a'), countsOf(want));
      assert.deepEqual(got.get('a'), {
        total: 12,
        applied: 6,
        available: 4,
        degraded: 2,
        deletionsHeld: 2,
      });
      assert.deepEqual(got.get('b'), { total: 1, applied: 1, available: 0, degraded: 1, deletionsHeld: 0 });
      const none = { total: 0, applied: 0, available: 0, degraded: 0, deletionsHeld: 0 };
      assert.deepEqual(got.get('empty'), none);
      assert.deepEqual(got.get('unknown'), none);
      assert.deepEqual([...(await store.works.counts([])).keys()], []);
      await store.close();
    });

    test('a status whose conditions are no list of objects counts as no conditions', async () => {
      const store = await backend.open();
      const at = new Date().toISOString();
      await store.clusters.insert({
        name: 'a',
        uid: 'uid-a',
        labels: {},
        hubAcceptsClient: true,
        claims: {},
        agentVersion: null,
        createdAt: at,
      });
      const odd: unknown[] = [
        { conditions: { x: { type: 'Applied', status: 'True' } } },
        { conditions: ['Applied', 7, null, { type: 'Applied', status: true }] },
        { conditions: 'Applied' },
      ];
      let seq = 0;
      const want = noWorks();
      for (const [i, status] of odd.entries()) {
        const out = await store.works.write(
          { cluster: 'a', name: `w${i}`, labels: {}, annotations: {}, spec: {}, manifests: [] },
          at,
        );
        await store.works.setStatus(
          out.work.uid,
          { text: JSON.stringify(status), summary: status as StatusSummary },
          ++seq,
        );
        addWork(want, `w${i}`, []);
      }
      assert.deepEqual((await store.works.counts(['a'])).get('a'), countsOf(want));
      await store.close();
    });
  });
}
