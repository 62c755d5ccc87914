// A GitRepo's deletion breaker and overrides end to end: a real hub process, one real spoke
// (kube-apiserver) with a real agent, a real Git server on loopback and the dashboard in a
// real browser. Eight ConfigMaps pushed under bulk/ reach the spoke, one of them patched by
// the GitRepo's override for the spoke's region and another templated with the cluster's
// name; a commit that removes seven is held: nothing is deleted on the spoke, the status, the
// CLI and the dashboard say which commit and how many objects; a confirmation naming another
// commit is refused; the admin confirms the held one from the dashboard; the agent's own
// breaker (seven of the eight objects on that cluster) holds them again until the cluster's
// confirm-deletions, and then the seven go.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Browser, BrowserContext } from 'playwright-core';
import { type KubeCluster, startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { launchBrowser, newContext, shoot } from './browser.ts';
import { type GitServer, makeRepo, startGitServer } from './git-server.ts';
import { adminClient, assertError, type HubClient, hubCli, readAdminToken, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface GitRepoView {
  metadata: { annotations?: Record<string, string> };
  status: {
    commit?: string;
    conditions: { type: string; status: string; reason: string; message: string }[];
    paths: {
      path: string;
      commit?: string;
      error?: string;
      held?: { commit: string; deleting: number; of: number; objects: string[]; digest: string };
    }[];
  };
}

const cm = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  value: "${value}"\n`;

describe('GitRepo deletion breaker and overrides (real hub, spoke, agent, Git server, browser)', {
  timeout: 300_000,
}, () => {
  let kube: KubeCluster;
  let agent: AgentProcess | undefined;
  let hub: HubProcess;
  let admin: HubClient;
  let git: GitServer;
  let repo: Awaited<ReturnType<typeof makeRepo>>;
  let browser: Browser;
  let context: BrowserContext;
  let dir: string;
  const path = '/api/v1/namespaces/default/gitrepos/bulk';
  let first = '';
  let held = '';
  let digest = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-gitrepo-breaker-'));
    const home = join(dir, 'home');
    await mkdir(home);
    await mkdir(join(dir, 'repos'));
    repo = await makeRepo(join(dir, 'repos'), 'bulk', home);
    git = await startGitServer(join(dir, 'repos'), home);
    [kube, hub, browser] = await Promise.all([
      startCluster({ name: 'breaker-spoke' }),
      startHub({ args: ['--poll-timeout', '5s'] }),
      launchBrowser(),
    ]);
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, 'breaker-spoke', kube.kubeconfigPath);
    agent = startAgent(spokeRunArgs(kube.kubeconfigPath, '10m'));
    await agent.waitForOutput(/serving cluster breaker-spoke/, 60_000);
    const labelled = await admin.patch('/api/v1/clusters/breaker-spoke', { metadata: { labels: { region: 'eu' } } });
    assert.equal(labelled.status, 200, labelled.text);
    const placement = await admin.call('PUT', '/api/v1/namespaces/default/placements/eu', {
      json: {
        metadata: { name: 'eu' },
        spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { region: 'eu' } } } }] },
      },
    });
    assert.equal(placement.status, 201, placement.text);
    context = await newContext(browser);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
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
  const present = async () => {
    const out: string[] = [];
    for (let i = 0; i < 8; i++) if (await readCm(`bulk-${i}`)) out.push(`bulk-${i}`);
    return out;
  };
  const gitRepo = async () => (await admin.get<GitRepoView>(path)).body;
  /** `outpost-hub ARGS` against the hub: its exit code, standard output and error. */
  const cli = (...args: string[]) => hubCli(hub, ...args);

  test('(a) eight ConfigMaps roll out, one patched by the override for the region, one templated with the cluster name', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 8; i++) files[`bulk/cm-${i}.yaml`] = cm(`bulk-${i}`, 'plain');
    files['bulk/cm-7.yaml'] = cm('bulk-7', '{{ .clusterName }}');
    first = await repo.commit('eight configmaps', files);
    const res = await admin.call('PUT', path, {
      json: {
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'GitRepo',
        metadata: { name: 'bulk' },
        spec: {
          repo: git.url('bulk'),
          branch: 'main',
          paths: ['bulk'],
          pollingInterval: '5s',
          placementRef: { name: 'eu' },
          templating: true,
          overrides: [
            {
              name: 'eu',
              clusterSelector: { labelSelector: { matchLabels: { region: 'eu' } } },
              patches: [{ manifest: { kind: 'ConfigMap', name: 'bulk-0' }, patch: { data: { value: 'eu' } } }],
            },
          ],
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    await waitFor(
      'eight ConfigMaps on the spoke',
      async () => ((await present()).length === 8 ? true : undefined),
      60_000,
    );
    assert.equal((await readCm('bulk-0'))?.data?.value, 'eu', 'the override for region eu');
    assert.equal((await readCm('bulk-1'))?.data?.value, 'plain');
    assert.equal((await readCm('bulk-7'))?.data?.value, 'breaker-spoke', 'templated per cluster');
  });

  test('(b) a commit removing seven of eight is held: nothing deleted; status and CLI name the commit and count', async () => {
    const gone: Record<string, null> = {};
    for (let i = 1; i < 8; i++) gone[`bulk/cm-${i}.yaml`] = null;
    held = await repo.commit('remove seven', gone);
    const g = await waitFor(
      'the commit held',
      async () => {
        const g = await gitRepo();
        return g.status.paths[0]?.held?.commit === held ? g : undefined;
      },
      60_000,
    );
    assert.equal(g.status.commit, held, 'fetched');
    assert.equal(g.status.paths[0]?.commit, first, 'the path keeps the previous commit');
    assert.deepEqual(
      { deleting: g.status.paths[0]?.held?.deleting, of: g.status.paths[0]?.held?.of },
      { deleting: 7, of: 8 },
    );
    assert.ok(g.status.paths[0]?.held?.objects.includes('ConfigMap default/bulk-7'));
    digest = g.status.paths[0]?.held?.digest ?? '';
    assert.match(digest, /^[0-9a-f]{32}$/);
    const ready = g.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, 'DeletionsHeld');
    // The workset is the GitRepo's: a hand edit, pause or delete (which would go around the
    // breaker, or be undone by the GitRepo) is refused, and no other workset may take its label.
    const ws = '/api/v1/namespaces/default/manifestworkreplicasets/bulk-bulk';
    const emptied = await admin.patch(ws, { spec: { manifestWorkTemplate: { workload: { manifests: [] } } } });
    assertError(emptied, 409, 'WORKSET_OWNED_BY_GITREPO');
    assert.match(emptied.text, /is made by gitrepo default\/bulk/);
    assertError(await admin.post(`${ws}/pause`, {}), 409, 'WORKSET_OWNED_BY_GITREPO');
    assertError(await admin.delete(ws), 409, 'WORKSET_OWNED_BY_GITREPO');
    const squatter = await admin.post('/api/v1/namespaces/default/manifestworkreplicasets', {
      metadata: { name: 'squatter', labels: { 'outpost.dev/gitrepo': 'bulk' } },
      spec: {
        manifestWorkTemplate: { workload: { manifests: [] } },
        placementRefs: [{ name: 'eu' }],
      },
    });
    assertError(squatter, 400, 'WORKSET_INVALID');
    // Two more polls: still held, still all there.
    await new Promise((r) => setTimeout(r, 12_000));
    assert.equal((await present()).length, 8);
    const status = await cli('gitrepo', 'status', 'bulk');
    assert.equal(status.code, 0, status.err);
    assert.match(
      status.out,
      new RegExp(`bulk\\s+bulk-bulk\\s+${first.slice(0, 12)}\\s+\\S+\\s+${held.slice(0, 12)}: 7 of 8`),
    );
    assert.match(status.out, new RegExp(`gitrepo confirm-deletions bulk -n default --commit ${held.slice(0, 12)}`));
  });

  test('(c) confirming another commit is refused; the dashboard shows the held commit and an admin confirms it there', async () => {
    const wrong = await admin.post(`${path}/confirm-deletions`, { commit: first });
    assertError(wrong, 409, 'GITREPO_HELD_COMMIT_CHANGED');
    const viaCli = await cli('gitrepo', 'confirm-deletions', 'bulk', '--commit', 'ffffffffffff');
    assert.equal(viaCli.code, 1, viaCli.out);
    assert.match(viaCli.err, /GITREPO_HELD_COMMIT_CHANGED/);
    assert.equal((await present()).length, 8);

    const page = await context.newPage();
    await page.goto(`${hub.url}/ui/#/gitrepos`);
    await page.fill('#token', await readAdminToken(hub.dataDir));
    await page.click('#login button[type=submit]');
    const row = page.locator('tr[data-gitrepo="default/bulk"]');
    await row.locator('[data-held="bulk"]').waitFor({ timeout: 20_000 });
    assert.match(
      (await row.locator('[data-held="bulk"]').textContent()) ?? '',
      new RegExp(`commit ${held.slice(0, 12)} would delete 7 of 8 objects: .*ConfigMap default/bulk-1`),
    );
    await shoot(page, 'gitrepos-held');
    await row.locator('button.confirm-deletions').click();
    const g = await waitFor('rolled out, nothing held', async () => {
      const g = await gitRepo();
      return g.status.paths[0]?.commit === held && !g.status.paths[0]?.held ? g : undefined;
    });
    assert.deepEqual(JSON.parse(g.metadata.annotations?.['outpost.dev/deletions-confirmed'] ?? '{}'), {
      commit: held,
      paths: { bulk: digest },
    });
    await row.locator('[data-held]').waitFor({ state: 'detached', timeout: 20_000 });
    // The agent's own breaker is a second, independent one: seven of the eight objects it
    // applied on this cluster is over its share too, so it holds them until the cluster's
    // confirm-deletions (a cluster with more objects would not hold them).
    await waitFor(
      "the agent's breaker holds the deletions",
      async () => {
        const w = await admin.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          '/api/v1/clusters/breaker-spoke/works/bulk-bulk',
        );
        return w.body.status?.conditions?.some((c) => c.type === 'DeletionsHeld' && c.status === 'True')
          ? true
          : undefined;
      },
      60_000,
    );
    assert.equal((await present()).length, 8);
    const confirmed = await cli('cluster', 'confirm-deletions', 'breaker-spoke');
    assert.equal(confirmed.code, 0, confirmed.err);
    await waitFor(
      'the seven deleted on the spoke',
      async () => ((await present()).length === 1 ? true : undefined),
      60_000,
    );
    assert.deepEqual(await present(), ['bulk-0']);
    assert.equal((await readCm('bulk-0'))?.data?.value, 'eu');
    const nothing = await admin.post(`${path}/confirm-deletions`, {});
    assertError(nothing, 409, 'GITREPO_NOTHING_HELD');
    await page.close();
  });
});
