// Every size and count limit of Outpost, in one place.

export const limits = {
  /** Body limit of the admin API and the agent API, except where a route says otherwise. */
  bodyBytes: 1024 * 1024,
  /** A cluster name is a DNS-1123 label: it becomes part of certificate subjects and paths. */
  clusterNameMax: 63,
  /** Nesting of arrays and objects in a JSON or YAML body. Kubernetes objects, CRD schemas
   *  included, stay far below; the bound keeps every recursive walk of a value safe. */
  nestingDepthMax: 200,
  /** Longest path parameter the router takes (work and workset names may have 253 characters). */
  urlParamMax: 512,
  labelsPerObject: 64,
  claimsPerCluster: 64,
  claimValueMax: 1024,
  descriptionMax: 1024,
  /** Default upper bound of one ManifestWork's request body; `--max-work-size` changes it. */
  workBytes: 16 * 1024 * 1024,
  /** Manifests in one work (after `kind: List` expansion). Every one costs the hub's event
   *  loop a few microseconds per write and answer; at this bound a write still holds it for
   *  well under 100 ms (test/bench/large-bodies.bench.ts). */
  manifestsPerWork: 10_000,
  /** A work's annotations, keys and values together, as Kubernetes bounds an object's. */
  annotationsBytes: 256 * 1024,
  /** A work's spec without its manifests (delete options, manifest configs). */
  workSpecBytes: 1024 * 1024,
  /** Audit rows for unauthenticated calls per minute; the rest of the minute is one summary row. */
  auditAnonymousPerMinute: 60,
  /** Audit retention defaults; `--audit-max-rows` and `--audit-max-age` change them. */
  auditMaxRows: 1_000_000,
  /** The most changes the change log keeps, however recent (a burst of them). */
  watchHistoryRows: 100_000,
  /** Watches one hub serves at once, and one token may hold (api/watch/tail.ts). */
  watches: 2_000,
  watchesPerCaller: 200,
  /** Wrong bootstrap secrets from one source before it is slowed down. */
  tokenFailuresBeforeThrottle: 5,
  /** Placement: list sizes a submitted Placement may use (OCM sets no bound; these keep one
   *  scheduling pass over 10,000 clusters cheap). */
  placementPredicatesMax: 32,
  placementTolerationsMax: 32,
  placementPrioritizersMax: 16,
  placementDecisionGroupsMax: 64,
  /** ManagedClusterSets one Placement may name in spec.clusterSets. */
  placementClusterSetsMax: 32,
  /** ManagedClusterSets and bindings a hub keeps: each scheduling pass reads them all. */
  clusterSetsMax: 1_000,
  clusterSetBindingsMax: 10_000,
  /** Prioritizer weights lie in [-max, max], as OCM's kubebuilder validation says. */
  prioritizerWeightMax: 10,
  /** ManifestWorkReplicaSet: placements it fans out to, overrides, and patches per override. */
  workSetPlacementRefsMax: 16,
  workSetOverridesMax: 64,
  workSetPatchesPerOverrideMax: 64,
  /** Per-cluster rollout states kept in a ManifestWorkReplicaSet's status (the rest counted). */
  workSetStatusClustersMax: 500,
  /** GitRepo: paths it renders (each a workset), and repositories fetched at once. */
  gitRepoPathsMax: 32,
  gitFetchConcurrency: 4,
  /** A checked-out GitRepo larger than this (its files, without .git) is refused: a status
   *  error, nothing rolled out. */
  gitCheckoutBytesMax: 256 * 1024 * 1024,
  /** Files rendered under one path; a manifest file larger than the work limit is refused. */
  gitFilesPerPathMax: 5_000,
  /** Output of one git command kept (the rest dropped): its error message, ls-remote's refs. */
  gitOutputBytesMax: 1024 * 1024,
  /** A push webhook's body (GitHub's push payloads stay far below; a larger one is 413). */
  gitWebhookBytesMax: 2 * 1024 * 1024,
  /** Field problems listed in one validation error (the rest are counted in its message). */
  validationProblemsMax: 100,
  /** Template references (`{{ .labels.x }}`) in one string value; more smells of a loop. */
  templateRefsPerValueMax: 64,
} as const;
