// Agent failover with the default Lease (15 s), on real processes: a hub, a real
// kube-apiserver (+ etcd) as the spoke, and two `outpost-agent run` replicas with the same
// credentials, as a DaemonSet on two control-plane nodes runs them. Each round stops the
// leader and measures, from the stop:
//  - SIGKILL (a node lost, no release): when the standby leads, and when a change made
//    right after the kill is Applied at the hub;
//  - SIGTERM (a rolling update, a drained node): when the standby leads (the leader
//    finishes its applies, then releases the Lease).
// The stopped replica is started again as the next standby, so every round has two. Each
// stop comes at a random point of the renewal cycle (a random pause first), so the figures
// spread over it as real failures do. Expected bounds: after a SIGKILL between the lease
// less one retry period and the lease plus two (13–19 s); after a SIGTERM up to one retry
// period (2 s), when the standby next looks.
// Bounded: fixed rounds, a watchdog, every process stopped on exit.
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from '../e2e/agent-process.ts';
import { adminClient, type HubClient, type WorkView, waitWorkApplied } from '../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../e2e/hub-process.ts';
import { type KubeCluster, startCluster } from '../kube/index.ts';
import { type Metric, quantile, report } from './lib.ts';

const rounds = Number(process.env.OUTPOST_BENCH_FAILOVER_ROUNDS ?? 5);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  throw new Error(`OUTPOST_BENCH_FAILOVER_ROUNDS must be 1..20, got ${process.env.OUTPOST_BENCH_FAILOVER_ROUNDS}`);
}
const leaseMs = 15_000; // the agent's default --lease-duration
const retryPeriodMs = leaseMs / 7.5; // what `run` derives from it
// Start-up, then per round a SIGKILL (at most about lease + 2 retry periods) and a SIGTERM.
const watchdogMs = 2 * 60_000 + rounds * 45_000;
const cluster = 'spoke-failover';

const watchdog = setTimeout(() => {
  process.stderr.write(`failover bench: watchdog after ${watchdogMs / 1000} s; stopping\n`);
  process.exit(1);
}, watchdogMs);
const say = (s: string) => process.stdout.write(`${s}\n`);

let kube: KubeCluster | undefined;
let hub: HubProcess | undefined;
let admin: HubClient | undefined;
const agents = new Set<AgentProcess>();

async function main(): Promise<void> {
  const [k0, h0] = await Promise.allSettled([
    startCluster({ name: cluster }),
    startHub({ args: ['--poll-timeout', '5s'] }),
  ]);
  if (k0.status === 'fulfilled') kube = k0.value;
  if (h0.status === 'fulfilled') hub = h0.value;
  if (!kube || !hub) throw new Error('could not start the test cluster or the hub');
  admin = await adminClient(hub);
  await joinSpoke(hub, admin, cluster, kube.kubeconfigPath);
  const k = kube;
  const a = admin;

  let n = 0;
  const start = () => {
    const pod = `agent-${++n}`;
    const agent = startAgent(spokeRunArgs(k.kubeconfigPath, '10m'), { env: { POD_NAME: pod } });
    agents.add(agent);
    return { pod, agent };
  };
  const put = async (value: string): Promise<number> => {
    const res = await a.call('PUT', `/api/v1/clusters/${cluster}/works/ha`, {
      json: {
        apiVersion: 'work.open-cluster-management.io/v1',
        kind: 'ManifestWork',
        metadata: { name: 'ha' },
        spec: {
          workload: {
            manifests: [
              { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ha', namespace: 'default' }, data: { value } },
            ],
          },
        },
      },
    });
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT: ${res.status} ${res.text}`);
    return (res.body as WorkView).metadata.generation;
  };
  const applied = (generation: number) => waitWorkApplied(a, cluster, 'ha', generation, 60_000);

  let leader = start();
  await leader.agent.waitForOutput(new RegExp(`${leader.pod} leads`), 30_000);
  let standby = start();
  await standby.agent.waitForOutput(new RegExp(`standing by; ${leader.pod} leads`), 30_000);
  let lastGeneration = await put('start');
  await applied(lastGeneration);

  const kill = { leads: [] as number[], applied: [] as number[] };
  const term: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const how of ['SIGKILL', 'SIGTERM'] as const) {
      await sleep(Math.random() * 2 * retryPeriodMs);
      const t0 = performance.now();
      const stopping = leader.agent.stop(how);
      let generation = 0;
      if (how === 'SIGKILL') {
        generation = await put(`kill-${r}`);
        if (generation <= lastGeneration) throw new Error(`round ${r + 1}: the change did not bump the generation`);
      }
      await standby.agent.waitForOutput(new RegExp(`${standby.pod} leads`), leaseMs * 3);
      const leadsMs = performance.now() - t0;
      await stopping;
      agents.delete(leader.agent);
      if (how === 'SIGKILL') {
        await applied(generation);
        lastGeneration = generation;
        const appliedMs = performance.now() - t0;
        kill.leads.push(leadsMs);
        kill.applied.push(appliedMs);
        say(
          `round ${r + 1} SIGKILL: leads after ${Math.round(leadsMs)} ms, change Applied after ${Math.round(appliedMs)} ms`,
        );
      } else {
        term.push(leadsMs);
        say(`round ${r + 1} SIGTERM: leads after ${Math.round(leadsMs)} ms`);
      }
      leader = standby;
      standby = start();
      await standby.agent.waitForOutput(new RegExp(`standing by; ${leader.pod} leads`), 30_000);
    }
  }

  const metric = (sample: number[], p: number, target?: string): Metric => ({
    value: Math.round(quantile([...sample], p)),
    unit: 'ms',
    ...(target ? { target } : {}),
  });
  const s = (ms: number) => `${ms / 1000} s`;
  report(
    'failover',
    {
      sigkill_leads_p50: metric(kill.leads, 0.5, `${s(leaseMs - retryPeriodMs)}–${s(leaseMs + 2 * retryPeriodMs)}`),
      sigkill_leads_max: metric(kill.leads, 1),
      sigkill_change_applied_p50: metric(kill.applied, 0.5),
      sigkill_change_applied_max: metric(kill.applied, 1),
      sigterm_leads_p50: metric(term, 0.5, `≤ ${s(retryPeriodMs)}`),
      sigterm_leads_max: metric(term, 1),
    },
    {
      rounds,
      leaseDurationMs: leaseMs,
      retryPeriodMs,
      sigkillLeadsMs: kill.leads.map(Math.round),
      sigtermLeadsMs: term.map(Math.round),
    },
  );
}

try {
  await main();
} finally {
  clearTimeout(watchdog);
  await Promise.all([...agents].map((x) => x.stop()));
  await admin?.close();
  await hub?.stop();
  await kube?.stop();
}
