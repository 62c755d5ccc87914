import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Placement } from './types.ts';
import { validatePlacement, validationError } from './validate.ts';

const placement = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'cluster.open-cluster-management.io/v1beta1',
  kind: 'Placement',
  metadata: { name: 'edge', namespace: 'default' },
  spec,
  ...extra,
});

const ok = (input: unknown): Placement => {
  const r = validatePlacement(input);
  if (!r.ok) assert.fail(`expected valid, got ${JSON.stringify(r.error.details)}`);
  return r.value;
};

/** The fields named by the problems of an invalid placement. */
const fields = (input: unknown, pathName?: string): string[] => {
  const r = validatePlacement(input, pathName);
  if (r.ok) assert.fail('expected PLACEMENT_INVALID');
  assert.equal(r.error.code, 'PLACEMENT_INVALID');
  return r.error.details.map((d) => d.field);
};

describe('validatePlacement accepts OCM placements and normalises them', () => {
  it('an OCM Placement with every supported field is accepted unchanged', () => {
    const p = ok(
      placement({
        clusterSets: ['global'],
        numberOfClusters: 3,
        predicates: [
          {
            requiredClusterSelector: {
              labelSelector: {
                matchLabels: { env: 'prod' },
                matchExpressions: [{ key: 'topology.outpost.dev/region', operator: 'In', values: ['eu', 'us'] }],
              },
              claimSelector: { matchExpressions: [{ key: 'kubeversion', operator: 'In', values: ['v1.30.2+k3s1'] }] },
            },
          },
        ],
        prioritizerPolicy: {
          mode: 'Exact',
          configurations: [
            { scoreCoordinate: { type: 'BuiltIn', builtIn: 'Steady' }, weight: 3 },
            { scoreCoordinate: { builtIn: 'Balance' }, weight: -2 },
            { scoreCoordinate: { builtIn: 'ClaimValue', claim: 'capacity.cpu' } },
          ],
        },
        tolerations: [
          { key: 'outpost.dev/unreachable', operator: 'Exists', effect: 'NoSelect', tolerationSeconds: 300 },
          { key: 'dedicated', value: 'gpu' },
        ],
        decisionStrategy: {
          groupStrategy: {
            clustersPerDecisionGroup: '25%',
            decisionGroups: [
              { groupName: 'canary', groupClusterSelector: { labelSelector: { matchLabels: { canary: 'true' } } } },
            ],
          },
        },
      }),
    );
    assert.equal(p.apiVersion, 'outpost.dev/v1alpha1');
    assert.equal(p.metadata.namespace, 'default');
    assert.equal(p.spec.numberOfClusters, 3);
    assert.deepEqual(p.spec.prioritizerPolicy.configurations, [
      { scoreCoordinate: { type: 'BuiltIn', builtIn: 'Steady' }, weight: 3 },
      { scoreCoordinate: { type: 'BuiltIn', builtIn: 'Balance' }, weight: -2 },
      { scoreCoordinate: { type: 'BuiltIn', builtIn: 'ClaimValue', claim: 'capacity.cpu' }, weight: 1 },
    ]);
    // Equal is the default toleration operator, as in OCM.
    assert.deepEqual(p.spec.tolerations[1], { key: 'dedicated', operator: 'Equal', value: 'gpu' });
    assert.equal(p.spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup, '25%');
  });

  it('an empty spec selects everything with OCM defaults', () => {
    const p = ok({ metadata: { name: 'all' } });
    assert.deepEqual(p.spec, {
      predicates: [],
      prioritizerPolicy: { mode: 'Additive', configurations: [] },
      tolerations: [],
      decisionStrategy: { groupStrategy: { decisionGroups: [], clustersPerDecisionGroup: '100%' } },
    });
  });

  it('the v1alpha1 prioritizer spelling `name` is read as scoreCoordinate.builtIn', () => {
    const p = ok(placement({ prioritizerPolicy: { configurations: [{ name: 'Steady', weight: 2 }] } }));
    assert.deepEqual(p.spec.prioritizerPolicy.configurations[0]?.scoreCoordinate, {
      type: 'BuiltIn',
      builtIn: 'Steady',
    });
  });

  it('status is dropped: the scheduler owns it', () => {
    const p = ok(placement({}, { status: { numberOfSelectedClusters: 9 } }));
    assert.equal(p.status, undefined);
  });

  it('the name may come from the path', () => {
    assert.equal(validatePlacement({ spec: {} }, 'from-path').ok, true);
    assert.deepEqual(fields(placement({}), 'other'), ['metadata.name']);
  });

  it('empty strings count as unset, as Go zero values do', () => {
    const p = ok(
      placement({
        prioritizerPolicy: { mode: '' },
        tolerations: [{ key: 'a', operator: '', effect: '', value: '' }],
        decisionStrategy: { groupStrategy: { clustersPerDecisionGroup: '' } },
      }),
    );
    assert.equal(p.spec.prioritizerPolicy.mode, 'Additive');
    assert.deepEqual(p.spec.tolerations[0], { key: 'a', operator: 'Equal' });
  });
});

describe('validatePlacement refuses with PLACEMENT_INVALID and every problem listed', () => {
  const cases: [string, unknown, string[]][] = [
    ['not an object', 'nope', ['']],
    ['wrong apiVersion', placement({}, { apiVersion: 'v1' }), ['apiVersion']],
    ['wrong kind', placement({}, { kind: 'Deployment' }), ['kind']],
    ['bad name', { metadata: { name: 'Edge_1' }, spec: {} }, ['metadata.name']],
    ['unknown top-level field', placement({}, { extra: 1 }), ['extra']],
    ['unknown spec field (typo)', placement({ predicate: [] }), ['spec.predicate']],
    ['negative numberOfClusters', placement({ numberOfClusters: -1 }), ['spec.numberOfClusters']],
    ['fractional numberOfClusters', placement({ numberOfClusters: 1.5 }), ['spec.numberOfClusters']],
    ['a cluster set name that is no object name', placement({ clusterSets: ['Prod_1'] }), ['spec.clusterSets[0]']],
    ['cluster sets not a list', placement({ clusterSets: 'prod' }), ['spec.clusterSets']],
    ['predicates not a list', placement({ predicates: {} }), ['spec.predicates']],
    [
      'In without values',
      placement({
        predicates: [
          { requiredClusterSelector: { labelSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } },
        ],
      }),
      ['spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].values'],
    ],
    [
      'Exists with values',
      placement({
        predicates: [
          {
            requiredClusterSelector: {
              labelSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
            },
          },
        ],
      }),
      ['spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].values'],
    ],
    [
      'unknown operator',
      placement({
        predicates: [
          {
            requiredClusterSelector: {
              labelSelector: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] },
            },
          },
        ],
      }),
      ['spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].operator'],
    ],
    [
      // The shared selector compiler does not check key and value syntax; this does.
      'invalid label key and value',
      placement({
        predicates: [
          {
            requiredClusterSelector: {
              labelSelector: { matchExpressions: [{ key: 'a/b/c', operator: 'In', values: ['x y'] }] },
            },
          },
        ],
      }),
      [
        'spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].key',
        'spec.predicates[0].requiredClusterSelector.labelSelector.matchExpressions[0].values[0]',
      ],
    ],
    [
      'invalid matchLabels value',
      placement({ predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { env: 'pr od' } } } }] }),
      ['spec.predicates[0].requiredClusterSelector.labelSelector.matchLabels'],
    ],
    [
      'a claim name with a space',
      placement({
        predicates: [
          { requiredClusterSelector: { claimSelector: { matchExpressions: [{ key: 'a b', operator: 'Exists' }] } } },
        ],
      }),
      ['spec.predicates[0].requiredClusterSelector.claimSelector.matchExpressions[0].key'],
    ],
    [
      'CEL selectors',
      placement({ predicates: [{ requiredClusterSelector: { celSelector: { celExpressions: ['true'] } } }] }),
      ['spec.predicates[0].requiredClusterSelector.celSelector'],
    ],
    ['bad mode', placement({ prioritizerPolicy: { mode: 'Sum' } }), ['spec.prioritizerPolicy.mode']],
    [
      'AddOn scores',
      placement({
        prioritizerPolicy: {
          configurations: [{ scoreCoordinate: { type: 'AddOn', addOn: { resourceName: 'r', scoreName: 's' } } }],
        },
      }),
      ['spec.prioritizerPolicy.configurations[0].scoreCoordinate.type'],
    ],
    [
      'ResourceAllocatableCPU',
      placement({
        prioritizerPolicy: { configurations: [{ scoreCoordinate: { builtIn: 'ResourceAllocatableCPU' } }] },
      }),
      ['spec.prioritizerPolicy.configurations[0].scoreCoordinate.builtIn'],
    ],
    [
      'weight out of range',
      placement({ prioritizerPolicy: { configurations: [{ scoreCoordinate: { builtIn: 'Steady' }, weight: 11 }] } }),
      ['spec.prioritizerPolicy.configurations[0].weight'],
    ],
    [
      'ClaimValue without a claim',
      placement({ prioritizerPolicy: { configurations: [{ scoreCoordinate: { builtIn: 'ClaimValue' } }] } }),
      ['spec.prioritizerPolicy.configurations[0].scoreCoordinate.claim'],
    ],
    [
      'a claim on another prioritizer',
      placement({ prioritizerPolicy: { configurations: [{ scoreCoordinate: { builtIn: 'Steady', claim: 'x' } }] } }),
      ['spec.prioritizerPolicy.configurations[0].scoreCoordinate.claim'],
    ],
    [
      'a prioritizer twice',
      placement({
        prioritizerPolicy: {
          configurations: [{ scoreCoordinate: { builtIn: 'Steady' } }, { scoreCoordinate: { builtIn: 'Steady' } }],
        },
      }),
      ['spec.prioritizerPolicy.configurations[1]'],
    ],
    [
      'missing scoreCoordinate',
      placement({ prioritizerPolicy: { configurations: [{ weight: 1 }] } }),
      ['spec.prioritizerPolicy.configurations[0].scoreCoordinate'],
    ],
    ['empty key without Exists', placement({ tolerations: [{ operator: 'Equal' }] }), ['spec.tolerations[0].operator']],
    [
      'Exists with a value',
      placement({ tolerations: [{ key: 'a', operator: 'Exists', value: 'x' }] }),
      ['spec.tolerations[0].value'],
    ],
    [
      'bad toleration operator',
      placement({ tolerations: [{ key: 'a', operator: 'In' }] }),
      ['spec.tolerations[0].operator'],
    ],
    ['bad effect', placement({ tolerations: [{ key: 'a', effect: 'NoSchedule' }] }), ['spec.tolerations[0].effect']],
    [
      'negative tolerationSeconds',
      placement({ tolerations: [{ key: 'a', tolerationSeconds: -5 }] }),
      ['spec.tolerations[0].tolerationSeconds'],
    ],
    ['bad toleration key', placement({ tolerations: [{ key: '-a-' }] }), ['spec.tolerations[0].key']],
    [
      'clustersPerDecisionGroup 0',
      placement({ decisionStrategy: { groupStrategy: { clustersPerDecisionGroup: 0 } } }),
      ['spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup'],
    ],
    [
      'clustersPerDecisionGroup 0%',
      placement({ decisionStrategy: { groupStrategy: { clustersPerDecisionGroup: '0%' } } }),
      ['spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup'],
    ],
    [
      'clustersPerDecisionGroup over 100%',
      placement({ decisionStrategy: { groupStrategy: { clustersPerDecisionGroup: '150%' } } }),
      ['spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup'],
    ],
    [
      'clustersPerDecisionGroup as a numeric string (OCM refuses it too)',
      placement({ decisionStrategy: { groupStrategy: { clustersPerDecisionGroup: '5' } } }),
      ['spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup'],
    ],
    [
      'decision groups without and with duplicate names',
      placement({
        decisionStrategy: {
          groupStrategy: {
            decisionGroups: [{ groupClusterSelector: {} }, { groupName: 'a' }, { groupName: 'a' }],
          },
        },
      }),
      [
        'spec.decisionStrategy.groupStrategy.decisionGroups[0].groupName',
        'spec.decisionStrategy.groupStrategy.decisionGroups[2].groupName',
      ],
    ],
    [
      'spread constraints',
      placement({ spreadPolicy: { spreadConstraints: [{ topologyKey: 'zone', topologyKeyType: 'Label' }] } }),
      ['spec.spreadPolicy'],
    ],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.deepEqual(fields(input), want));

  it('reports every problem at once, and the message names the first', () => {
    const r = validatePlacement(placement({ numberOfClusters: -1, tolerations: [{ operator: 'Equal' }], bogus: 1 }));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.details.length, 3);
    assert.match(r.error.message, /^Placement is invalid: spec\.bogus: unknown field/);
  });

  it('validationError carries the code, HTTP 400 and the details', () => {
    const r = validatePlacement('x');
    if (r.ok) assert.fail();
    const err = validationError(r.error);
    assert.equal(err.code, 'PLACEMENT_INVALID');
    assert.equal(err.statusCode, 400);
    assert.deepEqual(err.details, r.error.details);
  });
});
