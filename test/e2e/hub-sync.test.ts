// The hub side of work delivery, at the protocol level, on a real hub process: long-poll
// holds and wakes, full sends then per-manifest deltas, tombstones naming the uid, status
// intake that is idempotent, a database replaced by an empty one, and liveness.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { agentPaths, type StatusAck, type SyncResponse, type WorkStatus } from '../../packages/shared/src/index.ts';
import { adminClient, agentClient, type HubClient, type JoinedCluster, joinCluster, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const cm = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'demo' },
  data: { value },
});

const work = (name: string, manifests: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name },
  spec: { workload: { manifests }, ...extra },
});

const status = (generation: number): WorkStatus => ({
  conditions: [{ type: 'Applied', status: 'True', reason: 'AppliedManifestWorkComplete', message: 'ok' }],
  resourceStatus: { manifests: [] },
  observedGeneration: generation,
});

describe('hub sync and status endpoints', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let agent: HubClient;
  let cluster: JoinedCluster;

  before(async () => {
    hub = await startHub({ args: ['--poll-timeout', '3s', '--missed-polls', '1'] });
    admin = await adminClient(hub);
    cluster = await joinCluster(hub, admin, 'sync-1');
    agent = agentClient(hub, cluster);
  });
  after(async () => {
    await agent?.close();
    await admin?.close();
    await hub?.stop();
  });

  const poll = (body: Record<string, unknown>, timeoutMs = 15_000) =>
    agent.post<SyncResponse>(agentPaths.sync('sync-1'), body, {
      timeoutMs,
      headers: { 'accept-encoding': 'identity' },
    });
  const put = (w: ReturnType<typeof work>) =>
    admin.call('PUT', `/api/v1/clusters/sync-1/works/${w.metadata.name}`, { json: w });

  let epoch = '';
  let revision = 0;

  test('a first poll without an inventory is asked for one; with it, all works come in full', async () => {
    assert.equal((await put(work('app', [cm('a', '1'), cm('b', '1')]))).status, 201);
    const first = await poll({ revision: 0 });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.needInventory, true);
    const full = await poll({ revision: 0, inventory: {} });
    assert.equal(full.body.works.length, 1);
    const w = full.body.works[0];
    assert.equal(w?.full, true);
    assert.deepEqual(
      w?.manifests.map((m) => m.manifest.metadata.name),
      ['a', 'b'],
    );
    epoch = full.body.hubEpoch;
    revision = full.body.revision;
    assert.match(epoch, /^[0-9a-f-]{36}$/);
  });

  test('an unchanged poll is held until the wait ends and carries nothing', async () => {
    const start = Date.now();
    const res = await poll({ revision, hubEpoch: epoch, waitSeconds: 1 });
    const held = Date.now() - start;
    assert.equal(res.body.works.length, 0);
    assert.ok(held >= 800 && held < 5_000, `held ${held} ms for a 1 s wait`);
  });

  test('a poll carries the heartbeat: the hub notes the version and claims and answers it; a malformed one is refused', async () => {
    const res = await poll({
      revision,
      hubEpoch: epoch,
      waitSeconds: 0,
      heartbeat: {
        agentVersion: 'carried-1',
        workDelivery: true,
        reportedClaims: { 'product.open-cluster-management.io': 'Sim' },
      },
    });
    assert.equal(res.status, 200, res.text);
    const hb = res.body.heartbeat;
    assert.equal(hb?.cluster, 'sync-1');
    assert.match(hb?.caBundleHash ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(hb?.renewNow, false);
    // Every answer says how to spread a reconnect after a break: a second for this fleet.
    assert.equal(res.body.reconnectWindowSeconds, 1);
    const view = await admin.get<{
      status: { version?: { agent?: string }; clusterClaims?: { name: string; value: string }[] };
    }>('/api/v1/clusters/sync-1');
    assert.match(view.text, /carried-1/);
    assert.ok(
      view.body.status.clusterClaims?.some((c) => c.name === 'product.open-cluster-management.io' && c.value === 'Sim'),
      view.text,
    );
    // A poll without one is answered without one (an agent that heartbeats on its own).
    assert.equal((await poll({ revision, hubEpoch: epoch, waitSeconds: 0 })).body.heartbeat, undefined);
    for (const heartbeat of ['x', [1], null]) {
      const bad = await poll({ revision, hubEpoch: epoch, waitSeconds: 0, heartbeat });
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.text, /BODY_MALFORMED/);
    }
  });

  test('a change wakes a waiting poll at once, and only the changed manifest is sent', async () => {
    const start = Date.now();
    const waiting = poll({ revision, hubEpoch: epoch, waitSeconds: 10 });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await put(work('app', [cm('a', '1'), cm('b', '2')]))).status, 200);
    const res = await waiting;
    assert.ok(Date.now() - start < 5_000, 'the poll was woken, not timed out');
    const w = res.body.works[0];
    assert.equal(w?.full, false);
    assert.equal(w?.generation, 2);
    assert.deepEqual(
      w?.manifests.map((m) => [m.manifest.metadata.name, (m.manifest.data as { value: string }).value]),
      [['b', '2']],
    );
    assert.deepEqual(w?.removed, []);
    revision = res.body.revision;
  });

  test('a manifest leaving the work is sent as a removed key; deleting the work sends a tombstone with its uid', async () => {
    await put(work('app', [cm('a', '1')]));
    const delta = await poll({ revision, hubEpoch: epoch, waitSeconds: 5 });
    assert.deepEqual(delta.body.works[0]?.removed, ['|ConfigMap|demo|b']);
    revision = delta.body.revision;
    const uid = delta.body.works[0]?.uid;
    const del = await admin.delete('/api/v1/clusters/sync-1/works/app');
    assert.equal(del.status, 200, del.text);
    const tomb = await poll({ revision, hubEpoch: epoch, waitSeconds: 5 });
    assert.equal(tomb.body.works[0]?.deleting, true);
    assert.equal(tomb.body.works[0]?.uid, uid);
    revision = tomb.body.revision;

    // The agent reports the work gone: the hub forgets it. A repeated report changes nothing.
    const report = {
      seq: 10,
      work: 'app',
      uid,
      generation: 3,
      observedAt: new Date().toISOString(),
      status: status(3),
      deleted: true,
    };
    const ack = await agent.post<StatusAck>(agentPaths.status('sync-1'), { reports: [report] });
    assert.equal(ack.body.ackedSeq, 10);
    assert.equal((await admin.get('/api/v1/clusters/sync-1/works/app')).status, 404);
    assert.equal((await agent.post<StatusAck>(agentPaths.status('sync-1'), { reports: [report] })).body.ackedSeq, 10);
  });

  test('status reports are stored in order; an older or repeated sequence never overwrites a newer one', async () => {
    await put(work('st', [cm('s', '1')]));
    const res = await poll({ revision, hubEpoch: epoch, waitSeconds: 5 });
    revision = res.body.revision;
    const uid = res.body.works[0]?.uid as string;
    const mk = (seq: number, msg: string) => ({
      seq,
      work: 'st',
      uid,
      generation: 1,
      observedAt: new Date().toISOString(),
      status: { ...status(1), conditions: [{ type: 'Applied', status: 'True' as const, reason: 'R', message: msg }] },
    });
    const ack = await agent.post<StatusAck>(agentPaths.status('sync-1'), {
      reports: [mk(20, 'first'), mk(21, 'second')],
    });
    assert.equal(ack.body.ackedSeq, 21);
    await agent.post(agentPaths.status('sync-1'), { reports: [mk(20, 'first again')] });
    const got = await admin.get<{ status: WorkStatus }>('/api/v1/clusters/sync-1/works/st');
    assert.equal(got.body.status.conditions[0]?.message, 'second');
    // A report for another uid of that name is acknowledged but stored nowhere.
    const stale = await agent.post<StatusAck>(agentPaths.status('sync-1'), {
      reports: [{ ...mk(22, 'stale'), uid: 'not-this-work' }],
    });
    assert.equal(stale.body.ackedSeq, 22);
    assert.equal(
      (await admin.get<{ status: WorkStatus }>('/api/v1/clusters/sync-1/works/st')).body.status.conditions[0]?.message,
      'second',
    );
  });

  test('one changed manifest of a 1,000-manifest work costs about that manifest on the wire', async () => {
    const many = Array.from({ length: 1000 }, (_, i) =>
      cm(`cm-${String(i).padStart(4, '0')}`, `value-${i}-${'x'.repeat(200)}`),
    );
    assert.equal((await put(work('big', many))).status, 201);
    const full = await poll({ revision, hubEpoch: epoch, waitSeconds: 5 }, 30_000);
    revision = full.body.revision;
    many[500] = cm('cm-0500', `changed-${'y'.repeat(200)}`);
    await put(work('big', many));
    // As the agent asks for it: gzip.
    const res = await agent.call('POST', agentPaths.sync('sync-1'), {
      json: { revision, hubEpoch: epoch, waitSeconds: 5 },
      headers: { 'accept-encoding': 'gzip' },
    });
    const wire = Number(res.headers['content-length'] ?? res.text.length);
    const one = JSON.stringify(many[500]).length;
    const body = JSON.parse(res.text) as SyncResponse;
    assert.equal(body.works[0]?.manifests.length, 1);
    assert.ok(wire < 2 * one, `sent ${wire} bytes for a ${one}-byte manifest`);
    revision = body.revision;
  });

  test('liveness: a cluster that stops polling becomes Available=Unknown and tainted unreachable', async () => {
    // --missed-polls 1 with --poll-timeout 3s: unreachable after ~8.3 s without a poll.
    const c = await waitFor(
      'the cluster to turn unreachable',
      async () => {
        const res = await admin.get<{
          status: { conditions: { type: string; status: string }[] };
          spec: { taints: { key: string }[] };
        }>('/api/v1/clusters/sync-1');
        const avail = res.body.status.conditions.find((x) => x.type === 'Available');
        return avail?.status === 'Unknown' ? res.body : undefined;
      },
      20_000,
    );
    assert.ok(c.spec.taints.some((t) => t.key === 'outpost.dev/unreachable'));
    await poll({ revision, hubEpoch: epoch, waitSeconds: 0 });
    const back = await admin.get<{ status: { conditions: { type: string; status: string }[] } }>(
      '/api/v1/clusters/sync-1',
    );
    assert.equal(back.body.status.conditions.find((x) => x.type === 'Available')?.status, 'True');
  });

  test('removing a cluster with works waits for its agent to delete them, then revokes it', async () => {
    const c2 = await joinCluster(hub, admin, 'sync-2');
    const a2 = agentClient(hub, c2);
    try {
      const put2 = (name: string) =>
        admin.call('PUT', `/api/v1/clusters/sync-2/works/${name}`, {
          json: work(name, [cm(name, '1')], { deleteOption: { propagationPolicy: 'Orphan' } }),
        });
      assert.equal((await put2('w1')).status, 201);
      assert.equal((await put2('w2')).status, 201);
      const first = await a2.post<SyncResponse>(agentPaths.sync('sync-2'), {
        revision: 0,
        inventory: {},
        waitSeconds: 0,
      });
      const removing = await admin.delete<{ status: { conditions: { type: string }[] } }>('/api/v1/clusters/sync-2');
      assert.equal(removing.status, 202, removing.text);
      assert.ok(removing.body.status.conditions.some((c) => c.type === 'Removing'));
      // New works are refused while the cluster goes.
      assert.equal((await put2('w3')).status, 409);
      const tombs = await a2.post<SyncResponse>(agentPaths.sync('sync-2'), {
        revision: first.body.revision,
        hubEpoch: first.body.hubEpoch,
        waitSeconds: 5,
      });
      assert.deepEqual(tombs.body.works.map((w) => [w.name, w.deleting, w.deleteOption?.propagationPolicy]).sort(), [
        ['w1', true, 'Orphan'],
        ['w2', true, 'Orphan'],
      ]);
      const reports = tombs.body.works.map((w, i) => ({
        seq: 100 + i,
        work: w.name,
        uid: w.uid,
        generation: w.generation,
        observedAt: new Date().toISOString(),
        status: status(w.generation),
        deleted: true,
      }));
      assert.equal((await a2.post<StatusAck>(agentPaths.status('sync-2'), { reports: [reports[0]] })).status, 200);
      assert.equal((await admin.get('/api/v1/clusters/sync-2')).status, 200, 'still there with one work left');
      assert.equal((await a2.post<StatusAck>(agentPaths.status('sync-2'), { reports: [reports[1]] })).status, 200);
      assert.equal((await admin.get('/api/v1/clusters/sync-2')).status, 404, 'gone after the last work');
      const after = await a2.post(agentPaths.heartbeat('sync-2'), {});
      assert.equal(after.status, 401, 'its certificate is revoked');
    } finally {
      await a2.close();
    }
  });

  test('an agent that remembers another database epoch gets nothing until an admin adopts', async () => {
    const res = await poll({ revision, hubEpoch: 'another-database', waitSeconds: 1, inventory: {} });
    assert.equal(res.body.works.length, 0);
    assert.equal(res.body.epochMismatch?.agentEpoch, 'another-database');
    assert.equal((await admin.post('/api/v1/clusters/sync-1/adopt')).status, 200);
    const adopted = await poll({ revision, hubEpoch: 'another-database', waitSeconds: 1, inventory: {} });
    assert.equal(adopted.body.epochMismatch, undefined);
    assert.equal(adopted.body.hubEpoch, epoch);
    assert.ok(adopted.body.works.length >= 2, 'the adopted hub sends its works in full');
  });

  test('/metrics shows the fleet in the SPEC names', async () => {
    const waiting = poll({ revision: 0, hubEpoch: epoch, waitSeconds: 3, inventory: {} }).catch(() => undefined);
    // A poll whose revision the hub did not send is asked for its inventory (counted below).
    assert.equal((await poll({ revision: 987_654, hubEpoch: epoch })).body.needInventory, true);
    // The hub's port is public: /metrics names every cluster and work, so it needs a token.
    const anonymous = await admin.call('GET', '/metrics', { token: null });
    assert.equal(anonymous.status, 401, anonymous.text);
    const res = await admin.call('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/plain/);
    for (const pattern of [
      /^outpost_clusters\{state="available"\} \d+$/m,
      /^outpost_cluster_available\{cluster="sync-1"\} [01]$/m,
      /^outpost_work_applied\{cluster="sync-1",work="st"\} 1$/m,
      /^outpost_work_conditions\{condition="Applied",status="True"\} \d+$/m,
      /^outpost_longpoll_waiting \d+$/m,
      /^outpost_sync_inventory_requests_total [1-9]\d*$/m,
      /^outpost_certificate_expiry_seconds\{cluster="sync-1"\} \d+$/m,
      /^outpost_ca_expiry_timestamp_seconds\{role="signing"\} \d+$/m,
      /^outpost_ca_not_before_timestamp_seconds\{role="signing"\} \d+$/m,
      /^outpost_http_request_duration_seconds_bucket\{method="POST",route="\/agent\/v1\/clusters\/:name\/sync",status="200",le="\+Inf"\} \d+$/m,
    ]) {
      assert.match(res.text, pattern);
    }
    await waiting;
  });
});

describe('a dropped poll connection (--disconnect-grace)', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let admin: HubClient;
  let edge: JoinedCluster;
  const grace = 2_000;

  before(async () => {
    // Polls held 30 s and three of them allowed to be missed: only a drop can end the lease soon.
    hub = await startHub({ args: ['--poll-timeout', '30s', '--disconnect-grace', `${grace / 1000}s`] });
    admin = await adminClient(hub);
    edge = await joinCluster(hub, admin, 'drop-1');
  });
  after(async () => {
    await admin?.close();
    await hub?.stop();
  });

  const available = async () => {
    const res = await admin.get<{
      status: { conditions: { type: string; status: string; reason: string }[] };
      spec: { taints: { key: string }[] };
    }>('/api/v1/clusters/drop-1');
    return { avail: res.body.status.conditions.find((x) => x.type === 'Available'), taints: res.body.spec.taints };
  };
  /** Starts a poll that the hub holds, then drops its connection without an answer. */
  const dropWhileWaiting = async () => {
    const agent = agentClient(hub, edge);
    const first = await agent.post<SyncResponse>(agentPaths.sync('drop-1'), {
      revision: 0,
      inventory: {},
      waitSeconds: 0,
    });
    assert.equal(first.status, 200, first.text);
    const held = agent
      .post(agentPaths.sync('drop-1'), {
        revision: first.body.revision,
        hubEpoch: first.body.hubEpoch,
        waitSeconds: 30,
      })
      .catch(() => undefined);
    await waitFor(
      'the poll to be held',
      async () => (/^outpost_longpoll_waiting [1-9]/m.test((await admin.get('/metrics')).text) ? true : undefined),
      10_000,
    );
    await agent.agent.destroy();
    await held;
    return first.body;
  };

  /** A poll on a new connection, as a returning agent makes it. */
  const pollAgain = async (sync: SyncResponse) => {
    const agent = agentClient(hub, edge);
    try {
      const res = await agent.post(agentPaths.sync('drop-1'), {
        revision: sync.revision,
        hubEpoch: sync.hubEpoch,
        waitSeconds: 0,
      });
      assert.equal(res.status, 200, res.text);
    } finally {
      await agent.close();
    }
  };

  test('an agent that does not come back is Available=Unknown (ConnectionLost) and tainted after the grace', async () => {
    const sync = await dropWhileWaiting();
    const gone = await waitFor(
      'the cluster to turn unreachable',
      async () => {
        const a = await available();
        return a.avail?.status === 'Unknown' ? a : undefined;
      },
      20_000,
    );
    assert.equal(gone.avail?.reason, 'ConnectionLost');
    assert.ok(gone.taints.some((t) => t.key === 'outpost.dev/unreachable'));
    // ConnectionLost, not LeaseExpired: the drop ended the lease, not three missed 30 s polls.
    // Polling again brings it back at once.
    await pollAgain(sync);
    assert.equal((await available()).avail?.status, 'True');
  });

  test('an agent that polls again within the grace stays Available', async () => {
    const sync = await dropWhileWaiting();
    await pollAgain(sync);
    await new Promise((r) => setTimeout(r, grace + 1_000));
    assert.equal((await available()).avail?.status, 'True');
  });
});

describe('a stopping hub', { timeout: 120_000 }, () => {
  test('tells a waiting poll when to come back (503 HUB_STOPPING, Retry-After after a restart) instead of letting it poll again at once', async () => {
    const hub = await startHub({ args: ['--poll-timeout', '30s'] });
    const admin = await adminClient(hub);
    const edge = await joinCluster(hub, admin, 'stop-1');
    const agent = agentClient(hub, edge);
    try {
      const first = await agent.post<SyncResponse>(agentPaths.sync('stop-1'), {
        revision: 0,
        inventory: {},
        waitSeconds: 0,
      });
      assert.equal(first.status, 200, first.text);
      const held = agent.post(
        agentPaths.sync('stop-1'),
        { revision: first.body.revision, hubEpoch: first.body.hubEpoch, waitSeconds: 30 },
        { timeoutMs: 60_000 },
      );
      await waitFor(
        'the poll to be held',
        async () => (/^outpost_longpoll_waiting [1-9]/m.test((await admin.get('/metrics')).text) ? true : undefined),
        10_000,
      );
      const stopped = hub.stop();
      const res = await held;
      assert.equal(res.status, 503, res.text);
      assert.equal((res.body as { code: string }).code, 'HUB_STOPPING');
      // One poll waited: come back after the restart's 5 s, within the spread of one second.
      const after = Number(res.headers['retry-after']);
      // 5 s, plus 1 s per 1,000 polls that waited (here one), plus a draw within one second.
      assert.ok(after >= 6 && after <= 7, `retry-after ${res.headers['retry-after']}`);
      assert.equal(await stopped, 0, 'a clean stop');
    } finally {
      await agent.close();
      await admin.close();
      await hub.stop();
    }
  });
});
