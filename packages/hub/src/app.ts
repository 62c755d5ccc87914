// buildApp(deps): the hub's HTTP application, assembled from its plugins. It never
// listens on import; main.ts (or a test) decides where it listens.

import { errorBody, OutpostError } from '@outpost/shared';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Logger } from 'pino';
import { healthRoutes } from './api/health.ts';
import type { Store } from './store/index.ts';

export interface AppDeps {
  log: Logger;
  store: Store;
  version: string;
  /** TLS material; omitted only by tests that exercise routes over plain HTTP. */
  tls?: { key: string; cert: string; ca?: string } | undefined;
}

/** Maps fastify's own error codes onto Outpost's stable ones. */
const fastifyCodes: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
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

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const options: FastifyServerOptions & { https?: unknown } = {
    loggerInstance: deps.log,
    // Per-request lines would be mostly long-polls; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  };
  if (deps.tls) options.https = { ...deps.tls, minVersion: 'TLSv1.2' };
  const app = Fastify(options) as unknown as FastifyInstance;

  app.setErrorHandler((err, req, reply) => {
    const out = toOutpostError(err);
    if (out.statusCode >= 500) req.log.error({ err }, 'request failed');
    void reply.status(out.statusCode).send(errorBody(out));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });

  await app.register(healthRoutes, { store: deps.store, version: deps.version });
  return app;
}
