import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OutpostError } from '@outpost/shared';
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
        executor: { subject: { type: 'ServiceAccount' } },
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
});
