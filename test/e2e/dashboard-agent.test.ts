// The dashboard with a real agent and a real kube-apiserver: a page already open sees the
// cluster go non-compliant live when its agent reports a manifest the API server refused, and
// the cluster page shows the API server's message as it was reported; a workset's page,
// paused, is resumed from the browser and follows its rollout to Complete without a reload;
// an agent that stops makes its cluster's watch event (its lease lapsed: no row was written)
// and the clusters page shows it Unreachable without a reload.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { launchBrowser, newContext, shoot } from './browser.ts';
import { adminClient, type HubClient, readAdminToken, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface WorkView {
  status: {
    conditions?: { type: string; status: string }[];
    resourceStatus?: { manifests?: { conditions?: { status: string; message: string }[] }[] };
  };
}

describe('dashboard with a real agent and kube-apiserver', { timeout: 300_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let agent: AgentProcess;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    [kube, hub, browser] = await Promise.all([
      startCluster({ name: 'spoke-ui' }),
      startHub({ args: ['--poll-timeout', '5s'] }),
      launchBrowser(),
    ]);
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, 'spoke-ui', kube.kubeconfigPath);
    agent = startAgent(spokeRunArgs(kube.kubeconfigPath, '2s'));
    await agent.waitForOutput(/serving cluster spoke-ui/);
    context = await newContext(browser);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await agent?.stop();
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  test('a manifest the API server refuses turns the cluster non-compliant live, with the message verbatim', async () => {
    const page = await context.newPage();
    await page.goto(`${hub.url}/ui/`);
    await page.fill('#token', await readAdminToken(hub.dataDir));
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#logout');
    await page.waitForSelector('#all-compliant', { timeout: 20_000 });
    await page.waitForSelector('#live.on');

    // A key a ConfigMap may not have: the API server refuses the object and says why.
    const res = await admin.call('PUT', '/api/v1/clusters/spoke-ui/works/broken', {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'broken', namespace: 'spoke-ui' },
        spec: {
          workload: {
            manifests: [
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { name: 'bad', namespace: 'default' },
                data: { 'not a key!': 'x' },
              },
            ],
          },
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    const reported = await waitFor(
      'the agent to report the refused manifest',
      async () => {
        const w = (await admin.get<WorkView>('/api/v1/clusters/spoke-ui/works/broken')).body;
        const m = w.status.resourceStatus?.manifests?.[0]?.conditions?.find((c) => c.status !== 'True');
        return m?.message ? m.message : undefined;
      },
      30_000,
    );
    assert.match(reported, /not a key!/);
    const row = page.locator('#noncompliant tr[data-cluster="spoke-ui"]');
    await row.waitFor({ timeout: 5_000 });
    assert.match((await row.locator('.reason').textContent()) ?? '', /1 work not applied: broken/);

    await row.locator('a').click();
    const manifest = page.locator('section.work[data-work="broken"] tr[data-manifest="ConfigMap default/bad"]');
    await manifest.waitFor({ timeout: 5_000 });
    await shoot(page, 'cluster');
    const shown = (await manifest.locator('td.message').textContent()) ?? '';
    assert.ok(shown.split('\n').includes(reported), `the message as the agent reported it: ${shown}`);
  });

  test('a paused workset is resumed from its page, which follows the rollout live to Complete', async () => {
    const placed = await admin.post('/api/v1/namespaces/default/placements', {
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'live', namespace: 'default' },
      spec: {},
    });
    assert.equal(placed.status, 201, placed.text);
    const created = await admin.post('/api/v1/namespaces/default/manifestworkreplicasets', {
      apiVersion: 'work.open-cluster-management.io/v1alpha1',
      kind: 'ManifestWorkReplicaSet',
      metadata: { name: 'live-set', namespace: 'default' },
      spec: {
        paused: true,
        manifestWorkTemplate: {
          workload: {
            manifests: [
              {
                apiVersion: 'v1',
                kind: 'ConfigMap',
                metadata: { name: 'live', namespace: 'default' },
                data: { cluster: '{{ .clusterName }}' },
              },
            ],
          },
        },
        placementRefs: [{ name: 'live', rolloutStrategy: { type: 'Progressive', progressive: { maxConcurrency: 1 } } }],
        templating: true,
      },
    });
    assert.equal(created.status, 201, created.text);

    const page = await context.newPage();
    await page.goto(`${hub.url}/ui/#/worksets/default/live-set`);
    await page.locator('#workset-state', { hasText: 'Paused' }).waitFor({ timeout: 10_000 });
    const row = page.locator('section.placement-rollout[data-placement="live"] tr[data-cluster="spoke-ui"]');
    await row.waitFor({ timeout: 10_000 });
    assert.notEqual(await row.getAttribute('data-state'), 'Succeeded', 'paused: nothing handed out');
    assert.equal((await admin.get('/api/v1/clusters/spoke-ui/works/live-set')).status, 404);
    await page.waitForSelector('#live.on');
    await page.evaluate("window.outpostMark = 'no reload'");

    await page.locator('#workset button.resume').click();
    await page.locator('#workset-state', { hasText: 'Complete' }).waitFor({ timeout: 30_000 });
    assert.equal(await row.getAttribute('data-state'), 'Succeeded');
    assert.equal(await page.evaluate('window.outpostMark'), 'no reload');
    await shoot(page, 'workset-complete');
  });

  test('an agent that stops: a watch of clusters hears its cluster go Unknown, and the clusters page shows it live', async () => {
    const page = await context.newPage();
    await page.goto(`${hub.url}/ui/#/clusters`);
    const row = page.locator('tr[data-cluster="spoke-ui"]');
    await row.locator('.state', { hasText: 'Available' }).waitFor({ timeout: 10_000 });
    await page.waitForSelector('#live.on');
    await page.evaluate("window.outpostMark = 'no reload'");
    const from = (await admin.get<{ metadata: { resourceVersion: string } }>('/api/v1/clusters?limit=1')).body.metadata
      .resourceVersion;
    const url = `${hub.url.replace(/^https/, 'wss')}/api/v1/clusters?watch=true&resourceVersion=${from}&fieldSelector=metadata.name%3Dspoke-ui`;
    // In the page: its session's cookie opens the socket (same origin).
    const heard = page.evaluate(
      (u) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(u);
          const timer = setTimeout(() => resolve('no event within 90 s'), 90_000);
          ws.onmessage = (m) => {
            const e = JSON.parse(m.data) as {
              type: string;
              object: { status?: { conditions?: { type: string; status: string; reason: string }[] } };
            };
            const a = e.object.status?.conditions?.find((c) => c.type === 'Available');
            if (e.type === 'MODIFIED' && a && a.status !== 'True') {
              clearTimeout(timer);
              ws.close();
              resolve(`${e.type} ${a.status} ${a.reason}`);
            }
          };
        }),
      url,
    );
    const res = await agent.stop();
    assert.notEqual(res.code, null, 'the agent exited on SIGTERM');
    assert.match(await heard, /^MODIFIED Unknown /);
    await row.locator('.state', { hasText: 'Unreachable' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.evaluate('window.outpostMark'), 'no reload');
  });
});
