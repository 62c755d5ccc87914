// One spoke as most agent end-to-end tests need it: a real kube-apiserver, a hub, the cluster
// joined through `outpost-agent join --kubeconfig`, and `outpost-agent run` with short polls
// and a periodic re-apply far away (10 min), so what a test sees comes from the agent
// reacting at once.
import type { KubeCluster } from '../kube/index.ts';
import { startCluster } from '../kube/index.ts';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from './agent-process.ts';
import { adminClient, type HubClient } from './hub-client.ts';
import { type HubProcess, startHub } from './hub-process.ts';

export interface JoinedSpoke {
  kube: KubeCluster;
  hub: HubProcess;
  admin: HubClient;
  agent: AgentProcess;
  /** Stops the agent, the hub and the cluster. */
  stop(): Promise<void>;
}

export async function startJoinedSpoke(cluster: string): Promise<JoinedSpoke> {
  const started: Partial<Omit<JoinedSpoke, 'stop'>> = {};
  const stop = async () => {
    await started.agent?.stop();
    await started.admin?.close();
    await started.hub?.stop();
    await started.kube?.stop();
  };
  try {
    const kube = await startCluster({ name: cluster });
    started.kube = kube;
    const hub = await startHub({ args: ['--poll-timeout', '5s'] });
    started.hub = hub;
    const admin = await adminClient(hub);
    started.admin = admin;
    await joinSpoke(hub, admin, cluster, kube.kubeconfigPath);
    const agent = startAgent(spokeRunArgs(kube.kubeconfigPath, '10m'));
    started.agent = agent;
    await agent.waitForOutput(new RegExp(`serving cluster ${cluster}`));
    return { kube, hub, admin, agent, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
