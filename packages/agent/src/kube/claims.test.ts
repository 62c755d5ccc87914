import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limits } from '@outpost/shared';
import type { KubeRequest, KubeResponse, KubeRest } from '../apply/rest.ts';
import { agentVersion } from '../version.ts';
import { claimNames, collectClaims, listClusterClaims, mergeClaims, quantity } from './claims.ts';

/** A fake apiserver: GET path → body (200), anything else 404; `fail` paths throw (unreachable). */
function fakeRest(routes: Record<string, unknown>, fail: string[] = []): KubeRest & { seen: KubeRequest[] } {
  const seen: KubeRequest[] = [];
  return {
    seen,
    async request(req: KubeRequest): Promise<KubeResponse> {
      seen.push(req);
      if (fail.includes(req.path)) throw new Error('connect ECONNREFUSED');
      const key = req.query?.continue ? `${req.path}?continue=${req.query.continue}` : req.path;
      const body = routes[key];
      return body === undefined
        ? { status: 404, contentType: 'application/json', body: { kind: 'Status', code: 404 } }
        : { status: 200, contentType: 'application/json', body };
    },
  };
}

const node = (name: string, cpu: string, memory: string, providerID?: string, region?: string, zone?: string) => ({
  metadata: {
    name,
    labels: {
      ...(region ? { 'topology.kubernetes.io/region': region } : {}),
      ...(zone ? { 'topology.kubernetes.io/zone': zone } : {}),
    },
  },
  spec: providerID ? { providerID } : {},
  status: { allocatable: { cpu, memory } },
});

test('quantity reads Kubernetes quantities', () => {
  assert.equal(quantity('3920m'), 3.92);
  assert.equal(quantity('4'), 4);
  assert.equal(quantity('16Gi'), 16 * 2 ** 30);
  assert.equal(quantity('1500Ki'), 1500 * 1024);
  assert.equal(quantity('2e3'), 2000);
  assert.equal(quantity('1.5G'), 1.5e9);
  assert.ok(Number.isNaN(quantity('lots')));
});

test('collectClaims: version, id, product, nodes (paged), platform, region, zones and ClusterClaims', async () => {
  const rest = fakeRest({
    '/version': { gitVersion: 'v1.31.4+k3s1' },
    '/api/v1/namespaces/kube-system': { metadata: { name: 'kube-system', uid: 'ks-uid' } },
    '/api/v1/nodes': {
      items: [node('a', '3920m', '16Gi', 'aws:///eu-central-1a/i-1', 'eu-central-1', 'eu-central-1a')],
      metadata: { continue: 'next' },
    },
    '/api/v1/nodes?continue=next': {
      items: [node('b', '4', '8388608Ki', 'aws:///eu-central-1b/i-2', 'eu-central-1', 'eu-central-1b')],
      metadata: {},
    },
    '/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims': {
      items: [
        { metadata: { name: 'site.example.com' }, spec: { value: 'fra1' } },
        // A ClusterClaim cannot override what the agent reads itself.
        { metadata: { name: claimNames.kubeVersion }, spec: { value: 'v9.9.9' } },
        { metadata: { name: 'no-value.example.com' }, spec: {} },
      ],
    },
  });
  const c = await collectClaims(rest);
  assert.deepEqual(c, {
    [claimNames.agentVersion]: agentVersion,
    [claimNames.id]: 'ks-uid',
    [claimNames.kubeVersion]: 'v1.31.4+k3s1',
    [claimNames.product]: 'K3s',
    [claimNames.nodes]: '2',
    [claimNames.cpu]: '7.92',
    [claimNames.memory]: `${16 * 1024 + 8192}Mi`,
    [claimNames.platform]: 'AWS',
    [claimNames.region]: 'eu-central-1',
    [claimNames.zones]: 'eu-central-1a,eu-central-1b',
    'site.example.com': 'fra1',
  });
  assert.ok(
    rest.seen.every((r) => r.method === 'GET'),
    'reads only',
  );
});

test('collectClaims: what cannot be read is left out, never an error', async () => {
  // No RBAC for nodes (403 here reads as "not 200"), no ClusterClaim CRD, OpenShift's API group.
  const c = await collectClaims(
    fakeRest({ '/version': { gitVersion: 'v1.30.2' }, '/apis/config.openshift.io/v1': { resources: [] } }, [
      '/api/v1/namespaces/kube-system',
    ]),
  );
  assert.deepEqual(c, {
    [claimNames.agentVersion]: agentVersion,
    [claimNames.kubeVersion]: 'v1.30.2',
    [claimNames.product]: 'OpenShift',
  });
  // Nodes of several providers, or none known: Other.
  const mixed = await collectClaims(
    fakeRest({ '/api/v1/nodes': { items: [node('a', '1', '1Gi', 'gce://p/z/a'), node('b', '1', '1Gi')] } }),
  );
  assert.equal(mixed[claimNames.platform], 'Other');
  assert.equal(mixed[claimNames.region], undefined);
});

test('listClusterClaims: name → value (paged); {} without the CRD; undefined when unreadable', async () => {
  const path = '/apis/cluster.open-cluster-management.io/v1alpha1/clusterclaims';
  const rest = fakeRest({
    [path]: { items: [{ metadata: { name: 'b' }, spec: { value: '2' } }], metadata: { continue: 'n' } },
    [`${path}?continue=n`]: { items: [{ metadata: { name: 'a' }, spec: { value: '1' } }, { metadata: { name: 'c' } }] },
  });
  assert.deepEqual(await listClusterClaims(rest), { a: '1', b: '2' });
  assert.deepEqual(await listClusterClaims(fakeRest({})), {}, 'no CRD (404): none');
  assert.equal(await listClusterClaims(fakeRest({}, [path])), undefined, 'unreachable');
  const forbidden: KubeRest = {
    request: async () => ({ status: 403, contentType: 'application/json', body: { kind: 'Status', code: 403 } }),
  };
  assert.equal(await listClusterClaims(forbidden), undefined, 'no RBAC');
});

test('mergeClaims: the agent’s own first, ClusterClaims by name up to the limit, long values cut', () => {
  const own = { [claimNames.kubeVersion]: 'v1.31.0', [claimNames.agentVersion]: agentVersion };
  const many: Record<string, string> = {
    [claimNames.kubeVersion]: 'v9.9.9',
    long: 'x'.repeat(limits.claimValueMax + 5),
  };
  for (let i = 0; i < limits.claimsPerCluster + 10; i++) many[`c${String(i).padStart(3, '0')}`] = String(i);
  const merged = mergeClaims(own, many);
  assert.equal(Object.keys(merged).length, limits.claimsPerCluster);
  assert.equal(merged[claimNames.kubeVersion], 'v1.31.0', 'a ClusterClaim cannot override the agent’s own');
  assert.equal(merged.c000, '0');
  assert.equal(merged.long, undefined, 'names sort after the c… ones and the limit was reached');
  assert.equal(mergeClaims(own, { long: 'y'.repeat(2000) }).long?.length, limits.claimValueMax);
});
