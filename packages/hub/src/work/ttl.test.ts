import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from '../store/index.ts';
import { completedAt, deletionDue, WorkTtlController } from './ttl.ts';

const complete = (status: 'True' | 'False') => ({
  conditions: [{ type: 'Complete', status, reason: 'ConditionRulesAggregated', message: '' }],
});
const quiet = { info() {}, error() {} };

test('completedAt: the first report that showed Complete, kept while it stays Complete', () => {
  assert.equal(completedAt(null, complete('False'), 't1'), undefined);
  assert.equal(completedAt(complete('False'), complete('True'), 't2'), 't2');
  assert.equal(completedAt({ ...complete('True'), completedAt: 't2' }, complete('True'), 't3'), 't2');
  assert.equal(completedAt({ ...complete('True'), completedAt: 't2' }, complete('False'), 't4'), undefined);
});

test('deletionDue: only with a TTL, Complete, not deleting, not a workset’s', () => {
  const base = {
    spec: { deleteOption: { ttlSecondsAfterFinished: 30 } },
    statusSummary: { ...complete('True'), completedAt: '2026-01-01T00:00:00.000Z' },
    labels: {},
    deletionAt: null,
  };
  assert.equal(deletionDue(base), Date.parse('2026-01-01T00:00:30.000Z'));
  assert.equal(deletionDue({ ...base, spec: {} }), undefined);
  assert.equal(deletionDue({ ...base, statusSummary: complete('False') }), undefined);
  assert.equal(deletionDue({ ...base, deletionAt: '2026-01-01T00:00:01.000Z' }), undefined);
  assert.equal(deletionDue({ ...base, labels: { 'outpost.dev/workset': 'ws' } }), undefined);
});

test('a finished work is marked deleted when its TTL is up, and its agent woken', async () => {
  const store = openStore(':memory:');
  const at = '2026-01-01T00:00:00.000Z';
  const write = async (name: string, ttl: number) =>
    (
      await store.works.write(
        {
          cluster: 'c1',
          name,
          labels: {},
          annotations: {},
          spec: { deleteOption: { propagationPolicy: 'Foreground', ttlSecondsAfterFinished: ttl } },
          manifests: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'd' } }],
        },
        at,
      )
    ).work;
  const now = Date.parse('2026-01-01T00:01:00.000Z');
  const notified: string[] = [];
  const ttl = new WorkTtlController({ store, log: quiet, notify: (c) => notified.push(c), now: () => now });
  const due = await write('due', 30);
  const later = await write('later', 3600);
  for (const w of [due, later]) {
    const status = { ...complete('True'), completedAt: '2026-01-01T00:00:10.000Z' };
    await store.works.setStatus(w.uid, { text: JSON.stringify(status), summary: status }, 1);
  }
  await ttl.workStatusChanged('c1', [{ name: 'due' }, { name: 'later' }]);
  assert.ok((await store.works.get('c1', 'due'))?.deletionAt, 'due: deleted');
  assert.equal((await store.works.get('c1', 'later'))?.deletionAt, null, 'later: waits');
  assert.deepEqual(notified, ['c1']);
  ttl.stop();
  // After a restart, start() finds what is due.
  const restarted = new WorkTtlController({ store, log: quiet, notify: () => {}, now: () => now + 3_600_000 });
  await restarted.start();
  assert.ok((await store.works.get('c1', 'later'))?.deletionAt);
  restarted.stop();
});
