// Placements and ManifestWorkReplicaSets on a real `outpost-hub serve`: create, get, list
// (label selector, paging), replace with optimistic concurrency, delete; OCM YAML accepted
// unchanged; validation errors with field details; read-only tokens refused on writes;
// pause and resume; placement decisions that follow cluster labels and liveness (clusters
// joined through real registration, label edits through PATCH /api/v1/clusters/{name});
// and the `placement` and `workset` CLI commands as real processes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { agentPaths } from '../../packages/shared/src/index.ts';
import {
  adminClient,
  agentClient,
  assertError,
  HubClient as Client,
  type HubClient,
  joinCluster,
  waitFor,
} from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

interface Meta {
  name: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  labels: Record<string, string>;
  namespace?: string;
  deletionTimestamp?: string;
}
interface PlacementResource {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec: Record<string, unknown>;
  status: {
    numberOfSelectedClusters: number;
    decisionGroups: { decisionGroupName: string; clusterCount: number }[];
    decisions: { groupName: string; clusterNames: string[] }[];
    conditions: { type: string; status: string }[];
  };
}
interface WorkSetResource {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec: { placementRefs: { name: string; rolloutStrategy: { type: string } }[]; paused?: boolean };
}
interface List<T> {
  items: T[];
  metadata: { continue?: string };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [hubMain, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const selected = (p: PlacementResource) => p.status.decisions.flatMap((g) => g.clusterNames).sort();
const unreachable = { key: 'outpost.dev/unreachable', operator: 'Exists' };

const ocmPlacementYaml = `apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: ocm-placement
  namespace: default
spec:
  numberOfClusters: 3
  clusterSets:
    - global
  predicates:
    - requiredClusterSelector:
        labelSelector:
          matchLabels:
            vendor: OpenShift
        claimSelector:
          matchExpressions:
            - key: region.open-cluster-management.io
              operator: In
              values:
                - us-west-1
  prioritizerPolicy:
    mode: Additive
    configurations:
      - scoreCoordinate:
          builtIn: Steady
        weight: 3
  tolerations:
    - key: cluster.open-cluster-management.io/unreachable
      operator: Exists
      tolerationSeconds: 300
  decisionStrategy:
    groupStrategy:
      clustersPerDecisionGroup: 25%
      decisionGroups:
        - groupName: canary
          groupClusterSelector:
            labelSelector:
              matchLabels:
                canary: "true"
`;

const ocmWorkSetYaml = `apiVersion: work.open-cluster-management.io/v1alpha1
kind: ManifestWorkReplicaSet
metadata:
  name: ocm-workset
  namespace: default
spec:
  placementRefs:
    - name: ocm-placement
      rolloutStrategy:
        type: Progressive
        progressive:
          maxConcurrency: 1
          minSuccessTime: 1m
          progressDeadline: 10m
          maxFailures: 2
          mandatoryDecisionGroups:
            - groupName: canary
  manifestWorkTemplate:
    deleteOption:
      propagationPolicy: SelectivelyOrphan
      selectivelyOrphans:
        orphaningRules:
          - group: ""
            resource: configmaps
            namespace: default
            name: cm-1
    manifestConfigs:
      - resourceIdentifier:
          group: ""
          resource: configmaps
          namespace: default
          name: cm-1
        feedbackRules:
          - type: JSONPaths
            jsonPaths:
              - name: a
                path: .data.a
    workload:
      manifests:
        - apiVersion: v1
          kind: ConfigMap
          metadata:
            name: cm-1
            namespace: default
          data:
            a: b
`;

const workSet = (name: string, placement: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'ManifestWorkReplicaSet',
  metadata: { name, labels: { suite: 'ws' } },
  spec: {
    placementRefs: [{ name: placement, rolloutStrategy: { type: 'All' } }],
    manifestWorkTemplate: {
      workload: {
        manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' } }],
      },
    },
    ...extra,
  },
});

describe('placement and workset API', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  const clients: HubClient[] = [];

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    clients.push(admin);
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await hub?.stop();
  });

  test('Placement: create, get, list with selector and paging, stale replace 409, replace, delete', async () => {
    const body = (name: string, labels: Record<string, string> = { suite: 'crud' }) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: { name, labels },
      spec: { numberOfClusters: 2 },
    });
    const created = await admin.post<PlacementResource>('/api/v1/placements', body('crud-a'));
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.kind, 'Placement');
    assert.equal(created.body.metadata.generation, 1);
    assert.ok(created.body.metadata.uid);
    // Scheduled before the answer: the status is there (no clusters yet: not satisfied).
    assert.equal(created.body.status.numberOfSelectedClusters, 0);
    assert.equal(created.body.status.conditions.find((c) => c.type === 'PlacementSatisfied')?.status, 'False');
    assertError(await admin.post('/api/v1/placements', body('crud-a')), 409, 'PLACEMENT_EXISTS');
    for (const n of ['crud-b', 'crud-c']) assert.equal((await admin.post('/api/v1/placements', body(n))).status, 201);
    assert.equal((await admin.post('/api/v1/placements', body('other', { suite: 'x' }))).status, 201);

    const got = await admin.get<PlacementResource>('/api/v1/placements/crud-a');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.spec.numberOfClusters, 2);

    const page1 = await admin.get<List<PlacementResource>>('/api/v1/placements?labelSelector=suite%3Dcrud&limit=2');
    assert.equal(page1.status, 200, page1.text);
    assert.deepEqual(
      page1.body.items.map((p) => p.metadata.name),
      ['crud-a', 'crud-b'],
    );
    assert.ok(page1.body.metadata.continue);
    const page2 = await admin.get<List<PlacementResource>>(
      `/api/v1/placements?labelSelector=suite%3Dcrud&limit=2&continue=${page1.body.metadata.continue}`,
    );
    assert.deepEqual(
      page2.body.items.map((p) => p.metadata.name),
      ['crud-c'],
    );
    assert.equal(page2.body.metadata.continue, undefined);
    assertError(await admin.get('/api/v1/placements?labelSelector=%3D%3D'), 400, 'VALIDATION_FAILED');

    const rv = got.body.metadata.resourceVersion;
    const replaced = await admin.call<PlacementResource>('PUT', '/api/v1/placements/crud-a', {
      json: { ...body('crud-a'), metadata: { name: 'crud-a', resourceVersion: rv }, spec: { numberOfClusters: 1 } },
    });
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(replaced.body.metadata.generation, 2);
    assert.notEqual(replaced.body.metadata.resourceVersion, rv);
    const stale = await admin.call('PUT', '/api/v1/placements/crud-a', {
      json: { ...body('crud-a'), metadata: { name: 'crud-a', resourceVersion: rv } },
    });
    assertError(stale, 409, 'CONFLICT');
    assert.equal(
      (stale.body as { details: { currentResourceVersion: string } }).details.currentResourceVersion,
      replaced.body.metadata.resourceVersion,
    );
    assertError(
      await admin.call('PUT', '/api/v1/placements/crud-a', { json: body('crud-b') }),
      400,
      'PLACEMENT_INVALID',
      'name differs from the path',
    );
    assertError(
      await admin.call('PUT', '/api/v1/placements/nope', {
        json: { metadata: { name: 'nope', resourceVersion: '3' }, spec: {} },
      }),
      404,
      'PLACEMENT_NOT_FOUND',
    );

    const deleted = await admin.delete<PlacementResource>('/api/v1/placements/crud-a');
    assert.equal(deleted.status, 200, deleted.text);
    assertError(await admin.get('/api/v1/placements/crud-a'), 404, 'PLACEMENT_NOT_FOUND');
    assertError(await admin.delete('/api/v1/placements/crud-a'), 404, 'PLACEMENT_NOT_FOUND');
  });

  test('OCM Placement and ManifestWorkReplicaSet YAML are accepted unchanged', async () => {
    const p = await admin.call<PlacementResource>('POST', '/api/v1/placements', {
      raw: ocmPlacementYaml,
      contentType: 'application/yaml',
    });
    assert.equal(p.status, 201, p.text);
    assert.equal(p.body.apiVersion, 'outpost.dev/v1alpha1');
    assert.equal(p.body.metadata.name, 'ocm-placement');
    assert.equal(p.body.metadata.namespace, 'default', 'the OCM namespace is kept');
    // The same document again through PUT (what `placement apply` sends) changes nothing.
    const again = await admin.call<PlacementResource>('PUT', '/api/v1/placements/ocm-placement', {
      raw: ocmPlacementYaml,
      contentType: 'application/yaml',
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers['x-outpost-changed'], 'false');

    const w = await admin.call<WorkSetResource>('POST', '/api/v1/manifestworkreplicasets', {
      raw: ocmWorkSetYaml,
      contentType: 'application/yaml',
    });
    assert.equal(w.status, 201, w.text);
    assert.equal(w.body.kind, 'ManifestWorkReplicaSet');
    assert.equal(w.body.spec.placementRefs[0]?.rolloutStrategy.type, 'Progressive');
    // Both collection paths name the same objects.
    assert.equal((await admin.get('/api/v1/worksets/ocm-workset')).status, 200);
    assert.equal((await admin.get('/api/v1/manifestworkreplicasets/ocm-workset')).status, 200);
  });

  test('namespaces: one name in two namespaces is two objects; paths without a namespace find the only one or say NAME_AMBIGUOUS; a workset reads placements of its own namespace only', async () => {
    const placement = (namespace: string | undefined, n: number) => ({
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'ns-shared', ...(namespace ? { namespace } : {}) },
      spec: { numberOfClusters: n },
    });
    const a = await admin.call<PlacementResource>('PUT', '/api/v1/placements/ns-shared', {
      json: placement('team-a', 1),
    });
    assert.equal(a.status, 201, a.text);
    assert.equal(a.body.metadata.namespace, 'team-a');
    // While one namespace holds the name, the path without a namespace finds it.
    assert.equal(
      (await admin.get<PlacementResource>('/api/v1/placements/ns-shared')).body.metadata.namespace,
      'team-a',
    );
    // The same name in team-b is another object (PUT by the body's namespace, POST by the path's).
    const b = await admin.call<PlacementResource>('PUT', '/api/v1/placements/ns-shared', {
      json: placement('team-b', 5),
    });
    assert.equal(b.status, 201, b.text);
    const c = await admin.post<PlacementResource>('/api/v1/namespaces/team-c/placements', placement(undefined, 2));
    assert.equal(c.status, 201, c.text);
    assert.equal(c.body.metadata.namespace, 'team-c');
    const teamA = await admin.get<PlacementResource>('/api/v1/namespaces/team-a/placements/ns-shared');
    assert.deepEqual([teamA.body.spec.numberOfClusters, teamA.body.metadata.generation], [1, 1], 'team-a untouched');
    assert.equal(
      (await admin.get<PlacementResource>('/api/v1/namespaces/team-b/placements/ns-shared')).body.spec.numberOfClusters,
      5,
    );
    const ambiguous = await admin.get('/api/v1/placements/ns-shared');
    assertError(ambiguous, 409, 'NAME_AMBIGUOUS', 'team-a, team-b, team-c');
    assert.deepEqual((ambiguous.body as { details: unknown }).details, { namespaces: ['team-a', 'team-b', 'team-c'] });
    // A body may repeat the path's namespace but not contradict it.
    assertError(
      await admin.call('PUT', '/api/v1/namespaces/team-a/placements/ns-shared', { json: placement('team-b', 3) }),
      400,
      'VALIDATION_FAILED',
      'differs from the namespace in the path',
    );
    // A continue token of another list is refused, not read as "from the start".
    assertError(
      await admin.get('/api/v1/namespaces/team-b/placements?continue=team-a/ns-shared'),
      400,
      'VALIDATION_FAILED',
      'continue',
    );
    const listed = await admin.get<List<PlacementResource>>('/api/v1/namespaces/team-b/placements');
    assert.deepEqual(
      listed.body.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      ['team-b/ns-shared'],
    );
    const plain = await admin.post<PlacementResource>('/api/v1/placements', {
      metadata: { name: 'ns-plain' },
      spec: {},
    });
    assert.equal(plain.body.metadata.namespace, 'default');
    assertError(
      await admin.post('/api/v1/placements', { metadata: { name: 'ns-bad', namespace: 'Team_A' }, spec: {} }),
      400,
      'PLACEMENT_INVALID',
      'metadata.namespace',
    );
    const decisions = await admin.get<List<{ metadata: { name: string; namespace: string } }>>(
      '/api/v1/namespaces/team-a/placementdecisions',
    );
    assert.ok(decisions.body.items.every((d) => d.metadata.namespace === 'team-a'));

    // Worksets: the same rule, and a placementRef names a placement of the workset's namespace.
    const workset = (namespace: string, name = 'ns-set', ref = 'ns-shared') => ({
      apiVersion: 'work.open-cluster-management.io/v1alpha1',
      kind: 'ManifestWorkReplicaSet',
      metadata: { name, namespace },
      spec: {
        placementRefs: [{ name: ref }],
        manifestWorkTemplate: {
          workload: {
            manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' } }],
          },
        },
      },
    });
    assert.equal((await admin.call('PUT', '/api/v1/worksets/ns-set', { json: workset('team-a') })).status, 201);
    assert.equal((await admin.call('PUT', '/api/v1/worksets/ns-set', { json: workset('team-b') })).status, 201);
    assertError(await admin.get('/api/v1/worksets/ns-set'), 409, 'NAME_AMBIGUOUS');
    assert.equal(
      (await admin.call('PUT', '/api/v1/namespaces/team-d/worksets/ns-other', { json: workset('team-d', 'ns-other') }))
        .status,
      201,
    );
    const conditionOf = async (namespace: string, name: string) =>
      waitFor(`${namespace}/${name} has a status`, async () => {
        const w = await admin.get<
          WorkSetResource & {
            status?: { conditions: { type: string; status: string; reason: string; message: string }[] };
          }
        >(`/api/v1/namespaces/${namespace}/manifestworkreplicasets/${name}`);
        return w.body.status?.conditions.find((c) => c.type === 'PlacementVerified');
      });
    // (Whether the placement selects any cluster here depends on the clusters of earlier tests.)
    assert.notEqual(
      (await conditionOf('team-a', 'ns-set'))?.reason,
      'PlacementDecisionNotFound',
      "team-a reads team-a's placement",
    );
    const other = await conditionOf('team-d', 'ns-other');
    assert.equal(
      other?.reason,
      'PlacementDecisionNotFound',
      "team-d's workset does not read the other namespaces' placement",
    );
    assert.match(other?.message ?? '', /ns-shared \(in namespace team-a, team-b, team-c, not team-d\)/);
    for (const path of [
      '/api/v1/namespaces/team-a/worksets/ns-set',
      '/api/v1/namespaces/team-b/manifestworkreplicasets/ns-set',
      '/api/v1/worksets/ns-other',
      '/api/v1/namespaces/team-a/placements/ns-shared',
      '/api/v1/namespaces/team-b/placements/ns-shared',
      '/api/v1/namespaces/team-c/placements/ns-shared',
      '/api/v1/placements/ns-plain',
    ])
      assert.equal((await admin.delete(path)).status, 200, path);
  });

  test('invalid input: 400 PLACEMENT_INVALID / WORKSET_INVALID with field details', async () => {
    const bad = await admin.post<{ details: { field: string; message: string }[] }>('/api/v1/placements', {
      metadata: { name: 'bad' },
      spec: { tolerations: [{ key: 'x', operator: 'Sometimes' }], numberOfClusters: -1 },
    });
    assertError(bad, 400, 'PLACEMENT_INVALID');
    const fields = bad.body.details.map((d) => d.field);
    assert.ok(fields.includes('spec.tolerations[0].operator'), JSON.stringify(fields));
    assert.ok(fields.includes('spec.numberOfClusters'), JSON.stringify(fields));
    assertError(await admin.get('/api/v1/placements/bad'), 404, 'PLACEMENT_NOT_FOUND');

    const badSet = await admin.post<{ details: { field: string }[] }>('/api/v1/worksets', {
      metadata: { name: 'bad' },
      spec: { placementRefs: [], manifestWorkTemplate: { workload: { manifests: [{ kind: 'ConfigMap' }] } } },
    });
    assertError(badSet, 400, 'WORKSET_INVALID');
    const setFields = badSet.body.details.map((d) => d.field);
    assert.ok(setFields.includes('spec.placementRefs'), JSON.stringify(setFields));
    assert.ok(
      setFields.includes('spec.manifestWorkTemplate.workload.manifests[0].apiVersion'),
      JSON.stringify(setFields),
    );
    assertError(
      await admin.call('POST', '/api/v1/placements', { raw: 'spec: [unclosed', contentType: 'application/yaml' }),
      400,
      'BODY_MALFORMED',
    );
  });

  test('ManifestWorkReplicaSet: create, list, stale replace 409, pause and resume, delete, on both paths', async () => {
    const created = await admin.post<WorkSetResource>('/api/v1/manifestworkreplicasets', workSet('ws-a', 'p1'));
    assert.equal(created.status, 201, created.text);
    assertError(await admin.post('/api/v1/worksets', workSet('ws-a', 'p1')), 409, 'WORKSET_EXISTS');
    assert.equal((await admin.post('/api/v1/worksets', workSet('ws-b', 'p2'))).status, 201);
    const list = await admin.get<List<WorkSetResource>>('/api/v1/worksets?labelSelector=suite%3Dws');
    assert.deepEqual(
      list.body.items.map((w) => w.metadata.name),
      ['ws-a', 'ws-b'],
    );

    const rv = created.body.metadata.resourceVersion;
    const paused = await admin.post<WorkSetResource>('/api/v1/worksets/ws-a/pause');
    assert.equal(paused.status, 200, paused.text);
    assert.equal(paused.body.spec.paused, true);
    assert.notEqual(paused.body.metadata.resourceVersion, rv, 'pausing bumps the resourceVersion');
    assertError(
      await admin.call('PUT', '/api/v1/worksets/ws-a', {
        json: { ...workSet('ws-a', 'p9'), metadata: { name: 'ws-a', resourceVersion: rv } },
      }),
      409,
      'CONFLICT',
    );
    const resumed = await admin.post<WorkSetResource>('/api/v1/manifestworkreplicasets/ws-a/resume');
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.body.spec.paused, undefined);
    // The controller writes the workset's status (which bumps the resourceVersion, as in
    // Kubernetes) as soon as it is resumed: a replace follows the error's advice and reads
    // again on a conflict, a bounded number of times.
    let version = resumed.body.metadata.resourceVersion;
    let replaced = await admin.call<WorkSetResource>('PUT', '/api/v1/manifestworkreplicasets/ws-a', {
      json: { ...workSet('ws-a', 'p9'), metadata: { name: 'ws-a', resourceVersion: version } },
    });
    for (let attempt = 0; replaced.status === 409 && attempt < 5; attempt++) {
      assertError(replaced, 409, 'CONFLICT');
      version = (await admin.get<WorkSetResource>('/api/v1/worksets/ws-a')).body.metadata.resourceVersion;
      replaced = await admin.call<WorkSetResource>('PUT', '/api/v1/manifestworkreplicasets/ws-a', {
        json: { ...workSet('ws-a', 'p9'), metadata: { name: 'ws-a', resourceVersion: version } },
      });
    }
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(replaced.body.spec.placementRefs[0]?.name, 'p9');
    assertError(await admin.post('/api/v1/worksets/nope/pause'), 404, 'WORKSET_NOT_FOUND');

    assert.equal((await admin.delete('/api/v1/worksets/ws-a')).status, 200);
    assertError(await admin.get('/api/v1/manifestworkreplicasets/ws-a'), 404, 'WORKSET_NOT_FOUND');
  });

  test('cascadeDeletionPolicy Foreground: DELETE marks the workset; it goes once its works are gone', async () => {
    const created = await admin.post(
      '/api/v1/worksets',
      workSet('ws-fg', 'p1', { cascadeDeletionPolicy: 'Foreground' }),
    );
    assert.equal(created.status, 201, created.text);
    const del = await admin.delete<WorkSetResource>('/api/v1/worksets/ws-fg');
    assert.equal(del.status, 200, del.text);
    assert.ok(del.body.metadata.deletionTimestamp, 'shown as being deleted');
    // While being deleted it cannot be changed; once its (here: no) works are gone it is gone.
    // (The controller may already have removed it: with a resourceVersion that is a 404.)
    const put = await admin.call('PUT', '/api/v1/worksets/ws-fg', {
      json: {
        ...workSet('ws-fg', 'p2'),
        metadata: { name: 'ws-fg', resourceVersion: del.body.metadata.resourceVersion },
      },
    });
    if (put.status === 404) assertError(put, 404, 'WORKSET_NOT_FOUND');
    else assertError(put, 409, 'WORKSET_DELETING');
    await waitFor(
      'ws-fg gone',
      async () => ((await admin.get('/api/v1/worksets/ws-fg')).status === 404 ? true : undefined),
      10_000,
    );
  });

  test('a read-only token reads placements and worksets but every write is 403', async () => {
    const t = await admin.post<{ status: { token: string } }>('/api/v1/apitokens', {
      name: 'placement-reader',
      scope: 'read-only',
    });
    assert.equal(t.status, 201, t.text);
    const ro = new Client(hub.url, { ca: hub.caCertPem, token: t.body.status.token });
    clients.push(ro);
    assert.equal((await ro.get('/api/v1/placements')).status, 200);
    assert.equal((await ro.get('/api/v1/worksets')).status, 200);
    const writes = [
      () => ro.post('/api/v1/placements', { metadata: { name: 'ro' }, spec: {} }),
      () => ro.call('PUT', '/api/v1/placements/ro', { json: { metadata: { name: 'ro' }, spec: {} } }),
      () => ro.delete('/api/v1/placements/ocm-placement'),
      () => ro.post('/api/v1/worksets', workSet('ro', 'p1')),
      () => ro.post('/api/v1/manifestworkreplicasets', workSet('ro', 'p1')),
      () => ro.post('/api/v1/worksets/ocm-workset/pause'),
      () => ro.delete('/api/v1/worksets/ocm-workset'),
    ];
    for (const w of writes) assertError(await w(), 403, 'AUTH_FORBIDDEN');
    assertError(await admin.get('/api/v1/placements/ro'), 404, 'PLACEMENT_NOT_FOUND');
    assert.equal((await admin.get('/api/v1/placements/ocm-placement')).status, 200);
    assert.equal((await admin.get<WorkSetResource>('/api/v1/worksets/ocm-workset')).body.spec.paused, undefined);
  });

  test('decisions follow cluster labels and liveness', async () => {
    const a = await joinCluster(hub, admin, 'pl-a', { labels: { tier: 'edge' } });
    await joinCluster(hub, admin, 'pl-b', { labels: { tier: 'core' } });
    const edge = {
      metadata: { name: 'edge' },
      spec: {
        predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { tier: 'edge' } } } }],
        // These clusters run no agent: they are unreachable from the start.
        tolerations: [unreachable],
      },
    };
    const created = await admin.post<PlacementResource>('/api/v1/placements', edge);
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(selected(created.body), ['pl-a']);
    assert.equal(created.body.status.conditions.find((c) => c.type === 'PlacementSatisfied')?.status, 'True');

    const decisions = (name: string, want: string[]) =>
      waitFor(`${name} to select ${want.join(',') || 'nothing'}`, async () => {
        const p = await admin.get<PlacementResource>(`/api/v1/placements/${name}`);
        return JSON.stringify(selected(p.body)) === JSON.stringify(want) ? p.body : undefined;
      });

    const relabel = await admin.patch('/api/v1/clusters/pl-b', { metadata: { labels: { tier: 'edge' } } });
    assert.equal(relabel.status, 200, relabel.text);
    await decisions('edge', ['pl-a', 'pl-b']);
    assert.equal((await admin.patch('/api/v1/clusters/pl-a', { metadata: { labels: { tier: null } } })).status, 200);
    await decisions('edge', ['pl-b']);

    // Without the toleration nothing is selected until a cluster is heard from.
    const strict = await admin.post<PlacementResource>('/api/v1/placements', {
      metadata: { name: 'edge-strict' },
      spec: {
        predicates: [
          { requiredClusterSelector: { labelSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } } },
        ],
      },
    });
    assert.equal(strict.status, 201, strict.text);
    assert.deepEqual(selected(strict.body), []);
    const agent = agentClient(hub, a);
    clients.push(agent);
    assert.equal((await agent.post(agentPaths.heartbeat('pl-a'), {})).status, 200);
    assert.equal((await admin.patch('/api/v1/clusters/pl-a', { metadata: { labels: { tier: 'edge' } } })).status, 200);
    await decisions('edge-strict', ['pl-a']);

    // A removed cluster leaves the decisions.
    assert.equal((await admin.delete('/api/v1/clusters/pl-b?force=true')).status, 200);
    await decisions('edge', ['pl-a']);
  });

  describe('admin CLI as a real process', () => {
    const conn = () => ['--data-dir', hub.dataDir, '--hub', hub.url];
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'outpost-placement-cli-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    test('placement apply -f (multi-document), list, get, delete', async () => {
      const file = join(dir, 'placements.yaml');
      await writeFile(
        file,
        `${ocmPlacementYaml.replaceAll('ocm-placement', 'cli-one')}---\napiVersion: outpost.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: cli-two\nspec:\n  tolerations:\n    - key: outpost.dev/unreachable\n      operator: Exists\n`,
      );
      const first = await cli(['placement', 'apply', '-f', file, ...conn()]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, 'placement cli-one created\nplacement cli-two created\n');
      const again = await cli(['placement', 'apply', '-f', file, ...conn()]);
      assert.equal(again.stdout, 'placement cli-one unchanged\nplacement cli-two unchanged\n');

      const list = await cli(['placement', 'list', ...conn()]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^NAMESPACE\s+NAME\s+SELECTED\s+GROUPS\s+SATISFIED\s+AGE\n/);
      assert.match(list.stdout, /\ndefault\s+cli-two\s+1\s+1\s+True\s+\d+s\n/);
      const got = JSON.parse((await cli(['placement', 'get', 'cli-two', '-o', 'json', ...conn()])).stdout);
      assert.deepEqual(got.status.decisions[0].clusterNames, ['pl-a']);
      // Without -o, described as kubectl describes: selection, decisions by group, conditions.
      const described = (await cli(['placement', 'get', 'cli-two', ...conn()])).stdout;
      assert.match(described, /^name: {9}cli-two\nnamespace: {4}default\n/);
      assert.match(described, /\ntolerations: {2}outpost\.dev\/unreachable\n/);
      assert.match(described, /\nGROUP\s+CLUSTERS\n#0\s+pl-a\n/);
      assert.match(described, /\nCONDITION\s+STATUS\s+REASON\s+SINCE\s+MESSAGE\n/);
      assert.match(described, /\nPlacementSatisfied\s+True\s+AllDecisionsScheduled\s+\d+s\s+1 cluster selected\n/);
      // The same decisions as OCM PlacementDecision objects, found by OCM's label.
      const pds = await admin.get<{ items: { metadata: { name: string }; status: { decisions: unknown[] } }[] }>(
        '/api/v1/placementdecisions?labelSelector=cluster.open-cluster-management.io/placement%3Dcli-two',
      );
      assert.equal(pds.status, 200, pds.text);
      assert.deepEqual(
        pds.body.items.map((d) => [d.metadata.name, d.status.decisions]),
        [['cli-two-decision-1', [{ clusterName: 'pl-a', reason: '' }]]],
      );
      assert.equal((await admin.get('/api/v1/placementdecisions/cli-two-decision-1')).status, 200);
      assert.equal((await admin.get('/api/v1/placementdecisions/cli-two-decision-9')).status, 404);

      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, 'kind: Placement\nmetadata:\n  name: cli-bad\nspec:\n  numberOfClusters: many\n');
      const refused = await cli(['placement', 'apply', '-f', bad, ...conn()]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /PLACEMENT_INVALID/);
      assert.match(refused.stderr, /spec\.numberOfClusters/);

      const del = await cli(['placement', 'delete', 'cli-one', ...conn()]);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(del.stdout, 'placement cli-one deleted\n');
      const missing = await cli(['placement', 'get', 'cli-one', ...conn()]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /PLACEMENT_NOT_FOUND/);
    });

    test('workset apply -f, list, pause, resume, get, delete', async () => {
      const file = join(dir, 'workset.yaml');
      await writeFile(file, ocmWorkSetYaml.replaceAll('ocm-workset', 'cli-ws'));
      const applied = await cli(['workset', 'apply', '-f', file, ...conn()]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(applied.stdout, 'manifestworkreplicaset cli-ws created\n');

      assert.equal(
        (await cli(['workset', 'pause', 'cli-ws', ...conn()])).stdout,
        'manifestworkreplicaset cli-ws paused\n',
      );
      const list = await cli(['workset', 'list', ...conn()]);
      assert.match(list.stdout, /^NAMESPACE\s+NAME\s+PLACEMENTS\s+PAUSED\s+AGE\n/);
      assert.match(list.stdout, /\ndefault\s+cli-ws\s+ocm-placement\s+true\s+\d+s\n/);
      assert.equal((await cli(['workset', 'resume', 'cli-ws', ...conn()])).code, 0);
      const got = JSON.parse((await cli(['workset', 'get', 'cli-ws', '-o', 'json', ...conn()])).stdout);
      assert.equal(got.spec.paused, undefined);
      const described = (await cli(['workset', 'get', 'cli-ws', ...conn()])).stdout;
      assert.match(described, /^name: {9}cli-ws\nnamespace: {4}default\n/);
      assert.match(described, /\nplacements: {3}ocm-placement \(Progressive\)\n/);
      assert.match(described, /\npaused: {7}false\n/);
      assert.match(described, /\nCONDITION\s+STATUS\s+REASON\s+SINCE\s+MESSAGE\n/);
      const yaml = await cli(['workset', 'get', 'cli-ws', '-o', 'yaml', ...conn()]);
      assert.match(yaml.stdout, /^apiVersion: outpost.dev\/v1alpha1\nkind: ManifestWorkReplicaSet\n/);
      assert.equal((await cli(['workset', 'delete', 'cli-ws', ...conn()])).code, 0);
      assertError(await admin.get('/api/v1/worksets/cli-ws'), 404, 'WORKSET_NOT_FOUND');
    });

    test('apply -f and delete -f route each document by its kind; kinds Outpost does not keep are refused by name', async () => {
      await joinCluster(hub, admin, 'cli-all');
      const file = join(dir, 'everything.yaml');
      const work = [
        'apiVersion: work.open-cluster-management.io/v1',
        'kind: ManifestWork',
        'metadata:',
        '  name: cli-work',
        '  namespace: cli-all',
        'spec:',
        '  workload:',
        '    manifests:',
        '      - apiVersion: v1',
        '        kind: ConfigMap',
        '        metadata: {name: cli-cm, namespace: default}',
      ].join('\n');
      await writeFile(
        file,
        [
          ocmPlacementYaml.replaceAll('ocm-placement', 'cli-all-p'),
          ocmWorkSetYaml.replaceAll('ocm-workset', 'cli-all-ws').replaceAll('ocm-placement', 'cli-all-p'),
          work,
        ].join('\n---\n'),
      );
      const applied = await cli(['apply', '-f', file, ...conn()]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(
        applied.stdout,
        'placement cli-all-p created\nmanifestworkreplicaset cli-all-ws created\nmanifestwork cli-all/cli-work created\n',
      );
      assert.equal(
        (await cli(['apply', '-f', file, ...conn()])).stdout,
        'placement cli-all-p unchanged\nmanifestworkreplicaset cli-all-ws unchanged\nmanifestwork cli-all/cli-work unchanged\n',
      );
      assert.equal((await admin.get('/api/v1/clusters/cli-all/works/cli-work')).status, 200);
      const shown = (await cli(['work', 'get', 'cli-work', '--cluster', 'cli-all', ...conn()])).stdout;
      assert.match(shown, /^name: {9}cli-work\ncluster: {6}cli-all\n/);
      assert.match(shown, /\ngeneration: {3}1 \(the agent reported none yet\)\n/);
      assert.match(
        shown,
        /\n#\s+KIND\s+NAME\s+APPLIED\s+AVAILABLE\s+MESSAGE\n0\s+ConfigMap\s+default\/cli-cm\s+-\s+-\s+-\n/,
      );

      // A noun's own apply takes its kind only; an OCM kind Outpost does not keep is refused by name.
      const wrong = await cli(['placement', 'apply', '-f', file, ...conn()]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /a ManifestWorkReplicaSet given to `placement`: use `outpost-hub apply -f`/);
      const scores = join(dir, 'scores.yaml');
      await writeFile(
        scores,
        'apiVersion: cluster.open-cluster-management.io/v1alpha1\nkind: AddOnPlacementScore\nmetadata:\n  name: prod\n',
      );
      const refused = await cli(['apply', '-f', scores, ...conn()]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /kind AddOnPlacementScore is not supported: Outpost has no add-on scores/);

      const deleted = await cli(['delete', '-f', file, ...conn()]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(
        deleted.stdout,
        'placement cli-all-p deleted\nmanifestworkreplicaset cli-all-ws deleted\nmanifestwork cli-all/cli-work deletion requested\n',
      );
      assertError(await admin.get('/api/v1/placements/cli-all-p'), 404, 'PLACEMENT_NOT_FOUND');
      const again = await cli(['delete', '-f', file, ...conn()]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /PLACEMENT_NOT_FOUND/);
      // The work may still be there (its agent deletes it); the rest is gone and not missed.
      assert.equal((await cli(['delete', '-f', file, '--ignore-not-found', ...conn()])).code, 0);
      const help = await cli(['apply', '--help']);
      assert.match(help.stdout, /^Usage: outpost-hub apply -f FILE\|DIR\|- \[--cluster NAME\]/);
      assert.match((await cli(['--help'])).stdout, /\n {2}apply {14}create or update objects of any kind/);
    });

    test('--help for the nouns and their verbs', async () => {
      for (const noun of ['placement', 'workset']) {
        const help = await cli([noun, '--help']);
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, new RegExp(`Usage: outpost-hub ${noun} <verb>`));
        for (const verb of ['apply', 'get', 'list', 'delete']) assert.match(help.stdout, new RegExp(`\\n  ${verb} `));
      }
      assert.match((await cli(['workset', '--help'])).stdout, /\n {2}pause .*\n {2}resume /);
      const apply = await cli(['placement', 'apply', '--help']);
      assert.equal(apply.code, 0);
      assert.match(apply.stdout, /^Usage: outpost-hub placement apply -f FILE\|DIR\|-/);
      const top = await cli(['--help']);
      assert.match(top.stdout, /placement apply/);
      assert.match(top.stdout, /workset pause/);
    });
  });
});
