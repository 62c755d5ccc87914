// `outpost-agent join --install` and `outpost-agent leave` end to end: a real hub process,
// a real kube-apiserver as the spoke and the agent binary as processes with an admin
// kubeconfig. The test cluster has no kubelet (and no controllers), so no DaemonSet pod ever
// runs: the first install uses --wait=false; for the waiting path an `outpost-agent run
// --kubeconfig` process plays the pod (it takes the Lease outpost-agent in the install's
// namespace and delivers a work) and the test writes the DaemonSet's status as its
// controller would (one ready pod). leave must then remove the install while the work's
// ConfigMap stays. The ClusterClaim CRD is only created where absent: the first cluster has
// one already (as OCM's klusterlet could have left it, with its own labels and versions),
// which no install touches; the second has none, and the install creates it. leave keeps it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type KubeCluster, startCluster } from '../kube/index.ts';
import { orUndefined } from '../kube/run.ts';
import { type AgentProcess, runAgent, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, createToken, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const clusterName = 'spoke-inst';
const namespace = 'outpost-inst';
const image = 'registry.example.com/outpost-agent:install-test';
const appNs = 'install-app';
const crdName = 'clusterclaims.cluster.open-cluster-management.io';

/**
 * A ClusterClaim CRD someone else installed before Outpost: OCM's name, group and scope, its
 * own label and annotation, and one more (unserved) version than the chart's.
 */
const foreignCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: {
    name: crdName,
    labels: { 'example.com/installed-by': 'ocm-klusterlet' },
    annotations: { 'example.com/revision': '7' },
  },
  spec: {
    group: 'cluster.open-cluster-management.io',
    names: { kind: 'ClusterClaim', listKind: 'ClusterClaimList', plural: 'clusterclaims', singular: 'clusterclaim' },
    scope: 'Cluster',
    versions: ['v1alpha1', 'v1beta1'].map((name) => ({
      name,
      served: name === 'v1alpha1',
      storage: name === 'v1alpha1',
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: { spec: { type: 'object', properties: { value: { type: 'string', maxLength: 1024 } } } },
        },
      },
    })),
  },
};

/** `outpost-agent join --install` for cluster `name` into `namespace`, plus `extra` flags. */
function joinInstallArgs(
  t: { hub: { url: string; caHash: string }; token: string; name: string; kubeconfig: string; namespace: string },
  ...extra: string[]
): string[] {
  return [
    'join',
    '--install',
    '--hub',
    t.hub.url,
    '--token',
    t.token,
    '--ca-cert-hash',
    t.hub.caHash,
    '--cluster-name',
    t.name,
    '--kubeconfig',
    t.kubeconfig,
    '--namespace',
    t.namespace,
    ...extra,
  ];
}

describe('outpost-agent join --install and leave', { timeout: 120_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess | undefined;
  let token: string;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let rbac: RbacAuthorizationV1Api;
  let coordination: CoordinationV1Api;
  let extensions: ApiextensionsV1Api;
  /** The foreign CRD as created, before any install. */
  let crdBefore: Awaited<ReturnType<ApiextensionsV1Api['readCustomResourceDefinition']>>;

  before(async () => {
    [kube, hub] = await Promise.all([
      startCluster({ name: clusterName }),
      startHub({ args: ['--poll-timeout', '5s'] }),
    ]);
    admin = await adminClient(hub);
    const kc = kube.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    coordination = kc.makeApiClient(CoordinationV1Api);
    extensions = kc.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: foreignCrd });
    crdBefore = await extensions.readCustomResourceDefinition({ name: crdName });
    ({ token } = await createToken(admin, { autoApprove: true, ttl: '10m' }));
  });

  /** The foreign CRD is exactly as it was: same object, version, labels, spec, and no field of Outpost's. */
  const assertCrdUntouched = async () => {
    const now = await extensions.readCustomResourceDefinition({ name: crdName });
    assert.equal(now.metadata?.uid, crdBefore.metadata?.uid);
    assert.equal(now.metadata?.resourceVersion, crdBefore.metadata?.resourceVersion, 'not written at all');
    assert.deepEqual(now.metadata?.labels, foreignCrd.metadata.labels);
    assert.deepEqual(now.metadata?.annotations, foreignCrd.metadata.annotations);
    assert.equal(JSON.stringify(now.spec), JSON.stringify(crdBefore.spec));
    assert.deepEqual(
      now.metadata?.managedFields?.map((f) => f.manager),
      crdBefore.metadata?.managedFields?.map((f) => f.manager),
    );
    assert.ok(!now.metadata?.managedFields?.some((f) => f.manager === 'outpost-agent-installer'));
  };

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  const installArgs = (...extra: string[]) =>
    joinInstallArgs(
      { hub, token, name: clusterName, kubeconfig: kube.kubeconfigPath, namespace },
      '--image',
      image,
      ...extra,
    );

  /** Everything the install puts into the cluster, read back (undefined where missing). */
  const installed = async () => ({
    ns: await orUndefined(() => core.readNamespace({ name: namespace })),
    sa: await orUndefined(() => core.readNamespacedServiceAccount({ name: 'outpost-agent', namespace })),
    role: await orUndefined(() => rbac.readNamespacedRole({ name: 'outpost-agent', namespace })),
    roleBinding: await orUndefined(() => rbac.readNamespacedRoleBinding({ name: 'outpost-agent', namespace })),
    clusterRole: await orUndefined(() => rbac.readClusterRole({ name: 'outpost-agent' })),
    clusterRoleBinding: await orUndefined(() => rbac.readClusterRoleBinding({ name: 'outpost-agent' })),
    daemonSet: await orUndefined(() => apps.readNamespacedDaemonSet({ name: 'outpost-agent', namespace })),
    credentials: await orUndefined(() => core.readNamespacedSecret({ name: 'outpost-agent-credentials', namespace })),
    lease: await orUndefined(() => coordination.readNamespacedLease({ name: 'outpost-agent', namespace })),
  });

  test('join --install --wait=false joins and applies every object of the chart', async () => {
    const r = await runAgent(installArgs('--wait=false'), { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `join --install failed:\n${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /cluster spoke-inst joined hub/);
    assert.match(r.stderr, /outpost-agent: applied ServiceAccount outpost-inst\/outpost-agent/);
    assert.match(r.stderr, /outpost-agent: applied DaemonSet outpost-inst\/outpost-agent/);
    assert.match(r.stdout, /agent installed in namespace outpost-inst .*--wait=false/);
    // The ClusterClaim CRD that was there is left as it is.
    assert.match(
      r.stderr,
      /outpost-agent: left CustomResourceDefinition clusterclaims\.cluster\.open-cluster-management\.io as it is \(already present\)/,
    );
    await assertCrdUntouched();

    const o = await installed();
    assert.equal(o.ns?.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    assert.equal(o.ns?.metadata?.labels?.['outpost.dev/installed-by'], 'outpost-agent-installer');
    assert.ok(o.sa && o.role && o.clusterRole && o.credentials, 'ServiceAccount, Role, ClusterRole, credentials');
    assert.deepEqual(
      o.roleBinding?.subjects?.map((s) => ({ ...s })),
      [{ kind: 'ServiceAccount', name: 'outpost-agent', namespace }],
    );
    assert.deepEqual(
      o.clusterRoleBinding?.subjects?.map((s) => ({ ...s })),
      [{ kind: 'ServiceAccount', name: 'outpost-agent', namespace }],
    );
    assert.equal(o.daemonSet?.spec?.template.spec?.containers[0]?.image, image);
    assert.ok(
      o.daemonSet?.metadata?.managedFields?.some((f) => f.manager === 'outpost-agent-installer'),
      'applied by the installer’s field manager',
    );
  });

  /** What the DaemonSet controller would write once a pod is ready. */
  const markDaemonSetReady = () =>
    apps.patchNamespacedDaemonSetStatus(
      {
        name: 'outpost-agent',
        namespace,
        body: {
          status: { currentNumberScheduled: 1, desiredNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1 },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

  test('with no agent running, the wait ends at --timeout with AGENT_INSTALL_TIMEOUT and says what is missing', async () => {
    await markDaemonSetReady();
    const r = await runAgent(installArgs('--timeout', '3s'), { timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${r.stderr}${r.stdout}`);
    assert.match(r.stderr, /AGENT_INSTALL_TIMEOUT/);
    assert.match(r.stderr, /has 1 ready pod\(s\)/);
    assert.match(r.stderr, /Lease outpost-agent not held by a running agent/);
    // The installer's own reads of the hub's view are not sightings.
    assert.match(r.stderr, /the hub has not heard from an agent of spoke-inst since the install/);
  });

  test('re-running waits until an agent runs, leads and the hub reports it Available, changing nothing', async () => {
    const before = await installed();
    // The agent "pod": `run` with the same namespace takes the Lease and delivers works.
    agent = startAgent([...spokeRunArgs(kube.kubeconfigPath, '5m'), '--namespace', namespace]);
    const put = await admin.call('PUT', `/api/v1/clusters/${clusterName}/works/app`, {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'app' },
        spec: {
          workload: {
            manifests: [
              { apiVersion: 'v1', kind: 'Namespace', metadata: { name: appNs } },
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { name: 'settings', namespace: appNs },
                data: { a: '1' },
              },
            ],
          },
        },
      },
    });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    await waitFor(
      'the work’s ConfigMap',
      () => orUndefined(() => core.readNamespacedConfigMap({ name: 'settings', namespace: appNs })),
      30_000,
    );
    await markDaemonSetReady();

    const r = await runAgent(installArgs('--timeout', '30s'), { timeoutMs: 45_000 });
    assert.equal(r.code, 0, `second join --install failed:\n${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /already joined/);
    assert.match(r.stderr, /applied ClusterRoleBinding outpost-agent/);
    assert.match(r.stderr, /is running and leads \(1 pod\(s\) ready\); the hub reports cluster spoke-inst Available/);
    assert.match(r.stdout, /running, and the hub reports it Available/);

    const after = await installed();
    for (const key of ['ns', 'sa', 'role', 'roleBinding', 'clusterRole', 'clusterRoleBinding', 'daemonSet'] as const) {
      assert.equal(after[key]?.metadata?.uid, before[key]?.metadata?.uid, `${key} is the same object`);
    }
    assert.equal(after.daemonSet?.metadata?.generation, before.daemonSet?.metadata?.generation, 'DaemonSet unchanged');
    assert.match(
      r.stderr,
      /left CustomResourceDefinition clusterclaims\.cluster\.open-cluster-management\.io as it is/,
    );
    await assertCrdUntouched();
    const daemonSets = await apps.listNamespacedDaemonSet({ namespace });
    assert.equal(daemonSets.items.length, 1);
  });

  test('leave waits for the running agent to stop, removes the install and leaves the work’s objects; a second leave finds nothing', async () => {
    const leaving = startAgent([
      'leave',
      '--kubeconfig',
      kube.kubeconfigPath,
      '--namespace',
      namespace,
      '--delete-namespace',
    ]);
    await leaving.waitForOutput(/waiting for the agent to stop .*Lease outpost-agent held by/, 20_000);
    // Nothing but the DaemonSet goes while the agent runs.
    const meanwhile = await installed();
    assert.equal(meanwhile.daemonSet, undefined, 'the DaemonSet went first');
    assert.ok(meanwhile.sa && meanwhile.credentials && meanwhile.lease, 'the rest waits for the agent');
    await agent?.stop(); // a clean stop releases the Lease
    agent = undefined;
    const r = await leaving.exited(30_000);
    assert.equal(r.code, 0, `leave failed:\n${r.stderr}${r.stdout}`);
    assert.match(r.stderr, /outpost-agent: deleted DaemonSet outpost-inst\/outpost-agent/);
    assert.match(r.stderr, /deleted \d+ state Secret\(s\)/);
    assert.match(r.stdout, /outpost-hub cluster remove spoke-inst/);

    const o = await installed();
    for (const key of [
      'sa',
      'role',
      'roleBinding',
      'clusterRole',
      'clusterRoleBinding',
      'daemonSet',
      'credentials',
      'lease',
    ] as const) {
      assert.equal(o[key], undefined, `${key} is gone`);
    }
    // No namespace controller runs here: a deleted namespace stays Terminating.
    assert.ok(o.ns === undefined || o.ns.metadata?.deletionTimestamp, 'the installer’s namespace is being deleted');
    const secrets = await core.listNamespacedSecret({ namespace });
    assert.deepEqual(
      secrets.items.map((s) => s.metadata?.name),
      [],
    );
    const cm = await core.readNamespacedConfigMap({ name: 'settings', namespace: appNs });
    assert.equal(cm.data?.a, '1', 'the work’s ConfigMap stays');

    const again = await runAgent(['leave', '--kubeconfig', kube.kubeconfigPath, '--namespace', namespace], {
      timeoutMs: 30_000,
    });
    assert.equal(again.code, 0, `second leave failed:\n${again.stderr}${again.stdout}`);
    assert.match(again.stdout, /nothing left to remove/);
    // leave takes out the agent, not the CRD (it holds the cluster's ClusterClaims).
    await assertCrdUntouched();
  });

  test('usage errors exit 2', async () => {
    const r = await runAgent(['leave']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--kubeconfig is required/);
    const j = await runAgent(
      installArgs().filter((a, i, all) => a !== '--kubeconfig' && all[i - 1] !== '--kubeconfig'),
    );
    assert.equal(j.code, 2);
    assert.match(j.stderr, /--install needs --kubeconfig/);
  });
});

// `leave --delete-workloads`: the works' objects go as deleting each work on the hub would
// take them (Orphan keeps everything, SelectivelyOrphan what its rules name), read from the
// agent's ledger, and only once no agent runs: first a leave that times out while the agent
// still leads, which must touch nothing of the works.
describe('outpost-agent leave --delete-workloads', { timeout: 120_000 }, () => {
  const name = 'spoke-leave';
  const ns = 'outpost-leave';
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess | undefined;
  let core: CoreV1Api;
  let rbac: RbacAuthorizationV1Api;

  before(async () => {
    [kube, hub] = await Promise.all([startCluster({ name }), startHub({ args: ['--poll-timeout', '5s'] })]);
    admin = await adminClient(hub);
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    rbac = kube.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  const cm = (namespace: string, cmName: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: cmName, namespace },
    data: { from: 'work' },
  });
  const putWork = async (work: string, manifests: object[], deleteOption?: object) => {
    const res = await admin.call('PUT', `/api/v1/clusters/${name}/works/${work}`, {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: work },
        spec: { workload: { manifests }, ...(deleteOption ? { deleteOption } : {}) },
      },
    });
    assert.ok(res.status === 200 || res.status === 201, res.text);
  };
  const readCm = (namespace: string, cmName: string) =>
    orUndefined(() => core.readNamespacedConfigMap({ name: cmName, namespace }));
  const leaveArgs = (...extra: string[]) => [
    'leave',
    '--kubeconfig',
    kube.kubeconfigPath,
    '--namespace',
    ns,
    '--delete-workloads',
    ...extra,
  ];

  test('a leave while the agent still leads times out and deletes nothing of the works', async () => {
    const { token } = await createToken(admin, { autoApprove: true, ttl: '10m' });
    const installed = await runAgent(
      joinInstallArgs({ hub, token, name, kubeconfig: kube.kubeconfigPath, namespace: ns }, '--wait=false'),
      { timeoutMs: 30_000 },
    );
    assert.equal(installed.code, 0, installed.stderr);
    // This cluster had no ClusterClaim CRD: the install created it.
    assert.match(
      installed.stderr,
      /outpost-agent: created CustomResourceDefinition clusterclaims\.cluster\.open-cluster-management\.io/,
    );
    const crd = await kube
      .kubeConfig()
      .makeApiClient(ApiextensionsV1Api)
      .readCustomResourceDefinition({ name: crdName });
    assert.equal(crd.spec.scope, 'Cluster');
    assert.deepEqual(
      crd.spec.versions.map((v) => [v.name, v.served, v.storage]),
      [['v1alpha1', true, true]],
    );
    agent = startAgent([...spokeRunArgs(kube.kubeconfigPath, '5m'), '--namespace', ns]);
    await putWork('app', [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'leave-app' } },
      cm('leave-app', 'web'),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'leave-app-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      },
    ]);
    await putWork('kept', [cm('default', 'kept-all')], { propagationPolicy: 'Orphan' });
    await putWork('some', [cm('default', 'some-kept'), cm('default', 'some-gone')], {
      propagationPolicy: 'SelectivelyOrphan',
      selectivelyOrphans: {
        orphaningRules: [{ group: '', resource: 'configmaps', namespace: 'default', name: 'some-kept' }],
      },
    });
    for (const [namespace, cmName] of [
      ['leave-app', 'web'],
      ['default', 'kept-all'],
      ['default', 'some-kept'],
      ['default', 'some-gone'],
    ] as const) {
      await waitFor(`ConfigMap ${namespace}/${cmName}`, () => readCm(namespace, cmName), 30_000);
    }
    // The agent records its ledger after applying: wait for its status to reach the hub.
    await waitFor(
      'all three works applied',
      async () => {
        const res = await admin.get<{ items: { status?: { conditions?: { type: string; status: string }[] } }[] }>(
          `/api/v1/clusters/${name}/works`,
        );
        const applied = res.body.items.filter((w) =>
          w.status?.conditions?.some((c) => c.type === 'Applied' && c.status === 'True'),
        );
        return applied.length === 3 ? true : undefined;
      },
      30_000,
    );

    const r = await runAgent(leaveArgs('--timeout', '2s'), { timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${r.stderr}${r.stdout}`);
    assert.match(r.stderr, /AGENT_LEAVE_TIMEOUT/);
    assert.match(r.stderr, /Lease outpost-agent held by/);
    assert.match(r.stderr, /nothing the works applied was touched/);
    assert.ok(await readCm('leave-app', 'web'), 'the work’s objects are untouched');
    assert.ok(await readCm('default', 'some-gone'));
    assert.ok(await orUndefined(() => rbac.readClusterRole({ name: 'leave-app-reader' })));
    assert.ok(
      await orUndefined(() => core.readNamespacedSecret({ name: 'outpost-agent-credentials', namespace: ns })),
      'the credentials stay while the agent runs',
    );
  });

  test('once the agent stops, each work’s objects go under its delete option; the rest of the install goes too', async () => {
    await agent?.stop();
    agent = undefined;
    const r = await runAgent(leaveArgs(), { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `leave failed:\n${r.stderr}${r.stdout}`);
    assert.match(r.stderr, /work app: 3 object\(s\) to delete/);
    assert.match(r.stderr, /work kept: 0 object\(s\) to delete, keeping 1 \(Orphan\)/);
    assert.match(r.stderr, /work some: 1 object\(s\) to delete, keeping 1 \(SelectivelyOrphan\)/);
    // The test cluster runs no namespace controller: the work's Namespace stays Terminating.
    assert.match(r.stderr, /works' objects: deleted 3, kept 2, 1 still finalizing/);
    assert.match(r.stdout, /deleted 3 object\(s\) the works applied \(and 1 still finalizing\), kept 2/);
    assert.match(r.stderr, /took Lease outpost-leave\/outpost-agent \(outpost-agent-leave-/);

    assert.equal(await readCm('leave-app', 'web'), undefined, 'Foreground (the default): gone');
    assert.equal(await orUndefined(() => rbac.readClusterRole({ name: 'leave-app-reader' })), undefined);
    const appNs = await orUndefined(() => core.readNamespace({ name: 'leave-app' }));
    // No namespace controller runs here: a deleted namespace stays Terminating.
    assert.ok(appNs === undefined || appNs.metadata?.deletionTimestamp, 'the work’s Namespace is being deleted');
    assert.equal((await readCm('default', 'kept-all'))?.data?.from, 'work', 'Orphan keeps it');
    assert.equal((await readCm('default', 'some-kept'))?.data?.from, 'work', 'the orphaning rule keeps it');
    assert.equal(await readCm('default', 'some-gone'), undefined, 'SelectivelyOrphan deletes the rest');
    const secrets = await core.listNamespacedSecret({ namespace: ns });
    assert.deepEqual(
      secrets.items.map((s) => s.metadata?.name),
      [],
      'state and credentials are gone',
    );

    const again = await runAgent(leaveArgs(), { timeoutMs: 30_000 });
    assert.equal(again.code, 0, `second leave failed:\n${again.stderr}${again.stdout}`);
    assert.match(again.stdout, /nothing left to remove/);
    assert.ok(
      await orUndefined(() =>
        kube.kubeConfig().makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: crdName }),
      ),
      'the ClusterClaim CRD the install created stays',
    );
  });
});
