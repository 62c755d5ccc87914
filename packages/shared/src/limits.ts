// Every size and count limit of Outpost, in one place.

export const limits = {
  /** Body limit of the admin API and the agent API, except where a route says otherwise. */
  bodyBytes: 1024 * 1024,
  /** A cluster name is a DNS-1123 label: it becomes part of certificate subjects and paths. */
  clusterNameMax: 63,
  labelsPerObject: 64,
  claimsPerCluster: 64,
  claimValueMax: 1024,
  descriptionMax: 1024,
  /** Default upper bound of one ManifestWork's request body; `--max-work-size` changes it. */
  workBytes: 16 * 1024 * 1024,
  /** Wrong bootstrap secrets from one source before it is slowed down. */
  tokenFailuresBeforeThrottle: 5,
} as const;
