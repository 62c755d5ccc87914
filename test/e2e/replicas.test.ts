// Three real hub processes on one real PostgreSQL database, as replicas behind a load
// balancer run: one CA and one serving certificate for all, sealed in the database under the
// key file they share; any replica serves any agent and any admin call; a poll held on one
// replica wakes on a write through another; the singleton duties (placements, worksets) run
// on one replica and move to another when it is killed; a CA rotation begun on one replica
// is served by all; a private GitRepo written through one replica is fetched by the leader
// with the credentials sealed under the shared key, and a push webhook on another wakes it.
// Agents here speak the protocol directly (hub-sync.test.ts does too).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { agentPaths, type SyncResponse } from '../../packages/shared/src/index.ts';
import { createDatabase, type PostgresServer, startPostgres } from '../pg/index.ts';
import { makeRepo, startGitServer } from './git-server.ts';
import {
  agentClient,
  anonymousClient,
  createToken,
  HubClient,
  type JoinedCluster,
  joinCluster,
  newJoiner,
  readAdminToken,
  waitFor,
} from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

/** The serving certificate a hub presents (its SHA-256 fingerprint). */
function servingFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(new X509Certificate(raw).fingerprint256);
    });
    s.on('error', reject);
  });
}

const cm = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'demo' },
  data: { value },
});

describe('three hub replicas on one PostgreSQL database', { timeout: 240_000 }, () => {
  let pg: PostgresServer;
  let url = '';
  let kekFile = '';
  let keyDir = '';
  const hubs: HubProcess[] = [];
  const admins: HubClient[] = [];
  let token = '';

  /** A replica on the shared database and key file (its own data dir). */
  const replica = (extra: string[] = []) =>
    startHub({ args: ['--database', url, '--kek-file', kekFile, '--poll-timeout', '20s', ...extra] });
  const adminOf = (hub: HubProcess) => new HubClient(hub.url, { ca: hub.caCertPem, token });

  before(async () => {
    pg = await startPostgres();
    url = await createDatabase(pg.url, 'replicas');
    keyDir = await mkdtemp(join(tmpdir(), 'outpost-replicas-key-'));
    // The first hub makes the key file when it is missing (in its data dir); the others get
    // a copy, as a Secret gives every replica the same one.
    const first = await startHub({ args: ['--database', url, '--poll-timeout', '20s'] });
    kekFile = join(keyDir, 'pki.kek');
    await copyFile(join(first.dataDir, 'pki.kek'), kekFile);
    hubs.push(first, ...(await Promise.all([replica(), replica()])));
    // The admin token file is written by the hub that made the first token.
    token = await readAdminToken(first.dataDir);
    for (const h of hubs) admins.push(adminOf(h));
  });

  after(async () => {
    for (const a of admins) await a.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await pg?.stop();
    await rm(keyDir, { recursive: true, force: true });
  });

  test('every replica serves the same CA and serving certificate; a hub without the key file refuses to start', async () => {
    assert.equal(new Set(hubs.map((h) => h.caHash)).size, 1, 'one CA');
    assert.equal(new Set(hubs.map((h) => h.caCertPem)).size, 1, 'one trust bundle');
    const fingerprints = await Promise.all(hubs.map((h) => servingFingerprint(h.port)));
    assert.equal(new Set(fingerprints).size, 1, `one serving certificate: ${fingerprints.join(' ')}`);

    await assert.rejects(startHub({ args: ['--database', url] }), (err: Error) => {
      assert.match(err.message, /HUB_KEY_MISSING/);
      assert.match(err.message, /--kek-file/);
      return true;
    });
    const wrongDir = await mkdtemp(join(tmpdir(), 'outpost-replicas-wrong-'));
    await writeFile(join(wrongDir, 'other.kek'), `${Buffer.alloc(32, 5).toString('base64')}\n`, { mode: 0o600 });
    await assert.rejects(
      startHub({ args: ['--database', url, '--kek-file', join(wrongDir, 'other.kek')] }),
      /HUB_KEY_MISMATCH/,
    );
    await rm(wrongDir, { recursive: true, force: true });
  });

  let cluster: JoinedCluster;
  let agent: HubClient;
  let epoch = '';
  let revision = 0;

  test('any replica serves any agent and admin call: token on one, join on another, poll on a third', async () => {
    const [, b, c] = hubs as [HubProcess, HubProcess, HubProcess];
    const [adminA] = admins as [HubClient];
    const t = await createToken(adminA, { autoApprove: true, ttl: '10m' });
    cluster = await joinCluster(b, admins[1] as HubClient, 'rep-1', { token: t.token });
    agent = agentClient(c, cluster);
    const first = await agent.post<SyncResponse>(agentPaths.sync('rep-1'), {
      revision: 0,
      inventory: {},
      waitSeconds: 0,
    });
    assert.equal(first.status, 200, first.text);
    epoch = first.body.hubEpoch;
    revision = first.body.revision;
    // The cluster, its certificate and the poll are seen alike through every replica.
    for (const admin of admins) {
      const view = await admin.get<{ metadata: { name: string } }>('/api/v1/clusters/rep-1');
      assert.equal(view.status, 200, view.text);
    }
  });

  test('a poll held on one replica wakes when a work is written through another', async () => {
    // The agent's poll is held on the third replica; the work is written through the first.
    const waiting = agent.post<SyncResponse>(
      agentPaths.sync('rep-1'),
      { revision, hubEpoch: epoch, waitSeconds: 15 },
      { timeoutMs: 30_000 },
    );
    await new Promise((r) => setTimeout(r, 500));
    const put = await (admins[0] as HubClient).call('PUT', '/api/v1/clusters/rep-1/works/app', {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'app' },
        spec: { workload: { manifests: [cm('a', '1')] } },
      },
    });
    assert.equal(put.status, 201, put.text);
    const written = Date.now();
    const res = await waiting;
    const woke = Date.now() - written;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.body.works.map((w) => w.name),
      ['app'],
    );
    // Woken, not answered when its 15 s hold ended (test/bench measures how fast).
    assert.ok(woke < 10_000, `answered ${woke} ms after the write`);
    revision = res.body.revision;
  });

  test('a private GitRepo written through one replica is fetched by the leader; a webhook on another wakes it', async () => {
    const leading = await Promise.all(
      admins.map(async (a) => /^outpost_hub_leader 1$/m.test((await a.call('GET', '/metrics')).text)),
    );
    const followers = hubs.filter((_h, i) => !leading[i]);
    assert.equal(followers.length, 2, `one leader: ${leading.join(' ')}`);
    const dir = await mkdtemp(join(tmpdir(), 'outpost-replicas-git-'));
    const home = join(dir, 'home');
    await mkdir(home);
    const repo = await makeRepo(join(dir, 'repos'), 'fleet', home);
    const git = await startGitServer(join(dir, 'repos'), home, { username: 'bot', password: 'replica-password-0' });
    const secret = 'replica-webhook-secret-0';
    const admin = adminOf(followers[0] as HubProcess);
    try {
      const first = await repo.commit('one', {
        'apps/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n',
      });
      // Sealed by a follower under the shared key file, unsealed by the leader.
      const put = await admin.call('PUT', '/api/v1/namespaces/default/gitrepos/private', {
        json: {
          metadata: { name: 'private' },
          spec: {
            repo: git.url('fleet'),
            paths: ['apps'],
            pollingInterval: '1h',
            placementRef: { name: 'nobody' },
            credentials: { username: 'bot', password: 'replica-password-0' },
            webhook: { secret },
          },
        },
      });
      assert.equal(put.status, 201, put.text);
      const commitOf = async () =>
        (await admin.get<{ status: { paths: { commit?: string }[] } }>('/api/v1/namespaces/default/gitrepos/private'))
          .body.status.paths[0]?.commit;
      await waitFor(
        'the first commit fetched by the leader',
        async () => ((await commitOf()) === first ? true : undefined),
        30_000,
      );
      // Polling is hourly and the spec does not change: only the webhook's wake, told by
      // the follower it landed on to the leader, fetches the next commit.
      const next = await repo.commit('two', {
        'apps/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n',
      });
      // No API token: the secret is the credential.
      const other = anonymousClient(followers[1] as HubProcess);
      try {
        const hook = await other.call('POST', '/api/v1/namespaces/default/gitrepos/private/webhook', {
          headers: { 'x-gitlab-token': secret },
          json: { ref: 'refs/heads/main' },
        });
        assert.equal(hook.status, 202, hook.text);
      } finally {
        await other.close();
      }
      await waitFor(
        'the pushed commit fetched after the webhook',
        async () => ((await commitOf()) === next ? true : undefined),
        20_000,
      );
      assert.equal((await admin.delete('/api/v1/namespaces/default/gitrepos/private')).status, 200);
    } finally {
      await admin.close();
      await git.stop();
      await repo.remove();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a workset made through one replica is rolled out by the leader; it moves when the leader is killed', async () => {
    // Made through the third replica; only the leader schedules and renders.
    const admin = admins[2] as HubClient;
    const placement = await admin.call('PUT', '/api/v1/placements/all', {
      json: { metadata: { name: 'all' }, spec: {} },
    });
    assert.ok(placement.status === 201 || placement.status === 200, placement.text);
    const workset = (name: string) => ({
      apiVersion: 'work.open-cluster-management.io/v1alpha1',
      kind: 'ManifestWorkReplicaSet',
      metadata: { name, namespace: 'default' },
      spec: {
        manifestWorkTemplate: { workload: { manifests: [cm(name, '1')] } },
        placementRefs: [{ name: 'all' }],
      },
    });
    assert.equal((await admin.call('PUT', '/api/v1/worksets/one', { json: workset('one') })).status, 201);
    await waitFor(
      'the work of workset one on rep-1',
      async () => ((await admin.get('/api/v1/clusters/rep-1/works/one')).status === 200 ? true : undefined),
      20_000,
    );

    // Which replica leads: exactly one says so in its metrics.
    const leading = await Promise.all(
      admins.map(async (a) => /^outpost_hub_leader 1$/m.test((await a.call('GET', '/metrics')).text)),
    );
    assert.equal(leading.filter(Boolean).length, 1, `one leader: ${leading.join(' ')}`);
    const leaderIndex = leading.indexOf(true);
    const victim = hubs[leaderIndex] as HubProcess;
    await victim.stop({ signal: 'SIGKILL' });
    const rest = hubs.filter((h) => h !== victim);
    const restAdmin = adminOf(rest[0] as HubProcess);
    try {
      assert.equal((await restAdmin.call('PUT', '/api/v1/worksets/two', { json: workset('two') })).status, 201);
      const start = Date.now();
      await waitFor(
        'the work of workset two, made by the next leader',
        async () => ((await restAdmin.get('/api/v1/clusters/rep-1/works/two')).status === 200 ? true : undefined),
        40_000,
      );
      process.stdout.write(
        `# duties moved: workset two rendered ${Date.now() - start} ms after the leader was killed\n`,
      );
      const now = await Promise.all(
        rest.map(async (h) => {
          const c = adminOf(h);
          const m = (await c.call('GET', '/metrics')).text;
          await c.close();
          return /^outpost_hub_leader 1$/m.test(m);
        }),
      );
      assert.equal(now.filter(Boolean).length, 1, `one leader among the rest: ${now.join(' ')}`);
    } finally {
      await restAdmin.close();
    }
    hubs.splice(hubs.indexOf(victim), 1);
    admins.splice(leaderIndex, 1)[0]?.close();
  });

  test('a CA rotation begun through one replica is served by every replica', async () => {
    const rot = await (admins[0] as HubClient).post<{ signing: { id: string; hash: string } }>('/api/v1/ca/rotate');
    assert.equal(rot.status, 200, rot.text);
    const signing = rot.body.signing;
    assert.notEqual(signing.hash, hubs[0]?.caHash);
    for (const [i, hub] of hubs.entries()) {
      const admin = admins[i] as HubClient;
      await waitFor(
        `replica ${i} signing with the new CA`,
        async () => {
          const ca = await admin.get<{ signing: { hash: string } }>('/api/v1/ca');
          return ca.body.signing?.hash === signing.hash ? true : undefined;
        },
        10_000,
      );
      // Its trust bundle (what agents fetch) holds both CAs while the rotation is under way.
      const anon = anonymousClient(hub);
      const bundle = await anon.get(agentPaths.caBundle);
      await anon.close();
      assert.equal(bundle.text.match(/BEGIN CERTIFICATE/g)?.length, 2, `replica ${i}: ${bundle.text.slice(0, 80)}`);
    }
    // The agent renews through a replica that did not begin the rotation: the new CA signs.
    const next = await newJoiner('rep-1');
    const client = agentClient(hubs.at(-1) as HubProcess, cluster);
    try {
      const renew = await client.post<{ certificate: string }>(agentPaths.certificate('rep-1'), { csr: next.csr });
      assert.equal(renew.status, 200, renew.text);
      assert.match(new X509Certificate(renew.body.certificate).issuer, new RegExp(signing.id));
    } finally {
      await client.close();
    }
  });
});
