// /agent/v1: what agents call. Registration is authenticated by a bootstrap token; the
// rest by the verified client certificate alone. An agent's identity is the cluster its
// certificate names, checked on every request (not per connection), so a revocation
// applies to the very next request even on a connection kept alive from before.
import { pipeline, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createGzip } from 'node:zlib';
import {
  agentApiPrefix,
  agentPaths,
  apiError,
  bundleHashes,
  type CaBundleResponse,
  type ClusterSelfView,
  clusterFromCommonName,
  durations,
  type HeartbeatRequest,
  protocolVersion,
  type RenewRequest,
  type SyncRequest,
} from '@outpost/shared';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { type BodyThread, RawBody } from '../parse/index.ts';
import { clusterResource } from '../registration/clusters.ts';
import { supersededReason, type TrustService } from '../registration/service.ts';
import type { ClusterRow, Store } from '../store/index.ts';
import type { SyncService } from '../sync/service.ts';
import { jsonParts, jsonStream, partsOver } from '../work/raw-json.ts';
import { storedReader } from '../work/texts.ts';

export interface AgentIdentity {
  cluster: ClusterRow;
  serial: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    agent?: AgentIdentity;
  }
}

/**
 * The verified peer of each connection, read from its certificate once: a connection keeps
 * its certificate (renegotiation is off, app.ts), and an idle agent's poll then costs no
 * certificate parse. Only the TLS part is kept; the hub's records are checked per request.
 */
const peers = new WeakMap<TLSSocket, { name: string; serial: string; since: number }>();

/** Resolves and checks the calling agent from its client certificate. */
export async function identifyAgent(store: Store, req: FastifyRequest): Promise<AgentIdentity> {
  const socket = req.raw.socket as TLSSocket;
  const known = peers.get(socket);
  if (known) return checkStanding(store, known.name, known.serial);
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  if (!peer?.subject) throw apiError('AGENT_CERT_REQUIRED', 'this endpoint needs a client certificate from the hub');
  if (!socket.authorized && String(socket.authorizationError) === 'CERT_HAS_EXPIRED') {
    throw apiError('AGENT_CERT_EXPIRED', 'the client certificate has expired; see `outpost-hub cluster recover`');
  }
  if (!socket.authorized) {
    throw apiError(
      'AGENT_CERT_REQUIRED',
      `the client certificate is not trusted by this hub (${String(socket.authorizationError)})`,
    );
  }
  const cn = Array.isArray(peer.subject.CN) ? undefined : peer.subject.CN;
  const name = clusterFromCommonName(cn);
  if (!name) throw apiError('AGENT_CERT_REQUIRED', 'the client certificate is not an Outpost agent certificate');
  const serial = peer.serialNumber.toLowerCase();
  peers.set(socket, { name, serial, since: Date.now() });
  return checkStanding(store, name, serial);
}

/**
 * What the hub's records say about certificate `serial` of cluster `name` now: known, not
 * revoked, not expired, the cluster accepted. Also used again when a held long-poll is about
 * to answer; there a certificate superseded by a renewal in the meantime is no refusal.
 * Every agent request runs it: two reads, no transaction.
 */
export async function checkStanding(
  store: Store,
  name: string,
  serial: string,
  opts: { allowSuperseded?: boolean } = {},
): Promise<AgentIdentity> {
  const cert = await store.certificates.get(serial);
  if (!cert || cert.clusterName !== name) {
    throw apiError('AGENT_CERT_REVOKED', 'this hub has no record of the client certificate; re-join the cluster');
  }
  if (cert.revokedAt && !(opts.allowSuperseded && cert.revokeReason === supersededReason)) {
    // The reason says that this hub's records revoked it (an agent may stop on denied or
    // removed); a certificate it has no record of (a replaced database) has none.
    const reason = cert.revokeReason ?? 'revoked';
    throw apiError('AGENT_CERT_REVOKED', `the client certificate was revoked (${reason})`, { reason });
  }
  // TLS checks expiry only in a full handshake; a resumed session keeps the old verdict.
  if (Date.parse(cert.notAfter) <= Date.now()) {
    throw apiError(
      'AGENT_CERT_EXPIRED',
      `the client certificate expired at ${cert.notAfter}; see \`outpost-hub cluster recover\``,
    );
  }
  const cluster = await store.clusters.get(name);
  if (!cluster) throw apiError('CLUSTER_NOT_FOUND', `cluster ${name} is not registered on this hub`);
  if (!cluster.hubAcceptsClient) throw apiError('AGENT_NOT_ACCEPTED', `the hub does not accept cluster ${name}`);
  return { cluster, serial };
}

interface AgentApiOptions {
  store: Store;
  trust: TrustService;
  sync: SyncService;
  maxWorkBytes: number;
  /** Reads status batches off the event loop (a thread of their own: admin bodies do not
   *  hold up the fleet's status intake). */
  bodies: BodyThread;
}

/** Below this a gzip frame costs more than it saves. */
const compressAbove = 1024;

const mtlsRoutes: FastifyPluginAsync<AgentApiOptions> = async (app, { store, trust, sync, maxWorkBytes, bodies }) => {
  app.addHook('onRequest', async (req) => {
    const id = await identifyAgent(store, req);
    const { name } = req.params as { name?: string };
    if (name !== undefined && name !== id.cluster.name) {
      throw apiError(
        'AGENT_IDENTITY_MISMATCH',
        `cluster ${id.cluster.name} may not act for cluster ${String(name).slice(0, 63)}`,
      );
    }
    req.agent = id;
    await trust.certificateUsed(id.cluster.name, id.serial);
  });

  app.post(`${agentApiPrefix}/clusters/:name/heartbeat`, async (req) => {
    const agent = req.agent as AgentIdentity;
    return trust.heartbeat(agent.cluster, req.body as HeartbeatRequest | undefined, agent.serial);
  });

  // Read-only, and deliberately not a sighting: it neither marks the cluster seen nor
  // changes its claims, so a caller that is not the running agent (the installer) can
  // watch for one.
  app.get(`${agentApiPrefix}/clusters/:name`, async (req): Promise<ClusterSelfView> => {
    const agent = req.agent as AgentIdentity;
    const now = Date.now();
    const view = clusterResource(agent.cluster, undefined, now, sync.liveness);
    return {
      cluster: agent.cluster.name,
      conditions: view.status.conditions,
      ...(view.status.lastSeen ? { lastSeen: view.status.lastSeen } : {}),
      serverTime: new Date(now).toISOString(),
    };
  });

  app.post(`${agentApiPrefix}/clusters/:name/sync`, async (req, reply) => {
    const agent = req.agent as AgentIdentity;
    const body = req.body as Partial<SyncRequest> | undefined;
    if (!body || typeof body.revision !== 'number' || body.revision < 0) {
      throw apiError(
        'BODY_MALFORMED',
        'body must be { revision: number, hubEpoch?, inventory?, waitSeconds?, features?: string[], heartbeat? }',
      );
    }
    const { features } = body;
    if (
      features !== undefined &&
      (!Array.isArray(features) || features.length > 32 || features.some((f) => typeof f !== 'string'))
    ) {
      throw apiError('BODY_MALFORMED', 'features must be a list of at most 32 strings');
    }
    const { heartbeat } = body;
    if (heartbeat !== undefined && (heartbeat === null || typeof heartbeat !== 'object' || Array.isArray(heartbeat))) {
      throw apiError('BODY_MALFORMED', 'heartbeat must be an object (the fields of a heartbeat request)');
    }
    // The poll is the heartbeat: what it says is noted now, and answered when the poll is.
    if (heartbeat) await trust.noteHeartbeat(agent.cluster, heartbeat);
    // A long-poll ends early when the agent goes away, and the hub notes that it went.
    const abort = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded) sync.dropped(agent.cluster.name);
      abort.abort();
    });
    const res = await sync.sync(agent.cluster, body as SyncRequest, abort.signal);
    // The poll may have been held for many seconds: a deny, removal or revocation in the
    // meantime must not be answered with work content. The records are checked again (the
    // TLS part cannot have changed), except that a renewal during the hold is no refusal.
    await checkStanding(store, agent.cluster.name, agent.serial, { allowSuperseded: true });
    if (heartbeat) res.heartbeat = await trust.heartbeatAnswer(agent.cluster.name, agent.serial);
    res.reconnectWindowSeconds = sync.reconnectWindowSeconds;
    // A connection older than a day is closed once this answer is out: the agent reconnects
    // at once with a resumed session and a fresh ticket, so a hub restart finds tickets young
    // enough to resume (pki/tickets.ts).
    const since = peers.get(req.raw.socket as TLSSocket)?.since;
    if (since !== undefined && Date.now() - since > durations.agentConnectionMaxAgeMs) {
      void reply.header('connection', 'close');
    }
    // Manifests go out as the stored texts, part by part (work/raw-json.ts), compressed on
    // zlib's threads.
    const parts = jsonParts(res);
    void reply.header('content-type', 'application/json; charset=utf-8');
    // Below compressAbove a gzip frame costs more than it saves: such an answer (an
    // unchanged poll, a small change) goes out as it is.
    const large = await partsOver(parts, compressAbove, (hash) => store.works.textSize(hash));
    const answer = jsonStream(parts, storedReader(store));
    if (large && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      void reply.header('content-encoding', 'gzip');
      const gzip = createGzip();
      pipeline(typeof answer === 'string' ? Readable.from([answer]) : answer, gzip, () => {});
      return reply.send(gzip);
    }
    return reply.send(answer);
  });

  // Status batches carry whole work statuses (many manifests), so they get the work limit,
  // and are validated and made text on the body thread.
  app.post(
    `${agentApiPrefix}/clusters/:name/status`,
    { bodyLimit: maxWorkBytes, config: { bodyThread: true } },
    async (req) => {
      const agent = req.agent as AgentIdentity;
      const batch = await bodies.status(RawBody.of(req.body));
      // As for a held poll: a deny, removal or revocation while the body was read wins.
      await checkStanding(store, agent.cluster.name, agent.serial, { allowSuperseded: true });
      return sync.status(agent.cluster, batch);
    },
  );

  app.post(`${agentApiPrefix}/clusters/:name/certificate`, async (req) => {
    const agent = req.agent as AgentIdentity;
    const body = req.body as Partial<RenewRequest> | undefined;
    return trust.renew(agent.cluster.name, body?.csr, agent.serial);
  });
};

export const agentApi: FastifyPluginAsync<AgentApiOptions> = async (app: FastifyInstance, opts) => {
  const { trust } = opts;
  app.addHook('onRequest', async (req) => {
    const version = req.headers['x-outpost-protocol'];
    if (typeof version === 'string' && version.split('.')[0] !== protocolVersion) {
      throw apiError(
        'PROTOCOL_UNSUPPORTED',
        `this hub speaks agent protocol ${protocolVersion}, the agent sent ${version.slice(0, 16)}`,
      );
    }
  });
  app.get(agentPaths.caBundle, async (): Promise<CaBundleResponse> => {
    const caBundle = trust.caBundle();
    return { caBundle, caHashes: bundleHashes(caBundle) };
  });

  app.post(agentPaths.registrations, async (req, reply) => {
    const view = await trust.register(req.body, req.ip);
    if (view.retryAfterSeconds) void reply.header('retry-after', String(view.retryAfterSeconds));
    return reply.code(201).send(view);
  });

  app.get(`${agentApiPrefix}/registrations/:id`, async (req, reply) => {
    const view = await trust.getRegistration((req.params as { id: string }).id);
    if (view.retryAfterSeconds) void reply.header('retry-after', String(view.retryAfterSeconds));
    return view;
  });

  await app.register(mtlsRoutes, opts);
};
