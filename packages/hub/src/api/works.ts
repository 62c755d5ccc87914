// /api/v1/clusters/{cluster}/works: ManifestWork create, replace, get, list, delete, and a
// fleet-wide list at /api/v1/works.

import { apiError, matchesSelector } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import type { Store, WorkRow } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import { workResource } from '../work/resource.ts';
import { parseWork } from '../work/validate.ts';
import { checkResourceVersion, listOf, listQuery } from './common.ts';

export const workRoutes: FastifyPluginAsync<{ store: Store; maxWorkBytes: number; sync: SyncService }> = async (
  app,
  { store, maxWorkBytes, sync },
) => {
  const cluster = (name: string) => {
    const c = store.clusters.get(name);
    if (!c) throw apiError('CLUSTER_NOT_FOUND', `cluster ${JSON.stringify(name.slice(0, 100))} not found`);
    return c;
  };
  const get = (c: string, n: string) => {
    const w = store.works.get(c, n);
    if (!w)
      throw apiError(
        'WORK_NOT_FOUND',
        `work ${JSON.stringify(n.slice(0, 100))} not found in cluster ${c.slice(0, 63)}`,
      );
    return w;
  };
  const full = (w: WorkRow) => workResource(w, store.works.manifests(w.uid));

  const write = (body: unknown, c: string, pathName: string | undefined, mustCreate: boolean) => {
    const input = parseWork(body, c, pathName);
    return store.transaction(() => {
      if (cluster(c).removalRequestedAt) throw apiError('CONFLICT', `cluster ${c} is being removed`);
      const existing = store.works.get(c, input.name);
      if (existing && mustCreate) throw apiError('WORK_EXISTS', `work ${input.name} already exists in cluster ${c}`);
      if (existing?.deletionAt)
        throw apiError('CONFLICT', `work ${input.name} is being deleted; wait until it is gone`);
      if (existing) checkResourceVersion(input.resourceVersion, existing.resourceVersion, `work ${input.name}`);
      else if (input.resourceVersion !== undefined && !mustCreate) {
        throw apiError('WORK_NOT_FOUND', `work ${input.name} does not exist (a resourceVersion was given)`);
      }
      const at = new Date().toISOString();
      return store.works.write(
        {
          cluster: c,
          name: input.name,
          labels: input.labels,
          annotations: input.annotations,
          spec: input.spec,
          manifests: input.manifests,
        },
        at,
      );
    });
  };

  const bodyLimit = maxWorkBytes;
  app.post('/api/v1/clusters/:cluster/works', { bodyLimit }, async (req, reply) => {
    const { cluster: c } = req.params as { cluster: string };
    const out = write(req.body, c, undefined, true);
    sync.changed(c);
    return reply.code(201).send(full(out.work));
  });
  app.put('/api/v1/clusters/:cluster/works/:name', { bodyLimit }, async (req, reply) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    const out = write(req.body, c, name, false);
    if (out.changed) sync.changed(c);
    // Lets `work apply` say created / configured / unchanged, as kubectl does.
    void reply.header('x-outpost-work-changed', String(out.changed));
    return reply.code(out.created ? 201 : 200).send(full(out.work));
  });
  app.get('/api/v1/clusters/:cluster/works/:name', async (req) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    return full(get(c, name));
  });
  app.delete('/api/v1/clusters/:cluster/works/:name', async (req) => {
    const { cluster: c, name } = req.params as { cluster: string; name: string };
    const w = store.transaction(() => {
      const w = get(c, name);
      store.works.markDeleted(w.uid, c, new Date().toISOString());
      return get(c, name);
    });
    sync.changed(c);
    return workResource(w, undefined);
  });

  const list = (c: string | undefined, query: unknown) => {
    const q = listQuery(query);
    const [afterCluster = '', afterName = ''] = c === undefined ? q.continue.split('/') : [c, q.continue];
    const items: WorkRow[] = [];
    let after = { cluster: afterCluster, name: afterName };
    let next: string | undefined;
    fill: for (;;) {
      const page = store.works.page(c, after, q.limit);
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
    return listOf(
      'ManifestWorkList',
      items.map((w) => workResource(w, undefined)),
      next,
    );
  };
  app.get('/api/v1/clusters/:cluster/works', async (req) => {
    const { cluster: c } = req.params as { cluster: string };
    cluster(c);
    return list(c, req.query);
  });
  app.get('/api/v1/works', async (req) => list(undefined, req.query));
};
