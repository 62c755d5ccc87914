// Row types of the store, as the rest of the hub sees them (JSON columns decoded).

export type ApiScope = 'admin' | 'read-only';

export interface ApiTokenRow {
  id: string;
  name: string;
  scope: ApiScope;
  secretHash: Buffer;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface BootstrapTokenRow {
  id: string;
  secretHash: Buffer;
  description: string;
  labels: Record<string, string>;
  autoApprove: boolean;
  usageLimit: number;
  usageCount: number;
  boundCluster: string | null;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSelect' | 'PreferNoSelect' | 'NoSelectIfNew';
  timeAdded?: string;
}

export interface ClusterRow {
  name: string;
  uid: string;
  resourceVersion: number;
  labels: Record<string, string>;
  hubAcceptsClient: boolean;
  denied: boolean;
  taints: Taint[];
  claims: Record<string, string>;
  agentVersion: string | null;
  createdAt: string;
  joinedAt: string | null;
  lastSeen: string | null;
  /** An admin allowed the agent to adopt this database's epoch. */
  adoptEpoch: boolean;
  /** `cluster remove` was asked; the row stays until the agent deleted every work. */
  removalRequestedAt: string | null;
  /** An admin confirmed the deletions the agent's mass-delete breaker held. */
  releaseHeldDeletions: boolean;
  /** The agent's heartbeats say it delivers work (true) or runs heartbeat-only (false); null: not said. */
  workDelivery?: boolean | null;
  /** Claims the running agent read from its cluster; `claims` (set at join) win over them. */
  reportedClaims?: Record<string, string>;
}

/** Every claim of a cluster: those its agent read, overlaid by those set at join. */
export const allClaims = (c: Pick<ClusterRow, 'claims' | 'reportedClaims'>): Record<string, string> =>
  c.reportedClaims && Object.keys(c.reportedClaims).length ? { ...c.reportedClaims, ...c.claims } : c.claims;

export type RegistrationStateRow = 'Pending' | 'Approved' | 'Denied';

export interface RegistrationRow {
  id: string;
  clusterName: string;
  tokenId: string;
  csrPem: string;
  state: RegistrationStateRow;
  message: string | null;
  certificateSerial: string | null;
  createdAt: string;
  decidedAt: string | null;
}

export interface CertificateRow {
  serial: string;
  clusterName: string;
  caHash: string;
  certPem: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
}

export interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  resource: string;
  result: string;
  details: unknown;
}
