// Two agent replicas on one cluster (what a DaemonSet on two control-plane nodes runs): only
// the Lease holder applies and talks to the hub; the other stands by. Killing the leader
// (SIGKILL: no release) hands the cluster to the standby once the lease lapses, which then
// applies changes; a clean stop (SIGTERM) releases the lease for an immediate hand-over.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient, type WorkView, waitWorkApplied } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

const leaseDuration = '4s';
const work = (value: string) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name: 'ha' },
  spec: {
    workload: {
      manifests: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ha' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'value', namespace: 'ha' }, data: { value } },
      ],
    },
  },
});

describe('leader election between two agent replicas (real hub, real kube-apiserver)', { timeout: 240_000 }, () => {
  let kube: KubeCluster;
  let hub: HubProcess;
  let admin: HubClient;
  const agents = new Map<string, AgentProcess>();

  const start = (pod: string) => {
    const agent = startAgent([...spokeRunArgs(kube.kubeconfigPath, '10m'), '--lease-duration', leaseDuration], {
      env: { POD_NAME: pod },
    });
    agents.set(pod, agent);
    return agent;
  };
  const applies = (agent: AgentProcess) =>
    agent
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"msg":"work status changed"')).length;
  const applied = (generation: number) => waitWorkApplied(admin, 'spoke-ha', 'ha', generation);
  const put = async (value: string) => {
    const res = await admin.call('PUT', '/api/v1/clusters/spoke-ha/works/ha', { json: work(value) });
    assert.ok(res.status === 200 || res.status === 201, res.text);
    return (res.body as WorkView).metadata.generation;
  };

  before(async () => {
    kube = await startCluster({ name: 'spoke-ha' });
    hub = await startHub({ args: ['--poll-timeout', '5s'] });
    admin = await adminClient(hub);
    await joinSpoke(hub, admin, 'spoke-ha', kube.kubeconfigPath);
  });

  after(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await admin?.close();
    await hub?.stop();
    await kube?.stop();
  });

  test('only the leader applies; SIGKILL of the leader hands over after the lease lapses', async (t) => {
    const a = start('agent-a');
    await a.waitForOutput(/agent-a leads/, 30_000);
    const b = start('agent-b');
    await b.waitForOutput(/standing by; agent-a leads/, 30_000);

    await applied(await put('1'));
    assert.ok(applies(a) >= 1, 'the leader applied and reported');
    assert.equal(applies(b), 0, 'the standby applied and reported nothing');
    assert.doesNotMatch(b.stderr(), /serving cluster/, 'the standby did not load credentials or talk to the hub');

    const killed = Date.now();
    await a.stop('SIGKILL');
    await b.waitForOutput(/agent-b leads/, 30_000);
    const takeoverMs = Date.now() - killed;
    const generation = await put('2');
    await applied(generation);
    const servedMs = Date.now() - killed;
    assert.ok(applies(b) >= 1, 'the new leader applied');
    t.diagnostic(
      `failover after SIGKILL: leads after ${takeoverMs} ms, a new change applied ${servedMs} ms after the kill (lease ${leaseDuration})`,
    );
    assert.ok(takeoverMs < 4_000 + 8_000, `took ${takeoverMs} ms to take over`);
  });

  test('SIGTERM of the leader releases the lease: the standby leads at its next try', async (t) => {
    const c = start('agent-c');
    await c.waitForOutput(/standing by; agent-b leads/, 30_000);
    const stopped = Date.now();
    const exit = await agents.get('agent-b')?.stop('SIGTERM');
    assert.equal(exit?.code, 0, exit?.stderr);
    await c.waitForOutput(/agent-c leads/, 30_000);
    const handOverMs = Date.now() - stopped;
    await applied(await put('3'));
    t.diagnostic(`hand-over after SIGTERM: ${handOverMs} ms (the old leader's shutdown included)`);
    assert.ok(handOverMs < 4_000, `hand-over took ${handOverMs} ms`);
  });
});
