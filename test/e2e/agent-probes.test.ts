// The agent's local listener end to end (real hub, two real agent replicas on one real
// kube-apiserver, as a DaemonSet on two control-plane nodes runs them): /readyz is the
// leader with the hub reachable, or the standby; it turns 503 with the reason while the
// hub is away and 200 when it is back, /healthz stays 200 throughout, and a leadership
// move shows in both. /metrics carries the agent's series with their real values after a
// work is applied and an object of it deleted by hand.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, type WorkView, waitFor, waitWorkApplied } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const cluster = 'spoke-probes';
const work = {
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name: 'probed' },
  spec: {
    workload: {
      manifests: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'probed' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'value', namespace: 'probed' }, data: { v: '1' } },
      ],
    },
  },
};

/** One sample of `series` in a scrape, or NaN. */
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
};

describe('the agent listener: probes and metrics (real hub, two agent replicas, real kube-apiserver)', {
  timeout: 240_000,
}, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  const agents: AgentProcess[] = [];
  const urls = new Map<AgentProcess, string>();

  const start = async (pod: string) => {
    const agent = startAgent([...spokeRunArgs(kube.kubeconfigPath, '10m'), '--lease-duration', '4s'], {
      env: { POD_NAME: pod },
    });
    agents.push(agent);
    urls.set(agent, await agent.listenerUrl());
    return agent;
  };
  const get = async (agent: AgentProcess, path: string) => {
    const res = await fetch(`${urls.get(agent)}${path}`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, text: await res.text() };
  };
  const readiness = async (agent: AgentProcess) => {
    const r = await get(agent, '/readyz');
    return { status: r.status, ...(JSON.parse(r.text) as { ready: boolean; role: string; reason?: string }) };
  };
  const until = (what: string, agent: AgentProcess, ok: (r: Awaited<ReturnType<typeof readiness>>) => boolean) =>
    waitFor(
      what,
      async () => {
        const r = await readiness(agent);
        return ok(r) ? r : undefined;
      },
      60_000,
    );

  before(async () => {
    kube = await startCluster({ name: cluster });
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, cluster, kube.kubeconfigPath);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  test('leader and standby are ready; the hub away makes the leader 503 with the reason, and back 200', async () => {
    const a = await start('probe-a');
    await a.waitForOutput(/probe-a leads/, 30_000);
    const b = await start('probe-b');
    await b.waitForOutput(/standing by; probe-a leads/, 30_000);
    await until('the leader ready', a, (r) => r.status === 200 && r.role === 'leading');
    assert.deepEqual(await readiness(b), { status: 200, ready: true, role: 'standby' });

    const { port, dataDir } = hub;
    await admin.close();
    assert.equal(await hub.stop({ keepDataDir: true }), 0);
    const away = await until('the leader not ready', a, (r) => r.status === 503);
    assert.equal(away.role, 'leading');
    assert.match(away.reason ?? '', /the hub is not reachable|no answer from the hub/);
    assert.equal((await get(a, '/healthz')).status, 200, 'alive: a hub outage never restarts the agent');
    assert.equal(sample((await get(a, '/metrics')).text, 'outpost_agent_connected'), 0);
    assert.equal((await readiness(b)).status, 200, 'the standby does not depend on the hub');

    hub = await startHub({ dataDir, args: ['--poll-timeout', '5s', '--listen', `127.0.0.1:${port}`] });
    admin = await adminClient(hub);
    await until('the leader ready again', a, (r) => r.status === 200);
    assert.equal(sample((await get(a, '/metrics')).text, 'outpost_agent_connected'), 1);
  });

  test('an address asked for that is taken stops the agent (AGENT_LISTEN_FAILED); the default one taken costs only the listener', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    // The default address, held here unless something on this host holds it already: either
    // way it is taken when the agent starts.
    const held = createServer();
    await new Promise<void>((resolve) => {
      held.once('error', () => resolve());
      held.listen(9469, '127.0.0.1', resolve);
    });
    try {
      const asked = startAgent([...spokeRunArgs(kube.kubeconfigPath, '10m'), '--listen', `127.0.0.1:${port}`]);
      const exit = await asked.exited(30_000);
      assert.equal(exit.code, 1, exit.stderr);
      assert.match(exit.stderr, /AGENT_LISTEN_FAILED/);
      assert.match(exit.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));

      // A third replica: it stands by behind the leader of the first test.
      const byDefault = startAgent(spokeRunArgs(kube.kubeconfigPath, '10m'), { defaultListen: true });
      try {
        await byDefault.waitForOutput(/running without the local listener/, 30_000);
        await byDefault.waitForOutput(/standing by; probe-a leads/, 30_000);
        assert.doesNotMatch(byDefault.stderr(), /listening on/);
      } finally {
        await byDefault.stop();
      }
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
      await new Promise<void>((resolve) => (held.listening ? held.close(() => resolve()) : resolve()));
    }
  });

  test('metrics after a work is applied and an object deleted by hand; /status; a leadership move', async () => {
    const [a, b] = agents as [AgentProcess, AgentProcess];
    const res = await admin.call('PUT', `/api/v1/clusters/${cluster}/works/probed`, { json: work });
    assert.ok(res.status === 200 || res.status === 201, res.text);
    await waitWorkApplied(admin, cluster, 'probed', (res.body as WorkView).metadata.generation);
    const core = kube.kubeConfig().makeApiClient(CoreV1Api);
    await core.deleteNamespacedConfigMap({ name: 'value', namespace: 'probed' });
    const scrape = await waitFor(
      'a drift correction counted',
      async () => {
        const text = (await get(a, '/metrics')).text;
        // The correction is counted during the repair pass, the pass when it ends.
        return sample(text, 'outpost_agent_drift_corrections_total') >= 1 &&
          sample(text, 'outpost_agent_applies_total{result="applied"}') >= 2
          ? text
          : undefined;
      },
      60_000,
    );
    assert.ok(sample(scrape, 'outpost_agent_apply_duration_seconds_count{result="applied"}') >= 2);
    assert.equal(sample(scrape, 'outpost_agent_applies_total{result="failed"}'), 0);
    assert.ok(sample(scrape, 'outpost_agent_poll_duration_seconds_count{result="ok"}') >= 1);
    assert.ok(sample(scrape, 'outpost_status_outbox_depth') >= 0);
    assert.equal(sample(scrape, 'outpost_agent_held_deletions'), 0);
    assert.equal(sample(scrape, 'outpost_agent_leader'), 1);
    const expiry = sample(scrape, 'outpost_agent_certificate_expiry_timestamp_seconds');
    const renewal = sample(scrape, 'outpost_agent_certificate_renewal_timestamp_seconds');
    assert.ok(renewal > Date.now() / 1000 && expiry > renewal, `renews at ${renewal}, expires at ${expiry}`);
    const standby = (await get(b, '/metrics')).text;
    assert.equal(sample(standby, 'outpost_agent_leader'), 0);
    assert.equal(sample(standby, 'outpost_agent_ready'), 1);

    const live = JSON.parse((await get(a, '/status')).text) as Record<string, unknown>;
    assert.equal(live.leader, 'leading');
    assert.equal(live.connected, true);
    assert.ok(Date.parse(String(live.lastPollAt)) > 0);

    // The leader stops cleanly: the standby leads, and is ready once the hub answered it.
    assert.equal((await a.stop('SIGTERM')).code, 0);
    await b.waitForOutput(/probe-b leads/, 30_000);
    await until('the new leader ready', b, (r) => r.status === 200 && r.role === 'leading');
    assert.equal(sample((await get(b, '/metrics')).text, 'outpost_agent_leader'), 1);
  });
});
