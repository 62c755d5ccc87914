// A GitRepo rolled out progressively to real clusters: a real hub process, two real spokes
// (two kube-apiservers on one etcd) with real agents, and a real Git server on loopback. The
// GitRepo's Progressive strategy (one cluster at a time, each soaking 3 s) orders both the
// first commit's rollout and a later change: the second cluster gets each only after the
// first has it and the soak has passed. Each cluster's ConfigMap carries its own name
// (templating) and the work carries the commit.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type EtcdHandle, type KubeCluster, startCluster, startEtcd } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { type GitServer, makeRepo, startGitServer } from './git-server.ts';
import { adminClient, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const names = ['prog-a', 'prog-b'] as const;
type Name = (typeof names)[number];

interface WorkView {
  metadata: { creationTimestamp: string; annotations?: Record<string, string> };
}

const cm = (value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prog\n  namespace: default\ndata:\n  cluster: "{{ .clusterName }}"\n  value: "${value}"\n`;

describe('GitRepo with a Progressive rollout (real hub, two spokes and agents, a Git server)', {
  timeout: 300_000,
}, () => {
  let etcd: EtcdHandle;
  const kube = {} as Record<Name, KubeCluster>;
  const agents: AgentProcess[] = [];
  let hub: HubProcess;
  let admin: HubClient;
  let git: GitServer;
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-gitrepo-progressive-'));
    const home = join(dir, 'home');
    await mkdir(home);
    await mkdir(join(dir, 'repos'));
    repo = await makeRepo(join(dir, 'repos'), 'prog', home);
    git = await startGitServer(join(dir, 'repos'), home);
    etcd = await startEtcd();
    const clusters = await Promise.all(names.map((name) => startCluster({ name, etcd })));
    for (const c of clusters) kube[c.name as Name] = c;
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await Promise.all(names.map((n) => joinSpoke(hub, admin, n, kube[n].kubeconfigPath)));
    for (const n of names) agents.push(startAgent(spokeRunArgs(kube[n].kubeconfigPath, '10m')));
    await Promise.all(agents.map((a, i) => a.waitForOutput(new RegExp(`serving cluster ${names[i]}`), 60_000)));
    for (const n of names) {
      const res = await admin.patch(`/api/v1/clusters/${n}`, { metadata: { labels: { prog: 'yes' } } });
      assert.equal(res.status, 200, res.text);
    }
    const placement = await admin.call('PUT', '/api/v1/namespaces/default/placements/prog', {
      json: {
        metadata: { name: 'prog' },
        spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { prog: 'yes' } } } }] },
      },
    });
    assert.equal(placement.status, 201, placement.text);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await admin?.close();
    await hub?.stop();
    await Promise.all(Object.values(kube).map((k) => k.stop()));
    await etcd?.stop();
    await git?.stop();
    await repo?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const value = async (n: Name) => {
    try {
      const c = await kube[n].kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({
        name: 'prog',
        namespace: 'default',
      });
      return c.data?.value;
    } catch {
      return undefined;
    }
  };
  /** When each cluster first shows `want` (sampled every 100 ms), and what the other had then. */
  const arrivals = async (want: string) => {
    const at = {} as Record<Name, number>;
    const otherThen = {} as Record<Name, string | undefined>;
    const deadline = Date.now() + 90_000;
    while (names.some((n) => at[n] === undefined)) {
      assert.ok(Date.now() < deadline, `both clusters show ${want}: ${JSON.stringify(at)}`);
      const seen = await Promise.all(names.map(value));
      names.forEach((n, i) => {
        if (at[n] === undefined && seen[i] === want) {
          at[n] = Date.now();
          otherThen[n] = seen[1 - i];
        }
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    return { at, otherThen };
  };

  test('(a) the first commit reaches one cluster, then the other after the soak; each ConfigMap names its cluster', async () => {
    const first = await repo.commit('one configmap', { 'app/cm.yaml': cm('one') });
    const res = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/prog', {
      json: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'GitRepo',
        metadata: { name: 'prog' },
        spec: {
          repo: git.url('prog'),
          branch: 'main',
          paths: ['app'],
          pollingInterval: '5s',
          placementRef: { name: 'prog' },
          templating: true,
          rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: 1, minSuccessTime: '3s' } },
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    const { at, otherThen } = await arrivals('one');
    const early: Name = at['prog-a'] <= at['prog-b'] ? 'prog-a' : 'prog-b';
    assert.equal(otherThen[early], undefined, 'the second cluster had nothing when the first got it');
    const works = await Promise.all(
      names.map(async (n) => (await admin.get<WorkView>(`/api/v1/clusters/${n}/works/prog-app`)).body),
    );
    const created = works.map((w) => Date.parse(w.metadata.creationTimestamp));
    assert.ok(
      Math.abs((created[1] as number) - (created[0] as number)) >= 3_000,
      `the works were made ${Math.abs((created[1] as number) - (created[0] as number))} ms apart (soak 3 s)`,
    );
    for (const w of works) assert.equal(w.metadata.annotations?.['outpost.dev/git-commit'], first);
    for (const n of names) {
      const c = await kube[n].kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({
        name: 'prog',
        namespace: 'default',
      });
      assert.equal(c.data?.cluster, n, 'templated per cluster');
    }
  });

  test('(b) a changed file rolls out the same way: one cluster, then the other after the soak', async () => {
    await waitFor(
      'the first rollout Complete',
      async () => {
        const g = await admin.get<{ status: { paths: { state?: string }[] } }>(
          '/api/v1/namespaces/default/gitrepos/prog',
        );
        return g.body.status.paths[0]?.state === 'Complete' ? true : undefined;
      },
      60_000,
    );
    await repo.commit('change', { 'app/cm.yaml': cm('two') });
    const { at, otherThen } = await arrivals('two');
    const early = at['prog-a'] <= at['prog-b'] ? 'prog-a' : 'prog-b';
    const late = early === 'prog-a' ? 'prog-b' : 'prog-a';
    assert.equal(otherThen[early], 'one', 'the other cluster still had the previous value');
    assert.ok(at[late] - at[early] >= 2_500, `the second cluster changed ${at[late] - at[early]} ms later (soak 3 s)`);
  });
});
