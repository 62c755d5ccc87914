// Long-lived requests to the spoke's kube-apiserver (the drift and status watches) over
// HTTP/2, as client-go sends them: one TLS connection carries every watch as a stream.
// Over HTTP/1.1 each watch holds a connection of its own, about 190 KiB of the agent's
// memory per watch (TLS and socket buffers; measured: 47 watches cost 9 MiB over HTTP/1.1,
// under 1 MiB as streams) and a connection of the apiserver's. Loading node:http2 costs
// about 4.5 MiB once, so only the watches use it; short requests stay on transport/http.ts.
//
// Behaviour as HttpPool's: the same timeouts (connect, headers, silence mid-answer) and a
// graceful close. More streams than the server allows on one connection
// (SETTINGS_MAX_CONCURRENT_STREAMS, or 100 when it names none) open another; a connection the
// server sends GOAWAY on takes no new streams. A server that does not offer h2 in ALPN (an
// HTTP/1.1-only proxy in front of the apiserver) gets HTTP/1.1 (HttpPool) from then on.
//
// Dead connections: every watch shares one, so a connection that silently stopped carrying
// anything (an edge link that drops packets without a reset) must not outlive the next
// restart of the watches. As client-go does (ReadIdleTimeout 30 s, PingTimeout 15 s), a
// connection quiet for `pingIdleMs` and any stream's timeout send a PING; no answer within
// `pingTimeoutMs` destroys the connection, its streams fail and start over on a new one.
// TCP keep-alive is on as well.
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { HttpPool, type HttpPoolOptions, type HttpRequest, HttpTimeoutError } from './http.ts';

export interface StreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Read it (or `destroy()` it): the stream ends with it. */
  body: AsyncIterable<Buffer> & { destroy(err?: Error): void };
}

/** What KubeConfigRest needs of a pool: HttpPool and Http2Pool both are one. */
export interface HttpTransport {
  request(req: HttpRequest): Promise<StreamResponse>;
  close(): Promise<void>;
}

/** Streams per connection when the server names no usable limit (HTTP/2 advises at least 100). */
const defaultStreamLimit = 100;

/** The server's stream limit; none (Node shows 2^32-1), 0, or an implausibly large one: 100. */
function streamLimit(session: ClientHttp2Session): number {
  const n = session.remoteSettings.maxConcurrentStreams;
  return n !== undefined && n > 0 && n <= 10_000 ? n : defaultStreamLimit;
}

export interface Http2PoolOptions extends HttpPoolOptions {
  /** A connection quiet this long is PINGed (default 30 s). */
  pingIdleMs?: number;
  /** A PING unanswered this long ends the connection (default 15 s). */
  pingTimeoutMs?: number;
}

interface Connection {
  session: ClientHttp2Session;
  active: number;
  /** GOAWAY received or closing: no new streams. */
  draining: boolean;
  idleTimer?: NodeJS.Timeout | undefined;
  /** A PING is out: its answer is awaited. */
  pinging: boolean;
}

export class Http2Pool implements HttpTransport {
  readonly #opts: Http2PoolOptions;
  readonly #timeouts: {
    connect: number;
    headers: number;
    body: number;
    keepAlive: number;
    pingIdle: number;
    pingTimeout: number;
  };
  readonly #connections = new Set<Connection>();
  #connecting: Promise<Connection | undefined> | undefined;
  /** Set once the server turned out not to speak h2. */
  #fallback: HttpPool | undefined;
  #inFlight = 0;
  #closing: (() => void) | undefined;
  #closed: Promise<void> | undefined;
  #http2: typeof import('node:http2') | undefined;

  constructor(opts: Http2PoolOptions = {}) {
    this.#opts = opts;
    this.#timeouts = {
      connect: opts.connectTimeoutMs ?? 10_000,
      headers: opts.headersTimeoutMs ?? 30_000,
      body: opts.bodyTimeoutMs ?? 30_000,
      keepAlive: opts.keepAliveMs ?? 30_000,
      pingIdle: opts.pingIdleMs ?? 30_000,
      pingTimeout: opts.pingTimeoutMs ?? 15_000,
    };
  }

  /** Whether requests go over HTTP/1.1 because the server offered no h2 (for tests and logs). */
  get http1(): boolean {
    return this.#fallback !== undefined;
  }

  /** Open HTTP/2 connections (for tests and logs). */
  get connections(): number {
    return this.#connections.size;
  }

  async request(req: HttpRequest): Promise<StreamResponse> {
    if (this.#closed) throw new Error('the HTTP client is closed');
    const url = new URL(req.url);
    if (url.protocol !== 'https:') throw new Error(`HTTP/2 is used over TLS only, not ${url.protocol}`);
    const conn = this.#fallback ? undefined : await this.#connection(url);
    if (conn && (this.#closed || req.signal?.aborted)) {
      // Closed or given up while connecting: the reserved stream is not used.
      conn.active--;
      this.#idle(conn);
      if (req.signal?.aborted) throw req.signal.reason;
      throw new Error('the HTTP client is closed');
    }
    if (conn) return this.#send(conn, url, req);
    const http1 = this.#fallback;
    if (!http1) throw new Error(`no connection to ${url.host}`);
    return http1.request(req);
  }

  /**
   * A connection with room for one more stream, that stream already counted (so requests
   * that wait together never overfill one): an open one, or a new one.
   */
  async #connection(url: URL): Promise<Connection | undefined> {
    for (;;) {
      for (const c of this.#connections) {
        if (!c.draining && !c.session.destroyed && c.active < streamLimit(c.session)) {
          c.active++;
          return c;
        }
      }
      // One connect at a time: the requests that wait for it share it.
      this.#connecting ??= this.#connect(url).finally(() => {
        this.#connecting = undefined;
      });
      if (!(await this.#connecting)) return undefined;
    }
  }

  async #connect(url: URL): Promise<Connection | undefined> {
    const o = this.#opts;
    const socket = tls.connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      ALPNProtocols: ['h2', 'http/1.1'],
      ...(o.servername
        ? { servername: o.servername }
        : isIP(url.hostname.replace(/^\[|\]$/g, ''))
          ? {}
          : { servername: url.hostname }),
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.cert && o.key ? { cert: o.cert, key: o.key } : {}),
      rejectUnauthorized: o.rejectUnauthorized ?? true,
    });
    socket.setKeepAlive(true, 30_000);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new HttpTimeoutError('CONNECT_TIMEOUT', `connect to ${url.host} timed out`));
      }, this.#timeouts.connect);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    if (socket.alpnProtocol !== 'h2') {
      socket.destroy();
      this.#fallback ??= new HttpPool(this.#opts);
      return undefined;
    }
    this.#http2 ??= process.getBuiltinModule('node:http2');
    const session = this.#http2.connect(url.origin, { createConnection: () => socket });
    const conn: Connection = { session, active: 0, draining: false, pinging: false };
    const forget = () => {
      conn.draining = true;
      clearTimeout(conn.idleTimer);
      this.#connections.delete(conn);
    };
    // Streams in flight fail with the session; their watches start over (watch.ts).
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', () => {
      conn.draining = true;
      if (conn.active === 0) session.close();
    });
    // The SETTINGS frame names the server's stream limit; wait for it (bounded).
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#timeouts.connect);
      session.once('remoteSettings', () => {
        clearTimeout(timer);
        resolve();
      });
      session.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (session.destroyed || session.closed) throw new Error(`HTTP/2 connection to ${url.host} closed at once`);
    if (this.#closed) {
      session.destroy();
      throw new Error('the HTTP client is closed');
    }
    // Quiet for pingIdleMs (no frame either way): make sure the other end is still there.
    session.setTimeout(this.#timeouts.pingIdle, () => this.#check(conn));
    this.#connections.add(conn);
    this.#idle(conn);
    return conn;
  }

  /** PINGs the connection; no answer within pingTimeoutMs ends it (its streams start over elsewhere). */
  #check(conn: Connection): void {
    if (conn.pinging || conn.session.destroyed || conn.session.closed) return;
    conn.pinging = true;
    const timer = setTimeout(() => {
      conn.pinging = false;
      this.#connections.delete(conn);
      conn.session.destroy(new Error(`no answer to a PING within ${this.#timeouts.pingTimeout} ms`));
    }, this.#timeouts.pingTimeout);
    timer.unref();
    const sent = conn.session.ping((err) => {
      clearTimeout(timer);
      conn.pinging = false;
      if (err && !conn.session.destroyed) {
        this.#connections.delete(conn);
        conn.session.destroy(err);
      }
    });
    if (!sent) {
      clearTimeout(timer);
      conn.pinging = false;
    }
  }

  /** A connection without streams closes after keepAliveMs (and never holds the process open). */
  #idle(conn: Connection): void {
    clearTimeout(conn.idleTimer);
    if (conn.active > 0) {
      conn.session.ref();
      return;
    }
    conn.session.unref();
    conn.idleTimer = setTimeout(() => {
      if (conn.active === 0) {
        conn.draining = true;
        this.#connections.delete(conn);
        conn.session.close();
      }
    }, this.#timeouts.keepAlive);
    conn.idleTimer.unref();
  }

  #send(conn: Connection, url: URL, req: HttpRequest): Promise<StreamResponse> {
    const headersTimeout = req.headersTimeoutMs ?? this.#timeouts.headers;
    const bodyTimeout = req.bodyTimeoutMs ?? this.#timeouts.body;
    const headers: Record<string, string | number> = {
      ':method': req.method,
      ':path': `${url.pathname}${url.search}`,
    };
    for (const [k, v] of Object.entries(req.headers)) {
      const name = k.toLowerCase();
      // Connection-specific headers are not allowed in HTTP/2.
      if (name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding' && name !== 'host')
        headers[name] = v;
    }
    if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
    // conn.active was counted by #connection.
    this.#inFlight++;
    this.#idle(conn);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      conn.active--;
      this.#inFlight--;
      if (conn.draining && conn.active === 0) conn.session.close();
      else this.#idle(conn);
      if (this.#inFlight === 0) this.#closing?.();
    };
    let stream: ClientHttp2Stream;
    try {
      stream = conn.session.request(headers, {
        endStream: req.body === undefined,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      release();
      return Promise.reject(err);
    }
    stream.once('close', release);
    // Errors after the answer reach whoever reads the body; none may go unheard.
    stream.on('error', () => {});
    return new Promise<StreamResponse>((resolve, reject) => {
      let answered = false;
      const headersTimer = setTimeout(() => {
        stream.destroy(
          new HttpTimeoutError('HEADERS_TIMEOUT', `no answer from ${url.host} within ${headersTimeout} ms`),
        );
        this.#check(conn);
      }, headersTimeout);
      stream.once('error', (err) => {
        clearTimeout(headersTimer);
        if (!answered) reject(err);
      });
      stream.once('close', () => {
        clearTimeout(headersTimer);
        if (!answered) reject(new Error(`${url.host} closed the stream without an answer`));
      });
      stream.once('response', (h) => {
        answered = true;
        clearTimeout(headersTimer);
        // Silence mid-answer: the stream's idle timeout, reset by every frame.
        stream.setTimeout(bodyTimeout, () => {
          stream.destroy(
            new HttpTimeoutError('BODY_TIMEOUT', `${url.host} went silent for ${bodyTimeout} ms mid-answer`),
          );
          this.#check(conn);
        });
        resolve({ status: Number(h[':status'] ?? 0), headers: h, body: stream });
      });
      if (req.body !== undefined) stream.end(req.body);
    });
  }

  /** Lets requests in flight finish, then closes every connection. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      const done = () => {
        for (const c of this.#connections) {
          clearTimeout(c.idleTimer);
          c.session.destroy();
        }
        this.#connections.clear();
        void (this.#fallback?.close() ?? Promise.resolve()).then(() => resolve());
      };
      if (this.#inFlight === 0) done();
      else this.#closing = done;
    });
    return this.#closed;
  }
}
