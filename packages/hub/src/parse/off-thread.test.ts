import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParseError } from './errors.ts';
import { YamlThread } from './off-thread.ts';

test('YamlThread: concurrent parses each get their own document; a stopped worker fails what it had not answered', async () => {
  const thread = new YamlThread();
  try {
    const docs = Array.from({ length: 20 }, (_, i) => `name: doc-${i}\nmode: 0755\nitems: [${i}, ${i + 1}]\n`);
    const parsed = await Promise.all(docs.map((d) => thread.parse(d, 1 << 20)));
    assert.deepEqual(
      parsed,
      docs.map((_, i) => ({ name: `doc-${i}`, mode: 493, items: [i, i + 1] })),
    );
    await assert.rejects(thread.parse('a: [1, 2', 1 << 20), (err: unknown) => err instanceof ParseError);
    const big = `${Array.from({ length: 40_000 }, (_, i) => `k${i}: v`).join('\n')}\n`;
    const unanswered = thread.parse(big, 16 << 20);
    await thread.close();
    await assert.rejects(unanswered, (err: unknown) => err instanceof ParseError && err.code === 'BODY_MALFORMED');
    // A new worker is started on the next parse.
    assert.deepEqual(await thread.parse('x: 1', 1 << 20), { x: 1 });
  } finally {
    await thread.close();
  }
});
