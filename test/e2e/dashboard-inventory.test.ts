// The dashboard's inventory page in a real browser (Debian's chromium, headless) against a
// real `outpost-hub serve`: a read-only session searches by kind and by namespace and sees
// the clusters that have the objects, each linked to its cluster page, with what the agent
// reported; the search is in the URL (a shared link shows the same), and "More" pages.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, newContext, shoot } from './browser.ts';
import { adminClient, type HubClient, joinCluster, reportApplied } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const work = (name: string, manifests: unknown[]) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name },
  spec: { workload: { manifests } },
});
const deployment = (ns: string, name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
});
const configMap = (ns: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
});

describe('dashboard inventory in a real browser', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let browser: Browser;
  let token = '';
  const contexts: BrowserContext[] = [];

  before(async () => {
    [hub, browser] = await Promise.all([startHub(), launchBrowser()]);
    admin = await adminClient(hub);
    const res = await admin.post<{ status: { token: string } }>('/api/v1/apitokens', {
      name: 'ui-viewer',
      scope: 'read-only',
    });
    assert.equal(res.status, 201, res.text);
    token = res.body.status.token;
    // inv-a and inv-b run the web Deployment; inv-c runs tools and 60 ConfigMaps in "paged".
    const joined = await joinCluster(hub, admin, 'inv-a');
    for (const c of ['inv-b', 'inv-c']) await joinCluster(hub, admin, c);
    for (const c of ['inv-a', 'inv-b']) {
      const w = await admin.post(`/api/v1/clusters/${c}/works`, work('web', [deployment('shop', 'web')]));
      assert.equal(w.status, 201, w.text);
    }
    const many = Array.from({ length: 60 }, (_, i) => configMap('paged', `cm-${String(i).padStart(2, '0')}`));
    const tools = await admin.post(
      '/api/v1/clusters/inv-c/works',
      work('tools', [deployment('tools', 'toolbox'), ...many]),
    );
    assert.equal(tools.status, 201, tools.text);
    // inv-a's agent reports its Deployment applied and available.
    const web = await admin.get<{ metadata: { uid: string } }>('/api/v1/clusters/inv-a/works/web');
    await reportApplied(hub, joined, 'inv-a', { name: 'web', uid: web.body.metadata.uid }, [
      { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespace: 'shop', name: 'web' },
    ]);
  });
  after(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
    await admin?.close();
    await hub?.stop();
  });

  /** A new browser profile, logged in with the read-only token through the login page;
   *  CSP violations it reports are collected in `violations`. */
  async function loggedIn(violations: string[] = []): Promise<Page> {
    const context = await newContext(browser);
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${hub.url}/ui/`);
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#logout');
    return page;
  }

  const clustersShown = async (page: Page) =>
    (await page
      .locator('#inventory-body tr[data-cluster]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-cluster')))) as string[];

  test('searching by kind, then by namespace, shows the clusters that have the objects', async () => {
    const violations: string[] = [];
    const page = await loggedIn(violations);
    await page.click('#nav a[href="#/inventory"]');
    await page.waitForSelector('#inventory-form');
    await page.fill('#inventory-kind', 'Deployment');
    await page.fill('#inventory-name', 'web');
    await page.click('#inventory-form button[type=submit]');
    await page.locator('#inventory-body tr[data-cluster="inv-b"]').waitFor();
    assert.deepEqual((await clustersShown(page)).sort(), ['inv-a', 'inv-b']);
    assert.match(new URL(page.url()).hash, /^#\/inventory\?kind=Deployment&name=web$/);
    const reported = page.locator('#inventory-body tr[data-cluster="inv-a"] td.reported');
    assert.equal(await reported.textContent(), 'Applied=TrueAvailable=True');
    assert.equal(
      await page.locator('#inventory-body tr[data-cluster="inv-b"] td.reported').textContent(),
      'not reported yet',
    );
    await shoot(page, 'inventory');

    await page.fill('#inventory-kind', '');
    await page.fill('#inventory-name', '');
    await page.fill('#inventory-namespace', 'tools');
    await page.click('#inventory-form button[type=submit]');
    await page.locator('#inventory-body tr[data-cluster="inv-c"]').waitFor();
    assert.deepEqual(await clustersShown(page), ['inv-c']);
    // Each cluster links to its page.
    await page.click('#inventory-body tr[data-cluster="inv-c"] a');
    await page.locator('#cluster-state').waitFor();
    assert.equal(new URL(page.url()).hash, '#/clusters/inv-c');
    assert.deepEqual(violations, [], 'no CSP violation on the page');
  });

  test('a shared link shows the same search; "More" brings the next page until there is none', async () => {
    const page = await loggedIn();
    await page.goto(`${hub.url}/ui/#/inventory?namespace=paged`);
    await page.locator('#inventory-count', { hasText: '50 shown, more to come' }).waitFor();
    assert.equal(await page.inputValue('#inventory-namespace'), 'paged');
    assert.equal(await page.locator('#inventory-body tr[data-cluster]').count(), 50);
    await page.click('#inventory-more');
    await page.locator('#inventory-count', { hasText: '60 shown' }).waitFor();
    assert.equal(await page.locator('#inventory-body tr[data-cluster]').count(), 60);
    assert.equal(await page.locator('#inventory-more').isHidden(), true);
    const names = await page
      .locator('#inventory-body tr[data-cluster]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-object')));
    assert.equal(new Set(names).size, 60, 'every object once');
    await page.goto(`${hub.url}/ui/#/inventory?namespace=nowhere`);
    await page.locator('#inventory-body', { hasText: 'Nothing found.' }).waitFor();
  });
});
