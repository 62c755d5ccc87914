// Answers of the admin API in YAML when Accept asks for it, from a real `outpost-hub serve`:
// objects, lists, errors (401, 404, unknown routes) and a multi-megabyte work streamed from its
// stored texts, each the same value as the JSON answer; 406 NOT_ACCEPTABLE for an Accept that
// allows neither JSON nor YAML.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseYaml } from '../../packages/hub/src/parse/index.ts';
import { adminClient, anonymousClient, assertError, type HubClient, joinCluster } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const fromYaml = (text: string) => parseYaml(text, { maxBytes: 64 * 1024 * 1024 });

describe('answer formats', { timeout: 180_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let anon: HubClient;

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    anon = anonymousClient(hub);
    await joinCluster(hub, admin, 'yaml-spoke', { labels: { 'answer-format': 'yes' } });
  });

  after(async () => {
    await admin?.close();
    await anon?.close();
    await hub?.stop();
  });

  const yaml = (path: string, accept = 'application/yaml', client = admin) => client.get(path, { headers: { accept } });

  test('application/yaml, application/x-yaml and text/yaml answer YAML of the same value as JSON', async () => {
    const json = await admin.get('/api/v1/clusters/yaml-spoke');
    assert.equal(json.status, 200, json.text);
    for (const accept of ['application/yaml', 'application/x-yaml', 'text/yaml', 'application/json;q=0.5, text/yaml']) {
      const res = await yaml('/api/v1/clusters/yaml-spoke', accept);
      assert.equal(res.status, 200, res.text);
      assert.match(String(res.headers['content-type']), /^application\/yaml/, accept);
      const value = fromYaml(res.text) as { metadata: { resourceVersion: string } };
      assert.deepEqual(
        { ...value, status: undefined },
        { ...(json.body as object), status: undefined },
        `${accept}: ${res.text.slice(0, 300)}`,
      );
    }
    const list = await yaml('/api/v1/clusters?labelSelector=answer-format%3Dyes');
    assert.equal((fromYaml(list.text) as { items: unknown[] }).items.length, 1);
  });

  test('JSON stays the answer for application/json, */*, application/* and no Accept', async () => {
    for (const accept of ['application/json', '*/*', 'application/*', 'text/yaml;q=0.2, application/json']) {
      const res = await yaml('/api/v1/clusters/yaml-spoke', accept);
      assert.match(String(res.headers['content-type']), /^application\/json/, accept);
      assert.equal(res.status, 200);
    }
    const none = await admin.call('GET', '/api/v1/clusters/yaml-spoke', { headers: { accept: '' } });
    assert.match(String(none.headers['content-type']), /^application\/json/);
  });

  test('errors are YAML too: 404 of an object, 401, an unknown route', async () => {
    for (const [res, status, code] of [
      [await yaml('/api/v1/clusters/nope'), 404, 'CLUSTER_NOT_FOUND'],
      [await yaml('/api/v1/clusters', 'application/yaml', anon), 401, 'AUTH_REQUIRED'],
      [await yaml('/api/v1/nothing-here'), 404, 'NOT_FOUND'],
    ] as const) {
      assert.equal(res.status, status, res.text);
      assert.match(String(res.headers['content-type']), /^application\/yaml/);
      const body = fromYaml(res.text) as { code: string; message: string };
      assert.equal(body.code, code, res.text);
      assert.equal(typeof body.message, 'string');
    }
  });

  test('an Accept that allows neither is 406 NOT_ACCEPTABLE, before the route runs', async () => {
    assertError(await yaml('/api/v1/clusters', 'text/html'), 406, 'NOT_ACCEPTABLE');
    assertError(await yaml('/api/v1/clusters', 'application/yaml;q=0, application/json;q=0'), 406, 'NOT_ACCEPTABLE');
    const before = (await admin.get<{ metadata: { labels: Record<string, string> } }>('/api/v1/clusters/yaml-spoke'))
      .body;
    const refused = await admin.patch(
      '/api/v1/clusters/yaml-spoke',
      { metadata: { labels: { refused: 'yes' } } },
      { headers: { accept: 'image/png' } },
    );
    assertError(refused, 406, 'NOT_ACCEPTABLE');
    const now = (await admin.get<{ metadata: { labels: Record<string, string> } }>('/api/v1/clusters/yaml-spoke')).body;
    assert.deepEqual(now.metadata.labels, before.metadata.labels, 'nothing written');
    // Outside /api/ (probes, metrics) Accept changes nothing.
    assert.equal((await anon.get('/healthz', { headers: { accept: 'text/html' } })).status, 200);
  });

  test('a work of several megabytes (streamed from its stored texts) comes back as YAML of the same value', async () => {
    const manifests = Array.from({ length: 400 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, namespace: 'demo' },
      // Values YAML 1.1 would read as something else unless quoted.
      data: { big: 'x'.repeat(10_000), mode: '0755', flag: 'yes', time: '1:20' },
    }));
    const put = await admin.call('PUT', '/api/v1/clusters/yaml-spoke/works/big', {
      json: { metadata: { name: 'big' }, spec: { workload: { manifests } } },
      timeoutMs: 60_000,
    });
    assert.equal(put.status, 201, put.text.slice(0, 300));
    const json = await admin.get('/api/v1/clusters/yaml-spoke/works/big', { timeoutMs: 60_000 });
    const res = await yaml('/api/v1/clusters/yaml-spoke/works/big');
    assert.equal(res.status, 200);
    assert.ok(res.text.length > 4_000_000, `${res.text.length} bytes`);
    assert.match(String(res.headers['content-type']), /^application\/yaml/);
    assert.deepEqual(fromYaml(res.text), json.body);
  });
});
