// Helpers for delivery.bench.ts: a byte-counting TCP proxy, resident memory of a process,
// a minimal kube-apiserver client for the floor measurement, and the agent's JSON log lines.
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Agent, request } from 'undici';

/** VmRSS (or VmHWM, the peak) of `pid` in MiB, from /proc. */
export function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const kb = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no ${field} for pid ${pid}`);
  return Number(kb) / 1024;
}

/** Where a process's resident memory is: anonymous (heaps, malloc) vs file-backed (code), MiB. */
export function rssBreakdown(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024;
  return { anonymous: field('Anonymous'), fileBacked: field('Rss') - field('Anonymous') };
}

export interface ConnStats {
  id: number;
  openedAt: number;
  closedAt?: number;
  /** Bytes client → upstream. */
  up: number;
  /** Bytes upstream → client. */
  down: number;
}

export interface CountingProxy {
  port: number;
  conns: ConnStats[];
  totals(): { up: number; down: number; connections: number };
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 that forwards to `targetPort` and counts the bytes of every
 * connection in both directions (TLS records included: it sees the wire, not the content).
 */
export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  const conns: ConnStats[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const stats: ConnStats = { id: conns.length, openedAt: performance.now(), up: 0, down: 0 };
    conns.push(stats);
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (d: Buffer) => {
      stats.up += d.length;
      if (!upstream.write(d)) client.pause();
    });
    upstream.on('data', (d: Buffer) => {
      stats.down += d.length;
      if (!client.write(d)) upstream.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    const end = () => {
      stats.closedAt ??= performance.now();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    conns,
    totals: () => ({
      up: conns.reduce((n, c) => n + c.up, 0),
      down: conns.reduce((n, c) => n + c.down, 0),
      connections: conns.length,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Just enough of a kube-apiserver client for the benchmark: bearer token, its CA, one kept-alive connection pool. */
export class KubeRaw {
  readonly #server: string;
  readonly #token: string;
  readonly agent: Agent;

  constructor(cluster: { server: string; token: string; caData: string }, connections = 1) {
    this.#server = cluster.server;
    this.#token = cluster.token;
    this.agent = new Agent({
      connect: { ca: Buffer.from(cluster.caData, 'base64') },
      connections,
      keepAliveTimeout: 30_000,
    });
  }

  async call(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown, contentType = 'application/json') {
    const res = await request(`${this.#server}${path}`, {
      method,
      dispatcher: this.agent,
      headers: {
        authorization: `Bearer ${this.#token}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': contentType } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text };
  }

  async createNamespace(name: string): Promise<void> {
    const res = await this.call('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
    if (res.status !== 201) throw new Error(`namespace ${name}: ${res.status} ${res.text.slice(0, 300)}`);
  }

  /** Server-side apply of one object, as the agent sends it (field manager, strict validation). */
  async apply(path: string, obj: unknown, fieldManager: string): Promise<void> {
    const res = await this.call(
      'PATCH',
      `${path}?fieldManager=${fieldManager}&fieldValidation=Strict`,
      obj,
      'application/apply-patch+yaml',
    );
    if (res.status !== 200 && res.status !== 201) throw new Error(`apply ${path}: ${res.status} ${res.text}`);
  }

  async count(path: string): Promise<number> {
    const res = await this.call('GET', path);
    if (res.status !== 200) throw new Error(`list ${path}: ${res.status} ${res.text.slice(0, 300)}`);
    return (JSON.parse(res.text) as { items: unknown[] }).items.length;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export interface LogLine {
  time: number;
  level: number;
  msg?: string;
  [k: string]: unknown;
}

/** The agent's pino JSON lines (stdout), skipping anything else. */
export function logLines(stdout: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut by the read; ignore
    }
  }
  return out;
}

/** Sum of `outpost_http_request_duration_seconds_count` for a route (all methods and statuses). */
export function requestCount(metricsText: string, route: string): number {
  let n = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('outpost_http_request_duration_seconds_count{')) continue;
    if (!line.includes(`route="${route}"`)) continue;
    n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

/** `apiserver_request_total` by "VERB resource[/subresource]" (resource requests only). */
export function apiserverRequests(metricsText: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const get = (k: string) => new RegExp(`(?:^|,)${k}="([^"]*)"`).exec(labels)?.[1] ?? '';
    const resource = get('resource');
    if (!resource) continue;
    const sub = get('subresource');
    const key = `${get('verb')} ${resource}${sub ? `/${sub}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** after − before, per key, dropping zeros, each divided by `per`. */
export function diffCounts(before: Map<string, number>, after: Map<string, number>, per = 1): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out[k] = Math.round((d / per) * 100) / 100;
  }
  return out;
}
