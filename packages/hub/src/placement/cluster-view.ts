// The scheduler's view of a ManagedCluster. Built from the API resource (clusterResource), not
// the store row, because the hub-owned `unreachable` taint exists only on the resource: it is
// derived from the lease when the resource is built.
import type { ManagedCluster } from '../registration/clusters.ts';
import { type ClusterView, type TaintView, taintEffects } from './types.ts';

export function toClusterView(mc: Pick<ManagedCluster, 'metadata' | 'spec' | 'status'>): ClusterView {
  const claims: Record<string, string> = {};
  for (const c of mc.status.clusterClaims) claims[c.name] = c.value;
  const taints: TaintView[] = [];
  for (const t of mc.spec.taints) {
    // An unknown effect cannot be tolerated by name, so treat it as the strictest one.
    const effect = taintEffects.includes(t.effect) ? t.effect : 'NoSelect';
    const view: TaintView = { key: t.key, effect };
    if (t.value !== undefined) view.value = t.value;
    if (t.timeAdded !== undefined) {
      const ms = Date.parse(t.timeAdded);
      if (Number.isFinite(ms)) view.timeAdded = ms;
    }
    taints.push(view);
  }
  return { name: mc.metadata.name, labels: mc.metadata.labels, claims, taints };
}
