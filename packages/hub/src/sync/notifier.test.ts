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

test('a wait given a mark ends at once when its cluster was notified after the mark (the poll read before the change)', async () => {
  const n = new DesiredNotifier();
  const mark = n.mark('a');
  n.notify('b'); // another cluster: no effect on a's wait
  assert.equal(await n.wait('a', 20, undefined, mark), false, 'nothing for a since the mark: the hold ends');
  const before = n.mark('a');
  n.notify('a'); // no waiter yet: the change came while the poll was reading
  assert.equal(await n.wait('a', 60_000, undefined, before), true, 'woken at once, not after the hold');
  assert.equal(n.waiting, 0);
  n.close();
});

test('notifyAll asks every waiting poll to look again (recheck), and a poll that read before it does not wait', async () => {
  const n = new DesiredNotifier();
  const held = [n.wait('a', 60_000), n.wait('b', 60_000)];
  const mark = n.mark('c');
  n.notifyAll();
  assert.deepEqual(await Promise.all(held), ['recheck', 'recheck']);
  assert.equal(await n.wait('c', 60_000, undefined, mark), 'recheck');
  assert.equal(await n.wait('c', 20, undefined, n.mark('c')), false, 'a mark after it: waits its hold');
  n.close();
});
