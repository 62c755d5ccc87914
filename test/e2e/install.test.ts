// `outpost-agent join --install` and `outpost-agent leave` end to end: a real hub process,
// a real kube-apiserver as the spoke and the agent binary as processes with an admin
// kubeconfig. The test cluster has no kubelet (and no controllers), so no DaemonSet pod ever
// runs: the first install uses --wait=false; for the waiting path an `outpost-agent run
// --kubeconfig` process plays the pod (it takes the Lease outpost-agent in the install's
// namespace and delivers a work) and the test writes the DaemonSet's status as its
// controller would (one ready pod). leave must then remove the install while the work's
// ConfigMap stays.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
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
    ({ token } = await createToken(admin, { autoApprove: true, ttl: '10m' }));
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  const installArgs = (...extra: string[]) => [
    'join',
    '--install',
    '--hub',
    hub.url,
    '--token',
    token,
    '--ca-cert-hash',
    hub.caHash,
    '--cluster-name',
    clusterName,
    '--kubeconfig',
    kube.kubeconfigPath,
    '--namespace',
    namespace,
    '--image',
    image,
    ...extra,
  ];

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

  test('re-running waits until an agent runs and leads, changing nothing', async () => {
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
    // What the DaemonSet controller would write once a pod is ready.
    await apps.patchNamespacedDaemonSetStatus(
      {
        name: 'outpost-agent',
        namespace,
        body: {
          status: { currentNumberScheduled: 1, desiredNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1 },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    const r = await runAgent(installArgs('--timeout', '30s'), { timeoutMs: 45_000 });
    assert.equal(r.code, 0, `second join --install failed:\n${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /already joined/);
    assert.match(r.stderr, /applied ClusterRoleBinding outpost-agent/);
    assert.match(r.stderr, /is running and leads \(1 pod\(s\) ready\)/);
    assert.match(r.stdout, /and running/);

    const after = await installed();
    for (const key of ['ns', 'sa', 'role', 'roleBinding', 'clusterRole', 'clusterRoleBinding', 'daemonSet'] as const) {
      assert.equal(after[key]?.metadata?.uid, before[key]?.metadata?.uid, `${key} is the same object`);
    }
    assert.equal(after.daemonSet?.metadata?.generation, before.daemonSet?.metadata?.generation, 'DaemonSet unchanged');
    const daemonSets = await apps.listNamespacedDaemonSet({ namespace });
    assert.equal(daemonSets.items.length, 1);
  });

  test('leave removes the install and leaves the work’s objects; a second leave finds nothing', async () => {
    await agent?.stop();
    agent = undefined;
    const r = await runAgent(
      ['leave', '--kubeconfig', kube.kubeconfigPath, '--namespace', namespace, '--delete-namespace'],
      { timeoutMs: 30_000 },
    );
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
