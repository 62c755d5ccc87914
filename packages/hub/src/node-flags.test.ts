import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hubNodeFlags } from './node-flags.ts';

const root = join(import.meta.dirname, '../../..');

test('bin/outpost-hub starts node with the hub flags', () => {
  const bin = readFileSync(join(root, 'bin/outpost-hub'), 'utf8');
  const exec = bin.split('\n').find((l) => l.startsWith('exec node '));
  assert.ok(exec, 'an exec node line');
  assert.equal(exec, `exec node ${hubNodeFlags.join(' ')} "$outpost_root/packages/hub/src/main.ts" "$@"`);
});

test("the hub image's entry point starts node with the hub flags", () => {
  const file = readFileSync(join(root, 'deploy/docker/hub.Dockerfile'), 'utf8');
  const entry = /^ENTRYPOINT (.+)$/m.exec(file)?.[1];
  assert.deepEqual(JSON.parse(entry ?? 'null'), ['node', ...hubNodeFlags, '/app/packages/hub/src/main.ts']);
});
