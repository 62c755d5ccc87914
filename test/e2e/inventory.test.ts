// GET /api/v1/inventory on a real `outpost-hub serve`: which clusters have Deployment X, what
// is in namespace Y, searched on the hub and paged, each object with what its agent last
// reported for it; a read-only token may search; unknown or malformed parameters are
// refused by name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { adminClient, assertError, HubClient, joinCluster, reportApplied } from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

interface Item {
  cluster: string;
  work: string;
  group: string;
  version?: string;
  kind: string;
  namespace?: string;
  name: string;
  workDeletionTimestamp?: string;
  conditions?: { type: string; status: string }[];
}
interface InventoryList {
  apiVersion: string;
  kind: string;
  metadata: { continue?: string };
  items: Item[];
}

const deployment = (ns: string, name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: { replicas: 1 },
});
const configMap = (ns: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
});
const work = (name: string, manifests: unknown[]) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name },
  spec: { workload: { manifests } },
});
const id = (i: Item) => `${i.cluster}/${i.work}/${i.kind}/${i.namespace ?? ''}/${i.name}`;

describe('fleet inventory', () => {
  let hub: HubProcess;
  let admin: HubClient;
  let viewer: HubClient;

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    const token = await admin.post<{ status: { token: string } }>('/api/v1/apitokens', {
      name: 'inventory-viewer',
      scope: 'read-only',
    });
    assert.equal(token.status, 201, token.text);
    viewer = new HubClient(hub.url, { ca: hub.caCertPem, token: token.body.status.token });
    // edge-1 and edge-2 run the shop; edge-3 only tools. edge-1's agent reports its work.
    const joined = await joinCluster(hub, admin, 'edge-1');
    await joinCluster(hub, admin, 'edge-2');
    await joinCluster(hub, admin, 'edge-3');
    for (const c of ['edge-1', 'edge-2']) {
      const res = await admin.post(
        `/api/v1/clusters/${c}/works`,
        work('shop', [deployment('shop', 'web'), configMap('shop', 'web-config')]),
      );
      assert.equal(res.status, 201, res.text);
    }
    const tools = await admin.post('/api/v1/clusters/edge-3/works', work('tools', [deployment('tools', 'web')]));
    assert.equal(tools.status, 201, tools.text);

    const shop = await admin.get<{ metadata: { uid: string } }>('/api/v1/clusters/edge-1/works/shop');
    await reportApplied(hub, joined, 'edge-1', { name: 'shop', uid: shop.body.metadata.uid }, [
      { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespace: 'shop', name: 'web' },
    ]);
  });
  after(async () => {
    await viewer?.close();
    await admin?.close();
    await hub?.stop();
  });

  test('which clusters have Deployment web: by kind and name, with what the agent reported', async () => {
    const res = await viewer.get<InventoryList>('/api/v1/inventory?kind=Deployment&name=web');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.kind, 'InventoryList');
    assert.equal(res.body.metadata.continue, undefined);
    assert.deepEqual(res.body.items.map(id).sort(), [
      'edge-1/shop/Deployment/shop/web',
      'edge-2/shop/Deployment/shop/web',
      'edge-3/tools/Deployment/tools/web',
    ]);
    const reported = res.body.items.find((i) => i.cluster === 'edge-1');
    assert.equal(reported?.group, 'apps');
    assert.equal(reported?.version, 'v1');
    assert.deepEqual(
      reported?.conditions?.map((c) => `${c.type}=${c.status}`),
      ['Applied=True', 'Available=True'],
    );
    const silent = res.body.items.find((i) => i.cluster === 'edge-2');
    assert.equal(silent?.conditions, undefined, 'nothing reported: no conditions');
    assert.equal(silent?.version, undefined);
  });

  test('by namespace, by cluster, by group and by name prefix; combinations narrow', async () => {
    const ids = async (q: string) => {
      const res = await admin.get<InventoryList>(`/api/v1/inventory?${q}`);
      assert.equal(res.status, 200, res.text);
      return res.body.items.map(id).sort();
    };
    assert.deepEqual(await ids('namespace=shop'), [
      'edge-1/shop/ConfigMap/shop/web-config',
      'edge-1/shop/Deployment/shop/web',
      'edge-2/shop/ConfigMap/shop/web-config',
      'edge-2/shop/Deployment/shop/web',
    ]);
    assert.deepEqual(await ids('namespace=shop&kind=ConfigMap&cluster=edge-2'), [
      'edge-2/shop/ConfigMap/shop/web-config',
    ]);
    assert.deepEqual(await ids('cluster=edge-3'), ['edge-3/tools/Deployment/tools/web']);
    assert.deepEqual(await ids('kind=Deployment&group=core'), []);
    assert.deepEqual(await ids('kind=ConfigMap&group=core'), [
      'edge-1/shop/ConfigMap/shop/web-config',
      'edge-2/shop/ConfigMap/shop/web-config',
    ]);
    assert.deepEqual(await ids('name=web-*'), [
      'edge-1/shop/ConfigMap/shop/web-config',
      'edge-2/shop/ConfigMap/shop/web-config',
    ]);
    assert.deepEqual(await ids('namespace=nowhere'), []);
  });

  test('pages with limit and an opaque continue: every object once', async () => {
    const whole = await admin.get<InventoryList>('/api/v1/inventory?kind=Deployment');
    const seen: string[] = [];
    let cont: string | undefined;
    for (let pages = 1; ; pages++) {
      const res: { status: number; text: string; body: InventoryList } = await admin.get<InventoryList>(
        `/api/v1/inventory?kind=Deployment&limit=1${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
      );
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.items.length, 1);
      seen.push(...res.body.items.map(id));
      cont = res.body.metadata.continue;
      if (!cont) break;
      assert.ok(pages < 10);
    }
    assert.deepEqual(seen, whole.body.items.map(id));
    assert.equal(seen.length, 3);
  });

  test('refuses unknown and malformed parameters by name', async () => {
    assertError(await admin.get('/api/v1/inventory?kind=Deployment&labelSelector=a'), 400, 'VALIDATION_FAILED');
    const unknown = await admin.get<{ message: string }>('/api/v1/inventory?knd=Deployment');
    assertError(unknown, 400, 'VALIDATION_FAILED');
    assert.match(unknown.body.message, /knd/);
    assertError(await admin.get('/api/v1/inventory?limit=0'), 400, 'VALIDATION_FAILED');
    assertError(await admin.get('/api/v1/inventory?limit=501'), 400, 'VALIDATION_FAILED');
    assertError(await admin.get('/api/v1/inventory?continue=nope!'), 400, 'VALIDATION_FAILED');
    assertError(await admin.get('/api/v1/inventory?continue=WyJhIl0'), 400, 'VALIDATION_FAILED');
    assertError(await admin.get('/api/v1/inventory?group=apps'), 400, 'VALIDATION_FAILED', 'group without kind');
    assertError(await admin.get('/api/v1/inventory?name=*'), 400, 'VALIDATION_FAILED');
    assertError(await admin.get('/api/v1/inventory?kind=a&kind=b'), 400, 'QUERY_PARAM_REPEATED');
    assertError(await admin.get(`/api/v1/inventory?name=${'x'.repeat(254)}`), 400, 'VALIDATION_FAILED');
  });

  test('outpost-hub inventory: the same search as a table, or as JSON', async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [hubMain, 'inventory', '--data-dir', hub.dataDir, '--hub', hub.url, ...args],
          { timeout: 20_000 },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
        );
      });
    const t = await cli(['--kind', 'Deployment', '-n', 'shop']);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^CLUSTER\s+WORK\s+KIND\s+NAMESPACE\s+NAME\s+REPORTED$/);
    assert.match(t.stdout, /edge-1\s+shop\s+Deployment\.apps\s+shop\s+web\s+Applied=True,Available=True/);
    assert.match(t.stdout, /edge-2\s+shop\s+Deployment\.apps\s+shop\s+web\s+not reported/);
    assert.equal(lines.length, 3);
    // Past --limit, it says more match.
    const j = await cli(['--kind', 'Deployment', '--limit', '2', '-o', 'json']);
    assert.equal(j.code, 0, j.stderr);
    assert.equal((JSON.parse(j.stdout) as InventoryList).items.length, 2);
    assert.match(j.stderr, /more objects match/);
    const help = await cli(['--help']);
    assert.match(help.stdout, /^Usage: outpost-hub inventory /);
  });

  // Last: it changes the fleet.
  test('follows the works: a removed manifest leaves, a work being deleted says so', async () => {
    const res = await admin.call('PUT', '/api/v1/clusters/edge-2/works/shop', {
      json: work('shop', [deployment('shop', 'web')]),
    });
    assert.equal(res.status, 200, res.text);
    const cms = await admin.get<InventoryList>('/api/v1/inventory?kind=ConfigMap');
    assert.deepEqual(cms.body.items.map(id), ['edge-1/shop/ConfigMap/shop/web-config']);
    const del = await admin.delete('/api/v1/clusters/edge-3/works/tools');
    assert.equal(del.status, 200, del.text);
    const tools = await admin.get<InventoryList>('/api/v1/inventory?namespace=tools');
    assert.equal(tools.body.items.length, 1);
    assert.match(tools.body.items[0]?.workDeletionTimestamp ?? '', /^\d{4}-\d\d-\d\dT/);
  });
});
