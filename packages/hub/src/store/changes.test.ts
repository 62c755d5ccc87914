import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { postgresDatabase, storeBackends } from './backends.testing.ts';
import { openPostgresStore } from './index.ts';

const at = '2025-01-01T00:00:00.000Z';
const placement = (name: string, namespace = 'default', labels: Record<string, string> = {}) => ({
  name,
  namespace,
  labels,
  annotations: {},
  spec: { numberOfClusters: 1 },
});

for (const backend of storeBackends()) {
  describe(backend.name, () => {
    test('every create, resourceVersion bump and delete is logged once, in order', async () => {
      const store = await backend.open();
      const start = await store.changes.latest();
      await store.placements.create(placement('a', 'team-a', { app: 'x' }), at);
      await store.placements.create(placement('b'), at);
      // Unchanged content: no bump, nothing logged.
      await store.placements.replace(placement('b'), at);
      await store.placements.replace(placement('b', 'default', { app: 'y' }), at);
      await store.placements.setStatus('default', 'b', { numberOfSelectedClusters: 0 });
      await store.placements.delete('team-a', 'a');
      const rows = await store.changes.since(start, 'placements', undefined, 100);
      assert.deepEqual(
        rows.map((r) => [r.type, r.scope, r.name, r.labels, r.labelsBefore]),
        [
          ['ADDED', 'team-a', 'a', { app: 'x' }, undefined],
          ['ADDED', 'default', 'b', {}, undefined],
          ['MODIFIED', 'default', 'b', { app: 'y' }, {}],
          ['MODIFIED', 'default', 'b', { app: 'y' }, { app: 'y' }],
          ['DELETED', 'team-a', 'a', { app: 'x' }, { app: 'x' }],
        ],
      );
      assert.ok(rows.every((r, i) => i === 0 || r.seq > (rows[i - 1]?.seq ?? 0)));
      assert.equal(await store.changes.latest(), rows.at(-1)?.seq);
      // Narrowed to a namespace, and to other resources.
      assert.deepEqual(
        (await store.changes.since(start, 'placements', 'team-a', 100)).map((r) => r.type),
        ['ADDED', 'DELETED'],
      );
      assert.deepEqual(await store.changes.since(start, 'managedclustersets', undefined, 100), []);
      // A rolled-back transaction logs nothing.
      await assert.rejects(
        store.transaction(async () => {
          await store.placements.create(placement('c'), at);
          throw new Error('abandoned');
        }),
      );
      assert.equal(await store.changes.latest(), rows.at(-1)?.seq);
      await store.close();
    });

    test('trim moves the horizon forward only, by age and by count', async () => {
      const store = await backend.open();
      for (const n of ['a', 'b', 'c', 'd']) await store.placements.create(placement(n), at);
      const last = await store.changes.latest();
      // A new log starts at a random number, its first horizon: a resourceVersion of another
      // database is not a position in this one.
      const first = await store.changes.horizon();
      assert.ok(first > 0 && first < last, `starts at ${first}`);
      // Nothing old enough, and fewer rows than kept.
      assert.equal(await store.changes.trim(Date.now(), 60_000, 100), 0);
      // All but the last two by count.
      assert.ok((await store.changes.trim(Date.now(), 60_000, 2)) >= 2);
      assert.equal(await store.changes.horizon(), last - 2);
      assert.deepEqual(
        (await store.changes.since(0, 'placements', undefined, 100)).map((r) => r.name),
        ['c', 'd'],
      );
      // All by age but the last: numbers never come back, the horizon is just below it.
      await store.changes.trim(Date.now() + 120_000, 60_000, 100);
      assert.equal(await store.changes.horizon(), last - 1);
      assert.equal(await store.changes.latest(), last);
      assert.deepEqual(
        (await store.changes.since(0, 'placements', undefined, 100)).map((r) => r.name),
        ['d'],
      );
      await store.placements.create(placement('e'), at);
      assert.deepEqual(
        (await store.changes.since(last, 'placements', undefined, 100)).map((r) => [r.seq, r.name]),
        [[last + 1, 'e']],
        'the next change takes the next number',
      );
      await store.close();
    });

    if (backend.name === 'postgres') {
      test('a writer whose numbers are taken holds the next one until it is visible (the order lock)', async () => {
        const url = await postgresDatabase();
        const store = await openPostgresStore(url);
        for (const n of ['p1', 'p2']) await store.placements.create(placement(n), at);
        const start = await store.changes.latest();
        const a = new pg.Client({ connectionString: url });
        const b = new pg.Client({ connectionString: url });
        await a.connect();
        await b.connect();
        try {
          const bump = 'UPDATE placements SET resource_version = resource_version + 1 WHERE name = $1';
          await a.query('BEGIN');
          await a.query(bump, ['p1']);
          // Fires the deferred triggers now: p1's number is taken, the transaction still open.
          await a.query('SET CONSTRAINTS ALL IMMEDIATE');
          let committed = false;
          const other = (async () => {
            await b.query('BEGIN');
            await b.query(bump, ['p2']);
            await b.query('COMMIT');
            committed = true;
          })();
          await new Promise((r) => setTimeout(r, 500));
          assert.equal(committed, false, 'the second writer waits for the first to commit');
          assert.deepEqual(await store.changes.since(start, 'placements', undefined, 10), []);
          await a.query('COMMIT');
          await other;
          assert.deepEqual(
            (await store.changes.since(start, 'placements', undefined, 10)).map((r) => r.name),
            ['p1', 'p2'],
          );
        } finally {
          await a.end();
          await b.end();
          await store.close();
        }
      });

      test('a cluster shown changed while its labels change: the log never ends on the old labels', async () => {
        const url = await postgresDatabase();
        const store = await openPostgresStore(url);
        await store.clusters.insert({
          name: 'c1',
          uid: 'uid-c1',
          labels: { env: 'old' },
          hubAcceptsClient: true,
          claims: {},
          agentVersion: '',
          createdAt: at,
        });
        const start = await store.changes.latest();
        const a = new pg.Client({ connectionString: url });
        await a.connect();
        try {
          // A label change whose number is taken: it holds the order lock until it commits.
          await a.query('BEGIN');
          await a.query(
            `UPDATE clusters SET labels = '{"env":"new"}', resource_version = resource_version + 1 WHERE name = 'c1'`,
          );
          await a.query('SET CONSTRAINTS ALL IMMEDIATE');
          // The liveness change starts now (its snapshot too) and waits for the lock.
          const shown = store.transaction(() => store.changes.clustersShownChanged(['c1', 'gone']));
          await new Promise((r) => setTimeout(r, 300));
          await a.query('COMMIT');
          await shown;
          const rows = await store.changes.since(start, 'clusters', undefined, 10);
          assert.deepEqual(
            rows.map((r) => [r.type, r.name, r.labels.env, r.labelsBefore?.env]),
            [
              ['MODIFIED', 'c1', 'new', 'old'],
              ['MODIFIED', 'c1', 'new', 'new'],
            ],
            'the label change, then the liveness change with the labels it left (a cluster that does not exist logs nothing)',
          );
        } finally {
          await a.end();
          await store.close();
        }
      });

      test('writers committing side by side: numbers follow commit order', async () => {
        const store = await backend.open();
        const start = await store.changes.latest();
        // Many small transactions at once on the pool: whatever order they commit in, a
        // reader that saw number N never later finds a smaller one.
        const seen: number[] = [];
        let reading = true;
        const reader = (async () => {
          let after = start;
          while (reading) {
            for (const r of await store.changes.since(after, 'placements', undefined, 1000)) {
              seen.push(r.seq);
              after = r.seq;
            }
          }
        })();
        await Promise.all(Array.from({ length: 40 }, (_, i) => store.placements.create(placement(`p${i}`), at)));
        reading = false;
        await reader;
        const all = (await store.changes.since(start, 'placements', undefined, 1000)).map((r) => r.seq);
        assert.equal(all.length, 40);
        for (const s of await store.changes.since(seen.at(-1) ?? start, 'placements', undefined, 1000)) {
          seen.push(s.seq);
        }
        assert.deepEqual(seen, all, 'the tailing reader saw every change once, in order');
        await store.close();
      });
    }
  });
}
