import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeRequest, KubeResponse, KubeRest } from '../apply/rest.ts';
import { applyManifests } from './index.ts';
import {
  createIfAbsentStep,
  installedByLabel,
  installerFieldManager,
  installManifests,
  installModeOf,
  type Manifest,
  manifestPath,
  shippedManifests,
} from './manifests.ts';

test('the shipped manifests are the chart: Namespace first, the ClusterClaim CRD, then the agent’s objects', () => {
  const kinds = shippedManifests().map((m) => m.kind);
  assert.deepEqual(kinds, [
    'Namespace',
    'CustomResourceDefinition',
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'DaemonSet',
  ]);
});

test('installManifests moves everything to the namespace and sets the image', () => {
  const ms = installManifests({ namespace: 'edge', image: 'registry.example.com/agent:2' });
  const by = (kind: string) => ms.find((m) => m.kind === kind) as (typeof ms)[number];
  assert.equal(by('Namespace').metadata.name, 'edge');
  assert.equal(by('Namespace').metadata.labels?.[installedByLabel], 'outpost-agent-installer');
  assert.equal(by('Namespace').metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  for (const kind of ['ServiceAccount', 'Role', 'RoleBinding', 'DaemonSet'])
    assert.equal(by(kind).metadata.namespace, 'edge');
  assert.equal(by('ClusterRole').metadata.namespace, undefined);
  assert.deepEqual(by('ClusterRoleBinding').subjects, [
    { kind: 'ServiceAccount', name: 'outpost-agent', namespace: 'edge' },
  ]);
  assert.deepEqual(by('RoleBinding').subjects, [{ kind: 'ServiceAccount', name: 'outpost-agent', namespace: 'edge' }]);
  assert.equal(by('DaemonSet').spec.template.spec.containers[0].image, 'registry.example.com/agent:2');
  assert.equal(manifestPath(by('DaemonSet')), '/apis/apps/v1/namespaces/edge/daemonsets/outpost-agent');
  assert.equal(manifestPath(by('ClusterRole')), '/apis/rbac.authorization.k8s.io/v1/clusterroles/outpost-agent');
  // Without --image: the chart's default.
  const plain = installManifests({ namespace: 'outpost-agent' }).find((m) => m.kind === 'DaemonSet');
  assert.match(String(plain?.spec.template.spec.containers[0].image), /^ghcr\.io\/outpost-dev\/outpost-agent:/);
});

const crdName = 'clusterclaims.cluster.open-cluster-management.io';
const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`;
const shippedCrd = () => shippedManifests().find((m) => m.kind === 'CustomResourceDefinition') as Manifest;

test('the shipped ClusterClaim CRD is OCM’s: same name, group, version, scope and spec.value schema', () => {
  const crd = shippedCrd();
  assert.equal(crd.metadata.name, crdName);
  assert.equal(crd.spec.group, 'cluster.open-cluster-management.io');
  assert.equal(crd.spec.scope, 'Cluster');
  assert.deepEqual(crd.spec.names, {
    kind: 'ClusterClaim',
    listKind: 'ClusterClaimList',
    plural: 'clusterclaims',
    singular: 'clusterclaim',
  });
  assert.deepEqual(
    crd.spec.versions.map((v: Manifest) => [v.name, v.served, v.storage]),
    [['v1alpha1', true, true]],
  );
  const value = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.value;
  const { description: _, ...schema } = value;
  assert.deepEqual(schema, { type: 'string', maxLength: 1024, minLength: 1 });
  assert.equal(manifestPath(crd), crdPath);
  assert.equal(
    installManifests({ namespace: 'edge' }).find((m) => m.kind === 'CustomResourceDefinition')?.metadata.namespace,
    undefined,
  );
});

test('install modes: the CRD is created only when absent, everything else applied', () => {
  for (const m of shippedManifests()) {
    assert.equal(installModeOf(m), m.kind === 'CustomResourceDefinition' ? 'createIfAbsent' : 'apply', m.kind);
  }
});

test('createIfAbsentStep: create when absent; leave anything present, saying what it means', () => {
  const crd = shippedCrd();
  assert.deepEqual(createIfAbsentStep(crd, undefined), { action: 'create' });
  assert.deepEqual(createIfAbsentStep(crd, { spec: { versions: [{ name: 'v1alpha1', served: true }] } }), {
    action: 'leave',
    note: 'already present',
  });
  // OCM could serve more versions, or (some day) stop serving ours: left all the same.
  assert.deepEqual(
    createIfAbsentStep(crd, {
      spec: {
        versions: [
          { name: 'v1alpha1', served: true },
          { name: 'v1beta1', served: true },
        ],
      },
    }),
    { action: 'leave', note: 'already present' },
  );
  assert.deepEqual(
    createIfAbsentStep(crd, {
      spec: {
        versions: [
          { name: 'v1alpha1', served: false },
          { name: 'v1', served: true },
        ],
      },
    }),
    { action: 'leave', note: "already present; it does not serve v1alpha1, as the agent's would" },
  );
  assert.deepEqual(createIfAbsentStep(crd, { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } }), {
    action: 'leave',
    note: 'already present, being deleted; run the command again once it is gone',
  });
});

/** A fake apiserver for applyManifests: the CRD's GET and POST answer from `crd`; applies succeed. */
function fakeInstallRest(crd: { get: number; post?: number }): KubeRest & { seen: KubeRequest[] } {
  const seen: KubeRequest[] = [];
  const json = (status: number, body: unknown = {}): KubeResponse => ({
    status,
    contentType: 'application/json',
    body,
  });
  return {
    seen,
    async request(req) {
      seen.push(req);
      if (req.path === crdPath && req.method === 'GET') {
        return json(crd.get, crd.get === 200 ? { spec: { versions: [{ name: 'v1alpha1', served: true }] } } : {});
      }
      if (req.path === '/apis/apiextensions.k8s.io/v1/customresourcedefinitions' && req.method === 'POST') {
        return json(crd.post ?? 201);
      }
      if (req.method === 'PATCH' && !req.path.includes('customresourcedefinitions')) return json(200);
      throw new Error(`unexpected ${req.method} ${req.path}`);
    },
  };
}

describe('applyManifests and the CRD', () => {
  const run = async (crd: { get: number; post?: number }) => {
    const rest = fakeInstallRest(crd);
    const lines: string[] = [];
    await applyManifests(rest, installManifests({ namespace: 'edge' }), {
      applyNamespace: true,
      progress: (l) => lines.push(l),
    });
    const crdCalls = rest.seen.filter((r) => r.path.includes('customresourcedefinitions'));
    return { lines, crdCalls, patched: rest.seen.filter((r) => r.method === 'PATCH').length };
  };

  test('absent: created (POST, the installer’s field manager), never applied', async () => {
    const r = await run({ get: 404 });
    assert.deepEqual(
      r.crdCalls.map((c) => [c.method, c.query]),
      [
        ['GET', undefined],
        ['POST', { fieldManager: installerFieldManager }],
      ],
    );
    assert.ok(r.lines.includes(`created CustomResourceDefinition ${crdName}`), r.lines.join('\n'));
    assert.equal(r.patched, shippedManifests().length - 1, 'every other object applied');
  });

  test('present: read and left as it is (no write of any kind)', async () => {
    const r = await run({ get: 200 });
    assert.deepEqual(
      r.crdCalls.map((c) => c.method),
      ['GET'],
    );
    assert.ok(r.lines.includes(`left CustomResourceDefinition ${crdName} as it is (already present)`));
    assert.equal(r.patched, shippedManifests().length - 1);
  });

  test('created meanwhile (409 on create): left as it is', async () => {
    const r = await run({ get: 404, post: 409 });
    assert.ok(
      r.lines.includes(`left CustomResourceDefinition ${crdName} as it is (created meanwhile by someone else)`),
    );
  });

  test('a refused read or create fails the install with AGENT_INSTALL_FAILED', async () => {
    for (const crd of [{ get: 403 }, { get: 404, post: 403 }]) {
      await assert.rejects(run(crd), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'AGENT_INSTALL_FAILED');
        assert.match(err.message, new RegExp(`CustomResourceDefinition ${crdName}: HTTP 403`));
        return true;
      });
    }
  });
});
