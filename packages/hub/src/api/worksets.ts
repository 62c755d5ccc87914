// /api/v1/manifestworkreplicasets (alias /api/v1/worksets): ManifestWorkReplicaSet create,
// replace, get, list, delete, pause and resume. Namespaced as Placements are (OCM's
// metadata.namespace kept, default "default"; a name that lives in another namespace is
// refused with NAMESPACE_CONFLICT), and its placementRefs name placements of its own
// namespace. This is the resource only: fanning a workset
// out into per-cluster ManifestWorks is the workset controller's job, which also owns status.
// DELETE follows spec.cascadeDeletionPolicy: Background (the default) removes the workset at
// once and the controller then deletes its works; Foreground only marks it (it is shown with
// metadata.deletionTimestamp and can no longer be changed) and the controller removes it once
// its works are gone.
import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import { validationError } from '../placement/index.ts';
import {
  type ManifestWorkReplicaSet,
  type ManifestWorkReplicaSetStatus,
  validateWorkReplicaSet,
  workSetApiVersion,
} from '../rollout/index.ts';
import type { ObjectRow, ObjectWrite, Store } from '../store/index.ts';
import { checkPreconditions, listOf, listQuery, pageByName, sameNamespace } from './common.ts';

/** Both spellings of the collection: OCM's kind in the plural, and the short alias. */
export const workSetPaths = ['/api/v1/manifestworkreplicasets', '/api/v1/worksets'] as const;

/** The ManifestWorkReplicaSet as the API shows it (status only once the controller wrote one). */
export function workSetResource(row: ObjectRow): ManifestWorkReplicaSet {
  const res: ManifestWorkReplicaSet = {
    apiVersion: workSetApiVersion,
    kind: 'ManifestWorkReplicaSet',
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
    spec: row.spec as unknown as ManifestWorkReplicaSet['spec'],
  };
  if (row.deletionAt) res.metadata.deletionTimestamp = row.deletionAt;
  if (row.status) res.status = row.status as unknown as ManifestWorkReplicaSetStatus;
  return res;
}

const toWrite = (w: ManifestWorkReplicaSet): ObjectWrite => ({
  name: w.metadata.name,
  namespace: w.metadata.namespace ?? 'default',
  labels: w.metadata.labels ?? {},
  annotations: w.metadata.annotations ?? {},
  spec: w.spec as unknown as Record<string, unknown>,
});

const rawMeta = (body: unknown) => (body as { metadata?: { resourceVersion?: unknown; uid?: unknown } }).metadata;

export interface WorkSetRoutesOptions {
  store: Store;
  maxWorkBytes: number;
  /** Told after every create, replace, pause, resume and delete (the workset controller). */
  onWorkSetChanged?: ((name: string) => void) | undefined;
}

export const workSetRoutes: FastifyPluginAsync<WorkSetRoutesOptions> = async (
  app,
  { store, maxWorkBytes, onWorkSetChanged },
) => {
  const changed = (name: string) => onWorkSetChanged?.(name);
  const get = (name: string) => {
    const row = store.worksets.get(name);
    if (!row) {
      throw apiError('WORKSET_NOT_FOUND', `manifestworkreplicaset ${JSON.stringify(name.slice(0, 100))} not found`);
    }
    return row;
  };
  /** A workset being deleted in the foreground is not changed any more (as in Kubernetes). */
  const notDeleting = (row: ObjectRow) => {
    if (row.deletionAt) {
      throw apiError(
        'WORKSET_DELETING',
        `manifestworkreplicaset ${row.name} is being deleted (since ${row.deletionAt}); wait until it is gone`,
      );
    }
  };
  const validate = (body: unknown, pathName?: string) => {
    const v = validateWorkReplicaSet(body, pathName);
    if (!v.ok) throw validationError(v.error);
    return v.value;
  };
  // The template carries whole manifests: allow what a ManifestWork may be.
  const bodyLimit = maxWorkBytes;

  /** Pause and resume: spec.paused (absent means not paused), a spec change like any other. */
  const setPaused = (name: string, paused: boolean) =>
    store.transaction(() => {
      const row = get(name);
      notDeleting(row);
      const spec = { ...row.spec };
      if (paused) spec.paused = true;
      else delete spec.paused;
      const r = store.worksets.replace({ ...row, spec }, new Date().toISOString());
      return (r as NonNullable<typeof r>).row;
    });

  for (const base of workSetPaths) {
    app.post(base, { bodyLimit }, async (req, reply) => {
      const w = validate(req.body);
      const row = store.transaction(() => {
        const what = `manifestworkreplicaset ${w.metadata.name}`;
        sameNamespace(store.worksets.get(w.metadata.name), w.metadata.namespace ?? 'default', what);
        return store.worksets.create(toWrite(w), new Date().toISOString());
      });
      if (!row) throw apiError('WORKSET_EXISTS', `manifestworkreplicaset ${w.metadata.name} already exists`);
      changed(row.name);
      return reply.code(201).send(workSetResource(row));
    });

    app.put(`${base}/:name`, { bodyLimit }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const w = validate(req.body, name);
      const out = store.transaction(() => {
        const at = new Date().toISOString();
        const existing = store.worksets.get(name);
        if (!existing) {
          if (w.metadata.resourceVersion !== undefined) {
            throw apiError(
              'WORKSET_NOT_FOUND',
              `manifestworkreplicaset ${name} does not exist (a resourceVersion was given)`,
            );
          }
          return { row: store.worksets.create(toWrite(w), at) as ObjectRow, created: true, changed: true };
        }
        sameNamespace(existing, w.metadata.namespace ?? 'default', `manifestworkreplicaset ${name}`);
        checkPreconditions(rawMeta(req.body), existing, `manifestworkreplicaset ${name}`);
        notDeleting(existing);
        const r = store.worksets.replace(toWrite(w), at) as NonNullable<ReturnType<Store['worksets']['replace']>>;
        return { row: r.row, created: false, changed: r.changed };
      });
      if (out.changed) changed(name);
      void reply.header('x-outpost-changed', String(out.changed));
      return reply.code(out.created ? 201 : 200).send(workSetResource(out.row));
    });

    app.get(`${base}/:name`, async (req) => workSetResource(get((req.params as { name: string }).name)));

    app.get(base, async (req) => {
      const q = listQuery(req.query);
      const { items, next } = pageByName(store.worksets.page, q);
      return listOf('ManifestWorkReplicaSetList', items.map(workSetResource), next);
    });

    app.delete(`${base}/:name`, async (req) => {
      const { name } = req.params as { name: string };
      const row = store.transaction(() => {
        const row = get(name);
        const policy = (row.spec as { cascadeDeletionPolicy?: string }).cascadeDeletionPolicy;
        if (policy !== 'Foreground') {
          store.worksets.delete(name);
          return row;
        }
        // Foreground: the controller deletes the row once the works it owns are gone.
        return store.worksets.markDeleting(name, new Date().toISOString()) ?? row;
      });
      changed(name);
      return workSetResource(row);
    });

    app.post(`${base}/:name/pause`, async (req) => {
      const row = setPaused((req.params as { name: string }).name, true);
      changed(row.name);
      return workSetResource(row);
    });
    app.post(`${base}/:name/resume`, async (req) => {
      const row = setPaused((req.params as { name: string }).name, false);
      changed(row.name);
      return workSetResource(row);
    });
  }
};
