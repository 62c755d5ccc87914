// The agent in-cluster, under the agent chart's least-privilege RBAC. The test clusters have
// no kubelet, so pods never run: the chart is rendered with the repository's helm and
// applied for real (Namespace, ServiceAccount, Role, ClusterRole, bindings, DaemonSet), a
// token for the chart's ServiceAccount comes from the TokenRequest API, and `outpost-agent
// join` and `run` run as real processes with only what the DaemonSet's pod would have: the
// service-account mount (token, ca.crt, namespace), KUBERNETES_SERVICE_HOST/_PORT, the pod's
// env and args from the rendered DaemonSet, and no kubeconfig. Works then prove each
// permission the agent uses (apply, watch for drift, delete, Lease, Secrets), and a kind
// outside the ClusterRole proves the least privilege is real.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ensureHelm } from '../helm/index.ts';
import { ensureKubeBinaries, type KubeCluster, startCluster } from '../kube/index.ts';
import { orUndefined, runOk } from '../kube/run.ts';
import { type AgentProcess, runAgent, startAgent } from './agent-process.ts';
import { adminClient, createToken, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, repoRoot, startHub } from './hub-process.ts';

const release = 'outpost-agent';
const namespace = 'outpost-agent';
const clusterName = 'spoke-ic';
const podName = 'outpost-agent-x7k2p';
const appNs = 'in-cluster';

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, read field by field
type Obj = Record<string, any>;

interface Condition {
  type: string;
  status: string;
  message?: string;
}
interface WorkView {
  metadata: { generation: number };
  status: {
    conditions?: Condition[];
    observedGeneration?: number;
    corrections?: number;
    resourceStatus?: { manifests?: { resourceMeta: Obj; conditions: Condition[] }[] };
  };
}

const configMap = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: appNs },
  data: { value },
});
// A CRD: applied, then read until Established (get on customresourcedefinitions).
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'gadgets.in-cluster.example.com' },
  spec: {
    group: 'in-cluster.example.com',
    names: { kind: 'Gadget', plural: 'gadgets', singular: 'gadget' },
    scope: 'Namespaced',
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }],
  },
};
const app = {
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name: 'app' },
  spec: {
    workload: {
      manifests: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: appNs } },
        configMap('settings', '1'),
        crd,
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: appNs } },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: appNs },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'registry.example.com/web:1' }] },
            },
          },
        },
      ],
    },
  },
};
// PriorityClass (scheduling.k8s.io) is not in the chart's default ClusterRole.
const priorityClass = {
  apiVersion: 'scheduling.k8s.io/v1',
  kind: 'PriorityClass',
  metadata: { name: 'in-cluster-high' },
  value: 1000,
};
const mixed = {
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name: 'mixed' },
  spec: { workload: { manifests: [configMap('allowed', '1'), priorityClass] } },
};

describe('the agent in-cluster under the chart’s least-privilege RBAC', { timeout: 120_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess | undefined;
  let saDir: string;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let daemonSet: Obj;
  /** The pod's environment: the DaemonSet's env (downward API resolved) plus the in-cluster basics. */
  let podEnv: Record<string, string>;

  before(async () => {
    const [helm, bins] = await Promise.all([ensureHelm(), ensureKubeBinaries()]);
    [kube, hub] = await Promise.all([
      startCluster({ name: clusterName }),
      startHub({ args: ['--poll-timeout', '5s'] }),
    ]);
    admin = await adminClient(hub);
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    apps = kube.kubeConfig().makeApiClient(AppsV1Api);

    // What deploy/render.sh puts first (the chart itself leaves the namespace to --create-namespace).
    const ns = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    };
    const rendered = await runOk(helm, [
      'template',
      release,
      join(repoRoot, 'deploy/charts/outpost-agent'),
      '--namespace',
      namespace,
    ]);
    const objs = parseAllDocuments(rendered)
      .map((d) => d.toJS() as Obj | null)
      .filter((o): o is Obj => o !== null);
    assert.deepEqual(objs.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'DaemonSet',
      'Role',
      'RoleBinding',
      'ServiceAccount',
    ]);
    // Server-side apply with the admin kubeconfig, as `kubectl apply --server-side -f` would.
    const docs = [ns, ...objs].map((o) => JSON.stringify(o)).join('\n---\n');
    await runOk(bins.kubectl, ['--kubeconfig', kube.kubeconfigPath, 'apply', '--server-side', '-f', '-'], docs);

    daemonSet = objs.find((o) => o.kind === 'DaemonSet') as Obj;
    const pod = daemonSet.spec.template.spec;
    const sa = String(pod.serviceAccountName);
    const token = await core.createNamespacedServiceAccountToken({
      name: sa,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    assert.ok(token.status?.token, 'the apiserver signed a service-account token');

    // The projected service-account volume of the pod.
    saDir = await mkdtemp(join(tmpdir(), 'outpost-sa-'));
    await Promise.all([
      writeFile(join(saDir, 'token'), token.status.token, { mode: 0o600 }),
      writeFile(join(saDir, 'ca.crt'), Buffer.from(kube.caData, 'base64')),
      writeFile(join(saDir, 'namespace'), namespace),
    ]);
    const downward: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': namespace };
    podEnv = {
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: new URL(kube.server).port,
      OUTPOST_AGENT_SERVICE_ACCOUNT_DIR: saDir,
    };
    for (const e of pod.containers[0].env as Obj[]) {
      if (e.name === 'NODE_COMPILE_CACHE') continue; // the pod's /tmp; not this machine's
      const value = e.valueFrom ? downward[e.valueFrom.fieldRef.fieldPath] : e.value;
      assert.ok(value !== undefined, `env ${e.name} resolved`);
      podEnv[e.name] = String(value);
    }
    assert.equal(podEnv.POD_NAME, podName);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
    if (saDir) await rm(saDir, { recursive: true, force: true });
  });

  const getWork = (name: string) => admin.get<WorkView>(`/api/v1/clusters/${clusterName}/works/${name}`);
  const put = async (w: { metadata: { name: string } }) => {
    const res = await admin.call('PUT', `/api/v1/clusters/${clusterName}/works/${w.metadata.name}`, { json: w });
    assert.ok(res.status === 200 || res.status === 201, res.text);
    return (res.body as WorkView).metadata.generation;
  };
  const condition = (w: WorkView, type: string) => w.status.conditions?.find((c) => c.type === type);
  const reported = (name: string, generation: number, ok: (w: WorkView) => boolean) =>
    waitFor(
      `work ${name} reported at generation ${generation}`,
      async () => {
        const w = (await getWork(name)).body;
        return w.status.observedGeneration === generation && ok(w) ? w : undefined;
      },
      30_000,
    );
  const readCm = (name: string) => orUndefined(() => core.readNamespacedConfigMap({ name, namespace: appNs }));

  test('join writes the credentials through the service account, without a kubeconfig', async () => {
    const { token } = await createToken(admin, { autoApprove: true, ttl: '10m' });
    const joined = await runAgent(
      ['join', '--hub', hub.url, '--token', token, '--ca-cert-hash', hub.caHash, '--cluster-name', clusterName],
      { env: podEnv, timeoutMs: 30_000 },
    );
    assert.equal(joined.code, 0, `join failed:\n${joined.stderr}${joined.stdout}`);
    const secret = await core.readNamespacedSecret({ name: 'outpost-agent-credentials', namespace });
    assert.ok(secret.data && Object.keys(secret.data).length > 0, 'the credentials Secret holds data');
  });

  test('run with the DaemonSet’s args leads through the Lease and serves the cluster', async () => {
    const args = [
      // The chart's listener port (its pod's own) is the test host's here: the harness gives
      // the agent a free one instead (startAgent).
      ...(daemonSet.spec.template.spec.containers[0].args as string[]).filter((a) => !a.startsWith('--listen')),
      // Shorter than the chart's defaults so the test is quick; the 10 min re-apply leaves
      // drift repair to the watches.
      '--poll-wait',
      '5s',
      '--heartbeat-interval',
      '5s',
      '--resync-interval',
      '10m',
    ];
    assert.equal(args[0], 'run');
    agent = startAgent(args, { env: podEnv });
    await agent.waitForOutput(new RegExp(`${podName} leads`), 30_000);
    await agent.waitForOutput(new RegExp(`serving cluster ${clusterName}`), 30_000);
    const coordination = kube.kubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await coordination.readNamespacedLease({ name: 'outpost-agent', namespace });
    assert.equal(lease.spec?.holderIdentity, podName);
  });

  test('a work of a Namespace, ConfigMap, CRD, ServiceAccount and Deployment is applied', async () => {
    const generation = await put(app);
    await reported('app', generation, (w) => condition(w, 'Applied')?.status === 'True');
    assert.equal((await readCm('settings'))?.data?.value, '1');
    assert.ok(await core.readNamespacedServiceAccount({ name: 'web', namespace: appNs }));
    const crds = kube.kubeConfig().makeApiClient(ApiextensionsV1Api);
    const established = await crds.readCustomResourceDefinition({ name: crd.metadata.name });
    assert.equal(established.status?.conditions?.find((c) => c.type === 'Established')?.status, 'True');
    const deploy = await apps.readNamespacedDeployment({ name: 'web', namespace: appNs });
    assert.ok(deploy.metadata?.managedFields?.some((f) => f.manager === 'outpost-agent'));
    // The agent's state lives in Secrets of its namespace (the Role's other half).
    const state = await core.listNamespacedSecret({ namespace, labelSelector: 'outpost.dev/state' });
    assert.ok(state.items.length > 0, 'state Secrets exist');
  });

  test('an edit by hand is repaired (the ClusterRole allows the watches)', async () => {
    await core.patchNamespacedConfigMap(
      { name: 'settings', namespace: appNs, body: { data: { value: null } }, fieldManager: 'kubectl-edit' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      'settings restored',
      async () => ((await readCm('settings'))?.data?.value === '1' ? true : undefined),
      15_000,
    );
    await waitFor(
      'the correction reported',
      async () => (((await getWork('app')).body.status.corrections ?? 0) >= 1 ? true : undefined),
      15_000,
    );
  });

  test('a kind outside the ClusterRole is refused by the cluster; the rest of the work applies', async () => {
    const generation = await put(mixed);
    const w = await reported('mixed', generation, (v) => condition(v, 'Degraded')?.status === 'True');
    assert.notEqual(condition(w, 'Applied')?.status, 'True');
    const message = JSON.stringify(w.status);
    assert.match(message, /forbidden/i);
    assert.match(message, /priorityclasses/);
    assert.match(message, new RegExp(`system:serviceaccount:${namespace}:${release}`));
    assert.equal((await readCm('allowed'))?.data?.value, '1', 'the allowed manifest applied');
  });

  test('deleting the works deletes their objects (the ClusterRole allows delete)', async () => {
    const crds = kube.kubeConfig().makeApiClient(ApiextensionsV1Api);
    await admin.delete(`/api/v1/clusters/${clusterName}/works/app`);
    await waitFor(
      'the ConfigMap, ServiceAccount and Deployment gone',
      async () => {
        const left = await Promise.all([
          readCm('settings'),
          orUndefined(() => core.readNamespacedServiceAccount({ name: 'web', namespace: appNs })),
          orUndefined(() => apps.readNamespacedDeployment({ name: 'web', namespace: appNs })),
          orUndefined(() => crds.readCustomResourceDefinition({ name: crd.metadata.name })),
        ]);
        return left.every((o) => o === undefined) ? true : undefined;
      },
      30_000,
    );
    // Work mixed still has an object in the Namespace: it stays, and work app waits for it.
    const kept = await orUndefined(() => core.readNamespace({ name: appNs }));
    assert.ok(kept && !kept.metadata?.deletionTimestamp, 'the Namespace stays while work mixed uses it');
    // The agent reports that once its pass after the CRD's finalizer sees the CRD gone.
    await waitFor(
      'work app reporting that it waits for work mixed',
      async () =>
        /work mixed/.test(
          (await getWork('app')).body.status.conditions?.find((c) => c.type === 'Deleting')?.message ?? '',
        )
          ? true
          : undefined,
      30_000,
    );
    // Once work mixed is gone, work app deletes the Namespace too. Without a
    // controller-manager it stays Terminating; the DELETE went through.
    await admin.delete(`/api/v1/clusters/${clusterName}/works/mixed`);
    await waitFor(
      'the Namespace being deleted',
      async () => {
        const ns = await orUndefined(() => core.readNamespace({ name: appNs }));
        return ns === undefined || ns.metadata?.deletionTimestamp ? true : undefined;
      },
      30_000,
    );
  });

  test('SIGTERM: a clean exit that releases the Lease; the only refusal was the PriorityClass', async () => {
    const exit = await agent?.stop('SIGTERM');
    assert.equal(exit?.code, 0, exit?.stderr);
    const coordination = kube.kubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await coordination.readNamespacedLease({ name: 'outpost-agent', namespace });
    assert.notEqual(lease.spec?.holderIdentity, podName, 'the Lease was released');
    // The refused manifest is tried again by follow-up passes (0.5 s, doubling), so it may be
    // logged more than once before the stop; no other refusal may appear.
    const refused = `${exit?.stdout}${exit?.stderr}`.split('\n').filter((l) => /forbidden|HTTP 403/i.test(l));
    assert.ok(refused.length >= 1, 'the PriorityClass was refused');
    for (const line of refused)
      assert.match(line, /priorityclasses\.scheduling\.k8s\.io \\"in-cluster-high\\" is forbidden/, line);
  });
});
