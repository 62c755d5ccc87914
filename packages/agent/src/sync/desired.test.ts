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
  releaseObjects,
  withObjects,
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
  test("the executor comes with every update (full or delta) and goes when the hub's header has none", () => {
    const executor = { subject: { type: 'ServiceAccount' as const, serviceAccount: { namespace: 'n', name: 's' } } };
    const full: WorkUpdate = { name: 'w', uid: 'u1', generation: 2, full: true, manifests: [], removed: [], executor };
    const withExecutor = mergeUpdate(held, full);
    assert.deepEqual(withExecutor.executor, executor);
    const delta: WorkUpdate = {
      name: 'w',
      uid: 'u1',
      generation: 3,
      full: false,
      manifests: [],
      removed: [],
      executor,
    };
    assert.deepEqual(mergeUpdate(withExecutor, delta).executor, executor);
    const { executor: _, ...without } = delta;
    assert.equal(mergeUpdate(withExecutor, { ...without, generation: 4 }).executor, undefined);
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

describe('objects shared between works', () => {
  const manifest = (apiVersion: string, kind: string, name: string, namespace?: string) => ({
    key: `${kind}|${namespace ?? ''}|${name}`,
    ordinal: 0,
    manifest: { apiVersion, kind, metadata: namespace ? { name, namespace } : { name } },
  });
  const desired = (uid: string, manifests: ReturnType<typeof manifest>[], deleting = false): DesiredWork => ({
    name: `work-${uid}`,
    uid,
    generation: 1,
    manifests,
    ...(deleting ? { deleting: true } : {}),
  });
  const ns = (name: string) => obj(name, { kind: 'Namespace', resource: 'namespaces', namespace: '' });
  const crd = (name: string) =>
    obj(name, {
      group: 'apiextensions.k8s.io',
      kind: 'CustomResourceDefinition',
      resource: 'customresourcedefinitions',
      namespace: '',
    });

  /** The releasing work, being deleted (it needs nothing itself). */
  const gone = (uid: string): DesiredWork => ({ ...desired(uid, []), deleting: true });

  test('an object another live work declares passes to that work, whatever it is', () => {
    const works = [
      desired('a', [manifest('v1', 'Namespace', 'monitoring'), manifest('v1', 'ConfigMap', 'shared', 'd')]),
      desired('b', [manifest('v1', 'Namespace', 'monitoring'), manifest('v1', 'ConfigMap', 'shared', 'd')]),
      desired('c', [manifest('v1', 'ConfigMap', 'shared', 'd')]),
    ];
    const r = releaseObjects(gone('a'), [ns('monitoring'), obj('shared'), obj('only-a')], works, new Map());
    assert.deepEqual(
      r.free.map((o) => o.name),
      ['only-a'],
    );
    assert.deepEqual(
      r.transfer.get('b')?.map((o) => o.name),
      ['monitoring', 'shared'],
    );
    assert.deepEqual(
      r.transfer.get('c')?.map((o) => o.name),
      ['shared'],
    );
    assert.deepEqual(r.kept, []);
  });

  test('works being deleted need nothing; the releasing work itself does not count', () => {
    const works = [
      desired('a', [manifest('v1', 'ConfigMap', 'shared', 'd')]),
      desired('b', [manifest('v1', 'ConfigMap', 'shared', 'd')], true),
    ];
    const r = releaseObjects(gone('a'), [obj('shared')], works, new Map());
    assert.deepEqual(
      r.free.map((o) => o.name),
      ['shared'],
    );
    assert.equal(r.transfer.size, 0);
  });

  test('a manifest without namespace declares the object in default', () => {
    const works = [desired('b', [manifest('v1', 'ConfigMap', 'plain')])];
    const r = releaseObjects(gone('a'), [obj('plain', { namespace: 'default' })], works, new Map());
    assert.deepEqual(
      r.transfer.get('b')?.map((o) => o.name),
      ['plain'],
    );
  });

  test("a Namespace holding another work's objects and a CRD whose kinds another work uses stay", () => {
    const works = [
      desired('b', [manifest('v1', 'ConfigMap', 'x', 'team-b')]),
      desired('c', [manifest('e2e.outpost.dev/v1', 'Gadget', 'g', 'd')]),
    ];
    // Applied by c earlier, found through its ledger (the plural comes from discovery).
    const ledgers = new Map([['d', [obj('w', { group: 'other.dev', kind: 'Widget', resource: 'widgets' })]]]);
    const works2 = [...works, desired('d', [manifest('other.dev/v1', 'Widget', 'w', 'd')])];
    const r = releaseObjects(
      gone('a'),
      [ns('team-b'), ns('team-a'), crd('gadgets.e2e.outpost.dev'), crd('widgets.other.dev'), crd('unused.x.dev')],
      works2,
      ledgers,
    );
    assert.deepEqual(
      r.kept.map((k) => [k.object.name, k.reason]),
      [
        ['team-b', 'it holds objects of work work-b'],
        ['gadgets.e2e.outpost.dev', 'work work-c uses the kinds it defines'],
        ['widgets.other.dev', 'work work-d uses the kinds it defines'],
      ],
    );
    assert.deepEqual(
      r.free.map((o) => o.name),
      ['team-a', 'unused.x.dev'],
    );
  });

  test('a work that only reads an object (ReadOnly) does not receive it; it goes under the policy', () => {
    const reader: DesiredWork = {
      ...desired('b', [manifest('v1', 'ConfigMap', 'shared', 'd')]),
      manifestConfigs: [
        {
          resourceIdentifier: { group: '', resource: 'configmaps', namespace: 'd', name: 'shared' },
          updateStrategy: { type: 'ReadOnly' },
        },
      ],
    };
    const r = releaseObjects(gone('a'), [obj('shared')], [reader], new Map());
    assert.equal(r.transfer.size, 0);
    assert.deepEqual(
      r.free.map((o) => o.name),
      ['shared'],
    );
  });

  test('a work deleted at the same time that orphans the object spares it from the other', () => {
    const orphaning: DesiredWork = {
      ...desired('b', [manifest('v1', 'ConfigMap', 'data', 'd')]),
      deleting: true,
      deleteOption: { propagationPolicy: 'Orphan' },
    };
    const deleting: DesiredWork = { ...desired('c', [manifest('v1', 'ConfigMap', 'data', 'd')]), deleting: true };
    assert.deepEqual(
      releaseObjects(gone('a'), [obj('data')], [orphaning], new Map()).spared.map((k) => k.object.name),
      ['data'],
    );
    assert.deepEqual(
      releaseObjects(gone('a'), [obj('data')], [deleting], new Map()).free.map((o) => o.name),
      ['data'],
      'a work deleted at the same time under Foreground spares nothing',
    );
  });

  test('a work that stays keeps a Namespace it dropped while its own objects live there', () => {
    const self = desired('a', [manifest('v1', 'PersistentVolumeClaim', 'data', 'n')]);
    const r = releaseObjects(self, [ns('n')], [self], new Map());
    assert.deepEqual(
      r.kept.map((k) => [k.object.name, k.reason]),
      [['n', 'it holds objects of work work-a']],
    );
  });

  test('a cluster-scoped object is declared by its manifest whatever stray namespace the manifest carries', () => {
    const role = obj('reader', {
      group: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      resource: 'clusterroles',
      namespace: '',
    });
    const m = manifest('rbac.authorization.k8s.io/v1', 'ClusterRole', 'reader', 'helm-release-ns');
    assert.deepEqual(droppedObjects([role], [m]), [], 'not dropped: it is still in the work');
  });

  test('withObjects adds by identity and keeps the ledger sorted', () => {
    const l = withObjects([obj('b'), obj('d')], [obj('a'), obj('b', { uid: 'new' })]);
    assert.deepEqual(
      l.map((o) => `${o.name}:${o.uid}`),
      ['a:uid-a', 'b:new', 'd:uid-d'],
    );
  });

  test('mergeUpdate stamps when the agent first held a work and keeps it across generations', () => {
    const first = mergeUpdate(
      undefined,
      { name: 'w', uid: 'u1', generation: 1, full: true, manifests: [], removed: [] } as WorkUpdate,
      new Date('2026-12-01T10:00:00Z'),
    );
    assert.equal(first.receivedAt, '2026-12-01T10:00:00.000Z');
    const second = mergeUpdate(
      first,
      { name: 'w', uid: 'u1', generation: 2, full: true, manifests: [], removed: [] } as WorkUpdate,
      new Date('2026-12-02T10:00:00Z'),
    );
    assert.equal(second.receivedAt, '2026-12-01T10:00:00.000Z');
    const replaced = mergeUpdate(
      second,
      { name: 'w', uid: 'u2', generation: 1, full: true, manifests: [], removed: [] } as WorkUpdate,
      new Date('2026-12-03T10:00:00Z'),
    );
    assert.equal(replaced.receivedAt, '2026-12-03T10:00:00.000Z', 'a new uid is a new work');
  });
});
