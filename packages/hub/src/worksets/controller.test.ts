import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import { BodyThread } from '../parse/off-thread.ts';
import type { Liveness } from '../registration/clusters.ts';
import { type ManifestWorkReplicaSetStatus, validateWorkReplicaSet } from '../rollout/index.ts';
import { type ClusterRow, openStore, type Store, type WorkRow } from '../store/index.ts';
import {
  dispatchedAtAnnotation,
  specHashAnnotation,
  WorkSetController,
  workSetLabel,
  workSetNamespaceLabel,
} from './controller.ts';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const leaseMs = 60_000;

const configMap = (name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data,
});

describe('WorkSetController', () => {
  let dir: string;
  let store: Store;
  let now: number;
  let controller: WorkSetController;
  let notified: string[];
  let seq: number;

  const liveness: Liveness = { leaseMs, lastSeen: (c) => c.lastSeen };
  /** The controller under test, on this test's store and clock (plus `extra` deps). */
  const newController = (extra: Partial<ConstructorParameters<typeof WorkSetController>[0]> = {}) =>
    new WorkSetController({
      store,
      log: pino({ level: 'silent' }),
      liveness: () => liveness,
      notify: (c) => notified.push(c),
      now: () => now,
      batchMs: 1,
      ...extra,
    });
  const addCluster = (name: string, labels: Record<string, string> = {}, extra: Partial<ClusterRow> = {}) => {
    store.clusters.insert({
      name,
      uid: `uid-${name}`,
      labels,
      hubAcceptsClient: true,
      claims: {},
      agentVersion: null,
      createdAt: iso(T0 - 3_600_000),
    });
    const row = store.clusters.get(name) as ClusterRow;
    store.clusters.update({ ...row, joinedAt: iso(T0 - 3_600_000), lastSeen: iso(now), ...extra });
  };
  /** A placement whose status already holds these decision groups (no scheduler in these tests). */
  const setDecisions = (name: string, groups: { groupName?: string; clusterNames: string[] }[] | null) => {
    if (!store.placements.get('default', name))
      store.placements.create({ name, namespace: 'default', labels: {}, annotations: {}, spec: {} }, iso(now));
    if (groups === null) return;
    store.placements.setStatus('default', name, {
      numberOfSelectedClusters: groups.reduce((n, g) => n + g.clusterNames.length, 0),
      decisionGroups: [],
      decisions: groups.map((g, i) => ({ groupName: g.groupName ?? '', groupIndex: i, clusterNames: g.clusterNames })),
      conditions: [],
    });
  };
  // Outpost's templating asked for: these tests render {{ .clusterName }} and labels per cluster.
  const addWorkSet = (name: string, spec: Record<string, unknown>) => {
    const v = validateWorkReplicaSet({ metadata: { name }, spec: { templating: true, ...spec } });
    assert.ok(v.ok, JSON.stringify(v));
    store.worksets.create(
      {
        name,
        namespace: 'default',
        labels: {},
        annotations: {},
        spec: v.value.spec as unknown as Record<string, unknown>,
      },
      iso(now),
    );
  };
  const reconcile = (name: string) => {
    controller.changed('default', name);
    controller.flush();
  };
  const work = (cluster: string, name = 'ws') => store.works.get(cluster, name);
  const firstManifest = (w: WorkRow) =>
    JSON.parse(String(store.works.text(store.works.manifests(w.uid)[0]?.hash ?? '')));
  const live = (name = 'ws') =>
    store.clusters
      .all()
      .map((c) => store.works.get(c.name, name))
      .filter((w): w is WorkRow => w !== undefined && !w.deletionAt)
      .map((w) => w.cluster)
      .sort();
  const report = (cluster: string, ok: { applied?: boolean; available?: boolean; degraded?: boolean }) => {
    const w = work(cluster) as WorkRow;
    const c = (type: string, v: boolean | undefined) => ({
      type,
      status: v ? ('True' as const) : ('False' as const),
      reason: 'x',
      message: '',
    });
    const status = {
      conditions: [c('Applied', ok.applied), c('Available', ok.available), c('Degraded', ok.degraded)],
      observedGeneration: w.generation,
    };
    store.works.setStatus(w.uid, { text: JSON.stringify(status), summary: status }, ++seq);
    controller.workStatusChanged(cluster, [w]);
    controller.flush();
  };
  const status = (name = 'ws') =>
    store.worksets.get('default', name)?.status as unknown as ManifestWorkReplicaSetStatus;
  const condition = (type: string, name = 'ws') => status(name).conditions.find((c) => c.type === type)?.status;
  const stateOf = (cluster: string, name = 'ws') => status(name).rollout?.clusters.find((c) => c.name === cluster);
  const template = { workload: { manifests: [configMap('cm', { cluster: '{{ .clusterName }}' })] } };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-worksets-'));
    store = openStore(join(dir, 'outpost.db'));
    now = T0;
    notified = [];
    seq = 0;
    controller = newController();
  });
  afterEach(() => {
    controller.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without templating, as OCM, {{ … }} text goes out verbatim (Helm, Alertmanager, Go templates)', () => {
    addCluster('c1');
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    const verbatim = {
      workload: {
        manifests: [configMap('cm', { cluster: '{{ .clusterName }}', helm: '{{ .Values.image | quote }}' })],
      },
    };
    addWorkSet('ws', { templating: false, manifestWorkTemplate: verbatim, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    const cm = firstManifest(work('c1') as WorkRow);
    assert.deepEqual(cm.data, { cluster: '{{ .clusterName }}', helm: '{{ .Values.image | quote }}' });
  });

  test('All: every decided cluster gets its rendered work, labelled, annotated, and its poll is woken', () => {
    addCluster('c1');
    addCluster('c2');
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    assert.deepEqual(live(), ['c1', 'c2']);
    assert.deepEqual(notified.sort(), ['c1', 'c2']);
    const w = work('c1') as WorkRow;
    assert.equal(w.labels[workSetLabel], 'ws');
    assert.ok(w.annotations[specHashAnnotation]);
    assert.equal(w.annotations[dispatchedAtAnnotation], iso(T0));
    const cm = firstManifest(w);
    assert.equal(cm.data.cluster, 'c1');
    assert.equal(status().summary.total, 2);
    assert.equal(condition('PlacementVerified'), 'True');
    assert.equal(condition('Progressing'), 'True');

    // A second reconcile writes nothing new (same rendered hash).
    notified = [];
    const gen = w.generation;
    reconcile('ws');
    assert.deepEqual(notified, []);
    assert.equal(work('c1')?.generation, gen);

    report('c1', { applied: true, available: true });
    report('c2', { applied: true, available: true });
    assert.equal(condition('Complete'), 'True');
    assert.equal(status().summary.available, 2);
    assert.equal(stateOf('c1')?.state, 'Succeeded');
  });

  test('ProgressivePerGroup: the canary group first, the rest once it succeeded', () => {
    for (const c of ['a', 'b', 'canary']) addCluster(c);
    setDecisions('p', [
      { groupName: 'canary', clusterNames: ['canary'] },
      { groupName: 'rest', clusterNames: ['a', 'b'] },
    ]);
    addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'ProgressivePerGroup' } }],
    });
    reconcile('ws');
    assert.deepEqual(live(), ['canary']);
    assert.equal(stateOf('a')?.state, 'Pending');
    report('canary', { applied: true, available: true });
    assert.deepEqual(live(), ['a', 'b', 'canary']);
  });

  test('Progressive maxFailures: a degraded cluster stops the rollout', () => {
    for (const c of ['c1', 'c2', 'c3']) addCluster(c);
    setDecisions('p', [{ clusterNames: ['c1', 'c2', 'c3'] }]);
    addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: 1 } } }],
    });
    reconcile('ws');
    assert.deepEqual(live(), ['c1']);
    report('c1', { applied: false, degraded: true });
    assert.deepEqual(live(), ['c1']);
    assert.equal(condition('RolloutStopped'), 'True');
    assert.equal(stateOf('c1')?.state, 'Failed');
    assert.equal(condition('Progressing'), 'False');
  });

  test('a render error fails that cluster only; a hand-made work of the same name is a conflict', () => {
    addCluster('good', { region: 'eu' });
    addCluster('bad');
    addCluster('mine', { region: 'us' });
    store.works.write(
      { cluster: 'mine', name: 'ws', labels: {}, annotations: {}, spec: {}, manifests: [configMap('x', {})] },
      iso(now),
    );
    const handMade = work('mine') as WorkRow;
    setDecisions('p', [{ clusterNames: ['bad', 'good', 'mine'] }]);
    addWorkSet('ws', {
      manifestWorkTemplate: { workload: { manifests: [configMap('cm', { region: '{{ .labels.region }}' })] } },
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'All' } }],
    });
    reconcile('ws');
    assert.equal(work('bad'), undefined);
    assert.ok(work('good'));
    assert.equal(stateOf('bad')?.state, 'Failed');
    assert.match(stateOf('bad')?.reason ?? '', /TEMPLATE_UNRESOLVED/);
    assert.equal(stateOf('mine')?.state, 'Failed');
    assert.match(stateOf('mine')?.reason ?? '', /conflict/);
    assert.deepEqual(work('mine'), handMade);

    // Leaving the decisions does not delete the hand-made work either.
    setDecisions('p', [{ clusterNames: ['good'] }]);
    reconcile('ws');
    assert.equal(work('mine')?.deletionAt, null);
  });

  test('clusters that leave the decisions lose their work; a missing placement deletes nothing', () => {
    for (const c of ['c1', 'c2']) addCluster(c);
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    assert.deepEqual(live(), ['c1', 'c2']);

    store.placements.delete('default', 'p');
    controller.placementChanged('default', 'p');
    controller.flush();
    assert.deepEqual(live(), ['c1', 'c2']);
    assert.equal(condition('PlacementVerified'), 'False');

    setDecisions('p', null); // exists, never scheduled: decisions unknown
    reconcile('ws');
    assert.deepEqual(live(), ['c1', 'c2']);

    setDecisions('p', [{ clusterNames: ['c1'] }]);
    notified = [];
    controller.placementChanged('default', 'p');
    controller.flush();
    assert.deepEqual(live(), ['c1']);
    assert.ok(work('c2')?.deletionAt);
    assert.deepEqual(notified, ['c2']);
  });

  test('paused: nothing written, nothing deleted; resume hands out', () => {
    for (const c of ['c1', 'c2']) addCluster(c);
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    const row = store.worksets.get('default', 'ws');
    assert.ok(row);
    store.worksets.replace({ ...row, spec: { ...row.spec, paused: true } }, iso(now));
    setDecisions('p', [{ clusterNames: ['c2'] }]);
    reconcile('ws');
    assert.deepEqual(live(), ['c1']);
    assert.equal(condition('Paused'), 'True');
    store.worksets.replace({ ...row, spec: { ...row.spec } }, iso(now));
    reconcile('ws');
    assert.deepEqual(live(), ['c2']);
  });

  test('a deleted workset deletes only the works it owns; start() finds orphans', () => {
    for (const c of ['c1', 'c2']) addCluster(c);
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    store.works.write(
      { cluster: 'c2', name: 'ws', labels: {}, annotations: {}, spec: {}, manifests: [configMap('x', {})] },
      iso(now),
    );
    store.worksets.delete('default', 'ws');
    // As after a restart: a fresh controller finds the owned work of a workset that is gone.
    controller.close();
    controller = newController();
    controller.start();
    assert.ok(work('c1')?.deletionAt);
    assert.equal(work('c2')?.deletionAt, null);
  });

  test('namespaces: worksets of one name in two namespaces read their own placements and never take each other’s works', () => {
    for (const c of ['c1', 'c2']) addCluster(c);
    // p in default selects c1; p in team-b selects c1 and c2.
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    store.placements.create({ name: 'p', namespace: 'team-b', labels: {}, annotations: {}, spec: {} }, iso(now));
    store.placements.setStatus('team-b', 'p', {
      numberOfSelectedClusters: 2,
      decisionGroups: [],
      decisions: [{ groupName: '', groupIndex: 0, clusterNames: ['c1', 'c2'] }],
      conditions: [],
    });
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    const v = validateWorkReplicaSet({
      metadata: { name: 'ws', namespace: 'team-b' },
      spec: { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] },
    });
    assert.ok(v.ok);
    store.worksets.create(
      {
        name: 'ws',
        namespace: 'team-b',
        labels: {},
        annotations: {},
        spec: v.value.spec as unknown as Record<string, unknown>,
      },
      iso(now),
    );
    reconcile('ws');
    controller.changed('team-b', 'ws');
    controller.flush();
    // c1's work "ws" is default's (first come); team-b's workset reports the conflict there
    // and hands out c2 only.
    assert.equal(work('c1')?.labels[workSetNamespaceLabel], 'default');
    assert.equal(work('c2')?.labels[workSetNamespaceLabel], 'team-b');
    const teamB = store.worksets.get('team-b', 'ws')?.status as unknown as ManifestWorkReplicaSetStatus;
    const c1 = teamB.rollout?.clusters.find((c) => c.name === 'c1');
    assert.equal(c1?.state, 'Failed');
    assert.match(c1?.reason ?? '', /not made by this workset/);
    // A status report of c2's work wakes team-b's workset, not default's.
    const w2 = work('c2') as WorkRow;
    assert.deepEqual([w2.labels[workSetLabel], w2.labels[workSetNamespaceLabel]], ['ws', 'team-b']);
    // Deleting team-b's workset deletes its own work only.
    store.worksets.delete('team-b', 'ws');
    controller.changed('team-b', 'ws');
    controller.flush();
    assert.ok(work('c2')?.deletionAt);
    assert.equal(work('c1')?.deletionAt, null, "default's work stays");
    // A decisions change of default's p reaches default's workset only when told with its
    // namespace: team-b's event for its own p does not reconcile it.
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    notified = [];
    controller.placementChanged('team-b', 'p');
    controller.flush();
    assert.equal(stateOf('c2'), undefined, "default's workset was not reconciled for team-b's p");
    controller.placementChanged('default', 'p');
    controller.flush();
    assert.notEqual(stateOf('c2'), undefined, "default's workset now targets c2");
  });

  test('Foreground deletion: the workset stays until the agents confirmed its works gone', () => {
    for (const c of ['c1', 'c2']) addCluster(c);
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p' }],
      cascadeDeletionPolicy: 'Foreground',
    });
    reconcile('ws');
    // A hand-made work of the same name elsewhere is neither deleted nor waited for.
    addCluster('c3');
    store.works.write(
      { cluster: 'c3', name: 'ws', labels: {}, annotations: {}, spec: {}, manifests: [configMap('x', {})] },
      iso(now),
    );
    assert.ok(store.worksets.markDeleting('default', 'ws', iso(now))?.deletionAt);
    reconcile('ws');
    assert.ok(work('c1')?.deletionAt);
    assert.ok(work('c2')?.deletionAt);
    assert.equal(work('c3')?.deletionAt, null);
    assert.ok(store.worksets.get('default', 'ws'), 'kept while its works are being deleted');
    // c1's agent confirms; c2's has not yet.
    const w1 = work('c1') as WorkRow;
    store.works.purge(w1.uid);
    controller.workStatusChanged('c1', [w1]);
    controller.flush();
    assert.ok(store.worksets.get('default', 'ws'));
    // A restart in between changes nothing: the deletion is in the row.
    controller.close();
    controller = newController();
    controller.start();
    assert.ok(store.worksets.get('default', 'ws'));
    const w2 = work('c2') as WorkRow;
    store.works.purge(w2.uid);
    controller.workStatusChanged('c2', [w2]);
    controller.flush();
    assert.equal(store.worksets.get('default', 'ws'), undefined, 'gone with its last work');
    assert.equal(work('c3')?.deletionAt, null);
  });

  test('an unreachable cluster that leaves the decisions keeps its work until heard from', () => {
    addCluster('c1');
    addCluster('c2');
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    now += 2 * leaseMs;
    const c1 = store.clusters.get('c1') as ClusterRow;
    store.clusters.update({ ...c1, lastSeen: iso(now) });
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    reconcile('ws');
    assert.deepEqual(live(), ['c1', 'c2']);
    assert.match(status().rollout?.message ?? '', /unreachable/);
    // Heard from again and still not selected: now its work goes.
    const c2 = store.clusters.get('c2') as ClusterRow;
    store.clusters.update({ ...c2, lastSeen: iso(now) });
    controller.clusterSeen('c2');
    controller.flush();
    assert.deepEqual(live(), ['c1']);
  });

  test('a returning cluster keeps its work until the placements were scheduled with it back', () => {
    // The scheduler's view, as PlacementService.scheduledAsUnreachable reports it.
    const scheduledUnreachable = new Set<string>();
    controller.close();
    controller = newController({
      scheduledAsUnreachable: (c) => scheduledUnreachable.has(c),
    });
    addCluster('c1');
    addCluster('c2');
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    now += 2 * leaseMs;
    const c1 = store.clusters.get('c1') as ClusterRow;
    store.clusters.update({ ...c1, lastSeen: iso(now) });
    scheduledUnreachable.add('c2');
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    reconcile('ws');
    assert.deepEqual(live(), ['c1', 'c2']);
    // c2 polls: its reconcile may run before the placement pass that would select it again.
    const c2 = store.clusters.get('c2') as ClusterRow;
    store.clusters.update({ ...c2, lastSeen: iso(now) });
    controller.clusterSeen('c2');
    controller.flush();
    assert.deepEqual(live(), ['c1', 'c2'], 'not deleted on decisions that predate its return');
    // The pass ran and did not select it (decisions unchanged): announced, now it goes.
    scheduledUnreachable.delete('c2');
    controller.clusterSeen('c2');
    controller.flush();
    assert.deepEqual(live(), ['c1']);
  });

  test('a placement whose scheduling failed is rolled out to but not deleted from', () => {
    addCluster('c1');
    addCluster('c2');
    setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    reconcile('ws');
    store.placements.setStatus('default', 'p', {
      numberOfSelectedClusters: 1,
      decisionGroups: [],
      decisions: [{ groupName: '', groupIndex: 0, clusterNames: ['c1'] }],
      conditions: [{ type: 'SchedulingFailed', status: 'True', reason: 'SchedulerError', message: 'x' }],
    });
    reconcile('ws');
    assert.deepEqual(live(), ['c1', 'c2']);
    assert.match(status().rollout?.message ?? '', /scheduling failed for p/);
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    reconcile('ws');
    assert.deepEqual(live(), ['c1']);
  });

  test('a cluster is not counted as soaking while offline; its soak starts over when back', () => {
    addCluster('c1');
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'Progressive', progressive: { minSuccessTime: '1m' } } }],
    });
    reconcile('ws');
    report('c1', { applied: true, available: true });
    assert.equal(stateOf('c1')?.state, 'Soaking');
    // Offline from T0 + 10 s (lease 1 min) until well after the soak would have ended.
    const c1 = store.clusters.get('c1') as ClusterRow;
    store.clusters.update({ ...c1, lastSeen: iso(T0 + 10_000) });
    now = T0 + 10_000 + leaseMs + 1;
    reconcile('ws');
    assert.equal(stateOf('c1')?.state, 'Progressing');
    assert.notEqual(stateOf('c1')?.state, 'Succeeded');
    now = T0 + 5 * leaseMs;
    store.clusters.update({ ...(store.clusters.get('c1') as ClusterRow), lastSeen: iso(now) });
    reconcile('ws');
    assert.equal(stateOf('c1')?.state, 'Soaking', 'the soak starts over once it is back');
    now += 60_000;
    store.clusters.update({ ...(store.clusters.get('c1') as ClusterRow), lastSeen: iso(now) });
    controller.runDue();
    assert.equal(stateOf('c1')?.state, 'Succeeded');
  });

  test('the timer is armed at the soak end and a changed template is rolled out again', () => {
    addCluster('c1');
    setDecisions('p', [{ clusterNames: ['c1'] }]);
    addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'Progressive', progressive: { minSuccessTime: '1m' } } }],
    });
    reconcile('ws');
    report('c1', { applied: true, available: true });
    assert.equal(stateOf('c1')?.state, 'Soaking');
    assert.ok(controller.nextWakeAt !== undefined && controller.nextWakeAt <= T0 + 60_000);
    now = T0 + 60_000;
    const c1 = store.clusters.get('c1') as ClusterRow;
    store.clusters.update({ ...c1, lastSeen: iso(now) });
    controller.runDue();
    assert.equal(stateOf('c1')?.state, 'Succeeded');

    const gen = work('c1')?.generation as number;
    const row = store.worksets.get('default', 'ws');
    assert.ok(row);
    const spec = structuredClone(row.spec) as { manifestWorkTemplate: typeof template };
    spec.manifestWorkTemplate.workload.manifests = [configMap('cm', { v: '2' })];
    store.worksets.replace({ ...row, spec }, iso(now));
    reconcile('ws');
    assert.equal(work('c1')?.generation, gen + 1);
    assert.equal(stateOf('c1')?.state, 'Progressing');
  });

  test('a large workset is rendered once per outcome, on the render thread, and written in turns; a status report or a pause renders nothing; a cluster whose render is on its way waits alone', async () => {
    const thread = new BodyThread();
    const calls: number[] = [];
    controller.close();
    controller = newController({
      render: (name, spec, targets) => {
        calls.push(targets.length);
        return thread.render(name, spec, targets);
      },
    });
    try {
      const clusters = Array.from({ length: 30 }, (_, i) => `c${i}`);
      for (const c of clusters) addCluster(c);
      setDecisions('p', [{ clusterNames: clusters }]);
      // 400 manifests of 1.5 KiB: 600 KiB, more than a reconcile renders itself, and 12,000
      // manifests in all, more than one reconcile writes.
      const manifests = Array.from({ length: 400 }, (_, i) => configMap(`cm-${i}`, { v: 'x'.repeat(1500) }));
      const override = {
        name: 'tier-b',
        clusterSelector: { labelSelector: { matchLabels: { tier: 'b' } } },
        patches: [{ manifest: { kind: 'ConfigMap', name: 'cm-0' }, patch: { data: { v: 'b' } } }],
      };
      const v = validateWorkReplicaSet({
        metadata: { name: 'big' },
        spec: {
          placementRefs: [{ name: 'p' }],
          manifestWorkTemplate: { workload: { manifests } },
          overrides: [override],
        },
      });
      assert.ok(v.ok, JSON.stringify(v));
      store.worksets.create(
        {
          name: 'big',
          namespace: 'default',
          labels: {},
          annotations: {},
          spec: v.value.spec as unknown as Record<string, unknown>,
        },
        iso(now),
      );
      reconcile('big');
      assert.deepEqual(live('big'), [], 'nothing is written before the render is back');
      assert.equal(store.worksets.get('default', 'big')?.status, null, 'nor is a status');
      for (let i = 0; i < 500 && live('big').length < clusters.length; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(live('big').length, clusters.length);
      assert.deepEqual(calls, [1], 'one render: every cluster gets the same work');
      const hashes = new Set(clusters.map((c) => work(c, 'big')?.contentHash));
      assert.equal(hashes.size, 1);
      assert.equal(store.works.manifests((work('c7', 'big') as WorkRow).uid).length, 400);
      assert.equal(stateOf('c7', 'big')?.state, 'Progressing');

      // Status reports, label changes that select no other override, and a pause (a new
      // generation, the same template) render nothing again.
      const w = work('c3', 'big') as WorkRow;
      const st = { conditions: [], observedGeneration: w.generation };
      store.works.setStatus(w.uid, { text: JSON.stringify(st), summary: st }, 1);
      controller.workStatusChanged('c3', [w]);
      store.clusters.update({ ...(store.clusters.get('c5') as ClusterRow), labels: { tier: 'a' } });
      controller.flush();
      const row = store.worksets.get('default', 'big');
      store.worksets.replace(
        { name: 'big', namespace: 'default', labels: {}, annotations: {}, spec: { ...row?.spec, paused: true } },
        iso(now),
      );
      reconcile('big');
      assert.equal(condition('Paused', 'big'), 'True');
      store.worksets.replace(
        { name: 'big', namespace: 'default', labels: {}, annotations: {}, spec: { ...row?.spec } },
        iso(now),
      );
      reconcile('big');
      assert.equal(condition('Paused', 'big'), 'False');
      assert.deepEqual(calls, [1]);

      // A cluster the override now selects needs a render of its own: it waits for it, the
      // others do not wait with it.
      const before = (work('c4', 'big') as WorkRow).contentHash;
      store.clusters.update({ ...(store.clusters.get('c4') as ClusterRow), labels: { tier: 'b' } });
      const w3 = work('c3', 'big') as WorkRow;
      const applied = {
        conditions: [{ type: 'Applied', status: 'True' as const, reason: 'x', message: '' }],
        observedGeneration: w3.generation,
      };
      store.works.setStatus(w3.uid, { text: JSON.stringify(applied), summary: applied }, 2);
      controller.workStatusChanged('c3', [w3]);
      controller.flush();
      assert.equal(work('c4', 'big')?.contentHash, before, 'its work stands meanwhile');
      assert.equal(status('big').summary.applied, 1, 'the others are reported meanwhile');
      for (let i = 0; i < 500 && work('c4', 'big')?.contentHash === before; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(calls, [1, 1]);
      assert.notEqual(work('c4', 'big')?.contentHash, before);
      assert.equal(work('c3', 'big')?.contentHash, before);
    } finally {
      await thread.close();
    }
  });
});
