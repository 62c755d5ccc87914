// Why a placement selects a cluster or not, in the scheduler's own order: the cluster sets
// bound to the placement's namespace, then the predicates (OR across them, AND inside), then
// the taints against the tolerations, then numberOfClusters and the scores. The dashboard's
// cluster page and automation ask it per cluster (GET /api/v1/clusters/{name}/placements);
// the decisions themselves stay the scheduler's (schedule.ts): this only explains them.
import { matchesSelector, type Requirement } from '@outpost/shared';
import { restrictClusters, type SetRestriction } from './cluster-sets.ts';
import { type CompiledPlacement, type CompiledSelector, toleratedUntil } from './schedule.ts';
import { type ClusterView, type TaintView, taintKeys } from './types.ts';

export const selectionReasons = [
  'Selected',
  'NotSchedulable',
  'NotInClusterSets',
  'NoPredicateMatched',
  'TaintNotTolerated',
  'NotChosen',
  'NotScheduledYet',
  'PlacementInvalid',
] as const;
export type SelectionReason = (typeof selectionReasons)[number];

export interface ClusterSelection {
  selected: boolean;
  reason: SelectionReason;
  message: string;
  groupIndex?: number;
  groupName?: string;
}

const describeRequirement = (r: Requirement, what: string) => {
  if (r.operator === 'Exists') return `${what} ${r.key} exists`;
  if (r.operator === 'DoesNotExist') return `${what} ${r.key} does not exist`;
  const values = r.values.length === 1 ? r.values[0] : `(${r.values.join(', ')})`;
  return `${what} ${r.key} ${r.operator === 'In' ? (r.values.length === 1 ? '=' : 'in') : r.operator === 'NotIn' && r.values.length === 1 ? '!=' : 'notin'} ${values}`;
};

/** The first requirement of a selector the cluster fails, in words ("label env = prod"). */
function firstUnmet(s: CompiledSelector, c: ClusterView): string | undefined {
  for (const r of s.labels) if (!matchesSelector([r], c.labels)) return describeRequirement(r, 'label');
  for (const r of s.claims) if (!matchesSelector([r], c.claims)) return describeRequirement(r, 'claim');
  return undefined;
}

const describeTaint = (t: TaintView) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

/**
 * Why `placement` selects `cluster` or not. `decided`: the cluster's place in the placement's
 * current decisions (undefined when it is not in them); `namespace`: the placement's, for
 * the cluster-set message.
 */
export function explainSelection(
  placement: CompiledPlacement,
  restriction: SetRestriction,
  namespace: string,
  cluster: ClusterView,
  decided: { groupIndex: number; groupName: string } | undefined,
  now: number,
): ClusterSelection {
  if (decided) {
    const group = `decision group ${decided.groupIndex}${decided.groupName ? ` (${decided.groupName})` : ''}`;
    return { selected: true, reason: 'Selected', message: `selected, in ${group}`, ...decided };
  }
  const not = (reason: SelectionReason, message: string): ClusterSelection => ({ selected: false, reason, message });
  if (restrictClusters(restriction, [cluster]).length === 0) {
    if (!restriction.bound) {
      return not('NotInClusterSets', `no cluster set is bound to namespace ${namespace} (ManagedClusterSetBinding)`);
    }
    const names = [...restriction.sets.map((s) => s.name), ...restriction.missing];
    return not(
      'NotInClusterSets',
      `not a member of the cluster set${names.length === 1 ? '' : 's'} ${names.join(', ')} bound to namespace ${namespace}`,
    );
  }
  const predicates = placement.predicates;
  if (predicates.length && !predicates.some((s) => firstUnmet(s, cluster) === undefined)) {
    const why = predicates.map((s) => firstUnmet(s, cluster)).filter((x) => x !== undefined);
    return not(
      'NoPredicateMatched',
      predicates.length === 1
        ? `the predicate needs ${why[0]}`
        : `none of the ${predicates.length} predicates matches (${why.map((w) => `needs ${w}`).join('; ')})`,
    );
  }
  if (toleratedUntil(cluster, placement.tolerations, false, now) < 0) {
    const untolerated = (t: TaintView) =>
      toleratedUntil({ ...cluster, taints: [t] }, placement.tolerations, false, now) < 0;
    const taint = cluster.taints.find(untolerated);
    return not(
      'TaintNotTolerated',
      taint
        ? `the taint ${describeTaint(taint)} is not tolerated${taint.key === taintKeys.unreachable ? ' (the cluster is unreachable)' : ''}`
        : 'its taints together are not tolerated',
    );
  }
  if (placement.numberOfClusters !== undefined) {
    return not(
      'NotChosen',
      `eligible, but numberOfClusters is ${placement.numberOfClusters} and the prioritizers chose other clusters`,
    );
  }
  return not('NotScheduledYet', 'eligible; the next scheduling pass selects it');
}
