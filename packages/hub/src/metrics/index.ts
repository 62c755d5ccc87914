// /metrics in the Prometheus text format: fleet gauges computed at scrape time from the
// store, plus request latency histograms kept in memory. No client library: the format is
// a few lines of text, and the hub has few metrics.
import type { FastifyInstance } from 'fastify';
import { clusterResource, type Liveness } from '../registration/clusters.ts';
import type { Store } from '../store/index.ts';

const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

class Histogram {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();

  observe(labels: string, seconds: number): void {
    let s = this.#series.get(labels);
    if (!s) {
      s = { counts: buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(labels, s);
    }
    for (const [i, le] of buckets.entries()) if (seconds <= le) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += seconds;
    s.count += 1;
  }

  render(name: string): string[] {
    const out: string[] = [];
    for (const [labels, s] of this.#series) {
      for (const [i, le] of buckets.entries()) out.push(`${name}_bucket{${labels},le="${le}"} ${s.counts[i]}`);
      out.push(`${name}_bucket{${labels},le="+Inf"} ${s.count}`);
      out.push(`${name}_sum{${labels}} ${s.sum}`);
      out.push(`${name}_count{${labels}} ${s.count}`);
    }
    return out;
  }
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export interface MetricsSources {
  store: Store;
  liveness: () => Liveness;
  longPollsWaiting: () => number;
}

/** Adds /metrics and a latency hook to `app` itself (not an encapsulated plugin), so the hook sees every route. */
export function registerMetrics(app: FastifyInstance, src: MetricsSources): void {
  const requests = new Histogram();
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    // Long-polls would swamp the latency of everything else: they get their own route label.
    requests.observe(
      `method="${req.method}",route="${esc(route)}",status="${reply.statusCode}"`,
      reply.elapsedTime / 1000,
    );
  });

  app.get('/metrics', async (_req, reply) => {
    const now = Date.now();
    const liveness = src.liveness();
    const lines: string[] = [];
    const states = { available: 0, unknown: 0, pending: 0, denied: 0, removing: 0 };
    const available: string[] = [];
    const expiry: string[] = [];
    const applied: string[] = [];
    const conditions = new Map<string, number>();
    let after = '';
    for (;;) {
      const page = src.store.clusters.page(after, 500);
      for (const c of page.items) {
        const cert = src.store.certificates.latestFor(c.name);
        const view = clusterResource(c, cert, now, liveness);
        const avail = view.status.conditions.find((x) => x.type === 'Available')?.status;
        if (c.removalRequestedAt) states.removing++;
        else if (c.denied) states.denied++;
        else if (!c.hubAcceptsClient || !c.joinedAt) states.pending++;
        else if (avail === 'True') states.available++;
        else states.unknown++;
        if (c.joinedAt)
          available.push(`outpost_cluster_available{cluster="${esc(c.name)}"} ${avail === 'True' ? 1 : 0}`);
        if (cert)
          expiry.push(
            `outpost_certificate_expiry_seconds{cluster="${esc(c.name)}"} ${Math.round((Date.parse(cert.notAfter) - now) / 1000)}`,
          );
        for (const w of src.store.works.forCluster(c.name)) {
          const conds = (w.status as { conditions?: { type: string; status: string }[] } | null)?.conditions ?? [];
          const ok = conds.find((x) => x.type === 'Applied')?.status === 'True' && w.status !== null;
          applied.push(`outpost_work_applied{cluster="${esc(c.name)}",work="${esc(w.name)}"} ${ok ? 1 : 0}`);
          for (const x of conds)
            conditions.set(
              `condition="${esc(x.type)}",status="${esc(x.status)}"`,
              (conditions.get(`condition="${esc(x.type)}",status="${esc(x.status)}"`) ?? 0) + 1,
            );
        }
      }
      if (!page.continue) break;
      after = page.continue;
    }
    lines.push('# HELP outpost_clusters Clusters by state.', '# TYPE outpost_clusters gauge');
    for (const [state, n] of Object.entries(states)) lines.push(`outpost_clusters{state="${state}"} ${n}`);
    lines.push(
      '# HELP outpost_cluster_available 1 when the cluster reported within its lease.',
      '# TYPE outpost_cluster_available gauge',
      ...available,
    );
    lines.push(
      '# HELP outpost_certificate_expiry_seconds Seconds until the newest certificate of the cluster expires.',
      '# TYPE outpost_certificate_expiry_seconds gauge',
      ...expiry,
    );
    lines.push(
      '# HELP outpost_work_applied 1 when the agent reported the work Applied.',
      '# TYPE outpost_work_applied gauge',
      ...applied,
    );
    lines.push(
      '# HELP outpost_work_conditions Works by reported condition and status.',
      '# TYPE outpost_work_conditions gauge',
    );
    for (const [labels, n] of conditions) lines.push(`outpost_work_conditions{${labels}} ${n}`);
    lines.push(
      '# HELP outpost_longpoll_waiting Agent long-polls held open right now.',
      '# TYPE outpost_longpoll_waiting gauge',
      `outpost_longpoll_waiting ${src.longPollsWaiting()}`,
    );
    lines.push(
      '# HELP outpost_http_request_duration_seconds Request latency by route.',
      '# TYPE outpost_http_request_duration_seconds histogram',
      ...requests.render('outpost_http_request_duration_seconds'),
    );
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(`${lines.join('\n')}\n`);
  });
}
