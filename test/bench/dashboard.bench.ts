// The dashboard at fleet size: a real hub (SQLite) holding 10,000 clusters and 50,000 works
// (rows written straight into its database before it starts: 1 % of works not applied,
// 0.5 % degraded, 2 % of agents older than the hub), read by the API and by the dashboard in
// headless chromium: the overview's pass, the clusters page, first paint of the overview
// after a change (the hub's last pass, then one counted after the change) and the clusters table after login, the time from a write to the changed row on an open page,
// and the bytes that update cost on its WebSocket; and the time from a work's status report
// (by the agent of one cluster joined for real) to that row's works summary. Then the same
// pages beside a live fleet: OUTPOST_BENCH_LIVE_AGENTS simulated agents (test/bench/fleet:
// real registrations, their own keys and certificates, kept-alive mTLS long-polls, status
// reports acknowledging each work Applied) polling while the browser paints the overview and
// the clusters table, and a workset rolled out to all of them watched on its page: how long
// after the PUT the hub's API, and the page, said Complete.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../../packages/hub/src/store/index.ts';
import { agentPaths } from '../../packages/shared/src/index.ts';
import { launchBrowser, newContext } from '../e2e/browser.ts';
import { adminClient, agentClient, type HubClient, joinCluster, readAdminToken } from '../e2e/hub-client.ts';
import { repoRoot, startHub } from '../e2e/hub-process.ts';
import { Fleet, fleetToken, prepareJoiners, registerAll } from './fleet/fleet.ts';
import { until, worksetBody } from './fleet/phases.ts';
import { type Metric, quantile, report } from './lib.ts';

const clusterCount = Number(process.env.OUTPOST_BENCH_CLUSTERS ?? 10_000);
const liveAgents = Number(process.env.OUTPOST_BENCH_LIVE_AGENTS ?? 1_000);
const worksPerCluster = 5;
/** The hub's own better-sqlite3 (the test package does not depend on it), as far as used here. */
interface Db {
  prepare(sql: string): { run(...params: unknown[]): unknown };
  transaction(fn: () => void): () => void;
  close(): void;
}
const Sqlite = createRequire(join(repoRoot, 'packages/hub/package.json'))('better-sqlite3') as new (file: string) => Db;

let seed = 0x5eed;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

async function fill(dataDir: string): Promise<void> {
  const file = join(dataDir, 'outpost.db');
  await openStore(file).close(); // migrated
  const db = new Sqlite(file);
  const now = new Date().toISOString();
  const cluster = db.prepare(`INSERT INTO clusters (name, uid, resource_version, labels, hub_accepts_client,
    agent_version, created_at, joined_at, last_seen) VALUES (?, ?, 1, ?, 1, ?, ?, ?, ?)`);
  const work = db.prepare(`INSERT INTO works (cluster, name, uid, generation, resource_version, labels, annotations,
    spec, spec_hash, content_hash, manifest_count, size_bytes, status_summary, created_at, updated_at)
    VALUES (?, ?, ?, 1, 2, '{}', '{}', '{}', 'x', 'x', 1, 100, ?, ?, ?)`);
  const summary = (applied: boolean, degraded: boolean) =>
    JSON.stringify({
      conditions: [
        { type: 'Applied', status: applied ? 'True' : 'False' },
        { type: 'Available', status: applied ? 'True' : 'False' },
        { type: 'Degraded', status: degraded ? 'True' : 'False' },
      ],
    });
  db.transaction(() => {
    for (let i = 0; i < clusterCount; i++) {
      const name = `edge-${String(i).padStart(5, '0')}`;
      const labels = { env: random() < 0.2 ? 'staging' : 'prod', region: `r${Math.floor(random() * 100)}` };
      cluster.run(name, randomUUID(), JSON.stringify(labels), random() < 0.02 ? '0.0.9' : '0.1.0', now, now, now);
      for (let w = 0; w < worksPerCluster; w++) {
        const r = random();
        work.run(name, `app-${w}`, randomUUID(), summary(r >= 0.01, r < 0.005), now, now);
      }
    }
  })();
  db.close();
}

/**
 * Opens the overview after a change: how long until it painted (the hub's last pass, which
 * may be older than the change) and until it showed a pass counted after the change.
 */
async function paintOverview(
  page: Awaited<ReturnType<Awaited<ReturnType<typeof newContext>>['newPage']>>,
  url: string,
): Promise<{ paintMs: number; currentMs: number }> {
  const changedAt = new Date().toISOString();
  const start = performance.now();
  await page.goto(`${url}/ui/#/`);
  await page.reload();
  await page.waitForSelector('#noncompliant tr[data-cluster]');
  const paintMs = performance.now() - start;
  // The page's footer says when its pass was counted (asked every 20 ms: the page's CSP
  // refuses the evaluated predicate a waitForFunction would run).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = (await page.evaluate(`document.querySelector('#overview')?.textContent ?? ''`)) as string;
    const counted = /counted at (\S+?)\.$/.exec(text)?.[1];
    if (counted && counted >= changedAt) break;
    if (Date.now() > deadline) throw new Error(`the overview showed no pass counted after ${changedAt}`);
    await sleep(20);
  }
  return { paintMs, currentMs: performance.now() - start };
}

/**
 * When, by the page's clock, `condition` (a JavaScript expression) first holds: a
 * MutationObserver's answer (a locator's wait polls, up to 500 ms apart), in place once this
 * resolves. A string, evaluated by the browser's protocol, which the page's CSP does not cover
 * (and the bench has no DOM types).
 */
async function whenShown(
  page: Awaited<ReturnType<Awaited<ReturnType<typeof newContext>>['newPage']>>,
  condition: string,
): Promise<{ at: Promise<number> }> {
  const at = page.evaluate(`new Promise((resolve) => {
    const check = () => {
      if (!(${condition})) return;
      observer.disconnect();
      resolve(Date.now());
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  })`) as Promise<number>;
  // Evaluated in order: once this answers, the observer above is in place.
  await page.evaluate('0');
  return { at };
}

/** `p`, or a failed run after `ms`: a benchmark never hangs. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms / 1000} s for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const out = await fn();
  return [performance.now() - start, out];
}

const dataDir = await mkdtemp(join(tmpdir(), 'outpost-bench-dashboard-'));
await fill(dataDir);
const hub = await startHub({ dataDir, timeoutMs: 60_000 });
const admin = await adminClient(hub);
const browser = await launchBrowser();
try {
  const [overviewColdMs, cold] = await timed(() => admin.get('/api/v1/overview'));
  const [overviewReusedMs] = await timed(() => admin.get('/api/v1/overview'));
  const passes: number[] = [];
  for (let i = 0; i < 5; i++) {
    // Past the once-a-second bound, so that each read after a change is one whole pass.
    await new Promise((r) => setTimeout(r, 1_100));
    await admin.patch(`/api/v1/clusters/edge-0000${i}`, { metadata: { labels: { touched: String(i) } } });
    passes.push((await timed(() => admin.get('/api/v1/overview')))[0]);
  }
  const pages: number[] = [];
  for (let i = 0; i < 10; i++) pages.push((await timed(() => admin.get('/api/v1/clusters?limit=50')))[0]);
  const selected: number[] = [];
  for (let i = 0; i < 10; i++) {
    selected.push((await timed(() => admin.get('/api/v1/clusters?limit=50&labelSelector=region%3Dr7')))[0]);
  }

  // A cluster with an agent identity, first on the clusters page ("a-" sorts before "edge-"),
  // with one work whose status the test reports.
  const live = await joinCluster(hub, admin, 'a-live');
  const created = await admin.post<{ metadata: { uid: string } }>('/api/v1/clusters/a-live/works', {
    apiVersion: 'work.open-cluster-management.io/v1',
    kind: 'ManifestWork',
    metadata: { name: 'app' },
    spec: { workload: { manifests: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app' } }] } },
  });
  if (created.status !== 201) throw new Error(created.text);
  const agent = agentClient(hub, live);
  let seq = 0;
  const reportWork = async (degraded: boolean) => {
    const res = await agent.post(agentPaths.status('a-live'), {
      reports: [
        {
          seq: ++seq,
          work: 'app',
          uid: created.body.metadata.uid,
          generation: 1,
          observedAt: new Date().toISOString(),
          status: {
            conditions: ['Applied', 'Available', ...(degraded ? ['Degraded'] : [])].map((type) => ({
              type,
              status: 'True',
              reason: type,
              message: '',
            })),
            resourceStatus: { manifests: [] },
            observedGeneration: 1,
          },
        },
      ],
    });
    if (res.status !== 200) throw new Error(res.text);
  };

  const context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${hub.url}/ui/`);
  await page.fill('#token', await readAdminToken(hub.dataDir));
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#logout');
  // A change first: the page paints the hub's last pass, then shows one counted after it.
  await new Promise((r) => setTimeout(r, 1_100));
  await admin.patch('/api/v1/clusters/edge-00009', { metadata: { labels: { touched: 'paint' } } });
  const { paintMs: overviewPaintMs, currentMs: overviewCurrentMs } = await paintOverview(page, hub.url);
  const frames: number[] = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(Buffer.byteLength(f.payload))));
  const [clustersPaintMs] = await timed(async () => {
    await page.goto(`${hub.url}/ui/#/clusters`);
    await page.waitForSelector('tr[data-cluster="edge-00000"]');
  });
  await page.waitForSelector('#live.on');
  const updates: number[] = [];
  for (let i = 0; i < 5; i++) {
    frames.length = 0;
    const value = `v${i}`;
    const [ms] = await timed(async () => {
      await admin.patch('/api/v1/clusters/edge-00001', { metadata: { labels: { live: value } } });
      await page.locator('tr[data-cluster="edge-00001"] .labels', { hasText: `live=${value}` }).waitFor();
    });
    updates.push(ms);
  }
  const updateBytes = frames.length ? Math.max(...frames) : 0;
  // Timed in the page, by a MutationObserver: a locator's wait polls (up to 500 ms apart).
  const workUpdates: number[] = [];
  for (let i = 0; i < 10; i++) {
    const degraded = i % 2 === 0;
    const want = degraded ? '1 work · 1 applied · 1 available · 1 degraded' : '1 work · all available';
    const shown = await whenShown(
      page,
      `document.querySelector('tr[data-cluster="a-live"] .works-summary')?.textContent === ${JSON.stringify(want)}`,
    );
    const start = Date.now();
    await reportWork(degraded);
    workUpdates.push((await within(shown.at, 30_000, 'the works summary to change')) - start);
  }
  await agent.close();
  await context.close();
  const fleetFigures = await liveFleet(hub, admin, browser);
  const body = cold.body as { nonCompliant: { total: number } } | undefined;
  report(
    'dashboard',
    {
      overview_pass_ms: { value: overviewColdMs, unit: 'ms', target: '< 1000' },
      overview_reused_ms: { value: overviewReusedMs, unit: 'ms' },
      overview_after_change_p50_ms: { value: quantile(passes, 0.5), unit: 'ms', target: '< 1000' },
      overview_bytes: { value: Buffer.byteLength(cold.text), unit: 'bytes' },
      clusters_page_p50_ms: { value: quantile(pages, 0.5), unit: 'ms' },
      clusters_page_selector_p50_ms: { value: quantile(selected, 0.5), unit: 'ms' },
      first_paint_overview_ms: { value: overviewPaintMs, unit: 'ms', target: '< 1000' },
      overview_current_ms: { value: overviewCurrentMs, unit: 'ms' },
      first_paint_clusters_ms: { value: clustersPaintMs, unit: 'ms', target: '< 1000' },
      live_update_p50_ms: { value: quantile(updates, 0.5), unit: 'ms', target: '< 1000' },
      live_update_max_ms: { value: Math.max(...updates), unit: 'ms', target: '< 1000' },
      bytes_per_cluster_update: { value: updateBytes, unit: 'bytes' },
      works_summary_update_p50_ms: { value: quantile(workUpdates, 0.5), unit: 'ms', target: '< 1000' },
      works_summary_update_max_ms: { value: Math.max(...workUpdates), unit: 'ms', target: '< 1000' },
      ...fleetFigures.metrics,
    },
    {
      clusters: clusterCount + liveAgents,
      works: clusterCount * worksPerCluster + liveAgents,
      nonCompliant: body?.nonCompliant.total,
      liveAgents,
      ...fleetFigures.notes,
    },
  );
} finally {
  await browser.close();
  await admin.close();
  await hub.stop();
}

/** The rollout state the hub's API shows for live-demo, and since when it is Complete. */
async function rolloutOf(admin: HubClient): Promise<{ state?: string; completeSince?: string; text: string }> {
  const w = await admin.get<{
    status?: {
      conditions?: { type: string; status: string; lastTransitionTime?: string }[];
      rollout?: { state?: string };
    };
  }>('/api/v1/namespaces/default/manifestworkreplicasets/live-demo');
  const complete = w.body.status?.conditions?.find((c) => c.type === 'Complete' && c.status === 'True');
  return {
    state: w.body.status?.rollout?.state,
    completeSince: complete?.lastTransitionTime,
    text: w.text.slice(0, 2000),
  };
}

/**
 * The dashboard beside a live fleet of `liveAgents` simulated agents: first paint of the
 * overview and of the clusters table while they poll, and a workset rolled out to all of
 * them on its page (from the PUT to the API's Complete, and to the page's).
 */
async function liveFleet(
  hub: Awaited<ReturnType<typeof startHub>>,
  admin: HubClient,
  browser: Awaited<ReturnType<typeof launchBrowser>>,
): Promise<{ metrics: Record<string, Metric>; notes: Record<string, unknown> }> {
  if (liveAgents <= 0) return { metrics: {}, notes: {} };
  const say = (line: string) => console.log(`dashboard: ${line}`);
  const names = Array.from({ length: liveAgents }, (_, i) => `live-${String(i).padStart(5, '0')}`);
  say(`preparing ${liveAgents} simulated agents…`);
  const joiners = await prepareJoiners(names);
  const token = await fleetToken(admin, liveAgents, { fleet: 'live' });
  const reg = await registerAll({ hubUrl: hub.url, caPem: hub.caCertPem }, token, joiners, 8, (n) =>
    say(`  ${n} registered`),
  );
  const fleet = new Fleet(reg.credentials, {
    hubUrl: hub.url,
    caPem: hub.caCertPem,
    pollWaitSeconds: 30,
    heartbeatMs: 10_000,
    workers: liveAgents >= 1000 ? 2 : 1,
  });
  const context = await newContext(browser);
  try {
    const started = Date.now();
    await fleet.start();
    const up = await until(
      async () => ((await fleet.pollingSince(started)) === liveAgents ? true : undefined),
      120_000,
      250,
    );
    if (!up) throw new Error(`only ${await fleet.pollingSince(started)} of ${liveAgents} agents polling`);
    say(`${liveAgents} agents polling`);
    const placed = await admin.call('PUT', '/api/v1/namespaces/default/placements/live-all', {
      json: {
        metadata: { name: 'live-all' },
        spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { fleet: 'live' } } } }] },
      },
    });
    if (placed.status !== 200 && placed.status !== 201) throw new Error(`placement: ${placed.text}`);

    const page = await context.newPage();
    await page.goto(`${hub.url}/ui/`);
    await page.fill('#token', await readAdminToken(hub.dataDir));
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#logout');
    // As above: a change first; the paint, then a pass counted after it.
    await sleep(1_100);
    await admin.patch('/api/v1/clusters/live-00000', { metadata: { labels: { touched: 'paint' } } });
    const overview = await paintOverview(page, hub.url);
    const [clustersMs] = await timed(async () => {
      await page.goto(`${hub.url}/ui/#/clusters?labelSelector=fleet%3Dlive`);
      await page.waitForSelector('tr[data-cluster="live-00000"]');
    });

    // The workset made paused and its page opened (its clusters shown waiting); then resumed
    // with a change, timed until the API and the page say Complete.
    const put = async (value: string, paused: boolean) => {
      const res = await admin.call('PUT', '/api/v1/namespaces/default/manifestworkreplicasets/live-demo', {
        json: worksetBody(value, { name: 'live-demo', placement: 'live-all', paused }),
      });
      if (res.status !== 200 && res.status !== 201) throw new Error(`workset: ${res.text}`);
    };
    let lastSeen = '';
    const complete = () =>
      until(
        async () => {
          const r = await rolloutOf(admin);
          lastSeen = r.text;
          return r.state === 'Complete' ? Date.now() : undefined;
        },
        180_000,
        50,
      );
    await put('one', true);
    const [worksetPaintMs] = await timed(async () => {
      await page.goto(`${hub.url}/ui/#/worksets/default/live-demo`);
      await page.locator('#workset-state', { hasText: 'Paused' }).waitFor({ timeout: 30_000 });
      await page.waitForSelector('tr[data-cluster="live-00000"]');
    });
    // The page's own clock says when it showed Complete.
    const shown = await whenShown(page, `document.querySelector('#workset-state')?.textContent === 'Complete'`);
    const changedAt = Date.now();
    await put('two', false);
    const apiAt = await complete();
    if (!apiAt) throw new Error(`the rollout did not complete: ${lastSeen}`);
    const pageAt = await within(shown.at, 30_000, 'the workset page to show Complete');
    const counters = await fleet.counters();
    return {
      metrics: {
        live_first_paint_overview_ms: { value: overview.paintMs, unit: 'ms', target: '< 1000' },
        live_overview_current_ms: { value: overview.currentMs, unit: 'ms' },
        live_first_paint_clusters_ms: { value: clustersMs, unit: 'ms', target: '< 1000' },
        live_workset_page_paint_ms: { value: worksetPaintMs, unit: 'ms', target: '< 1000' },
        // Both from the PUT: the API polled every 50 ms, the page by its own observer.
        live_rollout_complete_api_ms: { value: apiAt - changedAt, unit: 'ms' },
        live_rollout_complete_page_ms: { value: pageAt - changedAt, unit: 'ms' },
      },
      notes: {
        liveRegistrationsPerSecond: reg.perSecond,
        livePolls: counters.polls,
        liveStatusPosts: counters.statusPosts,
        liveErrors: counters.errors,
      },
    };
  } finally {
    await context.close();
    await fleet.stop();
  }
}
