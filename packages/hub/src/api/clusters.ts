// /api/v1/clusters: ManagedCluster list/get/patch/delete and the approve, deny and
// recover actions.
//
// Every answer carries status.works, the cluster's works counted by their conditions (total,
// applied, available, degraded, deletionsHeld; fleet/compliance.ts addWork's rules), so the
// dashboard's clusters table needs no read of works per row. It is computed when the answer
// is made, for a list page's clusters in one grouped statement (store works.counts), and is
// never stored: like the rest of status, a PATCH that sets it is refused (only
// metadata.labels can be patched). A cluster's watch event carries the counts as they are when the event is made; a
// change of one of its works is an event of the works' watch, not of the cluster's (the
// clusters table watches both).

import { apiError, labelErrors, limits, matchesSelector } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import { apiVersion } from '../registration/bootstrap-tokens.ts';
import { clusterResource, type ManagedCluster } from '../registration/clusters.ts';
import type { TrustService } from '../registration/service.ts';
import type { ClusterRow, Store } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import { checkPreconditions } from './common.ts';
import { patchTypeOf } from './patch.ts';
import { listRoute, type Watches } from './watch/index.ts';

interface Opts {
  store: Store;
  trust: TrustService;
  sync: SyncService;
  watches: Watches;
}

/** The cluster's apiVersion as the hub shows it, and OCM's. */
const clusterApiVersions = [apiVersion, 'cluster.open-cluster-management.io/v1'];

const refuse = (field: string, why: string) => apiError('VALIDATION_FAILED', `${field} ${why}`, { field });

/**
 * A cluster's merge patch may change metadata.labels (and state metadata.resourceVersion as
 * a precondition); it may repeat what cannot change (apiVersion, kind, metadata.name). Any
 * other field is refused by name, never ignored: status is the hub's and the agent's.
 */
function refuseUnpatchable(body: Record<string, unknown>, name: string): void {
  for (const [k, v] of Object.entries(body)) {
    if (k === 'status') throw refuse('status', "is the hub's: a patch cannot set it");
    if (k === 'apiVersion' && !clusterApiVersions.includes(v as string)) {
      throw refuse(k, `must be ${clusterApiVersions.join(' or ')} (or left out)`);
    }
    if (k === 'kind' && v !== 'ManagedCluster') throw refuse(k, 'must be ManagedCluster (or left out)');
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k))
      throw refuse(k.slice(0, 64), 'is not a field of a cluster');
  }
  const meta = body.metadata;
  if (meta === undefined) return;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw refuse('metadata', 'must be an object');
  for (const [k, v] of Object.entries(meta)) {
    // resourceVersion and uid are preconditions; creationTimestamp, the hub's, may be repeated
    // as it is (checked against the cluster where it is read).
    if (k === 'labels' || k === 'resourceVersion' || k === 'creationTimestamp') continue;
    if (k === 'uid' && v !== null) continue;
    if (k === 'name' && v === name) continue;
    throw refuse(
      `metadata.${k.slice(0, 64)}`,
      k === 'name'
        ? 'differs from the path: it cannot be patched'
        : k === 'uid'
          ? "is the hub's: a patch cannot remove it"
          : 'cannot be patched on a cluster (only metadata.labels)',
    );
  }
}

export const clusterRoutes: FastifyPluginAsync<Opts> = async (app, { store, trust, sync, watches }) => {
  /** The clusters as the API shows them, their works counted in one statement. */
  const views = async (rows: ClusterRow[]) => {
    const counts = await store.works.counts(rows.map((c) => c.name));
    return Promise.all(
      rows.map(async (c) => {
        const v = clusterResource(c, await store.certificates.latestFor(c.name), Date.now(), sync.liveness);
        const works = counts.get(c.name);
        if (works) v.status.works = works;
        return v;
      }),
    );
  };
  const view = async (c: ClusterRow) => (await views([c]))[0] as ManagedCluster;
  const get = async (name: string) => {
    const c = await store.clusters.get(name);
    if (!c) throw apiError('CLUSTER_NOT_FOUND', `cluster ${JSON.stringify(name.slice(0, 100))} not found`);
    return c;
  };

  listRoute(app, store, watches, '/api/v1/clusters', {
    resource: 'clusters',
    kind: 'ManagedClusterList',
    scope: () => undefined,
    list: async (_scope, q) => {
      const items: ClusterRow[] = [];
      let after = q.continue;
      let next: string | undefined;
      // Filter while paging, so a selective selector still fills a page.
      fill: for (;;) {
        const page = await store.clusters.page(after, q.limit);
        for (const c of page.items) {
          after = c.name;
          if (!matchesSelector(q.selector, c.labels)) continue;
          items.push(c);
          if (items.length === q.limit) {
            next = c.name;
            break fill;
          }
        }
        if (!page.continue) break;
      }
      return { items: await views(items), next };
    },
    get: async (_scope, name) => {
      const c = await store.clusters.get(name);
      return c && { uid: c.uid, object: await view(c) };
    },
  });

  app.get('/api/v1/clusters/:name', async (req) => view(await get((req.params as { name: string }).name)));

  app.patch('/api/v1/clusters/:name', async (req) => {
    const name = (req.params as { name: string }).name;
    if (patchTypeOf(req.headers['content-type']) === 'json') {
      throw apiError(
        'UNSUPPORTED_MEDIA_TYPE',
        'a cluster PATCH is a merge patch (application/merge-patch+json, application/json or YAML) of metadata.labels',
      );
    }
    const body = (req.body ?? {}) as {
      metadata?: {
        labels?: Record<string, string | null>;
        resourceVersion?: string;
        uid?: string;
        creationTimestamp?: unknown;
      };
      spec?: Record<string, unknown>;
    };
    if (typeof body !== 'object' || Array.isArray(body))
      throw apiError('BODY_MALFORMED', 'body must be a JSON merge patch object');
    refuseUnpatchable(body, name);
    const spec = body.spec as unknown;
    if (spec !== undefined && (spec === null || typeof spec !== 'object' || Array.isArray(spec))) {
      throw refuse('spec', 'must be an object');
    }
    const other = Object.keys(body.spec ?? {}).find((k) => k !== 'hubAcceptsClient');
    if (other !== undefined) {
      throw refuse(`spec.${other.slice(0, 64)}`, 'cannot be patched on a cluster (only metadata.labels)');
    }
    if (body.spec?.hubAcceptsClient !== undefined) {
      throw apiError(
        'VALIDATION_FAILED',
        'use `cluster approve` or `cluster deny` (POST …/approve, …/deny) to change acceptance',
      );
    }
    const edits = body.metadata?.labels;
    if (edits !== undefined && (edits === null || typeof edits !== 'object' || Array.isArray(edits))) {
      throw apiError('VALIDATION_FAILED', 'metadata.labels must be an object of label: value (or null to remove)');
    }
    // Read, check and write in one transaction: an edit committed in between would otherwise
    // be overwritten without a conflict. The answer is read in it too, so that the commit is
    // the last word with the database: a write answered 503 never took effect (the answer's
    // reads after the commit could fail while the write had committed).
    return store.transaction(async () => {
      const c = await get(name);
      checkPreconditions(body.metadata, c, `cluster ${name}`);
      const created = body.metadata?.creationTimestamp;
      if (created !== undefined && created !== c.createdAt) {
        throw refuse('metadata.creationTimestamp', "is the hub's: a patch cannot change it");
      }
      const labels = { ...c.labels };
      for (const [k, v] of Object.entries(body.metadata?.labels ?? {})) {
        if (v === null) delete labels[k];
        else labels[k] = v;
      }
      const problems = labelErrors(labels, limits.labelsPerObject);
      if (problems.length) throw apiError('VALIDATION_FAILED', problems.join('; '), { problems });
      return view(await store.clusters.update({ ...c, labels }));
    });
  });

  app.post('/api/v1/clusters/:name/approve', async (req) =>
    view(await trust.approve((req.params as { name: string }).name)),
  );
  // After the hub's database was replaced or restored, the cluster's agent remembers another
  // database identity (epoch) and takes nothing from this hub. Adopting lets it take this
  // hub's desired state; works the agent holds that this hub does not know are left alone.
  app.post('/api/v1/clusters/:name/adopt', async (req) => {
    const name = (req.params as { name: string }).name;
    const updated = await store.transaction(async () =>
      store.clusters.update({ ...(await get(name)), adoptEpoch: true }),
    );
    sync.changed(name);
    return view(updated);
  });
  // The agent's mass-delete breaker held deletions; an admin looked and confirms them.
  app.post('/api/v1/clusters/:name/confirm-deletions', async (req) => {
    const name = (req.params as { name: string }).name;
    const updated = await store.transaction(async () =>
      store.clusters.update({ ...(await get(name)), releaseHeldDeletions: true }),
    );
    sync.changed(name);
    return view(updated);
  });
  app.post('/api/v1/clusters/:name/deny', async (req) => {
    const { name } = req.params as { name: string };
    const denied = await trust.deny(name);
    // Wakes the cluster's waiting polls, which then answer AGENT_NOT_ACCEPTED at once.
    sync.changed(name);
    return view(denied);
  });
  app.post('/api/v1/clusters/:name/recover', async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const ttl = (req.body as { ttl?: string } | undefined)?.ttl;
    const out = await trust.recover(name, req.principal?.actor ?? 'unknown', ttl);
    return reply.code(201).send({ cluster: name, ...out, caCertHashes: trust.pinHashes() });
  });
  app.delete('/api/v1/clusters/:name', async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const force = (req.query as { force?: string }).force === 'true';
    const removal = await trust.remove(name, { force });
    sync.changed(name);
    if (removal.outcome === 'Removing') return reply.code(202).send(await view(removal.cluster));
    return { kind: 'Status', status: 'Removed', cluster: name };
  });
};
