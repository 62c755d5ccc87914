import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { breakerMinimum, heldDeletions, shownKey } from './breaker.ts';

const keys = (n: number, prefix = 'cm') => Array.from({ length: n }, (_, i) => `|ConfigMap|apps|${prefix}-${i}`);

describe('the GitRepo deletion breaker', () => {
  it('holds a commit deleting more than the share of a path, and more than the minimum', () => {
    const held = heldDeletions(keys(10), keys(2), 0.5, 'c2');
    assert.deepEqual(held && { ...held, objects: held.objects.length, digest: held.digest.length }, {
      commit: 'c2',
      deleting: 8,
      of: 10,
      objects: 8,
      digest: 32,
    });
    assert.equal(held?.objects[0], 'ConfigMap apps/cm-2');
  });
  it('the digest names exactly the objects deleted: the same set, in any order, the same digest; another set another', () => {
    const a = heldDeletions(keys(10), keys(2), 0.5, 'c')?.digest;
    assert.equal(heldDeletions([...keys(10)].reverse(), keys(2), 0.5, 'c')?.digest, a);
    assert.notEqual(heldDeletions(keys(10), keys(3), 0.5, 'c')?.digest, a);
  });
  it('never holds deletions of at most the minimum, whatever their share', () => {
    assert.equal(heldDeletions(keys(breakerMinimum), [], 0.5, 'c'), undefined);
    assert.ok(heldDeletions(keys(breakerMinimum + 1), [], 0.5, 'c'));
  });
  it('counts objects replaced under another name as deleted; renamed files of the same objects as kept', () => {
    assert.equal(heldDeletions(keys(10), keys(10), 0.5, 'c'), undefined);
    assert.equal(heldDeletions(keys(10), keys(10, 'other'), 0.5, 'c')?.deleting, 10);
  });
  it('a share of exactly the limit passes; 1 never holds; 0 holds any deletion over the minimum', () => {
    assert.equal(heldDeletions(keys(12), keys(6), 0.5, 'c'), undefined);
    assert.equal(heldDeletions(keys(20), [], 1, 'c'), undefined);
    assert.equal(heldDeletions(keys(100), keys(94), 0, 'c')?.deleting, 6);
  });
  it('names at most ten of the objects, as Kind namespace/name (group when there is one)', () => {
    assert.equal(heldDeletions(keys(40), [], 0.5, 'c')?.objects.length, 10);
    assert.equal(shownKey('apps|Deployment|shop|web'), 'Deployment.apps shop/web');
    assert.equal(shownKey('|Namespace||shop'), 'Namespace shop');
  });
});
