// The ManagedCluster resource as the API shows it, built from the store's rows.
import { durations } from '@outpost/shared';
import type { CertificateRow, ClusterRow } from '../store/index.ts';
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
  };
}

export function clusterResource(c: ClusterRow, cert: CertificateRow | undefined, now: number): ManagedCluster {
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
  if (c.joinedAt) {
    const seen = c.lastSeen ? Date.parse(c.lastSeen) : undefined;
    conditions.push(
      seen !== undefined && now - seen <= durations.clusterLeaseMs
        ? {
            type: 'Available',
            status: 'True',
            reason: 'AgentReporting',
            message: 'the agent reported recently',
            lastTransitionTime: c.lastSeen ?? undefined,
          }
        : {
            type: 'Available',
            status: 'Unknown',
            reason: 'LeaseExpired',
            message: seen ? `no report since ${c.lastSeen}` : 'the agent has not reported yet',
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
    spec: { hubAcceptsClient: c.hubAcceptsClient, taints: c.taints },
    status: {
      conditions,
      clusterClaims: Object.entries(c.claims).map(([name, value]) => ({ name, value })),
    },
  };
  if (c.agentVersion) res.status.agentVersion = c.agentVersion;
  if (c.lastSeen) res.status.lastSeen = c.lastSeen;
  if (c.joinedAt) res.status.joinedAt = c.joinedAt;
  if (c.denied) res.status.denied = true;
  if (cert) res.status.certificate = { serial: cert.serial, notAfter: cert.notAfter, caHash: cert.caHash };
  return res;
}
