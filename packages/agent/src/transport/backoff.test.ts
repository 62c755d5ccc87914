import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durations } from '@outpost/shared';
import { backoffDelay, jitter, parseRetryAfter, reconnectDelay, retryAfterCapMs } from './backoff.ts';

test('full jitter: uniform in [0, min(max, base * 2^attempt))', () => {
  const policy = { baseMs: durations.backoffBaseMs, maxMs: durations.backoffMaxMs };
  for (let attempt = 0; attempt < 70; attempt++) {
    const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
    assert.equal(backoffDelay(attempt, { random: () => 0 }), 0);
    assert.equal(backoffDelay(attempt, { random: () => 0.5 }), ceiling / 2);
    const top = backoffDelay(attempt, { random: () => 0.999999 });
    assert.ok(top < ceiling && top > ceiling * 0.99, `attempt ${attempt}: ${top}`);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt);
      assert.ok(d >= 0 && d < ceiling, `attempt ${attempt}: ${d}`);
    }
  }
  assert.equal(backoffDelay(3, { random: () => 1 - Number.EPSILON, policy: { baseMs: 10, maxMs: 50 } }) < 50, true);
});

test('Retry-After is a floor, spread by at most 20 %', () => {
  for (const r of [0, 0.3, 0.999]) {
    const d = backoffDelay(0, { retryAfterMs: 5_000, random: () => r });
    assert.ok(d >= 5_000 && d <= 6_000, `${d}`);
  }
  // Even when the exponential ceiling would be far larger or smaller.
  assert.ok(backoffDelay(20, { retryAfterMs: 2_000, random: () => 0.9 }) <= 2_400);
  assert.ok(backoffDelay(0, { retryAfterMs: 30_000, random: () => 0 }) >= 30_000);
  // A broken header cannot park the agent for days.
  assert.ok(backoffDelay(0, { retryAfterMs: 10 * 86_400_000, random: () => 0 }) === retryAfterCapMs);
});

test('parseRetryAfter: seconds, HTTP dates, garbage', () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0);
  assert.equal(parseRetryAfter('7', now), 7_000);
  assert.equal(parseRetryAfter(['3', '9'], now), 3_000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter('', now), undefined);
});

test('heartbeat jitter stays within ±share', () => {
  assert.equal(
    jitter(1000, 0.2, () => 0),
    800,
  );
  assert.equal(
    jitter(1000, 0.2, () => 0.5),
    1000,
  );
  for (let i = 0; i < 200; i++) {
    const d = jitter(30_000, 0.2);
    assert.ok(d >= 24_000 && d <= 36_000);
  }
});

test("reconnectDelay: every failure waits within the hub's window, or the backoff when longer; Retry-After wins", () => {
  assert.equal(reconnectDelay(0, 40_000, { random: () => 0.5 }), 20_000);
  assert.equal(reconnectDelay(0, 40_000, { random: () => 0.999 }) < 40_000, true);
  // A retry after a failed reconnect draws within the window again (not within 2 s)…
  assert.equal(reconnectDelay(1, 40_000, { random: () => 0.5 }), 20_000);
  // …unless the backoff has grown past it.
  assert.equal(reconnectDelay(8, 10_000, { random: () => 0.5 }), backoffDelay(8, { random: () => 0.5 }));
  assert.equal(backoffDelay(8, { random: () => 0.5 }) > 5_000, true);
  assert.equal(reconnectDelay(0, 40_000, { retryAfterMs: 7_000, random: () => 0 }), 7_000);
  // No window known (an older hub): as before.
  assert.equal(reconnectDelay(0, undefined, { random: () => 0.5 }), backoffDelay(0, { random: () => 0.5 }));
  // A window from a broken hub is bounded.
  assert.equal(reconnectDelay(0, 1e12, { random: () => 0.5 }), 300_000);
});
