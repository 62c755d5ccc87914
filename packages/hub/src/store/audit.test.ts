import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storeBackends } from './backends.testing.ts';
import { type AuditFilter, auditScanRows, type Store } from './index.ts';

/** Every page of the log for `filter`, `limit` at a time: the ids in order, and how many pages. */
async function walk(store: Store, filter: AuditFilter, limit: number) {
  const ids: number[] = [];
  let before = Number.MAX_SAFE_INTEGER;
  let pages = 0;
  for (;;) {
    const page = await store.audit.page(before, limit, filter);
    pages++;
    assert.ok(page.items.length <= limit);
    ids.push(...page.items.map((e) => e.id));
    if (!page.continue) return { ids, pages };
    before = Number(page.continue);
  }
}

for (const backend of storeBackends()) {
  describe(`audit log (${backend.name})`, () => {
    test('filters by actor, by prefixes of action, resource and result, and since a time; pages lose nothing', async () => {
      const store = await backend.open();
      try {
        const events = [
          ['alice', 'POST /api/v1/clusters/:name/approve', '/api/v1/clusters/a1/approve', '200'],
          ['bob', 'DELETE /api/v1/clusters/:name', '/api/v1/clusters/a1', '403 AUTH_FORBIDDEN'],
          ['alice', 'PUT /api/v1/clusters/:cluster/works/:name', '/api/v1/clusters/a2/works/web', '201'],
          ['token:ci', 'DELETE /api/v1/clusters/:cluster/works/:name', '/api/v1/clusters/a2/works/web', '200'],
          ['bob', 'POST /api/v1/sessions', '/api/v1/sessions', '401 AUTH_REQUIRED'],
          ['alice', 'PATCH /api/v1/clusters/:name', '/api/v1/clusters/a1', '200'],
        ] as const;
        for (const [i, [actor, action, resource, result]] of events.entries()) {
          await store.audit.append({
            at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
            actor,
            action,
            resource,
            result,
            details: undefined,
          });
        }
        const all = await walk(store, {}, 100);
        assert.equal(all.ids.length, 6);
        assert.deepEqual(
          all.ids,
          [...all.ids].sort((a, b) => b - a),
          'newest first',
        );
        const of = async (filter: AuditFilter) => {
          const out = await store.audit.page(Number.MAX_SAFE_INTEGER, 100, filter);
          return out.items.map((e) => `${e.actor} ${e.resource} ${e.result}`);
        };
        assert.deepEqual(await of({ actor: 'alice' }), [
          'alice /api/v1/clusters/a1 200',
          'alice /api/v1/clusters/a2/works/web 201',
          'alice /api/v1/clusters/a1/approve 200',
        ]);
        assert.deepEqual(await of({ action: 'DELETE' }), [
          'token:ci /api/v1/clusters/a2/works/web 200',
          'bob /api/v1/clusters/a1 403 AUTH_FORBIDDEN',
        ]);
        assert.deepEqual(await of({ resource: '/api/v1/clusters/a1' }), [
          'alice /api/v1/clusters/a1 200',
          'bob /api/v1/clusters/a1 403 AUTH_FORBIDDEN',
          'alice /api/v1/clusters/a1/approve 200',
        ]);
        assert.deepEqual(await of({ result: '4' }), [
          'bob /api/v1/sessions 401 AUTH_REQUIRED',
          'bob /api/v1/clusters/a1 403 AUTH_FORBIDDEN',
        ]);
        assert.deepEqual(
          await of({ actor: 'alice', resource: '/api/v1/clusters/a2', since: '2026-01-01T00:02:00.000Z' }),
          ['alice /api/v1/clusters/a2/works/web 201'],
        );
        // A prefix is text, not a pattern: % and _ match themselves only.
        assert.deepEqual(await of({ resource: '/api/v1/clusters/%' }), []);
        assert.deepEqual(await of({ action: 'P_T' }), []);
        // Pages of two: every matching event once, in order.
        const paged = await walk(store, { actor: 'alice' }, 2);
        assert.equal(paged.ids.length, 3);
        assert.equal(paged.pages, 2);
      } finally {
        await store.close();
      }
    });

    test(`a page reads at most ${auditScanRows} events: a rare match is found through short pages, never lost`, async () => {
      const store = await backend.open();
      try {
        const total = auditScanRows * 2 + 500;
        const rare = new Set([10, auditScanRows + 7, total - 3]);
        await store.transaction(async () => {
          for (let i = 0; i < total; i++) {
            await store.audit.append({
              at: '2026-01-01T00:00:00.000Z',
              actor: rare.has(i) ? 'rare' : 'busy',
              action: 'GET /x',
              resource: `/x/${i}`,
              result: '200',
              details: undefined,
            });
          }
        });
        const first = await store.audit.page(Number.MAX_SAFE_INTEGER, 50, { actor: 'rare' });
        assert.equal(first.items.length, 1, 'the first window holds one match');
        assert.ok(first.continue, 'and more may follow below it');
        const found = await walk(store, { actor: 'rare' }, 50);
        assert.deepEqual(
          found.ids,
          [...new Set(found.ids)].sort((a, b) => b - a),
          'each once, newest first',
        );
        assert.equal(found.ids.length, 3);
        assert.equal(found.pages, 3, 'three windows of the log, then its end');
        // With since, the walk ends at the window that reaches older events.
        const recent = await walk(store, { actor: 'rare', since: '2026-01-02T00:00:00.000Z' }, 50);
        assert.deepEqual(recent, { ids: [], pages: 1 }, 'every event is older than since: one window, no continue');
        // Unfiltered, pages are full until the end.
        const page = await store.audit.page(Number.MAX_SAFE_INTEGER, 1000, {});
        assert.equal(page.items.length, 1000);
      } finally {
        await store.close();
      }
    });
  });
}
