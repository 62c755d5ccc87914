// The few Secret and Namespace calls of the agent's own stores (credentials, durable
// state), over the same kept-alive KubeRest the applier uses: one pool of connections
// instead of a new TLS handshake per call. A non-2xx answer throws a KubeApiError carrying
// the status, which kube/errors.ts reads.
import type { KubeRest } from '../apply/rest.ts';

export interface Secret {
  apiVersion?: 'v1';
  kind?: 'Secret';
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string | undefined;
    creationTimestamp?: string;
  };
  type?: string;
  /** Values in base64, as the API has them. */
  data?: Record<string, string>;
}

export interface SecretList {
  items: Secret[];
  metadata?: { continue?: string; resourceVersion?: string };
}

export interface NamespaceBody {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: { name: string; labels?: Record<string, string> };
}

/** The calls the stores make; each store names the subset it needs. */
export interface SecretsApi {
  list(namespace: string, opts: { labelSelector?: string; limit?: number; continue?: string }): Promise<SecretList>;
  get(namespace: string, name: string): Promise<Secret>;
  create(namespace: string, body: Secret): Promise<Secret>;
  replace(namespace: string, name: string, body: Secret): Promise<Secret>;
  delete(namespace: string, name: string): Promise<void>;
  createNamespace(body: NamespaceBody): Promise<void>;
}

/** A non-2xx answer: `code` is the HTTP status, `body` the apiserver's Status (or text). */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: unknown;

  constructor(what: string, code: number, body: unknown) {
    const reason = body && typeof body === 'object' ? (body as { message?: string }).message : undefined;
    super(`${what}: HTTP ${code}${reason ? `: ${reason}` : ''}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.body = body;
  }
}

const seg = encodeURIComponent;

export class SecretsClient implements SecretsApi {
  readonly #rest: KubeRest;

  constructor(rest: KubeRest) {
    this.#rest = rest;
  }

  async #call<T>(
    what: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    query?: Record<string, string | undefined>,
  ): Promise<T> {
    const res = await this.#rest.request({ method, path, body, ...(query ? { query } : {}) });
    if (res.status < 200 || res.status > 299) throw new KubeApiError(what, res.status, res.body);
    return res.body as T;
  }

  list(namespace: string, opts: { labelSelector?: string; limit?: number; continue?: string }): Promise<SecretList> {
    return this.#call('list Secrets', 'GET', `/api/v1/namespaces/${seg(namespace)}/secrets`, undefined, {
      labelSelector: opts.labelSelector,
      limit: opts.limit === undefined ? undefined : String(opts.limit),
      continue: opts.continue,
    });
  }

  get(namespace: string, name: string): Promise<Secret> {
    return this.#call(`get Secret ${name}`, 'GET', `/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}`);
  }

  create(namespace: string, body: Secret): Promise<Secret> {
    return this.#call(`create Secret`, 'POST', `/api/v1/namespaces/${seg(namespace)}/secrets`, body);
  }

  replace(namespace: string, name: string, body: Secret): Promise<Secret> {
    return this.#call(
      `replace Secret ${name}`,
      'PUT',
      `/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}`,
      body,
    );
  }

  async delete(namespace: string, name: string): Promise<void> {
    await this.#call(`delete Secret ${name}`, 'DELETE', `/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}`);
  }

  async createNamespace(body: NamespaceBody): Promise<void> {
    await this.#call(`create namespace ${body.metadata.name}`, 'POST', '/api/v1/namespaces', body);
  }
}
