// /api/v1/namespaces/{namespace}/manifestworkreplicasets (alias .../worksets):
// ManifestWorkReplicaSet create, replace, patch, get, list, delete, pause and resume. Keyed by
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
import { gitRepoLabel } from '../gitrepos/controller.ts';
import { type BodyThread, RawBody, type WorkSetBody } from '../parse/index.ts';
import { type ManifestWorkReplicaSet, type ManifestWorkReplicaSetStatus, workSetApiVersion } from '../rollout/index.ts';
import type { ObjectWrite, Store, WorkSetRow } from '../store/index.ts';
import { type JsonPart, RawJson, TextRef } from '../work/raw-json.ts';
import { saveTexts } from '../work/texts.ts';
import { checkPreconditions, objectMetadata, onlyNamed, pageByName, sendStored, writeNamespace } from './common.ts';
import { patchBytes, patchTypeOf, sameWrite } from './patch.ts';
import { listRoute, type Watches } from './watch/index.ts';

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

/**
 * A workset's stored spec as parts of an answer: its texts, read as the answer is written
 * (never the whole spec at once). Read in the transaction that read the row, so that the
 * two are of one moment.
 */
export async function specJson(store: Pick<Store, 'worksets'>, namespace: string, name: string): Promise<JsonPart[]> {
  const p = await store.worksets.specParts(namespace, name);
  if (!p) return ['{}'];
  return 'whole' in p ? inParts(p.whole) : p.hashes.map((h) => new TextRef(h));
}

/**
 * The ManifestWorkReplicaSet as the API shows it (status only once the controller wrote
 * one), its spec the stored text as it is (`spec`: specJson).
 */
export function workSetResource(row: WorkSetRow, spec: JsonPart[]): ManifestWorkReplicaSet {
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

/**
 * A GitRepo's workset (label outpost.dev/gitrepo) is written by its GitRepo only: a hand edit
 * would stand until the next commit of its path and go around the GitRepo's deletion
 * breaker, a hand pause would be undone by the GitRepo, and a deleted one would not come
 * back until then. Refused, saying where to change it.
 */
function notGitOwned(row: WorkSetRow): void {
  const owner = row.labels[gitRepoLabel];
  if (owner !== undefined) {
    throw apiError(
      'WORKSET_OWNED_BY_GITREPO',
      `manifestworkreplicaset ${row.namespace}/${row.name} is made by gitrepo ${row.namespace}/${owner}: change the repository or the GitRepo (gitrepo patch, pause, resume, confirm-deletions), not the workset`,
    );
  }
}

/** The store write of a workset body: never one that takes a GitRepo's label (the hub's). */
const toWrite = (w: WorkSetBody, namespace: string): ObjectWrite => {
  if (w.metadata.labels?.[gitRepoLabel] !== undefined) {
    throw apiError(
      'WORKSET_INVALID',
      `metadata.labels: ${gitRepoLabel} is the hub's, set on the worksets a GitRepo makes`,
      [{ field: `metadata.labels.${gitRepoLabel}`, message: 'is set by the hub for GitRepos only' }],
    );
  }
  return {
    name: w.metadata.name,
    namespace,
    labels: w.metadata.labels ?? {},
    annotations: w.metadata.annotations ?? {},
    specParts: w.specParts,
    specHash: w.specHash,
    specBytes: w.specBytes,
    renderHash: w.renderHash,
    specHead: w.spec as Record<string, unknown>,
  };
};

export interface WorkSetRoutesOptions {
  store: Store;
  maxWorkBytes: number;
  bodies: BodyThread;
  /** Told after every create, replace, pause, resume and delete (the workset controller). */
  onWorkSetChanged?: ((namespace: string, name: string) => void) | undefined;
  watches: Watches;
}

export const workSetRoutes: FastifyPluginAsync<WorkSetRoutesOptions> = async (
  app,
  { store, maxWorkBytes, bodies, onWorkSetChanged, watches },
) => {
  const json = (reply: FastifyReply, value: unknown) => sendStored(reply, store, value);
  /** The answer for `row`: call it in the transaction that read the row. */
  const resource = async (row: WorkSetRow) => workSetResource(row, await specJson(store, row.namespace, row.name));
  const changed = (row: { namespace: string; name: string }) => onWorkSetChanged?.(row.namespace, row.name);
  const notFound = (what: string) => () =>
    apiError('WORKSET_NOT_FOUND', `manifestworkreplicaset ${JSON.stringify(what.slice(0, 200))} not found`);
  /** The row a path names: with a namespace, that one; without, the only one of that name. */
  const find = async (params: { namespace?: string; name: string }) => {
    const { namespace, name } = params;
    if (namespace !== undefined) {
      const row = await store.worksets.get(namespace, name);
      if (!row) throw notFound(`${namespace}/${name}`)();
      return row;
    }
    return onlyNamed(
      await store.worksets.named(name),
      `manifestworkreplicaset ${name}`,
      `/api/v1/namespaces/NAMESPACE/manifestworkreplicasets/${name}`,
      notFound(name),
    );
  };
  const get = (namespace: string, name: string) => find({ namespace, name });
  /** A workset being deleted in the foreground is not changed any more (as in Kubernetes). */
  const notDeleting = (row: WorkSetRow) => {
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
   * The new spec is made on the body thread (the template may be megabytes), outside any
   * transaction; written if the spec did not change meanwhile, else made again. Returns the
   * row written and the answer for it.
   */
  const setPaused = async (
    params: { namespace?: string; name: string },
    paused: boolean,
  ): Promise<{ row: WorkSetRow; answer: ManifestWorkReplicaSet }> => {
    for (let attempt = 1; ; attempt++) {
      // The row and the spec it is made from, of one moment.
      const { row, bytes } = await store.transaction(async () => {
        const row = await find(params);
        notDeleting(row);
        notGitOwned(row);
        return { row, bytes: (await store.worksets.specBytes(row.namespace, row.name)) ?? [] };
      });
      const { namespace, name } = row;
      const next = await bodies.pause(bytes, paused);
      await saveTexts(store, next.specParts);
      const out = await store.transaction(async () => {
        const now = await get(namespace, name);
        notDeleting(now);
        // Made from this spec: written unless the spec changed meanwhile (status writes,
        // which come with every report during a rollout, do not count).
        if (now.uid !== row.uid || now.generation !== row.generation) return undefined;
        const { labels, annotations } = now;
        const { spec: specHead, ...text } = next;
        const write = { name, namespace, labels, annotations, specHead, ...text };
        const written = (await store.worksets.replace(write, new Date().toISOString()))?.row;
        return written && { row: written, answer: await resource(written) };
      });
      if (out) return out;
      if (attempt === 3) {
        throw apiError('CONFLICT', `manifestworkreplicaset ${namespace}/${name} kept changing; try again`);
      }
    }
  };
  const pathNamespace = (req: { params: unknown }) => (req.params as { namespace?: string }).namespace;

  /** Replaces `existing` with `w` (in the caller's transaction), as PUT and PATCH do. */
  const replace = async (existing: WorkSetRow, w: WorkSetBody, at: string) => {
    checkPreconditions(w.preconditions, existing, `manifestworkreplicaset ${existing.namespace}/${existing.name}`);
    notDeleting(existing);
    notGitOwned(existing);
    const r = (await store.worksets.replace(toWrite(w, existing.namespace), at)) as NonNullable<
      Awaited<ReturnType<Store['worksets']['replace']>>
    >;
    return { row: r.row, answer: await resource(r.row), changed: r.changed };
  };

  /**
   * PATCH: applied to the stored workset on the body thread (its template may be megabytes),
   * then written as PUT writes, unless the workset changed meanwhile (then made again from the
   * new one; after three tries 409), as pause does.
   */
  const patch = async (params: { namespace?: string; name: string }, body: unknown, contentType?: string) => {
    const type = patchTypeOf(contentType);
    for (let attempt = 1; ; attempt++) {
      const { row, spec } = await store.transaction(async () => {
        const row = await find(params);
        notDeleting(row);
        notGitOwned(row);
        return { row, spec: (await store.worksets.specBytes(row.namespace, row.name)) ?? [] };
      });
      const { metadata } = workSetResource(row, []);
      const current = await patchBytes(
        {
          apiVersion: workSetApiVersion,
          kind: 'ManifestWorkReplicaSet',
          metadata,
          spec: new RawJson(spec.length ? spec : ['{}']),
        },
        () => undefined,
      );
      const w = await bodies.patchWorkSet(RawBody.of(body), type, current, row.name, maxWorkBytes);
      await saveTexts(store, w.specParts);
      const out = await store.transaction(async () => {
        const now = await get(row.namespace, row.name);
        if (!sameWrite(now, row)) return undefined;
        return replace(now, w, new Date().toISOString());
      });
      if (out) return out;
      if (attempt === 3) {
        throw apiError('CONFLICT', `manifestworkreplicaset ${row.namespace}/${row.name} kept changing; try again`);
      }
    }
  };

  for (const base of workSetPaths) {
    app.post(base, options, async (req, reply) => {
      const w = await read(req.body);
      const namespace = writeNamespace(w.metadata.namespace, pathNamespace(req));
      const out = await store.transaction(async () => {
        const row = await store.worksets.create(toWrite(w, namespace), new Date().toISOString());
        return row && { row, answer: await resource(row) };
      });
      if (!out) {
        throw apiError('WORKSET_EXISTS', `manifestworkreplicaset ${namespace}/${w.metadata.name} already exists`);
      }
      changed(out.row);
      return json(reply.code(201), out.answer);
    });

    app.put(`${base}/:name`, options, async (req, reply) => {
      const { name } = req.params as { name: string };
      const w = await read(req.body, name);
      const namespace = writeNamespace(w.metadata.namespace, pathNamespace(req));
      const what = `manifestworkreplicaset ${namespace}/${name}`;
      const out = await store.transaction(async () => {
        const at = new Date().toISOString();
        const existing = await store.worksets.get(namespace, name);
        if (!existing) {
          if (w.metadata.resourceVersion !== undefined) {
            throw apiError('WORKSET_NOT_FOUND', `${what} does not exist (a resourceVersion was given)`);
          }
          const row = (await store.worksets.create(toWrite(w, namespace), at)) as WorkSetRow;
          return { row, answer: await resource(row), created: true, changed: true };
        }
        return { ...(await replace(existing, w, at)), created: false };
      });
      if (out.changed) changed(out.row);
      void reply.header('x-outpost-changed', String(out.changed));
      return json(reply.code(out.created ? 201 : 200), out.answer);
    });

    app.patch(`${base}/:name`, options, async (req, reply) => {
      const out = await patch(req.params as { name: string }, req.body, req.headers['content-type']);
      if (out.changed) changed(out.row);
      void reply.header('x-outpost-changed', String(out.changed));
      return json(reply, out.answer);
    });

    app.get(`${base}/:name`, async (req, reply) =>
      json(reply, await store.transaction(async () => resource(await find(req.params as { name: string })))),
    );

    listRoute(app, store, watches, base, {
      resource: 'manifestworkreplicasets',
      kind: 'ManifestWorkReplicaSetList',
      scope: pathNamespace,
      // Rows and specs of one moment: a workset replaced or deleted while the list is read
      // would otherwise be shown with another spec, or none. Each spec is its parts'
      // hashes, its texts read as the answer is written.
      list: (namespace, q) =>
        store.transaction(async () => {
          const { items, next } = await pageByName(
            (after, limit) => store.worksets.page(after, limit, namespace),
            q,
            namespace,
          );
          const shown: ManifestWorkReplicaSet[] = [];
          for (const row of items) shown.push(await resource(row));
          return { items: shown, next };
        }),
      get: (namespace, name) =>
        store.transaction(async () => {
          const row = await store.worksets.get(namespace, name);
          return row && { uid: row.uid, object: await resource(row) };
        }),
    });

    app.delete(`${base}/:name`, async (req, reply) => {
      const { answer, row } = await store.transaction(async () => {
        const row = await find(req.params as { name: string });
        notGitOwned(row);
        const { namespace, name } = row;
        // The answer shows the workset as it was: the texts of a deleted spec stay a while
        // (work/texts.ts), so the answer reads them as it is written, as any other.
        const spec = await specJson(store, namespace, name);
        const policy = (await store.worksets.specHead(namespace, name))?.head.cascadeDeletionPolicy;
        if (policy !== 'Foreground') {
          await store.worksets.delete(namespace, name);
          return { answer: workSetResource(row, spec), row };
        }
        // Foreground: the controller deletes the row once the works it owns are gone.
        const marked = (await store.worksets.markDeleting(namespace, name, new Date().toISOString())) ?? row;
        return { answer: workSetResource(marked, spec), row };
      });
      changed(row);
      return json(reply, answer);
    });

    app.post(`${base}/:name/pause`, async (req, reply) => {
      const { row, answer } = await setPaused(req.params as { name: string }, true);
      changed(row);
      return json(reply, answer);
    });
    app.post(`${base}/:name/resume`, async (req, reply) => {
      const { row, answer } = await setPaused(req.params as { name: string }, false);
      changed(row);
      return json(reply, answer);
    });
  }
};
