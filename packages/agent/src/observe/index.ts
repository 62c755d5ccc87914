// What a running agent says about itself on its local listener (`outpost-agent run --listen`):
// /healthz (the process answers), /readyz (it does its part: leading with the hub reachable
// and its state read, or standing by), /metrics (Prometheus text) and /status (JSON for
// `outpost-agent status`). The facts come from the parts that know them (the runtime, the
// sync loop, the leader election) through AgentObserver; nothing here reads the cluster.

import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { escapeLabel, Histogram, metricLines } from '@outpost/shared';

export type Role = 'leading' | 'standby' | 'off';

export const applyResults = ['applied', 'failed', 'refused', 'error'] as const;
export type ApplyResult = (typeof applyResults)[number];

/** Read when asked (a scrape, a probe): the agent's parts that hold the values. */
export interface ObservedSources {
  /** Which agent this is (a standby has loaded no credentials yet). */
  identity?: () => { cluster: string; hubUrl: string; serial: string };
  /** Status reports waiting in the durable outbox (undefined: no work delivery). */
  outboxDepth?: () => number;
  /** Deletions held for an admin by the mass-delete breaker (undefined: no work delivery). */
  heldDeletions?: () => number;
  /** The certificate in use: its expiry and when the agent renews it. */
  certificate?: () => { notAfter: Date; renewAt: Date };
}

/**
 * The answer of GET /status (`outpost-agent status` shows it beside the durable state). Who
 * answers (cluster, hub, certificate serial; null on a standby, which has loaded no
 * credentials), so a reader can tell another agent on that address from the one it asks
 * about; outboxDepth is null without work delivery.
 */
export interface LiveStatus {
  leader: Role;
  cluster: string | null;
  hubUrl: string | null;
  serial: string | null;
  connected: boolean;
  lastPollAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  outboxDepth: number | null;
}

const applyBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/**
 * The agent's live facts. Hub reachability: the last exchange with the hub (a poll, a
 * heartbeat) succeeded and is recent, where recent is as long as a held poll may take
 * (`recentMs`: the poll wait + 10 % + 15 s, at least two heartbeat intervals).
 */
export class AgentObserver {
  readonly #recentMs: number;
  readonly #now: () => number;
  #sources: ObservedSources = {};
  #role: Role;
  #lastOk: number | undefined;
  #lastError: { code: string; message: string; at: number } | undefined;
  #stateRead = false;
  #delivering = false;
  readonly #applies = new Map<string, number>();
  readonly #applyDuration = new Histogram(applyBuckets);
  readonly #pollDuration = new Histogram();
  #corrections = 0;
  readonly #correctionsByWork = new Map<string, number>();

  constructor(opts: { recentMs: number; role: Role; now?: () => number }) {
    this.#recentMs = opts.recentMs;
    this.#role = opts.role;
    this.#now = opts.now ?? Date.now;
  }

  /** Where the values read on demand come from (set once the parts exist). */
  use(sources: ObservedSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  set role(role: Role) {
    this.#role = role;
  }

  get role(): Role {
    return this.#role;
  }

  /** Work delivery runs: readiness also needs its state read. */
  delivering(): void {
    this.#delivering = true;
  }

  /** The durable state was read (work delivery can enforce what it holds). */
  stateRead(): void {
    this.#stateRead = true;
  }

  /** The hub answered (a poll after `seconds`, or a heartbeat). */
  hubAnswered(kind: 'poll' | 'heartbeat', seconds?: number): void {
    this.#lastOk = this.#now();
    if (kind === 'poll' && seconds !== undefined) this.#pollDuration.observe('result="ok"', seconds);
  }

  /** An exchange with the hub failed (a poll after `seconds`, or a heartbeat). */
  hubFailed(kind: 'poll' | 'heartbeat', code: string, message: string, seconds?: number): void {
    this.#lastError = { code, message, at: this.#now() };
    if (kind === 'poll' && seconds !== undefined) this.#pollDuration.observe('result="error"', seconds);
  }

  /** One work's apply pass took `seconds` and ended `result` (applied, failed, refused, error). */
  applied(result: ApplyResult, seconds: number): void {
    this.#applies.set(result, (this.#applies.get(result) ?? 0) + 1);
    this.#applyDuration.observe(`result="${result}"`, seconds);
  }

  /** Work `workUid` has had `total` objects put back (deleted or edited by hand) since the start. */
  corrections(workUid: string, total: number): void {
    const before = this.#correctionsByWork.get(workUid) ?? 0;
    if (total <= before) return;
    this.#correctionsByWork.set(workUid, total);
    this.#corrections += total - before;
  }

  /** Work `workUid` is gone from the agent: its count stays in the total, its entry goes. */
  forget(workUid: string): void {
    this.#correctionsByWork.delete(workUid);
  }

  get connected(): boolean {
    const ok = this.#lastOk;
    if (ok === undefined || this.#now() - ok > this.#recentMs) return false;
    return this.#lastError === undefined || this.#lastError.at <= ok;
  }

  /** Why the agent is not ready, or undefined when it is. */
  notReady(): string | undefined {
    if (this.#role === 'standby') return undefined;
    if (this.#delivering && !this.#stateRead) return 'the durable state is not read yet';
    if (!this.connected) {
      const e = this.#lastError;
      return e && (this.#lastOk === undefined || e.at > this.#lastOk)
        ? `the hub is not reachable: ${e.code}: ${e.message}`
        : this.#lastOk === undefined
          ? 'no answer from the hub yet'
          : `no answer from the hub for ${Math.round((this.#now() - this.#lastOk) / 1000)} s`;
    }
    return undefined;
  }

  live(): LiveStatus {
    const e = this.#lastError;
    const id = this.#sources.identity?.();
    return {
      leader: this.#role,
      cluster: id?.cluster ?? null,
      hubUrl: id?.hubUrl ?? null,
      serial: id?.serial ?? null,
      connected: this.connected,
      lastPollAt: this.#lastOk === undefined ? null : new Date(this.#lastOk).toISOString(),
      lastError: e ? { code: e.code, message: e.message, at: new Date(e.at).toISOString() } : null,
      outboxDepth: this.#sources.outboxDepth?.() ?? null,
    };
  }

  /** The metrics in the Prometheus text format. */
  metrics(): string {
    const s = this.#sources;
    const cert = s.certificate?.();
    // A standby talks to no hub: no connected series, so a 0 there is no outage.
    const lines = [
      ...(this.#role === 'standby'
        ? []
        : metricLines(
            'outpost_agent_connected',
            'gauge',
            "1 while the hub's last answer is recent and no exchange failed since (not on a standby).",
            [['', this.connected ? 1 : 0]],
          )),
      ...metricLines(
        'outpost_agent_leader',
        'gauge',
        "The agent replica's part: 1 leading (or the only one), 0 standing by.",
        [['', this.#role === 'standby' ? 0 : 1]],
      ),
      ...metricLines('outpost_agent_ready', 'gauge', '1 when /readyz answers 200.', [['', this.notReady() ? 0 : 1]]),
      ...metricLines(
        'outpost_agent_last_hub_answer_timestamp_seconds',
        'gauge',
        'When the hub last answered a poll or heartbeat (0: never since the start).',
        [['', this.#lastOk === undefined ? 0 : this.#lastOk / 1000]],
      ),
      ...(s.outboxDepth
        ? metricLines(
            'outpost_status_outbox_depth',
            'gauge',
            'Status reports in the durable outbox, not yet taken by the hub.',
            [['', s.outboxDepth()]],
          )
        : []),
      ...(s.heldDeletions
        ? metricLines(
            'outpost_agent_held_deletions',
            'gauge',
            'Deletions held for an admin (more than --max-delete-share of the applied objects at once).',
            [['', s.heldDeletions()]],
          )
        : []),
      ...metricLines(
        'outpost_agent_applies_total',
        'counter',
        "Apply passes of one work, by result: applied, failed (a manifest not applied), refused (the work's executor may not write a manifest), error (the pass itself failed). Deleting a work is not counted.",
        applyResults.map((r) => [`result="${escapeLabel(r)}"`, this.#applies.get(r) ?? 0] as const),
      ),
      "# HELP outpost_agent_apply_duration_seconds Time of one work's apply pass, by result.",
      '# TYPE outpost_agent_apply_duration_seconds histogram',
      ...this.#applyDuration.render('outpost_agent_apply_duration_seconds'),
      ...metricLines(
        'outpost_agent_drift_corrections_total',
        'counter',
        'Applied objects put back after they were deleted or edited by hand.',
        [['', this.#corrections]],
      ),
      '# HELP outpost_agent_poll_duration_seconds Time of one long-poll to the hub, held while nothing changes (up to --poll-wait), by result.',
      '# TYPE outpost_agent_poll_duration_seconds histogram',
      ...this.#pollDuration.render('outpost_agent_poll_duration_seconds'),
      ...(cert
        ? [
            ...metricLines(
              'outpost_agent_certificate_expiry_timestamp_seconds',
              'gauge',
              "When the agent's client certificate expires.",
              [['', cert.notAfter.getTime() / 1000]],
            ),
            ...metricLines(
              'outpost_agent_certificate_renewal_timestamp_seconds',
              'gauge',
              'When the agent renews its certificate (earlier when the hub asks).',
              [['', cert.renewAt.getTime() / 1000]],
            ),
          ]
        : []),
      ...metricLines('process_resident_memory_bytes', 'gauge', 'Resident memory of the agent process.', [
        ['', process.memoryUsage.rss()],
      ]),
      ...metricLines('process_start_time_seconds', 'gauge', 'When the agent process started.', [
        ['', Math.round(performance.timeOrigin) / 1000],
      ]),
    ];
    return `${lines.join('\n')}\n`;
  }
}

/** The answer to one request of the listener: status, content type and body. */
function answer(observer: AgentObserver, method: string | undefined, path: string): [number, string, string] {
  const json = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    return [405, json, JSON.stringify({ code: 'METHOD_NOT_ALLOWED', message: 'only GET' })];
  }
  switch (path) {
    case '/healthz':
      return [200, 'text/plain; charset=utf-8', 'ok\n'];
    case '/readyz': {
      const why = observer.notReady();
      const role = observer.role;
      return why
        ? [503, json, JSON.stringify({ ready: false, role, reason: why })]
        : [200, json, JSON.stringify({ ready: true, role })];
    }
    case '/metrics':
      return [200, 'text/plain; version=0.0.4; charset=utf-8', observer.metrics()];
    case '/status':
      return [200, json, JSON.stringify(observer.live())];
    default:
      return [404, json, JSON.stringify({ code: 'NOT_FOUND', message: `no ${path.slice(0, 100)} here` })];
  }
}

/** Reason phrases of the statuses the listener answers with. */
const reasons: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
/** The most a request line and headers may take; probes and scrapes send a few hundred bytes. */
const maxHead = 8 * 1024;
/** A connection that has not sent its request by then is closed. */
const requestTimeoutMs = 10_000;

/**
 * The local listener: plain HTTP/1.1 (it says nothing secret, and kubelet probes and
 * Prometheus speak it), one request per connection (`Connection: close`), on 127.0.0.1
 * unless told otherwise (the chart binds the pod's addresses for probes and scrapes). Written
 * on node:net, which the agent loads anyway: node:http would add about 4 MiB to an agent
 * whose memory target is 100 MiB with 1,000 objects. Requests are GETs of four paths, so
 * only the request line is read; headers are skipped up to a bound, bodies never read.
 * An empty host is every address: IPv6 and IPv4 where the host has IPv6, else IPv4.
 * Nothing it does can stop the agent: an answer whose source throws is a 500, an accept that
 * fails is reported to `onError`, connections beyond a few are refused, and a slow or
 * oversized request is closed.
 */
export async function startListener(
  observer: AgentObserver,
  address: { host: string; port: number },
  onError: (err: unknown) => void = () => {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(requestTimeoutMs, () => socket.destroy());
    let head = '';
    const reply = (status: number, type: string, body: string, withBody = true) => {
      socket.removeAllListeners('data');
      const bytes = Buffer.from(body);
      socket.end(
        `HTTP/1.1 ${status} ${reasons[status] ?? ''}\r\ncontent-type: ${type}\r\ncontent-length: ${bytes.length}\r\n` +
          `cache-control: no-store\r\nconnection: close\r\n\r\n${withBody ? body : ''}`,
      );
    };
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end > maxHead || (end < 0 && head.length > maxHead)) {
        reply(431, 'application/json', JSON.stringify({ code: 'HEADERS_TOO_LARGE' }));
        return;
      }
      if (end < 0) return;
      const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(head.slice(0, head.indexOf('\r\n')));
      if (!m) {
        reply(400, 'application/json', JSON.stringify({ code: 'BAD_REQUEST', message: 'malformed HTTP request' }));
        return;
      }
      const [, method, target] = m as unknown as [string, string, string];
      let answered: [number, string, string];
      try {
        answered = answer(observer, method, target.split('?')[0] ?? '/');
      } catch (err) {
        // A source that throws (a certificate unreadable, a store mid-switch) fails this answer.
        onError(err);
        answered = [500, 'application/json', JSON.stringify({ code: 'INTERNAL', message: (err as Error).message })];
      }
      reply(...answered, method !== 'HEAD');
    });
  });
  // Probes and scrapes need few connections: a flood from the pod network cannot hold more
  // than a few sockets of the agent.
  server.maxConnections = 32;
  const bind = (host: string) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  if (address.host !== '') await bind(address.host);
  else {
    try {
      await bind('::');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
      await bind('0.0.0.0');
    }
  }
  // After the bind: an accept that fails (out of file descriptors) is reported, not fatal.
  server.on('error', onError);
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
