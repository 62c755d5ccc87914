// api/openapi/: the OpenAPI 3.1 document of every route the hub serves (GET /openapi.json),
// made from one table of operations (operations.ts) and the schemas (schemas.ts). Served
// without credentials, like /healthz: it describes the API and holds no secret. The document
// is data only: fastify validates and serialises nothing from it (the routes check bodies
// themselves, with the hub's own error codes). scripts/api-docs renders it as docs/api.md.
import type { FastifyPluginAsync } from 'fastify';
import { type Access, type Operation, operations } from './operations.ts';
import { schemas } from './schemas.ts';

export { type Operation, operations } from './operations.ts';

type Schema = Record<string, unknown>;

const yamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml'];
const watchType = 'application/json;stream=watch';

const errorText: Record<number, string> = {
  400: 'the request is invalid (VALIDATION_FAILED, BODY_MALFORMED, a kind’s own *_INVALID …)',
  401: 'no valid credentials (AUTH_REQUIRED, AUTH_INVALID; agents: AGENT_CERT_*; joiners: HUB_TOKEN_*)',
  403: 'not allowed (AUTH_FORBIDDEN: a read-only token writing; agents: AGENT_IDENTITY_MISMATCH, AGENT_NOT_ACCEPTED)',
  404: 'no such object (a kind’s own *_NOT_FOUND) or route (NOT_FOUND)',
  406: 'the Accept header allows neither JSON nor YAML (NOT_ACCEPTABLE)',
  409: 'a precondition failed or the object is in the way (CONFLICT, *_EXISTS, NAME_AMBIGUOUS …)',
  410: 'the watch’s resourceVersion is older than the change log keeps, or not of this database (WATCH_EXPIRED): list again',
  413: 'the body is over the route’s limit (BODY_TOO_LARGE)',
  415: 'a content type the route does not read (UNSUPPORTED_MEDIA_TYPE)',
  429: 'too many attempts (HUB_TOO_MANY_ATTEMPTS), or watches (TOO_MANY_WATCHES: 200 per token, 2,000 per hub); see Retry-After',
  500: 'a fault of the hub (INTERNAL); see its log',
  503: 'the hub or its database is away or stopping (HUB_DATABASE_UNAVAILABLE, HUB_STOPPING …); see Retry-After',
};

const parameters: Record<string, Schema> = {
  limit: {
    name: 'limit',
    in: 'query',
    description: 'items per page (default 500)',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
  },
  continue: {
    name: 'continue',
    in: 'query',
    description: 'the metadata.continue of the previous page',
    schema: { type: 'string' },
  },
  labelSelector: {
    name: 'labelSelector',
    in: 'query',
    description: 'Kubernetes label selector: =, ==, !=, in, notin, exists (key), !key',
    schema: { type: 'string' },
  },
  actor: {
    name: 'actor',
    in: 'query',
    description: 'audit events of this actor only (exactly as the events show it, e.g. token:NAME or anonymous)',
    schema: { type: 'string', maxLength: 1000 },
  },
  action: {
    name: 'action',
    in: 'query',
    description: 'audit events whose action starts with this (e.g. DELETE, or POST /api/v1/clusters)',
    schema: { type: 'string', maxLength: 1000 },
  },
  resource: {
    name: 'resource',
    in: 'query',
    description: 'audit events whose resource (the path called) starts with this',
    schema: { type: 'string', maxLength: 1000 },
  },
  result: {
    name: 'result',
    in: 'query',
    description: 'audit events whose result starts with this (403, 4 for every refusal, 201 …)',
    schema: { type: 'string', maxLength: 1000 },
  },
  since: {
    name: 'since',
    in: 'query',
    description: 'audit events at or after this time (RFC 3339)',
    schema: { type: 'string', format: 'date-time' },
  },
  certificateWarning: {
    name: 'certificateWarning',
    in: 'query',
    description:
      'how close to its expiry a cluster certificate makes the cluster non-compliant (a duration; default 2d)',
    schema: { type: 'string' },
  },
  overviewResourceVersion: {
    name: 'resourceVersion',
    in: 'query',
    description:
      'a pass that saw at least this change will do (0: any pass), if one made in the last minute is at hand: answered at once, possibly older than the latest changes (as a Kubernetes list from its cache). Absent: a pass that saw every change made before the request',
    schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
  },
  inventoryKind: {
    name: 'kind',
    in: 'query',
    description: 'the objects of this kind (Deployment, ConfigMap …), as the manifests declare it',
    schema: { type: 'string', maxLength: 253 },
  },
  inventoryGroup: {
    name: 'group',
    in: 'query',
    description: 'with kind: of this API group only (apps …; core for the core group)',
    schema: { type: 'string', maxLength: 253 },
  },
  inventoryNamespace: {
    name: 'namespace',
    in: 'query',
    description: 'the objects in this namespace',
    schema: { type: 'string', maxLength: 253 },
  },
  inventoryName: {
    name: 'name',
    in: 'query',
    description: 'the objects of this name; ending in * (web-*): every name that starts with what is before it',
    schema: { type: 'string', maxLength: 253 },
  },
  inventoryCluster: {
    name: 'cluster',
    in: 'query',
    description: 'the objects the works of this cluster declare',
    schema: { type: 'string', maxLength: 253 },
  },
  inventoryLimit: {
    name: 'limit',
    in: 'query',
    description: 'items per page (default 100)',
    schema: { type: 'integer', minimum: 1, maximum: 500 },
  },
  watch: {
    name: 'watch',
    in: 'query',
    description: `true: answer a stream of changes (${watchType}, one WatchEvent per line; also over WebSocket on the same URL) instead of a list`,
    schema: { type: 'boolean' },
  },
  resourceVersion: {
    name: 'resourceVersion',
    in: 'query',
    description:
      'watch: the position to start after (a list’s metadata.resourceVersion, or an event’s); absent or 0: the current objects first, as ADDED. Too old: 410 WATCH_EXPIRED',
    schema: { type: 'string' },
  },
  allowWatchBookmarks: {
    name: 'allowWatchBookmarks',
    in: 'query',
    description: 'watch: send BOOKMARK events now and then (the position, no object)',
    schema: { type: 'boolean' },
  },
  timeoutSeconds: {
    name: 'timeoutSeconds',
    in: 'query',
    description: 'watch: end the stream after this many seconds',
    schema: { type: 'integer', minimum: 1 },
  },
  fieldSelector: {
    name: 'fieldSelector',
    in: 'query',
    description:
      'watch: metadata.name=<name> and metadata.namespace=<namespace> (= or ==), joined by commas; any other field is refused',
    schema: { type: 'string', pattern: '^metadata\\.(name|namespace)==?' },
  },
  force: {
    name: 'force',
    in: 'query',
    description: 'true: remove at once, without waiting for the agent to clean up',
    schema: { type: 'boolean' },
  },
};

const pathText: Record<string, string> = {
  cluster: 'the cluster (a works` namespace)',
  name: 'the object’s name',
  namespace: 'the namespace',
  id: 'the token’s or registration’s id',
  file: 'a file of the dashboard',
};

const isAdmin = (op: Operation) => op.path.startsWith('/api/');

/** What a 2xx answer is sent as. */
function answerContent(op: Operation, schema: Schema): Record<string, Schema> {
  if (op.path === '/metrics') return { 'text/plain; version=0.0.4': { schema } };
  const out: Record<string, Schema> = { 'application/json': { schema } };
  if (isAdmin(op)) for (const t of ['application/yaml']) out[t] = { schema };
  return out;
}

function bodyContent(op: Operation): Record<string, Schema> {
  const body = op.body;
  if (!body) return {};
  const yaml = isAdmin(op) ? yamlTypes : [];
  if (body.kind === 'patch') {
    const merge = { schema: { $ref: '#/components/schemas/MergePatch' } };
    // The cluster PATCH reads merge patches of labels only.
    const json: Record<string, Schema> =
      op.path === '/api/v1/clusters/:name'
        ? {}
        : { 'application/json-patch+json': { schema: { $ref: '#/components/schemas/JsonPatch' } } };
    return {
      'application/merge-patch+json': merge,
      ...json,
      'application/json': merge,
      ...Object.fromEntries(yaml.map((t) => [t, merge])),
    };
  }
  return Object.fromEntries(['application/json', ...yaml].map((t) => [t, { schema: body.schema }]));
}

/** Error statuses every call with this access may get, besides the operation's own. */
function errorStatuses(op: Operation): number[] {
  const base: Record<Access, number[]> = {
    read: [400, 401, 406, 500, 503],
    admin: [400, 401, 403, 406, 500, 503],
    agent: [400, 401, 403, 500, 503],
    bootstrap: [400, 401, 500, 503],
    signature: [401, 413, 500, 503],
    none: op.path.startsWith('/agent/') ? [400, 500, 503] : [],
  };
  const body = op.body ? [413, 415] : [];
  return [...new Set([...base[op.access], ...body, ...(op.errors ?? [])])].filter((s) => !(s in op.answers)).sort();
}

function security(op: Operation): Schema[] {
  if (op.access === 'agent') return [{ agentMtls: [] }];
  if (op.access !== 'read' && op.access !== 'admin') return [];
  if (op.credentials === 'bearer') return [{ bearerAuth: [] }];
  if (op.credentials === 'cookie') return [{ sessionCookie: [] }];
  return [{ bearerAuth: [] }, { sessionCookie: [] }];
}

function operationObject(op: Operation): Schema {
  const params = [...op.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    description: pathText[m[1] as string] ?? m[1],
    schema: { type: 'string' },
  }));
  const responses: Record<string, Schema> = {};
  for (const [status, a] of Object.entries(op.answers)) {
    const schema = typeof a.schema === 'string' ? { $ref: `#/components/schemas/${a.schema}` } : a.schema;
    const content = answerContent(op, schema);
    if (op.watch && status === '200') content[watchType] = { schema: { $ref: '#/components/schemas/WatchEvent' } };
    responses[status] = {
      description: a.description,
      content,
      ...(a.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(a.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]),
            ),
          }
        : {}),
    };
  }
  for (const s of errorStatuses(op)) {
    responses[String(s)] = { $ref: `#/components/responses/${isAdmin(op) ? 'Error' : 'JsonError'}${s}` };
  }
  const access: Record<Access, string> = {
    read: 'Any API token.',
    admin: 'An admin-scope API token.',
    agent: 'The agent’s client certificate (mutual TLS), for its own cluster only.',
    bootstrap: 'No credentials: the bootstrap token in the body.',
    signature:
      'No API token: the request signed with the GitRepo’s spec.webhook secret (GitHub X-Hub-Signature-256, Gitea X-Gitea-Signature, GitLab X-Gitlab-Token).',
    none: 'No credentials.',
  };
  return {
    tags: [op.tag],
    summary: op.summary,
    description: [op.description, access[op.access]].filter(Boolean).join('\n\n'),
    operationId: `${op.method}${op.path.replace(/[:/-](\w)/g, (_m, c: string) => c.toUpperCase()).replace(/\W/g, '')}`,
    security: security(op),
    parameters: [...params, ...(op.query ?? []).map((q) => ({ $ref: `#/components/parameters/${q}` }))],
    ...(op.body ? { requestBody: { required: op.body.required ?? false, content: bodyContent(op) } } : {}),
    responses,
  };
}

/** fastify's path (/api/v1/clusters/:name) in OpenAPI's form (/api/v1/clusters/{name}). */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');

/** The whole document. */
export function openApiDocument(version: string): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const op of operations) {
    const path = openApiPath(op.path);
    paths[path] ??= {};
    (paths[path] as Record<string, Schema>)[op.method] = operationObject(op);
  }
  const errorResponse = (status: number, types: string[]) => ({
    description: errorText[status],
    content: Object.fromEntries(types.map((t) => [t, { schema: { $ref: '#/components/schemas/Error' } }])),
  });
  const statuses = Object.keys(errorText).map(Number);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Outpost hub API',
      version,
      description:
        'The hub’s REST API. /api/v1 is for people and automation (bearer tokens with scopes admin and read-only; JSON or YAML bodies and answers, as Accept and Content-Type say). /agent/v1 is for agents (mutual TLS; JSON). Every error is `{code, message, details?}` with a stable code.',
    },
    tags: [
      { name: 'clusters', description: 'ManagedClusters: joined spokes' },
      { name: 'works', description: 'ManifestWorks: one cluster’s desired objects' },
      { name: 'inventory', description: 'The objects works declare, searched across the fleet' },
      { name: 'placements', description: 'Placements and their decisions' },
      { name: 'worksets', description: 'ManifestWorkReplicaSets: a template rolled out through placements' },
      { name: 'gitrepos', description: 'GitRepos: Git repositories of manifests rendered into worksets' },
      { name: 'clustersets', description: 'ManagedClusterSets and their bindings' },
      { name: 'tokens', description: 'Bootstrap tokens (joining) and API tokens (this API)' },
      { name: 'audit', description: 'The audit log' },
      { name: 'ca', description: 'The hub CA' },
      { name: 'agent', description: 'The agent protocol' },
      { name: 'hub', description: 'Probes, metrics and this document' },
    ],
    paths,
    components: {
      schemas,
      parameters,
      responses: Object.fromEntries(
        statuses.flatMap((s) => [
          [`Error${s}`, errorResponse(s, ['application/json', 'application/yaml'])],
          [`JsonError${s}`, errorResponse(s, ['application/json'])],
        ]),
      ),
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token (`oph_…`, from `outpost-hub token`… or POST /api/v1/apitokens). Scope read-only: GET only; admin: everything.',
        },
        sessionCookie: {
          type: 'apiKey',
          in: 'cookie',
          name: 'outpost_session',
          description:
            'The dashboard’s session (POST /api/v1/sessions), used when no Authorization header is sent: the scope of the token it was made with; writes also need the `X-Outpost-CSRF` header.',
        },
        agentMtls: {
          type: 'mutualTLS',
          description: 'The agent’s client certificate, signed by the hub CA at join (CN outpost:cluster:NAME).',
        },
      },
    },
  };
}

/** GET /openapi.json: the document, made once. */
export const openApiRoutes: FastifyPluginAsync<{ version: string }> = async (app, { version }) => {
  const text = JSON.stringify(openApiDocument(version));
  app.get('/openapi.json', async (_req, reply) => reply.type('application/json; charset=utf-8').send(text));
};
