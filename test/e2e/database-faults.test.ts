// The hub's database failing under it, end to end, with real PostgreSQL servers:
// - unreachable for 60 s (the server stopped, its port closed): the hub serves on, answers
//   503 HUB_DATABASE_UNAVAILABLE with Retry-After and fails /readyz; a real agent on a real
//   kube-apiserver keeps enforcing what it holds and deletes nothing; once the database is
//   back the hub is ready again and a new change reaches the spoke. A write in flight when
//   the database goes away (held inside its transaction by a row lock) is answered 503 too;
// - silent for 60 s (the server frozen: connections open, nothing answers, as behind a
//   partition): every call is still answered 503, none waits for the server;
// - a primary failover (a synchronous warm standby promoted, HAProxy in front sending
//   clients to whichever server takes them): two hub replicas are unready while no database
//   answers, ready after; writes in flight at the kill are answered 503 and leave nothing;
//   every write they acknowledged is there after the failover; new writes succeed through
//   both; a poll held on one wakes on a write through the other (the LISTEN connections
//   came back);
// - a read-only database (a hot standby taking clients before it is promoted): what it cannot
//   serve is 503 with Retry-After, not a 500.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { Client } from 'pg';
import { request } from 'undici';
import { agentPaths, type SyncResponse } from '../../packages/shared/src/index.ts';
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { type LoadBalancer, startLoadBalancer } from '../lb/index.ts';
import { type PostgresServer, type StandbyServer, startPostgres, startStandby } from '../pg/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import {
  adminClient,
  agentClient,
  anonymousClient,
  assertError,
  createToken,
  HubClient,
  type JoinedCluster,
  type JsonResponse,
  joinCluster,
  readAdminToken,
  waitFor,
  waitWorkApplied,
} from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const figure = (line: string) => process.stdout.write(`# ${line}\n`);

/** A hub process that has neither exited nor been killed. */
const alive = (p: { proc: { exitCode: number | null; signalCode: NodeJS.Signals | null } }) =>
  p.proc.exitCode === null && p.proc.signalCode === null;

/** Fails at once when the hub process has exited, with the end of its output (how it ended). */
function assertHubAlive(hub: HubProcess, label = 'the hub'): void {
  assert.ok(
    alive(hub),
    `${label} exited (${hub.proc.exitCode ?? hub.proc.signalCode}); the end of its output:\n${hub.output().slice(-4000)}`,
  );
}

/** The answer a request that needs the database gets while it does not answer. */
function assertUnavailable(res: JsonResponse, what: string): void {
  assertError(res, 503, 'HUB_DATABASE_UNAVAILABLE', what);
  const retry = res.headers['retry-after'];
  assert.match(String(retry), /^[1-9]\d*$/, `${what}: Retry-After in whole seconds, got ${String(retry)}`);
}

/**
 * Holds the row of cluster `name` locked (SELECT … FOR UPDATE in a transaction left open) on
 * a connection of its own to `url`: a hub's write of that row then waits inside its
 * transaction, so the write is in flight when the database goes away.
 */
async function lockClusterRow(url: string, name: string): Promise<Client> {
  const locker = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // The server going away ends this connection too.
  locker.on('error', () => undefined);
  await locker.connect();
  await locker.query('BEGIN');
  const { rowCount } = await locker.query('SELECT name FROM clusters WHERE name = $1 FOR UPDATE', [name]);
  assert.equal(rowCount, 1, `cluster ${name} has a row`);
  return locker;
}

/**
 * Waits until `n` sessions of the server of `url` wait for a lock in a write of a cluster's
 * labels (pg_stat_activity): not, say, an agent's heartbeat.
 */
async function waitLabelWritersLocked(url: string, n: number): Promise<void> {
  await waitFor(
    `${n} writes of cluster labels waiting for the row lock`,
    async () => {
      const probe = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const { rows } = await probe.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE clusters SET %labels%'`,
        );
        return (rows[0]?.n ?? 0) >= n ? true : undefined;
      } finally {
        await probe.end().catch(() => undefined);
      }
    },
    20_000,
  );
}

const configMap = (ns: string, name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { value },
});

interface WorkView {
  metadata: { name: string; generation: number; uid: string };
  spec: { workload: { manifests: { metadata: { name: string }; data?: { value?: string } }[] } };
  status: { corrections?: number };
}

// ---------------------------------------------------------------------------------------

describe('database unreachable for 60 s (hub on PostgreSQL, real agent, real kube-apiserver)', {
  timeout: 480_000,
}, () => {
  const cluster = 'spoke-dbf';
  const ns = 'dbfaults';
  const outageMs = 60_000;
  let pg: PostgresServer;
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  let anon: HubClient;
  let agent: AgentProcess;
  let core: CoreV1Api;
  /** The uid of every object the work made, as last seen (b changes once: deleted by hand). */
  const uids: Record<string, string> = {};

  const work = (values: Record<string, string>) => ({
    apiVersion: 'work.open-cluster-management.io/v1',
    kind: 'ManifestWork',
    metadata: { name: 'app' },
    spec: {
      workload: {
        manifests: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
          ...Object.entries(values).map(([name, value]) => configMap(ns, name, value)),
        ],
      },
    },
  });

  before(async () => {
    pg = await startPostgres();
    kube = await startCluster({ name: cluster });
    core = kube.kubeConfig().makeApiClient(CoreV1Api);
    hub = await startHub({ args: ['--database', pg.url, '--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    anon = anonymousClient(hub);
    await joinSpoke(hub, admin, cluster, kube.kubeconfigPath);
    // The periodic re-apply 10 minutes away (5 by default): the agent's watches alone repair.
    agent = startAgent(spokeRunArgs(kube.kubeconfigPath, '10m'));
    await agent.waitForOutput(new RegExp(`serving cluster ${cluster}`));
  });

  after(async () => {
    await agent?.stop();
    await admin?.close();
    await anon?.close();
    await hub?.stop();
    await kube?.stop();
    await pg?.stop();
  });

  const readCm = async (name: string): Promise<V1ConfigMap | undefined> => {
    try {
      return await core.readNamespacedConfigMap({ name, namespace: ns });
    } catch {
      return undefined;
    }
  };
  /** Every object the work made is there, and none was replaced (deleted and made again). */
  const assertNothingDeleted = async (what: string) => {
    const nsUid = (await core.readNamespace({ name: ns })).metadata?.uid;
    assert.equal(nsUid, uids.namespace, `${what}: namespace ${ns} kept`);
    for (const name of ['a', 'b', 'c']) {
      const found = await readCm(name);
      assert.ok(found, `${what}: ConfigMap ${name} is there`);
      assert.equal(found.metadata?.uid, uids[name], `${what}: ConfigMap ${name} kept (same uid)`);
    }
  };

  test('the work is applied before the outage', async () => {
    const res = await admin.call('PUT', `/api/v1/clusters/${cluster}/works/app`, {
      json: work({ a: '1', b: '1', c: '1' }),
    });
    assert.equal(res.status, 201, res.text);
    await waitWorkApplied(admin, cluster, 'app', 1, 60_000);
    uids.namespace = (await core.readNamespace({ name: ns })).metadata?.uid ?? '';
    for (const name of ['a', 'b', 'c']) uids[name] = (await readCm(name))?.metadata?.uid ?? '';
    assert.ok(Object.values(uids).every(Boolean), JSON.stringify(uids));
    const ready = await anon.get('/readyz');
    assert.equal(ready.status, 200, ready.text);
  });

  test('for 60 s without the database: 503 with Retry-After, not ready, the hub serves on, the agent repairs and deletes nothing', async () => {
    await pg.stop({ keep: true });
    const down = Date.now();

    const notReady = await waitFor(
      '/readyz to fail once the database is down',
      async () => {
        const r = await anon.get('/readyz');
        return r.status === 200 ? undefined : r;
      },
      30_000,
    );
    assertError(notReady, 503, 'HUB_NOT_READY', '/readyz');

    let answered503 = 0;
    /** What an operator and the agent see, at any moment of the outage. */
    const oneRound = async (when: string) => {
      assertHubAlive(hub, `${when}: the hub`);
      assert.ok(alive(agent), `${when}: the agent process runs`);
      const health = await anon.get('/healthz');
      assert.equal(health.status, 200, `${when}: /healthz ${health.text}`);
      assertError(await anon.get('/readyz'), 503, 'HUB_NOT_READY', `${when}: /readyz`);
      const calls: [string, () => Promise<JsonResponse>][] = [
        ['GET work', () => admin.get(`/api/v1/clusters/${cluster}/works/app`)],
        ['GET clusters', () => admin.get('/api/v1/clusters')],
        [
          'PUT work',
          () =>
            admin.call('PUT', `/api/v1/clusters/${cluster}/works/app`, {
              json: work({ a: 'x', b: 'x', c: 'x' }),
            }),
        ],
        ['POST bootstraptokens', () => admin.post('/api/v1/bootstraptokens', { spec: {} })],
      ];
      for (const [what, call] of calls) {
        assertUnavailable(await call(), `${when}: ${what}`);
        answered503++;
      }
      await assertNothingDeleted(when);
    };

    await oneRound('at the start of the outage');

    // Drift during the outage: the agent puts back what was deleted by hand, from what it holds.
    await core.deleteNamespacedConfigMap({ name: 'b', namespace: ns });
    const deletedAt = Date.now();
    const recreated = await waitFor(
      'ConfigMap b made again by the agent while the database is down',
      async () => {
        const found = await readCm('b');
        return found && found.metadata?.uid !== uids.b ? found : undefined;
      },
      30_000,
    );
    figure(`outage: the agent recreated a deleted ConfigMap ${Date.now() - deletedAt} ms after the delete`);
    assert.equal(recreated.data?.value, '1');
    uids.b = recreated.metadata?.uid ?? '';

    let rounds = 1;
    for (;;) {
      const left = outageMs - (Date.now() - down);
      if (left <= 0) break;
      await sleep(Math.min(5_000, left));
      await oneRound(`${Math.round((Date.now() - down) / 1000)} s into the outage`);
      rounds++;
    }
    figure(
      `outage: ${Date.now() - down} ms without the database, ${rounds} rounds, ${answered503} admin calls answered 503`,
    );

    // The agent's polls were refused the same way, and it kept what it held.
    assert.match(agent.stdout() + agent.stderr(), /sync failed; keeping the last desired state/);
    assert.match(agent.stdout() + agent.stderr(), /HUB_DATABASE_UNAVAILABLE/);
  });

  test('the database back: ready again, the API answers, a new change reaches the spoke, nothing deleted', async () => {
    assertHubAlive(hub);
    await pg.restart();
    const back = Date.now();
    await waitFor(
      '/readyz ready once the database is back',
      async () => ((await anon.get('/readyz')).status === 200 ? true : undefined),
      60_000,
    );
    figure(`recovery: /readyz ready ${Date.now() - back} ms after the database accepted connections again`);
    assertHubAlive(hub);

    const got = await admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/app`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.body.metadata.generation, 1, 'no write of the outage went through');
    assert.deepEqual(
      got.body.spec.workload.manifests.map((m) => m.data?.value ?? null),
      [null, '1', '1', '1'],
    );
    const clusters = await admin.get('/api/v1/clusters');
    assert.equal(clusters.status, 200, clusters.text);

    const edit = await admin.call<WorkView>('PUT', `/api/v1/clusters/${cluster}/works/app`, {
      json: work({ a: '1', b: '1', c: '2', d: '1' }),
    });
    assert.equal(edit.status, 200, edit.text);
    assert.equal(edit.body.metadata.generation, 2);
    const edited = Date.now();
    await waitWorkApplied(admin, cluster, 'app', 2, 120_000);
    figure(`recovery: the edit applied on the spoke ${Date.now() - edited} ms after it was written`);
    assert.equal((await readCm('c'))?.data?.value, '2');
    assert.equal((await readCm('d'))?.data?.value, '1');
    await assertNothingDeleted('after the outage');

    // The repair made during the outage reached the hub from the agent's outbox.
    const corrected = await waitFor(
      'the correction of the outage reported to the hub',
      async () => {
        const w = (await admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/app`)).body;
        return (w.status.corrections ?? 0) >= 1 ? w : undefined;
      },
      60_000,
    );
    assert.equal(corrected.status.corrections, 1);
    assert.ok(alive(agent), 'the agent process runs');
  });

  test('a write in flight when the database goes away is answered 503; the hub serves on and is ready once it is back', async () => {
    // The write waits on a row lock inside its transaction when the server shuts down.
    const locker = await lockClusterRow(pg.url, cluster);
    const inFlight = outcome(() =>
      admin.patch(`/api/v1/clusters/${cluster}`, { metadata: { labels: { inflight: 'yes' } } }, { timeoutMs: 60_000 }),
    );
    await waitLabelWritersLocked(pg.url, 1);
    await pg.stop({ keep: true });
    await locker.end().catch(() => undefined);
    const cut = await inFlight;
    assertHubAlive(hub, 'the hub, after a write in flight lost its database');
    assert.ok(cut.res, `the write in flight was answered: ${cut.text}`);
    assertUnavailable(cut.res, 'the write in flight when the database went away');
    assertError(await anon.get('/readyz'), 503, 'HUB_NOT_READY', '/readyz');

    await pg.restart();
    await waitFor(
      '/readyz ready once the database is back',
      async () => {
        assertHubAlive(hub);
        return (await anon.get('/readyz')).status === 200 ? true : undefined;
      },
      60_000,
    );
    const spoke = await admin.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/clusters/${cluster}`);
    assert.equal(spoke.status, 200, spoke.text);
    assert.equal(spoke.body.metadata.labels?.inflight, undefined, 'the write cut off by the outage left nothing');
  });
});

// ---------------------------------------------------------------------------------------

/** The outcome of one call, as the fault tests tally them. */
async function outcome(call: () => Promise<JsonResponse>): Promise<{ text: string; res?: JsonResponse }> {
  const started = Date.now();
  try {
    const res = await call();
    const code = (res.body as { code?: string } | undefined)?.code;
    return { text: `${res.status}${code ? ` ${code}` : ''}`, res };
  } catch (err) {
    return { text: `no answer (${(err as Error).message}) after ${Date.now() - started} ms` };
  }
}

describe('database silent for 60 s (the server frozen: connections stay open, nothing answers)', {
  timeout: 300_000,
}, () => {
  const outageMs = 60_000;
  /** How long a call may take: well over the hub's 10 s bound on a connection the server does not answer. */
  const callBoundMs = 45_000;
  let pg: PostgresServer;
  let hub: HubProcess;
  let admin: HubClient;
  let anon: HubClient;

  before(async () => {
    pg = await startPostgres();
    hub = await startHub({ args: ['--database', pg.url, '--poll-timeout', '5s'] });
    admin = await adminClient(hub, { connections: 8 });
    anon = anonymousClient(hub);
  });

  after(async () => {
    pg?.thaw();
    await admin?.close();
    await anon?.close();
    await hub?.stop();
    await pg?.stop();
  });

  test('every call answers 503 with Retry-After, /readyz fails, the hub serves on', async () => {
    // The pool holds open connections when the server stops answering: those of these calls.
    const warm = await Promise.all([0, 1, 2, 3].map(() => admin.get('/api/v1/clusters')));
    assert.deepEqual(
      warm.map((r) => r.status),
      [200, 200, 200, 200],
    );
    await pg.freeze();
    const frozen = Date.now();
    const seen = new Map<string, number>();
    const wrong: string[] = [];
    let rounds = 0;
    while (Date.now() - frozen < outageMs) {
      const at = Math.round((Date.now() - frozen) / 1000);
      const calls: [string, string, () => Promise<JsonResponse>][] = [
        ['/readyz', 'HUB_NOT_READY', () => anon.get('/readyz', { timeoutMs: callBoundMs })],
        ['GET clusters', 'HUB_DATABASE_UNAVAILABLE', () => admin.get('/api/v1/clusters', { timeoutMs: callBoundMs })],
        [
          'POST bootstraptokens',
          'HUB_DATABASE_UNAVAILABLE',
          () => admin.post('/api/v1/bootstraptokens', { spec: {} }, { timeoutMs: callBoundMs }),
        ],
      ];
      const results = await Promise.all(calls.map(([, , call]) => outcome(call)));
      for (const [i, [what, code]] of calls.entries()) {
        const { text, res } = results[i] as { text: string; res?: JsonResponse };
        const key = `${what}: ${text.replace(/ after \d+ ms$/, '')}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        const retry = res?.headers['retry-after'];
        const ok =
          res?.status === 503 &&
          (res.body as { code?: string } | undefined)?.code === code &&
          (code === 'HUB_NOT_READY' || /^[1-9]\d*$/.test(String(retry)));
        if (!ok) wrong.push(`${at} s into the outage, ${what}: ${text}`);
      }
      assertHubAlive(hub);
      assert.equal((await anon.get('/healthz')).status, 200, '/healthz');
      rounds++;
      await sleep(2_000);
    }
    figure(
      `silent database: ${rounds} rounds in ${Date.now() - frozen} ms; answers: ${JSON.stringify(Object.fromEntries(seen))}`,
    );
    assert.deepEqual(
      wrong,
      [],
      'every call answered 503 (HUB_NOT_READY for /readyz, else HUB_DATABASE_UNAVAILABLE with Retry-After)',
    );
  });

  test('the server answering again: ready, the API answers', async () => {
    pg.thaw();
    const back = Date.now();
    await waitFor(
      '/readyz ready once the server answers again',
      async () => ((await anon.get('/readyz', { timeoutMs: callBoundMs })).status === 200 ? true : undefined),
      90_000,
    );
    figure(`silent database: /readyz ready ${Date.now() - back} ms after the server answered again`);
    const list = await admin.get('/api/v1/clusters');
    assert.equal(list.status, 200, list.text);
    const made = await admin.post('/api/v1/bootstraptokens', { spec: {} });
    assert.equal(made.status, 201, made.text);
    assertHubAlive(hub);
  });
});

// ---------------------------------------------------------------------------------------

/** When a hub answered /readyz how (true: 200). */
interface Sample {
  at: number;
  ready: boolean;
}

/** Samples /readyz of `hub` every 200 ms until stopped. */
function watchReadiness(hub: HubProcess): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  const client = anonymousClient(hub);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      let ready = false;
      try {
        ready = (await client.get('/readyz', { timeoutMs: 15_000 })).status === 200;
      } catch {
        ready = false;
      }
      samples.push({ at: Date.now(), ready });
      await sleep(200);
    }
  })();
  let stopping: Promise<void> | undefined;
  return {
    samples,
    stop() {
      stopped = true;
      stopping ??= loop.then(() => client.close());
      return stopping;
    },
  };
}

interface Written {
  name: string;
  value: string;
  /** From the answer's body; absent when the hub sent a 2xx and then cut the body off. */
  generation?: number;
  uid?: string;
  via: number;
  at: number;
}

/** An answer to a PUT: its status as soon as it came; the body, or how it was cut off. */
interface PutAnswer extends JsonResponse<WorkView> {
  cut?: string;
}

describe('PostgreSQL primary failover under two hub replicas (synchronous standby promoted, HAProxy in front)', {
  timeout: 420_000,
}, () => {
  const cluster = 'fo-1';
  let primary: PostgresServer;
  let standby: StandbyServer;
  let lb: LoadBalancer;
  let keyDir = '';
  const hubs: HubProcess[] = [];
  const admins: HubClient[] = [];
  let joined: JoinedCluster;
  /** Every write a hub acknowledged (2xx), by work name. */
  const acked = new Map<string, Written>();
  const tokens: { id: string; via: number }[] = [];
  let token = '';

  before(async () => {
    // The primary commits only once the standby has the commit (synchronous_commit on and the
    // standby in synchronous_standby_names). The standby is warm: it takes no client until
    // promoted, so HAProxy's PostgreSQL check passes it only once it is the primary (what a
    // load balancer asking Patroni or a cloud's endpoint does in production).
    primary = await startPostgres({ settings: { synchronous_commit: 'on' } });
    standby = await startStandby(primary, { synchronous: true, hotStandby: false });
    lb = await startLoadBalancer([{ port: primary.port }, { port: standby.port, backup: true }], {
      check: { kind: 'pgsql', user: primary.user },
    });
    const url = `postgres://${primary.user}@127.0.0.1:${lb.port}/${primary.database}`;
    keyDir = await mkdtemp(join(tmpdir(), 'outpost-dbfaults-key-'));
    const first = await startHub({ args: ['--database', url, '--poll-timeout', '60s'] });
    hubs.push(first);
    const kekFile = join(keyDir, 'pki.kek');
    await copyFile(join(first.dataDir, 'pki.kek'), kekFile);
    hubs.push(await startHub({ args: ['--database', url, '--kek-file', kekFile, '--poll-timeout', '60s'] }));
    token = await readAdminToken(first.dataDir);
    for (const h of hubs) admins.push(new HubClient(h.url, { ca: h.caCertPem, token }));
  });

  after(async () => {
    for (const a of admins) await a.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await lb?.stop();
    await standby?.stop();
    await primary?.stop();
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  const workBody = (name: string, value: string) => ({
    apiVersion: 'work.open-cluster-management.io/v1',
    kind: 'ManifestWork',
    metadata: { name },
    spec: { workload: { manifests: [configMap('failover', name, value)] } },
  });
  /**
   * PUT through hub `via`; the answer, and the write recorded when acknowledged (a 2xx status,
   * also one whose body was then cut off). Read apart from its body, so that a status that came
   * is known even when the body does not follow.
   */
  const putWork = async (via: number, name: string, value: string, timeoutMs = 30_000): Promise<PutAnswer> => {
    const res = await request(`${(hubs[via] as HubProcess).url}/api/v1/clusters/${cluster}/works/${name}`, {
      method: 'PUT',
      dispatcher: (admins[via] as HubClient).agent,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(workBody(name, value)),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    let text = '';
    let cut: string | undefined;
    let body: WorkView | undefined;
    try {
      text = await res.body.text();
      body = text ? (JSON.parse(text) as WorkView) : undefined;
    } catch (err) {
      if (text === '') cut = (err as Error).message;
    }
    if (res.statusCode === 200 || res.statusCode === 201) {
      acked.set(name, {
        name,
        value,
        generation: body?.metadata.generation,
        uid: body?.metadata.uid,
        via,
        at: Date.now(),
      });
    }
    return { status: res.statusCode, headers: res.headers, text, body: body as WorkView, ...(cut ? { cut } : {}) };
  };

  test('state written through both hubs: a joined cluster, tokens, works and edits', async () => {
    const [a, b] = admins as [HubClient, HubClient];
    const t = await createToken(b, { autoApprove: true, ttl: '1h' });
    joined = await joinCluster(hubs[0] as HubProcess, a, cluster, { token: t.token });
    for (let i = 0; i < 10; i++) {
      const via = i % 2;
      const made = await createToken(admins[via] as HubClient, { ttl: '1h' });
      tokens.push({ id: made.id, via });
    }
    for (let i = 0; i < 30; i++) {
      const res = await putWork(i % 2, `before-${i}`, `v${i}`);
      assert.equal(res.status, 201, res.text);
    }
    // Edits through the other hub than the one that made the work.
    for (let i = 0; i < 30; i += 3) {
      const res = await putWork((i + 1) % 2, `before-${i}`, `v${i}-edited`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.metadata.generation, 2);
    }
  });

  const figures: string[] = [];

  test('the primary is killed and the standby promoted: unready while no database answers, ready after; only 503s meanwhile', async () => {
    const monitors = hubs.map(watchReadiness);
    const unexpected: string[] = [];
    const failures = new Map<string, number>();
    let writing = true;
    let seq = 0;
    const writers = [0, 1].map(async (via) => {
      while (writing) {
        const name = `during-${via}-${seq++}`;
        try {
          const res = await putWork(via, name, `d${seq}`);
          if (res.cut) {
            // A status came, then the connection closed before the body: the caller cannot
            // tell what happened (a 2xx is checked like any acknowledged write all the same).
            unexpected.push(`${name} via hub ${via}: ${res.status} sent, then the body was cut off (${res.cut})`);
          } else if (res.status !== 201) {
            const code = (res.body as { code?: string } | undefined)?.code ?? '';
            const key = `${res.status} ${code}`;
            failures.set(key, (failures.get(key) ?? 0) + 1);
            if (res.status !== 503 || code !== 'HUB_DATABASE_UNAVAILABLE' || !res.headers['retry-after']) {
              unexpected.push(`${name} via hub ${via}: ${res.status} ${res.text.slice(0, 300)}`);
            }
          }
        } catch (err) {
          // No answer at all (the hub did not answer in 30 s): not acknowledged, and noted.
          unexpected.push(`${name} via hub ${via}: ${(err as Error).message}`);
        }
        await sleep(100);
      }
    });
    try {
      await waitFor(
        'writes acknowledged before the failover',
        async () => (acked.size >= 60 ? true : undefined),
        30_000,
      );
      // A write through each hub in flight at the kill: waiting on a row lock inside its transaction.
      const locker = await lockClusterRow(primary.url, cluster);
      const inFlight = [0, 1].map((via) =>
        outcome(() =>
          (admins[via] as HubClient).patch(
            `/api/v1/clusters/${cluster}`,
            { metadata: { labels: { [`inflight-${via}`]: 'yes' } } },
            { timeoutMs: 60_000 },
          ),
        ),
      );
      await waitLabelWritersLocked(primary.url, 2);
      const killed = Date.now();
      await primary.crash('SIGKILL');
      await locker.end().catch(() => undefined);
      for (const [via, cut] of (await Promise.all(inFlight)).entries()) {
        assertHubAlive(hubs[via] as HubProcess, `hub ${via}, after a write in flight lost its database`);
        const code = (cut.res?.body as { code?: string } | undefined)?.code;
        if (cut.res?.status !== 503 || code !== 'HUB_DATABASE_UNAVAILABLE' || !cut.res.headers['retry-after']) {
          unexpected.push(`the write in flight through hub ${via}: ${cut.text} ${cut.res?.text.slice(0, 300) ?? ''}`);
        }
      }

      // Nothing answers now: the primary is gone and the standby takes no client yet.
      for (const [i, m] of monitors.entries()) {
        await waitFor(
          `hub ${i} unready after the primary was killed`,
          async () => {
            assertHubAlive(hubs[i] as HubProcess, `hub ${i}`);
            return m.samples.some((s) => s.at > killed && !s.ready) ? true : undefined;
          },
          30_000,
        );
      }
      const promoting = Date.now();
      await standby.promote();
      const promoted = Date.now();

      for (const [i, m] of monitors.entries()) {
        await waitFor(
          `hub ${i} ready again after the promotion`,
          async () => {
            assertHubAlive(hubs[i] as HubProcess, `hub ${i}`);
            return m.samples.some((s) => s.at > promoted && s.ready) ? true : undefined;
          },
          60_000,
        );
      }
      const firstAfter = await waitFor(
        'a write acknowledged through each hub after the promotion',
        async () => {
          const after = [0, 1].map((via) =>
            Math.min(...[...acked.values()].filter((w) => w.via === via && w.at > promoted).map((w) => w.at)),
          );
          return after.every(Number.isFinite) ? Math.min(...after) : undefined;
        },
        60_000,
      );
      writing = false;
      await Promise.all(writers);
      await Promise.all(monitors.map((m) => m.stop()));

      for (const [i, m] of monitors.entries()) {
        const firstDown = m.samples.find((s) => s.at > killed && !s.ready) as Sample;
        const upAgain = m.samples.find((s) => s.at > firstDown.at && s.ready) as Sample;
        assert.ok(upAgain, `hub ${i} ready again`);
        assert.ok(
          m.samples.filter((s) => s.at > upAgain.at).every((s) => s.ready),
          `hub ${i} stays ready once the new primary answers`,
        );
        figures.push(
          `failover: hub ${i} unready for ${upAgain.at - firstDown.at} ms (${firstDown.at - killed} ms after the kill until first seen unready; ready ${upAgain.at - promoted} ms after the promotion)`,
        );
      }
      figures.push(`failover: promotion (pg_ctl promote --wait) took ${promoted - promoting} ms`);
      figures.push(
        `failover: first write acknowledged ${firstAfter - promoted} ms after the promotion (${firstAfter - killed} ms after the kill)`,
      );
      figures.push(
        `failover: writes during the run: ${[...acked.keys()].filter((n) => n.startsWith('during-')).length} acknowledged, refused: ${JSON.stringify(Object.fromEntries(failures))}`,
      );
      for (const line of figures) figure(line);
      assert.deepEqual(
        unexpected,
        [],
        'every write not acknowledged was refused 503 HUB_DATABASE_UNAVAILABLE with Retry-After',
      );
      for (const [i, h] of hubs.entries()) assertHubAlive(h, `hub ${i}`);
    } finally {
      writing = false;
      await Promise.all(writers);
      await Promise.all(monitors.map((m) => m.stop()));
    }
  });

  test('every acknowledged write is there after the failover, read through either hub', async () => {
    for (const [i, h] of hubs.entries()) assertHubAlive(h, `hub ${i}`);
    assert.ok(acked.size > 40, `${acked.size} writes recorded`);
    for (const [i, admin] of admins.entries()) {
      const missing: string[] = [];
      const wrong: string[] = [];
      for (const w of acked.values()) {
        const res = await admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/${w.name}`);
        if (res.status === 404) {
          missing.push(w.name);
          continue;
        }
        assert.equal(res.status, 200, res.text);
        const got = res.body;
        const value = got.spec.workload.manifests[0]?.data?.value;
        const uidOk = w.uid === undefined || got.metadata.uid === w.uid;
        const generationOk = w.generation === undefined || got.metadata.generation === w.generation;
        if (!uidOk || !generationOk || value !== w.value) {
          wrong.push(`${w.name}: uid ${got.metadata.uid} generation ${got.metadata.generation} value ${value}`);
        }
      }
      assert.deepEqual(missing, [], `through hub ${i}: acknowledged works missing after the failover`);
      assert.deepEqual(wrong, [], `through hub ${i}: acknowledged works changed by the failover`);
      for (const t of tokens) {
        const res = await admin.get(`/api/v1/bootstraptokens/${t.id}`);
        assert.equal(res.status, 200, `token ${t.id} (made through hub ${t.via}), through hub ${i}: ${res.text}`);
      }
      const c = await admin.get<{ metadata: { labels?: Record<string, string> } }>(`/api/v1/clusters/${cluster}`);
      assert.equal(c.status, 200, c.text);
      assert.deepEqual(
        Object.keys(c.body.metadata.labels ?? {}).filter((k) => k.startsWith('inflight')),
        [],
        'the writes cut off by the kill left nothing',
      );
    }
  });

  test('new writes succeed through both hubs after the failover', async () => {
    for (const [i, h] of hubs.entries()) assertHubAlive(h, `hub ${i}`);
    for (const via of [0, 1]) {
      const res = await putWork(via, `after-${via}`, 'new');
      assert.equal(res.status, 201, res.text);
      const edit = await putWork(1 - via, `after-${via}`, 'newer');
      assert.equal(edit.status, 200, edit.text);
      const token = await (admins[via] as HubClient).post('/api/v1/bootstraptokens', { spec: { ttl: '1h' } });
      assert.equal(token.status, 201, token.text);
    }
  });

  test('a poll held on one hub wakes on a write through the other, both ways, after the failover', async () => {
    for (const [i, h] of hubs.entries()) assertHubAlive(h, `hub ${i}`);
    // Twice each way: the first may be answered by the look again a listener makes once it is
    // back (what was notified meanwhile is lost); the second only by a notification.
    for (const [holder, writer, round] of [
      [1, 0, 1],
      [0, 1, 1],
      [1, 0, 2],
      [0, 1, 2],
    ] as const) {
      const agent = agentClient(hubs[holder] as HubProcess, joined);
      try {
        // What the agent holds: everything the hub has (its inventory poll answers it all).
        const first = await agent.post<SyncResponse>(
          agentPaths.sync(cluster),
          { revision: 0, inventory: {}, waitSeconds: 0 },
          { timeoutMs: 30_000 },
        );
        assert.equal(first.status, 200, first.text);
        let answered = false;
        const waiting = agent
          .post<SyncResponse>(
            agentPaths.sync(cluster),
            { revision: first.body.revision, hubEpoch: first.body.hubEpoch, waitSeconds: 60 },
            { timeoutMs: 90_000 },
          )
          .finally(() => {
            answered = true;
          });
        await sleep(1_000);
        assert.equal(answered, false, `the poll on hub ${holder} is held`);
        const name = `wake-${holder}-${round}`;
        const written = Date.now();
        const put = await putWork(writer, name, 'wake');
        assert.equal(put.status, 201, put.text);
        // The hold is 54–66 s: an answer well before it ends was woken by the write.
        const res = await Promise.race([waiting, sleep(40_000).then(() => 'still held' as const)]);
        assert.notEqual(
          res,
          'still held',
          `the poll on hub ${holder} was not woken by the write through hub ${writer}`,
        );
        const woke = res as JsonResponse<SyncResponse>;
        assert.equal(woke.status, 200, woke.text);
        assert.deepEqual(
          woke.body.works.map((w) => w.name),
          [name],
        );
        figure(
          `after the failover: a poll held on hub ${holder} answered ${Date.now() - written} ms after a write through hub ${writer}`,
        );
      } finally {
        await agent.close();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------

describe('a read-only database: a hot standby the load balancer sends clients to before it is promoted', {
  timeout: 300_000,
}, () => {
  const cluster = 'ro-1';
  let primary: PostgresServer;
  let standby: StandbyServer;
  let lb: LoadBalancer;
  let hub: HubProcess;
  let admin: HubClient;
  let anon: HubClient;
  let agent: HubClient;

  before(async () => {
    // A hot standby passes HAProxy's PostgreSQL check as a primary does (it accepts the
    // start-up): with the primary gone, the hub's connections reach a server in recovery.
    primary = await startPostgres({ settings: { synchronous_commit: 'on' } });
    standby = await startStandby(primary, { synchronous: true, hotStandby: true });
    lb = await startLoadBalancer([{ port: primary.port }, { port: standby.port, backup: true }], {
      check: { kind: 'pgsql', user: primary.user },
    });
    hub = await startHub({
      args: [
        '--database',
        `postgres://${primary.user}@127.0.0.1:${lb.port}/${primary.database}`,
        '--poll-timeout',
        '5s',
      ],
    });
    admin = await adminClient(hub);
    anon = anonymousClient(hub);
    const joined = await joinCluster(hub, admin, cluster);
    agent = agentClient(hub, joined);
    const put = await admin.call('PUT', `/api/v1/clusters/${cluster}/works/app`, {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'app' },
        spec: { workload: { manifests: [configMap('ro', 'a', '1')] } },
      },
    });
    assert.equal(put.status, 201, put.text);
  });

  after(async () => {
    await agent?.close();
    await admin?.close();
    await anon?.close();
    await hub?.stop();
    await lb?.stop();
    await standby?.stop();
    await primary?.stop();
  });

  test('while the database is read-only, a request it cannot serve is 503 with Retry-After, never 500', async () => {
    await primary.crash('SIGKILL');
    const killed = Date.now();
    // The hub is served by the standby once a read through it succeeds again.
    await waitFor(
      'a read answered by the standby',
      async () => {
        const res = await outcome(() => admin.get('/api/v1/clusters'));
        assertHubAlive(hub);
        return res.res?.status === 200 ? true : undefined;
      },
      30_000,
    );
    figure(`read-only database: reads answered by the standby ${Date.now() - killed} ms after the primary was killed`);
    const seen = new Map<string, number>();
    const wrong = new Set<string>();
    const calls: [string, () => Promise<JsonResponse>][] = [
      ['/readyz', () => anon.get('/readyz')],
      ['GET clusters', () => admin.get('/api/v1/clusters')],
      ['GET work', () => admin.get(`/api/v1/clusters/${cluster}/works/app`)],
      ['POST bootstraptokens', () => admin.post('/api/v1/bootstraptokens', { spec: {} })],
      [
        'PATCH cluster labels',
        () => admin.patch(`/api/v1/clusters/${cluster}`, { metadata: { labels: { tier: 'x' } } }),
      ],
      [
        'agent poll',
        () =>
          agent.post(agentPaths.sync(cluster), { revision: 0, inventory: {}, waitSeconds: 0 }, { timeoutMs: 30_000 }),
      ],
    ];
    for (let round = 0; round < 5; round++) {
      for (const [what, call] of calls) {
        const { text, res } = await outcome(call);
        seen.set(`${what}: ${text}`, (seen.get(`${what}: ${text}`) ?? 0) + 1);
        if (!res) wrong.add(`${what}: ${text}`);
        if (!res || what === '/readyz') continue;
        const code = (res.body as { code?: string } | undefined)?.code;
        const refusedAsUnavailable =
          res.status === 503 &&
          code === 'HUB_DATABASE_UNAVAILABLE' &&
          /^[1-9]\d*$/.test(String(res.headers['retry-after']));
        if (res.status >= 500 && !refusedAsUnavailable) wrong.add(`${what}: ${res.status} ${res.text.slice(0, 200)}`);
      }
      await sleep(500);
    }
    figure(`read-only database: answers: ${JSON.stringify(Object.fromEntries(seen))}`);
    assertHubAlive(hub);
    assert.deepEqual(
      [...wrong],
      [],
      'no 5xx but 503 HUB_DATABASE_UNAVAILABLE with Retry-After while the database is read-only',
    );
  });

  test('promoted, the standby takes the writes', async () => {
    assertHubAlive(hub);
    await standby.promote();
    const promoted = Date.now();
    const made = await waitFor(
      'a write through the hub after the promotion',
      async () => {
        const res = await admin.post('/api/v1/bootstraptokens', { spec: {} });
        return res.status === 201 ? res : undefined;
      },
      60_000,
    );
    figure(`read-only database: first write ${Date.now() - promoted} ms after the promotion`);
    assert.equal(made.status, 201);
    const ready = await waitFor(
      '/readyz ready after the promotion',
      async () => ((await anon.get('/readyz')).status === 200 ? true : undefined),
      60_000,
    );
    assert.ok(ready);
  });
});
