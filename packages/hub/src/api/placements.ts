// /api/v1/namespaces/{namespace}/placements: Placement create, replace, patch, get, list, delete;
// .../placementdecisions: the decisions as OCM PlacementDecision objects (read-only).
// Placements are keyed by OCM's metadata.namespace (default "default") and name. The paths
// without a namespace stay: a write goes to the body's namespace, a read or delete to the one
// object of that name (NAME_AMBIGUOUS when several namespaces hold it), a list to all. The status
// (decisions) is the scheduler's: every create and spec change is scheduled before the answer.
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { apiError, matchesSelector } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { applyPatch } from '../patch/index.ts';
import {
  type ClusterSelection,
  compilePlacement,
  explainSelection,
  type Placement,
  type PlacementDecision,
  type PlacementStatus,
  placementApiVersion,
  placementDecisions,
  setRestriction,
  toClusterView,
  validatePlacement,
  validationError,
} from '../placement/index.ts';
import { clusterResource } from '../registration/clusters.ts';
import { clusterSetsOf, type PlacementRequests, placementFromRow, schedulable } from '../scheduling/index.ts';
import { type ObjectRow, type ObjectWrite, objectKey, type Store } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import {
  bodyMeta,
  checkPreconditions,
  listOf,
  listQuery,
  objectMetadata,
  onlyNamed,
  pageByName,
  refuseUnknownQuery,
  writeNamespace,
} from './common.ts';
import { patchTypeOf } from './patch.ts';
import { listRoute, type Watches } from './watch/index.ts';

/** The Placement as the API shows it. */
export function placementResource(row: ObjectRow): Placement {
  const status = (row.status as PlacementStatus | null) ?? {
    numberOfSelectedClusters: 0,
    decisionGroups: [],
    decisions: [],
    conditions: [],
  };
  return {
    apiVersion: placementApiVersion,
    kind: 'Placement',
    metadata: objectMetadata(row),
    spec: row.spec as unknown as Placement['spec'],
    status,
  };
}

const toWrite = (p: Placement, namespace: string): ObjectWrite => ({
  name: p.metadata.name,
  namespace,
  labels: p.metadata.labels ?? {},
  annotations: p.metadata.annotations ?? {},
  spec: p.spec as unknown as Record<string, unknown>,
});

const ns = '/api/v1/namespaces/:namespace';

export const placementRoutes: FastifyPluginAsync<{
  store: Store;
  placements: PlacementRequests;
  watches: Watches;
  sync: SyncService;
}> = async (app, { store, placements, watches, sync }) => {
  const notFound = (namespace: string | undefined, name: string) => () =>
    apiError(
      'PLACEMENT_NOT_FOUND',
      `placement ${JSON.stringify(`${namespace ? `${namespace}/` : ''}${name}`.slice(0, 200))} not found`,
    );
  /** The row a path names: with a namespace, that one; without, the only one of that name. */
  const find = async (params: { namespace?: string; name: string }) => {
    const { namespace, name } = params;
    if (namespace !== undefined) {
      const row = await store.placements.get(namespace, name);
      if (!row) throw notFound(namespace, name)();
      return row;
    }
    return onlyNamed(
      await store.placements.named(name),
      `placement ${name}`,
      `/api/v1/namespaces/NAMESPACE/placements/${name}`,
      notFound(undefined, name),
    );
  };
  const validate = (body: unknown, pathName?: string) => {
    const v = validatePlacement(body, pathName);
    if (!v.ok) throw validationError(v.error);
    return v.value;
  };

  const create = async (req: FastifyRequest, reply: FastifyReply) => {
    const p = validate(req.body);
    const namespace = writeNamespace(p.metadata.namespace, (req.params as { namespace?: string }).namespace);
    const row = await store.transaction(() => store.placements.create(toWrite(p, namespace), new Date().toISOString()));
    if (!row) throw apiError('PLACEMENT_EXISTS', `placement ${namespace}/${p.metadata.name} already exists`);
    return reply.code(201).send(placementResource((await placements.reconcile(namespace, row.name)) ?? row));
  };
  app.post('/api/v1/placements', create);
  app.post(`${ns}/placements`, create);

  // PUT creates or replaces (what `placement apply` sends); with a resourceVersion it only
  // replaces, and only that version.
  const put = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = req.params as { namespace?: string; name: string };
    const { name } = params;
    const p = validate(req.body, name);
    const namespace = writeNamespace(p.metadata.namespace, params.namespace);
    const out = await store.transaction(async () => {
      const at = new Date().toISOString();
      const existing = await store.placements.get(namespace, name);
      if (!existing) {
        if (p.metadata.resourceVersion !== undefined) {
          throw apiError(
            'PLACEMENT_NOT_FOUND',
            `placement ${namespace}/${name} does not exist (a resourceVersion was given)`,
          );
        }
        const row = (await store.placements.create(toWrite(p, namespace), at)) as ObjectRow;
        return { row, created: true, changed: true, spec: true };
      }
      return { ...(await replace(existing, p, bodyMeta(req.body), at)), created: false };
    });
    return answer(reply, out);
  };
  /** Replaces `existing` with `p` (in the caller's transaction), as PUT and PATCH do. */
  const replace = async (existing: ObjectRow, p: Placement, meta: ReturnType<typeof bodyMeta>, at: string) => {
    checkPreconditions(meta, existing, `placement ${existing.namespace}/${existing.name}`);
    const r = (await store.placements.replace(toWrite(p, existing.namespace), at)) as NonNullable<
      Awaited<ReturnType<Store['placements']['replace']>>
    >;
    return { row: r.row, changed: r.changed, spec: r.specChanged };
  };
  const answer = async (
    reply: FastifyReply,
    out: { row: ObjectRow; created: boolean; changed: boolean; spec: boolean },
  ) => {
    const { namespace, name } = out.row;
    const row = out.spec ? ((await placements.reconcile(namespace, name)) ?? out.row) : out.row;
    // Lets `placement apply` say created / configured / unchanged, as kubectl does.
    void reply.header('x-outpost-changed', String(out.changed));
    return reply.code(out.created ? 201 : 200).send(placementResource(row));
  };
  app.put('/api/v1/placements/:name', put);
  app.put(`${ns}/placements/:name`, put);

  // PATCH: the stored placement patched, validated and written as PUT writes, in one
  // transaction. Without a namespace in the path: the one placement of that name.
  const patch = async (req: FastifyRequest, reply: FastifyReply) => {
    const type = patchTypeOf(req.headers['content-type']);
    const out = await store.transaction(async () => {
      const existing = await find(req.params as { name: string });
      const target = { apiVersion: placementApiVersion, kind: 'Placement', metadata: objectMetadata(existing) };
      const patched = applyPatch({ ...target, spec: existing.spec }, req.body, type);
      const p = validate(patched.object, existing.name);
      return { ...(await replace(existing, p, patched.preconditions, new Date().toISOString())), created: false };
    });
    return answer(reply, out);
  };
  app.patch('/api/v1/placements/:name', patch);
  app.patch(`${ns}/placements/:name`, patch);

  const getOne = async (req: FastifyRequest) => placementResource(await find(req.params as { name: string }));
  app.get('/api/v1/placements/:name', getOne);
  app.get(`${ns}/placements/:name`, getOne);

  for (const path of ['/api/v1/placements', `${ns}/placements`]) {
    listRoute(app, store, watches, path, {
      resource: 'placements',
      kind: 'PlacementList',
      scope: (req) => (req.params as { namespace?: string }).namespace,
      list: async (namespace, q) => {
        const { items, next } = await pageByName(
          (after, limit) => store.placements.page(after, limit, namespace),
          q,
          namespace,
        );
        return { items: items.map(placementResource), next };
      },
      get: async (namespace, name) => {
        const row = await store.placements.get(namespace, name);
        return row && { uid: row.uid, object: placementResource(row) };
      },
    });
  }

  // OCM's PlacementDecision objects, derived from the placements' status (read-only), in
  // their placement's namespace.
  const decisionsOf = (row: ObjectRow) =>
    placementDecisions(
      { name: row.name, namespace: row.namespace, uid: row.uid, apiVersion: placementApiVersion },
      placementResource(row).status,
    );
  const listDecisions = async (req: FastifyRequest) => {
    const q = listQuery(req.query);
    const namespace = (req.params as { namespace?: string }).namespace;
    const token = (d: PlacementDecision) => objectKey({ namespace: d.metadata.namespace, name: d.metadata.name });
    const items: PlacementDecision[] = [];
    let after = namespace === undefined ? '' : `${namespace}/`;
    for (;;) {
      const page = await store.placements.page(after, 500, namespace);
      for (const row of page.items) {
        for (const d of decisionsOf(row)) {
          if (token(d) > q.continue && matchesSelector(q.selector, d.metadata.labels)) items.push(d);
        }
      }
      if (!page.continue) break;
      after = page.continue;
    }
    items.sort((a, b) => (token(a) < token(b) ? -1 : 1));
    const pageItems = items.slice(0, q.limit);
    const last = pageItems.at(-1);
    return listOf('PlacementDecisionList', pageItems, items.length > q.limit && last ? token(last) : undefined);
  };
  app.get('/api/v1/placementdecisions', listDecisions);
  app.get(`${ns}/placementdecisions`, listDecisions);
  const getDecision = async (req: FastifyRequest) => {
    const { namespace, name } = req.params as { namespace?: string; name: string };
    // NAME-decision-N belongs to the placement NAME (a placement name may itself contain "-decision-").
    const cut = name.lastIndexOf('-decision-');
    const missing = () => apiError('NOT_FOUND', `placementdecision ${JSON.stringify(name.slice(0, 100))} not found`);
    if (cut <= 0) throw missing();
    const row = await find({ name: name.slice(0, cut), ...(namespace === undefined ? {} : { namespace }) });
    const found = decisionsOf(row).find((d) => d.metadata.name === name);
    if (!found) throw missing();
    return found;
  };
  app.get('/api/v1/placementdecisions/:name', getDecision);
  app.get(`${ns}/placementdecisions/:name`, getDecision);

  // Why each placement selects this cluster or not (placement/explain.ts), for the dashboard's
  // cluster page and for automation: the scheduler's order, from the stored decisions.
  app.get('/api/v1/clusters/:name/placements', async (req) => {
    refuseUnknownQuery(req.query, []);
    const { name } = req.params as { name: string };
    const row = await store.clusters.get(name);
    if (!row) throw apiError('CLUSTER_NOT_FOUND', `cluster ${JSON.stringify(name.slice(0, 100))} not found`);
    const now = Date.now();
    const view = toClusterView(clusterResource(row, undefined, now, sync.liveness));
    const { sets, bindings } = await clusterSetsOf(store);
    const canBeSelected = schedulable(row);
    const items: (ClusterSelection & { namespace: string; name: string })[] = [];
    let after = '';
    for (;;) {
      const page = await store.placements.page(after, 500);
      for (const p of page.items) {
        const status = p.status as PlacementStatus | null;
        const group = status?.decisions?.find((g) => g.clusterNames.includes(name));
        const decided = group && { groupIndex: group.groupIndex, groupName: group.groupName };
        const at = { namespace: p.namespace, name: p.name };
        if (!decided && !canBeSelected) {
          items.push({
            ...at,
            selected: false,
            reason: 'NotSchedulable',
            message: row.removalRequestedAt
              ? 'the cluster is being removed'
              : row.denied || !row.hubAcceptsClient
                ? 'the cluster is not accepted by the hub'
                : 'the cluster has not joined yet',
          });
          continue;
        }
        try {
          const compiled = compilePlacement(placementFromRow(p));
          const bound = bindings.get(p.namespace) ?? new Set<string>();
          const restriction = setRestriction(compiled.placement.spec.clusterSets, bound, sets);
          items.push({ ...at, ...explainSelection(compiled, restriction, p.namespace, view, decided, now) });
        } catch (err) {
          // A stored placement this hub cannot compile (the scheduler keeps its decisions and
          // says so in its status): said here for it alone, never a 500 for every cluster.
          items.push({
            ...at,
            selected: decided !== undefined,
            reason: 'PlacementInvalid',
            message: `the placement cannot be evaluated: ${String((err as Error).message ?? err).slice(0, 200)}`,
            ...(decided ?? {}),
          });
        }
      }
      if (!page.continue) break;
      after = page.continue;
      await yieldLoop();
    }
    return { apiVersion: 'outpost.dev/v1alpha1', kind: 'ClusterPlacementList', metadata: { cluster: name }, items };
  });

  const remove = async (req: FastifyRequest) => {
    const row = await store.transaction(async () => {
      const row = await find(req.params as { name: string });
      await store.placements.delete(row.namespace, row.name);
      return row;
    });
    placements.forget(row.namespace, row.name);
    return placementResource(row);
  };
  app.delete('/api/v1/placements/:name', remove);
  app.delete(`${ns}/placements/:name`, remove);
};
