// The /agent/v1 calls, typed from @outpost/shared's protocol, with a shape check on every
// answer: a field the agent relies on that is missing is AGENT_HUB_BAD_RESPONSE, not a
// TypeError three functions later.
import {
  agentPaths,
  type CaBundleResponse,
  type ClusterSelfView,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterRequest,
  type RegistrationView,
  type RenewResponse,
  registrationStates,
  type StatusAck,
  type StatusBatch,
  type SyncRequest,
  type SyncResponse,
} from '@outpost/shared';
import type { HubClient, RequestOptions } from './client.ts';
import { HubError } from './errors.ts';

function bad(what: string): HubError {
  return new HubError('AGENT_HUB_BAD_RESPONSE', `the hub's answer lacks ${what}`, { status: 200, transient: false });
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

export async function fetchCaBundle(client: HubClient, opts?: RequestOptions): Promise<CaBundleResponse> {
  const { body } = await client.get<Partial<CaBundleResponse>>(agentPaths.caBundle, opts);
  if (!body || !isString(body.caBundle) || !body.caBundle.includes('-----BEGIN CERTIFICATE-----')) {
    throw bad('a PEM caBundle');
  }
  return { caBundle: body.caBundle, caHashes: Array.isArray(body.caHashes) ? body.caHashes.filter(isString) : [] };
}

export interface RegistrationAnswer {
  view: RegistrationView;
  retryAfterMs: number | undefined;
}

function checkView(body: Partial<RegistrationView> | undefined): RegistrationView {
  if (!body || !isString(body.id) || !isString(body.clusterName)) throw bad('a registration id');
  if (!registrationStates.includes(body.state as RegistrationView['state'])) throw bad('a registration state');
  if (body.state === 'Approved' && (!isString(body.certificate) || !isString(body.caBundle))) {
    throw bad('the certificate and CA bundle of an approved registration');
  }
  return body as RegistrationView;
}

export async function createRegistration(
  client: HubClient,
  req: RegisterRequest,
  opts?: RequestOptions,
): Promise<RegistrationAnswer> {
  const res = await client.post<Partial<RegistrationView>>(agentPaths.registrations, req, opts);
  return { view: checkView(res.body), retryAfterMs: res.retryAfterMs };
}

export async function getRegistration(
  client: HubClient,
  id: string,
  opts?: RequestOptions,
): Promise<RegistrationAnswer> {
  const res = await client.get<Partial<RegistrationView>>(agentPaths.registration(id), opts);
  return { view: checkView(res.body), retryAfterMs: res.retryAfterMs };
}

export async function sendHeartbeat(
  client: HubClient,
  cluster: string,
  req: HeartbeatRequest,
  opts?: RequestOptions,
): Promise<HeartbeatResponse> {
  const { body } = await client.post<Partial<HeartbeatResponse>>(agentPaths.heartbeat(cluster), req, opts);
  const answer = heartbeatAnswer(body, cluster);
  if (!answer) throw bad('caBundleHash');
  return answer;
}

/** A heartbeat answer as the agent takes it (its own request's, or the one a poll carried). */
function heartbeatAnswer(body: Partial<HeartbeatResponse> | undefined, cluster: string): HeartbeatResponse | undefined {
  if (!body || typeof body !== 'object' || !isString(body.caBundleHash)) return undefined;
  return {
    cluster: isString(body.cluster) ? body.cluster : cluster,
    caBundleHash: body.caBundleHash,
    renewNow: body.renewNow === true,
    serverTime: isString(body.serverTime) ? body.serverTime : '',
  };
}

/** The hub's view of this cluster; reading it does not count as the agent being seen. */
export async function readClusterSelf(
  client: HubClient,
  cluster: string,
  opts?: RequestOptions,
): Promise<ClusterSelfView> {
  const { body } = await client.get<Partial<ClusterSelfView>>(agentPaths.cluster(cluster), opts);
  if (!body || !Array.isArray(body.conditions) || !isString(body.serverTime)) throw bad('conditions and serverTime');
  return {
    cluster: isString(body.cluster) ? body.cluster : cluster,
    conditions: body.conditions,
    ...(isString(body.lastSeen) ? { lastSeen: body.lastSeen } : {}),
    serverTime: body.serverTime,
  };
}

export async function renewCertificate(
  client: HubClient,
  cluster: string,
  csr: string,
  opts?: RequestOptions,
): Promise<RenewResponse> {
  const { body } = await client.post<Partial<RenewResponse>>(agentPaths.certificate(cluster), { csr }, opts);
  if (!body || !isString(body.certificate) || !isString(body.caBundle)) throw bad('the certificate and CA bundle');
  return { certificate: body.certificate, caBundle: body.caBundle };
}

/** Largest sync answer: a 16 MiB work as JSON, with room for escaping. */
export const maxSyncResponseBytes = 64 * 1024 * 1024;

export async function pollSync(
  client: HubClient,
  cluster: string,
  req: SyncRequest,
  opts: RequestOptions = {},
): Promise<SyncResponse> {
  const { body } = await client.post<Partial<SyncResponse>>(agentPaths.sync(cluster), req, {
    ...opts,
    maxBytes: maxSyncResponseBytes,
    acceptGzip: true,
    // The hub holds an unchanged poll for up to waitSeconds (+10 % jitter).
    headersTimeoutMs: ((req.waitSeconds ?? 30) * 1.1 + 15) * 1000,
  });
  if (!body || !isString(body.hubEpoch) || typeof body.revision !== 'number' || !Array.isArray(body.works)) {
    throw bad('hubEpoch, revision and works');
  }
  // What the poll carried back is taken as a heartbeat's answer is, or not at all (the agent
  // then heartbeats on its own); the reconnect window only as a sane number.
  const { heartbeat, reconnectWindowSeconds, ...rest } = body as SyncResponse;
  const answer = heartbeat === undefined ? undefined : heartbeatAnswer(heartbeat, cluster);
  return {
    ...rest,
    ...(answer ? { heartbeat: answer } : {}),
    ...(typeof reconnectWindowSeconds === 'number' && reconnectWindowSeconds >= 0 && reconnectWindowSeconds <= 600
      ? { reconnectWindowSeconds }
      : {}),
  };
}

export async function postStatus(
  client: HubClient,
  cluster: string,
  batch: StatusBatch,
  opts?: RequestOptions,
): Promise<StatusAck> {
  const { body } = await client.post<Partial<StatusAck>>(agentPaths.status(cluster), batch, opts);
  if (!body || typeof body.ackedSeq !== 'number') throw bad('ackedSeq');
  return { ackedSeq: body.ackedSeq };
}
