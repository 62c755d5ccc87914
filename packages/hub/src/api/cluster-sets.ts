// /api/v1/managedclustersets: OCM's ManagedClusterSets (cluster-scoped) — create, replace,
// patch, get, list, delete; `default` and `global` always exist and cannot change.
// /api/v1/namespaces/{namespace}/managedclustersetbindings: OCM's bindings (namespaced; the
// name is the set's), and /api/v1/managedclustersetbindings lists them across namespaces.
// Statuses are computed when read (OCM's ClusterSetEmpty and Bound conditions). Every write
// schedules every Placement again: a set or binding may widen or narrow any of them.
import { apiError, limits } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { applyPatch } from '../patch/index.ts';
import {
  builtInClusterSets,
  type ClusterSetSpec,
  clusterSetApiVersion,
  compileClusterSet,
  exclusiveSetOf,
  inClusterSet,
  type ManagedClusterSet,
  type ManagedClusterSetBinding,
  validateClusterSet,
  validateClusterSetBinding,
  validationError,
} from '../placement/index.ts';
import type { PlacementRequests } from '../scheduling/index.ts';
import { type BindingRow, type ObjectRow, objectKey, type Store, splitObjectKey } from '../store/index.ts';
import { bodyMeta, checkPreconditions, objectMetadata, onlyNamed, pageByName } from './common.ts';
import { patchTypeOf } from './patch.ts';
import { type Listing, listRoute, type Watches } from './watch/index.ts';

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/**
 * Members of each set, counted in one pass over the clusters: an exclusive set by its label's
 * value (a map lookup), a selector set by its selector (global, the empty one, counts all).
 */
async function memberCounts(store: Store, rows: readonly ObjectRow[]): Promise<Map<string, number>> {
  const sets = rows.map((r) => compileClusterSet(r.name, r.spec as unknown as ClusterSetSpec));
  const counts = new Map<string, number>(sets.map((s) => [s.name, 0]));
  if (!sets.length) return counts;
  const byLabel = new Map<string, number>();
  const selectors = sets.filter((s) => s.selectorType === 'LabelSelector' && s.selector.length > 0);
  const clusters = await store.clusters.all();
  for (const c of clusters) {
    const set = exclusiveSetOf(c.labels);
    byLabel.set(set, (byLabel.get(set) ?? 0) + 1);
    for (const s of selectors) if (inClusterSet(s, c.labels)) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
  }
  for (const s of sets) {
    if (s.selectorType === 'ExclusiveClusterSetLabel') counts.set(s.name, byLabel.get(s.name) ?? 0);
    else if (s.selector.length === 0) counts.set(s.name, clusters.length);
  }
  return counts;
}

/** The ManagedClusterSet as the API shows it; `members` is how many clusters it holds. */
export function clusterSetResource(row: ObjectRow, members: number): ManagedClusterSet & { status: object } {
  const empty: Condition =
    members === 0
      ? { type: 'ClusterSetEmpty', status: 'True', reason: 'NoClusterMatched', message: 'No ManagedCluster selected' }
      : {
          type: 'ClusterSetEmpty',
          status: 'False',
          reason: 'ClustersSelected',
          message: `${members} ManagedCluster${members === 1 ? '' : 's'} selected`,
        };
  return {
    apiVersion: clusterSetApiVersion,
    kind: 'ManagedClusterSet',
    metadata: objectMetadata(row),
    spec: row.spec as unknown as ClusterSetSpec,
    status: { conditions: [empty] },
  };
}

/** The binding as the API shows it: Bound while its set exists. */
export function bindingResource(row: BindingRow, setExists: boolean): ManagedClusterSetBinding & { status: object } {
  const bound: Condition = setExists
    ? { type: 'Bound', status: 'True', reason: 'ClusterSetBound', message: `bound to ManagedClusterSet ${row.name}` }
    : {
        type: 'Bound',
        status: 'False',
        reason: 'ClusterSetNotFound',
        message: `ManagedClusterSet ${row.name} does not exist`,
      };
  return {
    apiVersion: clusterSetApiVersion,
    kind: 'ManagedClusterSetBinding',
    metadata: {
      name: row.name,
      namespace: row.namespace,
      uid: row.uid,
      resourceVersion: String(row.resourceVersion),
      labels: row.labels,
      annotations: row.annotations,
      creationTimestamp: row.createdAt,
    },
    spec: { clusterSet: row.name },
    status: { conditions: [bound] },
  };
}

export const clusterSetRoutes: FastifyPluginAsync<{
  store: Store;
  placements: PlacementRequests;
  watches: Watches;
}> = async (app, { store, placements, watches }) => {
  const getSet = async (name: string) => {
    const row = await store.clusterSets.get('', name);
    if (!row) {
      throw apiError('CLUSTER_SET_NOT_FOUND', `managedclusterset ${JSON.stringify(name.slice(0, 100))} not found`);
    }
    return row;
  };
  const shownSet = async (row: ObjectRow) =>
    clusterSetResource(row, (await memberCounts(store, [row])).get(row.name) ?? 0);
  const validSet = (body: unknown, pathName?: string) => {
    const v = validateClusterSet(body, pathName);
    if (!v.ok) throw validationError(v.error);
    return v.value;
  };
  const toWrite = (s: ManagedClusterSet) => ({
    name: s.metadata.name,
    namespace: '',
    labels: s.metadata.labels ?? {},
    annotations: s.metadata.annotations ?? {},
    spec: s.spec as unknown as Record<string, unknown>,
  });

  /** Creates a set, within limits.clusterSetsMax (in the caller's transaction: the count and
   *  the insert must not be split by another create). */
  const createSet = async (s: ManagedClusterSet, at: string) => {
    if ((await store.clusterSets.all()).length >= limits.clusterSetsMax) {
      throw apiError('CLUSTER_SET_LIMIT', `a hub keeps at most ${limits.clusterSetsMax} ManagedClusterSets`);
    }
    return store.clusterSets.create(toWrite(s), at);
  };

  app.post('/api/v1/managedclustersets', async (req, reply) => {
    const s = validSet(req.body);
    const row = await store.transaction(() => createSet(s, new Date().toISOString()));
    if (!row) throw apiError('CLUSTER_SET_EXISTS', `managedclusterset ${s.metadata.name} already exists`);
    placements.setsChanged();
    return reply.code(201).send(await shownSet(row));
  });

  app.put('/api/v1/managedclustersets/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const s = validSet(req.body, name);
    const out = await store.transaction(async () => {
      const at = new Date().toISOString();
      const existing = await store.clusterSets.get('', name);
      if (!existing) {
        if (s.metadata.resourceVersion !== undefined) {
          throw apiError(
            'CLUSTER_SET_NOT_FOUND',
            `managedclusterset ${name} does not exist (a resourceVersion was given)`,
          );
        }
        return { row: (await createSet(s, at)) as ObjectRow, created: true, changed: true };
      }
      return { ...(await replaceSet(existing, s, bodyMeta(req.body), at)), created: false };
    });
    return setAnswer(reply, out);
  });
  /** Replaces `existing` with `s` (in the caller's transaction), as PUT and PATCH do. */
  const replaceSet = async (
    existing: ObjectRow,
    s: ManagedClusterSet,
    meta: ReturnType<typeof bodyMeta>,
    at: string,
  ) => {
    checkPreconditions(meta, existing, `managedclusterset ${existing.name}`);
    const r = (await store.clusterSets.replace(toWrite(s), at)) as NonNullable<
      Awaited<ReturnType<Store['clusterSets']['replace']>>
    >;
    return { row: r.row, changed: r.changed };
  };
  const setAnswer = async (reply: FastifyReply, out: { row: ObjectRow; created: boolean; changed: boolean }) => {
    if (out.changed) placements.setsChanged();
    void reply.header('x-outpost-changed', String(out.changed));
    return reply.code(out.created ? 201 : 200).send(await shownSet(out.row));
  };
  // PATCH: the stored set patched, validated and written as PUT writes, in one transaction.
  app.patch('/api/v1/managedclustersets/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const type = patchTypeOf(req.headers['content-type']);
    const out = await store.transaction(async () => {
      const existing = await getSet(name);
      const metadata = objectMetadata(existing);
      const target = { apiVersion: clusterSetApiVersion, kind: 'ManagedClusterSet', metadata, spec: existing.spec };
      const patched = applyPatch(target, req.body, type);
      const s = validSet(patched.object, name);
      return { ...(await replaceSet(existing, s, patched.preconditions, new Date().toISOString())), created: false };
    });
    return setAnswer(reply, out);
  });

  app.get('/api/v1/managedclustersets/:name', async (req) =>
    shownSet(await getSet((req.params as { name: string }).name)),
  );

  listRoute(app, store, watches, '/api/v1/managedclustersets', {
    resource: 'managedclustersets',
    kind: 'ManagedClusterSetList',
    scope: () => undefined,
    list: async (_scope, q) => {
      const { items, next } = await pageByName((after, limit) => store.clusterSets.page(after, limit), q, '');
      const counts = await memberCounts(store, items);
      return { items: items.map((r) => clusterSetResource(r, counts.get(r.name) ?? 0)), next };
    },
    get: async (_scope, name) => {
      const row = await store.clusterSets.get('', name);
      return (
        row && { uid: row.uid, object: clusterSetResource(row, (await memberCounts(store, [row])).get(name) ?? 0) }
      );
    },
  });

  app.delete('/api/v1/managedclustersets/:name', async (req) => {
    const { name } = req.params as { name: string };
    if (builtInClusterSets[name]) {
      throw apiError(
        'CLUSTER_SET_BUILT_IN',
        `managedclusterset ${name} is built in (as on an OCM hub) and cannot be deleted`,
      );
    }
    const row = await store.transaction(async () => {
      const row = await getSet(name);
      await store.clusterSets.delete('', name);
      return row;
    });
    placements.setsChanged();
    return clusterSetResource(row, 0);
  });

  // ---- bindings ----------------------------------------------------------------------------
  const shownBinding = async (row: BindingRow) =>
    bindingResource(row, (await store.clusterSets.get('', row.name)) !== undefined);
  const bindingsPath = '/api/v1/namespaces/:namespace/managedclustersetbindings';

  const validBinding = (body: unknown, path: { namespace: string; name: string }) => {
    const v = validateClusterSetBinding(body, path);
    if (!v.ok) throw validationError(v.error);
    return v.value;
  };
  /** Writes binding `b` (in the caller's transaction), as PUT and PATCH do. */
  const putBinding = (b: ManagedClusterSetBinding) =>
    store.bindings.put(
      {
        namespace: b.metadata.namespace,
        name: b.metadata.name,
        labels: b.metadata.labels ?? {},
        annotations: b.metadata.annotations ?? {},
      },
      new Date().toISOString(),
    );
  const bindingAnswer = async (reply: FastifyReply, out: Awaited<ReturnType<typeof putBinding>>) => {
    if (out.created) placements.setsChanged();
    void reply.header('x-outpost-changed', String(out.changed));
    return reply.code(out.created ? 201 : 200).send(await shownBinding(out.row));
  };

  app.put(`${bindingsPath}/:name`, async (req, reply) => {
    const { namespace, name } = req.params as { namespace: string; name: string };
    const b = validBinding(req.body, { namespace, name });
    const out = await store.transaction(async () => {
      const existing = await store.bindings.get(namespace, name);
      if (existing) checkPreconditions(bodyMeta(req.body), existing, `managedclustersetbinding ${namespace}/${name}`);
      else if ((await store.bindings.all()).length >= limits.clusterSetBindingsMax) {
        throw apiError(
          'CLUSTER_SET_LIMIT',
          `a hub keeps at most ${limits.clusterSetBindingsMax} ManagedClusterSetBindings`,
        );
      } else if (b.metadata.resourceVersion !== undefined) {
        throw apiError(
          'CLUSTER_SET_BINDING_NOT_FOUND',
          `managedclustersetbinding ${namespace}/${name} does not exist (a resourceVersion was given)`,
        );
      }
      return putBinding(b);
    });
    return bindingAnswer(reply, out);
  });

  /** The binding a path names: with a namespace, that one; without, the only one of that
   *  name (as for Placements: NAME_AMBIGUOUS when several namespaces hold it). */
  const findBinding = async (params: { namespace?: string; name: string }) => {
    const { namespace, name } = params;
    const notFound = () =>
      apiError(
        'CLUSTER_SET_BINDING_NOT_FOUND',
        `managedclustersetbinding ${JSON.stringify(`${namespace ? `${namespace}/` : ''}${name}`.slice(0, 200))} not found`,
      );
    if (namespace !== undefined) {
      const row = await store.bindings.get(namespace, name);
      if (!row) throw notFound();
      return row;
    }
    return onlyNamed(
      (await store.bindings.all()).filter((b) => b.name === name),
      `managedclustersetbinding ${name}`,
      `/api/v1/namespaces/NAMESPACE/managedclustersetbindings/${name}`,
      notFound,
    );
  };
  const getBinding = async (req: FastifyRequest) => shownBinding(await findBinding(req.params as { name: string }));
  app.get(`${bindingsPath}/:name`, getBinding);
  // PATCH (labels and annotations: a binding's spec is its name) where PUT is: by namespace
  // and name. Patched, validated and written as PUT writes, in one transaction.
  app.patch(`${bindingsPath}/:name`, async (req, reply) => {
    const { namespace, name } = req.params as { namespace: string; name: string };
    const type = patchTypeOf(req.headers['content-type']);
    const out = await store.transaction(async () => {
      const existing = await findBinding({ namespace, name });
      const { uid, labels, annotations, createdAt } = existing;
      const resourceVersion = String(existing.resourceVersion);
      const metadata = { name, namespace, uid, resourceVersion, labels, annotations, creationTimestamp: createdAt };
      const target = { apiVersion: clusterSetApiVersion, kind: 'ManagedClusterSetBinding', metadata };
      const patched = applyPatch({ ...target, spec: { clusterSet: name } }, req.body, type);
      checkPreconditions(patched.preconditions, existing, `managedclustersetbinding ${namespace}/${name}`);
      return putBinding(validBinding(patched.object, { namespace, name }));
    });
    return bindingAnswer(reply, out);
  });
  app.get('/api/v1/managedclustersetbindings/:name', getBinding);

  // Bindings are few (one per namespace and set): read whole, filtered by label and paged
  // as placements are (pageByName), in the store's (namespace, name) order.
  const bindingListing: Listing = {
    resource: 'managedclustersetbindings',
    kind: 'ManagedClusterSetBindingList',
    scope: (req) => (req.params as { namespace?: string }).namespace,
    list: async (namespace, q) => {
      const rows = (await store.bindings.all()).filter((r) => namespace === undefined || r.namespace === namespace);
      const page = async (after: string, limit: number) => {
        const from = splitObjectKey(after);
        const rest = rows.filter(
          (r) => r.namespace > from.namespace || (r.namespace === from.namespace && r.name > from.name),
        );
        const items = rest.slice(0, limit);
        const last = items.at(-1);
        return { items, continue: rest.length > limit && last ? objectKey(last) : undefined };
      };
      const { items, next } = await pageByName(page, q, namespace);
      const sets = new Set((await store.clusterSets.all()).map((r) => r.name));
      return { items: items.map((r) => bindingResource(r, sets.has(r.name))), next };
    },
    get: async (namespace, name) => {
      const row = await store.bindings.get(namespace, name);
      return row && { uid: row.uid, object: bindingResource(row, !!(await store.clusterSets.get('', name))) };
    },
  };
  listRoute(app, store, watches, bindingsPath, bindingListing);
  listRoute(app, store, watches, '/api/v1/managedclustersetbindings', bindingListing);

  const deleteBinding = async (req: FastifyRequest) => {
    const row = await store.transaction(async () => {
      const row = await findBinding(req.params as { name: string });
      await store.bindings.delete(row.namespace, row.name);
      return row;
    });
    placements.setsChanged();
    return shownBinding(row);
  };
  // Deleted by namespace and name only: a binding gone from a namespace nobody named would
  // narrow its placements to nothing.
  app.delete(`${bindingsPath}/:name`, deleteBinding);
};
