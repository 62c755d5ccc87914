// /api/v1/clusters/{cluster}/works: ManifestWork create, replace, patch, get, list, delete,
// and a fleet-wide list at /api/v1/works.

import { apiError, matchesSelector, workApiVersion } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { type BodyThread, RawBody } from '../parse/index.ts';
import type { PreparedWork, Store, WorkRow } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import { workResource } from '../work/resource.ts';
import { saveTexts, storedReader } from '../work/texts.ts';
import { checkPreconditions, checkResourceVersion, sendStored } from './common.ts';
import { patchBytes, patchTypeOf, sameWrite } from './patch.ts';
import { listRoute, type Watches } from './watch/index.ts';

export const workRoutes: FastifyPluginAsync<{
  store: Store;
  maxWorkBytes: number;
  sync: SyncService;
  bodies: BodyThread;
  watches: Watches;
}> = async (app, { store, maxWorkBytes, sync, bodies, watches }) => {
  const cluster = async (name: string) => {
    const c = await store.clusters.get(name);
    if (!c) throw apiError('CLUSTER_NOT_FOUND', `cluster ${JSON.stringify(name.slice(0, 100))} not found`);
    return c;
  };
  const get = async (c: string, n: string) => {
    const w = await store.works.get(c, n);
    if (!w)
      throw apiError(
        'WORK_NOT_FOUND',
        `work ${JSON.stringify(n.slice(0, 100))} not found in cluster ${c.slice(0, 63)}`,
      );
    return w;
  };
  // Answers carry the stored texts of manifests and status as they are.
  const json = (reply: FastifyReply, value: unknown) => sendStored(reply, store, value);
  /** The whole work; called in the transaction that read `w`, so that its row, status and
   *  manifests are of one moment. */
  const full = async (w: WorkRow) =>
    workResource(
      w,
      await store.works.statusOf(w.uid),
      (await store.works.manifests(w.uid)).map((m) => m.hash),
    );

  /** What refuses a write whatever its content; checked again inside the transaction. */
  const refusal = async (c: string, name: string, resourceVersion: string | undefined, mustCreate: boolean) => {
    if ((await cluster(c)).removalRequestedAt) throw apiError('CONFLICT', `cluster ${c} is being removed`);
    const existing = await store.works.get(c, name);
    if (existing && mustCreate) throw apiError('WORK_EXISTS', `work ${name} already exists in cluster ${c}`);
    if (existing?.deletionAt) throw apiError('CONFLICT', `work ${name} is being deleted; wait until it is gone`);
    if (existing) checkResourceVersion(resourceVersion, existing.resourceVersion, `work ${name}`);
    else if (resourceVersion !== undefined && !mustCreate) {
      throw apiError('WORK_NOT_FOUND', `work ${name} does not exist (a resourceVersion was given)`);
    }
  };

  /**
   * Writes a prepared work: a write that would be refused stores no texts. Then the texts,
   * in small transactions: the one below links them and stays small. `still` (PATCH) says
   * inside that transaction whether the work is still the one the input was made from.
   */
  const save = async (
    input: PreparedWork,
    resourceVersion: string | undefined,
    mustCreate: boolean,
    still?: () => Promise<boolean>,
  ) => {
    await refusal(input.cluster, input.name, resourceVersion, mustCreate);
    await saveTexts(store, input.manifests);
    return store.transaction(async () => {
      await refusal(input.cluster, input.name, resourceVersion, mustCreate);
      if (still && !(await still())) return undefined;
      const out = await store.works.write(input, new Date().toISOString());
      return { ...out, resource: await full(out.work) };
    });
  };

  // The body is parsed, validated and made into the store's texts on the body thread.
  const write = async (body: unknown, c: string, pathName: string | undefined, mustCreate: boolean) => {
    const { work: input, resourceVersion } = await bodies.work(RawBody.of(body), c, pathName, maxWorkBytes);
    return (await save(input, resourceVersion, mustCreate)) as NonNullable<Awaited<ReturnType<typeof save>>>;
  };

  /**
   * PATCH: the patch is applied to the stored work on the body thread (a work may be 16 MiB;
   * a patch of one manifest is small), then written as a PUT of the result would be, if the
   * work did not change meanwhile (else made again from the new one; after three tries 409).
   */
  const patch = async (body: unknown, contentType: string | undefined, c: string, name: string) => {
    const type = patchTypeOf(contentType);
    for (let attempt = 1; ; attempt++) {
      const read = await store.transaction(async () => {
        const w = await get(c, name);
        return { w, hashes: (await store.works.manifests(w.uid)).map((m) => m.hash) };
      });
      const { w } = read;
      if (w.deletionAt) throw apiError('CONFLICT', `work ${name} is being deleted; wait until it is gone`);
      const shown = workResource(w, null, read.hashes);
      const current = await patchBytes(
        {
          apiVersion: workApiVersion,
          kind: 'ManifestWork',
          metadata: { ...shown.metadata, annotations: w.annotations },
          spec: shown.spec,
        },
        storedReader(store),
      );
      const { work: input, preconditions } = await bodies.patchWork(
        RawBody.of(body),
        type,
        current,
        c,
        name,
        maxWorkBytes,
      );
      const out = await save(input, undefined, false, async () => {
        const now = await get(c, name);
        checkPreconditions(preconditions, now, `work ${name}`);
        // Made from `w`: written unless its spec, labels or annotations changed meanwhile
        // (status reports, which also bump the resourceVersion, do not count).
        return sameWrite(now, w);
      });
      if (out) return out;
      if (attempt === 3) throw apiError('CONFLICT', `work ${name} kept changing while it was patched; try again`);
    }
  };

  const options = { bodyLimit: maxWorkBytes, config: { bodyThread: true } };
  app.post('/api/v1/clusters/:cluster/works', options, async (req, reply) => {
    const { cluster: c } = req.params as { cluster: string };
    const out = await write(req.body, c, undefined, true);
    sync.changed(c);
    return json(reply.code(201), out.resource);
  });
  app.put('/api/v1/clusters/:cluster/works/:name', options, async (req, reply) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    const out = await write(req.body, c, name, false);
    if (out.changed) sync.changed(c);
    // Lets `work apply` say created / configured / unchanged, as kubectl does.
    void reply.header('x-outpost-work-changed', String(out.changed));
    return json(reply.code(out.created ? 201 : 200), out.resource);
  });
  app.patch('/api/v1/clusters/:cluster/works/:name', options, async (req, reply) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    const out = await patch(req.body, req.headers['content-type'], c, name);
    if (out.changed) sync.changed(c);
    void reply.header('x-outpost-work-changed', String(out.changed));
    return json(reply, out.resource);
  });
  app.get('/api/v1/clusters/:cluster/works/:name', async (req, reply) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    return json(reply, await store.transaction(async () => full(await get(c, name))));
  });
  app.delete('/api/v1/clusters/:cluster/works/:name', async (req, reply) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    const resource = await store.transaction(async () => {
      const w = await get(c, name);
      await store.works.markDeleted(w.uid, c, new Date().toISOString());
      const marked = await get(c, name);
      return workResource(marked, await store.works.statusOf(marked.uid));
    });
    sync.changed(c);
    return json(reply, resource);
  });

  // Listed (and watched) without their manifests, as the list has always shown them.
  const listing = (path: string, scope: (req: FastifyRequest) => Promise<string | undefined> | undefined) =>
    listRoute(app, store, watches, path, {
      resource: 'works',
      kind: 'ManifestWorkList',
      scope,
      list: async (c, q) => {
        const [afterCluster = '', afterName = ''] = c === undefined ? q.continue.split('/') : [c, q.continue];
        const items: WorkRow[] = [];
        let after = { cluster: afterCluster, name: afterName };
        let next: string | undefined;
        fill: for (;;) {
          const page = await store.works.page(c, after, q.limit);
          for (const w of page.items) {
            after = { cluster: w.cluster, name: w.name };
            if (!matchesSelector(q.selector, w.labels)) continue;
            items.push(w);
            if (items.length === q.limit) {
              next = c === undefined ? `${w.cluster}/${w.name}` : w.name;
              break fill;
            }
          }
          if (!page.continue) break;
        }
        const shown = [];
        for (const w of items) shown.push(workResource(w, await store.works.statusOf(w.uid)));
        return { items: shown, next };
      },
      get: async (c, name) => {
        const w = await store.works.get(c, name);
        return w && { uid: w.uid, object: workResource(w, await store.works.statusOf(w.uid)) };
      },
    });
  listing('/api/v1/clusters/:cluster/works', async (req) => {
    const { cluster: c } = req.params as { cluster: string };
    await cluster(c);
    return c;
  });
  listing('/api/v1/works', () => undefined);
};
