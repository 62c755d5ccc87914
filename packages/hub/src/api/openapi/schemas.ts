// The schemas of the OpenAPI document (index.ts): the error shape, object metadata, every
// resource the admin API serves, and the agent protocol's bodies. They describe what the hub
// sends and takes; the hub validates bodies itself (placement/, work/, rollout/), so these are
// documentation, never given to fastify (which would change answers and error shapes).

import { problemKinds } from '../../fleet/compliance.ts';
import { selectionReasons } from '../../placement/index.ts';
import { workSetRolloutStates } from '../../rollout/index.ts';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const int = (description?: string): Schema => ({ type: 'integer', ...(description ? { description } : {}) });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const map = (description: string): Schema => ({
  type: 'object',
  additionalProperties: { type: 'string' },
  description,
});
const list = (items: Schema, description?: string): Schema => ({
  type: 'array',
  items,
  ...(description ? { description } : {}),
});
/** An object whose fields are documented by name but may hold more than listed. */
const open = (description: string, properties: Record<string, Schema> = {}): Schema => ({
  type: 'object',
  description,
  properties,
});
const object = (properties: Record<string, Schema>, required: string[] = [], description?: string): Schema => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
  ...(description ? { description } : {}),
});

/** A Kubernetes-style resource: apiVersion, kind, metadata, spec and status. */
const resource = (kind: string, description: string, spec: Schema, status: Schema): Schema =>
  object(
    {
      apiVersion: str(),
      kind: { type: 'string', const: kind },
      metadata: ref('ObjectMeta'),
      spec,
      status,
    },
    ['metadata'],
    description,
  );

/** The list of a kind, as every list route answers it. */
const listOfKind = (kind: string): Schema =>
  object(
    {
      apiVersion: str(),
      kind: { type: 'string', const: `${kind}List` },
      metadata: ref('ListMeta'),
      items: list(ref(kind)),
    },
    ['items', 'metadata'],
  );

const conditions = list(ref('Condition'));
const labelSelector = open('a Kubernetes label selector', {
  matchLabels: map('labels a cluster must have'),
  matchExpressions: list(
    object({ key: str(), operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: list(str()) }, [
      'key',
      'operator',
    ]),
  ),
});

/** Kinds whose lists the document names `<Kind>List`. */
export const listedKinds = [
  'ManagedCluster',
  'ManifestWork',
  'Placement',
  'PlacementDecision',
  'ManifestWorkReplicaSet',
  'ManagedClusterSet',
  'ManagedClusterSetBinding',
  'GitRepo',
  'BootstrapToken',
  'ApiToken',
  'AuditEvent',
] as const;

export const schemas: Record<string, Schema> = {
  Error: object(
    {
      code: str('a stable code (see packages/shared/src/errors.ts): match on it, never on the message'),
      message: str('what went wrong, for people'),
      details: {
        description: 'more about the error, when there is more (the fields refused, the current resourceVersion …)',
      },
    },
    ['code', 'message'],
    'Every error answer of the hub, in JSON (or YAML when asked)',
  ),
  ObjectMeta: object(
    {
      name: str(),
      namespace: str('the namespace (placements, worksets, bindings) or the cluster (works)'),
      uid: str('set by the hub; a precondition when a write states it'),
      resourceVersion: str('set by the hub; a precondition when a write states it (409 CONFLICT when stale)'),
      generation: int('set by the hub; moves when the spec changes'),
      labels: map('labels'),
      annotations: map('annotations'),
      creationTimestamp: { type: 'string', format: 'date-time' },
      deletionTimestamp: { type: 'string', format: 'date-time' },
    },
    [],
  ),
  ListMeta: object({
    continue: str('present when there are more items: pass it as ?continue= for the next page'),
    resourceVersion: str('the change log position the list was read at: where a watch from it starts'),
  }),
  Condition: object(
    {
      type: str(),
      status: { enum: ['True', 'False', 'Unknown'] },
      reason: str(),
      message: str(),
      lastTransitionTime: { type: 'string', format: 'date-time' },
      observedGeneration: int(),
    },
    ['type', 'status'],
  ),
  WatchEvent: object(
    {
      type: { enum: ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] },
      resourceVersion: str('the change log position of this event: resume a watch from it'),
      object: {
        type: 'object',
        description:
          'the object as a GET shows it (DELETED: as it was last), a BOOKMARK’s metadata.resourceVersion only, or an ERROR’s Error (410 WATCH_EXPIRED: list again)',
      },
    },
    ['type', 'object'],
    'One event of a watch: a line of application/json;stream=watch, or a WebSocket message',
  ),
  MergePatch: {
    type: 'object',
    description:
      'RFC 7386 JSON merge patch of the object as GET shows it: objects merge, null removes a key, lists are replaced whole. metadata.resourceVersion and metadata.uid are preconditions (409 CONFLICT). status, metadata.uid/generation/creationTimestamp and a name or namespace other than the path are refused by name (400 VALIDATION_FAILED).',
  },
  JsonPatch: list(
    object(
      {
        op: { enum: ['add', 'remove', 'replace', 'move', 'copy', 'test'] },
        path: str('a JSON pointer (RFC 6901), e.g. /spec/workload/manifests/3/data/key'),
        from: str('move and copy: a JSON pointer'),
        value: { description: 'add, replace and test' },
      },
      ['op', 'path'],
    ),
    'RFC 6902 JSON patch: reaches one element of a list (one manifest of a work) without sending the others. A failed test is 409 CONFLICT; the fields the hub owns are refused as in a merge patch.',
  ),

  ManagedCluster: resource(
    'ManagedCluster',
    'A spoke cluster (OCM ManagedCluster): created by its agent joining, accepted by an admin or its token',
    open('', { hubAcceptsClient: bool(), taints: list(open('OCM taint: key, value, effect, timeAdded')) }),
    open('conditions (HubAccepted, Joined, Available, Removing), claims, certificate, last seen, works', {
      conditions,
      lastSeen: { type: 'string', format: 'date-time' },
      clusterClaims: list(object({ name: str(), value: str() }, ['name', 'value']), 'what the agent reports'),
      agentVersion: str('the version of the agent that last reported'),
      works: {
        ...object(
          {
            total: int('works of the cluster'),
            applied: int('of them, Applied=True'),
            available: int('of the applied ones, Available=True'),
            degraded: int('Degraded=True'),
            deletionsHeld: int('DeletionsHeld=True: deletions the agent’s mass-delete breaker holds'),
          },
          ['total', 'applied', 'available', 'degraded', 'deletionsHeld'],
          'the cluster’s works counted by their conditions (a work with no status yet counts in total alone), as the hub answers: computed for each answer and watch event, never stored; a write cannot set it',
        ),
        readOnly: true,
      },
    }),
  ),
  ManifestWork: resource(
    'ManifestWork',
    'One cluster’s work (OCM ManifestWork; work.open-cluster-management.io/v1 accepted as an alias)',
    object(
      {
        workload: object({ manifests: list({ type: 'object' }, 'Kubernetes objects, applied in order') }, [
          'manifests',
        ]),
        deleteOption: open('propagationPolicy Foreground | Orphan | SelectivelyOrphan (+ selectivelyOrphans)'),
        manifestConfigs: list(open('per resource: updateStrategy, feedbackRules, conditionRules')),
        executor: open('the subject each manifest is checked for (SubjectAccessReview) before it is applied'),
      },
      ['workload'],
    ),
    open('conditions Applied, Available, Progressing, Degraded; resourceStatus.manifests; manifestCount, sizeBytes', {
      conditions,
    }),
  ),
  Placement: resource(
    'Placement',
    'OCM Placement (cluster.open-cluster-management.io/v1beta1 accepted): which clusters a workset goes to',
    open('', {
      clusterSets: list(str()),
      numberOfClusters: int(),
      predicates: list(
        open('', { requiredClusterSelector: open('', { labelSelector, claimSelector: open('claim requirements') }) }),
      ),
      prioritizerPolicy: open('mode Additive | Exact, configurations'),
      tolerations: list(open('key, operator, value, effect, tolerationSeconds')),
      decisionStrategy: open('groupStrategy: decisionGroups, clustersPerDecisionGroup'),
    }),
    open('the scheduler’s: numberOfSelectedClusters, decisionGroups, decisions, conditions', { conditions }),
  ),
  PlacementDecision: resource(
    'PlacementDecision',
    'OCM PlacementDecision, read only: a placement’s decisions, derived from its status',
    open(''),
    open('', { decisions: list(object({ clusterName: str(), reason: str() })) }),
  ),
  ManifestWorkReplicaSet: resource(
    'ManifestWorkReplicaSet',
    'OCM ManifestWorkReplicaSet (work.open-cluster-management.io/v1alpha1 accepted): a work template fanned out to placements',
    open('', {
      manifestWorkTemplate: open('a ManifestWork spec'),
      placementRefs: list(
        open('', {
          name: str(),
          rolloutStrategy: open('type All | Progressive | ProgressivePerGroup, with their options'),
        }),
      ),
      cascadeDeletionPolicy: { enum: ['Background', 'Foreground'] },
      paused: bool(),
      templating: bool(),
      overrides: list(open('per-cluster patches chosen by cluster labels or claims')),
    }),
    open('the controller’s: summary, placementsSummary, conditions', { conditions }),
  ),
  GitRepo: resource(
    'GitRepo',
    'A Git repository of manifests rolled out through a placement: each path becomes a ManifestWorkReplicaSet',
    object(
      {
        repo: str(
          'http://, https://, file:// (only under the hub’s --git-file-root), or ssh:// / USER@HOST:PATH with ssh credentials (no credentials in the URL)',
        ),
        branch: str("the branch followed; neither branch nor revision: the repository's default branch (HEAD)"),
        revision: str('a tag or a full commit id, instead of a branch'),
        paths: list(
          str(
            'a directory of the repository: `kustomize build` of it when it holds a kustomization, `helm template` when it holds a Chart.yaml, else its *.yaml, *.yml, *.json files, recursively',
          ),
        ),
        pollingInterval: str('how often the remote is asked for its commit: "15s" by default, "0" disables polling'),
        placementRef: object({ name: str() }, ['name']),
        rolloutStrategy: open('type All | Progressive | ProgressivePerGroup, with their options (as a workset’s)'),
        paused: bool(),
        overrides: list(open('per-cluster patches chosen by cluster labels or claims (a workset’s spec.overrides)')),
        templating: bool(),
        maxDeleteShare: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          description:
            'the share of a path’s objects one commit may delete before it waits for confirm-deletions (default 0.5; 1: never waits)',
        },
        helm: object(
          {
            releaseName: str(
              'the release name (at most 53 characters); default: the path’s workset name; one path only',
            ),
            namespace: str('.Release.Namespace (helm template --namespace); default: "default"'),
            values: open('values given last: they win over valuesFiles and the chart’s values.yaml'),
            valuesFiles: list(str('a values file relative to the chart’s directory, inside the repository')),
          },
          [],
          'how paths holding a Chart.yaml are rendered (chart repositories, remote charts and valuesFrom are refused)',
        ),
        credentials: open(
          'write-only, stored sealed: {username, password}, {token} (sent as the password of user x-access-token) or {sshPrivateKey, knownHosts} (the host key pinned); answers show {type, set: true}, which a write may send back to keep them',
        ),
        webhook: open(
          'write-only, stored sealed: {secret} of the push webhook (POST .../gitrepos/NAME/webhook); answers show {set: true}, which a write may send back to keep it',
        ),
      },
      ['repo', 'placementRef'],
    ),
    open('the controller’s: commit, fetchedAt, conditions Fetched/Rendered/Ready, paths[], summary', {
      conditions,
      commit: str('the commit last fetched'),
      fetchedAt: str(),
      observedGeneration: int(),
      paths: list(
        open('', {
          path: str(),
          workset: str(),
          commit: str('the commit whose content of this path its workset carries'),
          state: str('the workset’s rollout state'),
          error: str('why this path was not rolled out at the last commit (file:line)'),
          message: str('the workset’s rollout message while it is not Complete'),
          held: open('the commit the deletion breaker holds: commit, deleting, of, objects[], digest'),
        }),
      ),
      summary: open('per-cluster state counts over the paths’ worksets'),
    }),
  ),
  ManagedClusterSet: resource(
    'ManagedClusterSet',
    'OCM ManagedClusterSet (cluster-scoped; default and global always exist)',
    object({
      clusterSelector: object({
        selectorType: { enum: ['ExclusiveClusterSetLabel', 'LabelSelector'] },
        labelSelector,
      }),
    }),
    open('ClusterSetEmpty condition', { conditions }),
  ),
  ManagedClusterSetBinding: resource(
    'ManagedClusterSetBinding',
    'OCM ManagedClusterSetBinding: lets a namespace’s placements select from the set it names',
    object({ clusterSet: str('the set: equal to metadata.name') }, ['clusterSet']),
    open('Bound condition', { conditions }),
  ),
  BootstrapToken: object(
    {
      apiVersion: str(),
      kind: { const: 'BootstrapToken' },
      metadata: ref('ObjectMeta'),
      spec: open('ttl, usageLimit, labels, autoApprove, description, expiration'),
      status: open('usageCount, phase; `token` (ID.SECRET) only in the answer that created it', {
        token: str(),
      }),
      caCertHashes: list(str(), 'create only: the hub CA pins for `outpost-agent join --ca-cert-hash`'),
    },
    ['metadata'],
  ),
  ApiToken: object(
    {
      apiVersion: str(),
      kind: { const: 'ApiToken' },
      metadata: ref('ObjectMeta'),
      spec: object({ displayName: str(), scope: { enum: ['admin', 'read-only'] }, expiration: str() }),
      status: open('createdBy, revokedAt, lastUsed; `token` only in the answer that created it', { token: str() }),
    },
    ['metadata'],
  ),
  AuditEvent: object(
    {
      id: int(),
      at: { type: 'string', format: 'date-time' },
      actor: str(),
      action: str('METHOD and route, e.g. PATCH /api/v1/namespaces/:namespace/placements/:name'),
      resource: str('the path called'),
      result: str('the status, and the error code of a failure'),
      details: { type: 'object' },
    },
    ['id', 'at', 'actor', 'action', 'resource', 'result'],
  ),
  FleetOverview: object(
    {
      apiVersion: str(),
      kind: { enum: ['FleetOverview'] },
      metadata: object({ resourceVersion: str(), generatedAt: { type: 'string', format: 'date-time' } }),
      hubVersion: str(),
      clusters: object({ total: int(), states: map('clusters per state (Available, Unreachable, Pending …)') }),
      works: object({
        total: int(),
        conditions: {
          type: 'object',
          description: 'per condition type, works per status',
          additionalProperties: { type: 'object' },
        },
      }),
      worksets: object({
        total: int(),
        states: map(
          `worksets per rollout state (status.rollout.state: ${workSetRolloutStates.join(', ')}; Pending before the first status, Deleting while it is deleted)`,
        ),
      }),
      nonCompliant: object(
        {
          total: int(),
          continue: str('the next page, when there is one'),
          items: list(
            object(
              {
                name: str(),
                state: str(),
                reason: str('the problems in one line, worst first'),
                problems: list(
                  object(
                    {
                      kind: { enum: [...problemKinds] },
                      message: str(),
                    },
                    ['kind', 'message'],
                  ),
                ),
              },
              ['name', 'state', 'reason', 'problems'],
            ),
          ),
        },
        ['total', 'items'],
      ),
    },
    ['apiVersion', 'kind', 'metadata', 'hubVersion', 'clusters', 'works', 'worksets', 'nonCompliant'],
  ),
  ClusterPlacementList: object(
    {
      apiVersion: str(),
      kind: { enum: ['ClusterPlacementList'] },
      metadata: object({ cluster: str() }, ['cluster']),
      items: list(
        object(
          {
            namespace: str(),
            name: str(),
            selected: { type: 'boolean' },
            reason: { enum: [...selectionReasons] },
            message: str(),
            groupIndex: int(),
            groupName: str(),
          },
          ['namespace', 'name', 'selected', 'reason', 'message'],
        ),
      ),
    },
    ['apiVersion', 'kind', 'metadata', 'items'],
  ),
  InventoryList: object(
    {
      apiVersion: str(),
      kind: { enum: ['InventoryList'] },
      metadata: object({ continue: str('the next page, when there is one (opaque)') }),
      items: list(
        object(
          {
            cluster: str('the cluster whose work declares it'),
            work: str('the work (in the cluster) that declares it'),
            group: str('the API group; empty for the core group'),
            version: str('the version the agent reported applying (absent before it did)'),
            kind: str(),
            namespace: str('absent for a cluster-scoped object'),
            name: str(),
            workDeletionTimestamp: {
              type: 'string',
              format: 'date-time',
              description: 'the work is being deleted: its agent removes the object',
            },
            conditions: list(ref('Condition'), 'the manifest’s conditions as the agent last reported them'),
            statusOmitted: {
              enum: ['TooLarge'],
              description: 'the work’s status was not read for the listing (read the work)',
            },
          },
          ['cluster', 'work', 'group', 'kind', 'name'],
        ),
      ),
    },
    ['apiVersion', 'kind', 'metadata', 'items'],
  ),
  Session: object(
    {
      apiVersion: str(),
      kind: { enum: ['Session'] },
      actor: str('token:<name>, as the audit log names the calls of this session'),
      scope: { enum: ['admin', 'read-only'] },
      csrfToken: str('send it as the X-Outpost-CSRF header on every write made with the cookie'),
      expiresAt: { type: 'string', format: 'date-time' },
    },
    ['apiVersion', 'kind', 'actor', 'scope', 'csrfToken', 'expiresAt'],
  ),
  CaStatus: open('the signing CA, the CAs agents trust, rotation progress, advertiseUrl'),
  ClusterRemoved: object({ kind: { const: 'Status' }, status: { const: 'Removed' }, cluster: str() }),
  RecoveryToken: open('a recovery token for a cluster whose certificate expired, and the CA pins'),
  Health: object({ status: str(), version: str(), epoch: str() }),

  // Agent protocol (packages/shared/src/protocol).
  RegisterRequest: object(
    {
      token: str('ID.SECRET bootstrap token, or a recovery token'),
      clusterName: str(),
      csr: str('PEM PKCS#10; subject CN=outpost:cluster:NAME, O=outpost:agents'),
      labels: map('labels for the cluster'),
      claims: map('claims'),
      agentVersion: str(),
    },
    ['token', 'clusterName', 'csr'],
  ),
  RegistrationView: object(
    {
      id: str(),
      clusterName: str(),
      state: { enum: ['Pending', 'Approved', 'Denied'] },
      certificate: str('Approved: the PEM certificate'),
      caBundle: str('Approved: every CA the agent must trust'),
      message: str(),
      retryAfterSeconds: int(),
    },
    ['id', 'clusterName', 'state'],
  ),
  CaBundleResponse: object({ caBundle: str(), caHashes: list(str()) }, ['caBundle', 'caHashes']),
  HeartbeatRequest: object({
    agentVersion: str(),
    claims: map('claims'),
    workDelivery: bool(),
    reportedClaims: map('claims read from the cluster'),
  }),
  HeartbeatResponse: object({ cluster: str(), caBundleHash: str(), renewNow: bool(), serverTime: str() }, [
    'cluster',
    'caBundleHash',
    'renewNow',
    'serverTime',
  ]),
  ClusterSelfView: object({ cluster: str(), conditions, lastSeen: str(), serverTime: str() }, [
    'cluster',
    'conditions',
    'serverTime',
  ]),
  SyncRequest: object(
    {
      hubEpoch: str(),
      revision: int('the desired revision the agent holds (0: nothing)'),
      inventory: { type: 'object', additionalProperties: object({ uid: str(), generation: int() }) },
      waitSeconds: int('how long the hub may hold the poll'),
      features: list(str()),
      heartbeat: ref('HeartbeatRequest'),
    },
    ['revision'],
  ),
  SyncResponse: object(
    {
      hubEpoch: str(),
      revision: int(),
      needInventory: bool(),
      epochMismatch: object({ agentEpoch: str(), adoptAllowed: bool() }),
      releaseHeldDeletions: bool(),
      works: list(
        open('a work, whole or the manifests changed since the agent’s generation', {
          name: str(),
          uid: str(),
          generation: int(),
          full: bool(),
          manifests: list(object({ key: str(), ordinal: int(), manifest: { type: 'object' } })),
          removed: list(str()),
          deleting: bool(),
        }),
      ),
      heartbeat: ref('HeartbeatResponse'),
      reconnectWindowSeconds: int(),
    },
    ['hubEpoch', 'revision', 'works'],
  ),
  StatusBatch: object(
    {
      reports: list(
        object(
          {
            seq: int(),
            work: str(),
            uid: str(),
            generation: int(),
            observedAt: str(),
            status: open('conditions, resourceStatus.manifests, observedGeneration'),
            deleted: bool(),
          },
          ['seq', 'work', 'uid', 'generation', 'observedAt', 'status'],
        ),
      ),
    },
    ['reports'],
  ),
  StatusAck: object({ ackedSeq: int() }, ['ackedSeq']),
  RenewRequest: object({ csr: str() }, ['csr']),
  RenewResponse: object({ certificate: str(), caBundle: str() }, ['certificate', 'caBundle']),
};
for (const kind of listedKinds) schemas[`${kind}List`] = listOfKind(kind);
