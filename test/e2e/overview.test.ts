// GET /api/v1/overview on a real `outpost-hub serve`: counts by state and condition and the
// non-compliant clusters, worst first with their reasons, paged, narrowed by label; what the
// dashboard's overview shows, and what automation can read without listing the fleet.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { agentPaths } from '@outpost/shared';
import { adminClient, agentClient, assertError, type HubClient, joinCluster } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

interface Overview {
  kind: string;
  metadata: { resourceVersion: string };
  clusters: { total: number; states: Record<string, number> };
  works: { total: number; conditions: Record<string, Record<string, number>> };
  nonCompliant: { total: number; continue?: string; items: { name: string; state: string; reason: string }[] };
}

const work = (name: string) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name },
  spec: { workload: { manifests: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${name}` } }] } },
});

describe('fleet overview', () => {
  let hub: HubProcess;
  let admin: HubClient;

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    // up: reports with the hub's version, no works; old: reports with an old agent and has a
    // work nobody applied; silent: never reports; pending: waits for approval.
    for (const [name, version] of [
      ['up', '0.1.0'],
      ['old', '0.0.9'],
    ] as const) {
      const joined = await joinCluster(hub, admin, name, { labels: { ring: name === 'up' ? 'a' : 'b' } });
      const agent = agentClient(hub, joined);
      const beat = await agent.post(agentPaths.heartbeat(name), { agentVersion: version });
      assert.equal(beat.status, 200, beat.text);
      await agent.close();
    }
    await joinCluster(hub, admin, 'silent', { labels: { ring: 'b' } });
    const created = await admin.post('/api/v1/clusters/old/works', work('web'));
    assert.equal(created.status, 201, created.text);
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
  });

  test('counts by state, and the non-compliant clusters worst first, each with its reason', async () => {
    const res = await admin.get<Overview>('/api/v1/overview');
    assert.equal(res.status, 200, res.text);
    const o = res.body;
    assert.equal(o.kind, 'FleetOverview');
    assert.match(o.metadata.resourceVersion, /^\d+$/);
    assert.deepEqual(o.clusters, { total: 3, states: { Available: 2, NeverReported: 1 } });
    assert.equal(o.works.total, 1);
    assert.deepEqual(
      o.nonCompliant.items.map((i) => [i.name, i.state, i.reason]),
      [
        ['silent', 'NeverReported', 'agent never reported'],
        ['old', 'Available', '1 work not applied: web; agent 0.0.9 is older than the hub (0.1.0)'],
      ],
    );
    assert.equal(o.nonCompliant.total, 2);
  });

  test('pages with limit and continue; a selector narrows every count', async () => {
    const first = await admin.get<Overview>('/api/v1/overview?limit=1');
    assert.deepEqual(
      first.body.nonCompliant.items.map((i) => i.name),
      ['silent'],
    );
    assert.equal(first.body.nonCompliant.continue, '1');
    const second = await admin.get<Overview>('/api/v1/overview?limit=1&continue=1');
    assert.deepEqual(
      second.body.nonCompliant.items.map((i) => i.name),
      ['old'],
    );
    assert.equal(second.body.nonCompliant.continue, undefined);
    const ringA = await admin.get<Overview>('/api/v1/overview?labelSelector=ring%3Da');
    assert.deepEqual(ringA.body.clusters, { total: 1, states: { Available: 1 } });
    assert.equal(ringA.body.nonCompliant.total, 0);
    assertError(await admin.get('/api/v1/overview?limit=0'), 400, 'VALIDATION_FAILED');
    assertError(await admin.get('/api/v1/overview?certificateWarning=soon'), 400, 'VALIDATION_FAILED');
    assertError(
      await admin.get('/api/v1/overview?watch=true'),
      400,
      'VALIDATION_FAILED',
      'no field accepted and ignored',
    );
  });

  // Last: the work it adds stays (no agent deletes it).
  test('a read after a change sees it (a pass is reused only while nothing changed)', async () => {
    const before = await admin.get<Overview>('/api/v1/overview');
    const created = await admin.post('/api/v1/clusters/up/works', work('api'));
    assert.equal(created.status, 201, created.text);
    const after = await admin.get<Overview>('/api/v1/overview');
    assert.equal(after.body.works.total, before.body.works.total + 1);
    assert.ok(Number(after.body.metadata.resourceVersion) > Number(before.body.metadata.resourceVersion));
    assert.equal(after.body.nonCompliant.items.find((i) => i.name === 'up')?.reason, '1 work not applied: api');
  });

  test('with a resourceVersion, a recent pass that saw it is answered at once; without, every change is seen', async () => {
    const seen = await admin.get<Overview>('/api/v1/overview');
    const rv = Number(seen.body.metadata.resourceVersion);
    const created = await admin.post('/api/v1/clusters/up/works', work('cached'));
    assert.equal(created.status, 201, created.text);
    // 0 (any) or the version seen: the last pass, which has not seen the new work.
    for (const asked of ['0', String(rv)]) {
      const cached = await admin.get<Overview>(`/api/v1/overview?resourceVersion=${asked}`);
      assert.equal(cached.status, 200, cached.text);
      assert.equal(cached.body.metadata.resourceVersion, seen.body.metadata.resourceVersion, asked);
      assert.equal(cached.body.works.total, seen.body.works.total, asked);
    }
    // A version after that pass: a pass that saw it.
    const later = await admin.get<Overview>(`/api/v1/overview?resourceVersion=${rv + 1}`);
    assert.equal(later.body.works.total, seen.body.works.total + 1);
    const fresh = await admin.get<Overview>('/api/v1/overview');
    assert.equal(fresh.body.works.total, seen.body.works.total + 1);
    for (const bad of ['x', '-1', '1.5', '9'.repeat(16)]) {
      const res = await admin.get<{ code: string }>(`/api/v1/overview?resourceVersion=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
    }
  });
});
