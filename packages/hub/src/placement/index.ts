// placement/: the pure core of Placements — the resource's types (OCM v1beta1 compatible),
// validation and normalisation of submitted placements, the scheduler (filter by predicates
// and taints, score with prioritizers, select numberOfClusters, split into decision groups)
// and the status it produces, also as OCM PlacementDecision objects (decisions.ts). No I/O:
// the store, API and CLI call these functions.

export * from './cluster-sets.ts';
export * from './cluster-view.ts';
export * from './decisions.ts';
export * from './explain.ts';
export * from './schedule.ts';
export * from './status.ts';
export * from './types.ts';
export { clusterSelector, metadata, Problems, validatePlacement, validationError } from './validate.ts';
export * from './values.ts';
