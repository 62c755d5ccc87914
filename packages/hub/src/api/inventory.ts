// GET /api/v1/inventory: which clusters have Deployment X, what is in namespace Y. The
// objects works declare now (store/inventory.ts: an index per way in, a page a seek, never a
// pass over the fleet), each with what its agent last reported for it: the manifest's
// conditions and version from its work's status. Only the works of the page are read, one
// at a time, and at most statusBudget bytes of their statuses (a status kept in parts, over
// 512 KiB, is not read for a listing: the work's own page shows it). Works being deleted are
// listed, with their deletion time: their objects stay on the cluster until the agent
// confirms.

import { setImmediate as yieldLoop } from 'node:timers/promises';
import { apiError, type Condition } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import type { InventoryPosition, InventoryQuery, Store } from '../store/index.ts';
import { refuseUnknownQuery } from './common.ts';

const defaultLimit = 100;
const maxLimit = 500;
/** The most status bytes a page reads (statuses kept in the row are at most 512 KiB each). */
const statusBudget = 16 * 1024 * 1024;
const maxValue = 253;
const positionColumns = ['cluster', 'work', 'api_group', 'kind', 'namespace', 'name'] as const;
const criteria = ['kind', 'group', 'namespace', 'name', 'cluster'] as const;

export interface InventoryItem {
  cluster: string;
  work: string;
  group: string;
  /** As the agent reported it (the declared apiVersion is in the work). */
  version?: string;
  kind: string;
  /** Absent for a cluster-scoped object. */
  namespace?: string;
  name: string;
  /** The work's deletion time when it is being deleted. */
  workDeletionTimestamp?: string;
  /** The manifest's conditions as the agent last reported them; absent before it did. */
  conditions?: Condition[];
  /** Why no conditions were read: the work's status is too large to read for a listing. */
  statusOmitted?: 'TooLarge';
}

/** The opaque continue of a page: its last row's position. */
const encodePosition = (p: InventoryPosition) =>
  Buffer.from(JSON.stringify(positionColumns.map((c) => p[c]))).toString('base64url');

function decodePosition(text: string): InventoryPosition {
  const refuse = () => apiError('VALIDATION_FAILED', 'continue must be the continue of a previous page');
  if (text.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(text)) throw refuse();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(v) || v.length !== positionColumns.length || !v.every((x) => typeof x === 'string')) {
    throw refuse();
  }
  return Object.fromEntries(positionColumns.map((c, i) => [c, v[i]])) as InventoryPosition;
}

export function inventoryQuery(raw: unknown): {
  search: InventoryQuery;
  limit: number;
  from: InventoryPosition | undefined;
} {
  const q = (raw ?? {}) as Record<string, unknown>;
  refuseUnknownQuery(q, [...criteria, 'limit', 'continue']);
  const value = (k: string): string | undefined => {
    const v = q[k];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw apiError('VALIDATION_FAILED', `${k} may be given once`);
    if (v.length > maxValue) throw apiError('VALIDATION_FAILED', `${k} is longer than ${maxValue} characters`);
    return v;
  };
  const search: InventoryQuery = {};
  for (const k of criteria) {
    const v = value(k);
    if (v !== undefined) search[k] = v;
  }
  // The core group is the empty one: group= says nothing, so it is spelled "core".
  if (search.group === 'core') search.group = '';
  if (search.group !== undefined && search.kind === undefined) {
    throw apiError('VALIDATION_FAILED', 'group narrows a kind: give kind too');
  }
  if (search.name?.endsWith('*')) {
    search.name = search.name.slice(0, -1);
    search.namePrefix = true;
    if (!search.name || search.name.includes('*')) {
      throw apiError('VALIDATION_FAILED', 'name is a name, or the start of names followed by one *');
    }
  } else if (search.name?.includes('*')) {
    throw apiError('VALIDATION_FAILED', 'name is a name, or the start of names followed by one *');
  }
  const limitText = value('limit');
  const limit = limitText === undefined ? defaultLimit : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw apiError('VALIDATION_FAILED', `limit must be an integer from 1 to ${maxLimit}`);
  }
  const cont = value('continue');
  return { search, limit, from: cont === undefined ? undefined : decodePosition(cont) };
}

interface ReportedManifest {
  resourceMeta?: { group?: string; version?: string; kind?: string; namespace?: string; name?: string };
  conditions?: Condition[];
}

/** A work's reported manifests by their key (group|Kind|namespace|name), or why there are none. */
async function reported(
  store: Store,
  uid: string,
  budget: { left: number },
): Promise<Map<string, ReportedManifest> | 'TooLarge' | undefined> {
  const kept = await store.works.statusOf(uid);
  if (kept === null) return undefined;
  if (kept !== 'inline') return 'TooLarge';
  const bytes = await store.works.statusBytes(uid);
  if (!bytes) return undefined;
  if (bytes.length > budget.left) return 'TooLarge';
  budget.left -= bytes.length;
  let status: { resourceStatus?: { manifests?: ReportedManifest[] } };
  try {
    status = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  const out = new Map<string, ReportedManifest>();
  for (const m of status.resourceStatus?.manifests ?? []) {
    const r = m.resourceMeta ?? {};
    out.set(`${r.group ?? ''}|${r.kind ?? ''}|${r.namespace ?? ''}|${r.name ?? ''}`, m);
  }
  return out;
}

export const inventoryRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get('/api/v1/inventory', async (req) => {
    const { search, limit, from } = inventoryQuery(req.query);
    const page = await store.inventory.page(search, from, limit);
    // Each work of the page once: its row (deletion) and its last status.
    const works = new Map<string, { deletionAt: string | null; status: Awaited<ReturnType<typeof reported>> }>();
    const budget = { left: statusBudget };
    for (const r of page.items) {
      if (works.has(r.workUid)) continue;
      const w = await store.works.getByUid(r.workUid);
      works.set(r.workUid, {
        deletionAt: w?.deletionAt ?? null,
        status: w ? await reported(store, w.uid, budget) : undefined,
      });
      await yieldLoop();
    }
    const items: InventoryItem[] = page.items.map((r) => {
      const w = works.get(r.workUid);
      const status = w?.status;
      const m = status instanceof Map ? status.get(`${r.group}|${r.kind}|${r.namespace}|${r.name}`) : undefined;
      return {
        cluster: r.cluster,
        work: r.work,
        group: r.group,
        ...(m?.resourceMeta?.version ? { version: m.resourceMeta.version } : {}),
        kind: r.kind,
        ...(r.namespace ? { namespace: r.namespace } : {}),
        name: r.name,
        ...(w?.deletionAt ? { workDeletionTimestamp: w.deletionAt } : {}),
        ...(m ? { conditions: m.conditions ?? [] } : {}),
        ...(status === 'TooLarge' ? { statusOmitted: 'TooLarge' as const } : {}),
      };
    });
    return {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'InventoryList',
      metadata: page.next ? { continue: encodePosition(page.next) } : {},
      items,
    };
  });
};
