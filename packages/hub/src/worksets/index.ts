// worksets/: the ManifestWorkReplicaSet controller. It turns each workset into per-cluster
// ManifestWorks: the placements' decisions say which clusters (and in which decision group),
// the pure planner of rollout/ says who gets the current template now, rollout/'s renderer
// makes each cluster's work, and the works are written and deleted through the store exactly
// as the works API does (then the cluster's held long-poll is woken). It owns the workset's
// status (summary, conditions, per-cluster rollout states).
//
// Ownership: a per-cluster work is named after the workset (as OCM names it) and carries the
// labels `outpost.dev/workset: NAME` and `outpost.dev/workset-namespace: NAMESPACE`; the
// controller never writes or deletes a work without both (a hand-made work of the same name,
// or the work of a same-named workset of another namespace, is reported as a conflict). The annotation
// `outpost.dev/workset-spec-hash` holds a hash of the rendered spec, so "dispatched" means
// the cluster's work is the current template rendered for that cluster.
//
// What it deliberately does not do (SPEC invariant 1, no delete from missing information):
// nothing is deleted while any placementRef is missing or has no decisions yet, nothing is
// written or deleted while the workset is paused, and a cluster that left the decisions
// while unreachable keeps its work until it is heard from again (a placement without a
// toleration drops unreachable clusters; deleting their works would tear the workload down
// the moment they come back).
export * from './controller.ts';
