// /api/v1/placements: Placement create, replace, get, list, delete. Placements are hub-global
// (keyed by name); an OCM YAML's metadata.namespace is accepted and ignored. The status
// (decisions) is the scheduler's: every create and spec change is scheduled before the answer.
import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import {
  type Placement,
  type PlacementStatus,
  placementApiVersion,
  validatePlacement,
  validationError,
} from '../placement/index.ts';
import type { PlacementService } from '../scheduling/index.ts';
import type { ObjectRow, ObjectWrite, Store } from '../store/index.ts';
import { checkPreconditions, listOf, listQuery, pageByName } from './common.ts';

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
    const row = store.transaction(() => store.placements.create(toWrite(p), new Date().toISOString()));
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
