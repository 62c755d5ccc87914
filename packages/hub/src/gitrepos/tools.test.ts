// The kustomization pre-check, and kustomize and Helm paths rendered by the real binaries
// (test/kustomize and test/helm build them when scripts/test has not exported their bin dirs).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ensureHelm } from '../../../../test/helm/index.ts';
import { ensureKustomize } from '../../../../test/kustomize/index.ts';
import { type RenderOptions, renderPath } from './render.ts';
import { checkouts } from './repos.testing.ts';
import { findTool, kustomizeBuild, remoteReference, runTool, type ToolsConfig } from './tools.ts';

const repos = checkouts('gitrepo-tools-');
const { bodies, write } = repos;
let root: string;
before(async () => {
  root = await repos.root();
});
const cm = (name: string, extra = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;

let tools: ToolsConfig;
before(async () => {
  const [helm, kustomize] = await Promise.all([ensureHelm(), ensureKustomize()]);
  tools = { helm, kustomize, searchPath: '', workDir: join(root, '.tools') };
});
const render = (dir: string, path: string, extra: Partial<RenderOptions> = {}) =>
  renderPath(dir, path, {
    maxBytes: 1024 * 1024,
    deadline: performance.now() + 60_000,
    parse: (...a) => bodies.documents(...a),
    tools,
    ...extra,
  });
const refusal = async (dir: string, path: string) => {
  const out = await render(dir, path);
  assert.equal(out.ok, false, JSON.stringify(out));
  return out.ok ? '' : `${out.reason}: ${out.message}`;
};

describe('the kustomization pre-check refuses by name', () => {
  test('remote resources: URLs and git references', async () => {
    for (const ref of [
      'https://raw.githubusercontent.com/org/repo/main/deploy.yaml',
      'github.com/org/repo//deploy?ref=v1',
      'git@github.com:org/repo.git',
      'ssh://git@example.com/repo.git',
      'git::https://example.com/repo.git',
    ]) {
      const dir = await write({ 'app/kustomization.yaml': `resources:\n- ${JSON.stringify(ref)}\n` });
      assert.match(
        await refusal(dir, 'app'),
        /^Unsupported: app: app\/kustomization\.yaml: .* is a (URL|git repository): remote resources are not fetched/,
      );
    }
    // Deeper: a base the overlay loads names a remote component.
    const dir = await write({
      'app/overlay/kustomization.yaml': 'resources: [../base]\n',
      'app/base/kustomization.yaml': 'components: ["https://example.com/c"]\n',
    });
    assert.match(
      await refusal(dir, 'app/overlay'),
      /app\/base\/kustomization\.yaml: "https:\/\/example\.com\/c" is a URL/,
    );
    // A name that is no file of the repository is refused (kustomize would try it as a remote).
    const missing = await write({ 'app/kustomization.yaml': 'resources: [example.com/org/repo]\n' });
    assert.match(await refusal(missing, 'app'), /is not in the repository \(remote resources are not fetched\)/);
    // A plain name missing from the commit (a typo) is NotFound, not a remote resource.
    const typo = await write({ 'app/kustomization.yaml': 'resources: [missing.yaml]\n' });
    const said = await refusal(typo, 'app');
    assert.match(said, /^NotFound: .*app\/kustomization\.yaml: "missing\.yaml" is not in the repository/);
    assert.doesNotMatch(said, /remote/);
    assert.equal(remoteReference('../base'), undefined);
    assert.equal(remoteReference('deploy.yaml'), undefined);
  });

  test('paths that leave the repository: ".." past the root, absolute paths', async () => {
    const up = await write({ 'app/kustomization.yaml': 'resources: [../../outside]\n' });
    assert.match(
      await refusal(up, 'app'),
      /^Unsupported: app: app\/kustomization\.yaml: "\.\.\/\.\.\/outside" leaves the repository/,
    );
    const abs = await write({ 'app/kustomization.yaml': 'resources: [/etc/passwd]\n' });
    assert.match(await refusal(abs, 'app'), /"\/etc\/passwd" is an absolute path/);
    // Files of generators and patches too, not only resources.
    const gen = await write({
      'app/kustomization.yaml': 'configMapGenerator:\n- name: x\n  files: [key=../../../etc/passwd]\n',
    });
    assert.match(await refusal(gen, 'app'), /"\.\.\/\.\.\/\.\.\/etc\/passwd" leaves the repository/);
    const patch = await write({
      'app/kustomization.yaml': 'patches:\n- path: /etc/hosts\n  target: {kind: ConfigMap}\n',
    });
    assert.match(await refusal(patch, 'app'), /"\/etc\/hosts" is an absolute path/);
    // ".." that stays inside the repository is a base, as kustomize overlays name theirs.
    const inside = await write({
      'app/overlay/kustomization.yaml': 'resources: [../base]\n',
      'app/base/kustomization.yaml': 'resources: [cm.yaml]\n',
      'app/base/cm.yaml': cm('a'),
    });
    const ok = await render(inside, 'app/overlay');
    assert.ok(ok.ok, JSON.stringify(ok));
  });

  test('symbolic links anywhere under what is rendered; helmCharts and unknown fields', async () => {
    const dir = await write({
      'app/overlay/kustomization.yaml': 'resources: [../base]\n',
      'app/base/kustomization.yaml': 'resources: [cm.yaml]\n',
    });
    await symlink('/etc/passwd', join(dir, 'app/base/cm.yaml'));
    assert.match(
      await refusal(dir, 'app/overlay'),
      /app\/base\/cm\.yaml is a symbolic link: symbolic links are not followed/,
    );
    const linkedDir = await write({ 'real/kustomization.yaml': 'resources: []\n' });
    await symlink(join(linkedDir, 'real'), join(linkedDir, 'link'));
    assert.match(await refusal(linkedDir, 'link'), /^Unsupported: link: symbolic links are not followed/);
    const viaLink = await write({ 'app/kustomization.yaml': 'resources: [../shared]\n' });
    await symlink(tmpdir(), join(viaLink, 'shared'));
    assert.match(await refusal(viaLink, 'app'), /shared is a symbolic link/);
    const helm = await write({
      'app/kustomization.yaml': 'helmCharts:\n- name: nginx\n  repo: https://charts.example.com\n',
    });
    assert.match(await refusal(helm, 'app'), /helmCharts is not supported: kustomize runs without --enable-helm/);
    const inflate = await write({
      'app/kustomization.yaml':
        'generators:\n- apiVersion: builtin\n  kind: HelmChartInflationGenerator\n  metadata: {name: x}\n',
    });
    assert.match(await refusal(inflate, 'app'), /HelmChartInflationGenerator is not supported/);
    // A built-in transformer's configuration is read through kustomize's loader, which
    // fetches URLs (also on loopback, where no proxy setting stops it): refused, in a file
    // or inline.
    const transformer = await write({
      'app/kustomization.yaml': 'resources: []\ntransformers: [patch.yaml]\n',
      'app/patch.yaml':
        'apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: http://127.0.0.1:8443/metrics\ntarget: {kind: ConfigMap}\n',
    });
    assert.match(
      await refusal(transformer, 'app'),
      /app\/patch\.yaml: "http:\/\/127\.0\.0\.1:8443\/metrics" is remote: generators, transformers and validators may not name remote files/,
    );
    const inline = await write({
      'app/kustomization.yaml':
        'resources: []\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: https://example.com/p.yaml\n',
    });
    assert.match(await refusal(inline, 'app'), /transformers: "https:\/\/example\.com\/p\.yaml" is remote/);
    // A directory of plugin configurations (a kustomization whose resources are generator
    // configurations naming a loopback URL): refused as a directory, never fetched.
    const pluginDir = await write({
      'app/kustomization.yaml': 'resources: []\ngenerators: [gen]\n',
      'app/gen/kustomization.yaml': 'resources: [cfg.yaml]\n',
      'app/gen/cfg.yaml':
        'apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: leak}\nfiles: [http://127.0.0.1:9469/status]\n',
    });
    assert.match(
      await refusal(pluginDir, 'app'),
      /app\/kustomization\.yaml: generators: gen is a directory: name the configuration files themselves/,
    );
    const unknown = await write({ 'app/kustomization.yaml': 'someNewField: [x]\n' });
    assert.match(await refusal(unknown, 'app'), /the field someNewField is not supported/);
  });
});

test('a kustomize overlay: the output of kustomize build, parsed, with origins naming the path', async () => {
  const dir = await write({
    'apps/base/kustomization.yaml': 'resources: [cm.yaml, deploy.yaml]\ncommonLabels: {app: web}\n',
    'apps/base/cm.yaml': cm('web-config', 'data:\n  mode: base\n'),
    'apps/base/deploy.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n',
    'apps/overlay/kustomization.yaml':
      'resources: [../base]\nnamePrefix: prod-\npatches:\n- path: replicas.yaml\nconfigMapGenerator:\n- name: extra\n  literals: [a=b]\n',
    'apps/overlay/replicas.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n',
  });
  const out = await render(dir, 'apps/overlay');
  assert.ok(out.ok, JSON.stringify(out));
  if (!out.ok) return;
  const objects = out.manifests.map(
    (m) => JSON.parse(m) as { kind: string; metadata: { name: string }; spec?: { replicas?: number } },
  );
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    ['ConfigMap/prod-extra-4h2mbtbbt6', 'ConfigMap/prod-web-config', 'Deployment/prod-web'].sort(),
  );
  assert.equal(objects.find((o) => o.kind === 'Deployment')?.spec?.replicas, 3);
  assert.match(out.origins[0] as string, /^apps\/overlay \(kustomize\):1$/);
  // The tool's own error, its last lines, when the build fails; nothing rendered.
  const bad = await write({ 'app/kustomization.yaml': 'resources: [cm.yaml]\n', 'app/cm.yaml': 'kind: [\n' });
  const failed = await render(bad, 'app');
  assert.ok(
    !failed.ok && failed.reason === 'RenderFailed' && /^app: kustomize build failed: /.test(failed.message),
    JSON.stringify(failed),
  );
  // Over the work limit: TooLarge, the process killed.
  const big = await write({
    'app/kustomization.yaml': 'resources: [cm.yaml]\n',
    'app/cm.yaml': cm('big', `data:\n  x: "${'y'.repeat(5000)}"\n`),
  });
  const tooBig = await render(big, 'app', { maxBytes: 2000 });
  assert.ok(!tooBig.ok && tooBig.reason === 'TooLarge', JSON.stringify(tooBig));
  // No run leaves its home behind.
  assert.deepEqual(await readdir(tools.workDir), []);
});

test('a chart: helm template with its values.yaml, spec.helm values and valuesFiles; dependencies must be vendored', async () => {
  const dir = await write({
    'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    'charts/web/values.yaml': 'color: blue\nsize: small\nreplicas: 1\n',
    'charts/web/values-prod.yaml': 'size: large\n',
    'charts/web/templates/cm.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n  namespace: {{ .Release.Namespace }}\ndata:\n  color: {{ .Values.color }}\n  size: {{ .Values.size }}\n',
    'charts/web/templates/tests/test.yaml':
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations: {"helm.sh/hook": test}\nspec: {containers: [{name: t, image: busybox}]}\n',
    'charts/web/crds/crd.yaml':
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n',
  });
  const out = await render(dir, 'charts/web', {
    helm: { releaseName: 'demo', namespace: 'apps', values: { color: 'red' }, valuesFiles: ['values-prod.yaml'] },
  });
  assert.ok(out.ok, JSON.stringify(out));
  if (!out.ok) return;
  const objects = out.manifests.map(
    (m) =>
      JSON.parse(m) as { kind: string; metadata: { name: string; namespace?: string }; data?: Record<string, string> },
  );
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`),
    ['CustomResourceDefinition/widgets.example.com', 'ConfigMap/demo-config'],
  );
  const config = objects[1];
  assert.deepEqual(config?.data, { color: 'red', size: 'large' });
  assert.equal(config?.metadata.namespace, 'apps');
  assert.match(out.origins[1] as string, /^charts\/web \(helm\):\d+$/);

  // A dependency not vendored in charts/: helm's own message.
  const dep = await write({
    'c/Chart.yaml':
      'apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n',
    'c/templates/cm.yaml': cm('x'),
  });
  const failed = await render(dep, 'c', { helm: { releaseName: 'c' } });
  assert.ok(!failed.ok && failed.reason === 'RenderFailed', JSON.stringify(failed));
  if (!failed.ok) assert.match(failed.message, /^c: helm template failed: .*missing in charts\/ directory: redis/);
  // A values file through a symbolic link is refused.
  await symlink('/etc/hosts', join(dir, 'charts/web/linked.yaml'));
  const linked = await render(dir, 'charts/web', { helm: { releaseName: 'demo' } });
  assert.ok(!linked.ok && /charts\/web\/linked\.yaml is a symbolic link/.test(linked.message), JSON.stringify(linked));
});

test('a missing tool is HelmMissing / KustomizeMissing, looked up on the search path', async () => {
  const dir = await write({
    'k/kustomization.yaml': 'resources: []\n',
    'h/Chart.yaml': 'apiVersion: v2\nname: h\nversion: 0.1.0\n',
  });
  const none = { ...tools, helm: 'helm', kustomize: 'kustomize', searchPath: join(root, 'empty-bin') };
  const k = await render(dir, 'k', { tools: none });
  assert.ok(!k.ok && k.reason === 'KustomizeMissing' && /--kustomize-path/.test(k.message), JSON.stringify(k));
  const h = await render(dir, 'h', { tools: none });
  assert.ok(!h.ok && h.reason === 'HelmMissing' && /--helm-path/.test(h.message), JSON.stringify(h));
  assert.equal(await findTool('helm', dirname(tools.helm)), tools.helm);
  assert.equal(await findTool(join(root, 'nope'), ''), undefined);
});

describe('the sandbox of a tool run', () => {
  const home = () => mkdtemp(join(root, 'home-'));
  test('kustomize run past the pre-check cannot fetch a remote base: no git on its PATH, HTTP through a closed proxy', async () => {
    const dir = await write({
      'app/kustomization.yaml':
        'resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v3.3.1\n- https://example.com/deploy.yaml\n',
    });
    const started = performance.now();
    const out = await kustomizeBuild(tools, dir, 'app', { deadline: performance.now() + 30_000, maxBytes: 1 << 20 });
    assert.ok(!out.ok && out.reason === 'RenderFailed', JSON.stringify(out));
    if (!out.ok) assert.match(out.message, /127\.0\.0\.1:9: connect: connection refused|no 'git' program on path/);
    assert.ok(performance.now() - started < 10_000, 'it failed at once, reaching nothing');
  });

  test('its environment is its own: an empty PATH (no git), proxies at a closed port, no variable of the hub', async () => {
    const h = await home();
    const out = await runTool('env', '/usr/bin/env', [], {
      cwd: root,
      home: h,
      deadline: performance.now() + 10_000,
      maxBytes: 1 << 20,
    });
    assert.ok(out.ok, JSON.stringify(out));
    if (!out.ok) return;
    const env = new Map(
      out.stdout
        .toString()
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(env.get('PATH'), h);
    assert.equal(env.get('HOME'), h);
    assert.equal(env.get('TMPDIR'), h);
    assert.equal(env.get('HTTPS_PROXY'), 'http://127.0.0.1:9');
    assert.equal(env.get('NO_PROXY'), '');
    assert.ok(env.get('HELM_PLUGINS')?.startsWith(h));
    for (const k of env.keys())
      assert.ok(
        !(k in process.env) || ['PATH', 'HOME', 'TMPDIR', 'LC_ALL'].includes(k) || /PROXY|HELM|XDG|KUBECONFIG/i.test(k),
        k,
      );
  });

  test('past its deadline, or when the hub stops, its whole process group is killed', async () => {
    // A child that starts a grandchild holding the pipes: both must go.
    const started = performance.now();
    const slow = await runTool('sleeper', '/bin/sh', ['-c', '/bin/sleep 30 & /bin/sleep 30'], {
      cwd: root,
      home: await home(),
      deadline: performance.now() + 300,
      maxBytes: 1 << 20,
    });
    assert.ok(!slow.ok && slow.reason === 'Timeout', JSON.stringify(slow));
    assert.ok(performance.now() - started < 5_000, 'the grandchild did not hold the run open');
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 200);
    const stopped = await runTool('sleeper', '/bin/sh', ['-c', '/bin/sleep 30 & /bin/sleep 30'], {
      cwd: root,
      home: await home(),
      deadline: performance.now() + 60_000,
      maxBytes: 1 << 20,
      signal: stop.signal,
    });
    assert.ok(!stopped.ok && stopped.reason === 'Stopped', JSON.stringify(stopped));
    // Output past the limit kills it at once; a failure carries the last lines of stderr.
    const loud = await runTool('yes', '/usr/bin/yes', [], {
      cwd: root,
      home: await home(),
      deadline: performance.now() + 60_000,
      maxBytes: 1 << 16,
    });
    assert.ok(!loud.ok && loud.reason === 'TooLarge', JSON.stringify(loud));
    const failed = await runTool(
      'sh',
      '/bin/sh',
      ['-c', 'echo one >&2; echo two >&2; echo three >&2; echo four >&2; exit 3'],
      {
        cwd: root,
        home: await home(),
        deadline: performance.now() + 60_000,
        maxBytes: 1 << 16,
      },
    );
    assert.deepEqual(failed, { ok: false, reason: 'RenderFailed', message: 'sh failed: two; three; four' });
  });
});
