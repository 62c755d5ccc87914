// /api/v1: the admin API for people and automation. Bearer tokens with scopes guard every
// route; every call that changes something lands in the audit log, whatever its result.
import type { FastifyPluginAsync } from 'fastify';
import { requireApiToken } from '../auth/index.ts';
import type { TrustService } from '../registration/service.ts';
import type { Store } from '../store/index.ts';
import { apiTokenRoutes } from './api-tokens.ts';
import { auditRoutes } from './audit.ts';
import { bootstrapTokenRoutes } from './bootstrap-tokens.ts';
import { caRoutes } from './ca.ts';
import { clusterRoutes } from './clusters.ts';
import { workRoutes } from './works.ts';

declare module 'fastify' {
  interface FastifyReply {
    /** The stable error code of a failed request, for the audit log. */
    errorCode?: string;
  }
}

export interface AdminApiOptions {
  store: Store;
  trust: TrustService;
  advertiseUrl: string | undefined;
  maxWorkBytes: number;
}

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export const adminApi: FastifyPluginAsync<AdminApiOptions> = async (app, opts) => {
  const { store } = opts;
  app.addHook('onRequest', requireApiToken(store));
  app.addHook('onResponse', async (req, reply) => {
    if (readMethods.has(req.method)) return;
    store.audit.append({
      at: new Date().toISOString(),
      actor: req.principal?.actor ?? 'anonymous',
      action: `${req.method} ${req.routeOptions.url ?? '(no route)'}`,
      resource: req.url.split('?')[0]?.slice(0, 512) ?? '',
      result: reply.errorCode ? `${reply.statusCode} ${reply.errorCode}` : String(reply.statusCode),
      details: { source: req.ip },
    });
  });
  await app.register(clusterRoutes, opts);
  await app.register(bootstrapTokenRoutes, opts);
  await app.register(apiTokenRoutes, opts);
  await app.register(auditRoutes, opts);
  await app.register(caRoutes, opts);
  await app.register(workRoutes, opts);
};
