// Errors with stable codes. Callers match `code`, never `message`.
// The HTTP status travels with the error so every API layer maps it the same way.

export class OutpostError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details: unknown;

  constructor(code: string, message: string, statusCode = 500, details?: unknown) {
    super(message);
    this.name = 'OutpostError';
    this.code = code;
    this.statusCode = statusCode;
    this.details = details;
  }
}

/** The JSON body of every error the hub sends: `{ code, message, details? }`. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

export function errorBody(err: OutpostError): ErrorBody {
  const body: ErrorBody = { code: err.code, message: err.message };
  if (err.details !== undefined) body.details = err.details;
  return body;
}

export function isOutpostError(err: unknown): err is OutpostError {
  return err instanceof OutpostError;
}

/**
 * Every stable error code with its HTTP status. Add here, never rename: automation and
 * the agent match on these strings.
 */
export const errorCodes = {
  // generic
  BAD_REQUEST: 400,
  BODY_MALFORMED: 400,
  BODY_TOO_LARGE: 413,
  /** Arrays and objects nested deeper than limits.nestingDepthMax. */
  BODY_TOO_DEEP: 400,
  /** A query parameter given twice (`?continue=a&continue=b`): which one was meant is unknown. */
  QUERY_PARAM_REPEATED: 400,
  URI_TOO_LONG: 414,
  HEADERS_TOO_LARGE: 431,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** The Accept header allows neither JSON nor YAML. */
  NOT_ACCEPTABLE: 406,
  VALIDATION_FAILED: 400,
  /** A field OCM defines that Outpost does not honour: refused, never ignored. */
  UNSUPPORTED_FIELD: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INTERNAL: 500,
  /** The hub is stopping (a restart, an upgrade): come back after the Retry-After it gives. */
  HUB_STOPPING: 503,
  // admin API authentication
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  AUTH_FORBIDDEN: 403,
  /** A write made with the dashboard's session cookie lacks the session's X-Outpost-CSRF header. */
  AUTH_CSRF_MISMATCH: 403,
  /** A WebSocket opened with the session cookie from a page of another origin. */
  AUTH_ORIGIN_REFUSED: 403,
  /** A sessions call that needs the other credential (login takes a token, logout a session). */
  AUTH_SESSION_REQUIRED: 400,
  // bootstrap tokens
  HUB_TOKEN_MALFORMED: 400,
  HUB_TOKEN_INVALID: 401,
  HUB_TOKEN_EXPIRED: 401,
  HUB_TOKEN_EXHAUSTED: 401,
  HUB_TOKEN_REVOKED: 401,
  HUB_TOKEN_WRONG_CLUSTER: 403,
  HUB_TOO_MANY_ATTEMPTS: 429,
  TOO_MANY_WATCHES: 429,
  WATCH_EXPIRED: 410,
  // registration and certificates
  CLUSTER_NAME_INVALID: 400,
  CLUSTER_EXISTS: 409,
  CLUSTER_NOT_FOUND: 404,
  CLUSTER_DENIED: 403,
  CSR_MALFORMED: 400,
  CSR_SIGNATURE_INVALID: 400,
  CSR_KEY_WEAK: 400,
  CSR_SUBJECT_MISMATCH: 400,
  CSR_EXTENSIONS_FORBIDDEN: 400,
  REGISTRATION_NOT_FOUND: 404,
  // agent API identity
  AGENT_CERT_REQUIRED: 401,
  AGENT_CERT_REVOKED: 401,
  AGENT_CERT_EXPIRED: 401,
  PROTOCOL_UNSUPPORTED: 400,
  AGENT_IDENTITY_MISMATCH: 403,
  AGENT_NOT_ACCEPTED: 403,
  /** A status report that does not match the protocol's types; nothing of the batch is stored. */
  STATUS_REPORT_INVALID: 400,
  // works
  WORK_NAME_INVALID: 400,
  WORK_NOT_FOUND: 404,
  WORK_EXISTS: 409,
  WORK_MANIFEST_INVALID: 400,
  WORK_MANIFEST_DUPLICATE: 400,
  /** More manifests in one work than limits.manifestsPerWork. */
  WORK_TOO_MANY_MANIFESTS: 400,
  // placements (validation: packages/hub/src/placement)
  PLACEMENT_INVALID: 400,
  PLACEMENT_NOT_FOUND: 404,
  PLACEMENT_EXISTS: 409,
  // ManifestWorkReplicaSets and rollouts (validation and rendering: packages/hub/src/rollout)
  WORKSET_INVALID: 400,
  WORKSET_NOT_FOUND: 404,
  WORKSET_EXISTS: 409,
  WORKSET_DELETING: 409,
  /** A workset a GitRepo makes (label outpost.dev/gitrepo): changed through its GitRepo only. */
  WORKSET_OWNED_BY_GITREPO: 409,
  /** A path without a namespace names a Placement or workset that several namespaces hold. */
  NAME_AMBIGUOUS: 409,
  // ManagedClusterSets and ManagedClusterSetBindings (validation: packages/hub/src/placement)
  CLUSTER_SET_INVALID: 400,
  CLUSTER_SET_NOT_FOUND: 404,
  CLUSTER_SET_EXISTS: 409,
  /** More ManagedClusterSets or bindings than limits.clusterSetsMax / clusterSetBindingsMax. */
  CLUSTER_SET_LIMIT: 409,
  /** The built-in sets `default` and `global` cannot be deleted. */
  CLUSTER_SET_BUILT_IN: 409,
  CLUSTER_SET_BINDING_INVALID: 400,
  CLUSTER_SET_BINDING_NOT_FOUND: 404,
  /** A joining cluster asked for the cluster-set label itself (only the token or an admin may set it). */
  CLUSTER_SET_LABEL_FORBIDDEN: 403,
  // GitRepos (validation: packages/hub/src/gitrepos)
  GITREPO_INVALID: 400,
  GITREPO_NOT_FOUND: 404,
  /** A push webhook not signed with the secret of such a GitRepo (or no such GitRepo or webhook). */
  WEBHOOK_UNAUTHORIZED: 401,
  GITREPO_SECRET_UNREADABLE: 500,
  GITREPO_EXISTS: 409,
  /** confirm-deletions of a GitRepo whose deletion breaker holds no commit. */
  GITREPO_NOTHING_HELD: 409,
  /** confirm-deletions named a commit that is not the one held (a newer commit is held now). */
  GITREPO_HELD_COMMIT_CHANGED: 409,
  ROLLOUT_STRATEGY_INVALID: 400,
  TEMPLATE_UNKNOWN_REFERENCE: 400,
  TEMPLATE_UNRESOLVED: 422,
  OVERRIDE_PATCH_UNMATCHED: 422,
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** An OutpostError whose status comes from the catalogue. */
export function apiError(code: ErrorCode, message: string, details?: unknown): OutpostError {
  return new OutpostError(code, message, errorCodes[code], details);
}
