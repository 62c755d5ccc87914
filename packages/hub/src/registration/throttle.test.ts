import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureThrottle } from './throttle.ts';

test('a source is slowed down after repeated failures, doubling, and forgiven on success', () => {
  const t = new FailureThrottle(3, 60_000);
  let now = 1_000_000;
  for (let i = 0; i < 2; i++) t.fail('a', now);
  assert.equal(t.waitMs('a', now), 0, 'below the limit nothing is slowed');
  t.fail('a', now);
  assert.equal(t.waitMs('a', now), 1_000);
  assert.equal(t.waitMs('b', now), 0, 'other sources are not affected');
  now += 1_000;
  for (let i = 0; i < 3; i++) t.fail('a', now);
  assert.equal(t.waitMs('a', now), 2_000, 'the second strike waits twice as long');
  t.succeed('a');
  assert.equal(t.waitMs('a', now), 0);
});

test('failures outside the window do not count', () => {
  const t = new FailureThrottle(3, 1_000);
  t.fail('a', 0);
  t.fail('a', 500);
  t.fail('a', 2_000);
  assert.equal(t.waitMs('a', 2_000), 0);
});
