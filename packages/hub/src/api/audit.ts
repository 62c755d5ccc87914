// /api/v1/auditevents: who did what, when, with what result; newest first.

import { apiError } from '@outpost/shared';
import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../store/index.ts';
import { listOf, listQuery } from './common.ts';

export const auditRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get('/api/v1/auditevents', async (req) => {
    const q = listQuery(req.query);
    const before = q.continue === '' ? Number.MAX_SAFE_INTEGER : Number(q.continue);
    if (!Number.isInteger(before)) throw apiError('VALIDATION_FAILED', 'continue must come from a previous page');
    const page = await store.audit.page(before, q.limit);
    return listOf('AuditEventList', page.items, page.continue);
  });
};
