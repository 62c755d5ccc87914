// From a schedule result to the Placement's status, keeping each condition's
// lastTransitionTime while its status stays the same (metav1 SetStatusCondition semantics).
import type { Condition } from '../registration/clusters.ts';
import type { PlacementCondition, PlacementStatus, ScheduleResult } from './types.ts';

/**
 * Merges freshly computed conditions into the previous ones: a condition whose status did not
 * change keeps its lastTransitionTime; a changed or new one gets `now`. Conditions of other
 * types in `previous` are kept (another controller may own them).
 */
export function mergeConditions(
  previous: readonly Condition[] | undefined,
  next: readonly PlacementCondition[],
  now: number,
): Condition[] {
  const at = new Date(now).toISOString();
  const out: Condition[] = (previous ?? []).filter((p) => !next.some((n) => n.type === p.type));
  for (const n of next) {
    const old = previous?.find((p) => p.type === n.type);
    out.push({
      ...n,
      lastTransitionTime: old && old.status === n.status && old.lastTransitionTime ? old.lastTransitionTime : at,
    });
  }
  return out.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/** The status a scheduler pass produces, ready to store. */
export function placementStatus(
  result: ScheduleResult,
  previous: PlacementStatus | undefined,
  now: number,
): PlacementStatus {
  const status: PlacementStatus = {
    numberOfSelectedClusters: result.numberOfSelectedClusters,
    decisionGroups: result.decisions.map((g) => ({
      decisionGroupIndex: g.groupIndex,
      decisionGroupName: g.groupName,
      clusterCount: g.clusterNames.length,
    })),
    decisions: result.decisions,
    conditions: mergeConditions(previous?.conditions, result.conditions, now),
  };
  if (result.nextEvaluationAt !== undefined)
    status.nextEvaluationTime = new Date(result.nextEvaluationAt).toISOString();
  return status;
}

/** Every cluster a stored status selected: the `previous` of the next scheduling pass. */
export function selectedClusters(status: PlacementStatus | undefined): Set<string> {
  const out = new Set<string>();
  for (const g of status?.decisions ?? []) for (const n of g.clusterNames) out.add(n);
  return out;
}
