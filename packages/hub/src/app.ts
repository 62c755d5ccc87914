// buildApp(deps): the hub's HTTP application, assembled from its plugins. It never
// listens on import; main.ts (or a test) decides where it listens.

import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { apiError, durations, errorBody, limits, OutpostError } from '@outpost/shared';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions, LogController } from 'fastify';
import type { Logger } from 'pino';
import { agentApi } from './agentapi/index.ts';
import { answerFormats } from './api/answer-format.ts';
import { gitRepoWebhookRoutes } from './api/gitrepo-webhook.ts';
import { healthRoutes } from './api/health.ts';
import { adminApi, auditCall } from './api/index.ts';
import { openApiRoutes } from './api/openapi/index.ts';
import { AuditLog } from './audit/index.ts';
import type { SecretBox } from './gitrepos/index.ts';
import { registerMetrics } from './metrics/index.ts';
import { BodyThread, checkJsonDepth, ParseError, RawBody } from './parse/index.ts';
import type { TrustService } from './registration/service.ts';
import type { PlacementRequests } from './scheduling/index.ts';
import { type Store, StoreError } from './store/index.ts';
import type { SyncService } from './sync/service.ts';
import { uiRoutes } from './ui/index.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The /metrics body, for a second listener (`--metrics-listen`). */
    metricsBody: () => Promise<Readable>;
  }
  interface FastifyContextConfig {
    /** The route reads its body on the body thread: the parsers hand it over as a RawBody. */
    bodyThread?: boolean;
  }
}

export interface AppDeps {
  log: Logger;
  store: Store;
  trust: TrustService;
  sync: SyncService;
  placements: PlacementRequests;
  /** The workset controller; absent in tests that exercise the API alone. */
  /** Whether this hub runs the singleton duties (a metric); default: it does. */
  leading?: (() => boolean) | undefined;
  /** A workset was created, replaced, paused, resumed or deleted (its controller reconciles it). */
  onWorkSetChanged?: ((namespace: string, name: string) => void) | undefined;
  /** A GitRepo was created, changed or deleted (its controller fetches and renders it). */
  onGitRepoChanged?: ((namespace: string, name: string) => void) | undefined;
  /** Seals GitRepo secrets (credentials, webhook secrets) under the hub's key; absent, they are refused. */
  secrets?: SecretBox | undefined;
  /** Where file:// GitRepos may point (--git-file-root); absent: file:// is refused. */
  gitFileRoot?: string | undefined;
  version: string;
  /** The audit log writer; tests that do not care get one with the default retention. */
  audit?: AuditLog | undefined;
  advertiseUrl?: string | undefined;
  maxWorkBytes?: number | undefined;
  /** TLS material; omitted only by tests that exercise routes over plain HTTP. */
  /** `ticketKeys`: the TLS session-ticket key kept across restarts (pki/tickets.ts). */
  tls?: { key: string; cert: string; ca: string; ticketKeys?: Buffer } | undefined;
}

/**
 * TLS 1.3 suites, then TLS 1.2 with forward secrecy and AEAD only: no CBC, no SHA-1 MACs,
 * no static RSA key exchange. Every maintained client (Go, Node, curl, browsers) has these.
 */
export const tlsCiphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** TLS settings of the listener, also applied when a CA rotation reloads the context. */
export const tlsServerOptions = { minVersion: 'TLSv1.2', ciphers: tlsCiphers, honorCipherOrder: true } as const;

/** Sessions resumable across restarts with the kept ticket key (pki/tickets.ts), also when
 *  a CA rotation reloads the context. */
export const sessionOptions = (ticketKeys: Buffer) => ({
  ticketKeys,
  sessionTimeout: durations.ticketKeyLifetimeMs / 1000,
  // Node's default context is a hash of the command line: another flag after a restart
  // would make every session unresumable.
  sessionIdContext: 'outpost-hub',
});

/** Maps fastify's own error codes onto Outpost's stable ones. */
/** An oversized body is read (and dropped) up to this much, for at most this long, before the 413. */
const oversizeDrainBytes = 64 * 1024 * 1024;
const oversizeDrainMs = 10_000;

const fastifyCodes: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BODY_MALFORMED', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BODY_MALFORMED', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BODY_MALFORMED', status: 400 },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'URI_TOO_LONG', status: 414 },
  FST_ERR_BAD_URL: { code: 'BAD_REQUEST', status: 400 },
};

/**
 * Errors of the HTTP parser, before fastify sees a request: answered on the raw socket, in
 * the same `{ code, message }` shape as everything else.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const [status, reason, body] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          { code: 'HEADERS_TOO_LARGE', message: 'the request line and headers exceed the size limit' },
        ]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', { code: 'BAD_REQUEST', message: 'the request did not arrive in time' }]
        : [400, 'Bad Request', { code: 'BAD_REQUEST', message: 'malformed HTTP request' }];
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

export function toOutpostError(err: unknown): OutpostError {
  if (err instanceof OutpostError) return err;
  if (err instanceof ParseError) return err.toApiError();
  if (err instanceof StoreError && err.code === 'STORE_TEXT_NUL')
    return new OutpostError('TEXT_INVALID', err.message, 400);
  // The database is away (a failover, a restart, the network): agents and clients come back
  // after a while; nothing was written.
  if (err instanceof StoreError && err.code === 'STORE_UNAVAILABLE') {
    return new OutpostError('HUB_DATABASE_UNAVAILABLE', err.message, 503, { retryAfterSeconds: 5 });
  }
  // Replicas writing the same rows so hard that one transaction lost every retry: nothing
  // was written; the caller tries again a little later.
  if (err instanceof StoreError && err.code === 'STORE_CONTENDED') {
    return new OutpostError('HUB_DATABASE_BUSY', err.message, 503, { retryAfterSeconds: 1 });
  }
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
    // Per-request lines would be mostly polls; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    bodyLimit: limits.bodyBytes,
    // Names of up to 253 characters must be readable and deletable by URL; longer
    // parameters are answered 414 URI_TOO_LONG.
    routerOptions: { maxParamLength: limits.urlParamMax },
    clientErrorHandler,
    frameworkErrors: (err, _req, reply) => {
      const out = toOutpostError(err);
      reply.errorCode = out.code;
      void (reply as unknown as FastifyReply).status(out.statusCode).send(errorBody(out));
    },
  };
  if (deps.tls) {
    options.https = {
      key: deps.tls.key,
      cert: deps.tls.cert,
      ca: deps.tls.ca,
      ...tlsServerOptions,
      ...(deps.tls.ticketKeys ? sessionOptions(deps.tls.ticketKeys) : {}),
      // Ask every client for a certificate but let the agent API decide per request:
      // people and joiners have none, agents must.
      requestCert: true,
      rejectUnauthorized: false,
    };
  }
  const app = Fastify(options) as unknown as FastifyInstance;
  // A TLS 1.2 client could renegotiate and present another certificate on a connection the
  // agent API already identified (agentapi/ keeps the identity per connection); it may not.
  if (deps.tls) app.server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  let audit = deps.audit;
  if (!audit) {
    const own = new AuditLog(deps.store, { maxAgeMs: durations.auditMaxAgeMs, maxRows: limits.auditMaxRows }, deps.log);
    app.addHook('onClose', async () => own.close());
    audit = own;
  }

  // YAML is read only by the admin API, after authentication (see api/index.ts): agents and
  // anonymous callers speak JSON, and a YAML body gets 415 UNSUPPORTED_MEDIA_TYPE.
  // Action endpoints (approve, deny, rotate) take no body; clients often still send the
  // JSON content type, so an empty JSON body means "no body" rather than an error.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    ['application/json', 'application/merge-patch+json', 'application/json-patch+json'],
    { parseAs: 'buffer' },
    (req, raw, done) => {
      // Routes that may take megabytes (works, status reports) read their body on the body
      // thread (parse/off-thread.ts): it is handed to them unread, as bytes.
      if (req.routeOptions.config.bodyThread) return done(null, new RawBody('json', raw as Buffer));
      const body = (raw as Buffer | undefined)?.toString('utf8') ?? '';
      if (body === '') return done(null, undefined);
      try {
        checkJsonDepth(body);
      } catch (err) {
        return done(err as Error, undefined);
      }
      json(req, body, done);
    },
  );

  app.setErrorHandler((err, req, reply) => {
    const out = toOutpostError(err);
    // A stopping hub's 503 to every released poll is expected, not a failure.
    if (out.statusCode >= 500 && out.code !== 'HUB_STOPPING') req.log.error({ err }, 'request failed');
    reply.errorCode = out.code;
    const retry = (out.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retry) void reply.header('retry-after', String(retry));
    void reply.status(out.statusCode).send(errorBody(out));
  });
  // A body announced larger than the route takes is refused (413) before any of it is parsed,
  // but only after reading what the client sends, up to a bound: answering while the client
  // still writes closes the connection under it, and it sees EPIPE instead of the 413.
  app.addHook('onRequest', (req, _reply, done) => {
    const length = Number(req.headers['content-length']);
    const limit = req.routeOptions.bodyLimit ?? limits.bodyBytes;
    if (!(length > limit)) {
      done();
      return;
    }
    const refuse = () => {
      clearTimeout(timer);
      raw.removeListener('data', count);
      raw.removeListener('end', refuse);
      raw.removeListener('error', refuse);
      done(apiError('BODY_TOO_LARGE', `the body (${length} bytes) is over this route's limit of ${limit} bytes`));
    };
    const raw = req.raw;
    let read = 0;
    const count = (chunk: Buffer) => {
      read += chunk.length;
      if (read > oversizeDrainBytes) refuse();
    };
    const timer = setTimeout(refuse, oversizeDrainMs);
    raw.on('data', count);
    raw.once('end', refuse);
    raw.once('error', refuse);
  });
  // Every route reads single values: `?continue=a&continue=b` would reach handlers as an
  // array they do not expect. Refused for all routes at once.
  app.addHook('onRequest', async (req) => {
    const q = req.query as Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(q ?? {})) {
      if (Array.isArray(v))
        throw apiError('QUERY_PARAM_REPEATED', `query parameter ${k.slice(0, 64)} is given more than once`);
    }
  });
  app.setNotFoundHandler(async (req, reply) => {
    reply.errorCode = 'NOT_FOUND';
    void reply
      .status(404)
      .send({ code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}` });
    // Audited once the answer is out (as the admin API's onResponse hook does); the answer
    // is sent already, so a failure here can only be logged.
    if (req.url.startsWith('/api/')) {
      try {
        await auditCall(deps.store, audit, req, reply);
      } catch (err) {
        req.log.error({ err }, 'audit row not written');
      }
    }
    return reply;
  });

  // Two body threads: admin bodies (YAML, works) and agents' status batches, so that a
  // queue of large admin writes never delays the fleet's status intake.
  const bodies = new BodyThread();
  const statusBodies = new BodyThread();
  app.addHook('onClose', async () => {
    await Promise.all([bodies.close(), statusBodies.close()]);
  });
  // JSON or YAML answers for /api/ as Accept says (also errors and unknown routes there).
  answerFormats(app, bodies);

  await app.register(healthRoutes, { store: deps.store, version: deps.version });
  await app.register(openApiRoutes, { version: deps.version });
  // The dashboard's files; what it shows comes from the admin API below.
  await app.register(uiRoutes);
  const metricsBody = registerMetrics(app, {
    store: deps.store,
    liveness: () => deps.sync.liveness,
    longPollsWaiting: () => deps.sync.waiting,
    inventoriesAsked: () => deps.sync.inventoriesAsked,
    leading: deps.leading,
    caLifetimes: () => deps.trust.caLifetimes(),
  });
  app.decorate('metricsBody', metricsBody);
  const maxWorkBytes = deps.maxWorkBytes ?? limits.workBytes;
  await app.register(agentApi, {
    store: deps.store,
    trust: deps.trust,
    sync: deps.sync,
    maxWorkBytes,
    bodies: statusBodies,
  });
  // Push webhooks: signed by the GitRepo's secret, not a bearer token (outside the admin API).
  await app.register(gitRepoWebhookRoutes, {
    store: deps.store,
    audit,
    secrets: deps.secrets,
    onGitRepoChanged: deps.onGitRepoChanged,
  });
  await app.register(adminApi, {
    store: deps.store,
    trust: deps.trust,
    advertiseUrl: deps.advertiseUrl,
    maxWorkBytes,
    sync: deps.sync,
    placements: deps.placements,
    bodies,
    audit,
    version: deps.version,
    onWorkSetChanged: deps.onWorkSetChanged,
    onGitRepoChanged: deps.onGitRepoChanged,
    secrets: deps.secrets,
    gitFileRoot: deps.gitFileRoot,
  });
  return app;
}
