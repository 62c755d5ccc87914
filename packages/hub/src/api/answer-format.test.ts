import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseYaml, writeYaml } from '../parse/index.ts';
import { answerFormat } from './answer-format.ts';

test('Accept: the highest q wins, JSON on a tie or without a header, undefined when neither is allowed', () => {
  const cases: [string | undefined, string | undefined][] = [
    [undefined, 'json'],
    ['', 'json'],
    ['*/*', 'json'],
    ['application/*', 'json'],
    ['application/json', 'json'],
    ['application/yaml', 'yaml'],
    ['Application/X-YAML', 'yaml'],
    ['text/yaml; charset=utf-8', 'yaml'],
    ['text/*', 'yaml'],
    ['application/json;q=0.5, application/yaml', 'yaml'],
    ['application/yaml;q=0.5, application/json', 'json'],
    ['application/yaml, application/json', 'json'],
    ['text/html', undefined],
    ['application/json;q=0', undefined],
    ['image/png, text/html;q=0.9', undefined],
  ];
  for (const [accept, want] of cases) assert.equal(answerFormat(accept), want, String(accept));
});

test('writeYaml: what it writes reads back (kubectl rules) as the same value', () => {
  const value = {
    s: ['yes', 'on', 'off', 'no', 'y', '0755', '1:20', '1e3', 'null', '~', '', ' lead', 'a: b', '- x', 'x'.repeat(300)],
    n: [0, -1, 1.5, 1e21],
    b: [true, false],
    z: null,
    nested: { list: [{ a: 1 }, []], empty: {} },
    multiline: 'a\nb\n',
  };
  assert.deepEqual(parseYaml(writeYaml(value), { maxBytes: 1 << 20 }), value);
});
