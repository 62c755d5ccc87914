import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits, type OutpostError } from '@outpost/shared';
import { parseWork } from './validate.ts';

const cm = (name: string, ns = 'default') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
});
const work = (manifests: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name: 'w1', namespace: 'rack-1' },
  spec: { workload: { manifests }, ...extra },
});
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as OutpostError).code;
  }
  return 'no error';
};

describe('parseWork', () => {
  test('OCM fields Outpost does not honour are refused by path with UNSUPPORTED_FIELD; unknown fields as unknown', () => {
    const refused = (extra: Record<string, unknown>) => {
      try {
        parseWork(work([cm('a')], extra), 'rack-1');
      } catch (err) {
        const e = err as OutpostError;
        return { code: e.code, message: e.message, field: (e.details as { field?: string } | undefined)?.field };
      }
      return undefined;
    };
    // Honoured now (the agent asks SubjectAccessReviews), so refused only when malformed.
    const executor = refused({ executor: { subject: { type: 'ServiceAccount' } } });
    assert.equal(executor?.code, 'VALIDATION_FAILED');
    assert.equal(executor?.field, 'spec.executor.subject.serviceAccount');
    assert.equal(refused({ deleteOption: { ttlSecondsAfterFinished: 60 } }), undefined, 'honoured (work/ttl.ts)');
    assert.equal(refused({ deleteOption: { ttlSecondsAfterFinished: -1 } })?.code, 'VALIDATION_FAILED');
    const cel = refused({
      manifestConfigs: [
        { resourceIdentifier: { resource: 'configmaps', name: 'a' } },
        {
          resourceIdentifier: { group: 'batch', resource: 'jobs', name: 'j' },
          conditionRules: [{ condition: 'Complete', type: 'CEL', celExpressions: ['object.status.succeeded > 0'] }],
        },
      ],
    });
    assert.equal(cel?.field, 'spec.manifestConfigs[1].conditionRules[0].celExpressions');
    const celType = refused({
      manifestConfigs: [
        { resourceIdentifier: { resource: 'jobs', name: 'j' }, conditionRules: [{ condition: 'Done', type: 'CEL' }] },
      ],
    });
    assert.deepEqual(
      [celType?.code, celType?.field],
      ['UNSUPPORTED_FIELD', 'spec.manifestConfigs[0].conditionRules[0].type'],
    );
    assert.equal(
      refused({
        manifestConfigs: [
          {
            resourceIdentifier: { group: 'batch', resource: 'jobs', name: 'j' },
            conditionRules: [{ condition: 'Complete', type: 'WellKnownConditions' }],
          },
        ],
      }),
      undefined,
    );
    assert.equal(
      refused({
        manifestConfigs: [
          {
            resourceIdentifier: { resource: 'configmaps', name: 'a' },
            feedbackRules: [{ type: 'JSONPaths', jsonPaths: [{ name: 'v', path: '.data.v', version: 'v1' }] }],
          },
        ],
      })?.field,
      'spec.manifestConfigs[0].feedbackRules[0].jsonPaths[0].version',
    );
    const typo = refused({
      manifestConfigs: [{ resourceIdentifier: { resource: 'configmaps', name: 'a' }, feedbackRule: [] }],
    });
    assert.deepEqual(typo && [typo.code, typo.message], [
      'VALIDATION_FAILED',
      'unknown field spec.manifestConfigs[0].feedbackRule',
    ]);
    assert.equal(
      refused({
        manifestConfigs: [{ resourceIdentifier: { resource: 'configmaps', name: 'a' }, feedbackScrapeType: 'Push' }],
      })?.code,
      'VALIDATION_FAILED',
    );
    // Zero values ask for nothing, as in an object dumped from OCM.
    assert.equal(
      refused({
        executor: null,
        manifestConfigs: [
          {
            resourceIdentifier: { resource: 'configmaps', name: 'a' },
            conditionRules: [],
            feedbackScrapeType: 'Watch',
          },
        ],
      }),
      undefined,
    );
  });

  test("executor: OCM's ServiceAccount subject is taken and stored; any other shape is refused naming the field", () => {
    const sa = { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'team-a', name: 'deployer' } } };
    assert.deepEqual(parseWork(work([cm('a')], { executor: sa }), 'rack-1').spec.executor, sa);
    assert.equal(parseWork(work([cm('a')], { executor: null }), 'rack-1').spec.executor, undefined);
    assert.equal('executor' in parseWork(work([cm('a')], { executor: null }), 'rack-1').spec, false);
    assert.equal(parseWork(work([cm('a')]), 'rack-1').spec.executor, undefined);
    const refusal = (executor: unknown) => {
      try {
        parseWork(work([cm('a')], { executor }), 'rack-1');
      } catch (err) {
        const e = err as OutpostError;
        const d = e.details as { field?: string; alternative?: string } | undefined;
        return { code: e.code, field: d?.field, message: e.message };
      }
      return undefined;
    };
    const user = refusal({ subject: { type: 'User', serviceAccount: { namespace: 'a', name: 'b' } } });
    assert.deepEqual([user?.code, user?.field], ['UNSUPPORTED_FIELD', 'spec.executor.subject.type']);
    assert.match(
      user?.message ?? '',
      /^spec\.executor\.subject\.type "User" is not supported; instead: type ServiceAccount/,
    );
    const cases: [unknown, string, string][] = [
      ['sa', 'VALIDATION_FAILED', 'spec.executor'],
      [{}, 'VALIDATION_FAILED', 'spec.executor.subject'],
      [{ subject: {} }, 'VALIDATION_FAILED', 'spec.executor.subject.type'],
      [{ subject: { type: 'ServiceAccount' } }, 'VALIDATION_FAILED', 'spec.executor.subject.serviceAccount'],
      [
        { subject: { type: 'ServiceAccount', serviceAccount: { name: 'b' } } },
        'VALIDATION_FAILED',
        'spec.executor.subject.serviceAccount.namespace',
      ],
      [
        { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'a' } } },
        'VALIDATION_FAILED',
        'spec.executor.subject.serviceAccount.name',
      ],
      [
        { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'Team_A', name: 'b' } } },
        'VALIDATION_FAILED',
        'spec.executor.subject.serviceAccount.namespace',
      ],
      [
        { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'a', name: 'x'.repeat(254) } } },
        'VALIDATION_FAILED',
        'spec.executor.subject.serviceAccount.name',
      ],
      [
        { subject: { type: 'ServiceAccount', serviceAccount: { namespace: 'a', name: 7 } } },
        'VALIDATION_FAILED',
        'spec.executor.subject.serviceAccount.name',
      ],
    ];
    for (const [executor, wantCode, wantField] of cases) {
      const got = refusal(executor);
      assert.deepEqual([got?.code, got?.field], [wantCode, wantField], JSON.stringify(executor));
      assert.ok(got?.message.startsWith(wantField), got?.message);
    }
    // Unknown keys inside are refused by name, as everywhere in the spec.
    for (const [executor, path] of [
      [{ ...sa, extra: 1 }, 'spec.executor.extra'],
      [{ subject: { ...sa.subject, user: 'x' } }, 'spec.executor.subject.user'],
      [
        { subject: { ...sa.subject, serviceAccount: { ...sa.subject.serviceAccount, uid: 'u' } } },
        'spec.executor.subject.serviceAccount.uid',
      ],
    ] as const) {
      const got = refusal(executor);
      assert.deepEqual([got?.code, got?.message], ['VALIDATION_FAILED', `unknown field ${path}`]);
    }
  });

  test("identifiers are stored with OCM's defaults: no group is the core group, no namespace is ''", () => {
    const w = parseWork(
      work([cm('keep-me', 'ns')], {
        deleteOption: {
          propagationPolicy: 'SelectivelyOrphan',
          selectivelyOrphans: { orphaningRules: [{ resource: 'configmaps', namespace: 'ns', name: 'keep-me' }] },
        },
        manifestConfigs: [{ resourceIdentifier: { resource: 'configmaps', name: 'keep-me' }, feedbackRules: [] }],
      }),
      'rack-1',
    );
    assert.deepEqual(w.spec.deleteOption?.selectivelyOrphans?.orphaningRules, [
      { group: '', resource: 'configmaps', namespace: 'ns', name: 'keep-me' },
    ]);
    assert.deepEqual(w.spec.manifestConfigs?.[0], {
      resourceIdentifier: { group: '', resource: 'configmaps', namespace: '', name: 'keep-me' },
      feedbackRules: [],
    });
  });
  test('an OCM ManifestWork is accepted unchanged', () => {
    const w = parseWork(
      work([cm('a'), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a', namespace: 'default' } }], {
        deleteOption: {
          propagationPolicy: 'SelectivelyOrphan',
          selectivelyOrphans: {
            orphaningRules: [{ group: '', resource: 'configmaps', namespace: 'default', name: 'a' }],
          },
        },
        manifestConfigs: [
          {
            resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: 'default', name: 'a' },
            updateStrategy: {
              type: 'ServerSideApply',
              serverSideApply: {
                force: true,
                ignoreFields: [{ condition: 'OnSpokeChange', jsonPaths: ['.spec.replicas'] }],
              },
            },
            feedbackRules: [{ type: 'WellKnownStatus' }],
          },
        ],
      }),
      'rack-1',
    );
    assert.equal(w.name, 'w1');
    assert.equal(w.manifests.length, 2);
    assert.equal((w.spec as { workload?: unknown }).workload, undefined, 'manifests are split from the spec');
  });

  test('every manifest needs apiVersion, kind and metadata.name; the index is reported', () => {
    for (const bad of [
      { kind: 'ConfigMap', metadata: { name: 'x' } },
      { apiVersion: 'v1', metadata: { name: 'x' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} },
      'text',
    ]) {
      assert.equal(
        code(() => parseWork(work([cm('ok'), bad]), 'rack-1')),
        'WORK_MANIFEST_INVALID',
      );
    }
  });

  test('duplicates are refused, also across versions of one group', () => {
    assert.equal(
      code(() => parseWork(work([cm('a'), cm('a')]), 'rack-1')),
      'WORK_MANIFEST_DUPLICATE',
    );
    const v1 = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'a' } };
    const v2 = { apiVersion: 'example.com/v2', kind: 'Widget', metadata: { name: 'a' } };
    assert.equal(
      code(() => parseWork(work([v1, v2]), 'rack-1')),
      'WORK_MANIFEST_DUPLICATE',
    );
    assert.equal(
      code(() => parseWork(work([cm('a', 'x'), cm('a', 'y')]), 'rack-1')),
      'no error',
    );
  });

  test('a kind: List is read as its items, as kubectl reads it; nested and typed lists too', () => {
    const w = parseWork(
      work([
        cm('first'),
        {
          apiVersion: 'v1',
          kind: 'List',
          items: [cm('a'), cm('b'), { apiVersion: 'v1', kind: 'List', items: [cm('c')] }],
        },
        // A typed list: items without apiVersion and kind take the list's.
        { apiVersion: 'v1', kind: 'ConfigMapList', items: [{ metadata: { name: 'd', namespace: 'default' } }] },
        cm('last'),
      ]),
      'rack-1',
    );
    assert.deepEqual(
      w.manifests.map((m) => `${m.apiVersion}/${m.kind}/${m.metadata.name}`),
      [
        'v1/ConfigMap/first',
        'v1/ConfigMap/a',
        'v1/ConfigMap/b',
        'v1/ConfigMap/c',
        'v1/ConfigMap/d',
        'v1/ConfigMap/last',
      ],
    );
    // A problem inside a list names the item's path; duplicates are found across lists.
    try {
      parseWork(
        work([{ apiVersion: 'v1', kind: 'List', items: [cm('ok'), { apiVersion: 'v1', metadata: {} }] }]),
        'rack-1',
      );
      assert.fail('accepted');
    } catch (err) {
      assert.equal((err as OutpostError).code, 'WORK_MANIFEST_INVALID');
      assert.match((err as Error).message, /spec\.workload\.manifests\[0\]\.items\[1\]: kind is missing/);
    }
    assert.equal(
      code(() => parseWork(work([cm('a'), { apiVersion: 'v1', kind: 'List', items: [cm('a')] }]), 'rack-1')),
      'WORK_MANIFEST_DUPLICATE',
    );
    // An empty list adds nothing.
    assert.equal(
      parseWork(work([cm('x'), { apiVersion: 'v1', kind: 'List', items: [] }]), 'rack-1').manifests.length,
      1,
    );
  });

  test('a generateName manifest is accepted for the agent to refuse alone; two with one prefix are duplicates', () => {
    const gen = (prefix: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: prefix } });
    assert.equal(parseWork(work([cm('a'), gen('job-')]), 'rack-1').manifests.length, 2);
    assert.equal(
      code(() => parseWork(work([gen('job-'), gen('job-')]), 'rack-1')),
      'WORK_MANIFEST_DUPLICATE',
    );
    assert.equal(
      code(() => parseWork(work([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: '' } }]), 'rack-1')),
      'WORK_MANIFEST_INVALID',
    );
  });

  test('names, namespaces and options are checked', () => {
    assert.equal(
      code(() => parseWork({ ...work([]), metadata: { name: 'Bad_Name' } }, 'rack-1')),
      'WORK_NAME_INVALID',
    );
    assert.equal(
      code(() => parseWork(work([]), 'rack-2')),
      'VALIDATION_FAILED',
      'namespace must be the cluster',
    );
    assert.equal(
      code(() => parseWork(work([], { deleteOption: { propagationPolicy: 'Background' } }), 'rack-1')),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() => parseWork(work([], { deleteOption: { propagationPolicy: 'SelectivelyOrphan' } }), 'rack-1')),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() =>
        parseWork(
          work([], {
            manifestConfigs: [
              { resourceIdentifier: { resource: 'x', name: 'y' }, updateStrategy: { type: 'Replace' } },
            ],
          }),
          'rack-1',
        ),
      ),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() => parseWork(work([], { surprise: 1 }), 'rack-1')),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() => parseWork({ ...work([]), apiVersion: 'v1' }, 'rack-1')),
      'VALIDATION_FAILED',
    );
  });

  test('a work is bounded: manifests (List items counted), annotations and the spec without manifests', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => cm(`c${i}`));
    assert.equal(parseWork(work(many(limits.manifestsPerWork)), 'rack-1').manifests.length, limits.manifestsPerWork);
    assert.equal(
      code(() => parseWork(work(many(limits.manifestsPerWork + 1)), 'rack-1')),
      'WORK_TOO_MANY_MANIFESTS',
    );
    const list = { apiVersion: 'v1', kind: 'List', items: many(limits.manifestsPerWork + 1) };
    assert.equal(
      code(() => parseWork(work([list]), 'rack-1')),
      'WORK_TOO_MANY_MANIFESTS',
    );
    const big = (bytes: number) => ({
      ...work([cm('a')]),
      metadata: { name: 'w', annotations: { a: 'x'.repeat(bytes) } },
    });
    assert.equal(parseWork(big(limits.annotationsBytes - 1), 'rack-1').name, 'w');
    assert.equal(
      code(() => parseWork(big(limits.annotationsBytes), 'rack-1')),
      'VALIDATION_FAILED',
    );
    const rules = (n: number) =>
      work([cm('a')], {
        deleteOption: {
          propagationPolicy: 'SelectivelyOrphan',
          selectivelyOrphans: {
            orphaningRules: Array.from({ length: n }, (_, i) => ({
              resource: 'configmaps',
              name: `keep-${i}`,
              namespace: 'd',
            })),
          },
        },
      });
    assert.equal(
      code(() => parseWork(rules(20_000), 'rack-1')),
      'VALIDATION_FAILED',
    );
    assert.ok(parseWork(rules(100), 'rack-1'));
  });
});
