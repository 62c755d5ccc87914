// The desired-state sync (/agent/v1/clusters/{name}/sync) and status reports
// (/agent/v1/clusters/{name}/status). See docs/architecture.md, "Work delivery".
//
// The agent long-polls with the hub epoch and the desired revision it holds. The hub keeps,
// per cluster, what it last sent (the agent's inventory at that revision), so an unchanged
// poll is one integer comparison and a change sends only the changed works, and for a work
// the agent already has, only the manifests that changed since the agent's generation.
import type { HeartbeatRequest, HeartbeatResponse } from './index.ts';
import type { DeleteOption, Manifest, ManifestConfig, ManifestWorkExecutor } from './work.ts';

export interface InventoryEntry {
  uid: string;
  generation: number;
}

export interface SyncRequest {
  /** The hub epoch the agent last synced with; absent on a first sync. */
  hubEpoch?: string;
  /** The desired revision the agent holds (0 when it holds nothing). */
  revision: number;
  /** Sent when the hub asked for it (`needInventory`) or after the agent started. */
  inventory?: Record<string, InventoryEntry>;
  /** How long the hub may hold the request when nothing changed, in seconds. */
  waitSeconds?: number;
  /**
   * What this agent honours beyond protocol 1 (agentFeatures). The hub never sends an agent a
   * work that needs a feature it did not name: an older agent would apply it ignoring the field.
   */
  features?: string[];
  /**
   * The heartbeat, carried by the poll: an agent that polls sends no heartbeats of its own,
   * so it holds one connection and makes one request per poll. The hub answers it in
   * SyncResponse.heartbeat (a hub from before this answers none; the agent then heartbeats).
   */
  heartbeat?: HeartbeatRequest;
}

/** Features an agent names in SyncRequest.features. */
export const agentFeatures = {
  /** ManifestWork spec.executor: SubjectAccessReviews before each manifest is applied. */
  executor: 'executor',
} as const;

export interface ManifestEntry {
  key: string;
  ordinal: number;
  manifest: Manifest;
}

export interface WorkUpdate {
  name: string;
  uid: string;
  generation: number;
  /** True: `manifests` is the whole work. False: upserts and `removed` keys since the agent's generation. */
  full: boolean;
  manifests: ManifestEntry[];
  removed: string[];
  deleteOption?: DeleteOption;
  manifestConfigs?: ManifestConfig[];
  /** The work's executor: each manifest is applied only where this subject may (SubjectAccessReview). */
  executor?: ManifestWorkExecutor;
  /** Set when the work is to be deleted (an explicit tombstone naming its uid). */
  deleting?: boolean;
}

export interface SyncResponse {
  hubEpoch: string;
  revision: number;
  /** The hub does not know what the agent holds: send `inventory` on the next poll. */
  needInventory?: boolean;
  /**
   * The agent's remembered epoch differs from this hub's: it applies nothing and deletes
   * nothing from this hub until an admin runs `outpost-hub cluster adopt NAME`.
   */
  epochMismatch?: { agentEpoch: string; adoptAllowed: boolean };
  /** An admin confirmed the deletions the agent's mass-delete breaker held: carry them out. */
  releaseHeldDeletions?: boolean;
  works: WorkUpdate[];
  /** The answer to SyncRequest.heartbeat, as of the moment the poll is answered. */
  heartbeat?: HeartbeatResponse;
  /**
   * Should the connection break without an answer (the hub killed, the network cut), wait a
   * uniform draw from [0, this many seconds) before reconnecting, then back off as usual:
   * the hub sizes it to its fleet (durations.reconnectPerSecond), so the agents of a killed
   * hub do not all come back in the same second.
   */
  reconnectWindowSeconds?: number;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface ManifestStatus {
  resourceMeta: {
    group: string;
    version: string;
    kind: string;
    resource: string;
    namespace: string;
    name: string;
    ordinal: number;
  };
  conditions: Condition[];
  statusFeedback?: {
    values: {
      name: string;
      fieldValue: {
        type: 'Integer' | 'String' | 'Boolean' | 'JsonRaw';
        integer?: number;
        string?: string;
        boolean?: boolean;
        jsonRaw?: string;
      };
    }[];
  };
}

export interface WorkStatus {
  conditions: Condition[];
  resourceStatus: { manifests: ManifestStatus[] };
  observedGeneration: number;
  /** Drift corrections since the agent started applying this work. */
  corrections?: number;
}

export interface StatusReport {
  /** Per-agent sequence number, strictly increasing across restarts. */
  seq: number;
  work: string;
  uid: string;
  generation: number;
  /** When the agent produced this status (it may be delivered much later). */
  observedAt: string;
  status: WorkStatus;
  /** The work's objects are gone (or orphaned) and the hub may forget the work. */
  deleted?: boolean;
}

export interface StatusBatch {
  reports: StatusReport[];
}

export interface StatusAck {
  /** The highest sequence number the hub has stored (all lower ones are stored or superseded). */
  ackedSeq: number;
}
