// What a running agent says about itself on its local listener (`outpost-agent run --listen`):
// /healthz (the process answers), /readyz (it does its part: leading with the hub reachable
// and its state read, or standing by), /metrics (Prometheus text) and /status (JSON for
// `outpost-agent status`). The facts come from the parts that know them (the runtime, the
// sync loop, the leader election) through AgentObserver; nothing here reads the cluster.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeLabel, Histogram, metricLines } from '@outpost/shared';

export type Role = 'leading' | 'standby' | 'off';

/** Read when asked (a scrape, a probe): the agent's parts that hold the values. */
export interface ObservedSources {
  /** Status reports waiting in the durable outbox (undefined: no work delivery). */
  outboxDepth?: () => number;
  /** Deletions held for an admin by the mass-delete breaker (undefined: no work delivery). */
  heldDeletions?: () => number;
  /** The certificate in use: its expiry and when the agent renews it. */
  certificate?: () => { notAfter: Date; renewAt: Date };
}

/** The answer of GET /status (`outpost-agent status` shows it beside the durable state). */
export interface LiveStatus {
  leader: Role;
  connected: boolean;
  lastPollAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  outboxDepth: number;
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
  readonly #started = Date.now();

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

  /** One work's apply pass took `seconds` and ended `result` (applied, failed, refused). */
  applied(result: 'applied' | 'failed' | 'refused', seconds: number): void {
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
    return {
      leader: this.#role,
      connected: this.connected,
      lastPollAt: this.#lastOk === undefined ? null : new Date(this.#lastOk).toISOString(),
      lastError: e ? { code: e.code, message: e.message, at: new Date(e.at).toISOString() } : null,
      outboxDepth: this.#sources.outboxDepth?.() ?? 0,
    };
  }

  /** The metrics in the Prometheus text format. */
  metrics(): string {
    const s = this.#sources;
    const cert = s.certificate?.();
    const lines = [
      ...metricLines(
        'outpost_agent_connected',
        'gauge',
        "1 while the hub's last answer is recent and no exchange failed since.",
        [['', this.connected ? 1 : 0]],
      ),
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
        'Apply passes of one work, by result (applied, failed: a manifest failed, refused: the API server refused one).',
        ['applied', 'failed', 'refused'].map((r) => [`result="${escapeLabel(r)}"`, this.#applies.get(r) ?? 0] as const),
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
      '# HELP outpost_agent_sync_duration_seconds Time of one long-poll to the hub (held while nothing changes), by result.',
      '# TYPE outpost_agent_sync_duration_seconds histogram',
      ...this.#pollDuration.render('outpost_agent_sync_duration_seconds'),
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
        ['', this.#started / 1000],
      ]),
    ];
    return `${lines.join('\n')}\n`;
  }
}

/**
 * The local listener: plain HTTP (it says nothing secret, and kubelet probes speak HTTP), on
 * 127.0.0.1 unless told otherwise (the chart binds the pod's address for probes and scrapes).
 */
export async function startListener(
  observer: AgentObserver,
  address: { host: string; port: number },
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'application/json', JSON.stringify({ code: 'METHOD_NOT_ALLOWED', message: 'only GET' }));
      return;
    }
    switch (path) {
      case '/healthz':
        send(200, 'text/plain; charset=utf-8', 'ok\n');
        return;
      case '/readyz': {
        const why = observer.notReady();
        send(
          why ? 503 : 200,
          'application/json',
          JSON.stringify(
            why ? { ready: false, role: observer.role, reason: why } : { ready: true, role: observer.role },
          ),
        );
        return;
      }
      case '/metrics':
        send(200, 'text/plain; version=0.0.4; charset=utf-8', observer.metrics());
        return;
      case '/status':
        send(200, 'application/json', JSON.stringify(observer.live()));
        return;
      default:
        send(404, 'application/json', JSON.stringify({ code: 'NOT_FOUND', message: `no ${path} here` }));
    }
  });
  // Probes and scrapes are short: an idle connection is not kept for long.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
