// A Placement's decisions as OCM's PlacementDecision objects, for tools built for OCM (Argo
// CD's cluster-decision generator reads `status.decisions[].clusterName` of the objects
// labelled `cluster.open-cluster-management.io/placement: NAME`). Derived from the
// placement's status on every read, never stored: as in OCM, one object per decision group
// and per 100 clusters, named `NAME-decision-N` (N from 1, counting on across groups), and
// one empty object when nothing is selected.
import type { PlacementStatus } from './types.ts';

export const placementDecisionApiVersion = 'cluster.open-cluster-management.io/v1beta1';

/** OCM's labels on PlacementDecision objects. */
export const placementDecisionLabels = {
  placement: 'cluster.open-cluster-management.io/placement',
  groupIndex: 'cluster.open-cluster-management.io/decision-group-index',
  groupName: 'cluster.open-cluster-management.io/decision-group-name',
} as const;

/** Clusters per PlacementDecision object (OCM's maxNumOfClusterDecisions). */
export const decisionsPerObject = 100;

export interface PlacementDecision {
  apiVersion: typeof placementDecisionApiVersion;
  kind: 'PlacementDecision';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: { apiVersion: string; kind: 'Placement'; name: string; uid: string; controller: true }[];
  };
  status: { decisions: { clusterName: string; reason: string }[] };
}

export function placementDecisions(
  placement: { name: string; namespace?: string; uid: string; apiVersion: string },
  status: Pick<PlacementStatus, 'decisions'> | undefined,
): PlacementDecision[] {
  const groups = status?.decisions?.length
    ? status.decisions
    : [{ groupName: '', groupIndex: 0, clusterNames: [] as string[] }];
  const out: PlacementDecision[] = [];
  for (const g of groups) {
    const slices: string[][] = [];
    for (let i = 0; i < g.clusterNames.length; i += decisionsPerObject) {
      slices.push(g.clusterNames.slice(i, i + decisionsPerObject));
    }
    if (slices.length === 0) slices.push([]);
    for (const names of slices) {
      out.push({
        apiVersion: placementDecisionApiVersion,
        kind: 'PlacementDecision',
        metadata: {
          name: `${placement.name}-decision-${out.length + 1}`,
          namespace: placement.namespace ?? 'default',
          labels: {
            [placementDecisionLabels.placement]: placement.name,
            [placementDecisionLabels.groupIndex]: String(g.groupIndex),
            [placementDecisionLabels.groupName]: g.groupName,
          },
          ownerReferences: [
            {
              apiVersion: placement.apiVersion,
              kind: 'Placement',
              name: placement.name,
              uid: placement.uid,
              controller: true,
            },
          ],
        },
        status: { decisions: names.map((clusterName) => ({ clusterName, reason: '' })) },
      });
    }
  }
  return out;
}
