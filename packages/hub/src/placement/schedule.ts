// The pure Placement scheduler: filter (predicates, then taints and tolerations), score
// (prioritizers), select numberOfClusters, split into decision groups. The same pipeline as
// OCM's pkg/placement scheduler, without listers: everything it needs comes in as arguments,
// so it is a function of (placement, clusters, now, previous decisions, other placements'
// decision counts) and tests need no fakes.
//
// Cost: one pass over the clusters per placement with precompiled selectors, O(n) scoring,
// and a bounded heap for numberOfClusters (O(n log k)), so 100 placements over 10,000 clusters
// take tens of milliseconds (test/bench/placement.bench.ts).
import { matchesSelector, type Requirement, selectorFromObject } from '@outpost/shared';
import type {
  ClusterSelector,
  ClusterView,
  DecisionGroup,
  IntOrPercent,
  Placement,
  PlacementCondition,
  ScheduleContext,
  ScheduleResult,
  Toleration,
} from './types.ts';
import { ocmTaintKeys } from './types.ts';
import { parseQuantity, resolveIntOrPercent } from './values.ts';

/** Best score a prioritizer gives; scores lie in [-maxScore, maxScore] (OCM). */
export const maxScore = 100;

export interface CompiledSelector {
  labels: readonly Requirement[];
  claims: readonly Requirement[];
}

/** One active prioritizer with its weight (weight 0 is dropped at compile time). */
export type CompiledPrioritizer =
  | { kind: 'Steady'; weight: number }
  | { kind: 'Balance'; weight: number }
  | { kind: 'ClaimValue'; weight: number; claim: string };

/**
 * A placement with its selectors compiled once. Compile when a placement is stored or loaded
 * and reuse it for every scheduling pass: selector compilation is the part worth not repeating.
 */
export interface CompiledPlacement {
  readonly compiled: true;
  readonly placement: Placement;
  /** Empty means every cluster passes (OCM: no predicates selects all). */
  readonly predicates: readonly CompiledSelector[];
  readonly tolerations: readonly Toleration[];
  readonly numberOfClusters: number | undefined;
  readonly prioritizers: readonly CompiledPrioritizer[];
  readonly groups: readonly { name: string; selector: CompiledSelector }[];
  readonly clustersPerDecisionGroup: IntOrPercent;
}

/** Compiles a validated label + claim selector (see validate.ts's clusterSelector). */
export function compileSelector(s: ClusterSelector): CompiledSelector {
  return {
    labels: selectorFromObject(s.labelSelector),
    claims: selectorFromObject({ matchExpressions: s.claimSelector?.matchExpressions ?? [] }),
  };
}

/**
 * Compiles a placement that validatePlacement accepted. A placement that did not pass
 * validation may throw a SelectorError here: callers store only validated placements.
 */
export function compilePlacement(placement: Placement): CompiledPlacement {
  const spec = placement.spec;
  // Weights keyed by score coordinate, as OCM's getWeights: Additive starts from the defaults
  // (Steady 1, Balance 1) and configured entries override them; Exact starts empty.
  const weights = new Map<string, CompiledPrioritizer>();
  if (spec.prioritizerPolicy.mode !== 'Exact') {
    weights.set('Steady/', { kind: 'Steady', weight: 1 });
    weights.set('Balance/', { kind: 'Balance', weight: 1 });
  }
  for (const cfg of spec.prioritizerPolicy.configurations) {
    const sc = cfg.scoreCoordinate;
    const key = `${sc.builtIn}/${sc.claim ?? ''}`;
    if (sc.builtIn === 'ClaimValue') {
      weights.set(key, { kind: 'ClaimValue', weight: cfg.weight, claim: sc.claim ?? '' });
    } else weights.set(key, { kind: sc.builtIn, weight: cfg.weight });
  }
  return {
    compiled: true,
    placement,
    predicates: spec.predicates.map((p) => compileSelector(p.requiredClusterSelector)),
    tolerations: spec.tolerations,
    numberOfClusters: spec.numberOfClusters,
    prioritizers: [...weights.values()].filter((w) => w.weight !== 0),
    groups: spec.decisionStrategy.groupStrategy.decisionGroups.map((g) => ({
      name: g.groupName,
      selector: compileSelector(g.groupClusterSelector),
    })),
    clustersPerDecisionGroup: spec.decisionStrategy.groupStrategy.clustersPerDecisionGroup,
  };
}

const asCompiled = (p: Placement | CompiledPlacement): CompiledPlacement => ('compiled' in p ? p : compilePlacement(p));

/** Label and claim requirements both hold (an empty selector matches every cluster). */
export function selectorMatches(s: CompiledSelector, c: Pick<ClusterView, 'labels' | 'claims'>): boolean {
  return matchesSelector(s.labels, c.labels) && matchesSelector(s.claims, c.claims);
}

/**
 * Whether the cluster passes the placement's predicates (OR across predicates, AND inside),
 * ignoring taints. A cluster change can only alter a placement's decisions when this holds
 * before or after the change (or Balance shifts), which lets the caller skip the rest.
 */
export function matchesPredicates(placement: Placement | CompiledPlacement, cluster: ClusterView): boolean {
  const c = asCompiled(placement);
  if (c.predicates.length === 0) return true;
  for (const s of c.predicates) if (selectorMatches(s, cluster)) return true;
  return false;
}

/**
 * Until when (epoch ms) the placement tolerates every taint of the cluster: Infinity for ever,
 * -1 when some taint is not tolerated now. OCM's rules: PreferNoSelect never filters;
 * NoSelectIfNew filters only clusters not already selected; a toleration matches on effect
 * (empty = any), key (empty = any; OCM's key of a hub taint names it) and, under Equal, value. With tolerationSeconds it holds
 * until timeAdded + tolerationSeconds; of several matching tolerations the longest-lasting
 * counts. A taint without timeAdded counts as old: a bounded toleration of it has lapsed.
 */
export function toleratedUntil(
  cluster: ClusterView,
  tolerations: readonly Toleration[],
  alreadySelected: boolean,
  now: number,
): number {
  let until = Number.POSITIVE_INFINITY;
  for (const taint of cluster.taints) {
    if (taint.effect === 'PreferNoSelect') continue;
    if (taint.effect === 'NoSelectIfNew' && alreadySelected) continue;
    let best = -1;
    for (const t of tolerations) {
      if (t.effect !== undefined && t.effect !== taint.effect) continue;
      if (t.key !== undefined && t.key !== taint.key && ocmTaintKeys[t.key] !== taint.key) continue;
      if (t.operator === 'Equal' && (t.value ?? '') !== (taint.value ?? '')) continue;
      if (t.tolerationSeconds === undefined) {
        best = Number.POSITIVE_INFINITY;
        break;
      }
      const expires = (taint.timeAdded ?? 0) + t.tolerationSeconds * 1_000;
      if (now < expires && expires > best) best = expires;
    }
    if (best < 0) return -1;
    if (best < until) until = best;
  }
  return until;
}

const byName = (a: ClusterView, b: ClusterView) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function toSet(previous: ScheduleContext['previous']): ReadonlySet<string> {
  if (previous === undefined) return new Set();
  return previous instanceof Set ? previous : new Set(previous as readonly string[]);
}

export interface ScoreBreakdown {
  /** Σ weight·score per cluster, in the order of the clusters passed in. */
  total: Float64Array;
  /** Each active prioritizer's normalised score per cluster, in [-100, 100]. */
  prioritizers: { name: string; weight: number; scores: Int32Array }[];
}

/**
 * Scores clusters with the placement's active prioritizers, each normalised to [-100, 100]
 * as OCM does. Exported so the API can explain a decision (`placement explain`) and tests can
 * assert single prioritizers.
 */
export function scoreClusters(
  placement: Placement | CompiledPlacement,
  clusters: readonly ClusterView[],
  ctx: ScheduleContext,
): ScoreBreakdown {
  const c = asCompiled(placement);
  const n = clusters.length;
  const previous = toSet(ctx.previous);
  const total = new Float64Array(n);
  const out: ScoreBreakdown['prioritizers'] = [];
  for (const p of c.prioritizers) {
    const scores = new Int32Array(n);
    switch (p.kind) {
      case 'Steady':
        for (let i = 0; i < n; i++) scores[i] = previous.has((clusters[i] as ClusterView).name) ? maxScore : 0;
        break;
      case 'Balance':
        balanceScores(clusters, ctx, previous, scores);
        break;
      case 'ClaimValue':
        claimScores(clusters, p.claim, scores);
        break;
    }
    for (let i = 0; i < n; i++) total[i] = (total[i] as number) + p.weight * (scores[i] as number);
    out.push({ name: p.kind === 'ClaimValue' ? `ClaimValue/${p.claim}` : p.kind, weight: p.weight, scores });
  }
  return { total, prioritizers: out };
}

/**
 * OCM's Balance: a cluster no other placement selected scores 100; otherwise
 * 2·trunc(100·(0.5 − count/max)), where max is the highest count over all clusters, so the
 * busiest cluster scores -100 and one at half the maximum scores 0.
 */
function balanceScores(
  clusters: readonly ClusterView[],
  ctx: ScheduleContext,
  previous: ReadonlySet<string>,
  scores: Int32Array,
): void {
  const counts = ctx.otherDecisionCounts;
  const own = (name: string) => (ctx.countsIncludePrevious && previous.has(name) ? 1 : 0);
  let max = 0;
  if (counts) {
    // Only a count above the running maximum can raise it: that keeps the Set lookups rare
    // on a hub-wide map of every cluster.
    for (const [name, count] of counts) {
      if (count > max) {
        const other = count - own(name);
        if (other > max) max = other;
      }
    }
  }
  for (let i = 0; i < clusters.length; i++) {
    const name = (clusters[i] as ClusterView).name;
    const count = counts ? (counts.get(name) ?? 0) - own(name) : 0;
    scores[i] = count > 0 && max > 0 ? 2 * Math.trunc(maxScore * (0.5 - count / max)) : maxScore;
  }
}

/**
 * ClaimValue: min-max scaling of the numeric claim over the clusters, like OCM's
 * ResourceAllocatable prioritizers: ((v − min)/(max − min) − 0.5)·200, truncated; 100 for all
 * when every value is equal; 0 (neutral under any weight sign) without a parsable value.
 */
function claimScores(clusters: readonly ClusterView[], claim: string, scores: Int32Array): void {
  const values = new Float64Array(clusters.length);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < clusters.length; i++) {
    const raw = (clusters[i] as ClusterView).claims[claim];
    const v = raw === undefined ? undefined : parseQuantity(raw);
    values[i] = v ?? Number.NaN;
    if (v === undefined) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  for (let i = 0; i < clusters.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) scores[i] = 0;
    else if (max === min) scores[i] = maxScore;
    else scores[i] = Math.trunc(((v - min) / (max - min) - 0.5) * 2 * maxScore);
  }
}

/**
 * Indices of the k best clusters: highest total first, ties by name (OCM's order). A bounded
 * heap keeps this O(n log k) for the usual small k; the k are returned best first.
 */
function topK(clusters: readonly ClusterView[], total: Float64Array, k: number): number[] {
  // better(i, j): i ranks before j.
  const better = (i: number, j: number) => {
    const d = (total[i] as number) - (total[j] as number);
    if (d !== 0) return d > 0;
    return (clusters[i] as ClusterView).name < (clusters[j] as ClusterView).name;
  };
  const heap: number[] = []; // root = the worst of the current k
  const siftUp = (pos: number) => {
    let i = pos;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!better(heap[parent] as number, heap[i] as number)) break;
      [heap[parent], heap[i]] = [heap[i] as number, heap[parent] as number];
      i = parent;
    }
  };
  const siftDown = () => {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < heap.length && better(heap[worst] as number, heap[l] as number)) worst = l;
      if (r < heap.length && better(heap[worst] as number, heap[r] as number)) worst = r;
      if (worst === i) return;
      [heap[worst], heap[i]] = [heap[i] as number, heap[worst] as number];
      i = worst;
    }
  };
  for (let i = 0; i < clusters.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      siftUp(heap.length - 1);
    } else if (k > 0 && better(i, heap[0] as number)) {
      heap[0] = i;
      siftDown();
    }
  }
  return heap.sort((a, b) => (better(a, b) ? -1 : 1));
}

/**
 * Splits the selected clusters (sorted by name) into decision groups: each explicit group
 * takes, in order, the not yet grouped clusters its selector matches; the rest follow with an
 * empty group name. Every group holds at most clustersPerDecisionGroup clusters (a count, or a
 * percentage of the selected clusters rounded up); a larger group is split into several with
 * the same name and consecutive indexes, as OCM's API documents.
 */
function splitIntoGroups(c: CompiledPlacement, selected: readonly ClusterView[]): DecisionGroup[] {
  const total = selected.length;
  if (total === 0) return [];
  let size = resolveIntOrPercent(c.clustersPerDecisionGroup, total);
  if (size < 1 || size > total) size = total;
  const out: DecisionGroup[] = [];
  const push = (groupName: string, names: string[]) => {
    for (let i = 0; i < names.length; i += size) {
      out.push({ groupName, groupIndex: out.length, clusterNames: names.slice(i, i + size) });
    }
  };
  const grouped = new Uint8Array(total);
  for (const g of c.groups) {
    const names: string[] = [];
    for (let i = 0; i < total; i++) {
      const cl = selected[i] as ClusterView;
      if (grouped[i] || !selectorMatches(g.selector, cl)) continue;
      grouped[i] = 1;
      names.push(cl.name);
    }
    push(g.name, names);
  }
  const rest: string[] = [];
  for (let i = 0; i < total; i++) if (!grouped[i]) rest.push((selected[i] as ClusterView).name);
  push('', rest);
  return out;
}

function conditions(
  clusterCount: number,
  feasible: number,
  selected: number,
  unscheduled: number,
  wanted: number | undefined,
): PlacementCondition[] {
  const satisfied: PlacementCondition =
    clusterCount === 0
      ? {
          type: 'PlacementSatisfied',
          status: 'False',
          reason: 'NoManagedClusters',
          message: 'no clusters are registered',
        }
      : wanted === 0
        ? {
            type: 'PlacementSatisfied',
            status: 'True',
            reason: 'AllDecisionsScheduled',
            message: 'numberOfClusters is 0',
          }
        : feasible === 0
          ? {
              type: 'PlacementSatisfied',
              status: 'False',
              reason: 'NoManagedClusterMatched',
              message: 'no cluster matches the predicates and tolerations',
            }
          : unscheduled === 0
            ? {
                type: 'PlacementSatisfied',
                status: 'True',
                reason: 'AllDecisionsScheduled',
                message: `${selected} cluster${selected === 1 ? '' : 's'} selected`,
              }
            : {
                type: 'PlacementSatisfied',
                status: 'False',
                reason: 'NotAllDecisionsScheduled',
                message: `${unscheduled} cluster decision${unscheduled === 1 ? '' : 's'} unscheduled: only ${feasible} feasible`,
              };
  return [
    satisfied,
    // Misconfiguration is refused by validatePlacement, so a stored placement never is.
    {
      type: 'PlacementMisconfigured',
      status: 'False',
      reason: 'Configured',
      message: 'placement configuration check passed',
    },
  ];
}

/**
 * Schedules one placement over `clusters`. Pure and deterministic: the same inputs give the
 * same decisions (ties broken by cluster name, never at random as OCM's docs allow).
 */
export function schedulePlacement(
  placement: Placement | CompiledPlacement,
  clusters: readonly ClusterView[],
  ctx: ScheduleContext,
): ScheduleResult {
  const c = asCompiled(placement);
  const previous = toSet(ctx.previous);
  const feasible: ClusterView[] = [];
  let next = Number.POSITIVE_INFINITY;
  let sorted = true;
  const predicates = c.predicates;
  for (const cl of clusters) {
    if (predicates.length) {
      let hit = false;
      for (const sel of predicates) {
        if (selectorMatches(sel, cl)) {
          hit = true;
          break;
        }
      }
      if (!hit) continue;
    }
    if (cl.taints.length) {
      const until = toleratedUntil(cl, c.tolerations, previous.has(cl.name), ctx.now);
      if (until < 0) continue;
      if (until < next) next = until;
    }
    const last = feasible[feasible.length - 1];
    if (last && last.name > cl.name) sorted = false;
    feasible.push(cl);
  }

  const wanted = c.numberOfClusters;
  let selected: ClusterView[];
  if (wanted === undefined || wanted >= feasible.length) {
    // Everything feasible is selected, so scores cannot change the outcome: skip them.
    selected = sorted ? feasible : feasible.sort(byName);
  } else {
    const { total } = scoreClusters(c, feasible, { ...ctx, previous });
    selected = topK(feasible, total, wanted)
      .map((i) => feasible[i] as ClusterView)
      .sort(byName);
  }

  const unscheduled = wanted === undefined ? 0 : Math.max(0, wanted - selected.length);
  const result: ScheduleResult = {
    decisions: splitIntoGroups(c, selected),
    selected: selected.map((s) => s.name),
    numberOfSelectedClusters: selected.length,
    feasibleCount: feasible.length,
    unscheduled,
    conditions: conditions(clusters.length, feasible.length, selected.length, unscheduled, wanted),
  };
  if (Number.isFinite(next)) result.nextEvaluationAt = next;
  return result;
}

/**
 * Decisions per cluster over many placements' selections, the map Balance wants. Keep one for
 * the whole hub and pass it with countsIncludePrevious: true.
 */
export function decisionCounts(selections: Iterable<Iterable<string>>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const names of selections) for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return counts;
}
