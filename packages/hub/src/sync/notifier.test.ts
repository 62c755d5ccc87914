import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
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

test('a change to many clusters wakes their polls a slice per turn of the event loop, every one of them', async () => {
  const n = new DesiredNotifier();
  const clusters = Array.from({ length: 1_000 }, (_, i) => `c-${i}`);
  let woken = 0;
  const polls = clusters.map((c) =>
    n.wait(c, 60_000).then((v) => {
      woken++;
      return v;
    }),
  );
  for (const c of clusters) n.notify(c);
  assert.equal(woken, 0, 'nothing is woken in the turn that notified');
  const perTurn: number[] = [];
  let before = 0;
  while (woken < clusters.length && perTurn.length < 1_000) {
    await nextTurn();
    perTurn.push(woken - before);
    before = woken;
  }
  assert.ok(await Promise.all(polls).then((all) => all.every((v) => v === true)));
  assert.ok(perTurn.length >= 10, `spread over ${perTurn.length} turns`);
  assert.ok(Math.max(...perTurn) <= 64, `at most 64 per turn: ${Math.max(...perTurn)}`);
  n.close();
});

test('a poll that began to wait after the notify is not woken by it (it read the change already)', async () => {
  const n = new DesiredNotifier();
  const before = n.wait('a', 60_000);
  n.notify('a');
  const after = n.wait('a', 50);
  assert.equal(await before, true);
  assert.equal(await after, false);
  n.close();
});

test('notifying a cluster with no poll waiting wakes nothing later; close releases waiting and due polls', async () => {
  const n = new DesiredNotifier();
  n.notify('nobody');
  const later = n.wait('nobody', 30);
  await nextTurn();
  await nextTurn();
  assert.equal(await later, false, 'a poll that came after the notify is not woken by it');
  const held = Array.from({ length: 200 }, (_, i) => n.wait(`h-${i}`, 60_000));
  for (let i = 0; i < 200; i++) n.notify(`h-${i}`);
  n.close();
  const answers = await Promise.all(held);
  assert.equal(answers.length, 200);
  assert.equal(n.waiting, 0);
  assert.equal(await n.wait('after-close', 60_000), false);
});
