import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJsonDepth, ParseError, parseYaml, parseYamlDocuments } from './index.ts';

const read = (text: string, maxBytes = 1 << 20) => parseYaml(text, { maxBytes });
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ParseError, `a ParseError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a ParseError');
};

test('plain scalars resolve as kubectl (go-yaml v2 through sigs.k8s.io/yaml) resolves them', () => {
  const cases: [string, unknown][] = [
    ['0755', 493],
    ['0400', 256],
    ['0o17', 15],
    ['0x1F', 31],
    ['0b101', 5],
    ['-0755', -493],
    ['+12', 12],
    ['1_000', 1000],
    ['09', 9],
    ['0', 0],
    ['1e3', 1000],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['yes', true],
    ['Yes', true],
    ['on', true],
    ['ON', true],
    ['y', true],
    ['no', false],
    ['off', false],
    ['n', false],
    ['true', true],
    ['False', false],
    ['~', null],
    ['null', null],
    ['', null],
    // go-yaml v2 has no sexagesimal numbers, and hands timestamps to kubectl as text.
    ['1:20', '1:20'],
    ['2001-12-14', '2001-12-14'],
    ['2001-12-14T21:59:43.10Z', '2001-12-14T21:59:43.10Z'],
    ['08x', '08x'],
    ['1e400', '1e400'],
    ['0x', '0x'],
    ['yesno', 'yesno'],
    ['-1', -1],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(read(`v: ${text}\n`), { v: want }, `v: ${text}`);
  }
});

test('quoted, block and !!str scalars stay strings; explicit tags are checked', () => {
  assert.deepEqual(read('a: "0755"\nb: \'yes\'\nc: !!str 12\nd: |\n  0755\n'), {
    a: '0755',
    b: 'yes',
    c: '12',
    d: '0755\n',
  });
  assert.deepEqual(read('a: !!int "12"\nb: !!float 1\n'), { a: 12, b: 1 });
  assert.equal(
    code(() => read('a: !!int abc\n')),
    'BODY_MALFORMED',
  );
  assert.equal(
    code(() => read('a: .inf\n')),
    'BODY_MALFORMED',
  );
});

test('keys resolve like values and become strings, as kubectl writes them to JSON', () => {
  assert.deepEqual(read('yes: 1\n3: x\nname: n\n'), { true: 1, '3': 'x', name: false });
  // Both are the key true.
  assert.equal(
    code(() => read('yes: 1\non: 2\n')),
    'BODY_MALFORMED',
  );
  assert.equal(
    code(() => read('~: 1\n')),
    'BODY_MALFORMED',
  );
  assert.equal(
    code(() => read('[a]: 1\n')),
    'BODY_MALFORMED',
  );
});

test('duplicate keys are refused, also among thousands (checked in linear time)', () => {
  assert.equal(
    code(() => read('a: 1\nb: 2\na: 3\n')),
    'BODY_MALFORMED',
  );
  const lines = Array.from({ length: 20_000 }, (_, i) => `k${i}: v`);
  lines.push('k7: again');
  assert.equal(
    code(() => read(lines.join('\n'), 1 << 24)),
    'BODY_MALFORMED',
  );
});

test('merge keys: explicit keys win, the mapping is a copy', () => {
  const v = read('base: &b {x: 1, z: 0}\nc:\n  <<: *b\n  x: 2\n') as Record<string, Record<string, number>>;
  assert.deepEqual(v.c, { x: 2, z: 0 });
  assert.notEqual(v.c, v.base);
});

test('aliases are copies counted against the byte budget', () => {
  const v = read('a: &a {k: [1, 2]}\nb: *a\n') as { a: { k: number[] }; b: { k: number[] } };
  assert.deepEqual(v.b, { k: [1, 2] });
  v.b.k.push(3);
  assert.deepEqual(v.a.k, [1, 2], 'changing one use changes no other');
  const bomb = `a: &a "${'x'.repeat(10_000)}"\nb: [${Array.from({ length: 200 }, () => '*a').join(',')}]\n`;
  assert.equal(
    code(() => read(bomb, 1 << 20)),
    'BODY_MALFORMED',
  );
  // The budget is shared by the documents of one text.
  const docs = Array.from({ length: 20 }, () => `a: "${'x'.repeat(100)}"`).join('\n---\n');
  assert.equal(parseYamlDocuments(docs, { maxBytes: 1 << 20 }).length, 20);
  assert.equal(
    code(() => parseYamlDocuments(docs, { maxBytes: 1000 })),
    'BODY_MALFORMED',
  );
});

test('nesting is bounded in flow and block style; __proto__ keys are refused', () => {
  assert.equal(
    code(() => read(`${'['.repeat(10_000)}${']'.repeat(10_000)}`)),
    'BODY_TOO_DEEP',
  );
  assert.equal(
    code(() => read(`${'['.repeat(300)}${']'.repeat(300)}`)),
    'BODY_TOO_DEEP',
  );
  assert.deepEqual(read(`${'['.repeat(100)}${']'.repeat(100)}`, 1 << 20) !== undefined, true);
  assert.equal(
    code(() => read('a:\n  __proto__:\n    x: 1\n')),
    'BODY_MALFORMED',
  );
});

test('empty documents are null; several documents in order', () => {
  assert.deepEqual(parseYamlDocuments('a: 1\n---\n---\nb: 2\n', { maxBytes: 1000 }), [{ a: 1 }, null, { b: 2 }]);
  assert.equal(read(''), null);
  assert.equal(
    code(() => read('a: 1\n---\nb: 2\n')),
    'BODY_MALFORMED',
  );
});

test('checkJsonDepth counts brackets outside strings only', () => {
  checkJsonDepth(`{"a":"${'['.repeat(500)}\\"["}`, 5);
  checkJsonDepth('[[[[[]]]]]', 5);
  assert.equal(
    code(() => checkJsonDepth('[[[[[[]]]]]]', 5)),
    'BODY_TOO_DEEP',
  );
});
