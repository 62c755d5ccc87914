// The GitRepo resource: a Git repository of manifests whose paths the hub renders into
// ManifestWorkReplicaSets (one per path), shaped after Rancher Fleet's GitRepo.
import type { Condition } from '@outpost/shared';
import type { PlacementMetadata } from '../placement/types.ts';
import type { ClusterOverride, RolloutStrategySpec, WorkSetRolloutState, WorkSetSummary } from '../rollout/types.ts';

/** The hub's own resources share one apiVersion (worksets and placements show theirs so too). */
export const gitRepoApiVersion = 'outpost.dev/v1alpha1';

export interface GitRepoSpec {
  /** http://, https:// or file://; ssh:// or USER@HOST:PATH with ssh credentials. */
  repo: string;
  /** Write-only: given in the clear, stored sealed, shown as {type, set: true} (secrets.ts). */
  credentials?: CredentialsField;
  /** Write-only: the push webhook's secret, stored sealed, shown as {set: true} (secrets.ts). */
  webhook?: WebhookField;
  /** The branch followed; absent (and no revision): the repository's default branch (its HEAD). */
  branch?: string;
  /** A tag or a full commit id, followed instead of a branch. */
  revision?: string;
  /** Directories of the repository, each rendered into one workset (default ["."]). */
  paths: string[];
  /** How often the remote is asked for its commit ("15s" by default; "0" disables polling). */
  pollingInterval?: string;
  placementRef: { name: string };
  /** The rollout of every path's workset (the workset's own validation). */
  rolloutStrategy?: RolloutStrategySpec;
  /** Nothing fetched, and every path's workset paused. */
  paused?: boolean;
  /** Per-cluster overrides of every path's workset (a workset's spec.overrides, same validation). */
  overrides?: ClusterOverride[];
  /** Render `{{ … }}` per cluster in every path's workset (a workset's spec.templating). */
  templating?: boolean;
  /** The share (0 to 1) of a path's objects one commit may delete before it waits for
   *  confirm-deletions (default 0.5; 1 never waits). */
  maxDeleteShare?: number;
  /** How paths whose directory holds a Chart.yaml are rendered (`helm template`). */
  helm?: GitRepoHelmSpec;
}

/** spec.helm: the same for every chart path of the GitRepo; per-cluster variation is done with
 *  the workset's overrides, not with values. */
export interface GitRepoHelmSpec {
  /** The release name (`.Release.Name`); default: the path's workset name (cut to 53
   *  characters with a hash when longer). Only with a single path. */
  releaseName?: string;
  /** `.Release.Namespace` (`helm template --namespace`); default: helm's own, "default". */
  namespace?: string;
  /** Values given last (they win over valuesFiles and the chart's values.yaml). */
  values?: Record<string, unknown>;
  /** Files of values, relative to the chart's directory (inside the repository), in order,
   *  after the chart's own values.yaml. */
  valuesFiles?: string[];
}

/** A commit held by the deletion breaker (breaker.ts) for one path. */
export interface GitRepoPathHeld {
  commit: string;
  /** Objects of the path's workset that the commit would delete, of how many. */
  deleting: number;
  of: number;
  /** Some of them, as Kind namespace/name. */
  objects: string[];
  /** Of exactly the objects it would delete: what confirm-deletions confirms. */
  digest: string;
}

/** Credentials of a private repository, as a client gives them (never shown back). */
export type GitCredentials =
  | { type: 'basic'; username: string; password: string }
  /** Sent as the password of HTTP basic auth with the user name `x-access-token`. */
  | { type: 'token'; token: string }
  | { type: 'ssh'; sshPrivateKey: string; knownHosts: string };

export type CredentialsType = GitCredentials['type'];

/**
 * spec.credentials in its three forms: in the clear (a write), `{type, set: true}` (what the
 * API shows, and what a write sends to keep the stored ones) and `{type, sealed}` (the store's).
 */
export type CredentialsField =
  | GitCredentials
  | { type?: CredentialsType; set: true }
  | { type: CredentialsType; sealed: string };

/** spec.webhook likewise: `{secret}` (a write), `{set: true}` (shown; keeps), `{sealed}` (stored). */
export type WebhookField = { secret: string } | { set: true } | { sealed: string };

export interface GitRepoPathStatus {
  path: string;
  /** The workset this path is rolled out by. */
  workset: string;
  /** The commit whose content of this path the workset carries (absent: nothing rolled out yet). */
  commit?: string;
  /** The workset's rollout in one word, when its controller has written a status. */
  state?: WorkSetRolloutState;
  summary?: WorkSetSummary;
  /** Why this path was not rolled out at the last commit (the previous rollout stands). */
  error?: string;
  /** The workset's rollout message while it is not Complete (why clusters fail or wait). */
  message?: string;
  /** The commit the deletion breaker holds for this path, until confirm-deletions. */
  held?: GitRepoPathHeld;
}

export interface GitRepoStatus {
  observedGeneration: number;
  /** The commit last fetched. */
  commit?: string;
  fetchedAt?: string;
  /** Conditions Fetched, Rendered, Ready. */
  conditions: Condition[];
  paths: GitRepoPathStatus[];
  /** Per-cluster state counts summed over the paths' worksets. */
  summary: WorkSetSummary;
}

export interface GitRepo {
  apiVersion: string;
  kind: 'GitRepo';
  metadata: PlacementMetadata;
  spec: GitRepoSpec;
  status?: GitRepoStatus;
}
