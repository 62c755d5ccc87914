// The admin CLI's HTTP client: one undici Agent that trusts the configured CA, JSON in
// and out, and the hub's `{ code, message }` errors turned into CliErrors.

import { OutpostError } from '@outpost/shared';
import { Agent, request } from 'undici';
import type { ClientConfig } from '../config/client.ts';

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
      const e = err as Error & { code?: string };
      throw new OutpostError(
        'CLI_HUB_UNREACHABLE',
        `cannot reach the hub at ${this.#config.hubUrl}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '),
        1,
      );
    }
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.statusCode >= 400) {
      const e = (parsed ?? {}) as { code?: string; message?: string; details?: unknown };
      throw new OutpostError(e.code ?? `HTTP_${res.statusCode}`, e.message ?? text.slice(0, 200), 1, e.details);
    }
    return { body: parsed as T, status: res.statusCode, headers: res.headers };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
