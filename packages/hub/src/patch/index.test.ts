import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutpostError } from '@outpost/shared';
import { applyPatch, mergePatch, type PatchTarget, patchTypeOf } from './index.ts';

const target = (): PatchTarget => ({
  apiVersion: 'v1',
  kind: 'Thing',
  metadata: {
    name: 'a',
    namespace: 'ns',
    uid: 'u-1',
    resourceVersion: '4',
    generation: 2,
    creationTimestamp: '2026-01-01T00:00:00.000Z',
    labels: { keep: 'x', drop: 'y' },
    annotations: {},
  },
  spec: { n: 1, list: [{ a: 1 }, { b: 2 }, { c: 3 }], nested: { x: 1, y: 2 } },
});

const refused = (fn: () => unknown, code: string, field?: string) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OutpostError, String(err));
    assert.equal(err.code, code, err.message);
    if (field) assert.equal((err.details as { field: string }).field, field, err.message);
    return true;
  });

test('RFC 7386: objects merge, null removes, lists and scalars replace', () => {
  assert.deepEqual(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } }), {
    a: 'z',
    c: { d: 'e' },
  });
  assert.deepEqual(mergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
  assert.deepEqual(mergePatch({ a: 'b' }, ['c']), ['c']);
  assert.deepEqual(mergePatch({ e: null }, { a: 1 }), { e: null, a: 1 });
  assert.deepEqual(mergePatch('x', { a: { b: null, c: 1 } }), { a: { c: 1 } });
});

test('a merge patch edits labels and spec; resourceVersion and uid become preconditions; hub-owned metadata is dropped from the object', () => {
  const out = applyPatch(
    target(),
    { metadata: { labels: { drop: null, add: 'z' }, resourceVersion: '4', uid: 'u-1' }, spec: { nested: { y: null } } },
    'merge',
  );
  assert.deepEqual(out.preconditions, { resourceVersion: '4', uid: 'u-1' });
  assert.deepEqual(out.object, {
    apiVersion: 'v1',
    kind: 'Thing',
    metadata: { name: 'a', namespace: 'ns', labels: { keep: 'x', add: 'z' }, annotations: {} },
    spec: { n: 1, list: [{ a: 1 }, { b: 2 }, { c: 3 }], nested: { x: 1 } },
  });
});

test('fields the hub owns are refused by name', () => {
  refused(() => applyPatch(target(), { status: {} }, 'merge'), 'VALIDATION_FAILED', 'status');
  refused(() => applyPatch(target(), { status: null }, 'merge'), 'VALIDATION_FAILED', 'status');
  refused(
    () => applyPatch(target(), { metadata: { generation: 9 } }, 'merge'),
    'VALIDATION_FAILED',
    'metadata.generation',
  );
  refused(
    () => applyPatch(target(), { metadata: { creationTimestamp: null } }, 'merge'),
    'VALIDATION_FAILED',
    'metadata.creationTimestamp',
  );
  refused(() => applyPatch(target(), { metadata: { name: 'b' } }, 'merge'), 'VALIDATION_FAILED', 'metadata.name');
  refused(
    () => applyPatch(target(), { metadata: { namespace: null } }, 'merge'),
    'VALIDATION_FAILED',
    'metadata.namespace',
  );
  refused(
    () => applyPatch(target(), { metadata: { finalizers: ['x'] } }, 'merge'),
    'VALIDATION_FAILED',
    'metadata.finalizers',
  );
  refused(() => applyPatch(target(), { metadata: null }, 'merge'), 'VALIDATION_FAILED', 'metadata');
  refused(() => applyPatch(target(), { extra: 1 }, 'merge'), 'VALIDATION_FAILED', 'extra');
  refused(() => applyPatch(target(), [], 'merge'), 'VALIDATION_FAILED');
  refused(
    () => applyPatch(target(), [{ op: 'add', path: '/status', value: {} }], 'json'),
    'VALIDATION_FAILED',
    'status',
  );
  refused(
    () => applyPatch(target(), [{ op: 'replace', path: '/metadata/uid', value: 'u-2' }], 'json'),
    'VALIDATION_FAILED',
    'metadata.uid',
  );
  refused(
    () => applyPatch(target(), [{ op: 'remove', path: '/metadata/resourceVersion' }], 'json'),
    'VALIDATION_FAILED',
    'metadata.resourceVersion',
  );
});

test('RFC 6902: one element of a list changes without the others; a failed test is a CONFLICT', () => {
  const out = applyPatch(
    target(),
    [
      { op: 'test', path: '/metadata/resourceVersion', value: '4' },
      { op: 'replace', path: '/spec/list/1/b', value: 20 },
      { op: 'add', path: '/spec/list/-', value: { d: 4 } },
      { op: 'remove', path: '/spec/list/0' },
      { op: 'copy', from: '/spec/n', path: '/spec/m' },
      { op: 'move', from: '/spec/nested/x', path: '/spec/nested/z' },
      { op: 'add', path: '/metadata/labels/a~1b', value: 'v' },
    ],
    'json',
  );
  assert.deepEqual(out.object.spec, { n: 1, m: 1, list: [{ b: 20 }, { c: 3 }, { d: 4 }], nested: { y: 2, z: 1 } });
  assert.deepEqual((out.object.metadata as { labels: unknown }).labels, { keep: 'x', drop: 'y', 'a/b': 'v' });
  refused(
    () => applyPatch(target(), [{ op: 'test', path: '/metadata/resourceVersion', value: '3' }], 'json'),
    'CONFLICT',
  );
  refused(() => applyPatch(target(), [{ op: 'replace', path: '/spec/list/7', value: 1 }], 'json'), 'VALIDATION_FAILED');
  refused(() => applyPatch(target(), [{ op: 'remove', path: '/spec/nope' }], 'json'), 'VALIDATION_FAILED');
  refused(() => applyPatch(target(), [{ op: 'jump', path: '/spec' }], 'json'), 'VALIDATION_FAILED');
  refused(() => applyPatch(target(), { op: 'add' }, 'json'), 'VALIDATION_FAILED');
});

test('content types: JSON patch, merge patch (also plain JSON and YAML), nothing else', () => {
  assert.equal(patchTypeOf('application/json-patch+json'), 'json');
  assert.equal(patchTypeOf('application/merge-patch+json; charset=utf-8'), 'merge');
  assert.equal(patchTypeOf('application/json'), 'merge');
  assert.equal(patchTypeOf('text/yaml'), 'merge');
  assert.equal(patchTypeOf('text/plain'), undefined);
});
