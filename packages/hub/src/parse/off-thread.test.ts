import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutpostError } from '@outpost/shared';
import { ParseError } from './errors.ts';
import { BodyThread } from './off-thread.ts';

test('BodyThread: concurrent parses each get their own document; a stopped worker fails what it had not answered', async () => {
  const thread = new BodyThread();
  try {
    const docs = Array.from({ length: 20 }, (_, i) => `name: doc-${i}\nmode: 0755\nitems: [${i}, ${i + 1}]\n`);
    const parsed = await Promise.all(docs.map((d) => thread.yaml(d, 1 << 20)));
    assert.deepEqual(
      parsed,
      docs.map((_, i) => ({ name: `doc-${i}`, mode: 493, items: [i, i + 1] })),
    );
    await assert.rejects(thread.yaml('a: [1, 2', 1 << 20), (err: unknown) => err instanceof ParseError);
    const big = `${Array.from({ length: 40_000 }, (_, i) => `k${i}: v`).join('\n')}\n`;
    const unanswered = thread.yaml(big, 16 << 20);
    await thread.close();
    await assert.rejects(unanswered, (err: unknown) => err instanceof ParseError && err.code === 'BODY_MALFORMED');
    // A new worker is started on the next parse.
    assert.deepEqual(await thread.yaml('x: 1', 1 << 20), { x: 1 });
  } finally {
    await thread.close();
  }
});

test("BodyThread: with a check, a document the route would refuse is refused on the thread, with the route's error", async () => {
  const thread = new BodyThread();
  try {
    const flat = `${Array.from({ length: 5_000 }, (_, i) => `k${i}: v`).join('\n')}\n`;
    await assert.rejects(
      thread.yaml(flat, 16 << 20, 'placement'),
      (err: unknown) =>
        err instanceof OutpostError &&
        err.code === 'PLACEMENT_INVALID' &&
        err.statusCode === 400 &&
        Array.isArray(err.details) &&
        err.details.length > 0,
    );
    await assert.rejects(
      thread.yaml('kind: x\n', 1 << 20, 'workset'),
      (err: unknown) => (err as OutpostError).code === 'WORKSET_INVALID',
    );
    const ok =
      'apiVersion: cluster.open-cluster-management.io/v1beta1\nkind: Placement\nmetadata:\n  name: p\nspec: {}\n';
    assert.deepEqual(await thread.yaml(ok, 1 << 20, 'placement'), {
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'p' },
      spec: {},
    });
  } finally {
    await thread.close();
  }
});
