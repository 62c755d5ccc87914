// The ManagedCluster resource as the API shows it, built from the store's rows.
import { durations } from '@outpost/shared';
import { taintKeys } from '../placement/types.ts';
import { allClaims, type CertificateRow, type ClusterRow, type WorkCounts } from '../store/index.ts';
import { apiVersion } from './bootstrap-tokens.ts';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

export interface ManagedCluster {
  apiVersion: string;
  kind: 'ManagedCluster';
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    labels: Record<string, string>;
    creationTimestamp: string;
  };
  spec: { hubAcceptsClient: boolean; taints: ClusterRow['taints'] };
  status: {
    conditions: Condition[];
    clusterClaims: { name: string; value: string }[];
    agentVersion?: string;
    lastSeen?: string;
    joinedAt?: string;
    denied?: boolean;
    certificate?: { serial: string; notAfter: string; caHash: string };
    /** The cluster's works counted by their conditions: computed by the API when it answers
     *  (api/clusters.ts), never stored or written. */
    works?: WorkCounts;
  };
}

/** Hub-owned taints (defined with the placement rules that tolerate them). */
export { taintKeys };

export interface Liveness {
  /** How long a cluster may stay silent before it is Available=Unknown. */
  leaseMs: number;
  /** The freshest known last-seen time (stored or not yet flushed). */
  lastSeen(c: ClusterRow): string | null;
  /** When the cluster's waiting poll lost its connection, if it has not polled since… */
  droppedAt?(c: ClusterRow): string | null;
  /** …and how long after that its lease ends. */
  dropGraceMs?: number;
}

/**
 * When the cluster's lease ends (epoch ms; undefined when never heard from): `leaseMs` after
 * it was last seen, or `dropGraceMs` after its waiting poll's connection dropped, whichever
 * is first. `dropped` says the second.
 */
export function leaseEnd(l: Liveness, c: ClusterRow): { at: number; dropped: boolean } | undefined {
  const seen = l.lastSeen(c);
  if (!seen) return undefined;
  const at = Date.parse(seen) + l.leaseMs;
  const dropped = l.droppedAt?.(c);
  if (dropped && l.dropGraceMs !== undefined && dropped >= seen) {
    const grace = Date.parse(dropped) + l.dropGraceMs;
    if (grace < at) return { at: grace, dropped: true };
  }
  return { at, dropped: false };
}

export const storedLiveness: Liveness = { leaseMs: durations.clusterLeaseMs, lastSeen: (c) => c.lastSeen };

/**
 * `base`, except that a cluster that joined before this hub process started counts as heard
 * from at the start. A hub that was down heard from nobody; without this, placements would
 * drop every cluster at start and rollouts would treat every cluster as offline only because
 * the hub itself was away.
 */
export function livenessSinceStart(base: Liveness, startedAt: number): Liveness {
  const started = new Date(startedAt).toISOString();
  return {
    ...base,
    lastSeen: (c) => {
      const seen = base.lastSeen(c);
      if (c.joinedAt === null || c.joinedAt >= started) return seen;
      return seen === null || seen < started ? started : seen;
    },
  };
}

export function clusterResource(
  c: ClusterRow,
  cert: CertificateRow | undefined,
  now: number,
  liveness: Liveness = storedLiveness,
): ManagedCluster {
  const lastSeen = liveness.lastSeen(c);
  const conditions: Condition[] = [
    c.hubAcceptsClient
      ? { type: 'HubAccepted', status: 'True', reason: 'Approved', message: 'the hub accepts this cluster' }
      : c.denied
        ? { type: 'HubAccepted', status: 'False', reason: 'Denied', message: 'an admin denied this cluster' }
        : {
            type: 'HubAccepted',
            status: 'False',
            reason: 'Pending',
            message: 'waiting for `outpost-hub cluster approve`',
          },
    c.joinedAt
      ? {
          type: 'Joined',
          status: 'True',
          reason: 'CertificateIssued',
          message: 'the agent holds a hub certificate',
          lastTransitionTime: c.joinedAt,
        }
      : { type: 'Joined', status: 'False', reason: 'NotJoined', message: 'no certificate issued yet' },
  ];
  if (c.removalRequestedAt) {
    conditions.push({
      type: 'Removing',
      status: 'True',
      reason: 'WaitingForAgent',
      message: 'the agent is deleting the works under their delete policies',
      lastTransitionTime: c.removalRequestedAt,
    });
  }
  const taints = [...c.taints];
  if (c.joinedAt) {
    const seen = lastSeen ? Date.parse(lastSeen) : undefined;
    const end = leaseEnd(liveness, c);
    if (end && now <= end.at) {
      conditions.push({
        type: 'Available',
        status: 'True',
        reason: 'AgentReporting',
        message: 'the agent reported recently',
        lastTransitionTime: lastSeen ?? undefined,
      });
    } else {
      // The taint appears when the lease lapses, so tolerationSeconds count from then.
      const since = new Date(end?.at ?? Date.parse(c.joinedAt) + liveness.leaseMs).toISOString();
      conditions.push({
        type: 'Available',
        status: 'Unknown',
        reason: end?.dropped ? 'ConnectionLost' : seen ? 'LeaseExpired' : 'NeverReported',
        message: end?.dropped
          ? `the agent's connection dropped at ${liveness.droppedAt?.(c)} and it has not polled since`
          : seen
            ? `no report since ${lastSeen}`
            : 'the agent has not reported yet',
        lastTransitionTime: since,
      });
      taints.push({ key: taintKeys.unreachable, effect: 'NoSelect', timeAdded: since });
    }
  }
  if (c.joinedAt && c.workDelivery !== undefined && c.workDelivery !== null) {
    conditions.push(
      c.workDelivery
        ? {
            type: 'WorkDelivery',
            status: 'True',
            reason: 'AgentAppliesWork',
            message: 'the agent runs with its cluster and applies works',
          }
        : {
            type: 'WorkDelivery',
            status: 'False',
            reason: 'HeartbeatOnly',
            message:
              'the agent runs heartbeat-only (`outpost-agent run --heartbeat-only`, no cluster): works for this cluster are not applied',
          },
    );
  }
  const res: ManagedCluster = {
    apiVersion,
    kind: 'ManagedCluster',
    metadata: {
      name: c.name,
      uid: c.uid,
      resourceVersion: String(c.resourceVersion),
      labels: c.labels,
      creationTimestamp: c.createdAt,
    },
    spec: { hubAcceptsClient: c.hubAcceptsClient, taints },
    status: {
      conditions,
      clusterClaims: Object.entries(allClaims(c)).map(([name, value]) => ({ name, value })),
    },
  };
  if (c.agentVersion) res.status.agentVersion = c.agentVersion;
  if (lastSeen) res.status.lastSeen = lastSeen;
  if (c.joinedAt) res.status.joinedAt = c.joinedAt;
  if (c.denied) res.status.denied = true;
  if (cert) res.status.certificate = { serial: cert.serial, notAfter: cert.notAfter, caHash: cert.caHash };
  return res;
}

/** Where a cluster stands, one word each, in the order of its life (the CLI's STATE column). */
export type ClusterState =
  | 'Pending'
  | 'Denied'
  | 'Approved'
  | 'NeverReported'
  | 'Available'
  | 'HeartbeatOnly'
  | 'Unreachable'
  | 'Removing';

/**
 * The cluster's state from its resource: Removing (`cluster remove` waits for the agent),
 * Denied, Pending (waiting for `cluster approve`), Approved (accepted; the agent has not
 * fetched its certificate yet), NeverReported (it has one, and never reported), Available
 * (reporting within its lease), HeartbeatOnly (reporting, but its agent runs without a
 * cluster, so works are not applied) or Unreachable (silent past its lease).
 */
export function clusterState(c: Pick<ManagedCluster, 'status' | 'spec'>): ClusterState {
  const cond = (type: string) => c.status.conditions.find((x) => x.type === type);
  if (cond('Removing')?.status === 'True') return 'Removing';
  if (c.status.denied || cond('HubAccepted')?.reason === 'Denied') return 'Denied';
  if (!c.spec.hubAcceptsClient) return 'Pending';
  if (cond('Joined')?.status !== 'True') return 'Approved';
  const available = cond('Available');
  if (available?.status === 'True') return cond('WorkDelivery')?.status === 'False' ? 'HeartbeatOnly' : 'Available';
  return available?.reason === 'NeverReported' ? 'NeverReported' : 'Unreachable';
}
