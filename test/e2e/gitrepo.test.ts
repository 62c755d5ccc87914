// GitRepos end to end: a real hub process, one real spoke (kube-apiserver) with a real agent,
// and a real Git server on loopback (git http-backend behind a small HTTP bridge, made by the
// test: no internet). Two ConfigMaps pushed under apps/ reach the spoke, their work carrying
// the commit; a changed file changes only its ConfigMap; a removed file deletes its ConfigMap;
// a commit with invalid YAML is reported with its file and line and changes nothing; a
// stopped Git server is reported unreachable and changes nothing. A second GitRepo renders a
// kustomize overlay and a Helm chart with the real binaries (the hub's --kustomize-path and
// --helm-path): what reaches the spoke is what `kustomize build` and `helm template` print for
// that commit, and a changed value changes only its object.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isDeepStrictEqual, promisify } from 'node:util';
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { parseYamlDocuments } from '../../packages/hub/src/parse/index.ts';
import { ensureHelm } from '../helm/index.ts';
import { type KubeCluster, startCluster } from '../kube/index.ts';
import { ensureKustomize } from '../kustomize/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { type GitServer, makeRepo, startGitServer } from './git-server.ts';
import { adminClient, assertError, type HubClient, hubCli, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface GitRepoView {
  metadata: { generation: number };
  status: {
    observedGeneration: number;
    commit?: string;
    conditions: { type: string; status: string; reason: string; message: string }[];
    paths: { path: string; workset: string; commit?: string; state?: string; error?: string }[];
  };
}
interface WorkView {
  metadata: { generation: number; annotations?: Record<string, string>; labels?: Record<string, string> };
  status: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}

const cm = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  value: "${value}"\n`;

describe('GitRepo (real hub, a real spoke and agent, a Git server on loopback)', { timeout: 300_000 }, () => {
  let kube: KubeCluster;
  let agent: AgentProcess | undefined;
  let hub: HubProcess;
  let admin: HubClient;
  let git: GitServer;
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  let dir: string;
  const commits: string[] = [];
  const path = '/api/v1/namespaces/default/gitrepos/fleet';
  let helm: string;
  let kustomize: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-gitrepo-e2e-'));
    const home = join(dir, 'home');
    await mkdir(home);
    await mkdir(join(dir, 'repos'));
    repo = await makeRepo(join(dir, 'repos'), 'fleet', home);
    git = await startGitServer(join(dir, 'repos'), home);
    kube = await startCluster({ name: 'git-spoke' });
    [helm, kustomize] = await Promise.all([ensureHelm(), ensureKustomize()]);
    hub = await startHub({ args: ['--poll-timeout', '5s', '--helm-path', helm, '--kustomize-path', kustomize] });
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, 'git-spoke', kube.kubeconfigPath);
    agent = startAgent([...spokeRunArgs(kube.kubeconfigPath, '10m'), '--lease-duration', '4s'], {
      env: { POD_NAME: 'git-spoke-agent' },
    });
    await agent.waitForOutput(/serving cluster git-spoke/, 60_000);
    const labelled = await admin.patch('/api/v1/clusters/git-spoke', { metadata: { labels: { git: 'yes' } } });
    assert.equal(labelled.status, 200, labelled.text);
    const placement = await admin.call('PUT', '/api/v1/namespaces/default/placements/gitted', {
      json: {
        metadata: { name: 'gitted' },
        spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { git: 'yes' } } } }] },
      },
    });
    assert.equal(placement.status, 201, placement.text);
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
    await git?.stop();
    await repo?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const core = () => kube.kubeConfig().makeApiClient(CoreV1Api);
  const readCm = async (name: string) => {
    try {
      return await core().readNamespacedConfigMap({ name, namespace: 'default' });
    } catch {
      return undefined;
    }
  };
  const gitRepo = async () => (await admin.get<GitRepoView>(path)).body;
  const work = async () => {
    const res = await admin.get<WorkView>('/api/v1/clusters/git-spoke/works/fleet-apps');
    return res.status === 200 ? res.body : undefined;
  };
  const condition = (g: GitRepoView, type: string) => g.status.conditions.find((c) => c.type === type);
  /** `outpost-hub ARGS` against the hub; its standard output (exit 0 asserted). */
  const cli = async (...args: string[]) => {
    const r = await hubCli(hub, ...args);
    assert.equal(r.code, 0, r.err);
    return r.out;
  };
  const workSetPaused = async () =>
    (await admin.get<{ spec: { paused?: boolean } }>('/api/v1/namespaces/default/manifestworkreplicasets/fleet-apps'))
      .body.spec.paused === true;

  test('(0) the API refuses what is not built by name, and takes a resourceVersion as a precondition', async () => {
    const body = (spec: Record<string, unknown>) => ({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'GitRepo',
      metadata: { name: 'refused' },
      spec: { repo: 'http://127.0.0.1:1/x.git', placementRef: { name: 'gitted' }, ...spec },
    });
    const ssh = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/refused', {
      json: body({ repo: 'ssh://git@example.invalid/x.git' }),
    });
    assertError(ssh, 400, 'GITREPO_INVALID');
    assert.match(ssh.text, /spec\.repo: ssh repositories need spec\.credentials/);
    // This hub has no --git-file-root: file:// would let an API user make it read any
    // repository on its host.
    const local = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/refused', {
      json: body({ repo: `file://${dir}/repos/fleet.git` }),
    });
    assertError(local, 400, 'GITREPO_INVALID');
    assert.match(local.text, /spec\.repo: file:\/\/ repositories are off on this hub/);
    const creds = await admin.post('/api/v1/namespaces/default/gitrepos', body({ credentials: { secret: 'x' } }));
    assertError(creds, 400, 'GITREPO_INVALID');
    assert.match(creds.text, /spec\.credentials\.secret: unknown field/);
    const sshCreds = await admin.post(
      '/api/v1/namespaces/default/gitrepos',
      body({ credentials: { sshPrivateKey: 'k', knownHosts: 'h' } }),
    );
    assertError(sshCreds, 400, 'GITREPO_INVALID');
    assert.match(sshCreds.text, /spec\.credentials\.sshPrivateKey: must be a private key/);
    const fleetSecret = await admin.post('/api/v1/namespaces/default/gitrepos', body({ clientSecretName: 'x' }));
    assertError(fleetSecret, 400, 'GITREPO_INVALID');
    assert.match(fleetSecret.text, /spec\.clientSecretName: UNSUPPORTED_FIELD/);
    const made = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/refused', {
      json: body({ pollingInterval: '0' }),
    });
    assert.equal(made.status, 201, made.text);
    const stale = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/refused', {
      json: { ...body({ pollingInterval: '0', paused: true }), metadata: { name: 'refused', resourceVersion: '999' } },
    });
    assert.equal(stale.status, 409, stale.text);
    const before = await admin.get<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/default/gitrepos');
    const patched = await admin.patch<{ spec: { paused?: boolean } }>('/api/v1/namespaces/default/gitrepos/refused', {
      spec: { paused: true },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.spec.paused, true);
    const listed = await admin.get<{ items: unknown[] }>('/api/v1/gitrepos?limit=10');
    assert.equal(listed.body.items.length, 1);
    // Watchable as the other objects (the change log's triggers).
    const watched = await admin.get(
      `/api/v1/namespaces/default/gitrepos?watch=true&resourceVersion=${before.body.metadata.resourceVersion}&timeoutSeconds=1`,
      { timeoutMs: 10_000 },
    );
    assert.equal(watched.status, 200, watched.text);
    assert.match(watched.text, /"type":"MODIFIED"/);
    assert.equal((await admin.delete('/api/v1/namespaces/default/gitrepos/refused')).status, 200);
  });

  test('(a) two ConfigMaps pushed under apps/ are rolled out; the work carries the commit and path', async () => {
    commits.push(
      await repo.commit('two configmaps', { 'apps/a.yaml': cm('git-a', 'one'), 'apps/b.yaml': cm('git-b', 'one') }),
    );
    const res = await admin.call('PUT', path, {
      json: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'GitRepo',
        metadata: { name: 'fleet' },
        spec: {
          repo: git.url('fleet'),
          branch: 'main',
          paths: ['apps'],
          pollingInterval: '5s',
          placementRef: { name: 'gitted' },
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    await waitFor(
      'both ConfigMaps on the spoke',
      async () => ((await readCm('git-a')) && (await readCm('git-b')) ? true : undefined),
      60_000,
    );
    const w = await waitFor(
      'the work with its annotations',
      async () => {
        const w = await work();
        return w?.metadata.annotations?.['outpost.dev/git-commit'] === commits[0] ? w : undefined;
      },
      30_000,
    );
    assert.equal(w.metadata.annotations?.['outpost.dev/git-path'], 'apps');
    const g = await waitFor(
      'status Fetched and Rendered',
      async () => {
        const g = await gitRepo();
        return condition(g, 'Rendered')?.status === 'True' && g.status.commit === commits[0] ? g : undefined;
      },
      30_000,
    );
    assert.equal(condition(g, 'Fetched')?.status, 'True');
    assert.equal(g.status.paths[0]?.workset, 'fleet-apps');
    assert.equal(g.status.paths[0]?.commit, commits[0]);
    const ws = await admin.get<{ metadata: { labels: Record<string, string> } }>(
      '/api/v1/namespaces/default/manifestworkreplicasets/fleet-apps',
    );
    assert.equal(ws.body.metadata.labels['outpost.dev/gitrepo'], 'fleet');
  });

  test('(b) a changed file changes only its ConfigMap', async () => {
    const aBefore = await readCm('git-a');
    assert.ok(aBefore);
    commits.push(await repo.commit('change b', { 'apps/b.yaml': cm('git-b', 'two') }));
    await waitFor(
      'git-b changed on the spoke',
      async () => ((await readCm('git-b'))?.data?.value === 'two' ? true : undefined),
      60_000,
    );
    const aAfter = await readCm('git-a');
    assert.equal(aAfter?.metadata?.resourceVersion, aBefore.metadata?.resourceVersion, 'git-a was not written again');
    await waitFor('the work names the new commit', async () =>
      (await work())?.metadata.annotations?.['outpost.dev/git-commit'] === commits[1] ? true : undefined,
    );
  });

  test('(c) a removed file deletes its ConfigMap', async () => {
    commits.push(await repo.commit('remove a', { 'apps/a.yaml': null }));
    await waitFor('git-a deleted on the spoke', async () => ((await readCm('git-a')) ? undefined : true), 60_000);
    assert.equal((await readCm('git-b'))?.data?.value, 'two');
  });

  test('(c2) the CLI pauses (the workset too), shows the status, and resumes', async () => {
    assert.match(await cli('gitrepo', 'pause', 'fleet'), /gitrepo fleet paused/);
    await waitFor('the workset paused', async () => ((await workSetPaused()) ? true : undefined), 30_000);
    const status = await cli('gitrepo', 'status', 'fleet');
    assert.match(status, /apps\s+fleet-apps\s+[0-9a-f]{12}/);
    assert.match(await cli('gitrepo', 'list'), /fleet\s+http:\/\/127\.0\.0\.1/);
    assert.match(await cli('gitrepo', 'resume', 'fleet'), /gitrepo fleet resumed/);
    await waitFor('the workset resumed', async () => ((await workSetPaused()) ? undefined : true), 30_000);
    const file = join(dir, 'gitrepo.yaml');
    await writeFile(
      file,
      `apiVersion: outpost.dev/v1alpha1\nkind: GitRepo\nmetadata:\n  name: fleet\nspec:\n  repo: ${git.url('fleet')}\n  branch: main\n  paths: [apps]\n  pollingInterval: 5s\n  placementRef: {name: gitted}\n`,
    );
    assert.match(await cli('gitrepo', 'apply', '-f', file), /unchanged/);
  });

  test('(c3) a kustomize overlay and a Helm chart: the spoke gets what the tools print; a changed value changes only its object', async () => {
    const rendered = await makeRepo(join(dir, 'repos'), 'rendered', join(dir, 'home'));
    try {
      const chartCm = (suffix: string, data: string) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-${suffix}\n  namespace: {{ .Release.Namespace }}\n  labels: {chart: {{ .Chart.Name }}}\ndata:\n${data}`;
      const c1 = await rendered.commit('an overlay and a chart', {
        'kz/base/kustomization.yaml': 'resources: [cms.yaml]\ncommonLabels: {tier: base}\n',
        'kz/base/cms.yaml': `${cm('kz-config', 'base')}---\n${cm('kz-other', 'base')}`,
        'kz/overlay/kustomization.yaml':
          'resources: [../base]\nnamePrefix: prod-\nnamespace: default\npatches:\n- path: patch.yaml\n',
        'kz/overlay/patch.yaml': cm('kz-config', 'overlay'),
        'chart/Chart.yaml': 'apiVersion: v2\nname: demo\nversion: 0.1.0\n',
        'chart/values.yaml': 'color: blue\nsize: small\n',
        'chart/templates/cms.yaml': `${chartCm('color', '  color: {{ .Values.color }}\n')}\n---\n${chartCm('size', '  size: {{ .Values.size }}\n  greeting: {{ .Values.greeting }}\n')}`,
      });
      const res = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/rendered', {
        json: {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'GitRepo',
          metadata: { name: 'rendered' },
          spec: {
            repo: git.url('rendered'),
            paths: ['kz/overlay', 'chart'],
            pollingInterval: '5s',
            placementRef: { name: 'gitted' },
            helm: { namespace: 'default', values: { greeting: 'hello' } },
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      /** What the tools print for the working copy (the last commit), run by the test itself. */
      const expected = async () => {
        const run = promisify(execFile);
        const values = join(dir, 'values.json');
        await writeFile(values, JSON.stringify({ greeting: 'hello' }));
        const k = await run(kustomize, ['build', 'kz/overlay'], { cwd: rendered.dir });
        const h = await run(
          helm,
          [
            'template',
            'rendered-chart',
            './chart',
            '--namespace',
            'default',
            '--include-crds',
            '--skip-tests',
            '--values',
            values,
          ],
          {
            cwd: rendered.dir,
            env: { ...process.env, HELM_CONFIG_HOME: join(dir, 'helm'), HELM_CACHE_HOME: join(dir, 'helm') },
          },
        );
        return [k.stdout, h.stdout].flatMap((text) => parseYamlDocuments(text, { maxBytes: 1 << 20 })) as V1ConfigMap[];
      };
      /** Every object the tools print is on the spoke as printed (its labels and data). */
      const status = async () => (await admin.get('/api/v1/namespaces/default/gitrepos/rendered')).text;
      const onSpoke = async (want: V1ConfigMap[]) =>
        waitFor(
          'the rendered objects on the spoke',
          async () => {
            const got = new Map<string, V1ConfigMap>();
            for (const o of want) {
              const name = o.metadata?.name as string;
              const c = await readCm(name);
              if (!c || !isDeepStrictEqual(c.data, o.data)) return undefined;
              got.set(name, c);
            }
            return got;
          },
          60_000,
        ).catch(async (err: Error) => {
          // The GitRepo's status says why, when it is the hub that did not render.
          throw new Error(`${err.message}; the GitRepo: ${await status()}`);
        });
      const first = await expected();
      assert.deepEqual(first.map((o) => `${o.kind}/${o.metadata?.name}`).sort(), [
        'ConfigMap/prod-kz-config',
        'ConfigMap/prod-kz-other',
        'ConfigMap/rendered-chart-color',
        'ConfigMap/rendered-chart-size',
      ]);
      assert.equal(first.find((o) => o.metadata?.name === 'prod-kz-config')?.data?.value, 'overlay');
      const before = await onSpoke(first);
      for (const o of first) {
        const c = before.get(o.metadata?.name as string);
        assert.deepEqual(c?.data, o.data);
        for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) assert.equal(c?.metadata?.labels?.[k], v);
        assert.equal(c?.metadata?.namespace, 'default');
      }
      const g = await waitFor('both paths rendered at the commit', async () => {
        const g = (await admin.get<GitRepoView>('/api/v1/namespaces/default/gitrepos/rendered')).body;
        return g.status?.paths.every((p) => p.commit === c1 && !p.error) ? g : undefined;
      });
      assert.deepEqual(
        g.status.paths.map((p) => p.workset),
        ['rendered-kz-overlay', 'rendered-chart'],
      );
      assert.match(
        await cli('gitrepo', 'get', 'rendered'),
        /helm:\s+release \(the workset name\); namespace default; values greeting\n/,
      );

      // A later commit changes one value: only that object is written again.
      await rendered.commit('color red', { 'chart/values.yaml': 'color: red\nsize: small\n' });
      const second = await expected();
      assert.equal(second.find((o) => o.metadata?.name === 'rendered-chart-color')?.data?.color, 'red');
      const after = await onSpoke(second);
      for (const [name, c] of before) {
        const same = after.get(name)?.metadata?.resourceVersion === c.metadata?.resourceVersion;
        assert.equal(same, name !== 'rendered-chart-color', `${name} ${same ? 'unchanged' : 'written again'}`);
      }
      assert.equal((await admin.delete('/api/v1/namespaces/default/gitrepos/rendered')).status, 200);
    } finally {
      await rendered.remove();
    }
  });

  test('(d) invalid YAML is reported with file and line; nothing changes on the spoke', async () => {
    const bBefore = await readCm('git-b');
    commits.push(
      await repo.commit('bad yaml', {
        'apps/b.yaml': cm('git-b', 'three'),
        'apps/c.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: git-c\n  labels: [unclosed\n',
      }),
    );
    const g = await waitFor(
      'Rendered False naming the file and line',
      async () => {
        const g = await gitRepo();
        return g.status.commit === commits[3] && condition(g, 'Rendered')?.status === 'False' ? g : undefined;
      },
      60_000,
    );
    const rendered = condition(g, 'Rendered');
    assert.equal(rendered?.reason, 'InvalidManifest');
    assert.match(rendered?.message ?? '', /apps\/c\.yaml:\d+: /);
    assert.match(g.status.paths[0]?.error ?? '', /apps\/c\.yaml:\d+/);
    // The rollout of before stands: its commit, the ConfigMap as it was.
    assert.equal(g.status.paths[0]?.commit, commits[2]);
    assert.equal((await work())?.metadata.annotations?.['outpost.dev/git-commit'], commits[2]);
    const bAfter = await readCm('git-b');
    assert.equal(bAfter?.data?.value, 'two');
    assert.equal(bAfter?.metadata?.resourceVersion, bBefore?.metadata?.resourceVersion);
    assert.equal(await readCm('git-c'), undefined);
  });

  test('(e) a stopped Git server is reported unreachable; nothing changes on the spoke', async () => {
    await git.stop();
    const g = await waitFor(
      'Fetched False: unreachable',
      async () => {
        const g = await gitRepo();
        return condition(g, 'Fetched')?.status === 'False' ? g : undefined;
      },
      30_000,
    );
    assert.equal(condition(g, 'Fetched')?.reason, 'Unreachable');
    assert.match(condition(g, 'Fetched')?.message ?? '', /nothing changes on the clusters/);
    assert.equal(g.status.commit, commits[3], 'the last fetched commit is still shown');
    assert.equal((await readCm('git-b'))?.data?.value, 'two');
    const w = await work();
    assert.ok(w && !('deletionTimestamp' in (w.metadata as object)), 'the work stays');
  });

  test('(f) deleting the GitRepo deletes its workset, and the workset its objects', async () => {
    const res = await admin.delete(path);
    assert.equal(res.status, 200, res.text);
    await waitFor(
      'the workset gone',
      async () =>
        (await admin.get('/api/v1/namespaces/default/manifestworkreplicasets/fleet-apps')).status === 404
          ? true
          : undefined,
      30_000,
    );
    await waitFor('git-b deleted on the spoke', async () => ((await readCm('git-b')) ? undefined : true), 60_000);
  });
});
