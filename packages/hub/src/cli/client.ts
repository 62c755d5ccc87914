// The admin CLI's HTTP client: one undici Agent that trusts the configured CA, JSON in
// and out, and the hub's `{ code, message }` errors turned into CliErrors.

import { OutpostError } from '@outpost/shared';
import { Agent, request } from 'undici';
import type { ClientConfig } from '../config/client.ts';

/** One event of a watch (the hub's api/watch.ts). */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  resourceVersion?: string;
  object: unknown;
}

const unreachable = (hubUrl: string, err: unknown) => {
  const e = err as Error & { code?: string };
  return new OutpostError(
    'CLI_HUB_UNREACHABLE',
    `cannot reach the hub at ${hubUrl}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '),
    1,
  );
};

function safeParse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export class HubClient {
  readonly #config: ClientConfig;
  readonly #agent: Agent;

  constructor(config: ClientConfig) {
    this.#config = config;
    this.#agent = new Agent({ connect: config.caPem ? { ca: config.caPem } : {}, connections: 4 });
  }

  get hubUrl(): string {
    return this.#config.hubUrl;
  }

  async call<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    /** The body's content type; default JSON (a PATCH: a JSON merge patch). */
    contentType?: string,
  ): Promise<T> {
    return (await this.callWithHeaders<T>(method, path, body, contentType)).body;
  }

  async callWithHeaders<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<{ body: T; status: number; headers: Record<string, string | string[] | undefined> }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#config.token) headers.authorization = `Bearer ${this.#config.token}`;
    if (body !== undefined) {
      headers['content-type'] =
        contentType ?? (method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
    }
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.#config.hubUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.#agent,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
    } catch (err) {
      throw unreachable(this.#config.hubUrl, err);
    }
    const text = await res.body.text();
    const parsed = safeParse(text);
    if (res.statusCode >= 400) {
      const e = (parsed ?? {}) as { code?: string; message?: string; details?: unknown };
      throw new OutpostError(e.code ?? `HTTP_${res.statusCode}`, e.message ?? text.slice(0, 200), 1, e.details);
    }
    return { body: parsed as T, status: res.statusCode, headers: res.headers };
  }

  /**
   * Reads the watch at `path` (a list URL with watch=true), calling `onEvent` with each event
   * as it comes, until the hub ends the stream (its timeout, its stop: resolves) or the
   * connection fails (throws CLI_HUB_UNREACHABLE). An answer that is not a stream throws the
   * hub's error (WATCH_EXPIRED …).
   */
  async watch(path: string, onEvent: (event: WatchEvent) => void): Promise<void> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#config.token) headers.authorization = `Bearer ${this.#config.token}`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.#config.hubUrl}${path}`, {
        headers,
        dispatcher: this.#agent,
        headersTimeout: 30_000,
        // The hub sends a bookmark every 15 s of quiet (allowWatchBookmarks): a stream silent
        // for longer is a connection that died without saying so.
        bodyTimeout: 45_000,
      });
    } catch (err) {
      throw unreachable(this.#config.hubUrl, err);
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      const e = (safeParse(text) ?? {}) as { code?: string; message?: string; details?: unknown };
      throw new OutpostError(e.code ?? `HTTP_${res.statusCode}`, e.message ?? text.slice(0, 200), 1, e.details);
    }
    let rest = '';
    const lines: string[] = [];
    const body = res.body[Symbol.asyncIterator]();
    for (;;) {
      // Only the connection's failures are the hub's being unreachable; what onEvent throws
      // is the caller's.
      let chunk: IteratorResult<Buffer>;
      try {
        chunk = await body.next();
      } catch (err) {
        throw unreachable(this.#config.hubUrl, err);
      }
      if (chunk.done) return;
      rest += chunk.value.toString();
      for (let cut = rest.indexOf('\n'); cut >= 0; cut = rest.indexOf('\n')) {
        lines.push(rest.slice(0, cut));
        rest = rest.slice(cut + 1);
      }
      for (const line of lines.splice(0)) if (line.trim()) onEvent(JSON.parse(line) as WatchEvent);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
