// The agent's HTTP client: node:https with kept-alive connections, for both the hub and the
// spoke's kube-apiserver.
//
// Why not undici: loading it costs the agent about 20 MiB more resident memory than
// node:https (its HTTP parser is WebAssembly, compiled in every process), and the agent's
// budget is 100 MiB. What undici gave us is rebuilt here in little code: a pool per TLS
// identity, timeouts for connect, headers and body silence, a graceful close that lets
// requests in flight finish, and one retry of an idempotent request (GET, PUT, DELETE) when a
// kept-alive connection turned out to be closed by the server just as we reused it.
import type { ClientRequest, Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import * as https from 'node:https';

// Not `import … from 'node:http'`: building that ESM facade reads node:http's lazy `WebSocket`
// export, which loads Node's bundled undici, about 17 MiB of resident memory for nothing.
const http = process.getBuiltinModule('node:http');

export interface HttpPoolOptions {
  ca?: string | Buffer | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  rejectUnauthorized?: boolean;
  servername?: string | undefined;
  /** Connections at most per host (default unlimited). */
  maxSockets?: number;
  connectTimeoutMs?: number;
  /** Default bound on waiting for an answer's headers. */
  headersTimeoutMs?: number;
  /** Default bound on silence while an answer's body arrives. */
  bodyTimeoutMs?: number;
  /** Idle kept-alive connections close after this long. */
  keepAliveMs?: number;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer | undefined;
  signal?: AbortSignal | undefined;
  headersTimeoutMs?: number | undefined;
  bodyTimeoutMs?: number | undefined;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Read it (or `destroy()` it): the connection returns to the pool when the body ends. */
  body: IncomingMessage;
}

/** No answer: connect or headers timed out, or the body went silent. `code` as undici's. */
export class HttpTimeoutError extends Error {
  readonly code: string;

  constructor(code: 'CONNECT_TIMEOUT' | 'HEADERS_TIMEOUT' | 'BODY_TIMEOUT', message: string) {
    super(message);
    this.name = 'HttpTimeoutError';
    this.code = `UND_ERR_${code}`;
  }
}

const retryableOnReuse = new Set(['ECONNRESET', 'EPIPE']);
/** Safe to send twice: the server may have acted on the first before it closed the connection. */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

export class HttpPool {
  readonly #agent: https.Agent;
  readonly #plainAgent: HttpAgent;
  readonly #o: Required<
    Pick<HttpPoolOptions, 'connectTimeoutMs' | 'headersTimeoutMs' | 'bodyTimeoutMs' | 'keepAliveMs'>
  >;
  #inFlight = 0;
  /**
   * The newest TLS session a server gave, offered on every new connection. node:https keeps
   * one too, but drops it on any connection error, so a hub that refused connections while it
   * restarted would be met with full handshakes by its whole fleet; an unusable session only
   * costs the full handshake it would have been anyway.
   */
  #session: Buffer | undefined;
  #closing: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: HttpPoolOptions = {}) {
    this.#o = {
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      headersTimeoutMs: opts.headersTimeoutMs ?? 30_000,
      bodyTimeoutMs: opts.bodyTimeoutMs ?? 30_000,
      keepAliveMs: opts.keepAliveMs ?? 30_000,
    };
    const common = {
      keepAlive: true,
      maxSockets: opts.maxSockets ?? Number.POSITIVE_INFINITY,
      // Idle pooled connections are closed after this; active ones use the request's timeouts.
      timeout: this.#o.keepAliveMs,
      scheduling: 'lifo' as const,
    };
    this.#agent = new https.Agent({
      ...common,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert && opts.key ? { cert: opts.cert, key: opts.key } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
    });
    this.#plainAgent = new http.Agent(common);
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    if (this.#closed) throw new Error('the HTTP client is closed');
    this.#inFlight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (this.#inFlight === 0) this.#closing?.();
    };
    try {
      let res: HttpResponse;
      try {
        res = await this.#once(req);
      } catch (err) {
        if (!(err as { reusedSocket?: boolean }).reusedSocket) throw err;
        res = await this.#once(req);
      }
      res.body.once('close', release);
      res.body.once('end', release);
      return res;
    } catch (err) {
      release();
      throw err;
    }
  }

  #once(req: HttpRequest): Promise<HttpResponse> {
    // The closures below outlive the request (the request object keeps its listeners until
    // it is collected, and the kept-alive socket's last answer keeps the request), so none
    // of them may refer to `req`: that would keep its body alive too (a CRD's apply body is
    // most of a megabyte). They get these locals instead, and the body is sent from here.
    const { method, signal } = req;
    const url = new URL(req.url);
    const secure = url.protocol === 'https:';
    const headersTimeout = req.headersTimeoutMs ?? this.#o.headersTimeoutMs;
    const bodyTimeout = req.bodyTimeoutMs ?? this.#o.bodyTimeoutMs;
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
    let sent: ClientRequest | undefined;
    const answer = new Promise<HttpResponse>((resolve, reject) => {
      const r = (secure ? https : http).request(url, {
        method,
        headers,
        agent: secure ? this.#agent : this.#plainAgent,
        ...(secure && this.#session ? { session: this.#session } : {}),
        ...(signal ? { signal } : {}),
      });
      sent = r;
      let answered = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const fail = (err: Error) => {
        clearTimeout(connectTimer);
        if (answered) return;
        // A kept-alive connection the server had just closed: safe to send once more.
        const code = (err as { code?: string }).code;
        if (r.reusedSocket && code && retryableOnReuse.has(code) && idempotent.has(method) && !signal?.aborted) {
          (err as { reusedSocket?: boolean }).reusedSocket = true;
        }
        reject(err);
      };
      r.on('error', fail);
      r.on('socket', (socket) => {
        const connecting = (socket as { connecting?: boolean }).connecting;
        if (connecting) {
          connectTimer = setTimeout(
            () => r.destroy(new HttpTimeoutError('CONNECT_TIMEOUT', `connect to ${url.host} timed out`)),
            this.#o.connectTimeoutMs,
          );
          socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
          if (secure) {
            socket.on('session', (session: Buffer) => {
              this.#session = session;
            });
          }
        }
      });
      // Silence while waiting for the headers, then while the body arrives (the socket's idle
      // timeout, reset by every byte).
      let response: IncomingMessage | undefined;
      r.setTimeout(headersTimeout);
      r.on('timeout', () => {
        if (!response) {
          r.destroy(new HttpTimeoutError('HEADERS_TIMEOUT', `no answer from ${url.host} within ${headersTimeout} ms`));
        } else {
          response.destroy(
            new HttpTimeoutError('BODY_TIMEOUT', `${url.host} went silent for ${bodyTimeout} ms mid-answer`),
          );
        }
      });
      r.on('response', (res) => {
        answered = true;
        response = res;
        clearTimeout(connectTimer);
        r.setTimeout(bodyTimeout);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
    });
    sent?.end(req.body);
    return answer;
  }

  /** Lets requests in flight finish, then closes every connection. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      const done = () => {
        this.#agent.destroy();
        this.#plainAgent.destroy();
        resolve();
      };
      if (this.#inFlight === 0) done();
      else this.#closing = done;
    });
    return this.#closed;
  }
}

/**
 * Reads a whole body as UTF-8 text, decoding each chunk as it arrives. Unlike readAll, no
 * chunk is kept until the end: each dies young and its memory is reused for the next, where
 * the chunks of a megabyte answer held together outlive several collections and leave
 * holes in the allocator's heap that it cannot return (measured with CRD-heavy works).
 */
export async function readText(body: AsyncIterable<unknown>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk as Buffer, { stream: true });
  return text + decoder.decode();
}

/** Reads a whole body, refusing more than `maxBytes`. */
export async function readAll(body: IncomingMessage, maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new Error(`answer larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
