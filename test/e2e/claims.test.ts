// Cluster claims the agent reads from its cluster (real hub, agent and kube-apiserver): the
// apiserver's version, the cluster id, the node figures and ClusterClaim objects reach the
// hub's ManagedCluster, claims set at join win over them, and a Placement selects on them.
// A running agent follows ClusterClaims as they are created, changed and deleted, and picks
// up the ClusterClaim CRD when `join --install` creates it after the agent started.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeCluster } from '../kube/index.ts';
import { ensureKubeBinaries, startCluster } from '../kube/index.ts';
import { runOk } from '../kube/run.ts';
import { type AgentProcess, joinSpoke, runAgent, startAgent } from './agent-process.ts';
import { adminClient, createToken, type HubClient, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const cluster = 'spoke-claims';

interface ClusterView {
  status: { clusterClaims: { name: string; value: string }[] };
}

// OCM's ClusterClaim CRD as its klusterlet installs it (cluster-scoped, spec.value).
const clusterClaimCrd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterclaims.cluster.open-cluster-management.io
spec:
  group: cluster.open-cluster-management.io
  names: {kind: ClusterClaim, listKind: ClusterClaimList, plural: clusterclaims, singular: clusterclaim}
  scope: Cluster
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                value: {type: string, maxLength: 1024, minLength: 1}
`;
const claim = (name: string, value: string) => `---
apiVersion: cluster.open-cluster-management.io/v1alpha1
kind: ClusterClaim
metadata:
  name: ${name}
spec:
  value: ${value}
`;

const crdName = 'clusterclaims.cluster.open-cluster-management.io';

/** The claims the hub holds for `name` as a map. */
async function hubClaims(admin: HubClient, name: string): Promise<Record<string, string>> {
  const c = (await admin.get<ClusterView>(`/api/v1/clusters/${name}`)).body;
  return Object.fromEntries(c.status.clusterClaims.map((x) => [x.name, x.value]));
}

/** The names of the clusters a new Placement selecting `key` In [`value`] decides on. */
async function placedBy(admin: HubClient, placement: string, key: string, value: string): Promise<string[]> {
  const placed = await admin.post<{ status: { decisions: { clusterNames: string[] }[] } }>('/api/v1/placements', {
    apiVersion: 'cluster.open-cluster-management.io/v1beta1',
    kind: 'Placement',
    metadata: { name: placement },
    spec: {
      predicates: [
        {
          requiredClusterSelector: { claimSelector: { matchExpressions: [{ key, operator: 'In', values: [value] }] } },
        },
      ],
    },
  });
  return placed.body.status.decisions.flatMap((d) => d.clusterNames);
}

describe('cluster claims (real hub, agent and kube-apiserver)', { timeout: 240_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess | undefined;
  let dir: string;
  let kubectl: (...args: string[]) => Promise<string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-claims-'));
    const bin = (await ensureKubeBinaries()).kubectl;
    kube = await startCluster({ name: cluster });
    kubectl = (...args: string[]) => runOk(bin, ['--kubeconfig', kube.kubeconfigPath, ...args]);
    hub = await startHub();
    admin = await adminClient(hub);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('version, id, nodes and ClusterClaims reach the hub; join claims win; a Placement selects on them', async () => {
    const file = join(dir, 'claims.yaml');
    await writeFile(file, clusterClaimCrd);
    await kubectl('apply', '--server-side', '-f', file);
    await kubectl('wait', '--for=condition=Established', 'crd/clusterclaims.cluster.open-cluster-management.io');
    await writeFile(file, claim('site.example.com', 'fra1') + claim('rack', 'r9'));
    await kubectl('apply', '--server-side', '-f', file);
    const kubeSystemUid = (await kubectl('get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}')).trim();
    const version = JSON.parse(await kubectl('version', '-o', 'json')) as { serverVersion: { gitVersion: string } };

    await joinSpoke(hub, admin, cluster, kube.kubeconfigPath, ['--claims', 'rack=r7']);
    agent = startAgent(['run', '--kubeconfig', kube.kubeconfigPath, '--heartbeat-interval', '500ms']);
    await agent.waitForOutput(/serving cluster spoke-claims/);

    const claims = await waitFor(
      'the claims the agent read',
      async () => {
        const c = (await admin.get<ClusterView>(`/api/v1/clusters/${cluster}`)).body;
        const map = Object.fromEntries(c.status.clusterClaims.map((x) => [x.name, x.value]));
        return map['site.example.com'] ? map : undefined;
      },
      30_000,
    );
    assert.equal(claims['kubeversion.open-cluster-management.io'], version.serverVersion.gitVersion);
    assert.equal(claims['id.k8s.io'], kubeSystemUid);
    assert.equal(claims['product.open-cluster-management.io'], 'Other');
    // This test cluster runs no kubelet: no nodes.
    assert.equal(claims['nodes.outpost.dev'], '0');
    assert.equal(claims['cpu.outpost.dev'], '0');
    assert.match(claims['agentversion.outpost.dev'] ?? '', /\S/);
    assert.equal(claims['site.example.com'], 'fra1', 'a ClusterClaim object');
    assert.equal(claims.rack, 'r7', 'the claim set at join wins over a ClusterClaim of the same name');

    // Claims change on the spoke: the hub follows (the agent reads them at start and every
    // few minutes; a restart reads them at once).
    await kubectl('delete', 'clusterclaim', 'site.example.com');
    await writeFile(file, claim('site.example.com', 'muc2'));
    await kubectl('apply', '--server-side', '-f', file);
    assert.equal((await agent.stop()).code, 0);
    agent = startAgent(['run', '--kubeconfig', kube.kubeconfigPath, '--heartbeat-interval', '500ms']);
    await waitFor(
      'the changed ClusterClaim at the hub',
      async () => {
        const c = (await admin.get<ClusterView>(`/api/v1/clusters/${cluster}`)).body;
        return c.status.clusterClaims.some((x) => x.name === 'site.example.com' && x.value === 'muc2') || undefined;
      },
      30_000,
    );

    // A Placement selects on a reported claim.
    const placed = await admin.post<{ status: { decisions: { clusterNames: string[] }[] } }>('/api/v1/placements', {
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'by-site' },
      spec: {
        predicates: [
          {
            requiredClusterSelector: {
              claimSelector: { matchExpressions: [{ key: 'site.example.com', operator: 'In', values: ['muc2'] }] },
            },
          },
        ],
      },
    });
    assert.deepEqual(
      placed.body.status.decisions.flatMap((d) => d.clusterNames),
      [cluster],
    );
  });

  test('while the agent runs, a ClusterClaim created, changed and deleted reaches the hub without a restart', async () => {
    assert.ok(agent, 'the agent of the test before runs');
    const file = join(dir, 'live.yaml');
    await writeFile(file, claim('tier.example.com', 'gold'));
    await kubectl('apply', '--server-side', '-f', file);
    // The watch sees it at once; it goes with the next heartbeat (every 500 ms here).
    await waitFor(
      'the new ClusterClaim at the hub',
      async () => (await hubClaims(admin, cluster))['tier.example.com'],
      15_000,
    );
    assert.deepEqual(await placedBy(admin, 'by-tier', 'tier.example.com', 'gold'), [cluster]);

    await kubectl('patch', 'clusterclaim', 'tier.example.com', '--type', 'merge', '-p', '{"spec":{"value":"silver"}}');
    await waitFor(
      'the changed ClusterClaim at the hub',
      async () => ((await hubClaims(admin, cluster))['tier.example.com'] === 'silver' ? true : undefined),
      15_000,
    );

    await kubectl('delete', 'clusterclaim', 'tier.example.com');
    const after = await waitFor(
      'the deleted ClusterClaim gone from the hub',
      async () => {
        const claims = await hubClaims(admin, cluster);
        return 'tier.example.com' in claims ? undefined : claims;
      },
      15_000,
    );
    assert.equal(after['site.example.com'], 'muc2', 'the other ClusterClaims stay');
    assert.equal(after.rack, 'r7', 'the claim set at join stays');
    // A Placement made now no longer selects the cluster on the deleted claim.
    assert.deepEqual(await placedBy(admin, 'by-tier-gone', 'tier.example.com', 'gold'), []);
  });
});

describe('the ClusterClaim CRD from join --install (real hub, agent and kube-apiserver)', { timeout: 240_000 }, () => {
  const name = 'spoke-claims-crd';
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess | undefined;
  let dir: string;
  let kubectl: (...args: string[]) => Promise<string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-claims-crd-'));
    const bin = (await ensureKubeBinaries()).kubectl;
    [kube, hub] = await Promise.all([startCluster({ name }), startHub()]);
    kubectl = (...args: string[]) => runOk(bin, ['--kubeconfig', kube.kubeconfigPath, ...args]);
    admin = await adminClient(hub);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const joinInstall = async () => {
    const { token } = await createToken(admin, { autoApprove: true, ttl: '10m' });
    const r = await runAgent(
      [
        'join',
        '--install',
        '--wait=false',
        '--hub',
        hub.url,
        '--token',
        token,
        '--ca-cert-hash',
        hub.caHash,
        '--cluster-name',
        name,
        '--kubeconfig',
        kube.kubeconfigPath,
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, `join --install failed:\n${r.stderr}${r.stdout}`);
    return r;
  };
  const readCrd = async () =>
    JSON.parse(await kubectl('get', 'crd', crdName, '-o', 'json', '--show-managed-fields')) as {
      metadata: { resourceVersion: string; managedFields?: { manager?: string }[] };
      spec: { scope: string; names: { kind: string } };
    };

  test('join --install on a cluster without it creates the CRD; the agent already running picks it up; its ClusterClaims reach the hub and select the cluster', async () => {
    // The agent runs first, on a cluster with no ClusterClaim CRD: its own claims only.
    await joinSpoke(hub, admin, name, kube.kubeconfigPath);
    agent = startAgent(['run', '--kubeconfig', kube.kubeconfigPath, '--heartbeat-interval', '500ms']);
    await agent.waitForOutput(/serving cluster spoke-claims-crd/);
    await waitFor('the agent’s own claims', async () => (await hubClaims(admin, name))['id.k8s.io'], 30_000);
    assert.equal((await kubectl('get', 'crd', '-o', 'name')).trim(), '', 'no CRD yet');

    const r = await joinInstall();
    assert.match(r.stderr, new RegExp(`outpost-agent: created CustomResourceDefinition ${crdName}\\n`));
    assert.match(r.stderr, /outpost-agent: applied DaemonSet outpost-agent\/outpost-agent/);
    const crd = await readCrd();
    assert.equal(crd.spec.scope, 'Cluster');
    assert.equal(crd.spec.names.kind, 'ClusterClaim');
    assert.ok(
      crd.metadata.managedFields?.some((f) => f.manager === 'outpost-agent-installer'),
      'created by the installer’s field manager',
    );
    await kubectl('wait', '--for=condition=Established', `crd/${crdName}`);

    const file = join(dir, 'claims.yaml');
    await writeFile(file, claim('site.example.com', 'ber1'));
    await kubectl('apply', '--server-side', '-f', file);
    // The agent looks for the CRD every 10 s, then watches; the claim goes with a heartbeat.
    await waitFor(
      'the ClusterClaim at the hub',
      async () => ((await hubClaims(admin, name))['site.example.com'] === 'ber1' ? true : undefined),
      30_000,
    );
    assert.deepEqual(await placedBy(admin, 'by-site', 'site.example.com', 'ber1'), [name]);

    // Running it again leaves the CRD it created as it is, too.
    const again = await joinInstall();
    assert.match(
      again.stderr,
      new RegExp(`outpost-agent: left CustomResourceDefinition ${crdName} as it is \\(already present\\)`),
    );
    assert.equal((await readCrd()).metadata.resourceVersion, crd.metadata.resourceVersion);
  });
});
