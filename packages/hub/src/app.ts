// buildApp(deps): the hub's HTTP application, assembled from its plugins. It never
// listens on import; main.ts (or a test) decides where it listens.

import { errorBody, limits, OutpostError } from '@outpost/shared';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { agentApi } from './agentapi/index.ts';
import { healthRoutes } from './api/health.ts';
import { adminApi, auditCall } from './api/index.ts';
import { registerMetrics } from './metrics/index.ts';
import type { TrustService } from './registration/service.ts';
import type { PlacementService } from './scheduling/index.ts';
import type { Store } from './store/index.ts';
import type { SyncService } from './sync/service.ts';
import type { WorkSetController } from './worksets/index.ts';

export interface AppDeps {
  log: Logger;
  store: Store;
  trust: TrustService;
  sync: SyncService;
  placements: PlacementService;
  /** The workset controller; absent in tests that exercise the API alone. */
  worksets?: WorkSetController | undefined;
  version: string;
  advertiseUrl?: string | undefined;
  maxWorkBytes?: number | undefined;
  /** TLS material; omitted only by tests that exercise routes over plain HTTP. */
  tls?: { key: string; cert: string; ca: string } | undefined;
}

/** Maps fastify's own error codes onto Outpost's stable ones. */
const fastifyCodes: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BODY_MALFORMED', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BODY_MALFORMED', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BODY_MALFORMED', status: 400 },
};

export function toOutpostError(err: unknown): OutpostError {
  if (err instanceof OutpostError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  const mapped = e.code ? fastifyCodes[e.code] : undefined;
  if (mapped) return new OutpostError(mapped.code, e.message ?? mapped.code, mapped.status);
  if (e.validation) return new OutpostError('VALIDATION_FAILED', e.message ?? 'invalid request', 400, e.validation);
  if (e instanceof SyntaxError || (e.statusCode === 400 && e.message)) {
    return new OutpostError('BODY_MALFORMED', e.message ?? 'malformed body', 400);
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new OutpostError('BAD_REQUEST', e.message ?? 'bad request', e.statusCode);
  }
  return new OutpostError('INTERNAL', 'internal error; see the hub log', 500);
}

const yamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml'];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const options: FastifyServerOptions & { https?: unknown } = {
    loggerInstance: deps.log,
    // Per-request lines would be mostly polls; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    bodyLimit: limits.bodyBytes,
  };
  if (deps.tls) {
    options.https = {
      key: deps.tls.key,
      cert: deps.tls.cert,
      ca: deps.tls.ca,
      minVersion: 'TLSv1.2',
      // Ask every client for a certificate but let the agent API decide per request:
      // people and joiners have none, agents must.
      requestCert: true,
      rejectUnauthorized: false,
    };
  }
  const app = Fastify(options) as unknown as FastifyInstance;

  app.addContentTypeParser(yamlTypes, { parseAs: 'string' }, (_req, body, done) => {
    try {
      // maxAliasCount bounds alias expansion ("billion laughs").
      done(null, parseYaml(body as string, { maxAliasCount: 100 }));
    } catch (err) {
      done(new OutpostError('BODY_MALFORMED', `YAML: ${(err as Error).message}`, 400), undefined);
    }
  });
  // Action endpoints (approve, deny, rotate) take no body; clients often still send the
  // JSON content type, so an empty JSON body means "no body" rather than an error.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    ['application/json', 'application/merge-patch+json'],
    { parseAs: 'string' },
    (req, body, done) => {
      if (body === '' || body === undefined) done(null, undefined);
      else json(req, body as string, done);
    },
  );

  app.setErrorHandler((err, req, reply) => {
    const out = toOutpostError(err);
    if (out.statusCode >= 500) req.log.error({ err }, 'request failed');
    reply.errorCode = out.code;
    const retry = (out.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retry) void reply.header('retry-after', String(retry));
    void reply.status(out.statusCode).send(errorBody(out));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.errorCode = 'NOT_FOUND';
    void reply
      .status(404)
      .send({ code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}` });
    if (req.url.startsWith('/api/')) auditCall(deps.store, req, reply);
  });

  await app.register(healthRoutes, { store: deps.store, version: deps.version });
  registerMetrics(app, {
    store: deps.store,
    liveness: () => deps.sync.liveness,
    longPollsWaiting: () => deps.sync.waiting,
  });
  const maxWorkBytes = deps.maxWorkBytes ?? limits.workBytes;
  await app.register(agentApi, { store: deps.store, trust: deps.trust, sync: deps.sync, maxWorkBytes });
  await app.register(adminApi, {
    store: deps.store,
    trust: deps.trust,
    advertiseUrl: deps.advertiseUrl,
    maxWorkBytes,
    sync: deps.sync,
    placements: deps.placements,
    onWorkSetChanged: deps.worksets ? (name: string) => deps.worksets?.changed(name) : undefined,
  });
  return app;
}
