// Cluster claims the agent reads from its cluster (real hub, agent and kube-apiserver): the
// apiserver's version, the cluster id, the node figures and ClusterClaim objects reach the
// hub's ManagedCluster, claims set at join win over them, and a Placement selects on them.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubeCluster } from '../kube/index.ts';
import { ensureKubeBinaries, startCluster } from '../kube/index.ts';
import { runOk } from '../kube/run.ts';
import { type AgentProcess, joinSpoke, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, waitFor } from './hub-client.ts';
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
});
