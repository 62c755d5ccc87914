// A hub replica killed (SIGKILL) in the middle of a rollout: three hub processes on one real
// PostgreSQL database behind a real TCP load balancer (HAProxy, round robin), four real spoke
// clusters (kube-apiservers on one etcd) with real agents that reach the hubs only through the
// load balancer, and a ManifestWorkReplicaSet rolled out one cluster at a time with a soak.
// When the rollout is half way, the replica that leads (runs the workset controller) is
// killed. The agents go on through the other two with at most a retried poll or upload, the
// next leader finishes the rollout, and nothing is applied twice or lost: every work at the
// hub is still at generation 1, every agent was handed it once, and every ConfigMap on every
// spoke keeps the uid it was created with (never deleted and created again).
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { type EtcdHandle, type KubeCluster, startCluster, startEtcd } from '../kube/index.ts';
import { freePort, type LoadBalancer, startLoadBalancer } from '../lb/index.ts';
import { createDatabase, type PostgresServer, startPostgres } from '../pg/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { HubClient, type JsonResponse, readAdminToken, waitFor } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const names = ['rf-a', 'rf-b', 'rf-c', 'rf-d'] as const;
type Name = (typeof names)[number];
const workset = 'rollout';
const configMaps = ['rollout-one', 'rollout-two'] as const;
/** Soak per cluster: with one cluster at a time, the rollout lasts several of them. */
const soak = '5s';
const soakMs = 5_000;

interface WorkView {
  metadata: { uid: string; generation: number; creationTimestamp: string; labels: Record<string, string> };
  status: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}
interface WorkSetView {
  status?: {
    conditions: { type: string; status: string }[];
    summary: { total: number; applied: number; degraded: number };
    rollout?: { message: string; clusters: { name: string; state: string; reason: string }[] };
  };
}

interface ClusterView {
  status: { conditions: { type: string; status: string }[]; lastSeen?: string };
}

/** One line of an agent's JSON log (pino). */
interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

const configMap = (name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data: { owner: workset },
});

describe('a hub replica killed mid-rollout behind HAProxy (three replicas, four real spokes)', {
  timeout: 480_000,
}, () => {
  let pg: PostgresServer;
  let keyDir = '';
  let lb: LoadBalancer;
  let etcd: EtcdHandle;
  const kube = {} as Record<Name, KubeCluster>;
  const hubs: HubProcess[] = [];
  const agents = {} as Record<Name, AgentProcess>;
  /** Admin API through the load balancer, as an operator's client reaches the hubs. */
  let admin: HubClient;
  let token = '';
  let caPem = '';
  let lbUrl = '';

  before(async () => {
    pg = await startPostgres();
    const database = await createDatabase(pg.url, 'replica_faults');
    keyDir = await mkdtemp(join(tmpdir(), 'outpost-replica-faults-key-'));
    // The load balancer's address is what every replica advertises (join commands, agent
    // configuration), so it is fixed first, with the replicas' ports; the replicas come up
    // behind it and its health checks take each in once it listens.
    const ports = [await freePort(), await freePort(), await freePort()];
    lb = await startLoadBalancer(ports.map((port) => ({ port })));
    lbUrl = `https://127.0.0.1:${lb.port}`;
    const replica = (port: number, extra: string[]) =>
      startHub({
        args: [
          '--database',
          database,
          '--listen',
          `127.0.0.1:${port}`,
          '--advertise-url',
          lbUrl,
          '--poll-timeout',
          '5s',
          ...extra,
        ],
      });
    // The first hub makes the key file (in its data dir); the others get a copy of it.
    const first = await replica(ports[0] as number, []);
    const kekFile = join(keyDir, 'pki.kek');
    await copyFile(join(first.dataDir, 'pki.kek'), kekFile);
    hubs.push(first, ...(await Promise.all(ports.slice(1).map((port) => replica(port, ['--kek-file', kekFile])))));
    token = await readAdminToken(first.dataDir);
    caPem = first.caCertPem;
    admin = new HubClient(lbUrl, { ca: caPem, token });
    await waitFor('the load balancer reaching a hub', async () => {
      try {
        return (await admin.get('/readyz')).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    });

    etcd = await startEtcd();
    for (const c of await Promise.all(names.map((name) => startCluster({ name, etcd })))) kube[c.name as Name] = c;
    // Joined through the load balancer: the agents know no other address of the hub.
    for (const n of names) await joinSpoke({ url: lbUrl, caHash: first.caHash }, admin, n, kube[n].kubeconfigPath);
    for (const n of names) startSpokeAgent(n);
    await Promise.all(names.map((n) => agents[n].waitForOutput(new RegExp(`serving cluster ${n}`), 60_000)));
  });

  after(async () => {
    await Promise.all(Object.values(agents).map((a) => a.stop()));
    await admin?.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await lb?.stop();
    await Promise.all(Object.values(kube).map((k) => k.stop()));
    await etcd?.stop();
    await pg?.stop();
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  /** Anything seen rewritten, deleted or created again (works at the hub, objects on spokes). */
  const violations: string[] = [];

  /**
   * An admin read through the load balancer. A request in flight on a connection to the
   * killed replica fails at the socket (the admin client has no retry of its own): it is
   * sent again, and counted.
   */
  let adminRetries = 0;
  async function adminGet<T>(path: string): Promise<JsonResponse<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await admin.get<T>(path);
      } catch (err) {
        if (attempt >= 5) throw err;
        adminRetries++;
        await sleep(250);
      }
    }
  }
  /** The uid of each cluster's work at the hub when first seen; a work written anew (deleted
   *  and created again) would have another one. */
  const workUids = new Map<Name, string>();
  const getWork = async (n: Name) => {
    const res = await adminGet<WorkView>(`/api/v1/clusters/${n}/works/${workset}`);
    if (res.status !== 200) {
      if (workUids.has(n)) violations.push(`work ${n}/${workset} gone at the hub (${res.status})`);
      return undefined;
    }
    const known = workUids.get(n);
    if (!known) workUids.set(n, res.body.metadata.uid);
    else if (known !== res.body.metadata.uid) {
      violations.push(`work ${n}/${workset} has uid ${res.body.metadata.uid}, first seen as ${known}`);
    }
    return res.body;
  };
  const applied = (w: WorkView | undefined) =>
    w !== undefined &&
    w.status.observedGeneration === w.metadata.generation &&
    w.status.conditions?.some((c) => c.type === 'Applied' && c.status === 'True') === true;
  const condition = (w: WorkSetView, type: string) => w.status?.conditions.find((c) => c.type === type)?.status;

  /** What each replica says of itself, asked directly (not through the load balancer): whether
   *  it leads (outpost_hub_leader) and how many agent long-polls it holds now. */
  async function replicaStates(of: readonly HubProcess[]): Promise<{ leading: boolean; polls: number }[]> {
    return Promise.all(
      of.map(async (h) => {
        const c = new HubClient(h.url, { ca: caPem, token });
        try {
          const res = await c.get('/metrics');
          assert.equal(res.status, 200, res.text);
          const polls = /^outpost_longpoll_waiting (\d+)$/m.exec(res.text)?.[1];
          assert.ok(polls !== undefined, 'outpost_longpoll_waiting in the metrics');
          return { leading: /^outpost_hub_leader 1$/m.test(res.text), polls: Number(polls) };
        } finally {
          await c.close();
        }
      }),
    );
  }
  const startSpokeAgent = (n: Name) => {
    agents[n] = startAgent([...spokeRunArgs(kube[n].kubeconfigPath, '10m'), '--lease-duration', '4s'], {
      env: { POD_NAME: `${n}-agent` },
    });
    return agents[n];
  };

  /**
   * The ConfigMaps on every spoke, read every 200 ms from before the rollout to its end: the
   * uid each had when first seen, and anything that later changed it or made it disappear.
   */
  const firstUid = new Map<string, string>();
  const seenVersions = new Map<string, Set<string>>();
  let sampling = true;
  let samples = 0;
  async function sampleConfigMaps(): Promise<void> {
    const apis = Object.fromEntries(names.map((n) => [n, kube[n].kubeConfig().makeApiClient(CoreV1Api)])) as Record<
      Name,
      CoreV1Api
    >;
    while (sampling) {
      await Promise.all(
        names.map(async (n) => {
          const list = await apis[n].listNamespacedConfigMap({ namespace: 'default' });
          for (const name of configMaps) {
            const key = `${n}/${name}`;
            const found = list.items.filter((cm) => cm.metadata?.name === name);
            const uid = found[0]?.metadata?.uid;
            const known = firstUid.get(key);
            if (!uid) {
              if (known) violations.push(`${key} disappeared (uid ${known})`);
              continue;
            }
            if (!known) firstUid.set(key, uid);
            else if (known !== uid) violations.push(`${key} has uid ${uid}, first seen as ${known}`);
            const versions = seenVersions.get(key) ?? new Set<string>();
            versions.add(found[0]?.metadata?.resourceVersion ?? '');
            seenVersions.set(key, versions);
          }
        }),
      );
      samples++;
      await sleep(200);
    }
  }

  /** The agent's JSON log lines (stdout); anything else it printed is returned apart. */
  function agentLog(n: Name): { lines: LogLine[]; other: string[] } {
    const lines: LogLine[] = [];
    const other: string[] = [];
    for (const text of agents[n].stdout().split('\n')) {
      if (!text.trim()) continue;
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        other.push(text);
      }
    }
    return { lines, other };
  }

  test('the leading replica is killed mid-rollout: the rollout completes, nothing applied twice or lost', async () => {
    const placement = await admin.call('PUT', '/api/v1/placements/fleet', {
      json: { metadata: { name: 'fleet' }, spec: {} },
    });
    assert.ok(placement.status === 201 || placement.status === 200, placement.text);

    // HAProxy spreads the agents' connections over the replicas by turns, blind to which one
    // leads; a poll stays on its kept-alive connection. The case that matters is a leader
    // holding agents' polls when it is killed, so until it holds one an agent is restarted:
    // its new connection goes to the next replica in turn.
    const held = (states: { polls: number }[]) => states.reduce((sum, s) => sum + s.polls, 0);
    for (let restarts = 0; ; restarts++) {
      const states = await waitFor(
        "every agent's poll held",
        async () => {
          const st = await replicaStates(hubs);
          return held(st) === names.length ? st : undefined;
        },
        30_000,
      );
      assert.equal(states.filter((s) => s.leading).length, 1, `one leader: ${JSON.stringify(states)}`);
      if ((states.find((s) => s.leading)?.polls ?? 0) > 0) {
        process.stdout.write(
          `# polls held per replica: ${states.map((s) => `${s.polls}${s.leading ? ' (leader)' : ''}`).join(', ')}; ` +
            `${restarts} agent restart(s) to put one on the leader\n`,
        );
        break;
      }
      assert.ok(restarts < 12, `no agent poll on the leader after ${restarts} restarts`);
      const n = names[restarts % names.length] as Name;
      await agents[n].stop();
      await startSpokeAgent(n).waitForOutput(new RegExp(`serving cluster ${n}`), 60_000);
    }

    const sampler = sampleConfigMaps();
    try {
      const res = await admin.call('PUT', `/api/v1/worksets/${workset}`, {
        json: {
          apiVersion: 'work.open-cluster-management.io/v1alpha1',
          kind: 'ManifestWorkReplicaSet',
          metadata: { name: workset, namespace: 'default' },
          spec: {
            manifestWorkTemplate: { workload: { manifests: configMaps.map(configMap) } },
            placementRefs: [
              {
                name: 'fleet',
                // One cluster at a time, each soaking before the next is handed the work: the
                // rollout takes several soaks, so the kill lands while it is under way.
                rolloutStrategy: {
                  type: 'Progressive',
                  progressive: { maxConcurrency: 1, minSuccessTime: soak, maxFailures: 0 },
                },
              },
            ],
          },
        },
      });
      assert.equal(res.status, 201, res.text);
      const created = Date.now();

      // Half way: one cluster has soaked, the second has just been handed the work; and the
      // leader holds an agent's poll at this very moment (the agent it answered with the work
      // polls again within a second), so the kill breaks a poll in flight.
      const { have, states } = await waitFor(
        'two clusters handed the work and a poll held by the leader',
        async () => {
          const works = await Promise.all(names.map(getWork));
          const have = names.filter((_, i) => works[i] !== undefined);
          if (have.length < 2) return undefined;
          const states = await replicaStates(hubs);
          return states.some((st) => st.leading && st.polls > 0) ? { have, states } : undefined;
        },
        90_000,
      );
      const leaderIndex = states.findIndex((st) => st.leading);
      const victim = hubs[leaderIndex] as HubProcess;
      const killedAt = Date.now();
      await victim.stop({ signal: 'SIGKILL' });
      hubs.splice(leaderIndex, 1);
      assert.equal(
        states.filter((st) => st.leading).length,
        1,
        `one leader before the kill: ${JSON.stringify(states)}`,
      );
      assert.ok(have.length < names.length, `not all clusters have the work yet: ${have.join(' ')}`);
      process.stdout.write(
        `# killed the leading replica (:${victim.port}, holding ${states[leaderIndex]?.polls} poll(s)) ` +
          `${killedAt - created} ms after the workset was made, with the work on ${have.join(', ')}\n`,
      );

      // The duties move: a surviving replica takes the lease (measured, not bounded tightly).
      const newLeader = waitFor(
        'a new leader among the surviving replicas',
        async () => ((await replicaStates(hubs)).some((s) => s.leading) ? Date.now() - killedAt : undefined),
        60_000,
      );
      const nextDispatch = waitFor(
        'a cluster handed the work after the kill',
        async () => {
          const works = await Promise.all(names.map(getWork));
          return works.filter(Boolean).length > have.length ? Date.now() - killedAt : undefined;
        },
        120_000,
      );

      const works = await waitFor(
        'every cluster given the work and Applied',
        async () => {
          const all = await Promise.all(names.map(getWork));
          return all.every(applied) ? (all as WorkView[]) : undefined;
        },
        180_000,
      );
      const done = await waitFor(
        `workset ${workset} Complete`,
        async () => {
          const w = (await adminGet<WorkSetView>(`/api/v1/worksets/${workset}`)).body;
          return condition(w, 'Complete') === 'True' ? w : undefined;
        },
        60_000,
      );
      const completedIn = Date.now() - killedAt;
      const [leaderIn, dispatchIn] = await Promise.all([newLeader, nextDispatch]);
      process.stdout.write(
        `# after the kill: a new leader in ${leaderIn} ms, the next cluster handed the work in ${dispatchIn} ms, ` +
          `the rollout Complete in ${completedIn} ms (soak ${soak} per cluster, lease ttl 10 s)\n`,
      );

      assert.equal(done.status?.summary.total, names.length, JSON.stringify(done.status));
      assert.equal(done.status?.summary.applied, names.length, JSON.stringify(done.status));
      assert.notEqual(condition(done, 'RolloutStopped'), 'True', JSON.stringify(done.status));
      const perCluster = done.status?.rollout?.clusters ?? [];
      assert.deepEqual(
        perCluster.map((c) => `${c.name} ${c.state}`).sort(),
        names.map((n) => `${n} Succeeded`),
        JSON.stringify(done.status?.rollout),
      );
      // Written once per cluster: a next leader that wrote a work again would have made it
      // generation 2 (and the agent would have applied it again), or given it another uid.
      for (const [i, w] of works.entries()) {
        assert.equal(w.metadata.generation, 1, `${names[i]}: work generation ${w.metadata.generation}`);
        assert.equal(w.metadata.uid, workUids.get(names[i] as Name), `${names[i]}: the work's first uid`);
        assert.equal(w.metadata.labels['outpost.dev/workset'], workset);
      }
      // One cluster at a time, each handed the work a soak after the one before had succeeded,
      // across the change of leader too (which starts a running soak over, never skips it).
      const handedAt = works.map((w) => Date.parse(w.metadata.creationTimestamp)).sort((a, b) => a - b);
      const gaps = handedAt.slice(1).map((t, i) => t - (handedAt[i] as number));
      process.stdout.write(`# clusters handed the work ${gaps.join(', ')} ms apart\n`);
      for (const gap of gaps) assert.ok(gap >= soakMs, `handed ${gap} ms after the previous cluster (soak ${soak})`);

      // Every agent went on through the surviving replicas: each cluster was heard from
      // after the kill and is Available.
      for (const n of names) {
        await waitFor(
          `${n} heard from after the kill`,
          async () => {
            const c = (await adminGet<ClusterView>(`/api/v1/clusters/${n}`)).body;
            const available = c.status.conditions.find((x) => x.type === 'Available')?.status === 'True';
            const seen = c.status.lastSeen ? Date.parse(c.status.lastSeen) : 0;
            return available && seen > killedAt ? true : undefined;
          },
          30_000,
        );
      }

      // Let the sampler look a little longer: a late rewrite would show now.
      await sleep(2_000);
    } finally {
      sampling = false;
      await sampler;
    }
    process.stdout.write(`# ConfigMaps sampled ${samples} times on ${names.length} spokes\n`);
    assert.deepEqual(violations, [], 'no work or ConfigMap deleted or created again');
    for (const n of names) {
      const api = kube[n].kubeConfig().makeApiClient(CoreV1Api);
      const list = await api.listNamespacedConfigMap({ namespace: 'default' });
      for (const name of configMaps) {
        const found = list.items.filter((cm) => cm.metadata?.name === name);
        assert.equal(found.length, 1, `${n}/${name} exists once`);
        assert.deepEqual(found[0]?.data, { owner: workset });
        assert.equal(found[0]?.metadata?.uid, firstUid.get(`${n}/${name}`), `${n}/${name} keeps its first uid`);
      }
    }
    // Applied once: an apply of the same content again changes nothing, but one that wrote
    // anything (another field manager, an annotation) would show as a second resourceVersion.
    const rewritten = [...seenVersions].filter(([, v]) => v.size > 1).map(([k, v]) => `${k}: ${[...v].join(',')}`);
    assert.deepEqual(rewritten, [], 'every ConfigMap seen at one resourceVersion');
    process.stdout.write(`# admin reads through the load balancer sent again: ${adminRetries}\n`);

    // What the agents saw. A poll held on the killed replica fails when its connection is
    // closed; an upload or heartbeat on a connection to it may fail too; and until the load
    // balancer's health checks mark the replica down (two checks 500 ms apart) a reconnect
    // can still be sent to it. Each is logged once (warn) and retried: at most three per
    // agent. Nothing at error level or above: the agent never had to give up on anything.
    for (const n of names) {
      const { lines, other } = agentLog(n);
      const failed = lines.filter((l) => l.level >= 40);
      const summary = failed.map((l) => `${l.msg} ${JSON.stringify(l.err ?? l.code ?? '')}`);
      process.stdout.write(`# ${n}: ${failed.length} warning(s)${summary.length ? `: ${summary.join(' | ')}` : ''}\n`);
      assert.deepEqual(
        lines.filter((l) => l.level >= 50),
        [],
        `${n}: no errors\n${agents[n].stdout()}`,
      );
      assert.ok(failed.length <= 3, `${n}: ${failed.length} failed requests\n${agents[n].stdout()}`);
      assert.deepEqual(other, [], `${n}: only JSON log lines`);
      // Still running, and it only ever knew the load balancer's address.
      assert.equal(agents[n].proc.exitCode, null, `${n}: agent running`);
      assert.ok(agents[n].stderr().includes(`serving cluster ${n} for hub ${lbUrl}\n`), agents[n].stderr());
      // Handed the work once, at generation 1: never a second time after the kill.
      const handed = lines
        .filter((l) => l.msg === 'desired state changed')
        .flatMap((l) => (l.works as string[]).filter((w) => w.startsWith(`${workset}@`)));
      assert.deepEqual(handed, [`${workset}@1`], `${n}: handed the work once`);
      const reports = lines.filter((l) => l.msg === 'work status changed' && l.work === workset);
      assert.ok(reports.length >= 1, `${n}: reported the work's status`);
      assert.ok(
        reports.every((l) => l.generation === 1),
        `${n}: reports of generation 1 only`,
      );
    }

    // The leader held a poll when it was killed: its agent saw that poll fail, and retried.
    const brokenPolls = names.filter((n) =>
      agentLog(n).lines.some((l) => l.msg === 'sync failed; keeping the last desired state'),
    );
    process.stdout.write(`# agents whose poll broke with the kill: ${brokenPolls.join(', ')}\n`);
    assert.ok(brokenPolls.length >= 1, 'an agent saw its poll on the killed replica fail');

    // The survivors agree on one leader.
    const now = await replicaStates(hubs);
    assert.equal(now.filter((s) => s.leading).length, 1, `one leader among the survivors: ${JSON.stringify(now)}`);
  });
});
