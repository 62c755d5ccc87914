import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clusterSetLabel,
  compileClusterSet,
  inClusterSet,
  setRestriction,
  validateClusterSet,
  validateClusterSetBinding,
} from './cluster-sets.ts';

const fields = (r: { ok: boolean; error?: { details: { field: string }[] } }) =>
  r.ok ? [] : (r.error?.details.map((d) => d.field) ?? []);

describe('validateClusterSet', () => {
  test("OCM's own YAML shapes are accepted and normalised to v1beta2", () => {
    const label = validateClusterSet({
      apiVersion: 'cluster.open-cluster-management.io/v1beta2',
      kind: 'ManagedClusterSet',
      metadata: { name: 'edge' },
    });
    assert.ok(label.ok);
    assert.deepEqual(label.value.spec, { clusterSelector: { selectorType: 'ExclusiveClusterSetLabel' } });
    const legacy = validateClusterSet({
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'ManagedClusterSet',
      metadata: { name: 'old' },
      spec: { clusterSelector: { selectorType: 'LegacyClusterSetLabel' } },
    });
    assert.ok(legacy.ok);
    assert.equal(legacy.value.spec.clusterSelector.selectorType, 'ExclusiveClusterSetLabel');
    const bySelector = validateClusterSet({
      kind: 'ManagedClusterSet',
      metadata: { name: 'prod' },
      spec: {
        clusterSelector: {
          selectorType: 'LabelSelector',
          labelSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
        },
      },
    });
    assert.ok(bySelector.ok);
  });

  test('what OCM refuses, or Outpost cannot honour, is refused by field', () => {
    assert.deepEqual(
      fields(
        validateClusterSet({ metadata: { name: 's' }, spec: { clusterSelector: { selectorType: 'Everything' } } }),
      ),
      ['spec.clusterSelector.selectorType'],
    );
    assert.deepEqual(
      fields(
        validateClusterSet({
          metadata: { name: 's' },
          spec: { clusterSelector: { labelSelector: { matchLabels: { a: 'b' } } } },
        }),
      ),
      ['spec.clusterSelector.labelSelector'],
    );
    assert.deepEqual(fields(validateClusterSet({ metadata: { name: 's', namespace: 'team-a' } })), [
      'metadata.namespace',
    ]);
    assert.deepEqual(fields(validateClusterSet({ metadata: { name: 's' }, spec: { clusterSelectr: {} } })), [
      'spec.clusterSelectr',
    ]);
    // The built-in sets keep their meaning.
    assert.deepEqual(fields(validateClusterSet({ metadata: { name: 'global' }, spec: { clusterSelector: {} } })), [
      'spec.clusterSelector',
    ]);
    assert.ok(
      validateClusterSet({
        metadata: { name: 'global' },
        spec: { clusterSelector: { selectorType: 'LabelSelector', labelSelector: {} } },
      }).ok,
    );
    // OCM reads a LabelSelector set without a selector as selecting nothing: refused, never
    // taken as {} (every cluster).
    assert.deepEqual(
      fields(
        validateClusterSet({ metadata: { name: 's' }, spec: { clusterSelector: { selectorType: 'LabelSelector' } } }),
      ),
      ['spec.clusterSelector.labelSelector'],
    );
  });
});

describe('validateClusterSetBinding', () => {
  test("the name must be the set's, and the path's namespace wins only when the body agrees", () => {
    const ok = validateClusterSetBinding(
      { metadata: { name: 'edge', namespace: 'team-a' }, spec: { clusterSet: 'edge' } },
      { namespace: 'team-a', name: 'edge' },
    );
    assert.ok(ok.ok);
    assert.equal(ok.value.metadata.namespace, 'team-a');
    assert.deepEqual(fields(validateClusterSetBinding({ metadata: { name: 'edge' }, spec: { clusterSet: 'other' } })), [
      'spec.clusterSet',
    ]);
    assert.deepEqual(
      fields(
        validateClusterSetBinding(
          { metadata: { name: 'edge', namespace: 'team-b' }, spec: { clusterSet: 'edge' } },
          { namespace: 'team-a', name: 'edge' },
        ),
      ),
      ['metadata.namespace'],
    );
  });
});

describe('membership and restriction', () => {
  const exclusive = (name: string) =>
    compileClusterSet(name, { clusterSelector: { selectorType: 'ExclusiveClusterSetLabel' } });
  test('default holds the clusters with no set label; a named set its own', () => {
    assert.equal(inClusterSet(exclusive('default'), {}), true);
    assert.equal(inClusterSet(exclusive('default'), { [clusterSetLabel]: 'edge' }), false);
    assert.equal(inClusterSet(exclusive('edge'), { [clusterSetLabel]: 'edge' }), true);
    assert.equal(inClusterSet(exclusive('edge'), {}), false);
    const global = compileClusterSet('global', {
      clusterSelector: { selectorType: 'LabelSelector', labelSelector: {} },
    });
    assert.equal(inClusterSet(global, { [clusterSetLabel]: 'edge' }), true);
  });
  test("OCM's rule: bound sets only, those named or all of them; no binding selects nothing", () => {
    const sets = new Map([['edge', exclusive('edge')]]);
    assert.deepEqual(setRestriction(undefined, new Set(), sets), { sets: [], missing: [], bound: false });
    assert.deepEqual(setRestriction(['edge'], new Set(), sets).sets, []);
    assert.deepEqual(
      setRestriction(undefined, new Set(['edge', 'gone']), sets).sets.map((s) => s.name),
      ['edge'],
    );
    assert.deepEqual(setRestriction(undefined, new Set(['edge', 'gone']), sets).missing, ['gone']);
    assert.deepEqual(setRestriction(['edge'], new Set(['gone']), sets), { sets: [], missing: [], bound: false });
  });
});
