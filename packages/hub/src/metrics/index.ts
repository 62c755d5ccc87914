// /metrics in the Prometheus text format: fleet gauges and request latency histograms. No
// client library: the format is a few lines of text, and the hub has few metrics.
//
// The fleet gauges are a snapshot, not computed per scrape: reading every cluster and work
// on each request made a scrape's cost grow with the stored data and let parallel scrapes
// stall the hub. A scrape answers from the last snapshot and, when it is older than
// durations.metricsSnapshotMs, starts a new one that reads the store in small slices,
// yielding to the event loop between them (only the first scrape waits for one). Work
// conditions come out of SQLite as the conditions array alone, never the whole status.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { durations, escapeLabel, Histogram, metricLines } from '@outpost/shared';
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../auth/index.ts';
import { clusterResource, type Liveness } from '../registration/clusters.ts';
import type { Store } from '../store/index.ts';

/** Rows read between two yields to the event loop (200 cost up to 27 ms of the loop with
 *  10,000 works under load; a work row's conditions are read out of its whole status). */
const sliceRows = 50;

const esc = escapeLabel;

export interface MetricsSources {
  store: Store;
  liveness: () => Liveness;
  longPollsWaiting: () => number;
  inventoriesAsked: () => number;
  /** Whether this hub runs the singleton duties (replicas/leader.ts); always on SQLite. */
  leading?: () => boolean;
  /** The CAs' lifetimes: the signing CA and, during a rotation, the retiring one. */
  caLifetimes?: () => { role: 'signing' | 'previous'; notBefore: Date; notAfter: Date }[];
}

/** The workset conditions /metrics shows, one series each (1 True, 0 otherwise). */
const workSetConditionTypes = ['PlacementVerified', 'Progressing', 'Complete', 'RolloutStopped', 'Paused'];
/** The summary counts of a workset /metrics shows (OCM's ManifestWorkReplicaSetSummary). */
const workSetSummaryStates = ['total', 'applied', 'available', 'degraded', 'progressing'];

/** Conditions as stored; anything not shaped like a condition is skipped, never thrown on. */
function readConditions(text: string | null): { type: string; status: string }[] {
  if (!text) return [];
  try {
    return validConditions(JSON.parse(text));
  } catch {
    return [];
  }
}

/** The entries of `v` shaped like conditions (none when `v` is not a list). */
function validConditions(v: unknown): { type: string; status: string }[] {
  if (!Array.isArray(v)) return [];
  return v.filter(
    (c): c is { type: string; status: string } =>
      typeof c === 'object' && c !== null && typeof c.type === 'string' && typeof c.status === 'string',
  );
}

/** One pass over the store, in slices; resolves with the fleet gauges' text. */
async function snapshot(src: MetricsSources): Promise<string> {
  const now = Date.now();
  const liveness = src.liveness();
  const states = { available: 0, unknown: 0, pending: 0, denied: 0, removing: 0 };
  const available: string[] = [];
  const expiry: string[] = [];
  const applied: string[] = [];
  const conditions = new Map<string, number>();
  let after = '';
  for (;;) {
    const page = await src.store.clusters.page(after, sliceRows);
    const certs = await src.store.certificates.latestIn(after, page.items.at(-1)?.name ?? after);
    for (const c of page.items) {
      const cert = certs.get(c.name);
      const view = clusterResource(c, cert, now, liveness);
      const avail = view.status.conditions.find((x) => x.type === 'Available')?.status;
      if (c.removalRequestedAt) states.removing++;
      else if (c.denied) states.denied++;
      else if (!c.hubAcceptsClient || !c.joinedAt) states.pending++;
      else if (avail === 'True') states.available++;
      else states.unknown++;
      if (c.joinedAt) available.push(`outpost_cluster_available{cluster="${esc(c.name)}"} ${avail === 'True' ? 1 : 0}`);
      if (cert) {
        const left = Math.round((Date.parse(cert.notAfter) - now) / 1000);
        expiry.push(`outpost_certificate_expiry_seconds{cluster="${esc(c.name)}"} ${left}`);
      }
    }
    if (!page.continue) break;
    after = page.continue;
    await yieldLoop();
  }
  let at = { cluster: '', name: '' };
  for (;;) {
    const rows = await src.store.works.metricPage(at, sliceRows);
    for (const w of rows) {
      const conds = readConditions(w.conditions);
      const ok = conds.find((x) => x.type === 'Applied')?.status === 'True';
      applied.push(`outpost_work_applied{cluster="${esc(w.cluster)}",work="${esc(w.name)}"} ${ok ? 1 : 0}`);
      for (const x of conds) {
        const key = `condition="${esc(x.type)}",status="${esc(x.status)}"`;
        conditions.set(key, (conditions.get(key) ?? 0) + 1);
      }
    }
    const last = rows.at(-1);
    if (!last || rows.length < sliceRows) break;
    at = { cluster: last.cluster, name: last.name };
    await yieldLoop();
  }
  const worksetClusters: string[] = [];
  const worksetConditions: string[] = [];
  let afterSet = '';
  for (;;) {
    const page = await src.store.worksets.page(afterSet, sliceRows);
    for (const w of page.items) {
      const id = `namespace="${esc(w.namespace)}",workset="${esc(w.name)}"`;
      const status = (w.status ?? {}) as { summary?: Record<string, unknown>; conditions?: unknown };
      for (const state of workSetSummaryStates) {
        const n = status.summary?.[state];
        worksetClusters.push(`outpost_workset_clusters{${id},state="${state}"} ${typeof n === 'number' ? n : 0}`);
      }
      const conds = validConditions(status.conditions);
      for (const type of workSetConditionTypes) {
        const on = conds.find((c) => c.type === type)?.status === 'True';
        worksetConditions.push(`outpost_workset_condition{${id},condition="${type}"} ${on ? 1 : 0}`);
      }
    }
    if (!page.continue) break;
    afterSet = page.continue;
    await yieldLoop();
  }
  const lines: string[] = ['# HELP outpost_clusters Clusters by state.', '# TYPE outpost_clusters gauge'];
  for (const [state, n] of Object.entries(states)) lines.push(`outpost_clusters{state="${state}"} ${n}`);
  lines.push(
    '# HELP outpost_cluster_available 1 when the cluster reported within its lease.',
    '# TYPE outpost_cluster_available gauge',
    ...available,
    '# HELP outpost_certificate_expiry_seconds Seconds until the newest certificate of the cluster expires.',
    '# TYPE outpost_certificate_expiry_seconds gauge',
    ...expiry,
    '# HELP outpost_work_applied 1 when the agent reported the work Applied.',
    '# TYPE outpost_work_applied gauge',
    ...applied,
    '# HELP outpost_work_conditions Works by reported condition and status.',
    '# TYPE outpost_work_conditions gauge',
  );
  for (const [labels, n] of conditions) lines.push(`outpost_work_conditions{${labels}} ${n}`);
  lines.push(
    "# HELP outpost_workset_clusters A workset's clusters by state (its status summary: total, applied, available, degraded, progressing).",
    '# TYPE outpost_workset_clusters gauge',
    ...worksetClusters,
    "# HELP outpost_workset_condition A workset's condition, 1 when True (PlacementVerified, Progressing, Complete, RolloutStopped, Paused).",
    '# TYPE outpost_workset_condition gauge',
    ...worksetConditions,
  );
  lines.push('');
  return lines.join('\n');
}

/** The fleet gauges, refreshed in the background when older than `maxAgeMs`. */
export class FleetSnapshot {
  readonly #src: MetricsSources;
  readonly #maxAgeMs: number;
  /** Encoded once per snapshot: with 10,000 works it is most of a megabyte, and encoding it
   *  per scrape was most of a scrape's cost. */
  #body: Buffer | undefined;
  #at = 0;
  #running: Promise<Buffer> | undefined;

  constructor(src: MetricsSources, maxAgeMs: number = durations.metricsSnapshotMs) {
    this.#src = src;
    this.#maxAgeMs = maxAgeMs;
  }

  #refresh(): Promise<Buffer> {
    this.#running ??= snapshot(this.#src)
      .then((text) => {
        this.#body = Buffer.from(text);
        this.#at = Date.now();
        return this.#body;
      })
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  /** The last snapshot (a new one is started when it is stale); waits only for the very first. */
  async body(): Promise<Buffer> {
    if (this.#body === undefined) return this.#refresh();
    if (Date.now() - this.#at > this.#maxAgeMs) this.#refresh().catch(() => undefined);
    return this.#body;
  }
}

/** The CAs' lifetimes: a rotation started long ago and never finished shows as a retiring CA. */
function caLines(src: MetricsSources): string[] {
  const cas = src.caLifetimes?.() ?? [];
  if (!cas.length) return [];
  return [
    ...metricLines(
      'outpost_ca_not_before_timestamp_seconds',
      'gauge',
      "When the hub's CA became valid, by role: signing, and previous while a rotation retires it.",
      cas.map((c) => [`role="${c.role}"`, c.notBefore.getTime() / 1000] as const),
    ),
    ...metricLines(
      'outpost_ca_expiry_timestamp_seconds',
      'gauge',
      "When the hub's CA expires, by role: signing, and previous while a rotation retires it.",
      cas.map((c) => [`role="${c.role}"`, c.notAfter.getTime() / 1000] as const),
    ),
  ];
}

export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Adds /metrics and a latency hook to `app` itself (not an encapsulated plugin), so the hook
 * sees every route. On this (public) port /metrics needs an API token of any scope: it names
 * every cluster and work. Returns the renderer, for the optional `--metrics-listen` port.
 */
export function registerMetrics(app: FastifyInstance, src: MetricsSources): () => Promise<Readable> {
  const requests = new Histogram();
  const fleet = new FleetSnapshot(src);
  // TLS handshakes by kind: after a restart most of the fleet should resume (pki/tickets.ts).
  const handshakes = { full: 0, resumed: 0 };
  app.server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.isSessionReused()) handshakes.resumed++;
    else handshakes.full++;
  });
  // Event-loop delay per window (not since start, not reset by a scrape, so several
  // scrapers each see the same figures): the hub's own answer to "is anything stalling me".
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let window = { p99: 0, max: 0, count: 0 };
  const harvest = setInterval(() => {
    window = { p99: loop.percentile(99) / 1e9, max: loop.max / 1e9, count: window.count + 1 };
    loop.reset();
  }, durations.loopDelayWindowMs).unref();
  app.addHook('onClose', async () => {
    clearInterval(harvest);
    loop.disable();
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    // Long-polls would swamp the latency of everything else: they get their own route label.
    requests.observe(
      `method="${req.method}",route="${esc(route)}",status="${reply.statusCode}"`,
      reply.elapsedTime / 1000,
    );
  });

  const render = async () => {
    const fleetBody = await fleet.body();
    const lines = [
      '# HELP outpost_longpoll_waiting Agent long-polls held open right now.',
      '# TYPE outpost_longpoll_waiting gauge',
      `outpost_longpoll_waiting ${src.longPollsWaiting()}`,
      '# HELP outpost_hub_leader 1 when this hub runs the singleton duties (placements, worksets, TTLs, pruning): one replica on a shared database, always a hub on SQLite.',
      '# TYPE outpost_hub_leader gauge',
      `outpost_hub_leader ${(src.leading?.() ?? true) ? 1 : 0}`,
      ...caLines(src),
      "# HELP outpost_sync_inventory_requests_total Polls answered with a request for the agent's inventory (the hub did not know what it held).",
      '# TYPE outpost_sync_inventory_requests_total counter',
      `outpost_sync_inventory_requests_total ${src.inventoriesAsked()}`,
      `# HELP outpost_event_loop_delay_seconds Event-loop delay of the hub in the last finished ${durations.loopDelayWindowMs / 1000} s window.`,
      '# TYPE outpost_event_loop_delay_seconds gauge',
      `outpost_event_loop_delay_seconds{quantile="0.99"} ${window.p99}`,
      `outpost_event_loop_delay_seconds{quantile="1"} ${window.max}`,
      '# HELP outpost_event_loop_delay_windows_total Event-loop delay windows finished since the start.',
      '# TYPE outpost_event_loop_delay_windows_total counter',
      `outpost_event_loop_delay_windows_total ${window.count}`,
      '# HELP outpost_tls_handshakes_total TLS handshakes completed, by whether a session was resumed.',
      '# TYPE outpost_tls_handshakes_total counter',
      `outpost_tls_handshakes_total{resumed="false"} ${handshakes.full}`,
      `outpost_tls_handshakes_total{resumed="true"} ${handshakes.resumed}`,
      '# HELP outpost_http_request_duration_seconds Request latency by route.',
      '# TYPE outpost_http_request_duration_seconds histogram',
      ...requests.render('outpost_http_request_duration_seconds'),
    ];
    // Two chunks, not one concatenated copy: the snapshot is shared by every scrape.
    return Readable.from([fleetBody, Buffer.from(`${lines.join('\n')}\n`)], { objectMode: false });
  };
  app.get(
    '/metrics',
    {
      onRequest: async (req) => {
        await authenticate(src.store, req.headers.authorization, new Date());
      },
    },
    async (_req, reply) => reply.type(metricsContentType).send(await render()),
  );
  return render;
}
