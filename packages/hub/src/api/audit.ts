// /api/v1/auditevents: who did what, when, with what result; newest first, filtered by actor
// (exactly), action, resource and result (by prefix) and since a time. A page reads at most
// auditScanRows events (store/trust.ts): a filter that matches little answers a short page,
// perhaps empty, with continue, instead of scanning the whole log in one request.

import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import type { AuditFilter, Store } from '../store/index.ts';
import { listQuery, refuseUnknownQuery } from './common.ts';

const known = ['limit', 'continue', 'actor', 'action', 'resource', 'result', 'since'];

function auditQuery(raw: unknown): { limit: number; before: number; filter: AuditFilter } {
  const q = (raw ?? {}) as Record<string, unknown>;
  refuseUnknownQuery(q, known);
  for (const [k, v] of Object.entries(q)) {
    if (typeof v !== 'string') throw apiError('VALIDATION_FAILED', `${k} may be given once`);
    if (v.length > 1_000) throw apiError('VALIDATION_FAILED', `${k} is longer than 1000 characters`);
  }
  const s = q as Record<string, string | undefined>;
  const { limit } = listQuery(s);
  const before = s.continue === undefined || s.continue === '' ? Number.MAX_SAFE_INTEGER : Number(s.continue);
  if (!/^\d{0,16}$/.test(s.continue ?? '') || !Number.isSafeInteger(before)) {
    throw apiError('VALIDATION_FAILED', 'continue must come from a previous page');
  }
  const filter: AuditFilter = {};
  for (const k of ['actor', 'action', 'resource', 'result'] as const) if (s[k]) filter[k] = s[k];
  if (s.since) {
    // RFC 3339, as the OpenAPI document says (Date.parse alone takes "2026", or years past 9999).
    const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
    const at = rfc3339.test(s.since) ? Date.parse(s.since) : Number.NaN;
    if (!Number.isFinite(at)) throw apiError('VALIDATION_FAILED', 'since must be a time such as 2026-01-31T12:00:00Z');
    filter.since = new Date(at).toISOString();
  }
  return { limit, before, filter };
}

export const auditRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get('/api/v1/auditevents', async (req) => {
    const { limit, before, filter } = auditQuery(req.query);
    const page = await store.audit.page(before, limit, filter);
    return {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'AuditEventList',
      metadata: page.continue ? { continue: page.continue } : {},
      items: page.items,
    };
  });
};
