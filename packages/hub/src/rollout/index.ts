// rollout/: the pure core of ManifestWorkReplicaSets — the resource's types (OCM
// work/v1alpha1 compatible), its validation, the rollout strategy parser, the rollout planner
// (planRollout(policy, clusters, now): who gets the template now, who is in progress,
// succeeded, failed, timed out or skipped, whether the rollout stopped, when to plan again),
// and per-cluster rendering of the work template (values from labels and claims, overrides).
// No I/O: the store, API and CLI call these functions.
//
// Where the planner knowingly differs from OCM sdk-go's rollout.go:
// - Progressive orders clusters by decision group index, then name (sdk-go: name only), so
//   groups defined first (canaries) go first even without mandatoryDecisionGroups.
// - A Failed (Degraded) cluster counts against maxFailures at once but holds no concurrency
//   slot and does not hold its group: within tolerance the rollout moves on while the cluster
//   may still recover (sdk-go keeps it in the rollout window until progressDeadline).
// - A maxFailures larger than the cluster count means "all may fail" (sdk-go falls back to 0).
// - Offline clusters follow offlineClusters (Wait | Skip | Fail, with a timeout) and are never
//   counted as succeeded; OCM has no notion of an unreachable cluster in a rollout.
// - A rollout block for another type (e.g. `progressive` under type All), and minSuccessTime
//   or maxFailures under All, are refused instead of ignored.

export * from './overrides.ts';
export * from './plan.ts';
export * from './strategy.ts';
export * from './template.ts';
export * from './types.ts';
export * from './validate.ts';
