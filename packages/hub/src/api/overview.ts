// GET /api/v1/overview: the fleet at a glance, counted on the hub so that neither the
// dashboard nor automation has to list the whole fleet: clusters by state, works by
// condition, and the clusters that are not compliant now with their reasons
// (fleet/compliance.ts), worst first, a page at a time.
//
// One pass over the clusters and one over the works' condition summaries (the columns the
// metrics read, never whole statuses), in slices that give the event loop back. A pass is
// reused while nothing changed, and made at most once a second while the fleet changes:
// many open dashboards cost one pass, not one each. A caller that names a resourceVersion
// takes a pass of the last minute that saw that change at once (0: any), as a Kubernetes
// list from its cache: the dashboard paints with it and then reads again.

import { setTimeout as sleep, setImmediate as yieldLoop } from 'node:timers/promises';
import {
  apiError,
  matchesSelector,
  parseDuration,
  parseSelector,
  type Requirement,
  SelectorError,
} from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import {
  addWork,
  type ClusterFacts,
  noWorks,
  type Problem,
  problemsOf,
  type WorkFacts,
  worstFirst,
} from '../fleet/compliance.ts';
import { type ClusterState, clusterResource, clusterState } from '../registration/clusters.ts';
import type { ManifestWorkReplicaSetStatus } from '../rollout/index.ts';
import type { Store } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import { refuseUnknownQuery } from './common.ts';

interface Opts {
  store: Store;
  sync: SyncService;
  version: string;
}

interface NonCompliant {
  name: string;
  state: ClusterState;
  /** The problems in one line, worst first. */
  reason: string;
  problems: Problem[];
  failingWorks: number;
}

interface Pass {
  at: number;
  key: string;
  resourceVersion: string;
  clusters: { total: number; states: Record<string, number> };
  works: { total: number; conditions: Record<string, Record<string, number>> };
  worksets: { total: number; states: Record<string, number> };
  nonCompliant: NonCompliant[];
}

const slice = 500;
/** At most one pass per this long (per query) while the fleet keeps changing… */
const minPassMs = 1_000;
/** …and a pass is reused while nothing changed, up to this age (leases lapse, certificates
 *  near their end without a change of their own). */
const maxReuseMs = 5_000;
/** With resourceVersion, a pass up to this old is answered at once if it saw that change. */
const maxStaleMs = 60_000;
const defaultLimit = 50;
const maxLimit = 500;
const defaultWarning = '2d';

function readConditions(text: string | null): { type: string; status: string }[] {
  if (!text) return [];
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(v)) return [];
  return v.filter(
    (c): c is { type: string; status: string } =>
      typeof c === 'object' && c !== null && typeof c.type === 'string' && typeof c.status === 'string',
  );
}

function query(raw: unknown): {
  limit: number;
  offset: number;
  selector: Requirement[];
  warningMs: number;
  key: string;
  /** A pass that saw at least this change will do (absent: every change before the request). */
  resourceVersion: number | undefined;
} {
  const q = (raw ?? {}) as Record<string, string | undefined>;
  refuseUnknownQuery(q, ['limit', 'continue', 'labelSelector', 'certificateWarning', 'resourceVersion']);
  if (q.resourceVersion !== undefined && !/^\d{1,15}$/.test(q.resourceVersion)) {
    throw apiError('VALIDATION_FAILED', 'resourceVersion must be the resourceVersion of an answer or event, or 0');
  }
  const limit = q.limit === undefined ? defaultLimit : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw apiError('VALIDATION_FAILED', `limit must be an integer from 1 to ${maxLimit}`);
  }
  const offset = q.continue === undefined || q.continue === '' ? 0 : Number(q.continue);
  if (!/^\d{0,9}$/.test(q.continue ?? ''))
    throw apiError('VALIDATION_FAILED', 'continue must be the continue of a previous page');
  let selector: Requirement[] = [];
  try {
    selector = q.labelSelector ? parseSelector(q.labelSelector) : [];
  } catch (err) {
    if (err instanceof SelectorError) throw apiError('VALIDATION_FAILED', err.message);
    throw err;
  }
  const warning = q.certificateWarning ?? defaultWarning;
  const warningMs = parseDuration(warning);
  if (!warningMs || warningMs > 3650 * 86_400_000) {
    throw apiError('VALIDATION_FAILED', 'certificateWarning must be a positive duration such as "2d"');
  }
  return {
    limit,
    offset,
    selector,
    warningMs,
    key: `${q.labelSelector ?? ''}\n${warningMs}`,
    resourceVersion: q.resourceVersion === undefined ? undefined : Number(q.resourceVersion),
  };
}

async function pass(
  store: Store,
  sync: SyncService,
  hubVersion: string,
  selector: Requirement[],
  warningMs: number,
  /** The change log's end before reading: a watch from here misses nothing this pass missed. */
  resourceVersion: string,
) {
  const now = Date.now();
  const states: Record<string, number> = {};
  const facts = new Map<string, ClusterFacts>();
  let after = '';
  for (;;) {
    const page = await store.clusters.page(after, slice);
    const certs = await store.certificates.latestIn(after, page.items.at(-1)?.name ?? after);
    for (const c of page.items) {
      if (!matchesSelector(selector, c.labels)) continue;
      const view = clusterResource(c, certs.get(c.name), now, sync.liveness);
      const state = clusterState(view);
      states[state] = (states[state] ?? 0) + 1;
      facts.set(c.name, {
        name: c.name,
        state,
        lastSeen: view.status.lastSeen,
        agentVersion: view.status.agentVersion,
        certificateNotAfter: view.status.certificate?.notAfter,
      });
    }
    if (!page.continue) break;
    after = page.continue;
    await yieldLoop();
  }
  const works = new Map<string, WorkFacts>();
  const conditions: Record<string, Record<string, number>> = {};
  let total = 0;
  let at = { cluster: '', name: '' };
  for (;;) {
    const rows = await store.works.metricPage(at, slice);
    for (const w of rows) {
      if (!facts.has(w.cluster)) continue;
      const conds = readConditions(w.conditions);
      total++;
      for (const c of conds) {
        const byStatus = conditions[c.type] ?? {};
        byStatus[c.status] = (byStatus[c.status] ?? 0) + 1;
        conditions[c.type] = byStatus;
      }
      const f = works.get(w.cluster) ?? noWorks();
      works.set(w.cluster, f);
      addWork(f, w.name, conds);
    }
    const last = rows.at(-1);
    if (!last || rows.length < slice) break;
    at = { cluster: last.cluster, name: last.name };
    await yieldLoop();
  }
  // Worksets by rollout state, fleet-wide (a workset spans clusters; the selector is not theirs).
  const worksetStates: Record<string, number> = {};
  let worksets = 0;
  let afterSet = '';
  for (;;) {
    const page = await store.worksets.page(afterSet, slice);
    for (const w of page.items) {
      const status = (w.status ?? undefined) as ManifestWorkReplicaSetStatus | undefined;
      const state = w.deletionAt ? 'Deleting' : (status?.rollout?.state ?? 'Pending');
      worksets++;
      worksetStates[state] = (worksetStates[state] ?? 0) + 1;
    }
    if (!page.continue) break;
    afterSet = page.continue;
    await yieldLoop();
  }
  const nonCompliant: NonCompliant[] = [];
  for (const c of facts.values()) {
    const w = works.get(c.name) ?? noWorks();
    const problems = problemsOf(c, w, { now, certificateWarningMs: warningMs, hubVersion });
    if (!problems.length) continue;
    nonCompliant.push({
      name: c.name,
      state: c.state,
      reason: problems.map((p) => p.message).join('; '),
      problems,
      failingWorks: new Set([...w.degraded, ...w.held, ...w.notApplied, ...w.notAvailable]).size,
    });
  }
  nonCompliant.sort(worstFirst);
  return {
    at: now,
    resourceVersion,
    clusters: { total: facts.size, states },
    works: { total, conditions },
    worksets: { total: worksets, states: worksetStates },
    nonCompliant,
  };
}

export const overviewRoutes: FastifyPluginAsync<Opts> = async (app, { store, sync, version }) => {
  let last: Pass | undefined;
  let running: { key: string; from: number; done: Promise<Pass> } | undefined;
  /** A pass that saw every change made before this call: a client that re-reads on a watch
   *  event gets that event's effect, while a busy fleet still costs one pass a second. */
  const current = async (q: ReturnType<typeof query>): Promise<Pass> => {
    // As a Kubernetes list from its cache: a caller that names the change it has seen (0: none)
    // takes a recent pass that saw it at once. The dashboard paints with it, then reads again.
    if (
      q.resourceVersion !== undefined &&
      last?.key === q.key &&
      Number(last.resourceVersion) >= q.resourceVersion &&
      Date.now() - last.at < maxStaleMs
    ) {
      return last;
    }
    for (;;) {
      const latest = await store.changes.latest();
      const age = last?.key === q.key ? Date.now() - last.at : Number.POSITIVE_INFINITY;
      if (last && age < maxReuseMs && Number(last.resourceVersion) >= latest) return last;
      // Callers asking the same while a pass that started late enough runs share it.
      if (running?.key === q.key && running.from >= latest) return running.done;
      if (age < minPassMs) {
        await sleep(minPassMs - age);
        continue;
      }
      const done = pass(store, sync, version, q.selector, q.warningMs, String(latest)).then((p) => ({
        ...p,
        key: q.key,
      }));
      running = { key: q.key, from: latest, done };
      try {
        last = await done;
        return last;
      } finally {
        if (running?.done === done) running = undefined;
      }
    }
  };

  app.get('/api/v1/overview', async (req) => {
    const q = query(req.query);
    const p = await current(q);
    const items = p.nonCompliant.slice(q.offset, q.offset + q.limit);
    const next = q.offset + q.limit < p.nonCompliant.length ? String(q.offset + q.limit) : undefined;
    return {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'FleetOverview',
      metadata: { resourceVersion: p.resourceVersion, generatedAt: new Date(p.at).toISOString() },
      hubVersion: version,
      clusters: p.clusters,
      works: p.works,
      worksets: p.worksets,
      nonCompliant: {
        total: p.nonCompliant.length,
        items: items.map(({ failingWorks: _, ...rest }) => rest),
        ...(next ? { continue: next } : {}),
      },
    };
  });
};
