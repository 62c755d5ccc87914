import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validationError } from '../placement/validate.ts';
import { validateWorkReplicaSet } from './validate.ts';

const workSet = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'work.open-cluster-management.io/v1alpha1',
  kind: 'ManifestWorkReplicaSet',
  metadata: { name: 'hello', namespace: 'default' },
  spec: {
    manifestWorkTemplate: {
      workload: {
        manifests: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hello-{{ .clusterName }}', namespace: 'default' } },
        ],
      },
    },
    placementRefs: [{ name: 'placement-rollout-progressive' }],
    ...spec,
  },
  ...extra,
});

const fields = (input: unknown) => {
  const r = validateWorkReplicaSet(input);
  if (r.ok) assert.fail('expected WORKSET_INVALID');
  assert.equal(r.error.code, 'WORKSET_INVALID');
  return r.error.details.map((d) => d.field);
};

describe('validateWorkReplicaSet', () => {
  it("accepts OCM's example unchanged and normalises it", () => {
    const r = validateWorkReplicaSet(
      workSet({
        placementRefs: [
          { name: 'placement-rollout-all', rolloutStrategy: { type: 'All', all: { progressDeadline: 'None' } } },
          {
            name: 'placement-rollout-progressive',
            rolloutStrategy: {
              type: 'Progressive',
              progressive: {
                minSuccessTime: '5m',
                progressDeadline: '10m',
                maxFailures: '5%',
                mandatoryDecisionGroups: [{ groupName: 'prod-canary-west' }, { groupName: 'prod-canary-east' }],
              },
            },
          },
          {
            name: 'placement-rollout-progressive-per-group',
            rolloutStrategy: { type: 'ProgressivePerGroup', progressivePerGroup: { progressDeadline: '10m' } },
          },
        ],
        cascadeDeletionPolicy: 'Foreground',
      }),
    );
    if (!r.ok) assert.fail(JSON.stringify(r.error.details));
    assert.equal(r.value.apiVersion, 'outpost.dev/v1alpha1');
    assert.equal(r.value.spec.cascadeDeletionPolicy, 'Foreground');
    assert.equal(r.value.spec.placementRefs[2]?.rolloutStrategy.type, 'ProgressivePerGroup');
    assert.equal(r.value.status, undefined);
  });

  it('defaults: Background deletion, rollout type All, not paused, no overrides', () => {
    const r = validateWorkReplicaSet(workSet({}));
    if (!r.ok) assert.fail(JSON.stringify(r.error.details));
    assert.equal(r.value.spec.cascadeDeletionPolicy, 'Background');
    assert.deepEqual(r.value.spec.placementRefs, [
      { name: 'placement-rollout-progressive', rolloutStrategy: { type: 'All' } },
    ]);
    assert.equal(r.value.spec.paused, undefined);
    assert.equal(r.value.spec.overrides, undefined);
  });

  it("keeps Outpost's extensions: paused, overrides, offlineClusters", () => {
    const r = validateWorkReplicaSet(
      workSet({
        paused: true,
        placementRefs: [
          { name: 'p', rolloutStrategy: { type: 'Progressive', offlineClusters: { policy: 'Skip', timeout: '30m' } } },
        ],
        overrides: [
          {
            name: 'eu',
            clusterSelector: { labelSelector: { matchLabels: { region: 'eu' } } },
            patches: [
              { manifest: { kind: 'ConfigMap', name: 'hello-{{ .clusterName }}' }, patch: { data: { region: 'eu' } } },
            ],
          },
        ],
      }),
    );
    if (!r.ok) assert.fail(JSON.stringify(r.error.details));
    assert.equal(r.value.spec.paused, true);
    assert.equal(r.value.spec.overrides?.[0]?.name, 'eu');
    assert.deepEqual(r.value.spec.placementRefs[0]?.rolloutStrategy.offlineClusters, {
      policy: 'Skip',
      timeout: '30m',
    });
  });

  const cases: [string, unknown, string[]][] = [
    ['not an object', [], ['']],
    ['wrong apiVersion', workSet({}, { apiVersion: 'work.open-cluster-management.io/v1' }), ['apiVersion']],
    ['wrong kind', workSet({}, { kind: 'ManifestWork' }), ['kind']],
    ['no spec', { metadata: { name: 'x' } }, ['spec']],
    ['no placementRefs', workSet({ placementRefs: [] }), ['spec.placementRefs']],
    [
      'a placement named twice',
      workSet({ placementRefs: [{ name: 'a' }, { name: 'a' }] }),
      ['spec.placementRefs[1].name'],
    ],
    ['a bad placement name', workSet({ placementRefs: [{ name: 'A B' }] }), ['spec.placementRefs[0].name']],
    [
      'a bad rollout strategy, reported under its placement',
      workSet({
        placementRefs: [{ name: 'a', rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: '0%' } } }],
      }),
      ['spec.placementRefs[0].rolloutStrategy.progressive.maxConcurrency'],
    ],
    ['no template', workSet({ manifestWorkTemplate: undefined }), ['spec.manifestWorkTemplate']],
    [
      'no manifests list',
      workSet({ manifestWorkTemplate: { workload: {} } }),
      ['spec.manifestWorkTemplate.workload.manifests'],
    ],
    [
      'a manifest without kind and name',
      workSet({ manifestWorkTemplate: { workload: { manifests: [{ apiVersion: 'v1', metadata: {} }] } } }),
      [
        'spec.manifestWorkTemplate.workload.manifests[0].kind',
        'spec.manifestWorkTemplate.workload.manifests[0].metadata.name',
      ],
    ],
    [
      'an unknown template reference (templating asked for)',
      workSet({
        templating: true,
        manifestWorkTemplate: {
          workload: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ .cluster }}' } }] },
        },
      }),
      ['spec.manifestWorkTemplate.workload.manifests[0].metadata.name'],
    ],
    [
      'an unknown template field',
      workSet({ manifestWorkTemplate: { workload: { manifests: [] }, workloads: {} } }),
      ['spec.manifestWorkTemplate.workloads'],
    ],
    [
      'an OCM template field Outpost does not honour',
      workSet({
        manifestWorkTemplate: {
          workload: { manifests: [] },
          manifestConfigs: [
            {
              resourceIdentifier: { resource: 'jobs', name: 'j' },
              conditionRules: [{ type: 'CEL', celExpressions: ['true'] }],
            },
          ],
        },
      }),
      ['spec.manifestWorkTemplate.manifestConfigs[0].conditionRules[0].celExpressions'],
    ],
    [
      'an executor subject type OCM does not define',
      workSet({
        manifestWorkTemplate: {
          workload: { manifests: [] },
          executor: { subject: { type: 'User', serviceAccount: { namespace: 'a', name: 'b' } } },
        },
      }),
      ['spec.manifestWorkTemplate.executor.subject.type'],
    ],
    [
      'an executor without its service account',
      workSet({
        manifestWorkTemplate: { workload: { manifests: [] }, executor: { subject: { type: 'ServiceAccount' } } },
      }),
      ['spec.manifestWorkTemplate.executor.subject.serviceAccount'],
    ],
    [
      'an unknown executor field',
      workSet({
        manifestWorkTemplate: {
          workload: { manifests: [] },
          executor: { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'a', name: 'b', uid: 'u' } } },
        },
      }),
      ['spec.manifestWorkTemplate.executor.subject.serviceAccount.uid'],
    ],
    ['a bad cascadeDeletionPolicy', workSet({ cascadeDeletionPolicy: 'Orphan' }), ['spec.cascadeDeletionPolicy']],
    ['paused not a boolean', workSet({ paused: 'yes' }), ['spec.paused']],
    [
      'a bad override',
      workSet({ overrides: [{ name: 'x', clusterSelector: {}, patches: [] }] }),
      ['spec.overrides[0].patches'],
    ],
    ['an unknown spec field', workSet({ rolloutStrategy: {} }), ['spec.rolloutStrategy']],
  ];
  for (const [name, input, want] of cases) it(`refuses ${name}`, () => assert.deepEqual(fields(input), want));

  it('takes an executor in the template and keeps it for the rendered works', () => {
    const executor = { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'team-a', name: 'deployer' } } };
    const r = validateWorkReplicaSet(
      workSet({
        manifestWorkTemplate: {
          workload: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'a' } }] },
          executor,
        },
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual((r.value.spec.manifestWorkTemplate as { executor?: unknown }).executor, executor);
  });

  it('renders nothing unless templating is asked for: a Helm template in a manifest is accepted as text', () => {
    const helm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'chart' }, data: { v: '{{ .Values.x }}' } };
    const plain = validateWorkReplicaSet(workSet({ manifestWorkTemplate: { workload: { manifests: [helm] } } }));
    assert.ok(plain.ok);
    assert.equal(plain.value.spec.templating, undefined);
    assert.deepEqual(fields(workSet({ templating: true, manifestWorkTemplate: { workload: { manifests: [helm] } } })), [
      'spec.manifestWorkTemplate.workload.manifests[0].data.v',
    ]);
    assert.deepEqual(fields(workSet({ templating: 'yes' })), ['spec.templating']);
  });

  it('turns into a 400 OutpostError for the API', () => {
    const r = validateWorkReplicaSet(workSet({ paused: 1 }));
    if (r.ok) assert.fail();
    const err = validationError(r.error);
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, 'WORKSET_INVALID');
    assert.match(err.message, /^ManifestWorkReplicaSet is invalid: spec\.paused: must be true or false$/);
  });
});
