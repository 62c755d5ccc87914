// What the agent's work-delivery parts exchange: the desired state of a work as the agent
// holds it, the objects it applied (the ledger), and the interfaces of the apply engine
// (apply/) and of the durable agent state (state/). sync/ drives both.
import type {
  DeleteOption,
  ManifestConfig,
  ManifestEntry,
  ManifestWorkExecutor,
  StatusReport,
  WorkStatus,
} from '@outpost/shared';

/** One ManifestWork as the agent holds it, manifests in ordinal order. */
export interface DesiredWork {
  name: string;
  uid: string;
  generation: number;
  manifests: ManifestEntry[];
  deleteOption?: DeleteOption;
  manifestConfigs?: ManifestConfig[];
  /**
   * OCM's executor: each manifest is applied only where a SubjectAccessReview says this
   * ServiceAccount may (apply/executor.ts). Absent: the agent's own permissions alone.
   */
  executor?: ManifestWorkExecutor;
  /** The hub sent a tombstone for this uid: delete under deleteOption, then report. */
  deleting?: boolean;
  /**
   * When the agent first held this work (ISO time, the agent's clock). Only an object created
   * since can be recognised as this work's by its managedFields alone (after a crash between
   * the create and the ledger's save); an object that was there before is never claimed so.
   * Absent for works stored by older agents: no such recognition then.
   */
  receivedAt?: string;
}

/** An object a work applied and owns: what the agent may later delete (with a UID precondition). */
export interface AppliedObject {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name from discovery, as OCM's resource identifiers use it. */
  resource: string;
  namespace: string;
  name: string;
  uid: string;
}

export interface ApplyResult {
  /** Conditions per manifest and for the work, feedback values, observed generation. */
  status: WorkStatus;
  /** Every object of the work that exists now and belongs to it (created or adopted by it). */
  applied: AppliedObject[];
}

export interface DeleteResult {
  /** Objects confirmed gone (or already gone). */
  deleted: AppliedObject[];
  /** Objects left in place on purpose (orphaned by policy, or not ours: UID changed). */
  orphaned: AppliedObject[];
  /** Objects still being deleted (finalizers) or that failed; retried on the next pass. */
  /** `finalizing`: accepted and going (finalizers, a grace period); else refused or unanswered. */
  pending: { object: AppliedObject; message: string; finalizing: boolean }[];
}

/** The apply engine (apply/): everything that talks to the spoke's kube-apiserver for works. */
export interface WorkApplier {
  /**
   * Applies every manifest of `work` (Namespaces and CRDs first, custom resources once
   * their CRD is Established), each under its update strategy; one bad manifest does not
   * stop the others. `previous` is the ledger from the last apply, so objects this work
   * created before are recognised as its own.
   */
  apply(work: DesiredWork, previous: readonly AppliedObject[], signal?: AbortSignal): Promise<ApplyResult>;
  /** Deletes `objects` (reverse apply order, UID precondition, background or foreground). */
  delete(objects: readonly AppliedObject[], opts: { foreground: boolean; signal?: AbortSignal }): Promise<DeleteResult>;
}

/** What the agent remembers across restarts, kept in the spoke cluster. */
export interface AgentSnapshot {
  /** The hub database identity last synced with (undefined before the first sync). */
  hubEpoch: string | undefined;
  /** The desired revision the agent holds. */
  revision: number;
  works: Map<string, DesiredWork>;
  /** Per work uid: the objects it applied. */
  ledger: Map<string, AppliedObject[]>;
  /** Deletions held back by the mass-delete breaker, until an admin confirms. */
  heldDeletions: { workUid: string; objects: AppliedObject[]; since: string }[];
  /**
   * UIDs of objects a work created and then let go of while leaving them on the spoke (an
   * Orphan or SelectivelyOrphan delete, a container kept for another work), newest last and
   * bounded. Such an object still looks created by the agent's own apply, so a later work
   * over it could claim it from its managedFields: these never are.
   */
  released: string[];
}

/** The durable state (state/). Writes are atomic per call; reads come from memory after load. */
export interface AgentStateStore {
  load(): Promise<AgentSnapshot>;
  /** Stores the new desired state of the works that changed and the sync position, atomically. */
  saveDesired(change: { hubEpoch: string; revision: number; upsert: DesiredWork[]; remove: string[] }): Promise<void>;
  saveLedger(workUid: string, objects: AppliedObject[] | undefined): Promise<void>;
  saveHeldDeletions(held: AgentSnapshot['heldDeletions']): Promise<void>;
  saveReleased(uids: readonly string[]): Promise<void>;
  outbox: StatusOutbox;
}

/**
 * Status produced by the agent, in order, durable across restarts, delivered once: the
 * outbox keeps the latest report per work plus a bounded history of transitions.
 */
export interface StatusOutbox {
  /** Assigns the next sequence number and stores the report durably; returns it. */
  append(report: Omit<StatusReport, 'seq'>): Promise<StatusReport>;
  /** Reports not yet acknowledged, lowest sequence first, at most `max`. */
  pending(max: number): StatusReport[];
  /** Drops every report with seq ≤ `seq` (the hub stored them). */
  ack(seq: number): Promise<void>;
  depth(): number;
}

export type { WorkStatus };
