// Smoke tests of the test/kube helper against real kube-apiservers: server-side apply works,
// clusters sharing one etcd stay isolated, the built kubectl talks to the kubeconfig, and
// stop() leaves no process, port or temp folder behind.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ApiException, type KubernetesObject, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { type EtcdHandle, ensureKubeBinaries, type KubeCluster, startCluster, startEtcd, waitFor } from './index.ts';

const FIELD_MANAGER = 'outpost-smoke';
const NAMESPACE = 'smoke';
const execFileAsync = promisify(execFile);

// A cold build.sh compiles Kubernetes (several minutes on 2 cores); afterwards it is instant.
before(() => ensureKubeBinaries(), { timeout: 30 * 60_000 });

// The label matters: a manager that owns no fields (only a name was applied) gets no
// managedFields entry at all.
const namespace = {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: NAMESPACE, labels: { 'outpost.dev/smoke': 'true' } },
};

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: NAMESPACE },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
    },
  },
};

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.smoke.outpost.dev' },
  spec: {
    group: 'smoke.outpost.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
          },
        },
      },
    ],
  },
};

const widget = {
  apiVersion: 'smoke.outpost.dev/v1',
  kind: 'Widget',
  metadata: { name: 'gizmo', namespace: NAMESPACE },
  spec: { size: 3 },
};

function apply(api: KubernetesObjectApi, object: KubernetesObject): Promise<KubernetesObject> {
  return api.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

function assertAppliedBySmoke(object: KubernetesObject): void {
  const managers = object.metadata?.managedFields ?? [];
  assert.ok(
    managers.some((entry) => entry.manager === FIELD_MANAGER && entry.operation === 'Apply'),
    `${object.kind} ${object.metadata?.name}: no Apply entry of ${FIELD_MANAGER} in ${JSON.stringify(managers)}`,
  );
}

async function assertNotFound(read: Promise<unknown>): Promise<void> {
  await assert.rejects(read, (err: unknown) => err instanceof ApiException && err.code === 404);
}

/** True once nothing accepts connections on the URL's port. */
function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Starts clusters in parallel into `started`, so after() stops those that did start. */
async function startAll(starts: Promise<KubeCluster>[], started: KubeCluster[]): Promise<void> {
  const results = await Promise.allSettled(starts);
  for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

function named(clusters: KubeCluster[], name: string): KubeCluster {
  const cluster = clusters.find((c) => c.name === name);
  assert.ok(cluster, `cluster ${name} did not start`);
  return cluster;
}

describe('three clusters on one shared etcd', () => {
  let etcd: EtcdHandle | undefined;
  const clusters: KubeCluster[] = [];

  before(
    async () => {
      const shared = await startEtcd();
      etcd = shared;
      await startAll(
        ['alpha', 'beta', 'gamma'].map((name) => startCluster({ etcd: shared, name })),
        clusters,
      );
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await Promise.all(clusters.map((cluster) => cluster.stop()));
    await etcd?.stop();
  });

  test('server-side apply of a namespace, deployment, CRD and custom resource', { timeout: 60_000 }, async () => {
    const api = KubernetesObjectApi.makeApiClient(named(clusters, 'alpha').kubeConfig());
    for (const object of [namespace, deployment, crd]) await apply(api, object);

    await waitFor(
      async () => {
        const current = (await api.read(crd)) as KubernetesObject & {
          status?: { conditions?: { type: string; status: string }[] };
        };
        const established = current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
        return established ? true : undefined;
      },
      { timeoutMs: 30_000, description: 'CRD widgets.smoke.outpost.dev to be Established' },
    );
    await apply(api, widget);

    for (const object of [namespace, deployment, crd, widget]) assertAppliedBySmoke(await api.read(object));
  });

  test('the other clusters see none of it', { timeout: 30_000 }, async () => {
    for (const name of ['beta', 'gamma']) {
      const api = KubernetesObjectApi.makeApiClient(named(clusters, name).kubeConfig());
      await assertNotFound(api.read(namespace));
      await assertNotFound(api.read(crd));
    }
  });

  test('the built kubectl works with the kubeconfig', { timeout: 30_000 }, async () => {
    const { kubectl } = await ensureKubeBinaries();
    const kubeconfig = ['--kubeconfig', named(clusters, 'beta').kubeconfigPath];
    const { stdout: version } = await execFileAsync(kubectl, [...kubeconfig, 'version', '-o', 'json']);
    assert.equal(JSON.parse(version).serverVersion.gitVersion, 'v1.36.3');
    const { stdout: namespaces } = await execFileAsync(kubectl, [...kubeconfig, 'get', 'namespaces', '-o', 'name']);
    assert.match(namespaces, /^namespace\/default$/m);
  });
});

describe('three clusters each with a private etcd', () => {
  const clusters: KubeCluster[] = [];

  before(
    () =>
      startAll(
        ['delta', 'epsilon', 'zeta'].map((name) => startCluster({ name })),
        clusters,
      ),
    { timeout: 120_000 },
  );

  after(() => Promise.all(clusters.map((cluster) => cluster.stop())));

  test('stop() ends the processes, frees the ports and removes the temp folders', { timeout: 60_000 }, async () => {
    const defaultNamespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } };
    for (const cluster of clusters) {
      await KubernetesObjectApi.makeApiClient(cluster.kubeConfig()).read(defaultNamespace);
    }
    await Promise.all(clusters.map((cluster) => cluster.stop()));
    for (const cluster of clusters) {
      for (const pid of [cluster.pid, cluster.etcd.pid]) assert.ok(processIsGone(pid), `process ${pid} still runs`);
      assert.ok(await refusesConnections(cluster.server), `${cluster.server} still accepts connections`);
      assert.ok(await refusesConnections(cluster.etcd.endpoint), `${cluster.etcd.endpoint} still accepts connections`);
      assert.ok(!existsSync(cluster.dir), `${cluster.dir} still exists`);
      assert.ok(!existsSync(cluster.etcd.dir), `${cluster.etcd.dir} still exists`);
    }
  });
});
