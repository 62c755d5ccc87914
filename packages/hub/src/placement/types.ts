// The Placement resource (OCM cluster.open-cluster-management.io/v1beta1 spelling, accepted as
// an alias of outpost.dev/v1alpha1) and the inputs and outputs of the pure scheduler.
//
// Field names follow OCM so an OCM Placement YAML is accepted unchanged where Outpost has the
// concept. ManagedClusterSets are cluster-sets.ts's. Outpost has no AddOnPlacementScores, CEL or
// spread policies: validate.ts refuses those with a clear message instead of silently widening
// a selection.
import { errorCodes } from '@outpost/shared';
import type { Condition } from '../registration/clusters.ts';

export const placementApiVersion = 'outpost.dev/v1alpha1';
export const ocmPlacementApiVersion = 'cluster.open-cluster-management.io/v1beta1';
export const placementApiVersions = [placementApiVersion, ocmPlacementApiVersion] as const;

/** Stable error codes of this module with their HTTP status (declared in shared errorCodes). */
export const placementErrorCodes = {
  PLACEMENT_INVALID: errorCodes.PLACEMENT_INVALID,
} as const;
export type PlacementErrorCode = keyof typeof placementErrorCodes;

/** One problem with a submitted object: a JSON-path-like field and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** The returned (not thrown) outcome of validating user input. */
export type Validated<T, Code extends string = string> =
  | { ok: true; value: T }
  | { ok: false; error: { code: Code; message: string; details: FieldProblem[] } };

export const selectorOperators = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type SelectorOperatorName = (typeof selectorOperators)[number];

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperatorName;
  values?: string[];
}

/** metav1.LabelSelector: matchLabels and matchExpressions, ANDed. Empty matches everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: SelectorRequirement[];
}

/** OCM ClusterClaimSelector: requirements over the cluster's claims (name → value), ANDed. */
export interface ClaimSelector {
  matchExpressions?: SelectorRequirement[];
}

/** Label and claim selectors, ANDed. An empty ClusterSelector matches every cluster. */
export interface ClusterSelector {
  labelSelector?: LabelSelector;
  claimSelector?: ClaimSelector;
}

export interface ClusterPredicate {
  requiredClusterSelector: ClusterSelector;
}

export const prioritizerModes = ['Additive', 'Exact'] as const;
export type PrioritizerMode = (typeof prioritizerModes)[number];

/**
 * Built-in prioritizers. Each scores a feasible cluster in [-100, 100]; the total is
 * Σ weight·score, as in OCM.
 * - `Steady`: 100 for clusters this placement already selected, 0 otherwise (OCM).
 * - `Balance`: 100 for clusters no other placement selected, falling linearly to -100 for the
 *   cluster with the most decisions from other placements (OCM's formula).
 * - `ClaimValue` (Outpost): the numeric value of the claim named in `scoreCoordinate.claim`
 *   (a plain number or a Kubernetes quantity such as `16Gi` or `3800m`), scaled over the
 *   feasible clusters from -100 (smallest) to 100 (largest); 100 for all when every value is
 *   equal; 0 (neutral) for clusters without a parsable value. This is how Outpost spells OCM's
 *   ResourceAllocatableCPU/Memory and AddOn scores: agents report numbers as claims.
 */
export const builtInPrioritizers = ['Steady', 'Balance', 'ClaimValue'] as const;
export type BuiltInPrioritizer = (typeof builtInPrioritizers)[number];

export interface ScoreCoordinate {
  type: 'BuiltIn';
  builtIn: BuiltInPrioritizer;
  /** Only with builtIn `ClaimValue`: the claim whose numeric value is the score source. */
  claim?: string;
}

export interface PrioritizerConfig {
  scoreCoordinate: ScoreCoordinate;
  /** In [-10, 10]; 0 disables the prioritizer, negative prefers the lowest scores. Default 1. */
  weight: number;
}

export interface PrioritizerPolicy {
  /**
   * Additive (default): Steady and Balance run with weight 1 unless configured otherwise.
   * Exact: only the configured prioritizers run.
   */
  mode: PrioritizerMode;
  configurations: PrioritizerConfig[];
}

export const taintEffects = ['NoSelect', 'PreferNoSelect', 'NoSelectIfNew'] as const;
export type TaintEffect = (typeof taintEffects)[number];

/** The taints the hub itself sets, as OCM's cluster.open-cluster-management.io/unreachable|unavailable. */
export const taintKeys = { unreachable: 'outpost.dev/unreachable', unavailable: 'outpost.dev/unavailable' } as const;

/**
 * OCM's keys for those taints: a toleration written with one tolerates the hub's taint, so an
 * OCM Placement tolerates as it does under OCM. A taint a user sets with an OCM key is a
 * taint like any other (tolerated by its own key).
 */
export const ocmTaintKeys: Readonly<Record<string, string>> = {
  'cluster.open-cluster-management.io/unreachable': taintKeys.unreachable,
  'cluster.open-cluster-management.io/unavailable': taintKeys.unavailable,
};

export const tolerationOperators = ['Exists', 'Equal'] as const;
export type TolerationOperator = (typeof tolerationOperators)[number];

export interface Toleration {
  /** Empty matches every key (then operator must be Exists). */
  key?: string;
  operator: TolerationOperator;
  /** Compared with the taint's value under Equal; must be empty under Exists. */
  value?: string;
  /** Empty matches every effect. */
  effect?: TaintEffect;
  /** Tolerate the taint only this long after its timeAdded; unset tolerates forever. */
  tolerationSeconds?: number;
}

/** A count (`3`) or a share of the selected clusters (`"25%"`, rounded up). */
export type IntOrPercent = number | string;

export interface DecisionGroupSpec {
  groupName: string;
  groupClusterSelector: ClusterSelector;
}

export interface GroupStrategy {
  /** Explicit groups, filled first in order; a cluster joins the first group it matches. */
  decisionGroups: DecisionGroupSpec[];
  /** Largest group size; default "100%" (everything left in one group). */
  clustersPerDecisionGroup: IntOrPercent;
}

export interface PlacementSpec {
  /** Accepted for OCM compatibility: only `global` (every cluster) exists in Outpost. */
  clusterSets?: string[];
  /** Unset selects every feasible cluster. */
  numberOfClusters?: number;
  /** ORed; none selects every cluster. */
  predicates: ClusterPredicate[];
  prioritizerPolicy: PrioritizerPolicy;
  tolerations: Toleration[];
  decisionStrategy: { groupStrategy: GroupStrategy };
}

export interface PlacementMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  /** Shown only, never read: a workset being deleted in the foreground. */
  deletionTimestamp?: string;
}

/** One decision group of a schedule: its clusters sorted by name. */
export interface DecisionGroup {
  groupName: string;
  groupIndex: number;
  clusterNames: string[];
}

/** OCM's DecisionGroupStatus, without the PlacementDecision object names (decisions.ts derives those). */
export interface DecisionGroupStatus {
  decisionGroupIndex: number;
  decisionGroupName: string;
  clusterCount: number;
}

export const placementConditionTypes = {
  satisfied: 'PlacementSatisfied',
  misconfigured: 'PlacementMisconfigured',
} as const;

export interface PlacementStatus {
  numberOfSelectedClusters: number;
  /** OCM-compatible summary of the groups. */
  decisionGroups: DecisionGroupStatus[];
  /** The decisions themselves, grouped (also served as OCM PlacementDecision objects: decisions.ts). */
  decisions: DecisionGroup[];
  conditions: Condition[];
  /** When the scheduler asked to be run again (a toleration expires), ISO time. */
  nextEvaluationTime?: string;
}

export interface Placement {
  apiVersion: string;
  kind: 'Placement';
  metadata: PlacementMetadata;
  spec: PlacementSpec;
  status?: PlacementStatus;
}

// ---- scheduler inputs and outputs ----------------------------------------------------------

/** A taint as the scheduler sees it: timeAdded in epoch milliseconds. */
export interface TaintView {
  key: string;
  value?: string;
  effect: TaintEffect;
  /** Missing counts as long ago: a bounded toleration of it has already expired. */
  timeAdded?: number;
}

/**
 * The minimal view of a ManagedCluster the scheduler needs, so it runs equally from store rows
 * or API resources (see toClusterView). Claims are a name → value map.
 */
export interface ClusterView {
  name: string;
  labels: Readonly<Record<string, string>>;
  claims: Readonly<Record<string, string>>;
  taints: readonly TaintView[];
}

export interface ScheduleContext {
  /** Epoch milliseconds: toleration expiry is judged against it. */
  now: number;
  /** Clusters this placement selected last time (Steady, NoSelectIfNew). */
  previous?: ReadonlySet<string> | readonly string[];
  /**
   * Decisions of other placements per cluster (Balance). Clusters missing count as 0.
   * When one map for all placements is kept (including this one), set countsIncludePrevious
   * and the scheduler subtracts this placement's `previous` itself, which avoids copying the
   * map once per placement.
   */
  otherDecisionCounts?: ReadonlyMap<string, number>;
  countsIncludePrevious?: boolean;
}

export interface PlacementCondition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface ScheduleResult {
  /** Decision groups in index order; empty when nothing is selected. */
  decisions: DecisionGroup[];
  /** Every selected cluster, sorted by name. */
  selected: string[];
  numberOfSelectedClusters: number;
  /** Clusters that passed predicates and taints (before numberOfClusters). */
  feasibleCount: number;
  /** numberOfClusters minus the selected count when fewer were feasible, else 0. */
  unscheduled: number;
  /** Earliest future time (epoch ms) a toleration relied on expires; run again then. */
  nextEvaluationAt?: number;
  /** PlacementSatisfied and PlacementMisconfigured, without transition times (see status.ts). */
  conditions: PlacementCondition[];
}
