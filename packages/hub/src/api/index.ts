// /api/v1: the admin API for people and automation. Bearer tokens with scopes guard every
// route; every call that changes something lands in the audit log, whatever its result.
import websocket from '@fastify/websocket';
import { durations, limits } from '@outpost/shared';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/index.ts';
import { principalOf, requireApiToken } from '../auth/index.ts';
import type { SecretBox } from '../gitrepos/index.ts';
import { type BodyThread, RawBody } from '../parse/index.ts';
import type { TrustService } from '../registration/service.ts';
import type { PlacementRequests } from '../scheduling/index.ts';
import type { Store } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import { apiTokenRoutes } from './api-tokens.ts';
import { auditRoutes } from './audit.ts';
import { bootstrapTokenRoutes } from './bootstrap-tokens.ts';
import { caRoutes } from './ca.ts';
import { clusterSetRoutes } from './cluster-sets.ts';
import { clusterRoutes } from './clusters.ts';
import { gitRepoRoutes } from './gitrepos.ts';
import { inventoryRoutes } from './inventory.ts';
import { overviewRoutes } from './overview.ts';
import { placementRoutes } from './placements.ts';
import { sessionRoutes } from './sessions.ts';
import { watches } from './watch/index.ts';
import { workRoutes } from './works.ts';
import { workSetRoutes } from './worksets.ts';

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
  sync: SyncService;
  placements: PlacementRequests;
  audit: AuditLog;
  /** The hub's version (the overview names agents older than it). */
  version: string;
  /** Reads YAML bodies and works off the event loop. */
  bodies: BodyThread;
  /** The workset controller's trigger; absent in tests that run no controller. */
  onWorkSetChanged?: ((namespace: string, name: string) => void) | undefined;
  /** The GitRepo controller's trigger; absent in tests that run no controller. */
  onGitRepoChanged?: ((namespace: string, name: string) => void) | undefined;
  /** Seals GitRepo secrets; absent, a GitRepo with credentials or a webhook is refused. */
  secrets?: SecretBox | undefined;
  /** Where file:// GitRepos may point; absent: file:// is refused. */
  gitFileRoot?: string | undefined;
}

const yamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml'];
const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Appends a non-GET admin call, whatever its outcome, to the audit log. */
export async function auditCall(
  store: Store,
  audit: AuditLog,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  if (readMethods.has(req.method)) return;
  let actor = req.principal?.actor;
  if (!actor) {
    // Unknown routes never ran the auth hook: name the caller if its token (or session) is valid.
    try {
      actor = (await principalOf(store, req, new Date())).actor;
    } catch {
      actor = 'anonymous';
    }
  }
  await audit.append(
    {
      at: new Date().toISOString(),
      actor,
      action: `${req.method} ${req.routeOptions.url ?? '(no route)'}`,
      resource: req.url.split('?')[0]?.slice(0, 512) ?? '',
      result: reply.errorCode ? `${reply.statusCode} ${reply.errorCode}` : String(reply.statusCode),
      details: { source: req.ip },
    },
    actor === 'anonymous',
  );
}

export const adminApi: FastifyPluginAsync<AdminApiOptions> = async (app, opts) => {
  const { store } = opts;
  app.addHook('onRequest', requireApiToken(store, opts.advertiseUrl));
  // YAML bodies only here: content-type parsers run after the onRequest hooks, so an
  // unauthenticated YAML body is never read. The expanded document (aliases counted each
  // time) must fit the route's own body limit.
  // Placement bodies are validated on the parser's thread too (body-worker.ts).
  app.addContentTypeParser(yamlTypes, { parseAs: 'buffer' }, async (req: FastifyRequest, raw: string | Buffer) => {
    // Work and workset routes send the bytes to the body thread themselves (see app.ts's
    // JSON parser).
    if (req.routeOptions.config.bodyThread) return new RawBody('yaml', raw as Buffer);
    const body = (raw as Buffer).toString('utf8');
    const url = req.routeOptions.url ?? '';
    // A PATCH body is a patch, not a Placement: the route validates what it makes.
    const check =
      req.method !== 'PATCH' && /^\/api\/v1\/(namespaces\/[^/]+\/)?placements(\/|$)/.test(url)
        ? 'placement'
        : undefined;
    return opts.bodies.yaml(body, req.routeOptions.bodyLimit ?? limits.bodyBytes, check);
  });
  app.addHook('onResponse', async (req, reply) => auditCall(store, opts.audit, req, reply));
  // Watches over a WebSocket (api/watch.ts): the client sends nothing but the upgrade.
  await app.register(websocket, { options: { maxPayload: 1024 } });
  const shared = watches(store);
  // Open watches would hold the stop until they time out: they end first.
  app.addHook('preClose', async () => shared.tail.close());
  const trim = setInterval(() => {
    store.changes.trim(undefined, durations.watchHistoryMs, limits.watchHistoryRows).catch((err: unknown) => {
      app.log.warn({ err }, 'trimming the change log failed; it is tried again in a minute');
    });
  }, 60_000);
  trim.unref();
  app.addHook('onClose', async () => clearInterval(trim));
  const routes = { ...opts, watches: shared };
  await app.register(clusterRoutes, routes);
  await app.register(bootstrapTokenRoutes, routes);
  await app.register(apiTokenRoutes, routes);
  await app.register(auditRoutes, routes);
  await app.register(caRoutes, routes);
  await app.register(workRoutes, routes);
  await app.register(placementRoutes, routes);
  await app.register(clusterSetRoutes, routes);
  await app.register(workSetRoutes, routes);
  await app.register(gitRepoRoutes, routes);
  await app.register(sessionRoutes, routes);
  await app.register(overviewRoutes, routes);
  await app.register(inventoryRoutes, routes);
};
