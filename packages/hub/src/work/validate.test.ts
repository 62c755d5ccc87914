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
});
