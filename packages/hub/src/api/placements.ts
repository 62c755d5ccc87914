// /api/v1/placements: Placement create, replace, get, list, delete; /api/v1/placementdecisions:
// the decisions as OCM PlacementDecision objects (read-only). Placements keep OCM's
// metadata.namespace (default "default") and are keyed by name: a name that lives in another
// namespace is refused with NAMESPACE_CONFLICT, never replaced. The status
// (decisions) is the scheduler's: every create and spec change is scheduled before the answer.
import { apiError, matchesSelector } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import {
  type Placement,
  type PlacementDecision,
  type PlacementStatus,
  placementApiVersion,
  placementDecisions,
  validatePlacement,
  validationError,
} from '../placement/index.ts';
import type { PlacementService } from '../scheduling/index.ts';
import type { ObjectRow, ObjectWrite, Store } from '../store/index.ts';
import { checkPreconditions, listOf, listQuery, pageByName, sameNamespace } from './common.ts';

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
    metadata: {
      name: row.name,
      ...(row.namespace === null ? {} : { namespace: row.namespace }),
      uid: row.uid,
      resourceVersion: String(row.resourceVersion),
      generation: row.generation,
      labels: row.labels,
      annotations: row.annotations,
      creationTimestamp: row.createdAt,
    },
    spec: row.spec as unknown as Placement['spec'],
    status,
  };
}

const toWrite = (p: Placement): ObjectWrite => ({
  name: p.metadata.name,
  namespace: p.metadata.namespace ?? 'default',
  labels: p.metadata.labels ?? {},
  annotations: p.metadata.annotations ?? {},
  spec: p.spec as unknown as Record<string, unknown>,
});

const rawMeta = (body: unknown) => (body as { metadata?: { resourceVersion?: unknown; uid?: unknown } }).metadata;

export const placementRoutes: FastifyPluginAsync<{ store: Store; placements: PlacementService }> = async (
  app,
  { store, placements },
) => {
  const get = (name: string) => {
    const row = store.placements.get(name);
    if (!row) throw apiError('PLACEMENT_NOT_FOUND', `placement ${JSON.stringify(name.slice(0, 100))} not found`);
    return row;
  };
  const validate = (body: unknown, pathName?: string) => {
    const v = validatePlacement(body, pathName);
    if (!v.ok) throw validationError(v.error);
    return v.value;
  };

  app.post('/api/v1/placements', async (req, reply) => {
    const p = validate(req.body);
    const row = store.transaction(() => {
      sameNamespace(
        store.placements.get(p.metadata.name),
        p.metadata.namespace ?? 'default',
        `placement ${p.metadata.name}`,
      );
      return store.placements.create(toWrite(p), new Date().toISOString());
    });
    if (!row) throw apiError('PLACEMENT_EXISTS', `placement ${p.metadata.name} already exists`);
    return reply.code(201).send(placementResource(placements.reconcile(row.name) ?? row));
  });

  // PUT creates or replaces (what `placement apply` sends); with a resourceVersion it only
  // replaces, and only that version.
  app.put('/api/v1/placements/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const p = validate(req.body, name);
    const out = store.transaction(() => {
      const at = new Date().toISOString();
      const existing = store.placements.get(name);
      if (!existing) {
        if (p.metadata.resourceVersion !== undefined) {
          throw apiError('PLACEMENT_NOT_FOUND', `placement ${name} does not exist (a resourceVersion was given)`);
        }
        return { row: store.placements.create(toWrite(p), at) as ObjectRow, created: true, changed: true, spec: true };
      }
      sameNamespace(existing, p.metadata.namespace ?? 'default', `placement ${name}`);
      checkPreconditions(rawMeta(req.body), existing, `placement ${name}`);
      const r = store.placements.replace(toWrite(p), at) as NonNullable<ReturnType<Store['placements']['replace']>>;
      return { row: r.row, created: false, changed: r.changed, spec: r.specChanged };
    });
    const row = out.spec ? (placements.reconcile(name) ?? out.row) : out.row;
    // Lets `placement apply` say created / configured / unchanged, as kubectl does.
    void reply.header('x-outpost-changed', String(out.changed));
    return reply.code(out.created ? 201 : 200).send(placementResource(row));
  });

  app.get('/api/v1/placements/:name', async (req) => placementResource(get((req.params as { name: string }).name)));

  app.get('/api/v1/placements', async (req) => {
    const q = listQuery(req.query);
    const { items, next } = pageByName(store.placements.page, q);
    return listOf('PlacementList', items.map(placementResource), next);
  });

  // OCM's PlacementDecision objects, derived from the placements' status (read-only).
  const decisionsOf = (row: ObjectRow) =>
    placementDecisions(
      { name: row.name, namespace: row.namespace ?? 'default', uid: row.uid, apiVersion: placementApiVersion },
      placementResource(row).status,
    );
  app.get('/api/v1/placementdecisions', async (req) => {
    const q = listQuery(req.query);
    const items: PlacementDecision[] = [];
    let after = '';
    for (;;) {
      const page = store.placements.page(after, 500);
      for (const row of page.items) {
        for (const d of decisionsOf(row)) {
          if (d.metadata.name > q.continue && matchesSelector(q.selector, d.metadata.labels)) items.push(d);
        }
      }
      const last = page.items.at(-1);
      if (!page.continue || !last) break;
      after = last.name;
    }
    items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const pageItems = items.slice(0, q.limit);
    const next = items.length > q.limit ? pageItems.at(-1)?.metadata.name : undefined;
    return listOf('PlacementDecisionList', pageItems, next);
  });
  app.get('/api/v1/placementdecisions/:name', async (req) => {
    const { name } = req.params as { name: string };
    // NAME-decision-N belongs to the placement NAME (a placement name may itself contain "-decision-").
    const cut = name.lastIndexOf('-decision-');
    const row = cut > 0 ? store.placements.get(name.slice(0, cut)) : undefined;
    const found = row ? decisionsOf(row).find((d) => d.metadata.name === name) : undefined;
    if (!found) throw apiError('NOT_FOUND', `placementdecision ${JSON.stringify(name.slice(0, 100))} not found`);
    return found;
  });

  app.delete('/api/v1/placements/:name', async (req) => {
    const { name } = req.params as { name: string };
    const row = store.transaction(() => {
      const row = get(name);
      store.placements.delete(name);
      return row;
    });
    placements.forget(name);
    return placementResource(row);
  });
};
