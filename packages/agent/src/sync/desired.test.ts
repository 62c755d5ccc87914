import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { WorkUpdate } from '@outpost/shared';
import type { AppliedObject, DesiredWork } from '../work/types.ts';
import {
  breakerTrips,
  DeltaMismatchError,
  droppedObjects,
  mergeUpdate,
  nextLedger,
  planWorkDeletion,
} from './desired.ts';

const entry = (name: string, ordinal: number, v = '1') => ({
  key: `|ConfigMap|d|${name}`,
  ordinal,
  manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'd' }, data: { v } },
});
const obj = (name: string, extra: Partial<AppliedObject> = {}): AppliedObject => ({
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  resource: 'configmaps',
  namespace: 'd',
  name,
  uid: `uid-${name}`,
  ...extra,
});

describe('mergeUpdate', () => {
  const held: DesiredWork = {
    name: 'w',
    uid: 'u1',
    generation: 1,
    manifests: [entry('a', 0), entry('b', 1), entry('c', 2)],
  };
  test('a full update replaces the manifests and keeps ordinal order', () => {
    const u: WorkUpdate = {
      name: 'w',
      uid: 'u1',
      generation: 2,
      full: true,
      manifests: [entry('z', 1), entry('y', 0)],
      removed: [],
    };
    assert.deepEqual(
      mergeUpdate(held, u).manifests.map((m) => m.key),
      ['|ConfigMap|d|y', '|ConfigMap|d|z'],
    );
  });
  test('a delta upserts and removes by key', () => {
    const u: WorkUpdate = {
      name: 'w',
      uid: 'u1',
      generation: 2,
      full: false,
      manifests: [entry('b', 1, '2')],
      removed: ['|ConfigMap|d|c'],
    };
    const w = mergeUpdate(held, u);
    assert.equal(w.generation, 2);
    assert.deepEqual(
      w.manifests.map((m) => [m.key, (m.manifest.data as { v: string }).v]),
      [
        ['|ConfigMap|d|a', '1'],
        ['|ConfigMap|d|b', '2'],
      ],
    );
  });
  test('a delta for another uid or for nothing held is refused', () => {
    const u: WorkUpdate = { name: 'w', uid: 'u2', generation: 2, full: false, manifests: [], removed: [] };
    assert.throws(() => mergeUpdate(held, u), DeltaMismatchError);
    assert.throws(() => mergeUpdate(undefined, u), DeltaMismatchError);
  });
  test('options and tombstones carry over', () => {
    const u: WorkUpdate = {
      name: 'w',
      uid: 'u1',
      generation: 3,
      full: true,
      manifests: [],
      removed: [],
      deleting: true,
      deleteOption: { propagationPolicy: 'Orphan' },
    };
    const w = mergeUpdate(held, u);
    assert.equal(w.deleting, true);
    assert.equal(w.deleteOption?.propagationPolicy, 'Orphan');
  });
});

describe('deletion planning', () => {
  test('only objects that left the work are dropped; a failed apply is not a drop', () => {
    assert.deepEqual(
      droppedObjects([obj('a'), obj('b')], [entry('a', 0)]).map((o) => o.name),
      ['b'],
    );
    assert.deepEqual(droppedObjects([], [entry('a', 0)]), []);
    const noNs = { key: 'x', ordinal: 0, manifest: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'n' } } };
    assert.deepEqual(droppedObjects([obj('n', { namespace: 'default' })], [noNs]), [], 'no namespace means default');
    // b failed to apply this time: it stays in the ledger and is not deleted.
    assert.deepEqual(
      nextLedger([obj('a'), obj('b')], [obj('a')], [entry('a', 0), entry('b', 1)]).map((o) => o.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      nextLedger([obj('a'), obj('b')], [obj('a')], [entry('a', 0)]).map((o) => o.name),
      ['a'],
    );
  });
  test('Foreground deletes everything, Orphan nothing, SelectivelyOrphan all but the rules', () => {
    const applied = [obj('a'), obj('b'), obj('keep')];
    assert.equal(planWorkDeletion({}, applied).remove.length, 3);
    assert.deepEqual(planWorkDeletion({ deleteOption: { propagationPolicy: 'Orphan' } }, applied).remove, []);
    const sel = planWorkDeletion(
      {
        deleteOption: {
          propagationPolicy: 'SelectivelyOrphan',
          selectivelyOrphans: { orphaningRules: [{ group: '', resource: 'configmaps', namespace: 'd', name: 'keep' }] },
        },
      },
      applied,
    );
    assert.deepEqual(
      sel.remove.map((o) => o.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      sel.orphan.map((o) => o.name),
      ['keep'],
    );
  });
  test('orphaning rules as OCM writes them: no group means the core group; a wildcard keeps, never deletes', () => {
    const applied = [obj('a'), obj('keep-me'), obj('keep-too')];
    const plan = (rules: { group?: string; resource: string; namespace?: string; name: string }[]) =>
      planWorkDeletion(
        { deleteOption: { propagationPolicy: 'SelectivelyOrphan', selectivelyOrphans: { orphaningRules: rules } } },
        applied,
      ).orphan.map((o) => o.name);
    assert.deepEqual(plan([{ resource: 'configmaps', namespace: 'd', name: 'keep-me' }]), ['keep-me']);
    assert.deepEqual(plan([{ resource: 'configmaps', namespace: 'd', name: 'keep-*' }]), ['keep-me', 'keep-too']);
    assert.deepEqual(
      plan([{ resource: 'configmaps', name: 'keep-me' }]),
      [],
      'no namespace names a cluster-scoped object',
    );
    assert.deepEqual(plan([{ group: 'apps', resource: 'configmaps', namespace: 'd', name: 'keep-me' }]), []);
  });
  test('identifiers the hub sent as written are held normalized', () => {
    const held = mergeUpdate(undefined, {
      name: 'w',
      uid: 'u',
      generation: 1,
      full: true,
      manifests: [],
      removed: [],
      deleteOption: {
        propagationPolicy: 'SelectivelyOrphan',
        selectivelyOrphans: { orphaningRules: [{ resource: 'configmaps', name: 'x' }] },
      },
      manifestConfigs: [{ resourceIdentifier: { resource: 'configmaps', namespace: 'd', name: 'x' } }],
    });
    assert.deepEqual(held.deleteOption?.selectivelyOrphans?.orphaningRules, [
      { group: '', resource: 'configmaps', namespace: '', name: 'x' },
    ]);
    assert.deepEqual(held.manifestConfigs?.[0]?.resourceIdentifier, {
      group: '',
      resource: 'configmaps',
      namespace: 'd',
      name: 'x',
    });
  });
  test('the breaker trips above the share, never for a handful', () => {
    assert.equal(breakerTrips(60, 100, 0.5), true);
    assert.equal(breakerTrips(50, 100, 0.5), false);
    assert.equal(breakerTrips(5, 6, 0.5), false, 'a handful never trips');
    assert.equal(breakerTrips(0, 0, 0.5), false);
  });
});
