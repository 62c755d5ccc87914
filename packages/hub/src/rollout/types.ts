// ManifestWorkReplicaSet (OCM work.open-cluster-management.io/v1alpha1 accepted as an alias of
// outpost.dev/v1alpha1): a work template fanned out to the clusters a Placement selects, with
// a rollout strategy (OCM sdk-go's RolloutStrategy spelling) and Outpost's extensions:
// per-cluster overrides, pause, and an explicit policy for offline clusters.
import { errorCodes, type ManifestWorkSpec } from '@outpost/shared';
import type { ClusterSelector, IntOrPercent, PlacementMetadata } from '../placement/types.ts';
import type { Condition } from '../registration/clusters.ts';

export const workSetApiVersion = 'outpost.dev/v1alpha1';
export const ocmWorkSetApiVersion = 'work.open-cluster-management.io/v1alpha1';
export const workSetApiVersions = [workSetApiVersion, ocmWorkSetApiVersion] as const;

/** Stable error codes of this module with their HTTP status (declared in shared errorCodes). */
export const rolloutErrorCodes = {
  /** A submitted ManifestWorkReplicaSet is invalid; details list every field. */
  WORKSET_INVALID: errorCodes.WORKSET_INVALID,
  /** A rollout strategy on its own (parseRolloutStrategy) is invalid. */
  ROLLOUT_STRATEGY_INVALID: errorCodes.ROLLOUT_STRATEGY_INVALID,
  /** `{{ .x }}` names something other than .clusterName, .labels.KEY or .claims.KEY. */
  TEMPLATE_UNKNOWN_REFERENCE: errorCodes.TEMPLATE_UNKNOWN_REFERENCE,
  /** A template references a label or claim this cluster does not have (and gives no default). */
  TEMPLATE_UNRESOLVED: errorCodes.TEMPLATE_UNRESOLVED,
  /** An override selected for this cluster patches a manifest the template does not contain. */
  OVERRIDE_PATCH_UNMATCHED: errorCodes.OVERRIDE_PATCH_UNMATCHED,
} as const;
export type RolloutErrorCode = keyof typeof rolloutErrorCodes;

// ---- rollout strategy: the wire shape (OCM sdk-go RolloutStrategy) ----------------------------

export const rolloutTypes = ['All', 'Progressive', 'ProgressivePerGroup'] as const;
export type RolloutType = (typeof rolloutTypes)[number];

export const offlinePolicies = ['Wait', 'Skip', 'Fail'] as const;
export type OfflinePolicy = (typeof offlinePolicies)[number];

export interface MandatoryDecisionGroup {
  /** Considered first; matches every group of that name (a split group has several indexes). */
  groupName?: string;
  groupIndex?: number;
}

export interface RolloutConfigSpec {
  /** Soak time: a cluster counts as succeeded only after staying successful this long ("5m"). */
  minSuccessTime?: string;
  /** "None" (default) or a duration: a cluster not successful this long after it got the
   *  template has timed out, which counts as a failure. */
  progressDeadline?: string;
  /** Failures tolerated before the rollout stops; count or percent; default 0. */
  maxFailures?: IntOrPercent;
}

export interface RolloutStrategySpec {
  type?: RolloutType;
  all?: Pick<RolloutConfigSpec, 'progressDeadline'>;
  progressive?: RolloutConfigSpec & {
    mandatoryDecisionGroups?: MandatoryDecisionGroup[];
    /** Clusters in flight at once; count or percent of the non-mandatory clusters (rounded
     *  up); default all. */
    maxConcurrency?: IntOrPercent;
  };
  progressivePerGroup?: RolloutConfigSpec & { mandatoryDecisionGroups?: MandatoryDecisionGroup[] };
  /**
   * Outpost: what an unreachable cluster means for the rollout. OCM has no such notion (an
   * offline cluster just progresses until its deadline), which is `Wait`, the default.
   * - Wait: the rollout waits for it; it keeps its place and its concurrency slot, and its
   *   last reported success is not trusted. progressDeadline still applies.
   * - Skip: once unreachable for `timeout`, it is set aside: no slot, neither success nor
   *   failure, not handed the template; when it returns it is rolled out like any other.
   *   Mandatory groups never skip: there Skip waits.
   * - Fail: once unreachable for `timeout`, it counts as a failure (and holds no slot).
   */
  offlineClusters?: { policy: OfflinePolicy; timeout?: string };
}

/** The strategy normalised for planRollout: durations in milliseconds, defaults filled in. */
export interface RolloutPolicy {
  type: RolloutType;
  /** 0 for All (OCM ignores soak time there). */
  minSuccessTimeMs: number;
  /** undefined means None: wait for success indefinitely. */
  progressDeadlineMs: number | undefined;
  maxFailures: IntOrPercent;
  /** Progressive only; undefined means every non-mandatory cluster at once. */
  maxConcurrency: IntOrPercent | undefined;
  mandatoryDecisionGroups: MandatoryDecisionGroup[];
  offline: { policy: OfflinePolicy; timeoutMs: number };
}

// ---- rollout planning: inputs and outputs -----------------------------------------------------

/**
 * What the hub knows about one cluster's copy of the work. Times are epoch milliseconds; the
 * caller tracks them (they are transitions the store records), the planner only reads them.
 */
export interface ClusterWorkStatus {
  /** The cluster's work carries the current template revision (the hub handed it out). */
  dispatched: boolean;
  /** When the current revision was handed out; progressDeadline counts from here. Without
   *  it the deadline cannot be judged and never passes. */
  dispatchedAt?: number;
  /** Conditions the agent reported; they count only when `updated`. */
  applied: boolean;
  available: boolean;
  degraded: boolean;
  /** The agent reported status for the current generation (observedGeneration matches). */
  updated: boolean;
  /** Since when applied ∧ available ∧ ¬degraded ∧ updated has held; soak time counts from
   *  here. Missing while successful means "just now". */
  succeededSince?: number;
  /** The cluster's lease is current (Available is not Unknown). */
  reachable: boolean;
  /** Since when it has been unreachable; missing while unreachable means "just now". */
  unreachableSince?: number;
}

export interface RolloutCluster {
  name: string;
  /** The placement decision group the cluster is in (PlacementStatus.decisions). */
  groupIndex: number;
  groupName: string;
  status: ClusterWorkStatus;
}

/**
 * Where a cluster stands in this plan. Failures are Failed and TimedOut.
 * - ToApply: hand it the current template now.
 * - Pending: not handed out yet; waiting for its turn, or held by a stop or a pause.
 * - Progressing: handed out, not yet successful (or offline under Wait).
 * - Soaking: successful, but not yet for minSuccessTime.
 * - Succeeded: successful for at least minSuccessTime, and reachable.
 * - Failed: Degraded on the current generation, or offline under the Fail policy.
 * - TimedOut: not successful by progressDeadline.
 * - Skipped: offline under the Skip policy.
 */
export type PlannedState =
  | 'ToApply'
  | 'Pending'
  | 'Progressing'
  | 'Soaking'
  | 'Succeeded'
  | 'Failed'
  | 'TimedOut'
  | 'Skipped';

export interface PlannedCluster {
  name: string;
  groupIndex: number;
  groupName: string;
  state: PlannedState;
  /** Why, in a few words ("degraded", "offline for 12m", "waiting for group 1"). */
  reason: string;
  offline: boolean;
  /** In a mandatory decision group. */
  mandatory: boolean;
  /** When this cluster's state may change by time alone (soak end, deadline, offline timeout). */
  recheckAt?: number;
}

export interface RolloutPlan {
  type: RolloutType;
  /** Hand these clusters the current template now. */
  toRollout: string[];
  /** Not handed out yet and not now. */
  pending: string[];
  /** Progressing or Soaking. */
  inProgress: string[];
  succeeded: string[];
  failed: string[];
  timedOut: string[];
  skipped: string[];
  /** Every unreachable cluster, whatever its state (never among `succeeded`). */
  offline: string[];
  /** Per-cluster detail, ordered by group index, then name. */
  clusters: PlannedCluster[];
  /** Failed + TimedOut clusters counted against maxFailures. */
  failures: number;
  /** The resolved tolerance (for ProgressivePerGroup: of the current group). */
  maxFailures: number;
  /** maxFailures was exceeded, or a mandatory group failed: nothing new is handed out. */
  stopped: boolean;
  /** The caller paused the rollout: what would have been handed out is Pending. */
  paused: boolean;
  /** Nothing left to hand out or wait for: every cluster succeeded, failed, timed out or was skipped. */
  complete: boolean;
  /** ProgressivePerGroup and mandatory phases: the group being rolled out. */
  currentGroup?: { groupIndex: number; groupName: string; mandatory: boolean };
  /** Earliest future time a state changes by time alone: plan again then. */
  nextEvaluationAt?: number;
  message: string;
}

export interface PlanOptions {
  /** spec.paused of the ManifestWorkReplicaSet: plan, but hand nothing out. */
  paused?: boolean;
}

// ---- overrides and templates ------------------------------------------------------------------

/** Which manifest of the template a patch applies to. Omitted apiVersion/namespace match any. */
export interface ManifestSelector {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface ManifestPatch {
  manifest: ManifestSelector;
  /** An RFC 7386 JSON merge patch: objects merge, null deletes, arrays and scalars replace. */
  patch: Record<string, unknown>;
}

/**
 * Per-cluster customisation (Fleet's targetCustomizations, Karmada's OverridePolicy): every
 * override whose clusterSelector matches the cluster applies, in list order, so a later one
 * wins where two set the same field.
 */
export interface ClusterOverride {
  name: string;
  clusterSelector: ClusterSelector;
  patches: ManifestPatch[];
}

/** The cluster facts a template may reference. */
export interface TemplateCluster {
  name: string;
  labels: Readonly<Record<string, string>>;
  claims: Readonly<Record<string, string>>;
}

// ---- the resource -----------------------------------------------------------------------------

export interface LocalPlacementReference {
  name: string;
  rolloutStrategy: RolloutStrategySpec;
}

export interface ManifestWorkReplicaSetSpec {
  manifestWorkTemplate: ManifestWorkSpec & Record<string, unknown>;
  placementRefs: LocalPlacementReference[];
  cascadeDeletionPolicy: 'Background' | 'Foreground';
  /** Outpost: per-cluster overrides (see ClusterOverride and template.ts). */
  overrides?: ClusterOverride[];
  /** Outpost: plan but hand nothing new out. */
  paused?: boolean;
  /** Outpost: render `{{ … }}` per cluster (template.ts) in the template and overrides; off, strings go out verbatim. */
  templating?: boolean;
}

/** OCM's ManifestWorkReplicaSetSummary. */
export interface WorkSetSummary {
  total: number;
  applied: number;
  available: number;
  degraded: number;
  progressing: number;
}

/** Outpost: one cluster's place in the rollout, as the workset controller last planned it. */
export interface WorkSetClusterState {
  name: string;
  placement: string;
  groupName: string;
  groupIndex: number;
  /** The planner's state; Failed also for a render error or a conflicting hand-made work. */
  state: PlannedState;
  reason: string;
  /** The cluster is unreachable (its offlineClusters policy applies); absent when reachable. */
  offline?: true;
}

/** Outpost: the rollout of one placementRef as the controller last planned it. */
export interface WorkSetPlacementRollout {
  name: string;
  type: RolloutType;
  message: string;
  stopped: boolean;
  complete: boolean;
  currentGroup?: { groupIndex: number; groupName: string; mandatory: boolean };
}

/**
 * Outpost: the workset's rollout in one word, worst-actionable first: Paused (spec.paused),
 * WaitingForDecisions (a placementRef has no decisions yet), NoClusters (the placements select
 * none), Stopped (maxFailures exceeded), Complete (every selected cluster succeeded),
 * FinishedWithProblems (every group was rolled out to, not every cluster succeeded), Rolling.
 */
export const workSetRolloutStates = [
  'Paused',
  'WaitingForDecisions',
  'NoClusters',
  'Stopped',
  'Rolling',
  'FinishedWithProblems',
  'Complete',
] as const;
export type WorkSetRolloutState = (typeof workSetRolloutStates)[number];

export interface WorkSetRolloutStatus {
  /** The rollout in one word (absent in a status written before it was kept). */
  state?: WorkSetRolloutState;
  /** The plans' messages joined (one per placementRef). */
  message: string;
  placements: WorkSetPlacementRollout[];
  /** Ordered by placement, group index, name; at most limits.workSetStatusClustersMax. */
  clusters: WorkSetClusterState[];
  /** Clusters left out of `clusters` by the bound. */
  clustersOmitted?: number;
  /** The workset generation this status was computed for. */
  observedGeneration: number;
}

export interface ManifestWorkReplicaSetStatus {
  conditions: Condition[];
  summary: WorkSetSummary;
  placementSummary: { name: string; availableDecisionGroups: string; summary: WorkSetSummary }[];
  /** Outpost: the per-placement and per-cluster rollout detail. */
  rollout?: WorkSetRolloutStatus;
}

export interface ManifestWorkReplicaSet {
  apiVersion: string;
  kind: 'ManifestWorkReplicaSet';
  metadata: PlacementMetadata;
  spec: ManifestWorkReplicaSetSpec;
  status?: ManifestWorkReplicaSetStatus;
}
