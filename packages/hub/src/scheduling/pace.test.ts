import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pace } from './pace.ts';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('Pace: the base window while passes are cheap, three times a costly pass, at most 5 s', () => {
  const pace = new Pace(50);
  assert.equal(pace.windowMs, 50);
  assert.equal(
    pace.run(() => 'done'),
    'done',
  );
  assert.equal(pace.windowMs, 50, 'a cheap pass keeps the base window');
  pace.run(() => busy(40));
  assert.ok(pace.windowMs >= 120 && pace.windowMs < 400, `three times the pass: ${pace.windowMs}`);
  // A pass that throws is timed too.
  assert.throws(() =>
    pace.run(() => {
      busy(5);
      throw new Error('x');
    }),
  );
  assert.equal(pace.windowMs, 50);
  const slow = new Pace(50);
  slow.run(() => busy(1_800));
  assert.equal(slow.windowMs, 5_000, 'bounded');
});

test('Pace: a pass that returns a promise is timed until it settles', async () => {
  const pace = new Pace(50);
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const pass = pace.run(async () => {
    await wait(60);
    return 'done';
  });
  assert.equal(pace.windowMs, 50, 'not timed before it settled');
  assert.equal(await pass, 'done');
  assert.ok(pace.windowMs >= 150, `three times the pass: ${pace.windowMs}`);
  // One that rejects is timed too, and its rejection reaches the caller.
  const cheap = new Pace(50);
  await assert.rejects(
    cheap.run(async () => {
      await wait(60);
      throw new Error('x');
    }),
    /x/,
  );
  assert.ok(cheap.windowMs >= 150, `three times the pass: ${cheap.windowMs}`);
});
