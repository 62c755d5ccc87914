// A JSON client for a hub started by hub-process.ts, on undici: plain TLS that trusts the
// hub CA (or any bundle given), an optional client certificate for the agent API (mTLS),
// and the admin bearer token from `<dataDir>/admin.token`. Plus the few join helpers the
// registration and admin e2e tests share: key + CSR, register, approve.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import {
  agentPaths,
  agentSubject,
  type CryptoKeyPair,
  createCsr,
  generateKeyPair,
  privateKeyToPem,
  type RegistrationView,
} from '../../packages/shared/src/index.ts';
import { hubMain } from './hub-process.ts';

export interface HubLike {
  url: string;
  caCertPem: string;
  dataDir: string;
}

export interface ClientOptions {
  /** PEM CAs the hub's serving certificate must chain to; default: the hub's CA at start. */
  ca?: string | undefined;
  /** Client certificate and key (PEM) for the mTLS agent endpoints. */
  cert?: string | undefined;
  key?: string | undefined;
  /** Bearer token sent on every request unless a call overrides it. */
  token?: string | undefined;
  /** Connections per origin (1 = every request on the same kept-alive socket). */
  connections?: number | undefined;
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON body; undefined when the body is empty or not JSON. */
  body: T;
}

export interface CallOptions {
  /** Sent as JSON (content-type application/json). */
  json?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Overrides the client's bearer token for this call; null sends none. */
  token?: string | null;
  timeoutMs?: number;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class HubClient {
  readonly url: string;
  readonly agent: Agent;
  readonly #token: string | undefined;
  /** TLS connections this client opened (undici 'connect' events). */
  connects = 0;

  constructor(url: string, opts: ClientOptions & { ca: string }) {
    this.url = url.replace(/\/+$/, '');
    this.#token = opts.token;
    this.agent = new Agent({
      connect: { ca: opts.ca, cert: opts.cert, key: opts.key },
      connections: opts.connections ?? 4,
      keepAliveTimeout: 30_000,
    });
    this.agent.on('connect', () => {
      this.connects += 1;
    });
  }

  async call<T = unknown>(method: Method, path: string, opts: CallOptions = {}): Promise<JsonResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    const token = opts.token === undefined ? this.#token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Buffer | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = opts.contentType ?? 'application/json';
    } else if (opts.raw !== undefined) {
      body = opts.raw;
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const timeout = opts.timeoutMs ?? 15_000;
    const res = await request(`${this.url}${path}`, {
      method,
      headers,
      body,
      dispatcher: this.agent,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, body: parsed as T };
  }

  get<T = unknown>(path: string, opts?: CallOptions) {
    return this.call<T>('GET', path, opts);
  }
  post<T = unknown>(path: string, json?: unknown, opts?: CallOptions) {
    return this.call<T>('POST', path, { ...opts, json });
  }
  patch<T = unknown>(path: string, json?: unknown, opts?: CallOptions) {
    return this.call<T>('PATCH', path, { contentType: 'application/merge-patch+json', ...opts, json });
  }
  delete<T = unknown>(path: string, opts?: CallOptions) {
    return this.call<T>('DELETE', path, opts);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** `outpost-hub ARGS` against `hub` with its admin token: the exit code, standard output and error. */
export async function hubCli(hub: HubLike, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = spawn(process.execPath, [hubMain, ...args, '--hub', hub.url, '--ca-cert', join(hub.dataDir, 'ca.crt')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OUTPOST_TOKEN: await readAdminToken(hub.dataDir) },
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = await once(proc, 'exit');
  return { code: code as number, out, err };
}

export async function readAdminToken(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
}

/** A client with the hub's first admin token. */
export async function adminClient(hub: HubLike, opts: ClientOptions = {}): Promise<HubClient> {
  return new HubClient(hub.url, { ...opts, ca: opts.ca ?? hub.caCertPem, token: await readAdminToken(hub.dataDir) });
}

/** A client without credentials (joiners, probes). */
export function anonymousClient(hub: HubLike, opts: ClientOptions = {}): HubClient {
  return new HubClient(hub.url, { ...opts, ca: opts.ca ?? hub.caCertPem });
}

/** A client presenting an agent certificate. */
export function agentClient(
  hub: HubLike,
  identity: { certPem: string; keyPem: string },
  opts: ClientOptions = {},
): HubClient {
  return new HubClient(hub.url, {
    ...opts,
    ca: opts.ca ?? hub.caCertPem,
    cert: identity.certPem,
    key: identity.keyPem,
  });
}

/** Asserts an error answer: HTTP status, exactly `{ code, message[, details] }`, the stable code. */
export function assertError(res: JsonResponse, status: number, code: string, what = ''): void {
  const label = `${what ? `${what}: ` : ''}${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, label);
  const body = res.body as { code?: unknown; message?: unknown } | undefined;
  assert.ok(body && typeof body === 'object', `${label}: error body is JSON`);
  assert.equal(body.code, code, label);
  assert.equal(typeof body.message, 'string', label);
}

// --- joining -------------------------------------------------------------------------

export interface Joiner {
  name: string;
  keys: CryptoKeyPair;
  keyPem: string;
  csr: string;
}

/** A fresh ECDSA P-256 key and a CSR with the subject the hub requires for `name`. */
export async function newJoiner(name: string): Promise<Joiner> {
  const keys = await generateKeyPair();
  return { name, keys, keyPem: await privateKeyToPem(keys.privateKey), csr: await createCsr(keys, agentSubject(name)) };
}

export interface TokenCreated {
  id: string;
  token: string;
  caCertHash: string;
}

/** POST /api/v1/bootstraptokens; returns the id and the whole `ID.SECRET`. */
export async function createToken(admin: HubClient, spec: Record<string, unknown> = {}): Promise<TokenCreated> {
  const res = await admin.post<{ metadata: { name: string }; status: { token: string }; caCertHash: string }>(
    '/api/v1/bootstraptokens',
    { spec },
  );
  assert.equal(res.status, 201, res.text);
  return { id: res.body.metadata.name, token: res.body.status.token, caCertHash: res.body.caCertHash };
}

export function register(
  client: HubClient,
  token: string,
  joiner: Pick<Joiner, 'name' | 'csr'>,
  extra: Record<string, unknown> = {},
) {
  return client.post<RegistrationView>(agentPaths.registrations, {
    token,
    clusterName: joiner.name,
    csr: joiner.csr,
    ...extra,
  });
}

export interface JoinedCluster extends Joiner {
  certPem: string;
  caBundle: string;
  registrationId: string;
}

/** Registers with an auto-approving token (or approves as admin) and returns the credentials. */
export async function joinCluster(
  hub: HubLike,
  admin: HubClient,
  name: string,
  opts: { token?: string; labels?: Record<string, string>; extra?: Record<string, unknown> } = {},
): Promise<JoinedCluster> {
  const joiner = await newJoiner(name);
  const token = opts.token ?? (await createToken(admin, { autoApprove: true, ttl: '10m' })).token;
  const anon = anonymousClient(hub);
  try {
    const res = await register(anon, token, joiner, { labels: opts.labels, ...opts.extra });
    assert.equal(res.status, 201, res.text);
    let view = res.body;
    if (view.state === 'Pending') {
      const ok = await admin.post(`/api/v1/clusters/${name}/approve`);
      assert.equal(ok.status, 200, ok.text);
      const again = await anon.get<RegistrationView>(agentPaths.registration(view.id));
      assert.equal(again.status, 200, again.text);
      view = again.body;
    }
    assert.equal(view.state, 'Approved', JSON.stringify(view));
    assert.ok(view.certificate && view.caBundle, 'an approved registration carries the certificate and bundle');
    return { ...joiner, certPem: view.certificate, caBundle: view.caBundle, registrationId: view.id };
  } finally {
    await anon.close();
  }
}

/**
 * Reports, as `cluster`'s agent, generation 1 of its work `work` (uid `uid`) Applied, with
 * each of `objects` Applied and Available: what a real agent sends once it applied them.
 */
export async function reportApplied(
  hub: HubLike,
  identity: { certPem: string; keyPem: string },
  cluster: string,
  work: { name: string; uid: string },
  objects: { group: string; version: string; kind: string; resource: string; namespace?: string; name: string }[],
): Promise<void> {
  const agent = agentClient(hub, identity);
  const ok = (type: string) => ({ type, status: 'True', reason: type, message: '' });
  try {
    const reported = await agent.post(agentPaths.status(cluster), {
      reports: [
        {
          seq: 1,
          work: work.name,
          uid: work.uid,
          generation: 1,
          observedAt: new Date().toISOString(),
          status: {
            conditions: [ok('Applied')],
            resourceStatus: {
              manifests: objects.map((o, ordinal) => ({
                resourceMeta: { ordinal, ...o },
                conditions: [ok('Applied'), ok('Available')],
              })),
            },
            observedGeneration: 1,
          },
        },
      ],
    });
    assert.equal(reported.status, 200, reported.text);
  } finally {
    await agent.close();
  }
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A ManifestWork as the admin API shows it, as far as waits read it. */
export interface WorkView {
  metadata: { generation: number };
  status: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}

/** Waits until the hub shows work `cluster`/`name` Applied at `generation`; resolves with it. */
export function waitWorkApplied(
  admin: Pick<HubClient, 'get'>,
  cluster: string,
  name: string,
  generation: number,
  timeoutMs = 30_000,
): Promise<WorkView> {
  return waitFor(
    `work ${cluster}/${name} Applied at generation ${generation}`,
    async () => {
      const w = (await admin.get<WorkView>(`/api/v1/clusters/${cluster}/works/${name}`)).body;
      const ok = w.status.conditions?.find((c) => c.type === 'Applied')?.status === 'True';
      return w.status.observedGeneration === generation && ok ? w : undefined;
    },
    timeoutMs,
  );
}
