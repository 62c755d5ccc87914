// /api/v1/namespaces/{namespace}/manifestworkreplicasets (alias .../worksets):
// ManifestWorkReplicaSet create, replace, get, list, delete, pause and resume. Keyed by
// namespace and name as Placements are (the paths without a namespace stay, as for
// Placements), and its placementRefs name placements of its own namespace. This is the
// resource only: fanning a workset
// out into per-cluster ManifestWorks is the workset controller's job, which also owns status.
// DELETE follows spec.cascadeDeletionPolicy: Background (the default) removes the workset at
// once and the controller then deletes its works; Foreground only marks it (it is shown with
// metadata.deletionTimestamp and can no longer be changed) and the controller removes it once
// its works are gone.
//
// A workset's template may be as large as a work (16 MiB): its body is read on the body
// thread, its spec stored as the canonical text made there, and answers carry that text as
// it is (work/raw-json.ts), so the event loop never parses or serialises the template.
import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { type BodyThread, RawBody, type WorkSetBody } from '../parse/index.ts';
import { type ManifestWorkReplicaSet, type ManifestWorkReplicaSetStatus, workSetApiVersion } from '../rollout/index.ts';
import type { ObjectRow, ObjectWrite, Store } from '../store/index.ts';
import { type JsonPart, RawJson, TextRef } from '../work/raw-json.ts';
import { saveTexts } from '../work/texts.ts';
import {
  checkPreconditions,
  listOf,
  listQuery,
  objectMetadata,
  onlyNamed,
  pageByName,
  sendStored,
  writeNamespace,
} from './common.ts';

/** Both spellings of the collection (OCM's kind in the plural, and the short alias), with
 *  and without a namespace. */
export const workSetPaths = ['manifestworkreplicasets', 'worksets'].flatMap((plural) => [
  `/api/v1/${plural}`,
  `/api/v1/namespaces/:namespace/${plural}`,
]);

/** Parts of at most a megabyte: an answer writes one part at a time (work/raw-json.ts). */
const inParts = (bytes: Uint8Array): Uint8Array[] => {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += 1024 * 1024) parts.push(bytes.subarray(at, at + 1024 * 1024));
  return parts;
};

/** A workset's stored spec as parts of an answer: its texts, read as the answer is written. */
export function specJson(store: Pick<Store, 'worksets'>, namespace: string, name: string): JsonPart[] {
  const p = store.worksets.specParts(namespace, name);
  if (!p) return ['{}'];
  return 'whole' in p ? inParts(p.whole) : p.hashes.map((h) => new TextRef(h));
}

/**
 * The ManifestWorkReplicaSet as the API shows it (status only once the controller wrote
 * one), its spec the stored text as it is (`spec`: specJson).
 */
export function workSetResource(row: ObjectRow, spec: JsonPart[]): ManifestWorkReplicaSet {
  const res: ManifestWorkReplicaSet = {
    apiVersion: workSetApiVersion,
    kind: 'ManifestWorkReplicaSet',
    metadata: objectMetadata(row),
    // The stored text as it is: the template may be megabytes.
    spec: new RawJson(spec) as unknown as ManifestWorkReplicaSet['spec'],
  };
  if (row.deletionAt) res.metadata.deletionTimestamp = row.deletionAt;
  if (row.status) res.status = row.status as unknown as ManifestWorkReplicaSetStatus;
  return res;
}

const toWrite = (w: WorkSetBody, namespace: string): ObjectWrite => ({
  name: w.metadata.name,
  namespace,
  labels: w.metadata.labels ?? {},
  annotations: w.metadata.annotations ?? {},
  specParts: w.specParts,
  specHash: w.specHash,
  specBytes: w.specBytes,
  renderHash: w.renderHash,
  specHead: w.spec as Record<string, unknown>,
});

export interface WorkSetRoutesOptions {
  store: Store;
  maxWorkBytes: number;
  bodies: BodyThread;
  /** Told after every create, replace, pause, resume and delete (the workset controller). */
  onWorkSetChanged?: ((namespace: string, name: string) => void) | undefined;
}

export const workSetRoutes: FastifyPluginAsync<WorkSetRoutesOptions> = async (
  app,
  { store, maxWorkBytes, bodies, onWorkSetChanged },
) => {
  const json = (reply: FastifyReply, value: unknown) => sendStored(reply, store, value);
  const resource = (row: ObjectRow, spec = specJson(store, row.namespace, row.name)) => workSetResource(row, spec);
  const changed = (row: { namespace: string; name: string }) => onWorkSetChanged?.(row.namespace, row.name);
  const notFound = (what: string) => () =>
    apiError('WORKSET_NOT_FOUND', `manifestworkreplicaset ${JSON.stringify(what.slice(0, 200))} not found`);
  /** The row a path names: with a namespace, that one; without, the only one of that name. */
  const find = (params: { namespace?: string; name: string }) => {
    const { namespace, name } = params;
    if (namespace !== undefined) {
      const row = store.worksets.get(namespace, name);
      if (!row) throw notFound(`${namespace}/${name}`)();
      return row;
    }
    return onlyNamed(
      store.worksets.named(name),
      `manifestworkreplicaset ${name}`,
      `/api/v1/namespaces/NAMESPACE/manifestworkreplicasets/${name}`,
      notFound(name),
    );
  };
  const get = (namespace: string, name: string) => find({ namespace, name });
  /** A workset being deleted in the foreground is not changed any more (as in Kubernetes). */
  const notDeleting = (row: ObjectRow) => {
    if (row.deletionAt) {
      throw apiError(
        'WORKSET_DELETING',
        `manifestworkreplicaset ${row.namespace}/${row.name} is being deleted (since ${row.deletionAt}); wait until it is gone`,
      );
    }
  };
  /**
   * The body, parsed and validated on the body thread (WORKSET_INVALID), and its spec's texts
   * stored ahead in small transactions: the one that links them stays small.
   */
  const read = async (body: unknown, pathName?: string) => {
    const w = await bodies.workset(RawBody.of(body), pathName, maxWorkBytes);
    await saveTexts(store, w.specParts);
    return w;
  };
  // The template carries whole manifests: allow what a ManifestWork may be.
  const options = { bodyLimit: maxWorkBytes, config: { bodyThread: true } };

  /**
   * Pause and resume: spec.paused (absent means not paused), a spec change like any other.
   * The new spec is made on the body thread (the template may be megabytes); written if the
   * spec did not change meanwhile, else made again.
   */
  const setPaused = async (params: { namespace?: string; name: string }, paused: boolean): Promise<ObjectRow> => {
    for (let attempt = 1; ; attempt++) {
      const row = find(params);
      const { namespace, name } = row;
      notDeleting(row);
      const next = await bodies.pause(store.worksets.specBytes(namespace, name) ?? [], paused);
      await saveTexts(store, next.specParts);
      const out = store.transaction(() => {
        const now = get(namespace, name);
        notDeleting(now);
        // Made from this spec: written unless the spec changed meanwhile (status writes,
        // which come with every report during a rollout, do not count).
        if (now.uid !== row.uid || now.generation !== row.generation) return undefined;
        const { labels, annotations } = now;
        const { spec: specHead, ...text } = next;
        const write = { name, namespace, labels, annotations, specHead, ...text };
        return store.worksets.replace(write, new Date().toISOString())?.row;
      });
      if (out) return out;
      if (attempt === 3) {
        throw apiError('CONFLICT', `manifestworkreplicaset ${namespace}/${name} kept changing; try again`);
      }
    }
  };
  const pathNamespace = (req: { params: unknown }) => (req.params as { namespace?: string }).namespace;

  for (const base of workSetPaths) {
    app.post(base, options, async (req, reply) => {
      const w = await read(req.body);
      const namespace = writeNamespace(w.metadata.namespace, pathNamespace(req));
      const row = store.transaction(() => store.worksets.create(toWrite(w, namespace), new Date().toISOString()));
      if (!row) {
        throw apiError('WORKSET_EXISTS', `manifestworkreplicaset ${namespace}/${w.metadata.name} already exists`);
      }
      changed(row);
      return json(reply.code(201), resource(row));
    });

    app.put(`${base}/:name`, options, async (req, reply) => {
      const { name } = req.params as { name: string };
      const w = await read(req.body, name);
      const namespace = writeNamespace(w.metadata.namespace, pathNamespace(req));
      const what = `manifestworkreplicaset ${namespace}/${name}`;
      const out = store.transaction(() => {
        const at = new Date().toISOString();
        const existing = store.worksets.get(namespace, name);
        if (!existing) {
          if (w.metadata.resourceVersion !== undefined) {
            throw apiError('WORKSET_NOT_FOUND', `${what} does not exist (a resourceVersion was given)`);
          }
          return { row: store.worksets.create(toWrite(w, namespace), at) as ObjectRow, created: true, changed: true };
        }
        checkPreconditions(w.preconditions, existing, what);
        notDeleting(existing);
        const r = store.worksets.replace(toWrite(w, namespace), at) as NonNullable<
          ReturnType<Store['worksets']['replace']>
        >;
        return { row: r.row, created: false, changed: r.changed };
      });
      if (out.changed) changed(out.row);
      void reply.header('x-outpost-changed', String(out.changed));
      return json(reply.code(out.created ? 201 : 200), resource(out.row));
    });

    app.get(`${base}/:name`, async (req, reply) => json(reply, resource(find(req.params as { name: string }))));

    app.get(base, async (req, reply) => {
      const q = listQuery(req.query);
      const namespace = pathNamespace(req);
      const { items, next } = pageByName((after, limit) => store.worksets.page(after, limit, namespace), q, namespace);
      return json(
        reply,
        listOf(
          'ManifestWorkReplicaSetList',
          items.map((row) => resource(row)),
          next,
        ),
      );
    });

    app.delete(`${base}/:name`, async (req, reply) => {
      const { answer, row } = store.transaction(() => {
        const row = find(req.params as { name: string });
        const { namespace, name } = row;
        // The answer shows the workset as it was: the texts of a deleted spec stay a while
        // (work/texts.ts), so the answer reads them as it is written, as any other.
        const spec = specJson(store, namespace, name);
        const policy = store.worksets.specHead(namespace, name)?.head.cascadeDeletionPolicy;
        if (policy !== 'Foreground') {
          store.worksets.delete(namespace, name);
          return { answer: resource(row, spec), row };
        }
        // Foreground: the controller deletes the row once the works it owns are gone.
        const marked = store.worksets.markDeleting(namespace, name, new Date().toISOString()) ?? row;
        return { answer: resource(marked, spec), row };
      });
      changed(row);
      return json(reply, answer);
    });

    app.post(`${base}/:name/pause`, async (req, reply) => {
      const row = await setPaused(req.params as { name: string }, true);
      changed(row);
      return json(reply, resource(row));
    });
    app.post(`${base}/:name/resume`, async (req, reply) => {
      const row = await setPaused(req.params as { name: string }, false);
      changed(row);
      return json(reply, resource(row));
    });
  }
};
