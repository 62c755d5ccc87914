// ManagedClusterSets end to end, as an OCM user writes them: one YAML file with a
// ManagedClusterSet, its ManagedClusterSetBinding, a Placement naming the set and a
// ManifestWorkReplicaSet, applied unchanged with `outpost-hub apply -f` to a real hub with two
// real spokes (two kube-apiservers on one etcd) and their agents.
//  - Only the set's member (labelled cluster.open-cluster-management.io/clusterset=edge)
//    receives the ConfigMap; the other spoke never has it.
//  - A Placement of the same namespace that names no set selects from the bound sets only.
//  - Labelling the second cluster into the set hands it the work; the CLI lists the set with
//    its member count, and the built-in sets cannot be deleted.
//  - Namespaces: a Placement and a workset of the same names in team-x and team-y (each with
//    global bound) are four objects, and a namespace with no binding selects nothing; each namespace's workset reaches its own cluster with its own data, the CLI
//    needs -n where a name is in both, and deleting one namespace's workset leaves the other's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { type EtcdHandle, type KubeCluster, startCluster, startEtcd } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

const names = ['cs-a', 'cs-b'] as const;
type Name = (typeof names)[number];
const setLabel = 'cluster.open-cluster-management.io/clusterset';

const yaml = `apiVersion: cluster.open-cluster-management.io/v1beta2
kind: ManagedClusterSet
metadata:
  name: edge
---
apiVersion: cluster.open-cluster-management.io/v1beta2
kind: ManagedClusterSetBinding
metadata:
  name: edge
  namespace: team-a
spec:
  clusterSet: edge
---
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: edge-only
  namespace: team-a
spec:
  clusterSets:
    - edge
---
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: bound-only
  namespace: team-a
spec: {}
---
apiVersion: work.open-cluster-management.io/v1alpha1
kind: ManifestWorkReplicaSet
metadata:
  name: edge-config
  namespace: team-a
spec:
  placementRefs:
    - name: edge-only
  manifestWorkTemplate:
    workload:
      manifests:
        - apiVersion: v1
          kind: ConfigMap
          metadata:
            name: edge-config
            namespace: default
          data:
            site: edge
`;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [hubMain, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

interface PlacementView {
  status: { decisions: { clusterNames: string[] }[]; conditions: { type: string; status: string; reason: string }[] };
}

describe('cluster sets (OCM YAML through the CLI, real hub, two spokes and agents)', { timeout: 240_000 }, () => {
  let etcd: EtcdHandle;
  const kube = {} as Record<Name, KubeCluster>;
  const agents: AgentProcess[] = [];
  let hub: HubProcess;
  let admin: HubClient;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-sets-'));
    etcd = await startEtcd();
    const clusters = await Promise.all(names.map((name) => startCluster({ name, etcd })));
    for (const c of clusters) kube[c.name as Name] = c;
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await Promise.all(names.map((n) => joinSpoke(hub, admin, n, kube[n].kubeconfigPath)));
    for (const n of names) {
      agents.push(startAgent(spokeRunArgs(kube[n].kubeconfigPath, '10m'), { env: { POD_NAME: `${n}-agent` } }));
    }
    await Promise.all(agents.map((a, i) => a.waitForOutput(new RegExp(`serving cluster ${names[i]}`), 60_000)));
    const res = await admin.patch('/api/v1/clusters/cs-a', { metadata: { labels: { [setLabel]: 'edge' } } });
    assert.equal(res.status, 200, res.text);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await admin?.close();
    await hub?.stop();
    for (const c of Object.values(kube)) await c.stop();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = async (...args: string[]) => {
    const res = await run([...args, '--data-dir', hub.dataDir, '--hub', hub.url]);
    assert.equal(res.code, 0, `outpost-hub ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  };
  const configMap = async (n: Name) => {
    try {
      return await kube[n].kubeConfig().makeApiClient(CoreV1Api).readNamespacedConfigMap({
        name: 'edge-config',
        namespace: 'default',
      });
    } catch {
      return undefined;
    }
  };
  const decisions = async (name: string) => {
    const p = await admin.get<PlacementView>(`/api/v1/placements/${name}`);
    assert.equal(p.status, 200);
    return p.body.status.decisions.flatMap((d) => d.clusterNames).sort();
  };

  test('only members of the bound set receive the work', async () => {
    const file = join(dir, 'edge.yaml');
    await writeFile(file, yaml);
    const out = await cli('apply', '-f', file);
    assert.match(out, /managedclusterset edge created/);
    assert.match(out, /managedclustersetbinding team-a\/edge created/);
    assert.deepEqual(await decisions('edge-only'), ['cs-a']);
    // No clusterSets in a namespace with a binding: the bound sets only (OCM's rule).
    assert.deepEqual(await decisions('bound-only'), ['cs-a']);
    await waitFor('the ConfigMap on cs-a', async () => (await configMap('cs-a'))?.data?.site === 'edge', 60_000);
    assert.equal(await configMap('cs-b'), undefined, 'cs-b is not in the set');

    const list = await cli('clusterset', 'list');
    assert.match(
      list,
      /edge\s+label cluster\.open-cluster-management\.io\/clusterset=edge\s+1 ManagedCluster selected/,
    );
    assert.match(list, /global\s+labels \{\}\s+2 ManagedClusters selected/);
    assert.match(list, /default\s+.*\(or none\)\s+1 ManagedCluster selected/);
    const bindings = await cli('clustersetbinding', 'list', '-n', 'team-a');
    assert.match(bindings, /team-a\s+edge\s+True/);
    // Applying the same file again changes nothing.
    assert.match(await cli('apply', '-f', file), /managedclusterset edge unchanged/);
  });

  test('namespaces: same-named placements and worksets of two namespaces are separate objects end to end', async () => {
    const doc = (ns: string, cluster: Name, site: string) => `apiVersion: cluster.open-cluster-management.io/v1beta2
kind: ManagedClusterSetBinding
metadata:
  name: global
  namespace: ${ns}
spec:
  clusterSet: global
---
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
metadata:
  name: one
  namespace: ${ns}
spec:
  predicates:
    - requiredClusterSelector:
        labelSelector:
          matchLabels:
            site: ${site}
---
apiVersion: work.open-cluster-management.io/v1alpha1
kind: ManifestWorkReplicaSet
metadata:
  name: web
  namespace: ${ns}
spec:
  placementRefs:
    - name: one
  manifestWorkTemplate:
    workload:
      manifests:
        - apiVersion: v1
          kind: ConfigMap
          metadata:
            name: web-${ns}
            namespace: default
          data:
            owner: ${ns}
            cluster: ${cluster}
`;
    for (const [n, site] of [
      ['cs-a', 'north'],
      ['cs-b', 'south'],
    ] as const) {
      const res = await admin.patch(`/api/v1/clusters/${n}`, { metadata: { labels: { site } } });
      assert.equal(res.status, 200, res.text);
    }
    const file = join(dir, 'namespaces.yaml');
    await writeFile(file, `${doc('team-x', 'cs-a', 'north')}---\n${doc('team-y', 'cs-b', 'south')}`);
    const out = await cli('apply', '-f', file);
    assert.equal(out.match(/placement one created/g)?.length, 2, out);
    assert.equal(out.match(/manifestworkreplicaset web created/g)?.length, 2, out);
    // A namespace with no binding selects nothing, as in OCM (never every cluster).
    const unbound = await admin.call<PlacementView>('PUT', '/api/v1/namespaces/team-z/placements/one', {
      json: { metadata: { name: 'one' }, spec: {} },
    });
    assert.equal(unbound.status, 201, unbound.text);
    assert.deepEqual(unbound.body.status.decisions, []);
    assert.equal(
      unbound.body.status.conditions.find((c) => c.type === 'PlacementSatisfied')?.reason,
      'NoManagedClusterSetBindings',
    );
    const cm = async (n: Name, name: string) => {
      try {
        return await kube[n]
          .kubeConfig()
          .makeApiClient(CoreV1Api)
          .readNamespacedConfigMap({ name, namespace: 'default' });
      } catch {
        return undefined;
      }
    };
    await waitFor('team-x on cs-a', async () => (await cm('cs-a', 'web-team-x'))?.data?.owner === 'team-x', 60_000);
    await waitFor('team-y on cs-b', async () => (await cm('cs-b', 'web-team-y'))?.data?.owner === 'team-y', 60_000);
    assert.equal(await cm('cs-a', 'web-team-y'), undefined);
    assert.equal(await cm('cs-b', 'web-team-x'), undefined);

    const ambiguous = await run(['workset', 'get', 'web', '--data-dir', hub.dataDir, '--hub', hub.url]);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /NAME_AMBIGUOUS/);
    assert.match(await cli('workset', 'get', 'web', '-n', 'team-y'), /namespace:\s+team-y/);
    assert.match(await cli('placement', 'list', '-n', 'team-x'), /team-x\s+one\s+1/);

    await cli('workset', 'delete', 'web', '-n', 'team-x');
    await waitFor('team-x gone from cs-a', async () => (await cm('cs-a', 'web-team-x')) === undefined, 60_000);
    assert.equal((await cm('cs-b', 'web-team-y'))?.data?.owner, 'team-y', "team-y's stays");
    assert.match(await cli('workset', 'get', 'web'), /namespace:\s+team-y/, 'the one left is found without -n');

    // Bindings page as the store orders them, (namespace, name): "team" before "team-x" even
    // though "team-x/…" sorts before "team/…" as text. Page by page, each exactly once.
    const bind = await admin.call('PUT', '/api/v1/namespaces/team/managedclustersetbindings/global', {
      json: { metadata: { name: 'global' }, spec: { clusterSet: 'global' } },
    });
    assert.equal(bind.status, 201, bind.text);
    type BindingList = { items: { metadata: { namespace: string; name: string } }[]; metadata: { continue?: string } };
    const whole = await admin.get<BindingList>('/api/v1/managedclustersetbindings');
    const paged: string[] = [];
    let cont = '';
    do {
      const page = await admin.get<BindingList>(
        `/api/v1/managedclustersetbindings?limit=1${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
      );
      assert.equal(page.status, 200);
      paged.push(...page.body.items.map((b) => `${b.metadata.namespace}/${b.metadata.name}`));
      cont = page.body.metadata.continue ?? '';
    } while (cont);
    assert.deepEqual(
      paged,
      whole.body.items.map((b) => `${b.metadata.namespace}/${b.metadata.name}`),
    );
    assert.ok(paged.indexOf('team/global') < paged.indexOf('team-x/global'), paged.join(' '));
  });

  test('a cluster labelled into the set receives the work; built-in sets stay', async () => {
    const res = await admin.patch('/api/v1/clusters/cs-b', { metadata: { labels: { [setLabel]: 'edge' } } });
    assert.equal(res.status, 200, res.text);
    await waitFor('cs-b selected', async () => (await decisions('edge-only')).length === 2, 30_000);
    await waitFor('the ConfigMap on cs-b', async () => (await configMap('cs-b'))?.data?.site === 'edge', 60_000);

    const del = await run(['clusterset', 'delete', 'global', '--data-dir', hub.dataDir, '--hub', hub.url]);
    assert.equal(del.code, 1, del.stdout);
    assert.match(del.stderr, /CLUSTER_SET_BUILT_IN/);
    const bad = await admin.call('PUT', '/api/v1/managedclustersets/bad', {
      json: { metadata: { name: 'bad' }, spec: { clusterSelector: { selectorType: 'Everything' } } },
    });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { code: string }).code, 'CLUSTER_SET_INVALID');
  });
});
