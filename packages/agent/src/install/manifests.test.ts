import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installedByLabel, installManifests, manifestPath, shippedManifests } from './manifests.ts';

test('the shipped manifests are the chart: Namespace first, then the agent’s objects', () => {
  const kinds = shippedManifests().map((m) => m.kind);
  assert.deepEqual(kinds, [
    'Namespace',
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
