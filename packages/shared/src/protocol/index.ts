// The agent protocol (/agent/v1): paths, request and response bodies, certificate
// subjects. Hub and agent both import these, so a change shows up on both sides in tsc.

export const agentApiPrefix = '/agent/v1';
/** Sent by the agent as `x-outpost-protocol`; the hub refuses a major it does not speak. */
export const protocolVersion = '1';

/**
 * Agent certificate subject. The hub builds it from the cluster name and requires the
 * CSR to carry exactly this (one CN, one O), so a certificate names one cluster only.
 */
export const agentOrganization = 'outpost:agents';
export const agentCommonNamePrefix = 'outpost:cluster:';
export function agentCommonName(cluster: string): string {
  return `${agentCommonNamePrefix}${cluster}`;
}
export function agentSubject(cluster: string): string {
  return `CN=${agentCommonName(cluster)}, O=${agentOrganization}`;
}
/** The cluster a verified client certificate's CN names, or undefined. */
export function clusterFromCommonName(cn: string | undefined): string | undefined {
  if (!cn?.startsWith(agentCommonNamePrefix)) return undefined;
  return cn.slice(agentCommonNamePrefix.length) || undefined;
}

/** A kubeadm-style bootstrap token: `[a-z0-9]{6}.[a-z0-9]{16}`. */
export const bootstrapTokenPattern = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export const agentPaths = {
  /** Public: the CA bundle agents trust; joiners check it against their pinned hash. */
  caBundle: `${agentApiPrefix}/ca-bundle`,
  /** Bootstrap token authenticated: create a registration. */
  registrations: `${agentApiPrefix}/registrations`,
  /** Capability authenticated (the unguessable id): follow a registration. */
  registration: (id: string) => `${agentApiPrefix}/registrations/${encodeURIComponent(id)}`,
  /** mTLS: renew the certificate with a new key. */
  certificate: (cluster: string) => `${agentApiPrefix}/clusters/${encodeURIComponent(cluster)}/certificate`,
  /** mTLS: long-poll for desired state. */
  sync: (cluster: string) => `${agentApiPrefix}/clusters/${encodeURIComponent(cluster)}/sync`,
  /** mTLS: batched, sequenced status reports. */
  status: (cluster: string) => `${agentApiPrefix}/clusters/${encodeURIComponent(cluster)}/status`,
  /** mTLS: cheap liveness and identity check, also used by join to prove the credentials. */
  heartbeat: (cluster: string) => `${agentApiPrefix}/clusters/${encodeURIComponent(cluster)}/heartbeat`,
  /**
   * mTLS, GET: the hub's view of the caller's own cluster. It does not count as the agent
   * being seen, so `join --install` can watch for a running agent without faking one.
   */
  cluster: (cluster: string) => `${agentApiPrefix}/clusters/${encodeURIComponent(cluster)}`,
} as const;

export type Claims = Record<string, string>;

export interface RegisterRequest {
  /** `ID.SECRET` bootstrap token, or a recovery token from `outpost-hub cluster recover`. */
  token: string;
  clusterName: string;
  /** PEM PKCS#10 request, subject `agentSubject(clusterName)`; the key never leaves the spoke. */
  csr: string;
  labels?: Record<string, string>;
  claims?: Claims;
  agentVersion?: string;
}

export const registrationStates = ['Pending', 'Approved', 'Denied'] as const;
export type RegistrationState = (typeof registrationStates)[number];

export interface RegistrationView {
  id: string;
  clusterName: string;
  state: RegistrationState;
  /** Set when Approved: PEM certificate for the CSR's key. */
  certificate?: string;
  /** Set when Approved: every CA the agent must trust for the hub. */
  caBundle?: string;
  message?: string;
  /** How long the agent should wait before asking again (also sent as Retry-After). */
  retryAfterSeconds?: number;
}

export interface RenewRequest {
  csr: string;
}

export interface RenewResponse {
  certificate: string;
  caBundle: string;
}

export interface HeartbeatRequest {
  agentVersion?: string;
  claims?: Claims;
  /** false: the agent runs heartbeat-only (no cluster: works are not applied); true: it delivers work. */
  workDelivery?: boolean;
  /**
   * Claims the agent read from its cluster (version, nodes, ClusterClaim objects…), sent when
   * they change. Kept apart from `claims` (set at join): those win where both name a claim.
   */
  reportedClaims?: Claims;
}

export interface HeartbeatResponse {
  cluster: string;
  /** SHA-256 of the CA bundle: an agent whose copy differs fetches the bundle again. */
  caBundleHash: string;
  /** True when the hub wants a new certificate now (CA rotation, revoked siblings). */
  renewNow: boolean;
  serverTime: string;
}

/** A condition as the hub's ManagedCluster shows it. */
export interface ClusterCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

/** `GET agentPaths.cluster(name)`: what the hub reports about the calling cluster. */
export interface ClusterSelfView {
  cluster: string;
  /** The ManagedCluster's conditions: HubAccepted, Joined, Available, Removing. */
  conditions: ClusterCondition[];
  /** The last time the hub heard from the cluster's agent (heartbeat, poll), if ever. */
  lastSeen?: string;
  /** The hub's clock when it answered, to compare lastSeen without trusting ours. */
  serverTime: string;
}

export interface CaBundleResponse {
  caBundle: string;
  /** `sha256:` pins of each CA in the bundle, in the same order. */
  caHashes: string[];
}
