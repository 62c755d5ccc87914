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
  const addCluster = async (name: string, labels: Record<string, string> = {}, extra: Partial<ClusterRow> = {}) => {
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
  /** A placement whose status already holds these decision groups (no scheduler in these tests). */
  const setDecisions = async (name: string, groups: { groupName?: string; clusterNames: string[] }[] | null) => {
    if (!(await store.placements.get('default', name)))
      await store.placements.create({ name, namespace: 'default', labels: {}, annotations: {}, spec: {} }, iso(now));
    if (groups === null) return;
    await store.placements.setStatus('default', name, {
      numberOfSelectedClusters: groups.reduce((n, g) => n + g.clusterNames.length, 0),
      decisionGroups: [],
      decisions: groups.map((g, i) => ({ groupName: g.groupName ?? '', groupIndex: i, clusterNames: g.clusterNames })),
      conditions: [],
    });
  };
  // Outpost's templating asked for: these tests render {{ .clusterName }} and labels per cluster.
  const addWorkSet = async (name: string, spec: Record<string, unknown>) => {
    const v = validateWorkReplicaSet({ metadata: { name }, spec: { templating: true, ...spec } });
    assert.ok(v.ok, JSON.stringify(v));
    await store.worksets.create(
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
  const reconcile = async (name: string) => {
    controller.changed('default', name);
    await controller.flush();
  };
  const work = (cluster: string, name = 'ws') => store.works.get(cluster, name);
  const firstManifest = async (w: WorkRow) =>
    JSON.parse(String(await store.works.text((await store.works.manifests(w.uid))[0]?.hash ?? '')));
  const live = async (name = 'ws') => {
    const works = await Promise.all((await store.clusters.all()).map((c) => store.works.get(c.name, name)));
    return works
      .filter((w): w is WorkRow => w !== undefined && !w.deletionAt)
      .map((w) => w.cluster)
      .sort();
  };
  /** A workset's spec as stored (its row carries none). */
  const specOf = async (name = 'ws', namespace = 'default') =>
    JSON.parse(await store.worksets.specText(namespace, name)) as Record<string, unknown>;
  const report = async (cluster: string, ok: { applied?: boolean; available?: boolean; degraded?: boolean }) => {
    const w = (await work(cluster)) as WorkRow;
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
    await store.works.setStatus(w.uid, { text: JSON.stringify(status), summary: status }, ++seq);
    controller.workStatusChanged(cluster, [w]);
    await controller.flush();
  };
  const status = async (name = 'ws') =>
    (await store.worksets.get('default', name))?.status as unknown as ManifestWorkReplicaSetStatus;
  const condition = async (type: string, name = 'ws') =>
    (await status(name)).conditions.find((c) => c.type === type)?.status;
  const stateOf = async (cluster: string, name = 'ws') =>
    (await status(name)).rollout?.clusters.find((c) => c.name === cluster);
  const template = { workload: { manifests: [configMap('cm', { cluster: '{{ .clusterName }}' })] } };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'outpost-worksets-'));
    store = openStore(join(dir, 'outpost.db'));
    now = T0;
    notified = [];
    seq = 0;
    controller = newController();
  });
  afterEach(async () => {
    await controller.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without templating, as OCM, {{ … }} text goes out verbatim (Helm, Alertmanager, Go templates)', async () => {
    await addCluster('c1');
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    const verbatim = {
      workload: {
        manifests: [configMap('cm', { cluster: '{{ .clusterName }}', helm: '{{ .Values.image | quote }}' })],
      },
    };
    await addWorkSet('ws', { templating: false, manifestWorkTemplate: verbatim, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    const cm = await firstManifest((await work('c1')) as WorkRow);
    assert.deepEqual(cm.data, { cluster: '{{ .clusterName }}', helm: '{{ .Values.image | quote }}' });
  });

  test('All: every decided cluster gets its rendered work, labelled, annotated, and its poll is woken', async () => {
    await addCluster('c1');
    await addCluster('c2');
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);
    assert.deepEqual(notified.sort(), ['c1', 'c2']);
    const w = (await work('c1')) as WorkRow;
    assert.equal(w.labels[workSetLabel], 'ws');
    assert.ok(w.annotations[specHashAnnotation]);
    assert.equal(w.annotations[dispatchedAtAnnotation], iso(T0));
    const cm = await firstManifest(w);
    assert.equal(cm.data.cluster, 'c1');
    assert.equal((await status()).summary.total, 2);
    assert.equal(await condition('PlacementVerified'), 'True');
    assert.equal(await condition('Progressing'), 'True');

    // A second reconcile writes nothing new (same rendered hash).
    notified = [];
    const gen = w.generation;
    await reconcile('ws');
    assert.deepEqual(notified, []);
    assert.equal((await work('c1'))?.generation, gen);

    await report('c1', { applied: true, available: true });
    await report('c2', { applied: true, available: true });
    assert.equal(await condition('Complete'), 'True');
    assert.equal((await status()).summary.available, 2);
    assert.equal((await stateOf('c1'))?.state, 'Succeeded');
  });

  test('ProgressivePerGroup: the canary group first, the rest once it succeeded', async () => {
    for (const c of ['a', 'b', 'canary']) await addCluster(c);
    await setDecisions('p', [
      { groupName: 'canary', clusterNames: ['canary'] },
      { groupName: 'rest', clusterNames: ['a', 'b'] },
    ]);
    await addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'ProgressivePerGroup' } }],
    });
    await reconcile('ws');
    assert.deepEqual(await live(), ['canary']);
    assert.equal((await stateOf('a'))?.state, 'Pending');
    await report('canary', { applied: true, available: true });
    assert.deepEqual(await live(), ['a', 'b', 'canary']);
  });

  test('Progressive maxFailures: a degraded cluster stops the rollout', async () => {
    for (const c of ['c1', 'c2', 'c3']) await addCluster(c);
    await setDecisions('p', [{ clusterNames: ['c1', 'c2', 'c3'] }]);
    await addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: 1 } } }],
    });
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1']);
    await report('c1', { applied: false, degraded: true });
    assert.deepEqual(await live(), ['c1']);
    assert.equal(await condition('RolloutStopped'), 'True');
    assert.equal((await stateOf('c1'))?.state, 'Failed');
    assert.equal(await condition('Progressing'), 'False');
  });

  test('a render error fails that cluster only; a hand-made work of the same name is a conflict', async () => {
    await addCluster('good', { region: 'eu' });
    await addCluster('bad');
    await addCluster('mine', { region: 'us' });
    await store.works.write(
      { cluster: 'mine', name: 'ws', labels: {}, annotations: {}, spec: {}, manifests: [configMap('x', {})] },
      iso(now),
    );
    const handMade = (await work('mine')) as WorkRow;
    await setDecisions('p', [{ clusterNames: ['bad', 'good', 'mine'] }]);
    await addWorkSet('ws', {
      manifestWorkTemplate: { workload: { manifests: [configMap('cm', { region: '{{ .labels.region }}' })] } },
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'All' } }],
    });
    await reconcile('ws');
    assert.equal(await work('bad'), undefined);
    assert.ok(await work('good'));
    assert.equal((await stateOf('bad'))?.state, 'Failed');
    assert.match((await stateOf('bad'))?.reason ?? '', /TEMPLATE_UNRESOLVED/);
    assert.equal((await stateOf('mine'))?.state, 'Failed');
    assert.match((await stateOf('mine'))?.reason ?? '', /conflict/);
    assert.deepEqual(await work('mine'), handMade);

    // Leaving the decisions does not delete the hand-made work either.
    await setDecisions('p', [{ clusterNames: ['good'] }]);
    await reconcile('ws');
    assert.equal((await work('mine'))?.deletionAt, null);
  });

  test('clusters that leave the decisions lose their work; a missing placement deletes nothing', async () => {
    for (const c of ['c1', 'c2']) await addCluster(c);
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);

    await store.placements.delete('default', 'p');
    controller.placementChanged('default', 'p');
    await controller.flush();
    assert.deepEqual(await live(), ['c1', 'c2']);
    assert.equal(await condition('PlacementVerified'), 'False');

    await setDecisions('p', null); // exists, never scheduled: decisions unknown
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);

    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    notified = [];
    controller.placementChanged('default', 'p');
    await controller.flush();
    assert.deepEqual(await live(), ['c1']);
    assert.ok((await work('c2'))?.deletionAt);
    assert.deepEqual(notified, ['c2']);
  });

  test('one run of the queue at a time: a flush during a run resolves once what was queued since ran too', async () => {
    await addCluster('c1');
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await addWorkSet('ws2', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    controller.changed('default', 'ws');
    const first = controller.flush();
    // Queued after the first run took its queue: the second flush waits for a round of it.
    controller.changed('default', 'ws2');
    await controller.flush();
    assert.deepEqual(await live('ws2'), ['c1']);
    assert.equal((await status('ws2')).summary.total, 1);
    await first;
    assert.deepEqual(await live('ws'), ['c1']);
  });

  test('paused: nothing written, nothing deleted; resume hands out', async () => {
    for (const c of ['c1', 'c2']) await addCluster(c);
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    const row = await store.worksets.get('default', 'ws');
    assert.ok(row);
    const spec = await specOf();
    await store.worksets.replace({ ...row, spec: { ...spec, paused: true } }, iso(now));
    await setDecisions('p', [{ clusterNames: ['c2'] }]);
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1']);
    assert.equal(await condition('Paused'), 'True');
    await store.worksets.replace({ ...row, spec: { ...spec } }, iso(now));
    await reconcile('ws');
    assert.deepEqual(await live(), ['c2']);
  });

  test('a deleted workset deletes only the works it owns; start() finds orphans', async () => {
    for (const c of ['c1', 'c2']) await addCluster(c);
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    await store.works.write(
      { cluster: 'c2', name: 'ws', labels: {}, annotations: {}, spec: {}, manifests: [configMap('x', {})] },
      iso(now),
    );
    await store.worksets.delete('default', 'ws');
    // As after a restart: a fresh controller finds the owned work of a workset that is gone.
    await controller.close();
    controller = newController();
    await controller.start();
    assert.ok((await work('c1'))?.deletionAt);
    assert.equal((await work('c2'))?.deletionAt, null);
  });

  test('namespaces: worksets of one name in two namespaces read their own placements and never take each other’s works', async () => {
    for (const c of ['c1', 'c2']) await addCluster(c);
    // p in default selects c1; p in team-b selects c1 and c2.
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await store.placements.create({ name: 'p', namespace: 'team-b', labels: {}, annotations: {}, spec: {} }, iso(now));
    await store.placements.setStatus('team-b', 'p', {
      numberOfSelectedClusters: 2,
      decisionGroups: [],
      decisions: [{ groupName: '', groupIndex: 0, clusterNames: ['c1', 'c2'] }],
      conditions: [],
    });
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    const v = validateWorkReplicaSet({
      metadata: { name: 'ws', namespace: 'team-b' },
      spec: { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] },
    });
    assert.ok(v.ok);
    await store.worksets.create(
      {
        name: 'ws',
        namespace: 'team-b',
        labels: {},
        annotations: {},
        spec: v.value.spec as unknown as Record<string, unknown>,
      },
      iso(now),
    );
    await reconcile('ws');
    controller.changed('team-b', 'ws');
    await controller.flush();
    // c1's work "ws" is default's (first come); team-b's workset reports the conflict there
    // and hands out c2 only.
    assert.equal((await work('c1'))?.labels[workSetNamespaceLabel], 'default');
    assert.equal((await work('c2'))?.labels[workSetNamespaceLabel], 'team-b');
    const teamB = (await store.worksets.get('team-b', 'ws'))?.status as unknown as ManifestWorkReplicaSetStatus;
    const c1 = teamB.rollout?.clusters.find((c) => c.name === 'c1');
    assert.equal(c1?.state, 'Failed');
    assert.match(c1?.reason ?? '', /not made by this workset/);
    // A status report of c2's work wakes team-b's workset, not default's.
    const w2 = (await work('c2')) as WorkRow;
    assert.deepEqual([w2.labels[workSetLabel], w2.labels[workSetNamespaceLabel]], ['ws', 'team-b']);
    // Deleting team-b's workset deletes its own work only.
    await store.worksets.delete('team-b', 'ws');
    controller.changed('team-b', 'ws');
    await controller.flush();
    assert.ok((await work('c2'))?.deletionAt);
    assert.equal((await work('c1'))?.deletionAt, null, "default's work stays");
    // A decisions change of default's p reaches default's workset only when told with its
    // namespace: team-b's event for its own p does not reconcile it.
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    notified = [];
    controller.placementChanged('team-b', 'p');
    await controller.flush();
    assert.equal(await stateOf('c2'), undefined, "default's workset was not reconciled for team-b's p");
    controller.placementChanged('default', 'p');
    await controller.flush();
    assert.notEqual(await stateOf('c2'), undefined, "default's workset now targets c2");
  });

  test('Foreground deletion: the workset stays until the agents confirmed its works gone', async () => {
    for (const c of ['c1', 'c2']) await addCluster(c);
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p' }],
      cascadeDeletionPolicy: 'Foreground',
    });
    await reconcile('ws');
    // A hand-made work of the same name elsewhere is neither deleted nor waited for.
    await addCluster('c3');
    await store.works.write(
      { cluster: 'c3', name: 'ws', labels: {}, annotations: {}, spec: {}, manifests: [configMap('x', {})] },
      iso(now),
    );
    assert.ok((await store.worksets.markDeleting('default', 'ws', iso(now)))?.deletionAt);
    await reconcile('ws');
    assert.ok((await work('c1'))?.deletionAt);
    assert.ok((await work('c2'))?.deletionAt);
    assert.equal((await work('c3'))?.deletionAt, null);
    assert.ok(await store.worksets.get('default', 'ws'), 'kept while its works are being deleted');
    // c1's agent confirms; c2's has not yet.
    const w1 = (await work('c1')) as WorkRow;
    await store.works.purge(w1.uid);
    controller.workStatusChanged('c1', [w1]);
    await controller.flush();
    assert.ok(await store.worksets.get('default', 'ws'));
    // A restart in between changes nothing: the deletion is in the row.
    await controller.close();
    controller = newController();
    await controller.start();
    assert.ok(await store.worksets.get('default', 'ws'));
    const w2 = (await work('c2')) as WorkRow;
    await store.works.purge(w2.uid);
    controller.workStatusChanged('c2', [w2]);
    await controller.flush();
    assert.equal(await store.worksets.get('default', 'ws'), undefined, 'gone with its last work');
    assert.equal((await work('c3'))?.deletionAt, null);
  });

  test('an unreachable cluster that leaves the decisions keeps its work until heard from', async () => {
    await addCluster('c1');
    await addCluster('c2');
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    now += 2 * leaseMs;
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, lastSeen: iso(now) });
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);
    assert.match((await status()).rollout?.message ?? '', /unreachable/);
    // Heard from again and still not selected: now its work goes.
    const c2 = (await store.clusters.get('c2')) as ClusterRow;
    await store.clusters.update({ ...c2, lastSeen: iso(now) });
    controller.clusterSeen('c2');
    await controller.flush();
    assert.deepEqual(await live(), ['c1']);
  });

  test('a returning cluster keeps its work until the placements were scheduled with it back', async () => {
    // The scheduler's view, as PlacementService.scheduledUnreachable reports it.
    const scheduledUnreachable = new Set<string>();
    await controller.close();
    controller = newController({ scheduledUnreachable: () => scheduledUnreachable });
    await addCluster('c1');
    await addCluster('c2');
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    now += 2 * leaseMs;
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, lastSeen: iso(now) });
    scheduledUnreachable.add('c2');
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);
    // c2 polls: its reconcile may run before the placement pass that would select it again.
    const c2 = (await store.clusters.get('c2')) as ClusterRow;
    await store.clusters.update({ ...c2, lastSeen: iso(now) });
    controller.clusterSeen('c2');
    await controller.flush();
    assert.deepEqual(await live(), ['c1', 'c2'], 'not deleted on decisions that predate its return');
    // The pass ran and did not select it (decisions unchanged): announced, now it goes.
    scheduledUnreachable.delete('c2');
    controller.clusterSeen('c2');
    await controller.flush();
    assert.deepEqual(await live(), ['c1']);
  });

  test('a pass that commits while a reconcile runs does not let that reconcile delete the returning cluster', async () => {
    // Replaced after each pass, never changed, as PlacementService.scheduledUnreachable is.
    let scheduled: ReadonlySet<string> = new Set();
    await controller.close();
    controller = newController({ scheduledUnreachable: () => scheduled });
    await addCluster('c1');
    await addCluster('c2');
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    const uid = (await work('c2'))?.uid;
    now += 2 * leaseMs;
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, lastSeen: iso(now) });
    scheduled = new Set(['c2']);
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);
    // c2 polls again. Its reconcile reads the decisions that leave it out; right after that
    // read, the scheduler's pass that saw c2 back commits (on PostgreSQL the two run side by side).
    const c2 = (await store.clusters.get('c2')) as ClusterRow;
    await store.clusters.update({ ...c2, lastSeen: iso(now) });
    const get = store.placements.get;
    store.placements.get = async (namespace, name) => {
      const p = await get.call(store.placements, namespace, name);
      scheduled = new Set();
      return p;
    };
    try {
      controller.clusterSeen('c2');
      await controller.flush();
    } finally {
      store.placements.get = get;
    }
    assert.deepEqual(await live(), ['c1', 'c2'], 'not deleted on decisions older than the set it was checked against');
    // The pass's decisions select c2 again: the same work, never deleted on the way.
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await reconcile('ws');
    assert.equal((await work('c2'))?.uid, uid);
    assert.equal((await work('c2'))?.deletionAt ?? undefined, undefined);
  });

  test('a placement whose scheduling failed is rolled out to but not deleted from', async () => {
    await addCluster('c1');
    await addCluster('c2');
    await setDecisions('p', [{ clusterNames: ['c1', 'c2'] }]);
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await reconcile('ws');
    await store.placements.setStatus('default', 'p', {
      numberOfSelectedClusters: 1,
      decisionGroups: [],
      decisions: [{ groupName: '', groupIndex: 0, clusterNames: ['c1'] }],
      conditions: [{ type: 'SchedulingFailed', status: 'True', reason: 'SchedulerError', message: 'x' }],
    });
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1', 'c2']);
    assert.match((await status()).rollout?.message ?? '', /scheduling failed for p/);
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await reconcile('ws');
    assert.deepEqual(await live(), ['c1']);
  });

  test('status.rollout.state names the rollout in one word', async () => {
    const state = async () => (await status('ws')).rollout?.state;
    await addCluster('c1');
    await addWorkSet('ws', { manifestWorkTemplate: template, placementRefs: [{ name: 'p' }] });
    await setDecisions('p', null);
    await reconcile('ws');
    assert.equal(await state(), 'WaitingForDecisions');
    await setDecisions('p', []);
    await reconcile('ws');
    assert.equal(await state(), 'NoClusters');
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await reconcile('ws');
    assert.equal(await state(), 'Rolling');
    await report('c1', { applied: true, available: true });
    assert.equal(await state(), 'Complete');
    const row = await store.worksets.get('default', 'ws');
    assert.ok(row);
    await store.worksets.replace({ ...row, spec: { ...(await specOf()), paused: true } }, iso(now));
    await reconcile('ws');
    assert.equal(await state(), 'Paused');
  });

  test('a cluster is not counted as soaking while offline; its soak starts over when back', async () => {
    await addCluster('c1');
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'Progressive', progressive: { minSuccessTime: '1m' } } }],
    });
    await reconcile('ws');
    await report('c1', { applied: true, available: true });
    assert.equal((await stateOf('c1'))?.state, 'Soaking');
    // Offline from T0 + 10 s (lease 1 min) until well after the soak would have ended.
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, lastSeen: iso(T0 + 10_000) });
    now = T0 + 10_000 + leaseMs + 1;
    await reconcile('ws');
    assert.equal((await stateOf('c1'))?.state, 'Progressing');
    assert.notEqual((await stateOf('c1'))?.state, 'Succeeded');
    assert.equal((await stateOf('c1'))?.offline, true, 'the status says it is offline');
    now = T0 + 5 * leaseMs;
    await store.clusters.update({ ...((await store.clusters.get('c1')) as ClusterRow), lastSeen: iso(now) });
    await reconcile('ws');
    assert.equal((await stateOf('c1'))?.state, 'Soaking', 'the soak starts over once it is back');
    assert.equal((await stateOf('c1'))?.offline, undefined);
    now += 60_000;
    await store.clusters.update({ ...((await store.clusters.get('c1')) as ClusterRow), lastSeen: iso(now) });
    await controller.runDue();
    assert.equal((await stateOf('c1'))?.state, 'Succeeded');
  });

  test('the timer is armed at the soak end and a changed template is rolled out again', async () => {
    await addCluster('c1');
    await setDecisions('p', [{ clusterNames: ['c1'] }]);
    await addWorkSet('ws', {
      manifestWorkTemplate: template,
      placementRefs: [{ name: 'p', rolloutStrategy: { type: 'Progressive', progressive: { minSuccessTime: '1m' } } }],
    });
    await reconcile('ws');
    await report('c1', { applied: true, available: true });
    assert.equal((await stateOf('c1'))?.state, 'Soaking');
    assert.ok(controller.nextWakeAt !== undefined && controller.nextWakeAt <= T0 + 60_000);
    now = T0 + 60_000;
    const c1 = (await store.clusters.get('c1')) as ClusterRow;
    await store.clusters.update({ ...c1, lastSeen: iso(now) });
    await controller.runDue();
    assert.equal((await stateOf('c1'))?.state, 'Succeeded');

    const gen = (await work('c1'))?.generation as number;
    const row = await store.worksets.get('default', 'ws');
    assert.ok(row);
    const spec = (await specOf()) as { manifestWorkTemplate: typeof template };
    spec.manifestWorkTemplate.workload.manifests = [configMap('cm', { v: '2' })];
    await store.worksets.replace({ ...row, spec }, iso(now));
    await reconcile('ws');
    assert.equal((await work('c1'))?.generation, gen + 1);
    assert.equal((await stateOf('c1'))?.state, 'Progressing');
  });

  test('a large workset is rendered once per outcome, on the render thread, and written in turns; a status report or a pause renders nothing; a cluster whose render is on its way waits alone', async () => {
    const thread = new BodyThread();
    const calls: number[] = [];
    await controller.close();
    controller = newController({
      render: (name, spec, targets) => {
        calls.push(targets.length);
        return thread.render(name, spec, targets);
      },
    });
    try {
      const clusters = Array.from({ length: 30 }, (_, i) => `c${i}`);
      for (const c of clusters) await addCluster(c);
      await setDecisions('p', [{ clusterNames: clusters }]);
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
      await store.worksets.create(
        {
          name: 'big',
          namespace: 'default',
          labels: {},
          annotations: {},
          spec: v.value.spec as unknown as Record<string, unknown>,
        },
        iso(now),
      );
      await reconcile('big');
      assert.deepEqual(await live('big'), [], 'nothing is written before the render is back');
      assert.equal((await store.worksets.get('default', 'big'))?.status, null, 'nor is a status');
      for (let i = 0; i < 500 && (await live('big')).length < clusters.length; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal((await live('big')).length, clusters.length);
      assert.deepEqual(calls, [1], 'one render: every cluster gets the same work');
      const hashes = new Set((await Promise.all(clusters.map((c) => work(c, 'big')))).map((w) => w?.contentHash));
      assert.equal(hashes.size, 1);
      assert.equal((await store.works.manifests(((await work('c7', 'big')) as WorkRow).uid)).length, 400);
      assert.equal((await stateOf('c7', 'big'))?.state, 'Progressing');

      // Status reports, label changes that select no other override, and a pause (a new
      // generation, the same template) render nothing again.
      const w = (await work('c3', 'big')) as WorkRow;
      const st = { conditions: [], observedGeneration: w.generation };
      await store.works.setStatus(w.uid, { text: JSON.stringify(st), summary: st }, 1);
      controller.workStatusChanged('c3', [w]);
      await store.clusters.update({ ...((await store.clusters.get('c5')) as ClusterRow), labels: { tier: 'a' } });
      await controller.flush();
      const bigSpec = await specOf('big');
      await store.worksets.replace(
        { name: 'big', namespace: 'default', labels: {}, annotations: {}, spec: { ...bigSpec, paused: true } },
        iso(now),
      );
      await reconcile('big');
      assert.equal(await condition('Paused', 'big'), 'True');
      await store.worksets.replace(
        { name: 'big', namespace: 'default', labels: {}, annotations: {}, spec: { ...bigSpec } },
        iso(now),
      );
      await reconcile('big');
      assert.equal(await condition('Paused', 'big'), 'False');
      assert.deepEqual(calls, [1]);

      // A cluster the override now selects needs a render of its own: it waits for it, the
      // others do not wait with it.
      const before = ((await work('c4', 'big')) as WorkRow).contentHash;
      await store.clusters.update({ ...((await store.clusters.get('c4')) as ClusterRow), labels: { tier: 'b' } });
      const w3 = (await work('c3', 'big')) as WorkRow;
      const applied = {
        conditions: [{ type: 'Applied', status: 'True' as const, reason: 'x', message: '' }],
        observedGeneration: w3.generation,
      };
      await store.works.setStatus(w3.uid, { text: JSON.stringify(applied), summary: applied }, 2);
      controller.workStatusChanged('c3', [w3]);
      await controller.flush();
      assert.equal((await work('c4', 'big'))?.contentHash, before, 'its work stands meanwhile');
      assert.equal((await status('big')).summary.applied, 1, 'the others are reported meanwhile');
      for (let i = 0; i < 500 && (await work('c4', 'big'))?.contentHash === before; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(calls, [1, 1]);
      assert.notEqual((await work('c4', 'big'))?.contentHash, before);
      assert.equal((await work('c3', 'big'))?.contentHash, before);
    } finally {
      await thread.close();
    }
  });
});
