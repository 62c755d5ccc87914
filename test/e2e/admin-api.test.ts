// The admin REST API (/api/v1) of a real `outpost-hub serve`: bearer-token authentication
// and scopes, the audit log, bootstrap token listings that never show a secret, optimistic
// concurrency and validation of cluster label edits, label selectors and paging, and the
// admin CLI as a real process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { agentPaths, bootstrapTokenPattern } from '../../packages/shared/src/index.ts';
import {
  adminClient,
  agentClient,
  anonymousClient,
  assertError,
  HubClient as Client,
  createToken,
  type HubClient,
  joinCluster,
  newJoiner,
  register,
  waitFor,
} from './hub-client.ts';
import { type HubProcess, hubMain, startHub } from './hub-process.ts';

interface ClusterResource {
  apiVersion: string;
  metadata: { name: string; uid: string; resourceVersion: string; labels: Record<string, string> };
  spec: { hubAcceptsClient: boolean };
}
interface List<T> {
  items: T[];
  metadata: { continue?: string };
}
interface TokenResource {
  metadata: { name: string; creationTimestamp: string };
  spec: { expiration: string; usageLimit: number; description: string };
  status: { usageCount: number; phase: string; token?: string; lastUsed?: string };
}
interface ApiTokenResource {
  metadata: { name: string };
  spec: { displayName: string; scope: string };
  status: { token?: string; revokedAt?: string | null };
}
interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  resource: string;
  result: string;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [hubMain, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('admin API', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let anon: HubClient;
  const clients: HubClient[] = [];

  const withToken = (token: string) => {
    const c = new Client(hub.url, { ca: hub.caCertPem, token });
    clients.push(c);
    return c;
  };
  const newApiToken = async (name: string, scope: 'admin' | 'read-only', ttl?: string) => {
    const res = await admin.post<ApiTokenResource>('/api/v1/apitokens', { name, scope, ttl });
    assert.equal(res.status, 201, res.text);
    assert.match(res.body.status.token ?? '', /^oph_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    return { id: res.body.metadata.name, token: res.body.status.token as string };
  };
  const clusterList = async (query: string) => {
    const res = await admin.get<List<ClusterResource>>(`/api/v1/clusters?${query}`);
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const tokenCount = async () => (await admin.get<List<TokenResource>>('/api/v1/bootstraptokens')).body.items.length;

  before(async () => {
    hub = await startHub();
    admin = await adminClient(hub);
    anon = anonymousClient(hub);
    clients.push(admin, anon);
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await hub?.stop();
  });

  describe('authentication and scopes', () => {
    test('no Authorization header: 401 AUTH_REQUIRED, for reads and writes', async () => {
      assertError(await anon.get('/api/v1/clusters'), 401, 'AUTH_REQUIRED');
      const before = await tokenCount();
      assertError(await anon.post('/api/v1/bootstraptokens', { spec: {} }), 401, 'AUTH_REQUIRED');
      assert.equal(await tokenCount(), before);
    });

    test('a garbage or unknown bearer token: 401 AUTH_INVALID', async () => {
      for (const header of [
        'Bearer garbage',
        'Bearer ',
        'Basic YWRtaW46YWRtaW4=',
        `Bearer oph_0123456789abcdef_${'A'.repeat(43)}`,
      ]) {
        const res = await anon.get('/api/v1/clusters', { headers: { authorization: header } });
        assertError(res, 401, 'AUTH_INVALID', header);
      }
      // The right id with a wrong secret.
      const real = (await admin.get<List<ApiTokenResource>>('/api/v1/apitokens')).body.items[0]?.metadata.name;
      const res = await anon.get('/api/v1/clusters', { token: `oph_${real}_${'B'.repeat(43)}` });
      assertError(res, 401, 'AUTH_INVALID');
    });

    test('a read-only token reads but gets 403 AUTH_FORBIDDEN on POST, PATCH and DELETE; nothing changes', async () => {
      const c = await joinCluster(hub, admin, 'ro-target', { labels: { tier: 'one' } });
      const ro = withToken((await newApiToken('reader', 'read-only')).token);
      assert.equal((await ro.get('/api/v1/clusters')).status, 200);
      assert.equal((await ro.get(`/api/v1/clusters/${c.name}`)).status, 200);
      assert.equal((await ro.get('/api/v1/bootstraptokens')).status, 200);
      assert.equal((await ro.get('/api/v1/auditevents')).status, 200);

      const tokensBefore = await tokenCount();
      const clusterBefore = (await admin.get<ClusterResource>(`/api/v1/clusters/${c.name}`)).body;
      const apiTokensBefore = (await admin.get<List<ApiTokenResource>>('/api/v1/apitokens')).body;
      assertError(await ro.post('/api/v1/bootstraptokens', { spec: {} }), 403, 'AUTH_FORBIDDEN', 'POST');
      assertError(
        await ro.patch(`/api/v1/clusters/${c.name}`, { metadata: { labels: { tier: 'two' } } }),
        403,
        'AUTH_FORBIDDEN',
        'PATCH',
      );
      assertError(await ro.delete(`/api/v1/clusters/${c.name}`), 403, 'AUTH_FORBIDDEN', 'DELETE cluster');
      assertError(await ro.post(`/api/v1/clusters/${c.name}/deny`), 403, 'AUTH_FORBIDDEN', 'deny');
      assertError(await ro.post('/api/v1/apitokens', { name: 'escalate', scope: 'admin' }), 403, 'AUTH_FORBIDDEN');
      assertError(await ro.post('/api/v1/ca/rotate'), 403, 'AUTH_FORBIDDEN', 'ca rotate');
      assert.equal(await tokenCount(), tokensBefore);
      assert.deepEqual((await admin.get<ClusterResource>(`/api/v1/clusters/${c.name}`)).body, clusterBefore);
      assert.deepEqual((await admin.get<List<ApiTokenResource>>('/api/v1/apitokens')).body, apiTokensBefore);
      assert.equal((await admin.get<{ rotation: { state: string } }>('/api/v1/ca')).body.rotation.state, 'None');
    });

    test('a revoked API token: 401 AUTH_INVALID', async () => {
      const t = await newApiToken('short-lived-admin', 'admin');
      const c = withToken(t.token);
      assert.equal((await c.get('/api/v1/clusters')).status, 200);
      const del = await admin.delete<ApiTokenResource>(`/api/v1/apitokens/${t.id}`);
      assert.equal(del.status, 200, del.text);
      assert.ok(del.body.status.revokedAt);
      assertError(await c.get('/api/v1/clusters'), 401, 'AUTH_INVALID', 'GET after revoke');
      assertError(await c.post('/api/v1/bootstraptokens', { spec: {} }), 401, 'AUTH_INVALID', 'POST after revoke');
    });

    test('an expired API token: 401 AUTH_INVALID', async () => {
      const t = await newApiToken('one-second', 'admin', '1s');
      const c = withToken(t.token);
      await waitFor(
        'the 1 s API token to expire',
        async () => ((await c.get('/api/v1/clusters')).status === 401 ? true : undefined),
        5_000,
      );
      assertError(await c.get('/api/v1/clusters'), 401, 'AUTH_INVALID');
    });
  });

  test('every mutating call, successful or not (401 and 403 included), is in the audit log', async () => {
    const startedAt = Date.now();
    const ro = withToken((await newApiToken('auditee', 'read-only')).token);
    const calls: {
      res: () => Promise<{ status: number }>;
      action: string;
      resource: string;
      result: string;
      actor: string;
    }[] = [];
    const expect = (
      res: () => Promise<{ status: number }>,
      action: string,
      resource: string,
      result: string,
      actor: string,
    ) => {
      calls.push({ res, action, resource, result, actor });
    };
    expect(
      () => admin.post('/api/v1/bootstraptokens', { spec: { description: 'audited' } }),
      'POST /api/v1/bootstraptokens',
      '/api/v1/bootstraptokens',
      '201',
      'token:admin',
    );
    expect(
      () => admin.post('/api/v1/bootstraptokens', { spec: { ttl: 'forever' } }),
      'POST /api/v1/bootstraptokens',
      '/api/v1/bootstraptokens',
      '400 VALIDATION_FAILED',
      'token:admin',
    );
    expect(
      () => admin.delete('/api/v1/bootstraptokens/aud404'),
      'DELETE /api/v1/bootstraptokens/:id',
      '/api/v1/bootstraptokens/aud404',
      '404 NOT_FOUND',
      'token:admin',
    );
    expect(
      () => anon.delete('/api/v1/bootstraptokens/aud401'),
      'DELETE /api/v1/bootstraptokens/:id',
      '/api/v1/bootstraptokens/aud401',
      '401 AUTH_REQUIRED',
      'anonymous',
    );
    expect(
      () => anon.delete('/api/v1/bootstraptokens/aud401b', { headers: { authorization: 'Bearer nonsense' } }),
      'DELETE /api/v1/bootstraptokens/:id',
      '/api/v1/bootstraptokens/aud401b',
      '401 AUTH_INVALID',
      'anonymous',
    );
    // Regression: a forbidden call must be audited under the token that made it, not as
    // anonymous (the principal is set before the scope check).
    expect(
      () => ro.delete('/api/v1/bootstraptokens/aud403'),
      'DELETE /api/v1/bootstraptokens/:id',
      '/api/v1/bootstraptokens/aud403',
      '403 AUTH_FORBIDDEN',
      'token:auditee',
    );
    expect(
      () => admin.patch('/api/v1/clusters/no-such-cluster', { metadata: { labels: { a: 'b' } } }),
      'PATCH /api/v1/clusters/:name',
      '/api/v1/clusters/no-such-cluster',
      '404 CLUSTER_NOT_FOUND',
      'token:admin',
    );
    // Sequential on purpose: each call is one audit event; then reads are not audited.
    const statuses: number[] = [];
    for (const c of calls) statuses.push((await c.res()).status);
    assert.deepEqual(statuses, [201, 400, 404, 401, 401, 403, 404]);
    assert.equal((await admin.get('/api/v1/clusters')).status, 200);

    const events = await admin.get<List<AuditEvent>>('/api/v1/auditevents?limit=100');
    assert.equal(events.status, 200, events.text);
    assert.ok(
      events.body.items.every((e) => !e.action.startsWith('GET ')),
      'reads are not audited',
    );
    const problems: string[] = [];
    for (const c of calls) {
      const e = events.body.items.find(
        (x) => x.resource === c.resource && x.action === c.action && x.result === c.result,
      );
      if (!e) {
        problems.push(`missing: ${c.action} ${c.resource} → ${c.result}`);
        continue;
      }
      const at = Date.parse(e.at);
      assert.ok(at >= startedAt - 1_000 && at <= Date.now() + 1_000, `time of ${c.resource}: ${e.at}`);
      if (e.actor !== c.actor) problems.push(`${c.resource} → ${c.result}: actor ${e.actor}, expected ${c.actor}`);
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  });

  // Regression: non-GET calls to unknown /api/v1 routes are audited too (a scanner probing
  // for endpoints is exactly what an auditor wants to see).
  test('non-GET calls to unknown /api/v1 routes are audited too', async () => {
    const probes = ['/api/v1/secrets/dump', '/api/v1/clusters/x/exec'];
    for (const path of probes) assertError(await anon.post(path, {}), 404, 'NOT_FOUND', path);
    assertError(await admin.call('PUT', '/api/v1/clusters/patch-1', { json: {} }), 404, 'NOT_FOUND', 'PUT');
    // An audit row is written once its answer went out: it may land a moment after it.
    let missing: string[] = [];
    await waitFor(
      'the probes in the audit log',
      async () => {
        const events = (await admin.get<List<AuditEvent>>('/api/v1/auditevents?limit=50')).body.items;
        missing = [...probes, '/api/v1/clusters/patch-1'].filter(
          (path) => !events.some((e) => e.resource === path && e.result.startsWith('404')),
        );
        return missing.length === 0 ? true : undefined;
      },
      5_000,
    ).catch(() => undefined);
    assert.deepEqual(missing, [], `not audited: ${missing.join(', ')}`);
  });

  test('audit events page with limit and continue, newest first', async () => {
    const first = await admin.get<List<AuditEvent>>('/api/v1/auditevents?limit=2');
    assert.equal(first.body.items.length, 2);
    assert.ok((first.body.items[0] as AuditEvent).id > (first.body.items[1] as AuditEvent).id);
    const cont = first.body.metadata.continue;
    assert.ok(cont);
    const second = await admin.get<List<AuditEvent>>(`/api/v1/auditevents?limit=2&continue=${cont}`);
    assert.ok((second.body.items[0] as AuditEvent).id < (first.body.items[1] as AuditEvent).id);
    assertError(await admin.get('/api/v1/auditevents?continue=abc'), 400, 'VALIDATION_FAILED');
  });

  test('bootstrap token listing shows usage and expiry, never the secret', async () => {
    const t = await createToken(admin, { usageLimit: 3, ttl: '2h', description: 'listing check' });
    const secret = t.token.split('.')[1] as string;
    assert.match(t.token, bootstrapTokenPattern);
    assert.equal((await register(anon, t.token, await newJoiner('listed-1'))).status, 201);

    const list = await admin.get<List<TokenResource>>('/api/v1/bootstraptokens');
    const one = await admin.get<TokenResource>(`/api/v1/bootstraptokens/${t.id}`);
    const audit = await admin.get('/api/v1/auditevents?limit=1000');
    for (const [what, text] of [
      ['list', list.text],
      ['get', one.text],
      ['audit', audit.text],
      ['hub output', hub.output()],
    ] as const) {
      assert.ok(!text.includes(secret), `${what} must not contain the secret`);
    }
    const item = list.body.items.find((x) => x.metadata.name === t.id);
    assert.ok(item);
    assert.equal(item.status.usageCount, 1);
    assert.equal(item.spec.usageLimit, 3);
    assert.equal(item.status.phase, 'Active');
    assert.equal(item.status.token, undefined);
    const ttl = Date.parse(item.spec.expiration) - Date.parse(item.metadata.creationTimestamp);
    assert.equal(ttl, 2 * 3_600_000);
    assert.ok(item.status.lastUsed);
    assert.deepEqual(one.body, item);
  });

  test('a join refused inside its transaction gives its token use back', async () => {
    const t = await createToken(admin, { usageLimit: 2, ttl: '10m', autoApprove: true });
    const uses = async () => (await admin.get<TokenResource>(`/api/v1/bootstraptokens/${t.id}`)).body.status.usageCount;
    // A spoke may not put itself into a cluster set: refused after the token's use was counted.
    const refused = await register(anon, t.token, await newJoiner('refund-1'), {
      labels: { 'cluster.open-cluster-management.io/clusterset': 'prod' },
    });
    assertError(refused, 403, 'CLUSTER_SET_LABEL_FORBIDDEN');
    assert.equal(await uses(), 0, 'the refused join counts no use');
    // Both uses are still there: two joins go through, a third is refused.
    assert.equal((await register(anon, t.token, await newJoiner('refund-2'))).status, 201);
    assert.equal((await register(anon, t.token, await newJoiner('refund-3'))).status, 201);
    assert.equal(await uses(), 2);
    assertError(await register(anon, t.token, await newJoiner('refund-4')), 401, 'HUB_TOKEN_EXHAUSTED');
  });

  describe('cluster label edits', () => {
    let name: string;
    before(async () => {
      name = (await joinCluster(hub, admin, 'patch-1', { labels: { tier: 'bronze' } })).name;
    });
    const get = async () => (await admin.get<ClusterResource>(`/api/v1/clusters/${name}`)).body;

    test('a PATCH with the current resourceVersion applies and bumps it; a stale one is 409 CONFLICT', async () => {
      const c0 = await get();
      const ok = await admin.patch<ClusterResource>(`/api/v1/clusters/${name}`, {
        metadata: { labels: { tier: 'gold', zone: 'a' }, resourceVersion: c0.metadata.resourceVersion },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body.metadata.labels, { tier: 'gold', zone: 'a' });
      assert.equal(Number(ok.body.metadata.resourceVersion), Number(c0.metadata.resourceVersion) + 1);

      const stale = await admin.patch(`/api/v1/clusters/${name}`, {
        metadata: { labels: { tier: 'silver' }, resourceVersion: c0.metadata.resourceVersion },
      });
      assertError(stale, 409, 'CONFLICT');
      assert.deepEqual(await get(), ok.body, 'nothing changed');

      // null removes a label (JSON merge patch); no resourceVersion means "last write wins".
      const removed = await admin.patch<ClusterResource>(`/api/v1/clusters/${name}`, {
        metadata: { labels: { zone: null } },
      });
      assert.equal(removed.status, 200, removed.text);
      assert.deepEqual(removed.body.metadata.labels, { tier: 'gold' });
    });

    test('invalid label keys or values are 400 VALIDATION_FAILED and change nothing', async () => {
      const c0 = await get();
      for (const labels of [
        { tier: 'has space' },
        { tier: 'x'.repeat(64) },
        { tier: '-leading' },
        { tier: 'ζ' },
        { 'bad key!': 'x' },
        { '/nope': 'x' },
        { tier: 42 },
      ]) {
        const res = await admin.patch(`/api/v1/clusters/${name}`, { metadata: { labels } });
        assertError(res, 400, 'VALIDATION_FAILED', JSON.stringify(labels));
      }
      assertError(
        await admin.patch(`/api/v1/clusters/${name}`, { spec: { hubAcceptsClient: false } }),
        400,
        'VALIDATION_FAILED',
        'acceptance is not patchable',
      );
      assert.deepEqual(await get(), c0);
    });

    // Regression: metadata.labels that is not an object must not be spread into labels
    // (`Object.entries("ab")` would give {"0": "a", "1": "b"}).
    test('metadata.labels that is not an object is 400 VALIDATION_FAILED', async () => {
      const c0 = await get();
      for (const labels of ['ab', ['x', 'y'], 7]) {
        const res = await admin.patch(`/api/v1/clusters/${name}`, { metadata: { labels } });
        assertError(res, 400, 'VALIDATION_FAILED', `labels ${JSON.stringify(labels)} accepted`);
      }
      assert.deepEqual((await get()).metadata.labels, c0.metadata.labels);
    });

    test('a field a cluster patch cannot change is refused by name, never ignored', async () => {
      const c0 = await get();
      const refused: [unknown, string][] = [
        [{ status: { agentVersion: 'x' } }, 'status'],
        [{ metadata: { labels: { tier: 'x' } }, status: {} }, 'status'],
        [{ metadata: { annotations: { a: 'b' } } }, 'metadata.annotations'],
        [{ metadata: { name: 'another' } }, 'metadata.name'],
        [{ metadata: { uid: null } }, 'metadata.uid'],
        [{ metadata: { creationTimestamp: '2000-01-01T00:00:00.000Z' } }, 'metadata.creationTimestamp'],
        [{ metadata: 'x' }, 'metadata'],
        [{ kind: 'Placement' }, 'kind'],
        [{ apiVersion: 'v1' }, 'apiVersion'],
        [{ spec: { taints: [] } }, 'spec'],
        [{ data: { a: 'b' } }, 'data'],
      ];
      for (const [patch, field] of refused) {
        const res = await admin.patch<{ message: string }>(`/api/v1/clusters/${name}`, patch);
        assertError(res, 400, 'VALIDATION_FAILED', JSON.stringify(patch));
        assert.ok(res.body.message.startsWith(field), `${JSON.stringify(patch)}: ${res.body.message}`);
      }
      assert.deepEqual(await get(), c0, 'nothing changed');
      // What cannot change may be repeated as it is.
      const same = await admin.patch<ClusterResource>(`/api/v1/clusters/${name}`, {
        apiVersion: c0.apiVersion,
        kind: 'ManagedCluster',
        metadata: { name, labels: { repeated: 'yes' } },
      });
      assert.equal(same.status, 200, same.text);
      assert.equal(same.body.metadata.labels.repeated, 'yes');
      // uid is a precondition, as in every other PATCH; creationTimestamp may be repeated.
      const c1 = await get();
      assertError(
        await admin.patch(`/api/v1/clusters/${name}`, { metadata: { uid: 'another', labels: { x: 'y' } } }),
        409,
        'CONFLICT',
      );
      const kept = await admin.patch<ClusterResource>(`/api/v1/clusters/${name}`, {
        metadata: {
          uid: c1.metadata.uid,
          creationTimestamp: (c1.metadata as { creationTimestamp?: string }).creationTimestamp,
          labels: { x: 'y' },
        },
      });
      assert.equal(kept.status, 200, kept.text);
      // A JSON patch is not what a cluster PATCH reads: 415, not a merge patch misread.
      for (const body of [
        [{ op: 'add', path: '/metadata/labels/x', value: 'z' }],
        { metadata: { labels: { x: 'z' } } },
      ]) {
        assertError(
          await admin.patch(`/api/v1/clusters/${name}`, body, { contentType: 'application/json-patch+json' }),
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
      }
      assert.equal((await get()).metadata.labels.x, 'y');
    });
  });

  describe('label selectors and paging', () => {
    const names = ['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e', 'pg-f', 'pg-g'];
    const envOf = (i: number) => (['prod', 'dev', 'staging'] as const)[i % 3];
    before(async () => {
      // One auto-approving token for all seven, stamping the suite label.
      const t = await createToken(admin, { autoApprove: true, usageLimit: 7, labels: { suite: 'paging' } });
      for (const [i, n] of names.entries()) {
        const labels: Record<string, string> = { env: envOf(i) as string };
        if (i % 2 === 0) labels.tier = 'gold';
        await joinCluster(hub, admin, n, { token: t.token, labels });
      }
    });
    const select = async (selector: string) =>
      (await clusterList(`labelSelector=${encodeURIComponent(selector)}`)).items.map((c) => c.metadata.name);

    test('labelSelector filters with =, !=, in, notin, exists and !exists', async () => {
      const idx = (pred: (i: number) => boolean) => names.filter((_, i) => pred(i));
      assert.deepEqual(
        await select('suite=paging,env=prod'),
        idx((i) => envOf(i) === 'prod'),
      );
      assert.deepEqual(
        await select('suite=paging,env!=prod'),
        idx((i) => envOf(i) !== 'prod'),
      );
      assert.deepEqual(
        await select('suite=paging,env in (dev,staging)'),
        idx((i) => envOf(i) !== 'prod'),
      );
      assert.deepEqual(
        await select('suite=paging,env notin (dev)'),
        idx((i) => envOf(i) !== 'dev'),
      );
      assert.deepEqual(
        await select('suite=paging,tier'),
        idx((i) => i % 2 === 0),
      );
      assert.deepEqual(
        await select('suite=paging,!tier'),
        idx((i) => i % 2 === 1),
      );
      assert.deepEqual(
        await select('suite=paging,env=prod,tier=gold'),
        idx((i) => envOf(i) === 'prod' && i % 2 === 0),
      );
      assert.deepEqual(await select('suite=nothing'), []);
      for (const bad of ['env in (prod', '=x', 'env=,', '!']) {
        assertError(
          await admin.get(`/api/v1/clusters?labelSelector=${encodeURIComponent(bad)}`),
          400,
          'VALIDATION_FAILED',
          bad,
        );
      }
    });

    test('limit and continue page through every match exactly once, with and without a selector', async () => {
      for (const [selector, want] of [
        ['suite=paging', names],
        ['suite=paging,tier=gold', names.filter((_, i) => i % 2 === 0)],
      ] as const) {
        for (const limit of [1, 2, 3, 7]) {
          const seen: string[] = [];
          let cont = '';
          let pages = 0;
          do {
            const page = await clusterList(
              `labelSelector=${encodeURIComponent(selector)}&limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
            );
            assert.ok(page.items.length <= limit, `page of ${page.items.length} > limit ${limit}`);
            seen.push(...page.items.map((c) => c.metadata.name));
            cont = page.metadata.continue ?? '';
            assert.ok(++pages <= want.length + 1, 'paging terminates');
          } while (cont);
          assert.deepEqual(seen, [...want], `${selector} limit=${limit}`);
        }
      }
      // The whole list (other suites' clusters too) pages without duplicates.
      const all: string[] = [];
      let cont = '';
      do {
        const page = await clusterList(`limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
        all.push(...page.items.map((c) => c.metadata.name));
        cont = page.metadata.continue ?? '';
      } while (cont);
      assert.deepEqual(all, [...new Set(all)].sort());
      for (const n of names) assert.ok(all.includes(n));
      for (const bad of ['0', '-1', 'abc', '1001']) {
        assertError(await admin.get(`/api/v1/clusters?limit=${bad}`), 400, 'VALIDATION_FAILED', `limit=${bad}`);
      }
    });
  });

  describe('admin CLI as a real process', () => {
    const conn = () => ['--data-dir', hub.dataDir, '--hub', hub.url];

    test('token create --print-join-command prints a usable join command', async () => {
      const res = await cli(['token', 'create', ...conn(), '--print-join-command', '--labels', 'site=fra1']);
      assert.equal(res.code, 0, res.stderr);
      const line = res.stdout.trim();
      // The common case whole: the credentials in the cluster, and the agent installed there.
      const m =
        /^outpost-agent join --hub (\S+) --token (\S+) --ca-cert-hash (sha256:[0-9a-f]{64}) --cluster-name <NAME> --kubeconfig ~\/\.kube\/config --install$/.exec(
          line,
        );
      assert.ok(m, line);
      const [, url, token, hash] = m as unknown as [string, string, string, string];
      assert.equal(url, hub.url);
      assert.match(token, bootstrapTokenPattern);
      assert.equal(hash, hub.caHash);
      // The token really joins, and stamps its labels.
      const reg = await register(anon, token, await newJoiner('cli-joined'));
      assert.equal(reg.status, 201, reg.text);
      const c = await admin.get<ClusterResource>('/api/v1/clusters/cli-joined');
      assert.equal(c.body.metadata.labels.site, 'fra1');

      // A name filled in; the credentials only (the agent comes from the chart); the bare join.
      const named = await cli([
        'token',
        'create',
        ...conn(),
        '--print-join-command',
        '--cluster-name',
        'edge-7',
        '--join-mode',
        'secret',
        '--kubeconfig',
        '/etc/k.yaml',
      ]);
      assert.match(named.stdout, / --cluster-name edge-7 --kubeconfig \/etc\/k\.yaml\n$/);
      const bare = await cli(['token', 'create', ...conn(), '--print-join-command', '--join-mode', 'none']);
      assert.match(bare.stdout, / --cluster-name <NAME>\n$/);
      for (const [args, message] of [
        [['--join-mode', 'pod'], /--join-mode must be install, secret or none/],
        [['--cluster-name', 'Edge_7'], /--cluster-name must be a DNS-1123 label/],
        [['--join-mode', 'none', '--kubeconfig', '/k'], /not with --join-mode none/],
      ] as const) {
        const refused = await cli(['token', 'create', ...conn(), '--print-join-command', ...args]);
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(refused.stderr, message);
      }
      const stray = await cli(['token', 'create', ...conn(), '--cluster-name', 'edge-7']);
      assert.equal(stray.code, 2);
      assert.match(stray.stderr, /--cluster-name goes with --print-join-command/);
    });

    test('cluster list -o json parses and lists the clusters; token list never shows a secret', async () => {
      const res = await cli(['cluster', 'list', ...conn(), '-o', 'json']);
      assert.equal(res.code, 0, res.stderr);
      const list = JSON.parse(res.stdout) as List<ClusterResource>;
      const api = await clusterList('limit=1000');
      assert.deepEqual(
        list.items.map((c) => c.metadata.name),
        api.items.map((c) => c.metadata.name),
      );
      const sel = JSON.parse((await cli(['cluster', 'list', ...conn(), '-o', 'json', '-l', 'suite=paging'])).stdout);
      assert.equal((sel as List<ClusterResource>).items.length, 7);

      const t = await createToken(admin, { description: 'cli secret check' });
      const tokens = await cli(['token', 'list', ...conn(), '-o', 'json']);
      assert.equal(tokens.code, 0, tokens.stderr);
      assert.ok(!tokens.stdout.includes(t.token.split('.')[1] as string));
      assert.ok(JSON.parse(tokens.stdout).items.some((x: TokenResource) => x.metadata.name === t.id));
    });

    test('audit list filters on the hub and follows continue through short pages', async () => {
      const refused = await anon.post('/api/v1/clusters/audit-probe/approve', {});
      assert.equal(refused.status, 401);
      const res = await cli([
        'audit',
        'list',
        ...conn(),
        '-o',
        'json',
        '--actor',
        'anonymous',
        '--result',
        '401',
        '--limit',
        '3',
      ]);
      assert.equal(res.code, 0, res.stderr);
      const list = JSON.parse(res.stdout) as List<AuditEvent>;
      assert.ok(list.items.length >= 1 && list.items.length <= 3);
      for (const e of list.items) {
        assert.equal(e.actor, 'anonymous');
        assert.match(e.result, /^401/);
      }
      assert.ok(list.items.some((e) => e.resource === '/api/v1/clusters/audit-probe/approve'));
      const bad = await cli(['audit', 'list', ...conn(), '--since', 'yesterday']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /since must be a time/);
      assertError(await admin.get('/api/v1/auditevents?labelSelector=a%3Db'), 400, 'VALIDATION_FAILED');
    });

    test('cluster list tells pending, denied, never-reported, available and removing apart; cluster get describes one', async () => {
      const anon = anonymousClient(hub);
      clients.push(anon);
      const manual = await createToken(admin, { description: 'states', ttl: '10m', usageLimit: 5 });
      assert.equal((await register(anon, manual.token, await newJoiner('st-pending'))).status, 201);
      assert.equal((await register(anon, manual.token, await newJoiner('st-denied'))).status, 201);
      assert.equal((await admin.post('/api/v1/clusters/st-denied/deny')).status, 200);
      await joinCluster(hub, admin, 'st-silent');
      const live = await joinCluster(hub, admin, 'st-live');
      const removing = await joinCluster(hub, admin, 'st-removing');
      for (const id of [live, removing]) {
        const agent = agentClient(hub, id);
        clients.push(agent);
        const res = await agent.post(agentPaths.heartbeat(id.name), {});
        assert.equal(res.status, 200, res.text);
      }
      // With a work on it, removal waits for the agent to delete it.
      const work = {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'w' },
        spec: {
          workload: {
            manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w', namespace: 'default' } }],
          },
        },
      };
      assert.equal((await admin.call('PUT', '/api/v1/clusters/st-removing/works/w', { json: work })).status, 201);
      const removal = await admin.call('DELETE', '/api/v1/clusters/st-removing');
      assert.equal(removal.status, 202, removal.text);

      const res = await cli(['cluster', 'list', ...conn()]);
      assert.equal(res.code, 0, res.stderr);
      const state = (name: string) =>
        res.stdout
          .split('\n')
          .find((l) => l.startsWith(`${name} `))
          ?.split(/\s+/)[1];
      assert.match(res.stdout.split('\n')[0] ?? '', /^NAME\s+STATE\s+ACCEPTED/);
      assert.equal(state('st-pending'), 'Pending');
      assert.equal(state('st-denied'), 'Denied');
      assert.equal(state('st-silent'), 'NeverReported');
      assert.equal(state('st-live'), 'Available');
      assert.equal(state('st-removing'), 'Removing');

      const silent = await admin.get<{ status: { conditions: { type: string; reason: string }[] } }>(
        '/api/v1/clusters/st-silent',
      );
      assert.equal(silent.body.status.conditions.find((c) => c.type === 'Available')?.reason, 'NeverReported');
      const got = await cli(['cluster', 'get', 'st-live', ...conn()]);
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /^state:\s+Available$/m);
      assert.match(got.stdout, /^certificate:\s+serial [0-9a-f]+, expires /m);
      assert.match(got.stdout, /^CONDITION\s+STATUS\s+REASON\s+SINCE\s+MESSAGE$/m);
      assert.match(got.stdout, /^Available\s+True\s+AgentReporting\s/m);
      const pending = await cli(['cluster', 'get', 'st-pending', ...conn()]);
      assert.match(pending.stdout, /^HubAccepted\s+False\s+Pending\s/m);
      assert.match(pending.stdout, /^certificate:\s+-$/m);
    });

    test('cluster get of a missing cluster exits 1 with (CLUSTER_NOT_FOUND); a bad flag exits 2', async () => {
      const missing = await cli(['cluster', 'get', 'nope', ...conn()]);
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stderr, /\(CLUSTER_NOT_FOUND\)/);
      const bad = await cli(['cluster', 'list', ...conn(), '--no-such-flag']);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /HUB_CONFIG_INVALID/);
      const badOutput = await cli(['cluster', 'list', ...conn(), '-o', 'xml']);
      assert.equal(badOutput.code, 2, badOutput.stderr);
      const badVerb = await cli(['cluster', 'explode', ...conn()]);
      assert.equal(badVerb.code, 2, badVerb.stderr);
    });

    test('cluster approve and label through the CLI change the cluster', async () => {
      await waitFor('cli-joined to exist', async () =>
        (await admin.get('/api/v1/clusters/cli-joined')).status === 200 ? true : undefined,
      );
      const approve = await cli(['cluster', 'approve', 'cli-joined', ...conn()]);
      assert.equal(approve.code, 0, approve.stderr);
      const label = await cli(['cluster', 'label', 'cli-joined', 'rack=r9', 'site-', ...conn(), '-o', 'json']);
      assert.equal(label.code, 0, label.stderr);
      const c = (await admin.get<ClusterResource>('/api/v1/clusters/cli-joined')).body;
      assert.equal(c.spec.hubAcceptsClient, true);
      assert.deepEqual(c.metadata.labels, { rack: 'r9' });
      const stale = await cli(['cluster', 'label', 'cli-joined', 'rack=r1', '--resource-version', '1', ...conn()]);
      assert.equal(stale.code, 1);
      assert.match(stale.stderr, /\(CONFLICT\)/);
    });
  });
});
