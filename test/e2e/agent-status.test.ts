// `outpost-agent status` end to end: a real hub, a real agent joined with --kubeconfig and a
// real kube-apiserver as the spoke. The agent applies a work; `status`, a process of its own,
// reads the Lease it holds and asks its listener for live facts. Then the agent stops, and
// `status` reports from what it stored in the cluster: the work, the certificate, the outbox,
// the released Lease, and, with --check-hub, the hub's readiness.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runAgent } from './agent-process.ts';
import { waitFor, waitWorkApplied } from './hub-client.ts';
import { type JoinedSpoke, startJoinedSpoke } from './spoke.ts';

const cluster = 'spoke-status';

/** A loopback URL nothing listens on: status must find no running agent there. */
async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

interface StatusJson {
  cluster: string;
  hub: {
    url: string;
    lastPollAt: string | null;
    lastPollFrom: string | null;
    reachable: boolean | null;
    reachableFrom: string | null;
    check: { reachable: boolean; ready: boolean | null; epochMatchesState: boolean | null } | null;
  };
  agent: { running: boolean; reason: string | null };
  certificate: { serial: string; notAfter: string; secondsLeft: number; expired: boolean; renewAt: string };
  caBundle: { pin: string; pinnedAtJoin: boolean }[];
  leader: { election: string; lease: { holder: string | null } | null; live: string | null; problem: string | null };
  state: { store: string | null; revision: number | null; problem: string | null };
  works: {
    name: string;
    uid: string;
    generation: number;
    state: string;
    objects: number | null;
    unsentReport: unknown;
  }[];
  outbox: { depth: number | null; acked: number | null };
  heldDeletions: unknown[];
}

const cm = (name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'status-app' },
  data: { value: name },
});

describe('outpost-agent status (real hub, real agent, real kube-apiserver)', { timeout: 180_000 }, () => {
  let spoke: JoinedSpoke;
  let noAgent: string;
  const status = async (...args: string[]) => {
    const res = await runAgent(['status', '--kubeconfig', spoke.kube.kubeconfigPath, '--agent-url', noAgent, ...args]);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout;
  };
  const statusJson = async (...args: string[]) => JSON.parse(await status('-o', 'json', ...args)) as StatusJson;

  before(async () => {
    noAgent = await closedUrl();
    spoke = await startJoinedSpoke(cluster);
  });
  after(async () => {
    await spoke?.stop();
  });

  test('after the agent applied a work and stopped: works, certificate, outbox, Lease, hub', async () => {
    const put = await spoke.admin.call('PUT', `/api/v1/clusters/${cluster}/works/app`, {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'app', namespace: cluster },
        spec: {
          workload: {
            manifests: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'status-app' } }, cm('a'), cm('b')],
          },
        },
      },
    });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    const applied = await waitWorkApplied(spoke.admin, cluster, 'app', 1);
    const uid = (applied as unknown as { metadata: { uid: string } }).metadata.uid;

    // While it runs, the agent holds the Lease; its reports drain from the outbox.
    const running = await waitFor(
      'the outbox drained',
      async () => {
        const st = await statusJson();
        return st.outbox.depth === 0 ? st : undefined;
      },
      30_000,
    );
    assert.ok(running.leader.lease?.holder, JSON.stringify(running.leader));
    // The running agent's own listener answers live.
    const live = await statusJson('--agent-url', await spoke.agent.listenerUrl());
    assert.equal(live.agent.running, true, JSON.stringify(live.agent));
    assert.deepEqual([live.leader.live, live.hub.reachable, live.hub.reachableFrom], ['leading', true, 'live']);
    assert.equal(live.hub.lastPollFrom, 'live');

    const stopped = await spoke.agent.stop();
    assert.equal(stopped.code, 0, stopped.stderr);

    const st = await statusJson('--check-hub');
    assert.equal(st.cluster, cluster);
    assert.equal(st.hub.url, spoke.hub.url);
    assert.equal(st.agent.running, false);
    assert.match(st.agent.reason ?? '', /no agent answered at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    // Works: as the state Secrets record them.
    assert.equal(st.state.store, 'Secrets in namespace outpost-agent');
    assert.equal(st.state.problem, null);
    assert.deepEqual(
      st.works.map((w) => [w.name, w.uid, w.generation, w.state, w.objects, w.unsentReport]),
      [['app', uid, 1, 'applied', 3, null]],
    );
    assert.deepEqual(st.heldDeletions, []);
    // Certificate: the one the hub records for this cluster.
    const view = await spoke.admin.get<{ status: { certificate?: { serial: string } } }>(`/api/v1/clusters/${cluster}`);
    assert.equal(st.certificate.serial, view.body.status.certificate?.serial);
    assert.equal(st.certificate.expired, false);
    assert.ok(st.certificate.secondsLeft > 0);
    assert.ok(Date.parse(st.certificate.renewAt) < Date.parse(st.certificate.notAfter));
    assert.equal(
      st.caBundle.length >= 1 && st.caBundle.some((c) => c.pinnedAtJoin && c.pin === spoke.hub.caHash),
      true,
    );
    // Outbox: everything acknowledged before the stop.
    assert.equal(st.outbox.depth, 0);
    assert.ok((st.outbox.acked ?? 0) > 0, JSON.stringify(st.outbox));
    // The last answered poll, as the agent saved it; the Lease, released by the clean stop.
    assert.ok(st.hub.lastPollAt && Date.parse(st.hub.lastPollAt) <= Date.now(), JSON.stringify(st.hub));
    assert.equal(st.hub.lastPollFrom, 'state');
    assert.equal(st.leader.election, 'lease');
    assert.equal(st.leader.problem, null);
    assert.equal(st.leader.lease?.holder, null);
    // --check-hub: one request to /readyz with the stored CA bundle.
    assert.deepEqual(st.hub.check && [st.hub.check.reachable, st.hub.check.ready, st.hub.check.epochMatchesState], [
      true,
      true,
      true,
    ]);
    assert.equal(st.hub.reachable, true);

    const table = await status();
    assert.match(table, new RegExp(`^Cluster: +${cluster}$`, 'm'));
    assert.match(table, new RegExp(`^Agent: +not running at ${noAgent}`, 'm'));
    assert.match(table, new RegExp(`^Certificate: +serial ${st.certificate.serial}`, 'm'));
    assert.match(table, /^ {2}expires: +\S+ \(in \d+[smhd]\)$/m);
    assert.match(table, /^Leader: +nobody holds Lease outpost-agent\/outpost-agent/m);
    assert.match(table, /^Outbox: +0 reports waiting to be sent/m);
    assert.match(table, /^Works \(1\):$/m);
    assert.match(table, new RegExp(`^app +1 +3 +applied +sent +${uid}$`, 'm'));
  });
});

describe('outpost-agent status exit codes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-status-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('nothing stored: exit 1 with AGENT_NOT_JOINED; bad flags: exit 2', async () => {
    const none = await runAgent(['status', '--credentials-dir', join(dir, 'none'), '--agent-url', 'off']);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /no credentials in directory .*outpost-agent join.*\(AGENT_NOT_JOINED\)/s);
    assert.equal(none.stdout, '');
    const bad = await runAgent(['status', '-o', 'wide']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--output must be table, json or yaml.*\(AGENT_CONFIG_INVALID\)/);
    const help = await runAgent(['status', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: outpost-agent status/);
    const main = await runAgent(['--help']);
    assert.match(main.stdout, /^ {2}status +what the agent knows/m);
  });
});
