import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decisionsPerObject, placementDecisions } from './decisions.ts';

const placement = { name: 'web', uid: 'u1', apiVersion: 'outpost.dev/v1alpha1' };

test('one PlacementDecision per group and per 100 clusters, numbered on across groups, labelled as OCM', () => {
  const many = Array.from({ length: decisionsPerObject + 1 }, (_, i) => `c${String(i).padStart(3, '0')}`);
  const out = placementDecisions(placement, {
    decisions: [
      { groupName: 'canary', groupIndex: 0, clusterNames: ['a'] },
      { groupName: '', groupIndex: 1, clusterNames: many },
    ],
  });
  assert.deepEqual(
    out.map((d) => [
      d.metadata.name,
      d.metadata.labels['cluster.open-cluster-management.io/decision-group-index'],
      d.status.decisions.length,
    ]),
    [
      ['web-decision-1', '0', 1],
      ['web-decision-2', '1', 100],
      ['web-decision-3', '1', 1],
    ],
  );
  assert.deepEqual(out[0]?.metadata.labels, {
    'cluster.open-cluster-management.io/placement': 'web',
    'cluster.open-cluster-management.io/decision-group-index': '0',
    'cluster.open-cluster-management.io/decision-group-name': 'canary',
  });
  assert.deepEqual(out[0]?.status.decisions, [{ clusterName: 'a', reason: '' }]);
  assert.equal(out[0]?.metadata.ownerReferences[0]?.uid, 'u1');
});

test('nothing selected: one empty PlacementDecision', () => {
  const out = placementDecisions(placement, { decisions: [] });
  assert.equal(out.length, 1);
  assert.equal(out[0]?.metadata.name, 'web-decision-1');
  assert.deepEqual(out[0]?.status.decisions, []);
});
