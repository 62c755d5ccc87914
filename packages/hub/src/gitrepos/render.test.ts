import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ignoreRules, renderPath } from './render.ts';
import { checkouts } from './repos.testing.ts';

const { bodies, write } = checkouts('gitrepo-render-');
const render = (dir: string, path: string) =>
  renderPath(dir, path, {
    maxBytes: 1024 * 1024,
    deadline: performance.now() + 30_000,
    parse: (...a) => bodies.documents(...a),
  });
const cm = (name: string, extra = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;

test('files in code-point order, recursively; multi-document YAML with empty documents skipped; JSON', async () => {
  const dir = await write({
    'apps/b.yaml': `${cm('b')}---\n---\n# only a comment\n---\n${cm('c')}`,
    'apps/a.yml': cm('a', 'data:\n  mode: 0755\n  on: yes\n'),
    'apps/sub/d.json': JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'd' } }),
    'apps/README.md': 'not a manifest',
    'other/x.yaml': cm('x'),
  });
  const out = await render(dir, 'apps');
  assert.ok(out.ok, JSON.stringify(out));
  if (!out.ok) return;
  assert.deepEqual(
    out.manifests.map((m) => JSON.parse(m).metadata.name),
    ['a', 'b', 'c', 'd'],
  );
  // kubectl's YAML 1.1 scalars: 0755 is octal 493, `on`/`yes` are booleans.
  assert.deepEqual(JSON.parse(out.manifests[0] ?? '{}').data, { mode: 493, true: true });
  const all = await render(dir, '.');
  assert.ok(all.ok && all.manifests.length === 5);
});

test('.outpostignore excludes names, anchored paths and directories', async () => {
  const dir = await write({
    'apps/.outpostignore': '# comment\n*.test.yaml\nskip/\nonly/here.yaml\n',
    'apps/a.yaml': cm('a'),
    'apps/a.test.yaml': cm('t'),
    'apps/skip/s.yaml': cm('s'),
    'apps/only/here.yaml': cm('h'),
    'apps/deep/only/here.yaml': cm('kept'),
  });
  const out = await render(dir, 'apps');
  assert.ok(out.ok, JSON.stringify(out));
  if (!out.ok) return;
  assert.deepEqual(
    out.manifests.map((m) => JSON.parse(m).metadata.name),
    ['a', 'kept'],
  );
  assert.deepEqual(ignoreRules('!keep.yaml\n'), { error: 'negated patterns (!) are not supported yet', line: 1 });
});

test('bad YAML names the file and line; a document without a kind names its line', async () => {
  const dir = await write({
    'apps/a.yaml': cm('a'),
    'apps/bad.yaml': `${cm('ok')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [unclosed\n`,
  });
  const out = await render(dir, 'apps');
  assert.equal(out.ok, false);
  if (out.ok) return;
  assert.equal(out.reason, 'InvalidManifest');
  assert.match(out.message, /^apps\/bad\.yaml:\d+: /);
  const line = Number(/bad\.yaml:(\d+)/.exec(out.message)?.[1]);
  assert.ok(line >= 9 && line <= 11, out.message);

  const dir2 = await write({ 'p/a.yaml': `${cm('a')}---\napiVersion: v1\nmetadata:\n  name: b\n` });
  const out2 = await render(dir2, 'p');
  assert.ok(!out2.ok);
  if (out2.ok) return;
  assert.equal(out2.message, 'p/a.yaml:6: kind is required');

  const dir3 = await write({ 'p/a.json': '{\n  "apiVersion": "v1",\n  "kind": \n}' });
  const out3 = await render(dir3, 'p');
  // JSON names its line when the parser says one (V8 does not always).
  assert.ok(!out3.ok && /^p\/a\.json(:\d+)?: /.test(out3.message), JSON.stringify(out3));
  const dup = await write({ 'p/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n' });
  const out4 = await render(dup, 'p');
  assert.ok(!out4.ok && out4.message.startsWith('p/a.yaml:3: '), JSON.stringify(out4));
});

test('a kustomization or Chart.yaml below a path of plain files is refused by name; a missing path too; the size limit holds', async () => {
  const dir = await write({
    'k/sub/kustomization.yaml': 'resources: [a.yaml]\n',
    'k/sub/a.yaml': cm('a'),
    'h/chart/Chart.yaml': 'name: x\n',
    'both/Chart.yaml': 'name: x\n',
    'both/kustomization.yaml': 'resources: []\n',
  });
  const k = await render(dir, 'k');
  assert.ok(!k.ok && k.reason === 'Unsupported');
  if (!k.ok)
    assert.match(
      k.message,
      /^k\/sub\/kustomization\.yaml: a kustomization below the path is not rendered .*name k\/sub in spec\.paths/,
    );
  const h = await render(dir, 'h');
  assert.ok(
    !h.ok && /^h\/chart\/Chart\.yaml: a chart below the path is not rendered/.test(h.message),
    JSON.stringify(h),
  );
  // Without tools configured, the path's own kustomization or chart is the tool's "missing".
  const own = await render(dir, 'k/sub');
  assert.ok(!own.ok && own.reason === 'KustomizeMissing', JSON.stringify(own));
  const chart = await render(dir, 'h/chart');
  assert.ok(!chart.ok && chart.reason === 'HelmMissing', JSON.stringify(chart));
  const both = await render(dir, 'both');
  assert.ok(!both.ok && both.reason === 'Unsupported' && /holds both/.test(both.message));
  const missing = await render(dir, 'nowhere');
  assert.ok(!missing.ok && missing.reason === 'NotFound');
  const big = await write({ 'b/a.yaml': cm('a', `data:\n  x: "${'y'.repeat(2000)}"\n`) });
  const tooBig = await renderPath(big, 'b', {
    maxBytes: 1000,
    deadline: performance.now() + 30_000,
    parse: (...a) => bodies.documents(...a),
  });
  assert.ok(!tooBig.ok && tooBig.reason === 'TooLarge');
});
