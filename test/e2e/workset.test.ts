// ManifestWorkReplicaSets end to end: a real hub process, three real spoke clusters (three
// kube-apiservers on one shared etcd) with real agents. A canary decision group gets the work
// first; a cluster whose rendered manifest the apiserver rejects stops a rollout at
// maxFailures; an existing cluster that gains the placement's label receives the work; a
// cluster that loses it has its work deleted on the hub and its objects deleted on the spoke;
// a fourth cluster that joins with matching labels receives the work without anyone
// touching the placement or the workset.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type EtcdHandle, type KubeCluster, startCluster, startEtcd } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, runAgent, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, readAdminToken, waitFor } from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

const names = ['ws-a', 'ws-b', 'ws-c'] as const;
type Name = (typeof names)[number];

interface WorkView {
  metadata: { creationTimestamp: string; generation: number; labels: Record<string, string> };
  status: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}
interface WorkSetView {
  status?: {
    conditions: { type: string; status: string }[];
    summary: { total: number; applied: number; degraded: number };
    rollout?: { message: string; clusters: { name: string; state: string; reason: string }[] };
  };
}

const configMap = (name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data: { cluster: '{{ .clusterName }}', tier: '{{ .labels.tier | default "none" }}' },
});

describe('worksets (real hub, three real spokes and agents)', { timeout: 240_000 }, () => {
  let etcd: EtcdHandle;
  const kube = {} as Record<Name, KubeCluster>;
  const agents: AgentProcess[] = [];
  /** Clusters started by a test (scenario e), stopped with the rest. */
  const extra: KubeCluster[] = [];
  let hub: HubProcess;
  let admin: HubClient;

  before(async () => {
    etcd = await startEtcd();
    const clusters = await Promise.all(names.map((name) => startCluster({ name, etcd })));
    for (const c of clusters) kube[c.name as Name] = c;
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await Promise.all(names.map((n) => joinSpoke(hub, admin, n, kube[n].kubeconfigPath)));
    for (const n of names) {
      const a = startAgent([...spokeRunArgs(kube[n].kubeconfigPath, '10m'), '--lease-duration', '4s'], {
        env: { POD_NAME: `${n}-agent` },
      });
      agents.push(a);
    }
    await Promise.all(agents.map((a, i) => a.waitForOutput(new RegExp(`serving cluster ${names[i]}`), 60_000)));
    // ws-a is the canary; ws-b matches; ws-c does not match yet (scenario c adds the label).
    const labels: Record<Name, Record<string, string>> = {
      'ws-a': { app: 'demo', canary: 'true' },
      'ws-b': { app: 'demo' },
      'ws-c': { tier: 'gold' },
    };
    for (const n of names) {
      const res = await admin.patch(`/api/v1/clusters/${n}`, { metadata: { labels: labels[n] } });
      assert.equal(res.status, 200, res.text);
    }
    const placement = await admin.call('PUT', '/api/v1/placements/demo', {
      json: {
        metadata: { name: 'demo' },
        spec: {
          predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { app: 'demo' } } } }],
          decisionStrategy: {
            groupStrategy: {
              decisionGroups: [
                { groupName: 'canary', groupClusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } } },
              ],
            },
          },
        },
      },
    });
    assert.ok(placement.status === 201 || placement.status === 200, placement.text);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await admin?.close();
    await hub?.stop();
    await Promise.all([...Object.values(kube), ...extra].map((k) => k.stop()));
    await etcd?.stop();
  });

  const getWork = async (cluster: Name, name: string) => {
    const res = await admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/${name}`);
    return res.status === 200 ? res.body : undefined;
  };
  const applied = (w: WorkView | undefined) =>
    w?.status.observedGeneration === w?.metadata.generation &&
    w?.status.conditions?.some((c) => c.type === 'Applied' && c.status === 'True');
  const workSet = async (name: string) => (await admin.get<WorkSetView>(`/api/v1/worksets/${name}`)).body;
  const condition = (w: WorkSetView, type: string) => w.status?.conditions.find((c) => c.type === type)?.status;
  const readCm = async (cluster: Name, name: string) => {
    try {
      return await kube[cluster].kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({
        name,
        namespace: 'default',
      });
    } catch {
      return undefined;
    }
  };

  test('(a) ProgressivePerGroup: the canary is given the work and Applied before the others', async () => {
    const res = await admin.call('PUT', '/api/v1/worksets/demo', {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1alpha1',
        kind: 'ManifestWorkReplicaSet',
        metadata: { name: 'demo', namespace: 'default' },
        spec: {
          // Outpost's per-cluster values asked for: the ConfigMap names its cluster and tier.
          templating: true,
          manifestWorkTemplate: { workload: { manifests: [configMap('demo')] } },
          placementRefs: [
            {
              name: 'demo',
              // A soak of 3 s on the canary makes the ordering observable from creation times.
              rolloutStrategy: { type: 'ProgressivePerGroup', progressivePerGroup: { minSuccessTime: '3s' } },
            },
          ],
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    const canary = await waitFor(
      'the canary work Applied',
      async () => {
        const w = await getWork('ws-a', 'demo');
        return applied(w) ? w : undefined;
      },
      30_000,
    );
    assert.equal(canary?.metadata.labels['outpost.dev/workset'], 'demo');
    const appliedAt = Date.now();
    const other = await waitFor(
      'ws-b given the work and Applied',
      async () => {
        const w = await getWork('ws-b', 'demo');
        return applied(w) ? w : undefined;
      },
      30_000,
    );
    const gap = Date.parse(other.metadata.creationTimestamp) - Date.parse(canary.metadata.creationTimestamp);
    assert.ok(gap >= 3_000, `ws-b got the work ${gap} ms after the canary (soak is 3 s)`);
    assert.ok(Date.parse(other.metadata.creationTimestamp) >= appliedAt - 1_000);
    assert.equal(await getWork('ws-c', 'demo'), undefined);
    assert.equal((await readCm('ws-a', 'demo'))?.data?.cluster, 'ws-a');
    assert.equal((await readCm('ws-b', 'demo'))?.data?.cluster, 'ws-b');
    const done = await waitFor(
      'workset demo Complete',
      async () => {
        const w = await workSet('demo');
        return condition(w, 'Complete') === 'True' ? w : undefined;
      },
      30_000,
    );
    assert.equal(done.status?.summary.total, 2);

    // The CLI shows the rollout as a table.
    const out = await cli(['workset', 'status', 'demo']);
    assert.match(out, /CLUSTER\s+STATE/);
    assert.match(out, /ws-a\s+Succeeded/);
    assert.match(out, /ws-b\s+Succeeded/);
  });

  test('(b) a cluster whose manifest the apiserver rejects stops the rollout at maxFailures', async () => {
    const res = await admin.call('PUT', '/api/v1/worksets/strict', {
      json: {
        metadata: { name: 'strict' },
        spec: {
          templating: true,
          manifestWorkTemplate: { workload: { manifests: [configMap('strict')] } },
          placementRefs: [
            {
              name: 'demo',
              rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: 1, maxFailures: 0 } },
            },
          ],
          // The canary's copy gets a label value the apiserver refuses: Degraded there.
          overrides: [
            {
              name: 'break-canary',
              clusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } },
              patches: [
                {
                  manifest: { kind: 'ConfigMap', name: 'strict' },
                  patch: { metadata: { labels: { broken: 'not a valid label value!' } } },
                },
              ],
            },
          ],
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    const stopped = await waitFor(
      'workset strict RolloutStopped',
      async () => {
        const w = await workSet('strict');
        return condition(w, 'RolloutStopped') === 'True' ? w : undefined;
      },
      30_000,
    );
    assert.equal(stopped.status?.rollout?.clusters.find((c) => c.name === 'ws-a')?.state, 'Failed');
    assert.equal(stopped.status?.summary.degraded, 1);
    assert.equal(await getWork('ws-b', 'strict'), undefined, 'the rollout stopped before ws-b');
    assert.equal(await readCm('ws-b', 'strict'), undefined);
    // What an alert on a stopped rollout reads (/metrics: a snapshot at most 5 s old).
    const id = 'namespace="default",workset="strict"';
    await waitFor(
      'the stopped rollout on /metrics',
      async () => {
        const text = (await admin.get('/metrics')).text;
        return text.includes(`outpost_workset_condition{${id},condition="RolloutStopped"} 1`) &&
          text.includes(`outpost_workset_clusters{${id},state="degraded"} 1`)
          ? true
          : undefined;
      },
      15_000,
    );
  });

  test('(c) an existing cluster that gains the label joins the rollout and receives the work', async () => {
    const res = await admin.patch('/api/v1/clusters/ws-c', { metadata: { labels: { app: 'demo' } } });
    assert.equal(res.status, 200, res.text);
    await waitFor(
      'ws-c given demo and Applied',
      async () => (applied(await getWork('ws-c', 'demo')) ? true : undefined),
      30_000,
    );
    const cm = await waitFor('demo ConfigMap on ws-c', async () => readCm('ws-c', 'demo'), 10_000);
    // Rendered for ws-c, with its own label.
    assert.deepEqual(cm.data, { cluster: 'ws-c', tier: 'gold' });
    // The stopped rollout hands nothing out, to ws-c neither.
    assert.equal(await getWork('ws-c', 'strict'), undefined);
  });

  test('(d) a cluster that loses the label loses the work, and its objects on the spoke', async () => {
    assert.ok(await readCm('ws-b', 'demo'));
    const res = await admin.patch('/api/v1/clusters/ws-b', { metadata: { labels: { app: null } } });
    assert.equal(res.status, 200, res.text);
    await waitFor(
      'demo gone from ws-b on the hub',
      async () => ((await getWork('ws-b', 'demo')) ? undefined : true),
      30_000,
    );
    await waitFor(
      'demo ConfigMap gone from ws-b',
      async () => ((await readCm('ws-b', 'demo')) ? undefined : true),
      10_000,
    );
    // The others keep theirs.
    assert.ok(await getWork('ws-a', 'demo'));
    assert.ok(await readCm('ws-c', 'demo'));
    const w = await waitFor('summary of 2', async () => {
      const v = await workSet('demo');
      return v.status?.summary.total === 2 ? v : undefined;
    });
    assert.equal(condition(w, 'PlacementVerified'), 'True');
  });

  test('(e) a new cluster that joins with matching labels receives the work', async () => {
    const fresh = await startCluster({ name: 'ws-d', etcd });
    extra.push(fresh);
    const tok = await admin.post<{ status: { token: string } }>('/api/v1/bootstraptokens', {
      spec: { autoApprove: true },
    });
    const joined = await runAgent([
      'join',
      '--hub',
      hub.url,
      '--token',
      tok.body.status.token,
      '--ca-cert-hash',
      hub.caHash,
      '--cluster-name',
      'ws-d',
      '--labels',
      'app=demo,tier=silver',
      '--kubeconfig',
      fresh.kubeconfigPath,
    ]);
    assert.equal(joined.code, 0, joined.stderr);
    const started = Date.now();
    agents.push(
      startAgent([...spokeRunArgs(fresh.kubeconfigPath, '10m'), '--lease-duration', '4s'], {
        env: { POD_NAME: 'ws-d-agent' },
      }),
    );
    const w = await waitFor(
      'ws-d given demo and Applied',
      async () => {
        const res = await admin.get<WorkView>('/api/v1/clusters/ws-d/works/demo');
        return res.status === 200 && applied(res.body) ? res.body : undefined;
      },
      60_000,
    );
    assert.equal(w.metadata.labels['outpost.dev/workset'], 'demo');
    const cm = await fresh.kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({
      name: 'demo',
      namespace: 'default',
    });
    assert.deepEqual(cm.data, { cluster: 'ws-d', tier: 'silver' });
    const summary = await waitFor('summary of 3', async () => {
      const v = await workSet('demo');
      return v.status?.summary.total === 3 ? v : undefined;
    });
    assert.equal(condition(summary, 'PlacementVerified'), 'True');
    console.log(
      `a newly joined cluster had the workset's work Applied ${Date.now() - started} ms after its agent started`,
    );
  });

  /** Runs the admin CLI against the hub and returns its stdout. */
  async function cli(args: string[]): Promise<string> {
    const token = await readAdminToken(hub.dataDir);
    const proc = spawn(
      process.execPath,
      [hubMain, ...args, '--hub', hub.url, '--ca-cert', join(hub.dataDir, 'ca.crt')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, OUTPOST_TOKEN: token },
      },
    );
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = await once(proc, 'exit');
    assert.equal(code, 0, err);
    return out;
  }
});
