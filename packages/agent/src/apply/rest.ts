// The spoke's kube-apiserver as the apply engine sees it: one REST call at a time, JSON in
// and out, and every answer (2xx or not) returned as a value, so the caller decides what a
// 404 or a 409 means. Only a request that got no answer at all throws.
//
// Why not KubernetesObjectApi from @kubernetes/client-node: it round-trips bodies through
// its typed models, which silently drops fields it does not know and rewrites values of the
// wrong type (a ConfigMap's `data: 5` never reaches the apiserver), so the apiserver could
// not reject a bad manifest with its own message. It also hides the 201-versus-200 answer
// of server-side apply, which is how the applier learns that it created an object. The
// connection (server, CA, client certificate, token, exec plugin) comes from kube/config.ts.
import { type KubeConnection, type KubeCredentials, readCredentials } from '../kube/config.ts';
import { HttpPool, readText } from '../transport/http.ts';
import { Http2Pool, type HttpTransport } from '../transport/http2.ts';
import { agentVersion } from '../version.ts';

export type KubeMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface KubeRequest {
  method: KubeMethod;
  /** Absolute API path, e.g. `/api/v1/namespaces/default/configmaps/a`. */
  path: string;
  query?: Record<string, string | boolean | undefined>;
  /** Sent as JSON (also for `application/apply-patch+yaml`: JSON is YAML). */
  body?: unknown;
  contentType?: string;
  accept?: string;
  /**
   * Sent as `Impersonate-User` (the agent then needs `impersonate` on it). A ServiceAccount's
   * user name brings that account's groups, as the apiserver adds them.
   */
  impersonateUser?: string;
  signal?: AbortSignal | undefined;
}

export interface KubeResponse {
  status: number;
  contentType: string;
  /** Parsed JSON (an object, a list or a `Status`), or the raw text when the answer is not JSON. */
  body: unknown;
}

/** The one call the apply engine makes; tests may pass a small fake. */
export interface KubeRest {
  request(req: KubeRequest): Promise<KubeResponse>;
}

/** An answer read as it arrives: for a 200, its lines (a watch), and no `body`. */
export interface KubeStreamResponse extends KubeResponse {
  lines?: AsyncIterable<string>;
}

/** A KubeRest that can also follow a long answer line by line (watches of the drift watcher). */
export interface KubeStreamRest extends KubeRest {
  /** `idleTimeoutMs`: the longest silence between two chunks of the answer before it fails. */
  stream(req: KubeRequest & { idleTimeoutMs: number }): Promise<KubeStreamResponse>;
}

/** No answer from the apiserver (refused, reset, TLS failure, timeout). Transient. */
export class KubeUnreachableError extends Error {
  readonly code = 'AGENT_KUBE_UNREACHABLE';
}

export interface KubeRestOptions {
  /** Connections kept open to the apiserver (about the applier's concurrency). */
  connections?: number;
  /** Bound on waiting for an answer's headers and body. */
  timeoutMs?: number;
  /**
   * HTTP/2 where the apiserver offers it: every request a stream of one connection
   * (transport/http2.ts). For the many long-lived watches; short requests keep HTTP/1.1.
   */
  http2?: boolean;
}

/**
 * A KubeRest over one kept-alive connection pool (transport/http.ts) for a KubeConnection. Credentials are read
 * again when they lapse (a token file every 30 s, an exec plugin's token at its expiry)
 * and at once after a 401, so rotated tokens are picked up without a restart. TLS
 * material is read once: from the connection, or from the exec plugin's first answer.
 */
export class KubeConfigRest implements KubeStreamRest {
  readonly server: string;
  readonly #conn: KubeConnection;
  readonly #timeoutMs: number;
  readonly #connections: number;
  readonly #http2: boolean;
  #pool: HttpTransport | undefined;
  #credentials: Promise<KubeCredentials> | undefined;

  constructor(conn: KubeConnection, opts: KubeRestOptions = {}) {
    this.server = conn.server;
    this.#conn = conn;
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    this.#connections = opts.connections ?? 16;
    this.#http2 = opts.http2 === true && conn.server.startsWith('https:');
  }

  async #read(): Promise<KubeCredentials> {
    const creds = await readCredentials(this.#conn);
    const conn = this.#conn;
    const cert = creds.cert ?? conn.cert;
    const key = creds.key ?? conn.key;
    this.#pool ??= new (this.#http2 ? Http2Pool : HttpPool)({
      ca: conn.ca,
      cert: cert && key ? cert : undefined,
      key: cert && key ? key : undefined,
      servername: conn.tlsServerName,
      rejectUnauthorized: !conn.insecureSkipTlsVerify,
      connectTimeoutMs: 10_000,
      maxSockets: this.#connections,
      headersTimeoutMs: this.#timeoutMs,
      bodyTimeoutMs: this.#timeoutMs,
      keepAliveMs: 30_000,
    });
    return creds;
  }

  /** Credentials, or a transient KubeUnreachableError (an exec plugin or token file failing). */
  async #creds(force: boolean): Promise<KubeCredentials> {
    try {
      return await this.#credentialsFor(force);
    } catch (err) {
      throw new KubeUnreachableError(`no credentials for ${this.server}: ${(err as Error).message}`, { cause: err });
    }
  }

  #credentialsFor(force: boolean): Promise<KubeCredentials> {
    const current = this.#credentials;
    if (!current) return this.#reread(undefined);
    if (force) return this.#reread(current);
    return current.then((c) => (Date.now() < c.validUntil ? c : this.#reread(current)));
  }

  /** Reads credentials again unless another caller already replaced `seen` (one read at a time). */
  #reread(seen: Promise<KubeCredentials> | undefined): Promise<KubeCredentials> {
    if (this.#credentials && this.#credentials !== seen) return this.#credentials;
    const next = this.#read();
    this.#credentials = next;
    // A failed read must not stick: the next request tries again.
    next.catch(() => {
      if (this.#credentials === next) this.#credentials = undefined;
    });
    return next;
  }

  async request(req: KubeRequest): Promise<KubeResponse> {
    let res = await this.#send(req, await this.#creds(false));
    if (res.status === 401) res = await this.#send(req, await this.#creds(true));
    return res;
  }

  async stream(req: KubeRequest & { idleTimeoutMs: number }): Promise<KubeStreamResponse> {
    let res = await this.#send(req, await this.#creds(false), req.idleTimeoutMs);
    if (res.status === 401) res = await this.#send(req, await this.#creds(true), req.idleTimeoutMs);
    return res;
  }

  /** One request; with `streamIdleMs`, a 200's body is handed back as lines instead of read whole. */
  async #send(req: KubeRequest, creds: KubeCredentials, streamIdleMs?: number): Promise<KubeStreamResponse> {
    let url = `${this.server}${req.path}`;
    const query = Object.entries(req.query ?? {}).filter(([, v]) => v !== undefined) as [string, string | boolean][];
    if (query.length > 0)
      url += `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    const headers: Record<string, string> = {
      ...creds.headers,
      accept: req.accept ?? 'application/json',
      'user-agent': `outpost-agent/${agentVersion}`,
    };
    if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    if (req.impersonateUser !== undefined) headers['impersonate-user'] = req.impersonateUser;
    const failed = (err: unknown) => {
      if (req.signal?.aborted) return req.signal.reason ?? err;
      return new KubeUnreachableError(
        `${req.method} ${req.path}: no answer from ${this.server}: ${(err as Error).message ?? String(err)}`,
        { cause: err },
      );
    };
    try {
      const pool = this.#pool as HttpTransport;
      const res = await pool.request({
        method: req.method,
        url,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: req.signal,
        ...(streamIdleMs === undefined ? {} : { bodyTimeoutMs: streamIdleMs }),
      });
      const contentType = res.headers['content-type'] ?? '';
      if (streamIdleMs !== undefined && res.status === 200) {
        return { status: 200, contentType, body: undefined, lines: linesOf(res.body, failed) };
      }
      const text = await readText(res.body);
      let body: unknown = text;
      if (contentType.includes('json') && text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      return { status: res.status, contentType, body };
    } catch (err) {
      throw failed(err);
    }
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}

/** The lines of a streamed answer as they arrive; a broken stream fails with `failed(err)`. */
async function* linesOf(body: AsyncIterable<Buffer>, failed: (err: unknown) => unknown): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  try {
    for await (const chunk of body) {
      rest += decoder.decode(chunk, { stream: true });
      let nl = rest.indexOf('\n');
      while (nl >= 0) {
        yield rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        nl = rest.indexOf('\n');
      }
    }
  } catch (err) {
    throw failed(err);
  }
  if (rest.trim()) yield rest;
}
