import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import { validatePlacement } from '../placement/index.ts';
import type { Liveness } from '../registration/clusters.ts';
import { type ClusterRow, openStore, type Store } from '../store/index.ts';
import { PlacementService, schedulingFailedCondition } from './service.ts';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const leaseMs = 60_000;

interface Status {
  numberOfSelectedClusters: number;
  decisions: { clusterNames: string[] }[];
  conditions: { type: string; status: string; reason?: string; message?: string }[];
}

describe('PlacementService', () => {
  let store: Store;
  let now: number;
  let service: PlacementService;
  let events: string[];

  const liveness: Liveness = { leaseMs, lastSeen: (c) => c.lastSeen };
  const addCluster = async (name: string, labels: Record<string, string>, extra: Partial<ClusterRow> = {}) => {
    await store.clusters.insert({
      name,
      uid: `uid-${name}`,
      labels,
      hubAcceptsClient: true,
      claims: {},
      agentVersion: null,
      createdAt: iso(T0 - 3_600_000),
    });
    const row = (await store.clusters.get(name)) as ClusterRow;
    await store.clusters.update({ ...row, joinedAt: iso(T0 - 3_600_000), lastSeen: iso(now), ...extra });
  };
  const addPlacement = async (name: string, spec: Record<string, unknown>) => {
    const v = validatePlacement({ metadata: { name }, spec });
    assert.ok(v.ok, JSON.stringify(v));
    await store.placements.create(
      {
        name,
        namespace: 'default',
        labels: {},
        annotations: {},
        spec: v.value.spec as unknown as Record<string, unknown>,
      },
      iso(now),
    );
    return service.reconcile('default', name);
  };
  const status = async (name: string) => (await store.placements.get('default', name))?.status as unknown as Status;
  const selected = async (name: string) => (await status(name)).decisions.flatMap((g) => g.clusterNames);
  const waitFor = async (what: string, check: () => Promise<boolean>) => {
    const deadline = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const prod = { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { env: 'prod' } } } }] };

  beforeEach(() => {
    store = openStore(':memory:');
    now = T0;
    events = [];
    service = new PlacementService({
      store,
      log: pino({ level: 'silent' }),
      liveness: () => liveness,
      now: () => now,
      batchMs: 1,
    });
    service.onDecisionsChanged((_namespace, name) => events.push(name));
  });
  afterEach(async () => {
    await service.close();
    await store.close();
  });

  test('a new placement is scheduled at once and subscribers hear of it', async () => {
    await addCluster('c1', { env: 'prod' });
    await addCluster('c2', { env: 'dev' });
    await addCluster('c3', { env: 'prod' });
    const row = await addPlacement('p', prod);
    assert.deepEqual(await selected('p'), ['c1', 'c3']);
    assert.equal((await status('p')).numberOfSelectedClusters, 2);
    assert.equal((await status('p')).conditions.find((c) => c.type === 'PlacementSatisfied')?.status, 'True');
    assert.equal(row?.status !== null, true);
    assert.deepEqual(events, ['p']);
  });

  test('decisions follow cluster label changes, joins and removals without polling', async () => {
    await addCluster('c1', { env: 'prod' });
    await addCluster('c2', { env: 'dev' });
    await addPlacement('p', prod);
    assert.deepEqual(await selected('p'), ['c1']);
    events.length = 0;

    const c2 = (await store.clusters.get('c2')) as ClusterRow;
    await store.clusters.update({ ...c2, labels: { env: 'prod' } });
    await waitFor('c2 selected', async () => (await selected('p')).includes('c2'));
    assert.deepEqual(events, ['p']);

    await store.clusters.delete('c1');
    await waitFor('c1 dropped', async () => !(await selected('p')).includes('c1'));

    // Pending (not accepted) and departing clusters are never selected.
    await addCluster('c3', { env: 'prod' }, { hubAcceptsClient: false });
    await addCluster('c4', { env: 'prod' }, { removalRequestedAt: iso(now) });
    await addCluster('c5', { env: 'prod' });
    await waitFor('c5 selected', async () => (await selected('p')).includes('c5'));
    assert.deepEqual(await selected('p'), ['c2', 'c5']);
  });

  test('an unchanged cluster write reschedules nothing', async () => {
    await addCluster('c1', { env: 'prod' });
    await addPlacement('p', prod);
    const rv = (await store.placements.get('default', 'p'))?.resourceVersion;
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, adoptEpoch: true });
    await new Promise((r) => setTimeout(r, 30));
    // A pass surely ran (the batch window grows with the cost of a pass, so waiting alone
    // may not have seen one) and changed nothing.
    await service.runDue();
    assert.equal((await store.placements.get('default', 'p'))?.resourceVersion, rv);
  });

  test('a lapsed lease taints the cluster unreachable; hearing from it brings it back', async () => {
    await addCluster('c1', { env: 'prod' });
    await addCluster('c2', { env: 'prod' }, { lastSeen: iso(T0 + 20_000) });
    await addPlacement('p', prod);
    assert.deepEqual(await selected('p'), ['c1', 'c2']);
    // One timer, to the earliest lease end (c1: seen at T0).
    assert.equal(service.nextWakeAt, T0 + leaseMs + 1);

    now = T0 + leaseMs + 1;
    await service.runDue();
    assert.deepEqual(await selected('p'), ['c2']);
    assert.equal(service.nextWakeAt, T0 + 20_000 + leaseMs + 1);

    // c1 reports again: a `seen` write announces it, and it is selected again.
    await store.clusters.seen('c1', iso(now));
    await waitFor('c1 back', async () => (await selected('p')).includes('c1'));

    // A placement that tolerates the unreachable taint keeps the cluster.
    await addPlacement('tolerant', { ...prod, tolerations: [{ key: 'outpost.dev/unreachable', operator: 'Exists' }] });
    now = T0 + 20_000 + leaseMs + 1;
    await service.runDue();
    assert.deepEqual(await selected('p'), ['c1']);
    assert.deepEqual(await selected('tolerant'), ['c1', 'c2']);
  });

  test('a hub that was down gives clusters that joined earlier a fresh lease from its start', async () => {
    // Last heard of long before this hub process started.
    await addCluster('c1', { env: 'prod' }, { lastSeen: iso(T0 - 10 * leaseMs) });
    await addPlacement('p', prod);
    assert.deepEqual(await selected('p'), ['c1']);
    now = T0 + leaseMs + 1;
    await service.runDue();
    assert.deepEqual(await selected('p'), [], 'silent for a whole lease after the start: unreachable');
  });

  test('bounded tolerations schedule a re-evaluation when they run out', async () => {
    await addCluster('c1', { env: 'prod' }, { lastSeen: iso(T0 - leaseMs - 1_000), joinedAt: iso(T0 + 1) });
    // c1 joined "after" the start (no start grace) and is unreachable since T0 - 1 s.
    await addPlacement('p', {
      ...prod,
      tolerations: [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds: 30 }],
    });
    assert.deepEqual(await selected('p'), ['c1']);
    const expires = T0 - 1_000 + 30_000;
    assert.equal(service.nextWakeAt, expires);
    now = expires;
    await service.runDue();
    assert.deepEqual(await selected('p'), []);
  });

  test('Steady keeps a selected cluster; Balance spreads placements over clusters', async () => {
    await addCluster('b', {});
    await addPlacement('one', { numberOfClusters: 1 });
    assert.deepEqual(await selected('one'), ['b']);
    await addCluster('a', {});
    await service.reconcile('default', 'one');
    assert.deepEqual(await selected('one'), ['b'], 'Steady: a new cluster that sorts first does not displace b');
    await addPlacement('two', { numberOfClusters: 1 });
    assert.deepEqual(await selected('two'), ['a'], 'Balance: the cluster no other placement chose');
  });

  test('a scheduling error keeps the decisions and says why; the next good pass clears it', async () => {
    await addCluster('c1', { env: 'prod' });
    await addPlacement('p', prod);
    assert.deepEqual(await selected('p'), ['c1']);
    // A spec the validator would refuse, written behind its back: compiling it throws.
    const bad = {
      predicates: [
        { requiredClusterSelector: { labelSelector: { matchExpressions: [{ key: 'env', operator: 'Bogus' }] } } },
      ],
    };
    const row = await store.placements.get('default', 'p');
    assert.ok(row);
    await store.placements.replace({ ...row, spec: { ...row.spec, ...bad } }, iso(now));
    events.length = 0;
    await service.reconcile('default', 'p');
    assert.deepEqual(await selected('p'), ['c1'], 'decisions kept');
    const failed = (await status('p')).conditions.find((c) => c.type === schedulingFailedCondition);
    assert.equal(failed?.status, 'True');
    assert.deepEqual(events, []);
    assert.ok(service.nextWakeAt !== undefined, 'a retry is scheduled');

    await store.placements.replace({ ...row }, iso(now));
    await service.reconcile('default', 'p');
    assert.equal(
      (await status('p')).conditions.find((c) => c.type === schedulingFailedCondition),
      undefined,
    );
  });

  test('a cluster that goes unreachable, and one that comes back, is a change in the log that watches read', async () => {
    await addCluster('c1', { env: 'prod' });
    await addCluster('c2', { env: 'prod' });
    await service.runDue();
    const clusterChanges = async (after: number) =>
      (await store.changes.since(after, 'clusters', undefined, 100)).map((c) => `${c.type} ${c.name}`);
    const start = await store.changes.latest();
    // c2 stays in touch; c1's lease lapses.
    now = T0 + leaseMs + 1;
    await store.clusters.seen('c2', iso(now));
    const seenAt = await store.changes.latest();
    assert.equal(seenAt, start, 'a sighting alone is no change');
    await service.runDue();
    assert.deepEqual(await clusterChanges(seenAt), ['MODIFIED c1']);
    const lapsed = await store.changes.latest();
    await service.runDue();
    assert.deepEqual(await clusterChanges(lapsed), [], 'once, not on every pass');
    // c1 is heard from: the pass that sees it back logs it.
    await store.clusters.seen('c1', iso(now));
    await service.runDue();
    assert.deepEqual(await clusterChanges(lapsed), ['MODIFIED c1']);
    const [row] = await store.changes.since(lapsed, 'clusters', undefined, 1);
    assert.deepEqual(row?.labels, { env: 'prod' });
    assert.deepEqual(row?.labelsBefore, { env: 'prod' });
    assert.equal(row?.uid, (await store.clusters.get('c1'))?.uid);
  });

  test('a cluster back from unreachable is announced after the pass that saw it back', async () => {
    await addCluster('c1', { env: 'prod' });
    await addPlacement('p', prod);
    const back: string[] = [];
    service.onReachable((c) => back.push(c));
    now = T0 + leaseMs + 1;
    await service.runDue();
    assert.deepEqual(await selected('p'), []);
    assert.equal(service.scheduledUnreachable().has('c1'), true);
    // Heard from, but no pass yet: the decisions about c1 are stale and say so.
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, lastSeen: iso(now) });
    assert.equal(service.scheduledUnreachable().has('c1'), true);
    assert.deepEqual(back, []);
    await service.runDue();
    assert.equal(service.scheduledUnreachable().has('c1'), false);
    assert.deepEqual(back, ['c1']);
    assert.deepEqual(await selected('p'), ['c1']);
  });

  test('a pass that throws leaves the cluster changes for its retry', async () => {
    await addCluster('c1', { env: 'prod' });
    await addPlacement('p', prod);
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, labels: { env: 'dev' } });
    // The store fails once, after the clusters were read (a locked or full disk).
    const all = store.placements.all;
    store.placements.all = async () => {
      store.placements.all = all;
      throw new Error('disk I/O error');
    };
    await service.runDue();
    assert.deepEqual(await selected('p'), ['c1'], 'nothing written by the failed pass');
    await service.runDue();
    assert.deepEqual(await selected('p'), [], 'the retry sees the label change');
  });

  test('clusterSets restrict selection to bound sets, as in OCM; default has global bound from the start', async () => {
    const setLabel = 'cluster.open-cluster-management.io/clusterset';
    await addCluster('a1', { [setLabel]: 'team-a', env: 'prod' });
    await addCluster('a2', { [setLabel]: 'team-a' });
    await addCluster('b1', { [setLabel]: 'team-b', env: 'prod' });
    await addCluster('d1', { env: 'prod' });
    const at = iso(now);
    const exclusive = { clusterSelector: { selectorType: 'ExclusiveClusterSetLabel' } };
    for (const name of ['team-a', 'team-b']) {
      await store.clusterSets.create({ name, namespace: '', labels: {}, annotations: {}, spec: exclusive }, at);
    }
    const prodSpec = (env: string) => ({
      clusterSelector: { selectorType: 'LabelSelector', labelSelector: { matchLabels: { env } } },
    });
    await store.clusterSets.create(
      { name: 'prod', namespace: '', labels: {}, annotations: {}, spec: prodSpec('prod') },
      at,
    );
    // default/global is bound by migration 14: no clusterSets is every cluster, as before.
    await addPlacement('all', {});
    assert.deepEqual(await selected('all'), ['a1', 'a2', 'b1', 'd1']);
    // A set named but not bound to the namespace selects nothing.
    await addPlacement('a', { clusterSets: ['team-a'] });
    assert.deepEqual(await selected('a'), []);
    assert.equal(
      (await status('a')).conditions.find((c) => c.type === 'PlacementSatisfied')?.reason,
      'NoManagedClusterSetBindings',
    );
    const bind = (name: string) => store.bindings.put({ namespace: 'default', name, labels: {}, annotations: {} }, at);
    for (const name of ['team-a', 'team-b', 'prod', 'default', 'no-such-set']) await bind(name);
    service.setsChanged();
    await service.runDue();
    assert.deepEqual(await selected('a'), ['a1', 'a2']);
    // default: the clusters with no set label; sets combine as a union.
    await addPlacement('dflt', { clusterSets: ['default'] });
    assert.deepEqual(await selected('dflt'), ['d1']);
    await addPlacement('union', { clusterSets: ['team-b', 'prod'] });
    assert.deepEqual(await selected('union'), ['a1', 'b1', 'd1']);
    await addPlacement('none', { clusterSets: ['no-such-set'] });
    assert.deepEqual(await selected('none'), []);
    const why = (await status('none')).conditions.find((c) => c.type === 'PlacementSatisfied');
    assert.equal(why?.reason, 'AllManagedClusterSetsEmpty');
    assert.match(why?.message ?? '', /no-such-set does not exist/);

    // A set's spec change moves its members.
    await store.clusterSets.replace(
      { name: 'prod', namespace: '', labels: {}, annotations: {}, spec: prodSpec('dev') },
      at,
    );
    service.setsChanged();
    await service.runDue();
    assert.deepEqual(await selected('union'), ['b1']);

    // Without the global binding, a placement that names no set selects only the bound sets'
    // members; with no binding at all, nothing (never every cluster).
    await store.bindings.delete('default', 'global');
    service.setsChanged();
    await service.runDue();
    assert.deepEqual(await selected('all'), ['a1', 'a2', 'b1', 'd1'], 'the bound sets hold them all');
    for (const name of ['team-a', 'team-b', 'prod', 'default', 'no-such-set']) {
      await store.bindings.delete('default', name);
    }
    service.setsChanged();
    await service.runDue();
    assert.deepEqual(await selected('all'), []);
    assert.equal(
      (await status('all')).conditions.find((c) => c.type === 'PlacementSatisfied')?.reason,
      'NoManagedClusterSetBindings',
    );
  });

  test('a label change moves a cluster between sets', async () => {
    const setLabel = 'cluster.open-cluster-management.io/clusterset';
    await store.clusterSets.create(
      {
        name: 'edge',
        namespace: '',
        labels: {},
        annotations: {},
        spec: { clusterSelector: { selectorType: 'ExclusiveClusterSetLabel' } },
      },
      iso(now),
    );
    await store.bindings.put({ namespace: 'default', name: 'edge', labels: {}, annotations: {} }, iso(now));
    await addCluster('c1', {});
    await addPlacement('p', { clusterSets: ['edge'] });
    assert.deepEqual(await selected('p'), []);
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, labels: { [setLabel]: 'edge' } });
    await waitFor('c1 selected', async () => (await selected('p')).includes('c1'));
    await store.clusters.update({
      ...((await store.clusters.get('c1')) as ClusterRow),
      labels: { [setLabel]: 'default' },
    });
    await waitFor('c1 dropped', async () => (await selected('p')).length === 0);
  });

  test('placements of one name in two namespaces are scheduled and announced apart', async () => {
    await addCluster('c1', { env: 'prod' });
    await addCluster('c2', { env: 'dev' });
    const told: string[] = [];
    service.onDecisionsChanged((namespace, name) => told.push(`${namespace}/${name}`));
    await store.bindings.put({ namespace: 'team-a', name: 'global', labels: {}, annotations: {} }, iso(now));
    const v = validatePlacement({ metadata: { name: 'p' }, spec: prod });
    assert.ok(v.ok);
    await addPlacement('p', {});
    await store.placements.create(
      {
        name: 'p',
        namespace: 'team-a',
        labels: {},
        annotations: {},
        spec: v.value.spec as unknown as Record<string, unknown>,
      },
      iso(now),
    );
    await service.reconcile('team-a', 'p');
    assert.deepEqual(await selected('p'), ['c1', 'c2'], "default's p selects both");
    const teamA = (await store.placements.get('team-a', 'p'))?.status as unknown as Status;
    assert.deepEqual(
      teamA.decisions.flatMap((g) => g.clusterNames),
      ['c1'],
      "team-a's p its own predicate's",
    );
    assert.deepEqual(told, ['default/p', 'team-a/p']);
    await store.placements.delete('team-a', 'p');
    service.forget('team-a', 'p');
    assert.deepEqual(told.at(-1), 'team-a/p');
    assert.deepEqual(await selected('p'), ['c1', 'c2'], "default's p stays");
  });

  test('a placement asked for while a pass is under way is scheduled by the pass after it', async () => {
    await addCluster('c1', { env: 'prod' });
    // The clusters as the passes below will find them: no cluster change schedules p.
    await service.runDue();
    const v = validatePlacement({ metadata: { name: 'p' }, spec: prod });
    assert.ok(v.ok);
    const spec = v.value.spec as unknown as Record<string, unknown>;
    await store.placements.create({ name: 'p', namespace: 'default', labels: {}, annotations: {}, spec }, iso(now));
    // Another transaction holds the store: the timer's pass starts and waits for it.
    let release = () => {};
    const held = store.transaction(() => new Promise<void>((resolve) => (release = resolve)));
    const first = service.runDue();
    await new Promise((r) => setImmediate(r));
    const asked = service.reconcile('default', 'p');
    release();
    await held;
    await first;
    const row = await asked;
    assert.deepEqual((row?.status as unknown as Status | undefined)?.decisions[0]?.clusterNames, ['c1']);
    assert.deepEqual(events, ['p']);
  });

  test('forget tells subscribers; close stops the timer', async () => {
    await addCluster('c1', {});
    await addPlacement('p', {});
    await store.placements.delete('default', 'p');
    events.length = 0;
    service.forget('default', 'p');
    assert.deepEqual(events, ['p']);
    assert.ok(service.nextWakeAt !== undefined);
    await service.close();
    assert.equal(service.nextWakeAt, undefined);
  });
});
