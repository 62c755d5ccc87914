import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDns1123Label, labelErrors, labelKeyError, labelValueError, parseLabelList } from './index.ts';

test('DNS-1123 labels', () => {
  for (const ok of ['a', 'rack-1', '0abc', 'a'.repeat(63)]) assert.equal(isDns1123Label(ok), true, ok);
  for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a.b', '../etc', 'ζ', 'a'.repeat(64), "a';drop"]) {
    assert.equal(isDns1123Label(bad), false, bad);
  }
});

test('label keys and values follow Kubernetes', () => {
  for (const ok of ['env', 'outpost.dev/site', 'a.b-c_d', 'x/y']) assert.equal(labelKeyError(ok), undefined, ok);
  for (const bad of ['', '/x', 'x/', 'UPPER.dev/x', `${'a'.repeat(64)}`, 'a b', '-a'])
    assert.ok(labelKeyError(bad), bad);
  for (const ok of ['', 'prod', 'eu-west_1.a', 'A1']) assert.equal(labelValueError(ok), undefined, ok);
  for (const bad of ['-a', 'a-', 'a b', 'é', 'a'.repeat(64)]) assert.ok(labelValueError(bad), bad);
  assert.deepEqual(labelErrors({ ok: 'yes' }), []);
  assert.equal(labelErrors({ ok: 1 }).length, 1);
  assert.deepEqual(labelErrors([]), ['labels must be an object']);
  assert.equal(
    labelErrors(Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, 'v'])), 64)[0],
    'at most 64 labels',
  );
});

test('parseLabelList', () => {
  assert.deepEqual(parseLabelList('a=1, b=2,c='), { a: '1', b: '2', c: '' });
  assert.throws(() => parseLabelList('novalue'), /key=value/);
});
