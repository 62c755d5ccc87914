// Operator-style manifest sets end to end (real hub, real agent, real kube-apiserver): CRDs
// with their custom resources, RBAC and a Deployment, delivered as one work and split over
// several works in any order; and a work with a Namespace deleted and applied again right
// away. The test cluster runs no controllers, so the test does the namespace controller's
// part (it finalizes a Terminating Namespace once it is empty), as a real cluster would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { type HubClient, waitFor, waitWorkApplied } from './hub-client.ts';
import type { HubProcess } from './hub-process.ts';
import { type JoinedSpoke, startJoinedSpoke } from './spoke.ts';

const cluster = 'spoke-ops';
const oneGroup = 'ops.e2e.outpost.dev';
const splitGroup = 'split.e2e.outpost.dev';

/** A CRD with a schema of `fields` properties (operators ship schemas of this kind, large). */
const crd = (group: string, plural: string, kind: string, fields: number) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: Object.fromEntries(
                  Array.from({ length: fields }, (_, i) => [
                    `field${i}`,
                    {
                      type: 'string',
                      description: `Field ${i} of ${kind}. ${'Lorem ipsum dolor sit amet. '.repeat(3)}`,
                    },
                  ]),
                ),
              },
            },
          },
        },
      },
    ],
  },
});
const kinds = [
  { plural: 'alertmanagers', kind: 'Alertmanager' },
  { plural: 'probers', kind: 'Prober' },
  { plural: 'scrapeconfigs', kind: 'ScrapeConfig' },
];
const crds = (group: string) => kinds.map((k) => crd(group, k.plural, k.kind, 400));
const customResources = (group: string, ns: string) =>
  kinds.flatMap((k) =>
    [1, 2].map((i) => ({
      apiVersion: `${group}/v1`,
      kind: k.kind,
      metadata: { name: `${k.kind.toLowerCase()}-${i}`, namespace: ns },
      spec: { field0: 'a', field1: String(i) },
    })),
  );
const rbac = (group: string, ns: string) => [
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ops-operator', namespace: ns } },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: `ops-operator-${ns}` },
    rules: [{ apiGroups: [group], resources: kinds.map((k) => k.plural), verbs: ['get', 'list', 'watch'] }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `ops-operator-${ns}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `ops-operator-${ns}` },
    subjects: [{ kind: 'ServiceAccount', name: 'ops-operator', namespace: ns }],
  },
];
const deployment = (ns: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'ops-operator', namespace: ns },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'ops-operator' } },
    template: {
      metadata: { labels: { app: 'ops-operator' } },
      spec: { serviceAccountName: 'ops-operator', containers: [{ name: 'operator', image: 'example.invalid/op:1' }] },
    },
  },
});
const namespace = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const work = (name: string, manifests: unknown[]) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name, namespace: cluster },
  spec: { workload: { manifests } },
});

interface WorkView {
  metadata: { generation: number };
  status: { conditions?: { type: string; status: string; message: string }[]; observedGeneration?: number };
}

describe('operator-style sets (real hub, real agent, real kube-apiserver)', { timeout: 300_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let spoke: JoinedSpoke;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let rbacApi: RbacAuthorizationV1Api;

  before(async () => {
    spoke = await startJoinedSpoke(cluster);
    ({ kube, hub, admin } = spoke);
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    custom = kube.kubeConfig().makeApiClient(CustomObjectsApi);
    rbacApi = kube.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  });

  after(async () => {
    await spoke?.stop();
  });

  const path = (name: string) => `/api/v1/clusters/${cluster}/works/${name}`;
  const put = async (w: ReturnType<typeof work>) => {
    const res = await admin.call('PUT', path(w.metadata.name), { json: w });
    assert.ok(res.status === 200 || res.status === 201, res.text);
    return res.body as WorkView;
  };
  const applied = (name: string, generation: number) => waitWorkApplied(admin, cluster, name, generation, 60_000);
  const countCustom = async (group: string, ns: string) => {
    let n = 0;
    for (const k of kinds) {
      const list = (await custom.listNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns,
        plural: k.plural,
      })) as {
        items: unknown[];
      };
      n += list.items.length;
    }
    return n;
  };

  test('the whole set as one work: CRDs first, their custom resources once Established, everything Applied', async () => {
    const ns = 'ops-one';
    const w = await put(
      work('ops-one', [
        ...customResources(oneGroup, ns),
        deployment(ns),
        ...rbac(oneGroup, ns),
        ...crds(oneGroup),
        namespace(ns),
      ]),
    );
    await applied('ops-one', w.metadata.generation);
    assert.equal(await countCustom(oneGroup, ns), 6);
    assert.ok(await rbacApi.readClusterRoleBinding({ name: `ops-operator-${ns}` }));
  });

  test('the set split over several works, custom resources before their CRDs: applied as soon as the CRDs are', async (t) => {
    const ns = 'ops-split';
    // The custom resources' work arrives first; their kinds are not served yet.
    const crs = await put(work('ops-crs', [namespace(ns), ...customResources(splitGroup, ns)]));
    await waitFor(
      'the custom resources reported as not served yet',
      async () => {
        const v = (await admin.get<WorkView>(path('ops-crs'))).body;
        return v.status.observedGeneration === crs.metadata.generation ? v : undefined;
      },
      30_000,
    );
    const app = await put(work('ops-app', [namespace(ns), ...rbac(splitGroup, ns), deployment(ns)]));
    // The CRDs last, as a separate work, the way operator charts are often split.
    const defs = await put(work('ops-crds', crds(splitGroup)));
    await applied('ops-crds', defs.metadata.generation);
    await applied('ops-app', app.metadata.generation);
    const started = Date.now();
    await applied('ops-crs', crs.metadata.generation);
    t.diagnostic(`custom resources Applied ${Date.now() - started} ms after the CRD work`);
    assert.equal(await countCustom(splitGroup, ns), 6);
  });

  test('a work with a Namespace, deleted and applied again right away: done as soon as the Namespace is gone', async (t) => {
    const ns = 'ops-cycle';
    const w = work('ops-cycle', [
      namespace(ns),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: ns } },
    ]);
    await applied('ops-cycle', (await put(w)).metadata.generation);
    const startedAt = Date.now();
    const res = await admin.delete(path('ops-cycle'));
    assert.ok(res.status < 300, res.text);
    // The namespace controller's part: once the Namespace is Terminating and empty, finalize it.
    const terminating = await waitFor(
      `Namespace ${ns} Terminating and empty`,
      async () => {
        const n = await core.readNamespace({ name: ns });
        const left = await core.listNamespacedConfigMap({ namespace: ns });
        return n.metadata?.deletionTimestamp && left.items.length === 0 ? n : undefined;
      },
      30_000,
    );
    await core.replaceNamespaceFinalize({ name: ns, body: { ...terminating, spec: { finalizers: [] } } });
    // Applied again as a user would: retrying while the hub still says the work is being deleted.
    const again = await waitFor(
      'the work accepted again',
      async () => {
        const r = await admin.call('PUT', path('ops-cycle'), { json: w });
        return r.status === 200 || r.status === 201 ? (r.body as WorkView) : undefined;
      },
      30_000,
    );
    await applied('ops-cycle', again.metadata.generation);
    const back = await core.readNamespace({ name: ns });
    assert.equal(back.metadata?.deletionTimestamp, undefined, 'a new, live Namespace');
    assert.notEqual(back.metadata?.uid, terminating.metadata?.uid);
    t.diagnostic(`deleted and Applied again in ${Date.now() - startedAt} ms`);
  });
});
