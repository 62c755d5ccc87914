import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterRow } from '../store/index.ts';
import { clusterResource, clusterState, type Liveness, leaseEnd, livenessSinceStart } from './clusters.ts';

const now = Date.parse('2026-06-01T12:00:00Z');
const row = (over: Partial<ClusterRow>): ClusterRow => ({
  name: 'c',
  uid: 'u',
  resourceVersion: 1,
  labels: {},
  hubAcceptsClient: false,
  denied: false,
  taints: [],
  claims: {},
  agentVersion: null,
  createdAt: '2026-06-01T10:00:00Z',
  joinedAt: null,
  lastSeen: null,
  adoptEpoch: false,
  removalRequestedAt: null,
  releaseHeldDeletions: false,
  ...over,
});
const state = (over: Partial<ClusterRow>) => clusterState(clusterResource(row(over), undefined, now));
const joined = { hubAcceptsClient: true, joinedAt: '2026-06-01T11:00:00Z' };

test('clusterState: one word for each stage of a cluster, removal and denial first', () => {
  assert.equal(state({}), 'Pending');
  assert.equal(state({ denied: true }), 'Denied');
  assert.equal(state({ hubAcceptsClient: true }), 'Approved');
  assert.equal(state(joined), 'NeverReported');
  assert.equal(state({ ...joined, lastSeen: new Date(now - 5_000).toISOString() }), 'Available');
  assert.equal(state({ ...joined, lastSeen: '2026-06-01T11:00:00Z' }), 'Unreachable');
  const fresh = { ...joined, lastSeen: new Date(now - 5_000).toISOString() };
  assert.equal(state({ ...fresh, workDelivery: false }), 'HeartbeatOnly');
  assert.equal(state({ ...fresh, workDelivery: true }), 'Available');
  const delivery = (over: Partial<ClusterRow>) =>
    clusterResource(row({ ...fresh, ...over }), undefined, now).status.conditions.find(
      (c) => c.type === 'WorkDelivery',
    );
  assert.deepEqual(
    [delivery({ workDelivery: false })?.status, delivery({ workDelivery: false })?.reason],
    ['False', 'HeartbeatOnly'],
  );
  assert.equal(delivery({ workDelivery: true })?.status, 'True');
  assert.equal(delivery({ workDelivery: null }), undefined, 'an agent that does not say shows no condition');
  assert.equal(
    state({ ...joined, lastSeen: new Date(now).toISOString(), removalRequestedAt: new Date(now).toISOString() }),
    'Removing',
  );
  const silent = clusterResource(row(joined), undefined, now).status.conditions.find((c) => c.type === 'Available');
  assert.deepEqual([silent?.status, silent?.reason], ['Unknown', 'NeverReported']);
  const lapsed = clusterResource(row({ ...joined, lastSeen: '2026-06-01T11:00:00Z' }), undefined, now);
  assert.equal(lapsed.status.conditions.find((c) => c.type === 'Available')?.reason, 'LeaseExpired');
});

test('leaseEnd: a dropped poll connection ends the lease after the grace, unless the agent polled since', () => {
  const seen = new Date(now - 5_000).toISOString();
  const c = row({ ...joined, lastSeen: seen });
  const liveness = (droppedAt: string | null): Liveness => ({
    leaseMs: 100_000,
    lastSeen: (r) => r.lastSeen,
    droppedAt: () => droppedAt,
    dropGraceMs: 15_000,
  });
  assert.deepEqual(leaseEnd(liveness(null), c), { at: now - 5_000 + 100_000, dropped: false });
  const dropped = new Date(now - 4_000).toISOString();
  assert.deepEqual(leaseEnd(liveness(dropped), c), { at: now - 4_000 + 15_000, dropped: true });
  // A drop before the last poll is an old one: the agent came back.
  assert.deepEqual(leaseEnd(liveness(new Date(now - 6_000).toISOString()), c), {
    at: now - 5_000 + 100_000,
    dropped: false,
  });
  // A grace longer than what is left of the lease changes nothing.
  assert.equal(leaseEnd({ ...liveness(dropped), dropGraceMs: 200_000 }, c)?.dropped, false);
  assert.equal(leaseEnd(liveness(dropped), row(joined)), undefined, 'never heard from');
  // The start-up grace keeps the drop.
  assert.equal(leaseEnd(livenessSinceStart(liveness(dropped), now - 60_000), c)?.dropped, true);

  const gone = clusterResource(c, undefined, now + 12_000, liveness(dropped));
  const avail = gone.status.conditions.find((x) => x.type === 'Available');
  assert.equal(avail?.status, 'Unknown');
  assert.equal(avail?.reason, 'ConnectionLost');
  assert.equal(avail?.lastTransitionTime, new Date(now + 11_000).toISOString());
  assert.ok(gone.spec.taints.some((t) => t.key === 'outpost.dev/unreachable'));
  const kept = clusterResource(c, undefined, now + 10_000, liveness(dropped));
  assert.equal(kept.status.conditions.find((x) => x.type === 'Available')?.status, 'True');
});
