import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DesiredNotifier } from './notifier.ts';

test('a notified poll wakes (true), an unnotified one times out (false), an aborted one ends (false)', async () => {
  const n = new DesiredNotifier();
  const woken = n.wait('a', 60_000);
  const idle = n.wait('b', 20);
  const abort = new AbortController();
  const aborted = n.wait('c', 60_000, abort.signal);
  assert.equal(n.waiting, 3);
  n.notify('a');
  abort.abort();
  assert.deepEqual(await Promise.all([woken, idle, aborted]), [true, false, false]);
  assert.equal(n.waiting, 0);
  n.close();
});

test('notifying a cluster with no poll waiting wakes nothing later; close releases every waiting poll', async () => {
  const n = new DesiredNotifier();
  n.notify('nobody');
  const later = n.wait('nobody', 30);
  assert.equal(await later, false, 'a poll that came after the notify is not woken by it');
  // Held for a minute each: only close can release them within the test.
  const held = Array.from({ length: 200 }, (_, i) => n.wait(`h-${i}`, 60_000));
  assert.equal(n.waiting, 200);
  n.close();
  const answers = await Promise.all(held);
  assert.equal(answers.length, 200);
  assert.equal(n.waiting, 0);
  assert.equal(await n.wait('after-close', 60_000), false);
});
