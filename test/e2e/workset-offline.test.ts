// Scenario (e), end to end: an unreachable cluster is tolerated for tolerationSeconds, then
// handled as the workset controller documents. A real hub with a short availability lease
// (--poll-timeout 1s --missed-polls 1: 1 × 1 s × 1.1 + 5 s = 6.1 s), two real spokes and
// agents; one agent process is stopped and started again.
// 1. While tolerated the cluster stays in the decisions and keeps its work, and the rollout
//    (offlineClusters Skip after 10m) shows it offline, not succeeded.
// 2. After tolerationSeconds it leaves the decisions; its work is kept while it is away.
// 3. Its agent comes back and the placement selects it again: the same work, never deleted.
// 4. Away again, it loses the placement's label: the work is kept while it is away, then
//    deleted (and its objects on the spoke) once its agent is back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type EtcdHandle, type KubeCluster, startCluster, startEtcd } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const names = ['off-a', 'off-b'] as const;
type Name = (typeof names)[number];
const tolerationSeconds = 6;

interface WorkView {
  metadata: { uid: string; generation: number; deletionTimestamp?: string };
  status: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}
interface WorkSetView {
  status?: {
    conditions: { type: string; status: string }[];
    rollout?: { message: string; clusters: { name: string; state: string; reason: string }[] };
  };
}
interface PlacementView {
  status?: { decisions?: { clusterNames: string[] }[] };
}
interface ClusterView {
  status: { conditions: { type: string; status: string }[] };
}

describe('worksets with an unreachable cluster (real hub, two spokes)', { timeout: 180_000 }, () => {
  let etcd: EtcdHandle;
  const kube = {} as Record<Name, KubeCluster>;
  const agents = {} as Record<Name, AgentProcess>;
  let hub: HubProcess;
  let admin: HubClient;

  const runAgent = (n: Name) =>
    startAgent([...spokeRunArgs(kube[n].kubeconfigPath, '10m'), '--lease-duration', '4s'], {
      env: { POD_NAME: `${n}-agent` },
    });

  before(async () => {
    etcd = await startEtcd();
    const clusters = await Promise.all(names.map((name) => startCluster({ name, etcd })));
    for (const c of clusters) kube[c.name as Name] = c;
    hub = await startHub({ args: ['--poll-timeout', '1s', '--missed-polls', '1'] });
    admin = await adminClient(hub);
    await Promise.all(names.map((n) => joinSpoke(hub, admin, n, kube[n].kubeconfigPath)));
    for (const n of names) agents[n] = runAgent(n);
    await Promise.all(names.map((n) => agents[n].waitForOutput(new RegExp(`serving cluster ${n}`), 60_000)));
    for (const n of names) {
      const res = await admin.patch(`/api/v1/clusters/${n}`, { metadata: { labels: { app: 'edge' } } });
      assert.equal(res.status, 200, res.text);
    }
    const placement = await admin.call('PUT', '/api/v1/placements/edge', {
      json: {
        metadata: { name: 'edge' },
        spec: {
          predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { app: 'edge' } } } }],
          tolerations: [{ key: 'outpost.dev/unreachable', operator: 'Exists', tolerationSeconds }],
        },
      },
    });
    assert.ok(placement.status === 201 || placement.status === 200, placement.text);
  });

  after(async () => {
    await Promise.all(Object.values(agents).map((a) => a.stop()));
    await admin?.close();
    await hub?.stop();
    await Promise.all(Object.values(kube).map((k) => k.stop()));
    await etcd?.stop();
  });

  const getWork = async (cluster: Name) => {
    const res = await admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/edge`);
    return res.status === 200 ? res.body : undefined;
  };
  const applied = (w: WorkView | undefined) =>
    w?.status.observedGeneration === w?.metadata.generation &&
    w?.status.conditions?.some((c) => c.type === 'Applied' && c.status === 'True');
  const workSet = async () => (await admin.get<WorkSetView>('/api/v1/worksets/edge')).body;
  const stateOf = (w: WorkSetView, n: Name) => w.status?.rollout?.clusters.find((c) => c.name === n);
  const condition = (w: WorkSetView, type: string) => w.status?.conditions.find((c) => c.type === type)?.status;
  const decided = async () =>
    ((await admin.get<PlacementView>('/api/v1/placements/edge')).body.status?.decisions ?? []).flatMap(
      (g) => g.clusterNames,
    );
  const available = async (n: Name) =>
    (await admin.get<ClusterView>(`/api/v1/clusters/${n}`)).body.status.conditions.find((c) => c.type === 'Available')
      ?.status;
  const readCm = async (n: Name) => {
    try {
      return await kube[n].kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({
        name: 'edge',
        namespace: 'default',
      });
    } catch {
      return undefined;
    }
  };
  /** Stops off-b's agent and waits until the hub shows it unreachable; returns when (ms). */
  const takeDown = async () => {
    const res = await agents['off-b'].stop();
    assert.notEqual(res.code, null, 'the agent exited on SIGTERM');
    await waitFor('off-b unreachable', async () => ((await available('off-b')) !== 'True' ? true : undefined), 20_000);
    return Date.now();
  };

  test('(e) tolerated for tolerationSeconds, then out of the decisions; its work follows the controller', async (t) => {
    const res = await admin.call('PUT', '/api/v1/worksets/edge', {
      json: {
        metadata: { name: 'edge' },
        spec: {
          templating: true,
          manifestWorkTemplate: {
            workload: {
              manifests: [
                {
                  apiVersion: 'v1',
                  kind: 'ConfigMap',
                  metadata: { name: 'edge', namespace: 'default' },
                  data: { cluster: '{{ .clusterName }}' },
                },
              ],
            },
          },
          placementRefs: [
            { name: 'edge', rolloutStrategy: { type: 'All', offlineClusters: { policy: 'Skip', timeout: '10m' } } },
          ],
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    await waitFor(
      'workset edge Complete',
      async () => (condition(await workSet(), 'Complete') === 'True' ? true : undefined),
      30_000,
    );
    const before = await getWork('off-b');
    assert.ok(applied(before));
    const uid = before?.metadata.uid;

    // 1. Unreachable but tolerated: still decided, work kept, shown offline and not succeeded.
    const downAt = await takeDown();
    assert.ok((await decided()).includes('off-b'), 'tolerated: still in the decisions');
    const offline = await waitFor(
      'off-b shown offline in the rollout',
      async () => {
        const w = await workSet();
        return /offline/.test(stateOf(w, 'off-b')?.reason ?? '') ? w : undefined;
      },
      10_000,
    );
    assert.notEqual(stateOf(offline, 'off-b')?.state, 'Succeeded');
    assert.equal(stateOf(offline, 'off-b')?.state, 'Progressing');
    assert.notEqual(condition(offline, 'Complete'), 'True');
    assert.equal(stateOf(offline, 'off-a')?.state, 'Succeeded');
    const kept = await getWork('off-b');
    assert.equal(kept?.metadata.uid, uid);
    assert.equal(kept?.metadata.deletionTimestamp, undefined);

    // 2. The toleration runs out: off-b leaves the decisions, its work is kept while it is away.
    await waitFor(
      'off-b out of the decisions',
      async () => ((await decided()).includes('off-b') ? undefined : true),
      tolerationSeconds * 1_000 + 15_000,
    );
    const tolerated = Date.now() - downAt;
    assert.ok(tolerated >= (tolerationSeconds - 1) * 1_000, `left the decisions after ${tolerated} ms`);
    t.diagnostic(`off-b left the decisions ${tolerated} ms after the hub showed it unreachable`);
    assert.deepEqual(await decided(), ['off-a']);
    const w = await waitFor(
      'workset shows the kept work',
      async () => {
        const v = await workSet();
        return /left the decisions while unreachable/.test(v.status?.rollout?.message ?? '') ? v : undefined;
      },
      10_000,
    );
    assert.ok(w);
    const away = await getWork('off-b');
    assert.equal(away?.metadata.uid, uid, 'kept while away');
    assert.equal(away?.metadata.deletionTimestamp, undefined);

    // 3. Back, still matching: selected again, and the same work was never deleted on the way.
    agents['off-b'] = runAgent('off-b');
    await waitFor('off-b decided again', async () => ((await decided()).includes('off-b') ? true : undefined), 30_000);
    await waitFor(
      'workset edge Complete again',
      async () => (condition(await workSet(), 'Complete') === 'True' ? true : undefined),
      30_000,
    );
    const back = await getWork('off-b');
    assert.equal(back?.metadata.uid, uid, 'the same work: not deleted and handed out again');
    assert.equal(back?.metadata.deletionTimestamp, undefined);
    assert.equal((await readCm('off-b'))?.data?.cluster, 'off-b');

    // 4. Away again and no longer matching: the work stays while it is away, goes once it is back.
    await takeDown();
    const res2 = await admin.patch('/api/v1/clusters/off-b', { metadata: { labels: { app: null } } });
    assert.equal(res2.status, 200, res2.text);
    await waitFor('off-b not decided', async () => ((await decided()).includes('off-b') ? undefined : true), 10_000);
    await waitFor(
      'workset shows the kept work',
      async () =>
        /left the decisions while unreachable/.test((await workSet()).status?.rollout?.message ?? '')
          ? true
          : undefined,
      10_000,
    );
    const unlabelled = await getWork('off-b');
    assert.equal(unlabelled?.metadata.uid, uid);
    assert.equal(unlabelled?.metadata.deletionTimestamp, undefined, 'not deleted while it cannot be told');
    const backAt = Date.now();
    agents['off-b'] = runAgent('off-b');
    await waitFor('edge gone from off-b on the hub', async () => ((await getWork('off-b')) ? undefined : true), 30_000);
    await waitFor('edge ConfigMap gone from off-b', async () => ((await readCm('off-b')) ? undefined : true), 15_000);
    t.diagnostic(`off-b's work and ConfigMap gone ${Date.now() - backAt} ms after its agent was started again`);
    assert.ok(await getWork('off-a'));
    assert.ok(await readCm('off-a'));
  });
});
