import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { type JsonPart, jsonParts, jsonStream, partsOver, RawJson, readAhead, TextRef, withKeys } from './raw-json.ts';

const bytesOf = (parts: JsonPart[]) =>
  Buffer.concat(
    parts.map((p) => {
      if (p instanceof TextRef) throw new Error('a TextRef is only read by jsonStream');
      return typeof p === 'string' ? Buffer.from(p) : p;
    }),
  );

async function collect(answer: Readable | string): Promise<Buffer> {
  assert.notEqual(typeof answer, 'string', 'parts with stored texts or bytes are streamed');
  const stream = answer as Readable;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const reader = (texts: Map<string, string | Buffer>) => (ref: TextRef) => {
  const t = texts.get(ref.hash);
  return t === undefined ? undefined : Buffer.from(t);
};

test('jsonParts without a RawJson is JSON.stringify in one part', () => {
  const values: unknown[] = [
    { a: 1, b: [true, null, 'x'], c: { d: 'é€😀', e: undefined } },
    [1, 'two', { three: 3 }],
    'plain',
    42,
    null,
  ];
  for (const v of values) assert.deepEqual(jsonParts(v), [JSON.stringify(v)]);
});

test('jsonParts splices the parts of every RawJson in, in order, without copying them', () => {
  const list = Buffer.from('[1,2]');
  const word = Buffer.from('"é"');
  const parts = jsonParts({
    a: 1,
    raw: new RawJson(['{"x":', list, '}']),
    many: [new RawJson([word]), 2, new RawJson(['{}'])],
    z: 'end',
  });
  assert.deepEqual(JSON.parse(bytesOf(parts).toString()), {
    a: 1,
    raw: { x: [1, 2] },
    many: ['é', 2, {}],
    z: 'end',
  });
  assert.ok(parts.includes(list) && parts.includes(word), 'the Buffers are passed on as they are');
});

test('jsonParts takes a RawJson as the whole value too', () => {
  const parts = jsonParts(new RawJson(['{"a":', Buffer.from('1'), '}']));
  assert.equal(bytesOf(parts).toString(), '{"a":1}');
});

test('jsonParts leaves alone strings that look like its markers', () => {
  const lookalikes = {
    nul: '\u0000',
    guess: `\u0000${randomUUID()}:0`,
    short: '\u0000abc:1',
    escaped: `"\\u0000${randomUUID()}:0"`,
    raw: new RawJson(['7']),
    after: '\u0000x:0',
  };
  const parts = jsonParts(lookalikes);
  assert.deepEqual(JSON.parse(bytesOf(parts).toString()), { ...lookalikes, raw: 7 });
});

test('withKeys with no extra keys gives the object as it is', () => {
  const object: JsonPart[] = ['{"a":1}'];
  assert.equal(withKeys({}, object), object);
});

test('withKeys on an empty object gives just the extra keys', () => {
  assert.deepEqual(withKeys({ a: 1 }, ['{}']), ['{"a":1}']);
  assert.deepEqual(withKeys({ a: 1 }, [Buffer.from('{}')]), ['{"a":1}']);
});

test('withKeys puts the extra keys before those of an object given as a string', () => {
  const text = bytesOf(withKeys({ a: 1, b: 'x' }, ['{"c":3,', '"d":[4]}'])).toString();
  assert.equal(text, '{"a":1,"b":"x","c":3,"d":[4]}');
  assert.deepEqual(Object.keys(JSON.parse(text)), ['a', 'b', 'c', 'd']);
});

test('withKeys puts the extra keys before those of an object given as Buffers', () => {
  const parts = withKeys({ a: 1 }, [Buffer.from('{"c":'), Buffer.from('"é"}')]);
  assert.equal(bytesOf(parts).toString(), '{"a":1,"c":"é"}');
});

test('withKeys leaves out one more byte of an object given as a stored text', async () => {
  const first = new TextRef('h1');
  const second = new TextRef('h2');
  const parts = withKeys({ a: 1 }, [first, second]);
  assert.equal(parts[0], '{"a":1,');
  assert.ok(parts[1] instanceof TextRef);
  assert.deepEqual([parts[1].hash, parts[1].skip], ['h1', 1]);
  assert.equal(parts[2], second);
  assert.equal(first.skip, 0, 'the TextRef given is not changed');

  const skipped = withKeys({ a: 1 }, [new TextRef('h1', 2)])[1];
  assert.ok(skipped instanceof TextRef);
  assert.equal(skipped.skip, 3);

  const texts = new Map([
    ['h1', '{"b":2,"c":'],
    ['h2', '[3]}'],
  ]);
  const text = (await collect(jsonStream(parts, reader(texts)))).toString();
  assert.deepEqual(JSON.parse(text), { a: 1, b: 2, c: [3] });
});

test('withKeys refuses no parts at all', () => {
  assert.throws(() => withKeys({ a: 1 }, []), /no object/);
});

test('jsonStream gives parts that are all strings as one string', () => {
  assert.equal(
    jsonStream(['{"a":', '"é"', '}'], () => undefined),
    '{"a":"é"}',
  );
  assert.equal(
    jsonStream(jsonParts({ a: [1] }), () => undefined),
    '{"a":[1]}',
  );
});

test('jsonStream streams Buffers even without stored texts', async () => {
  const text = (await collect(jsonStream(['{"a":', Buffer.from('"é"'), '}'], () => undefined))).toString();
  assert.equal(text, '{"a":"é"}');
});

test('jsonStream writes strings, Buffers and stored texts in order', async () => {
  const texts = new Map<string, string | Buffer>([
    ['m1', '{"kind":"ConfigMap","data":{"v":"é€😀"}}'],
    ['m2', Buffer.from('{"kind":"Secret"}')],
  ]);
  const parts = jsonParts({
    items: new RawJson(['[', new TextRef('m1'), ',', new TextRef('m2'), ']']),
    n: new RawJson([Buffer.from('2')]),
  });
  const text = (await collect(jsonStream(parts, reader(texts)))).toString();
  assert.deepEqual(JSON.parse(text), {
    items: [{ kind: 'ConfigMap', data: { v: 'é€😀' } }, { kind: 'Secret' }],
    n: 2,
  });
});

test('jsonStream leaves out the bytes a TextRef skips', async () => {
  const texts = new Map([['s', '{"x":1,"y":"é"}']]);
  const text = (await collect(jsonStream(['{"k":0,', new TextRef('s', 1)], reader(texts)))).toString();
  assert.equal(text, '{"k":0,"x":1,"y":"é"}');
});

test('jsonStream fails when a stored text is missing', async () => {
  const texts = new Map([['here', '1']]);
  const stream = jsonStream(['[', new TextRef('here'), ',', new TextRef('gone'), ']'], reader(texts));
  await assert.rejects(collect(stream), /the stored text gone is missing/);
});

test('jsonStream lets other callbacks run while it writes megabytes', async () => {
  const part = 256 * 1024;
  const texts = new Map<string, string>();
  const parts: JsonPart[] = ['['];
  for (let i = 0; i < 12; i++) {
    texts.set(`t${i}`, `"${String(i % 10).repeat(part - 2)}"`);
    parts.push(...(i ? [',', new TextRef(`t${i}`)] : [new TextRef(`t${i}`)]));
  }
  parts.push(']');

  let turns = 0;
  let running = true;
  const turn = () => {
    turns++;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  const stream = jsonStream(parts, reader(texts));
  assert.ok(typeof stream !== 'string');
  const seen: number[] = [];
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) {
      seen.push(turns);
      chunks.push(chunk as Buffer);
    }
  } finally {
    running = false;
  }
  const out = JSON.parse(Buffer.concat(chunks).toString()) as string[];
  assert.equal(out.length, 12);
  assert.equal(out[11], '1'.repeat(part - 2));
  // 3 MiB: the event loop went round at least twice between the first chunk and the last.
  assert.ok((seen.at(-1) as number) - (seen[0] as number) >= 2, `turns seen: ${seen.join(',')}`);
});

test('partsOver counts strings, Buffers and stored texts by their size, less what a TextRef skips', async () => {
  const sizes = new Map([['h', 10]]);
  const asked: string[] = [];
  const size = (hash: string) => {
    asked.push(hash);
    return sizes.get(hash);
  };
  const parts: JsonPart[] = ['ab', Buffer.from('cde'), new TextRef('h', 2)];
  // 2 + 3 + (10 - 2) = 13 bytes.
  assert.equal(await partsOver(parts, 13, size), false);
  assert.equal(await partsOver(parts, 12, size), true);
  assert.deepEqual(asked, ['h', 'h']);

  asked.length = 0;
  assert.equal(await partsOver(parts, 4, size), true);
  assert.deepEqual(asked, [], 'a stored text past the limit is not asked for');
});

test('partsOver counts a string by its UTF-8 bytes, and an unknown stored text as nothing', async () => {
  assert.equal(await partsOver(['€'.repeat(10)], 20, () => undefined), true);
  assert.equal(await partsOver(['ab', new TextRef('gone', 1)], 1, () => undefined), true);
  assert.equal(await partsOver(['a', new TextRef('gone', 5)], 1, () => undefined), false);
});

test('readAhead reads the stored texts of the first bytes now, and fails before anything is sent', async () => {
  const texts = new Map<string, string | Buffer>([
    ['a', '"aaaa"'],
    ['b', '"bbbb"'],
    ['c', '"cccc"'],
  ]);
  const parts = ['[', new TextRef('a'), ',', new TextRef('b'), ',', new TextRef('c', 1), ']'];
  // A budget of 7 bytes: the first two texts are read (6 bytes, then 12), the third waits.
  const ahead = await readAhead(parts, reader(texts), 7);
  assert.deepEqual(
    ahead.map((p) => (p instanceof TextRef ? `ref:${p.hash}` : p.toString())),
    ['[', '"aaaa"', ',', '"bbbb"', ',', 'ref:c', ']'],
  );
  assert.equal((await collect(jsonStream(ahead, reader(texts)))).toString(), '["aaaa","bbbb",cccc"]');
  // Everything within the budget: nothing is left to read while sending.
  const whole = await readAhead(parts, reader(texts), 1 << 20);
  assert.equal(
    whole.some((p) => p instanceof TextRef),
    false,
  );
  await assert.rejects(
    readAhead(['[', new TextRef('gone'), ']'], reader(texts), 1 << 20),
    /the stored text gone is missing/,
  );
});
