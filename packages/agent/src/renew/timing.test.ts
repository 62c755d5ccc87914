import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durations } from '@outpost/shared';
import { renewalTime } from './timing.ts';

const day = 86_400_000;

test('the renewal point always leaves 20-30 % of the life', () => {
  const notBefore = Date.UTC(2026, 0, 1);
  for (const life of [10_000, 3_600_000, 14 * day, 365 * day]) {
    const notAfter = notBefore + life;
    for (let i = 0; i <= 1000; i++) {
      const r = i / 1000;
      const at = renewalTime(notBefore, notAfter, r);
      const remaining = (notAfter - at) / life;
      assert.ok(remaining >= 0.2 - 1e-9 && remaining <= 0.3 + 1e-9, `life ${life}, r ${r}: ${remaining}`);
    }
  }
});

test('the ends of the window and the draw map linearly onto it', () => {
  const nb = 0;
  const na = 100 * day;
  assert.equal(renewalTime(nb, na, 0), na - 20 * day);
  assert.equal(renewalTime(nb, na, 1), na - 30 * day);
  assert.equal(renewalTime(nb, na, 0.5), na - 25 * day);
  // Draws outside [0, 1] are clamped, not extrapolated.
  assert.equal(renewalTime(nb, na, -3), na - 20 * day);
  assert.equal(renewalTime(nb, na, 7), na - 30 * day);
});

test('uses durations.renewWhenRemaining by default and a given window when asked', () => {
  const { min, max } = durations.renewWhenRemaining;
  assert.equal(renewalTime(0, 1000, 0), 1000 - 1000 * min);
  assert.equal(renewalTime(0, 1000, 1), 1000 - 1000 * max);
  assert.equal(renewalTime(0, 1000, 0, { min: 0.5, max: 0.5 }), 500);
});

test('a certificate with no life renews at once', () => {
  assert.equal(renewalTime(5000, 5000, 0.3), 5000);
  assert.equal(renewalTime(6000, 5000, 0.3), 5000);
});
