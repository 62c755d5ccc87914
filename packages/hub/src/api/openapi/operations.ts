// Every route the hub registers, as one table of operations: method, path (fastify's form),
// who may call it, its body and answers. index.ts makes the OpenAPI document from it; the
// OpenAPI test checks it against the routes fastify holds, both ways.

type Schema = Record<string, unknown>;

/**
 * Who may call: `read` any API token (GET), `admin` an admin-scope token, `agent` the agent's
 * client certificate (mTLS), `bootstrap` no credentials but a token in the body, `signature`
 * no credentials but a body signed with a secret (GitRepo push webhooks), `none` anyone.
 */
export type Access = 'read' | 'admin' | 'agent' | 'bootstrap' | 'signature' | 'none';

/** What a body may be: an admin object (JSON or YAML), a patch, or the agent protocol's JSON. */
export type BodyKind = 'object' | 'patch' | 'json';

export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** fastify's form: /api/v1/clusters/:name */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  body?: { kind: BodyKind; schema: Schema; required?: boolean };
  /** Status → what it answers (a schema name, or a schema). */
  answers: Record<number, { description: string; schema: string | Schema; headers?: Record<string, string> }>;
  /** Query parameters, by their name in components.parameters. */
  query?: string[];
  /** A list that also watches (the kind it lists). */
  watch?: boolean;
  /** Error statuses beyond the ones every call of its access may get. */
  errors?: number[];
  /** For `read` and `admin`: which credential it takes (default either: the API token, or
   *  the dashboard's session cookie, with the CSRF header on writes). */
  credentials?: 'bearer' | 'cookie';
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const listQuery = ['limit', 'continue', 'labelSelector'];
const watchQuery = ['watch', 'resourceVersion', 'allowWatchBookmarks', 'timeoutSeconds', 'fieldSelector'];
const changed = { 'x-outpost-changed': 'true when the write changed the object (created / configured / unchanged)' };

/** The CRUD routes of an admin resource at `collection` (and `${collection}/:name`). */
function resourceOps(o: {
  tag: string;
  kind: string;
  /** How the docs name it. */
  what: string;
  collection: string;
  /** Verbs this path form has. */
  verbs: readonly ('create' | 'list' | 'get' | 'replace' | 'patch' | 'delete')[];
  watch?: boolean;
  note?: string;
  changedHeader?: Record<string, string>;
}): Operation[] {
  const item = `${o.collection}/:name`;
  const note = o.note ? ` ${o.note}` : '';
  const header = o.changedHeader ?? changed;
  const all: Record<string, Operation> = {
    list: {
      method: 'get',
      path: o.collection,
      tag: o.tag,
      summary: `List ${o.what}s`,
      description: `Paged by limit and continue, filtered by labelSelector.${o.watch ? ' With watch=true: a stream of changes instead (see WatchEvent).' : ''}${note}`,
      access: 'read',
      answers: { 200: { description: `the ${o.what}s`, schema: `${o.kind}List` } },
      query: [...listQuery, ...(o.watch ? watchQuery : [])],
      ...(o.watch ? { watch: true, errors: [410, 429] } : {}),
    },
    create: {
      method: 'post',
      path: o.collection,
      tag: o.tag,
      summary: `Create a ${o.what}`,
      ...(note ? { description: note.trim() } : {}),
      access: 'admin',
      body: { kind: 'object', schema: ref(o.kind), required: true },
      answers: { 201: { description: 'created', schema: o.kind } },
    },
    get: {
      method: 'get',
      path: item,
      tag: o.tag,
      summary: `Read a ${o.what}`,
      ...(note ? { description: note.trim() } : {}),
      access: 'read',
      answers: { 200: { description: `the ${o.what}`, schema: o.kind } },
      errors: [404],
    },
    replace: {
      method: 'put',
      path: item,
      tag: o.tag,
      summary: `Create or replace a ${o.what}`,
      description: `What \`apply\` sends. A stated metadata.resourceVersion (or uid) must be the current one (409 CONFLICT); with one, the object must exist.${note}`,
      access: 'admin',
      body: { kind: 'object', schema: ref(o.kind), required: true },
      answers: {
        200: { description: 'replaced (or unchanged)', schema: o.kind, headers: header },
        201: { description: 'created', schema: o.kind, headers: header },
      },
      errors: [404],
    },
    patch: {
      method: 'patch',
      path: item,
      tag: o.tag,
      summary: `Patch a ${o.what}`,
      description: `The patch is applied to the object as stored, and the result validated and written as a PUT of it would be (same limits, same errors).${note}`,
      access: 'admin',
      body: { kind: 'patch', schema: ref('MergePatch'), required: true },
      answers: { 200: { description: 'patched (or unchanged)', schema: o.kind, headers: header } },
      errors: [404],
    },
    delete: {
      method: 'delete',
      path: item,
      tag: o.tag,
      summary: `Delete a ${o.what}`,
      ...(note ? { description: note.trim() } : {}),
      access: 'admin',
      answers: {
        200: { description: `the ${o.what} as it was (or as it is while it is being deleted)`, schema: o.kind },
      },
      errors: [404],
    },
  };
  return o.verbs.map((v) => all[v] as Operation);
}

const crud = ['create', 'list', 'get', 'replace', 'patch', 'delete'] as const;
const unnamespaced =
  'Without a namespace in the path: a write goes to metadata.namespace (else default); a read, patch or delete to the one object of that name (409 NAME_AMBIGUOUS when several namespaces hold it); a list to all namespaces.';

const clusterAction = (action: string, summary: string, description?: string): Operation => ({
  method: 'post',
  path: `/api/v1/clusters/:name/${action}`,
  tag: 'clusters',
  summary,
  ...(description ? { description } : {}),
  access: 'admin',
  answers: { 200: { description: 'the cluster', schema: 'ManagedCluster' } },
  errors: [404, 409],
});

const workSetOps = (collection: string): Operation[] => [
  ...resourceOps({
    tag: 'worksets',
    kind: 'ManifestWorkReplicaSet',
    what: 'ManifestWorkReplicaSet',
    collection,
    verbs: crud,
    watch: true,
    note: collection.includes(':namespace') ? undefined : unnamespaced,
  }),
  ...(['pause', 'resume'] as const).map(
    (verb): Operation => ({
      method: 'post',
      path: `${collection}/:name/${verb}`,
      tag: 'worksets',
      summary: verb === 'pause' ? 'Pause a rollout (spec.paused)' : 'Resume a rollout',
      access: 'admin',
      answers: { 200: { description: 'the workset', schema: 'ManifestWorkReplicaSet' } },
      errors: [404, 409],
    }),
  ),
];

export const operations: Operation[] = [
  // ---- probes, metrics, this document -----------------------------------------------------
  {
    method: 'get',
    path: '/healthz',
    tag: 'hub',
    summary: 'The process is alive',
    access: 'none',
    answers: { 200: { description: 'alive', schema: 'Health' } },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'hub',
    summary: 'The hub can serve (its database answers)',
    access: 'none',
    answers: {
      200: { description: 'ready', schema: 'Health' },
      503: { description: 'not ready (HUB_NOT_READY)', schema: 'Error' },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'hub',
    summary: 'Prometheus metrics (text exposition format)',
    description: 'Any API token; `serve --metrics-listen` also serves it without one on a listener of its own.',
    access: 'read',
    answers: { 200: { description: 'the metrics', schema: { type: 'string' } } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'hub',
    summary: 'This document',
    description: 'Served without credentials, like /healthz: it describes the API and holds no secret.',
    access: 'none',
    answers: { 200: { description: 'the OpenAPI 3.1 document', schema: { type: 'object' } } },
  },
  {
    method: 'get',
    path: '/ui',
    tag: 'dashboard',
    summary: 'Redirects to /ui/',
    access: 'none',
    answers: { 302: { description: 'to /ui/', schema: { type: 'string' }, headers: { location: '/ui/' } } },
  },
  {
    method: 'get',
    path: '/ui/',
    tag: 'dashboard',
    summary: 'The fleet dashboard (its page; it logs in with POST /api/v1/sessions)',
    description:
      'Served with Content-Security-Policy (no inline script or style, no framing), X-Frame-Options DENY, X-Content-Type-Options nosniff and Referrer-Policy no-referrer, as are its files.',
    access: 'none',
    answers: { 200: { description: 'the page (text/html)', schema: { type: 'string' } } },
  },
  {
    method: 'get',
    path: '/ui/:file',
    tag: 'dashboard',
    summary: 'A file of the dashboard (script, style), shipped with the hub',
    access: 'none',
    answers: {
      200: { description: 'the file', schema: { type: 'string' } },
      404: { description: 'no such file (NOT_FOUND)', schema: 'Error' },
    },
  },

  // ---- clusters ---------------------------------------------------------------------------
  ...resourceOps({
    tag: 'clusters',
    kind: 'ManagedCluster',
    what: 'cluster',
    collection: '/api/v1/clusters',
    verbs: ['list', 'get'],
    watch: true,
  }),
  {
    method: 'patch',
    path: '/api/v1/clusters/:name',
    tag: 'clusters',
    summary: 'Edit a cluster’s labels',
    description:
      'A merge patch of metadata.labels (null removes a label), with metadata.resourceVersion as a precondition. Acceptance changes through approve and deny.',
    access: 'admin',
    body: { kind: 'patch', schema: ref('MergePatch'), required: true },
    answers: { 200: { description: 'the cluster', schema: 'ManagedCluster' } },
    errors: [404, 409],
  },
  {
    method: 'delete',
    path: '/api/v1/clusters/:name',
    tag: 'clusters',
    summary: 'Remove a cluster',
    description:
      'Its agent is told to clean up first (202, Removing) unless force=true or it never had work; then the cluster and its certificates are gone (200).',
    access: 'admin',
    query: ['force'],
    answers: {
      200: { description: 'removed', schema: 'ClusterRemoved' },
      202: { description: 'removing: the agent cleans up first', schema: 'ManagedCluster' },
    },
    errors: [404, 409],
  },
  clusterAction('approve', 'Accept a cluster (hubAcceptsClient) and sign its certificate'),
  clusterAction('deny', 'Refuse a cluster: its certificates are revoked, its polls answered AGENT_NOT_ACCEPTED'),
  clusterAction(
    'adopt',
    'Let the cluster’s agent take this hub’s desired state after a database restore or replacement',
  ),
  clusterAction('confirm-deletions', 'Confirm the deletions the agent’s mass-delete breaker held'),
  {
    method: 'post',
    path: '/api/v1/clusters/:name/recover',
    tag: 'clusters',
    summary: 'A recovery token for a cluster whose certificate expired',
    access: 'admin',
    body: { kind: 'json', schema: { type: 'object', properties: { ttl: { type: 'string' } } } },
    answers: { 201: { description: 'the recovery token', schema: 'RecoveryToken' } },
    errors: [404, 409],
  },

  // ---- works ------------------------------------------------------------------------------
  ...resourceOps({
    tag: 'works',
    kind: 'ManifestWork',
    what: 'ManifestWork',
    collection: '/api/v1/clusters/:cluster/works',
    verbs: crud,
    watch: true,
    note: 'Bodies up to the work limit (16 MiB by default, `serve --max-work-bytes`).',
    changedHeader: { 'x-outpost-work-changed': 'true when the write changed the work' },
  }),
  {
    method: 'get',
    path: '/api/v1/works',
    tag: 'works',
    summary: 'List the works of every cluster',
    description: 'continue tokens are CLUSTER/NAME. With watch=true: a stream of changes instead (see WatchEvent).',
    access: 'read',
    answers: { 200: { description: 'the works', schema: 'ManifestWorkList' } },
    query: [...listQuery, ...watchQuery],
    watch: true,
    errors: [410, 429],
  },

  // ---- placements -------------------------------------------------------------------------
  ...['/api/v1/placements', '/api/v1/namespaces/:namespace/placements'].flatMap((collection) =>
    resourceOps({
      tag: 'placements',
      kind: 'Placement',
      what: 'Placement',
      collection,
      verbs: crud,
      watch: true,
      note: collection.includes(':namespace') ? undefined : unnamespaced,
    }),
  ),
  ...['/api/v1/placementdecisions', '/api/v1/namespaces/:namespace/placementdecisions'].flatMap((collection) =>
    resourceOps({
      tag: 'placements',
      kind: 'PlacementDecision',
      what: 'PlacementDecision',
      collection,
      verbs: ['list', 'get'],
      note: 'Read only: NAME-decision-N of placement NAME.',
    }),
  ),

  // ---- worksets ---------------------------------------------------------------------------
  ...['manifestworkreplicasets', 'worksets'].flatMap((plural) => [
    ...workSetOps(`/api/v1/${plural}`),
    ...workSetOps(`/api/v1/namespaces/:namespace/${plural}`),
  ]),

  // ---- GitRepos ---------------------------------------------------------------------------
  ...resourceOps({
    tag: 'gitrepos',
    kind: 'GitRepo',
    what: 'GitRepo',
    collection: '/api/v1/namespaces/:namespace/gitrepos',
    verbs: crud,
    watch: true,
    note: 'The hub polls the repository and writes one ManifestWorkReplicaSet per path (labelled outpost.dev/gitrepo); DELETE deletes those worksets too.',
  }),
  ...resourceOps({
    tag: 'gitrepos',
    kind: 'GitRepo',
    what: 'GitRepo',
    collection: '/api/v1/gitrepos',
    verbs: ['list', 'get'],
    watch: true,
    note: 'Without a namespace in the path: every namespace’s (a read names the one GitRepo of that name).',
  }),
  {
    method: 'post',
    path: '/api/v1/namespaces/:namespace/gitrepos/:name/confirm-deletions',
    tag: 'gitrepos',
    summary: 'Confirm the commit the GitRepo’s deletion breaker holds',
    description:
      'A commit that would delete more than spec.maxDeleteShare of a path’s objects waits (status.paths[].held). This records exactly the deletions shown as confirmed (annotation outpost.dev/deletions-confirmed: the commit and, per held path, the digest of the objects it deletes) and rolls them out; other deletions are held again. Body: empty, or {"commit": ID} to confirm only that commit (409 GITREPO_HELD_COMMIT_CHANGED when another is held now); 409 GITREPO_NOTHING_HELD when none is.',
    access: 'admin',
    body: { kind: 'object', schema: { type: 'object', properties: { commit: { type: 'string' } } } },
    answers: { 200: { description: 'the GitRepo', schema: 'GitRepo' } },
    errors: [400, 404, 409],
  },
  {
    method: 'post',
    path: '/api/v1/namespaces/:namespace/gitrepos/:name/webhook',
    tag: 'gitrepos',
    summary: 'A push webhook: the GitRepo is fetched now',
    description:
      'Point a forge’s push webhook here, with the secret of the GitRepo’s spec.webhook. The body (any type, up to 2 MiB) is only checked against its signature: the hub asks the repository itself. An unknown GitRepo, one without a webhook, and a missing or bad signature are all 401 WEBHOOK_UNAUTHORIZED. Bursts are coalesced (one fetch a second at most).',
    access: 'signature',
    body: { kind: 'json', schema: { type: 'object', description: 'the forge’s push event (not read)' } },
    answers: { 202: { description: 'the GitRepo is fetched now', schema: 'Error' } },
  },

  // ---- cluster sets -----------------------------------------------------------------------
  ...resourceOps({
    tag: 'clustersets',
    kind: 'ManagedClusterSet',
    what: 'ManagedClusterSet',
    collection: '/api/v1/managedclustersets',
    verbs: crud,
    watch: true,
    note: 'default and global are built in: they cannot change or be deleted.',
  }),
  ...resourceOps({
    tag: 'clustersets',
    kind: 'ManagedClusterSetBinding',
    what: 'ManagedClusterSetBinding',
    collection: '/api/v1/namespaces/:namespace/managedclustersetbindings',
    verbs: ['list', 'get', 'replace', 'patch', 'delete'],
    watch: true,
  }),
  ...resourceOps({
    tag: 'clustersets',
    kind: 'ManagedClusterSetBinding',
    what: 'ManagedClusterSetBinding',
    collection: '/api/v1/managedclustersetbindings',
    verbs: ['list', 'get'],
    watch: true,
    note: 'Without a namespace in the path: every namespace’s (a read names the one binding of that name).',
  }),

  // ---- tokens, audit, CA ------------------------------------------------------------------
  {
    method: 'post',
    path: '/api/v1/bootstraptokens',
    tag: 'tokens',
    summary: 'Create a bootstrap token (its secret is in this answer only)',
    access: 'admin',
    body: { kind: 'object', schema: { type: 'object', properties: { spec: { type: 'object' } } } },
    answers: { 201: { description: 'the token, with status.token and caCertHashes', schema: 'BootstrapToken' } },
  },
  {
    method: 'get',
    path: '/api/v1/bootstraptokens',
    tag: 'tokens',
    summary: 'List bootstrap tokens (never their secrets)',
    access: 'read',
    answers: { 200: { description: 'the tokens', schema: 'BootstrapTokenList' } },
  },
  {
    method: 'get',
    path: '/api/v1/bootstraptokens/:id',
    tag: 'tokens',
    summary: 'Read a bootstrap token',
    access: 'read',
    answers: { 200: { description: 'the token', schema: 'BootstrapToken' } },
    errors: [404],
  },
  {
    method: 'delete',
    path: '/api/v1/bootstraptokens/:id',
    tag: 'tokens',
    summary: 'Revoke a bootstrap token',
    access: 'admin',
    answers: { 200: { description: 'the revoked token', schema: 'BootstrapToken' } },
    errors: [404],
  },
  {
    method: 'post',
    path: '/api/v1/apitokens',
    tag: 'tokens',
    summary: 'Create an API token (its secret is in this answer only)',
    access: 'admin',
    body: {
      kind: 'object',
      schema: {
        type: 'object',
        properties: { name: { type: 'string' }, scope: { enum: ['admin', 'read-only'] }, ttl: { type: 'string' } },
        required: ['name', 'scope'],
      },
      required: true,
    },
    answers: { 201: { description: 'the token, with status.token', schema: 'ApiToken' } },
  },
  {
    method: 'get',
    path: '/api/v1/apitokens',
    tag: 'tokens',
    summary: 'List API tokens (never their secrets)',
    access: 'read',
    answers: { 200: { description: 'the tokens', schema: 'ApiTokenList' } },
  },
  {
    method: 'delete',
    path: '/api/v1/apitokens/:id',
    tag: 'tokens',
    summary: 'Revoke an API token',
    access: 'admin',
    answers: { 200: { description: 'the revoked token', schema: 'ApiToken' } },
    errors: [404],
  },
  {
    method: 'get',
    path: '/api/v1/auditevents',
    tag: 'audit',
    summary: 'The audit log, newest first',
    description:
      'Every call that is not a read, whatever its result (401 and 403 included). Filtered by actor (exactly), action, resource and result (each by prefix: text, not a pattern) and since a time. A page reads at most 20,000 events of the log: with a filter that matches little it may hold fewer than limit items, or none, and still carry metadata.continue; follow it until it is absent (with since, it ends at the window that reaches older events).',
    access: 'read',
    query: ['limit', 'continue', 'actor', 'action', 'resource', 'result', 'since'],
    answers: { 200: { description: 'audit events', schema: 'AuditEventList' } },
  },
  {
    method: 'get',
    path: '/api/v1/overview',
    tag: 'overview',
    summary: 'The fleet at a glance: clusters by state, works by condition, the clusters not compliant now',
    description:
      'Counted on the hub (one pass over clusters and works, reused while nothing changed, at most one a second while the fleet changes). A cluster that should deliver work (Available, HeartbeatOnly, Unreachable, NeverReported) is not compliant when a work is not Applied or not Available, Degraded, holds deletions, its agent is silent, its certificate expires within certificateWarning, or its agent is older than the hub. Worst first, each with a one-line reason; paged by limit (default 50, at most 500) and continue. labelSelector narrows every count to the matching clusters; worksets are counted by rollout state over the whole fleet. metadata.resourceVersion: where a watch of clusters or works starts to learn of later changes.',
    access: 'read',
    query: ['limit', 'continue', 'labelSelector', 'certificateWarning', 'overviewResourceVersion'],
    answers: { 200: { description: 'the overview', schema: 'FleetOverview' } },
  },
  {
    method: 'get',
    path: '/api/v1/clusters/{name}/placements',
    tag: 'placements',
    summary: 'Why each placement selects this cluster or not',
    description:
      'Every placement, in the scheduler’s order of reasons: Selected (with its decision group), NotSchedulable (the cluster is not accepted, has not joined or is being removed), NotInClusterSets (not in a cluster set bound to the placement’s namespace), NoPredicateMatched (with the first requirement it fails), TaintNotTolerated (which taint), NotChosen (eligible, but numberOfClusters and the prioritizers chose others), NotScheduledYet (eligible; the next pass selects it), PlacementInvalid (the stored placement cannot be evaluated by this hub; its decisions stand). Explains the stored decisions; it never changes them.',
    access: 'read',
    answers: { 200: { description: 'one entry per placement', schema: 'ClusterPlacementList' } },
    errors: [404],
  },
  {
    method: 'get',
    path: '/api/v1/inventory',
    tag: 'inventory',
    summary:
      'Search the objects works declare across the fleet: which clusters have Deployment X, what is in namespace Y',
    description:
      'The objects the works declare now (a removed manifest is not listed), by kind (group narrows it; core: the core group), namespace, name (exact, or a prefix ending in *) and cluster, in any combination; all on the hub, from an index per way in (never a pass over the fleet). Paged by limit (default 100, at most 500) and continue (opaque); the order is the index’s and the same for every page of one search. A page walks at most 5,000 entries of its index: a search whose other criteria match little may answer fewer than limit items, or none, with continue; follow it until it is absent. Each item carries what the agent last reported for that manifest: its conditions and version, read from the status of the page’s works only (statusOmitted TooLarge: the work’s status is kept in parts, over 512 KiB, and is read on the work itself). A work being deleted still lists its objects, with workDeletionTimestamp: they stay on the cluster until its agent confirms.',
    access: 'read',
    query: [
      'inventoryKind',
      'inventoryGroup',
      'inventoryNamespace',
      'inventoryName',
      'inventoryCluster',
      'inventoryLimit',
      'continue',
    ],
    answers: { 200: { description: 'a page of the objects found', schema: 'InventoryList' } },
  },
  {
    method: 'post',
    path: '/api/v1/sessions',
    tag: 'sessions',
    summary: 'Log in to the dashboard: exchange the API token for a session cookie',
    description:
      'No body. Either scope may log in; the session has the token’s scope, ends with it (revoked, expired) and after 12 hours at most. Set-Cookie `outpost_session` (HttpOnly, Secure, SameSite=Strict). Writes made with the cookie need the `X-Outpost-CSRF` header of the answer’s csrfToken (else 403 AUTH_CSRF_MISMATCH); a WebSocket opened with it must come from the hub’s own origin or its advertised URL (else 403 AUTH_ORIGIN_REFUSED).',
    access: 'read',
    credentials: 'bearer',
    answers: {
      201: { description: 'the session', schema: 'Session', headers: { 'set-cookie': 'the session cookie' } },
    },
  },
  {
    method: 'get',
    path: '/api/v1/sessions/current',
    tag: 'sessions',
    summary: 'The session of the cookie (its scope and CSRF token, read again after a page reload)',
    access: 'read',
    credentials: 'cookie',
    answers: { 200: { description: 'the session', schema: 'Session' } },
  },
  {
    method: 'delete',
    path: '/api/v1/sessions/current',
    tag: 'sessions',
    summary: 'Log out: the session ends on every hub replica, the cookie is cleared',
    access: 'read',
    credentials: 'cookie',
    answers: { 204: { description: 'logged out', schema: { type: 'string', maxLength: 0 } } },
    errors: [403],
  },
  {
    method: 'get',
    path: '/api/v1/ca',
    tag: 'ca',
    summary: 'The CA: signing CA, trusted CAs, rotation progress',
    access: 'read',
    answers: { 200: { description: 'the CA status', schema: 'CaStatus' } },
  },
  {
    method: 'post',
    path: '/api/v1/ca/rotate',
    tag: 'ca',
    summary: 'Start or advance a CA rotation',
    access: 'admin',
    answers: { 200: { description: 'the CA status', schema: 'CaStatus' } },
    errors: [409],
  },

  // ---- agent protocol ---------------------------------------------------------------------
  {
    method: 'get',
    path: '/agent/v1/ca-bundle',
    tag: 'agent',
    summary: 'The CAs agents trust (joiners check them against their pinned hash)',
    access: 'none',
    answers: { 200: { description: 'the bundle', schema: 'CaBundleResponse' } },
  },
  {
    method: 'post',
    path: '/agent/v1/registrations',
    tag: 'agent',
    summary: 'Join: a bootstrap token and a CSR',
    access: 'bootstrap',
    body: { kind: 'json', schema: ref('RegisterRequest'), required: true },
    answers: {
      201: {
        description: 'the registration (Approved at once with an auto-approving token)',
        schema: 'RegistrationView',
      },
    },
    errors: [403, 409, 429],
  },
  {
    method: 'get',
    path: '/agent/v1/registrations/:id',
    tag: 'agent',
    summary: 'Follow a registration (its id is the capability)',
    access: 'none',
    answers: { 200: { description: 'the registration', schema: 'RegistrationView' } },
    errors: [404],
  },
  {
    method: 'get',
    path: '/agent/v1/clusters/:name',
    tag: 'agent',
    summary: 'The hub’s view of the caller’s own cluster (not counted as a sighting)',
    access: 'agent',
    answers: { 200: { description: 'the view', schema: 'ClusterSelfView' } },
  },
  {
    method: 'post',
    path: '/agent/v1/clusters/:name/heartbeat',
    tag: 'agent',
    summary: 'Heartbeat (agents that poll send it with the poll instead)',
    access: 'agent',
    body: { kind: 'json', schema: ref('HeartbeatRequest') },
    answers: { 200: { description: 'the answer', schema: 'HeartbeatResponse' } },
  },
  {
    method: 'post',
    path: '/agent/v1/clusters/:name/sync',
    tag: 'agent',
    summary: 'Long-poll for desired state',
    description:
      'Held while nothing changed (waitSeconds); a change of one manifest sends about that manifest. gzip when asked.',
    access: 'agent',
    body: { kind: 'json', schema: ref('SyncRequest'), required: true },
    answers: { 200: { description: 'the works changed since the agent’s revision', schema: 'SyncResponse' } },
  },
  {
    method: 'post',
    path: '/agent/v1/clusters/:name/status',
    tag: 'agent',
    summary: 'A batch of status reports, in sequence',
    access: 'agent',
    body: { kind: 'json', schema: ref('StatusBatch'), required: true },
    answers: { 200: { description: 'what the hub stored', schema: 'StatusAck' } },
    errors: [413],
  },
  {
    method: 'post',
    path: '/agent/v1/clusters/:name/certificate',
    tag: 'agent',
    summary: 'Renew the certificate with a new key',
    access: 'agent',
    body: { kind: 'json', schema: ref('RenewRequest'), required: true },
    answers: { 200: { description: 'the new certificate', schema: 'RenewResponse' } },
  },
];
