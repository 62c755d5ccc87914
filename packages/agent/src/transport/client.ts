// The hub client: JSON over HTTPS on a connection pool (http.ts) whose TLS settings (trusted
// CAs, client certificate) can be swapped while the process runs. A swap builds a new pool
// for the next request and closes the old one gracefully: requests already on it finish,
// then its sockets close. Nothing here retries; callers decide with backoff.ts.

import { protocolVersion } from '@outpost/shared';
import { gunzip } from '../gzip.ts';
import { agentVersion } from '../version.ts';
import { parseRetryAfter } from './backoff.ts';
import { HubError, networkError, responseError } from './errors.ts';
import { HttpPool, type HttpResponse, readAll } from './http.ts';

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
}

export type TrustMaterial =
  | {
      /** PEM CAs the hub's serving certificate must chain to (normal verification, hostname included). */
      ca: string;
      /** Client certificate for the mTLS endpoints. */
      identity?: TlsIdentity | undefined;
      insecureSkipVerify?: false;
    }
  | {
      /** Discovery only: accept any serving certificate, because the bundle is checked against the pin after. */
      insecureSkipVerify: true;
    };

export interface HubResponse<T> {
  status: number;
  body: T;
  retryAfterMs: number | undefined;
}

export interface RequestOptions {
  signal?: AbortSignal | undefined;
  /** Largest answer accepted (after decompression); default `maxResponseBytes`. */
  maxBytes?: number;
  /** For long-polls: how long the hub may take before answering at all. */
  headersTimeoutMs?: number;
  /** Ask for a gzip answer (the sync endpoint compresses large answers). */
  acceptGzip?: boolean;
}

/** Largest answer read from a hub: an untrusted server during discovery must not exhaust memory. */
export const maxResponseBytes = 4 * 1024 * 1024;

const timeouts = { connectMs: 10_000, headersMs: 30_000, bodyMs: 30_000 } as const;

/**
 * Connect timeout (TCP and TLS handshake) of the running agent. A hub answers handshakes
 * slowly only when it works through a queue of them (a restart of a large fleet): one given
 * up after 10 s is work the hub did for nothing, and sends the agent to the back of the next
 * reconnect window (measured at 10,000 agents: a thousand retries, the last back after a
 * minute). Interactive commands keep 10 s, so a wrong address fails fast.
 */
export const runningConnectTimeoutMs = 30_000;

function makePool(trust: TrustMaterial, connectTimeoutMs: number): HttpPool {
  const tls = trust.insecureSkipVerify
    ? { rejectUnauthorized: false }
    : {
        rejectUnauthorized: true,
        ca: trust.ca,
        ...(trust.identity ? { key: trust.identity.keyPem, cert: trust.identity.certPem } : {}),
      };
  return new HttpPool({
    ...tls,
    connectTimeoutMs,
    headersTimeoutMs: timeouts.headersMs,
    bodyTimeoutMs: timeouts.bodyMs,
    keepAliveMs: 30_000,
  });
}

async function readBody(body: HttpResponse['body'], maxBytes: number, gzipped: boolean): Promise<string> {
  const raw = await readAll(body, maxBytes);
  // maxOutputLength bounds a decompression bomb the same way the raw size is bounded.
  return (gzipped ? gunzip(raw, { maxOutputLength: maxBytes }) : raw).toString('utf8');
}

export class HubClient {
  readonly hubUrl: string;
  #pool: HttpPool;
  #closed = false;
  readonly #onCloseError: (err: unknown) => void;
  readonly #connectTimeoutMs: number;

  constructor(
    hubUrl: string,
    trust: TrustMaterial,
    opts: { onCloseError?: (err: unknown) => void; connectTimeoutMs?: number } = {},
  ) {
    this.hubUrl = hubUrl;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? timeouts.connectMs;
    this.#pool = makePool(trust, this.#connectTimeoutMs);
    this.#onCloseError = opts.onCloseError ?? (() => {});
  }

  /**
   * New TLS material for every request from now on. The old pool drains in the
   * background: a request in flight on it completes with the old certificate.
   */
  setTrust(trust: TrustMaterial): void {
    if (this.#closed) throw new Error('hub client is closed');
    const old = this.#pool;
    this.#pool = makePool(trust, this.#connectTimeoutMs);
    old.close().catch(this.#onCloseError);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }

  get<T>(path: string, opts: RequestOptions = {}): Promise<HubResponse<T>> {
    return this.#request<T>('GET', path, undefined, opts);
  }

  post<T>(path: string, body: unknown, opts: RequestOptions = {}): Promise<HubResponse<T>> {
    return this.#request<T>('POST', path, body, opts);
  }

  async #request<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    opts: RequestOptions,
  ): Promise<HubResponse<T>> {
    const url = `${this.hubUrl}${path}`;
    let status: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const res = await this.#pool.request({
        method,
        url,
        headers: {
          accept: 'application/json',
          'user-agent': `outpost-agent/${agentVersion}`,
          'x-outpost-protocol': protocolVersion,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(opts.acceptGzip ? { 'accept-encoding': 'gzip' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: opts.signal,
        ...(opts.headersTimeoutMs ? { headersTimeoutMs: opts.headersTimeoutMs } : {}),
      });
      status = res.status;
      headers = res.headers;
      text = await readBody(res.body, opts.maxBytes ?? maxResponseBytes, headers['content-encoding'] === 'gzip');
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw networkError(this.hubUrl, err);
    }
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    if (status < 200 || status >= 300) throw responseError(status, text, retryAfterMs);
    let parsed: T;
    try {
      parsed = (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new HubError('AGENT_HUB_BAD_RESPONSE', `the hub's answer to ${method} ${path} is not JSON`, {
        status,
        transient: false,
      });
    }
    return { status, body: parsed, retryAfterMs };
  }
}
