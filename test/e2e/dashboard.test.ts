// The dashboard in a real browser (Debian's chromium, headless) against a real
// `outpost-hub serve`: log in with an admin and a read-only token, see a cluster join and
// change live without a reload, see a cluster's claims and its works summary follow its
// works' status live (the counts the hub's API answers, which a write cannot set), pause and resume a workset (admin only: no button for a
// read-only session, and its forged request is 403), follow a workset from the overview's
// rollout-state cards to its page by decision group, see why each placement selects a cluster
// or not, approve a waiting cluster (admin only), and the defences: security headers, a
// cookie write without the CSRF header refused, a WebSocket from another origin refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { agentPaths } from '../../packages/shared/src/index.ts';
import { launchBrowser, newContext, shoot } from './browser.ts';
import {
  adminClient,
  agentClient,
  anonymousClient,
  createToken,
  type HubClient,
  joinCluster,
  newJoiner,
  register,
  reportApplied,
  waitFor,
} from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

describe('dashboard in a real browser', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let browser: Browser;
  const tokens: Record<'admin' | 'viewer', string> = { admin: '', viewer: '' };
  const contexts: BrowserContext[] = [];

  before(async () => {
    [hub, browser] = await Promise.all([startHub(), launchBrowser()]);
    admin = await adminClient(hub);
    for (const [name, scope] of [
      ['admin', 'admin'],
      ['viewer', 'read-only'],
    ] as const) {
      const res = await admin.post<{ status: { token: string } }>('/api/v1/apitokens', { name: `ui-${name}`, scope });
      assert.equal(res.status, 201, res.text);
      tokens[name] = res.body.status.token;
    }
  });
  after(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    await admin?.close();
    await hub?.stop();
  });

  /** A new browser profile, logged in with `who`'s token through the login page. */
  async function loggedIn(who: 'admin' | 'viewer'): Promise<Page> {
    const context = await newContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${hub.url}/ui/`);
    await page.fill('#token', tokens[who]);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#logout');
    assert.equal(await page.textContent('#actor'), `token:ui-${who}`);
    assert.equal(await page.textContent('#scope'), who === 'admin' ? 'admin' : 'read-only');
    return page;
  }

  /** Marks the page's JavaScript world: the mark survives anything but a reload. */
  const mark = (page: Page) => page.evaluate("window.outpostMark = 'no reload'");
  const marked = (page: Page) => page.evaluate('window.outpostMark');

  test('every /ui/ answer carries the CSP and frame headers', async () => {
    const anon = anonymousClient(hub);
    try {
      for (const path of ['/ui/', '/ui/main.js', '/ui/dashboard.css', '/ui/nope.js']) {
        const res = await anon.get(path);
        assert.equal(res.status, path.endsWith('nope.js') ? 404 : 200, path);
        assert.equal(
          res.headers['content-security-policy'],
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
          path,
        );
        assert.equal(res.headers['x-frame-options'], 'DENY', path);
        assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
        assert.equal(res.headers['referrer-policy'], 'no-referrer', path);
      }
      const redirect = await anon.get('/ui');
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.location, '/ui/');
    } finally {
      await anon.close();
    }
  });

  test('an admin sees a cluster join and its labels change live, without a reload', async (t) => {
    const page = await loggedIn('admin');
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${hub.url}/ui/#/clusters`);
    await page.waitForSelector('#clusters-body');
    await page.waitForSelector('#live.on');
    await mark(page);
    await joinCluster(hub, admin, 'ui-one', { labels: { site: 'a' } });
    const row = page.locator('tr[data-cluster="ui-one"]');
    await row.waitFor({ timeout: 5_000 });
    assert.match((await row.locator('.labels').textContent()) ?? '', /site=a/);
    const started = Date.now();
    const patched = await admin.patch('/api/v1/clusters/ui-one', { metadata: { labels: { site: 'b' } } });
    assert.equal(patched.status, 200, patched.text);
    // (No waitForFunction: the page's CSP forbids the eval it would need.)
    await row.locator('.labels', { hasText: 'site=b' }).waitFor({ timeout: 5_000 });
    // Reported, not asserted: a loaded machine must not fail the test (speed goals are the
    // benchmark's).
    t.diagnostic(`the row changed ${Date.now() - started} ms after the write`);
    assert.equal(await marked(page), 'no reload');
    // The filter is the hub's: a selector that excludes the cluster empties the table.
    await page.fill('#selector', 'site=a');
    await page.click('form.filter button');
    await page.waitForSelector('#clusters-body >> text=No clusters match.');
    assert.deepEqual(violations, [], 'no CSP violation on the page');
  });

  test('the clusters table shows a cluster’s claims and its works summary, which follows its works’ status live', async (t) => {
    const claims = {
      region: 'eu-west',
      'platform.open-cluster-management.io': 'k3s',
      'product.open-cluster-management.io': 'edge',
      'id.k8s.io': 'ui-works-1',
    };
    const joined = await joinCluster(hub, admin, 'ui-works', { labels: { site: 'w' }, extra: { claims } });
    // Gone after the test, passed or not, so that the placements of the tests below do not
    // select it.
    t.after(async () => {
      const removed = await admin.delete('/api/v1/clusters/ui-works?force=true');
      assert.equal(removed.status, 200, removed.text);
    });
    const uids: Record<string, string> = {};
    for (const name of ['app', 'db']) {
      const res = await admin.post<{ metadata: { uid: string } }>('/api/v1/clusters/ui-works/works', {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name },
        spec: { workload: { manifests: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }] } },
      });
      assert.equal(res.status, 201, res.text);
      uids[name] = res.body.metadata.uid;
    }
    const seqs: Record<string, number> = {};
    /** Reports, as ui-works's agent, the work with these conditions True. */
    const report = async (work: string, types: string[]) => {
      const agent = agentClient(hub, joined);
      try {
        seqs[work] = (seqs[work] ?? 1) + 1;
        const res = await agent.post(agentPaths.status('ui-works'), {
          reports: [
            {
              seq: seqs[work],
              work,
              uid: uids[work],
              generation: 1,
              observedAt: new Date().toISOString(),
              status: {
                conditions: types.map((type) => ({ type, status: 'True', reason: type, message: '' })),
                resourceStatus: { manifests: [] },
                observedGeneration: 1,
              },
            },
          ],
        });
        assert.equal(res.status, 200, res.text);
      } finally {
        await agent.close();
      }
    };

    // The API counts them (the same counts in the list and the get), and a write cannot
    // set the counts: a PATCH that sets status is refused, the counts as the rest.
    const none = { total: 2, applied: 0, available: 0, degraded: 0, deletionsHeld: 0 };
    type Cluster = { status: { works?: unknown; agentVersion?: string } };
    const one = await admin.get<Cluster>('/api/v1/clusters/ui-works');
    assert.deepEqual(one.body.status.works, none);
    const listed = await admin.get<{ items: Cluster[] }>('/api/v1/clusters?labelSelector=site%3Dw');
    assert.deepEqual(
      listed.body.items.map((c) => c.status.works),
      [none],
    );
    // status is the hub's: a patch that sets any of it is refused by name, and nothing changes.
    const forged = await admin.patch<{ code: string; message: string }>('/api/v1/clusters/ui-works', {
      metadata: { labels: { site: 'forged' } },
      status: { works: { total: 99, applied: 99, available: 99, degraded: 0, deletionsHeld: 0 }, agentVersion: 'x' },
    });
    assert.equal(forged.status, 400, forged.text);
    assert.equal(forged.body.code, 'VALIDATION_FAILED');
    assert.match(forged.body.message, /^status /);
    const after = await admin.get<Cluster & { metadata: { labels: Record<string, string> } }>(
      '/api/v1/clusters/ui-works',
    );
    assert.deepEqual(after.body.status.works, none);
    assert.notEqual(after.body.status.agentVersion, 'x');
    assert.equal(after.body.metadata.labels.site, 'w', 'the refused patch changed nothing');

    const page = await loggedIn('viewer');
    await page.goto(`${hub.url}/ui/#/clusters`);
    const row = page.locator('tr[data-cluster="ui-works"]');
    await row.waitFor({ timeout: 5_000 });
    // Both watches (clusters and works) open.
    await page.waitForSelector('#live.on');
    const all = Object.entries(claims).map(([k, v]) => `${k}=${v}`);
    const shown = await row.locator('.claims .label').allTextContents();
    assert.equal(shown.length, 3, shown.join(' '));
    for (const c of shown) assert.ok(all.includes(c), c);
    assert.equal(await row.locator('.claims .more').textContent(), '+1 more');
    assert.deepEqual(((await row.locator('.claims').getAttribute('title')) ?? '').split('\n').sort(), all.sort());

    const summary = row.locator('.works a.works-summary');
    assert.equal(await summary.textContent(), '2 works · 0 applied · 0 available');
    assert.match((await summary.getAttribute('class')) ?? '', /\bwarn\b/);
    assert.equal(await summary.getAttribute('href'), '#/clusters/ui-works');
    await mark(page);

    const started = Date.now();
    await reportApplied(hub, joined, 'ui-works', { name: 'app', uid: uids.app as string }, [
      { group: '', version: 'v1', kind: 'Namespace', resource: 'namespaces', namespace: '', name: 'app' },
    ]);
    await row
      .locator('a.works-summary.warn', { hasText: '2 works · 1 applied · 0 available' })
      .waitFor({ timeout: 5_000 });
    t.diagnostic(`the summary changed ${Date.now() - started} ms after the report`);
    await report('app', ['Applied', 'Available']);
    await report('db', ['Applied', 'Available']);
    await row.locator('a.works-summary.good', { hasText: '2 works · all available' }).waitFor({ timeout: 5_000 });
    await report('db', ['Applied', 'Available', 'Degraded']);
    const degraded = row.locator('a.works-summary.bad', { hasText: '2 works · 2 applied · 2 available · 1 degraded' });
    await degraded.waitFor({ timeout: 5_000 });
    assert.equal(
      await degraded.getAttribute('title'),
      '2 works: 2 applied, 2 available, 1 degraded, 0 holding deletions',
    );
    assert.deepEqual((await admin.get<Cluster>('/api/v1/clusters/ui-works')).body.status.works, {
      total: 2,
      applied: 2,
      available: 2,
      degraded: 1,
      deletionsHeld: 0,
    });
    assert.equal(await marked(page), 'no reload');
    await shoot(page, 'clusters');

    // The summary leads to the cluster's page and its works.
    await degraded.click();
    await page.locator('section.work[data-work="db"]').waitFor({ timeout: 5_000 });
    assert.match(page.url(), /#\/clusters\/ui-works$/);
  });

  test('a dropped watch resumes from the last event it saw: a change made while it was down still shows', async () => {
    const page = await loggedIn('viewer');
    const urls: string[] = [];
    const sockets: { send(m: string): void; close(): Promise<void> }[] = [];
    // The page's sockets pass through the test, which can drop them as a network would.
    await page.routeWebSocket(/\/api\/v1\/clusters/, (ws) => {
      urls.push(ws.url());
      ws.connectToServer();
      sockets.push(ws);
    });
    await page.goto(`${hub.url}/ui/#/clusters`);
    const row = page.locator('tr[data-cluster="ui-one"]');
    await row.waitFor();
    await page.waitForSelector('#live.on');
    await mark(page);
    const bump = async (site: string) => {
      const res = await admin.patch('/api/v1/clusters/ui-one', { metadata: { labels: { site } } });
      assert.equal(res.status, 200, res.text);
    };
    await bump('c');
    await row.locator('.labels', { hasText: 'site=c' }).waitFor({ timeout: 5_000 });
    const first = new URL(urls[0] as string).searchParams.get('resourceVersion');
    await sockets[0]?.close();
    await page.waitForSelector('#live:not(.on)');
    await bump('d');
    await row.locator('.labels', { hasText: 'site=d' }).waitFor({ timeout: 10_000 });
    assert.equal(urls.length, 2, urls.join(' '));
    const resumed = Number(new URL(urls[1] as string).searchParams.get('resourceVersion'));
    assert.ok(resumed > Number(first), `resumed from ${resumed}, after the list's ${first}: the last event seen`);

    // History gone (as the hub says when its change log was trimmed past the page's
    // resourceVersion, here said by the test): the page lists again and watches from there.
    const route = sockets[1] as { send(m: string): void; close(): Promise<void> };
    route.send(JSON.stringify({ type: 'ERROR', object: { code: 'WATCH_EXPIRED', message: 'trimmed', status: 410 } }));
    await route.close();
    await bump('e');
    // The log's end after the change: a list made after it starts there; a mere resume would
    // start from the last event seen, before it.
    const end = Number(
      (await admin.get<{ metadata: { resourceVersion: string } }>('/api/v1/clusters?limit=1')).body.metadata
        .resourceVersion,
    );
    await row.locator('.labels', { hasText: 'site=e' }).waitFor({ timeout: 10_000 });
    await waitFor('the third socket', async () => (urls.length === 3 ? true : undefined));
    const relisted = Number(new URL(urls[2] as string).searchParams.get('resourceVersion'));
    assert.ok(relisted >= end, `watching again from the new list's ${relisted} (the change was ${end})`);
    assert.equal(await marked(page), 'no reload');
  });

  test('the overview names the non-compliant cluster with its reason and follows its works live; the cluster page drills down', async () => {
    const page = await loggedIn('viewer');
    await page.goto(`${hub.url}/ui/#/`);
    const row = page.locator('#noncompliant tr[data-cluster="ui-one"]');
    await row.waitFor({ timeout: 5_000 });
    assert.equal(await row.locator('.reason').textContent(), 'agent never reported');
    await page.waitForSelector('#live.on');
    await mark(page);
    const work = await admin.post('/api/v1/clusters/ui-one/works', {
      apiVersion: 'work.open-cluster-management.io/v1',
      kind: 'ManifestWork',
      metadata: { name: 'web' },
      spec: { workload: { manifests: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } }] } },
    });
    assert.equal(work.status, 201, work.text);
    await row.locator('.reason', { hasText: '1 work not applied: web' }).waitFor({ timeout: 5_000 });
    assert.equal(await marked(page), 'no reload');
    await shoot(page, 'overview');
    await row.locator('a').click();
    await page.locator('#cluster-state', { hasText: 'NeverReported' }).waitFor();
    await page.locator('section.work[data-work="web"]').waitFor();
    assert.match((await page.textContent('#cluster table.conditions')) ?? '', /HubAccepted\s*True/);
  });

  test('an admin pauses and resumes a workset; a read-only session has no button and its forged request is 403', async () => {
    const placed = await admin.post('/api/v1/namespaces/default/placements', {
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'ui', namespace: 'default' },
      spec: {},
    });
    assert.equal(placed.status, 201, placed.text);
    const created = await admin.post('/api/v1/namespaces/default/manifestworkreplicasets', {
      apiVersion: 'work.open-cluster-management.io/v1alpha1',
      kind: 'ManifestWorkReplicaSet',
      metadata: { name: 'ui-set', namespace: 'default' },
      spec: {
        manifestWorkTemplate: {
          workload: {
            manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ui', namespace: 'default' } }],
          },
        },
        placementRefs: [{ name: 'ui' }],
      },
    });
    assert.equal(created.status, 201, created.text);
    const paused = async () =>
      (await admin.get<{ spec: { paused?: boolean } }>('/api/v1/namespaces/default/manifestworkreplicasets/ui-set'))
        .body.spec.paused === true;

    const page = await loggedIn('admin');
    await page.goto(`${hub.url}/ui/#/worksets`);
    const row = page.locator('tr[data-workset="default/ui-set"]');
    await shoot(page, 'worksets');
    await row.locator('button.pause').click();
    await row.locator('button.resume').waitFor({ timeout: 5_000 });
    // The state is the hub's status.rollout.state: it follows the controller's next status.
    await row.locator('.state', { hasText: 'Paused' }).waitFor({ timeout: 5_000 });
    assert.equal(await paused(), true);
    await row.locator('button.resume').click();
    await row.locator('button.pause').waitFor({ timeout: 5_000 });
    assert.equal(await paused(), false);

    const viewer = await loggedIn('viewer');
    await viewer.goto(`${hub.url}/ui/#/worksets`);
    const seen = viewer.locator('tr[data-workset="default/ui-set"]');
    await seen.waitFor();
    assert.equal(await seen.locator('button').count(), 0, 'no pause or resume button for a read-only session');
    const forged = await viewer.evaluate(async () => {
      const s = (await (await fetch('/api/v1/sessions/current')).json()) as { csrfToken: string };
      const res = await fetch('/api/v1/namespaces/default/manifestworkreplicasets/ui-set/pause', {
        method: 'POST',
        headers: { 'x-outpost-csrf': s.csrfToken },
      });
      return { status: res.status, code: ((await res.json()) as { code: string }).code };
    });
    assert.deepEqual(forged, { status: 403, code: 'AUTH_FORBIDDEN' });
    assert.equal(await paused(), false);
  });

  test('the overview counts worksets by rollout state and links to them; a workset’s page shows its rollout by decision group, live', async () => {
    // ui-one's agent never reports, so it carries the unreachable taint: tolerated, the
    // placement "ui" selects it, the work is handed out and the rollout stays Rolling.
    const tolerant = await admin.patch('/api/v1/namespaces/default/placements/ui', {
      spec: { tolerations: [{ key: 'cluster.open-cluster-management.io/unreachable', operator: 'Exists' }] },
    });
    assert.equal(tolerant.status, 200, tolerant.text);
    const rolling = await waitFor('the workset to roll out to ui-one', async () => {
      const w = await admin.get<{ status?: { rollout?: { state?: string; clusters: { name: string }[] } } }>(
        '/api/v1/namespaces/default/manifestworkreplicasets/ui-set',
      );
      const r = w.body.status?.rollout;
      return r?.clusters.some((c) => c.name === 'ui-one') ? r.state : undefined;
    });
    assert.equal(rolling, 'Rolling');
    const page = await loggedIn('admin');
    await page.goto(`${hub.url}/ui/#/`);
    const card = page.locator(`#worksets-states a[data-rollout="${rolling}"]`);
    await card.waitFor({ timeout: 5_000 });
    assert.match((await card.textContent()) ?? '', new RegExp(`^1${rolling}$`));
    await card.click();
    await page.locator('#worksets-filter', { hasText: rolling }).waitFor();
    const row = page.locator('tr[data-workset="default/ui-set"]');
    await row.waitFor();
    await row.locator('a').click();

    await page.locator('#workset-state', { hasText: rolling }).waitFor({ timeout: 5_000 });
    const placement = page.locator('section.placement-rollout[data-placement="ui"]');
    await placement.waitFor();
    const cluster = placement.locator('.group[data-group="0"] tr[data-cluster="ui-one"]');
    await cluster.waitFor();
    // ui-one's agent never reports: handed out, never succeeded, and shown offline.
    assert.notEqual(await cluster.getAttribute('data-state'), 'Succeeded');
    assert.match((await cluster.locator('td').nth(1).textContent()) ?? '', /\(offline\)$/);
    assert.match((await placement.locator('.group[data-group="0"] .group-counts').textContent()) ?? '', /1 offline/);
    assert.ok((await cluster.locator('.reason').textContent())?.length, 'each cluster with the planner’s reason');
    await shoot(page, 'workset');

    await mark(page);
    await page.locator('#workset button.pause').click();
    await page.locator('#workset-state', { hasText: 'Paused' }).waitFor({ timeout: 5_000 });
    await page.locator('#workset button.resume').click();
    await page.locator('#workset-state', { hasText: rolling }).waitFor({ timeout: 5_000 });
    assert.equal(await marked(page), 'no reload');
  });

  test('a cluster’s page says why each placement selects it or not', async () => {
    const prod = await admin.post('/api/v1/namespaces/default/placements', {
      apiVersion: 'cluster.open-cluster-management.io/v1beta1',
      kind: 'Placement',
      metadata: { name: 'prod-only', namespace: 'default' },
      spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { env: 'prod' } } } }] },
    });
    assert.equal(prod.status, 201, prod.text);
    const explained = await admin.get<{
      items: { namespace: string; name: string; selected: boolean; reason: string }[];
    }>('/api/v1/clusters/ui-one/placements');
    assert.equal(explained.status, 200, explained.text);
    const page = await loggedIn('viewer');
    await page.goto(`${hub.url}/ui/#/clusters/ui-one`);
    const row = page.locator('#placements tr[data-placement="default/prod-only"]');
    await row.waitFor({ timeout: 5_000 });
    assert.equal(await row.getAttribute('data-reason'), 'NoPredicateMatched');
    assert.equal(
      await row.locator('.reason').textContent(),
      'NoPredicateMatched: the predicate needs label env = prod',
    );
    // The page shows what the API says, for every placement.
    for (const p of explained.body.items) {
      const r = page.locator(`#placements tr[data-placement="${p.namespace}/${p.name}"]`);
      assert.equal(await r.getAttribute('data-reason'), p.reason, `${p.namespace}/${p.name}`);
    }
    const missing = await admin.get<{ code: string }>('/api/v1/clusters/nowhere/placements');
    assert.deepEqual([missing.status, missing.body.code], [404, 'CLUSTER_NOT_FOUND']);
    const stray = await admin.get<{ code: string; message: string }>('/api/v1/clusters/ui-one/placements?limit=5');
    assert.deepEqual([stray.status, stray.body.code], [400, 'VALIDATION_FAILED']);
    assert.match(stray.body.message, /limit/);
    const ui = explained.body.items.find((p) => p.name === 'ui');
    const decided = await admin.get<{ status: { decisions: { clusterNames: string[] }[] } }>(
      '/api/v1/namespaces/default/placements/ui',
    );
    assert.equal(
      ui?.selected,
      decided.body.status.decisions.some((g) => g.clusterNames.includes('ui-one')),
      'the explanation agrees with the decisions',
    );
  });

  test('an admin approves a waiting cluster from its page; a read-only session has no button', async () => {
    const { token } = await createToken(admin, { ttl: '10m' });
    const joiner = await newJoiner('ui-waiting');
    const anon = anonymousClient(hub);
    try {
      const res = await register(anon, token, joiner, {});
      assert.equal(res.status, 201, res.text);
    } finally {
      await anon.close();
    }
    const viewer = await loggedIn('viewer');
    await viewer.goto(`${hub.url}/ui/#/clusters/ui-waiting`);
    await viewer.locator('#cluster-state', { hasText: 'Pending' }).waitFor({ timeout: 5_000 });
    assert.equal(await viewer.locator('#cluster button.approve').count(), 0, 'no Approve for a read-only session');

    const page = await loggedIn('admin');
    await page.goto(`${hub.url}/ui/#/clusters/ui-waiting`);
    await page.locator('#cluster-state', { hasText: 'Pending' }).waitFor({ timeout: 5_000 });
    await page.locator('#cluster button.approve').click();
    // Approved, its certificate issued at once: joined, waiting for its agent's first poll.
    await page.locator('#cluster-state', { hasText: 'NeverReported' }).waitFor({ timeout: 5_000 });
    const c = await admin.get<{ spec: { hubAcceptsClient: boolean } }>('/api/v1/clusters/ui-waiting');
    assert.equal(c.body.spec.hubAcceptsClient, true);
    assert.equal(await page.textContent('#cluster-error'), '');
  });

  test('the audit page filters on the hub: a read-only session finds the refused call and the approval', async () => {
    const page = await loggedIn('viewer');
    await page.goto(`${hub.url}/ui/#/audit?result=403`);
    const refused = page.locator('#audit-body tr', {
      hasText: '/api/v1/namespaces/default/manifestworkreplicasets/ui-set/pause',
    });
    await refused.first().waitFor({ timeout: 5_000 });
    for (const r of await page.locator('#audit-body td.result').allTextContents()) assert.match(r, /^403/);
    assert.equal(await refused.first().locator('.actor').textContent(), 'token:ui-viewer');

    // The form puts the filter in the URL, and the hub answers it.
    await page.fill('#audit-filter input[name=result]', '');
    await page.fill('#audit-filter input[name=actor]', 'token:ui-admin');
    await page.fill('#audit-filter input[name=resource]', '/api/v1/clusters/ui-waiting');
    await page.click('#audit-filter button[type=submit]');
    const approved = page.locator('#audit-body tr', { hasText: '/api/v1/clusters/ui-waiting/approve' });
    await approved.waitFor({ timeout: 5_000 });
    assert.match(page.url(), /#\/audit\?actor=token%3Aui-admin&resource=%2Fapi%2Fv1%2Fclusters%2Fui-waiting$/);
    for (const a of await page.locator('#audit-body td.actor').allTextContents()) assert.equal(a, 'token:ui-admin');
    assert.equal(await approved.locator('.result').textContent(), '200');
    await shoot(page, 'audit');
  });

  test('a write with the cookie but without the CSRF header is refused; so is a WebSocket from another origin', async () => {
    const page = await loggedIn('admin');
    const refused = await page.evaluate(async () => {
      const res = await fetch('/api/v1/namespaces/default/manifestworkreplicasets/ui-set/pause', { method: 'POST' });
      return { status: res.status, code: ((await res.json()) as { code: string }).code };
    });
    assert.deepEqual(refused, { status: 403, code: 'AUTH_CSRF_MISMATCH' });

    // A page of another site (served here by the browser's request interception) that
    // opens a WebSocket to the hub gets no socket.
    const other = await page.context().newPage();
    await other.route('https://elsewhere.test/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>elsewhere</title>' }),
    );
    await other.goto('https://elsewhere.test/');
    const opened = await other.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url);
          ws.onopen = () => resolve('open');
          ws.onclose = () => resolve('refused');
        }),
      `${hub.url.replace(/^https/, 'wss')}/api/v1/clusters?watch=true`,
    );
    assert.equal(opened, 'refused');
    const same = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url);
          ws.onopen = () => {
            ws.close();
            resolve('open');
          };
          ws.onclose = () => resolve('refused');
        }),
      `${hub.url.replace(/^https/, 'wss')}/api/v1/clusters?watch=true`,
    );
    assert.equal(same, 'open', 'the hub’s own page opens it');
  });

  test('logging out ends the session: the page shows the login again', async () => {
    const page = await loggedIn('viewer');
    await page.click('#logout');
    await page.waitForSelector('#token');
    const status = await page.evaluate(async () => (await fetch('/api/v1/clusters')).status);
    assert.equal(status, 401);
  });
});
