// Hub replicas, side by side in one run: the same fleet of N simulated mTLS agents
// (test/bench/fleet/) against (a) one hub on SQLite, (b) one hub on PostgreSQL and (c) three
// hub replicas on one PostgreSQL database behind HAProxy (test/lb), one configuration after
// the other on this machine, PostgreSQL with its durable defaults (fsync on). Figures per
// configuration: registrations/s; idle CPU and memory of all hub processes, and per 1,000
// agents; database transactions and rows written per second while idle; wake-up latency of
// a held poll after a work is written (held on one hub, written through another in (c));
// fan-out of one workset to every agent, until all Applied at the hub; database size.
//   ./scripts/bench replicas [N]     (default 1000; OUTPOST_BENCH_REPLICAS works too)
// Writes test/bench/results/replicas.json. Bounded: deadlines on every wait, a watchdog,
// every process stopped at the end.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { agentPaths, type SyncResponse } from '../../packages/shared/src/index.ts';
import {
  agentClient,
  createToken,
  HubClient,
  type JoinedCluster,
  joinCluster,
  readAdminToken,
} from '../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../e2e/hub-process.ts';
import { startLoadBalancer } from '../lb/index.ts';
import { createDatabase, startPostgres } from '../pg/index.ts';
import { cpuSeconds, Fleet, fleetToken, prepareJoiners, procStatusMiB, registerAll } from './fleet/fleet.ts';
import { until, worksetBody } from './fleet/phases.ts';
import { type Metric, quantile, report } from './lib.ts';

const agents = Number(process.argv[2] ?? process.env.OUTPOST_BENCH_REPLICAS ?? 1000);
if (!Number.isInteger(agents) || agents < 10) {
  process.stderr.write('replicas bench: N must be an integer of at least 10\n');
  process.exit(2);
}
const watchdogMs = (20 + Math.ceil(agents / 1000) * 10) * 60_000;
const watchdog = setTimeout(() => {
  process.stderr.write(`replicas bench: watchdog after ${watchdogMs / 60_000} min; stopping\n`);
  process.exit(1);
}, watchdogMs);
watchdog.unref();

const say = (line: string) => process.stdout.write(`${line}\n`);
const pollSeconds = 30;
const idleMs = 30_000;
const wakes = 50;

interface Config {
  key: 'sqlite_1' | 'postgres_1' | 'postgres_3';
  hubs: number;
  postgres: boolean;
}

const configs: Config[] = [
  { key: 'sqlite_1', hubs: 1, postgres: false },
  { key: 'postgres_1', hubs: 1, postgres: true },
  { key: 'postgres_3', hubs: 3, postgres: true },
];

const metrics: Record<string, Metric> = {};
const notes: Record<string, unknown> = {
  agents,
  pollSeconds,
  postgres: 'PostgreSQL 15, fsync and synchronous_commit on',
};
const server = await startPostgres({ durable: true });

/** Transactions committed and rows written in `url`'s database so far. */
async function dbCounters(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT xact_commit::bigint AS commits, xact_rollback::bigint AS rollbacks,
              (tup_inserted + tup_updated + tup_deleted)::bigint AS rows,
              pg_database_size(current_database())::bigint AS bytes
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    const row = r.rows[0] as { commits: string; rollbacks: string; rows: string; bytes: string };
    return {
      commits: Number(row.commits),
      rollbacks: Number(row.rollbacks),
      rows: Number(row.rows),
      bytes: Number(row.bytes),
    };
  } finally {
    await c.end();
  }
}

async function run(cfg: Config): Promise<void> {
  const m = (name: string, value: number, unit: string, target?: string) => {
    metrics[`${cfg.key}_${name}`] = { value, unit, ...(target ? { target } : {}) };
  };
  say(`\n-- ${cfg.key}: ${cfg.hubs} hub${cfg.hubs > 1 ? 's' : ''} on ${cfg.postgres ? 'PostgreSQL' : 'SQLite'}`);
  const url = cfg.postgres ? await createDatabase(server.url, cfg.key) : undefined;
  const keyDir = await mkdtemp(join(tmpdir(), 'outpost-bench-kek-'));
  const hubs: HubProcess[] = [];
  const admins: HubClient[] = [];
  const clients: HubClient[] = [];
  let fleet: Fleet | undefined;
  let lb: Awaited<ReturnType<typeof startLoadBalancer>> | undefined;
  try {
    const common = ['--poll-timeout', `${pollSeconds}s`, '--log-level', 'warn'];
    const first = await startHub({ args: [...common, ...(url ? ['--database', url] : [])] });
    hubs.push(first);
    if (cfg.hubs > 1 && url) {
      const kek = join(keyDir, 'pki.kek');
      await copyFile(join(first.dataDir, 'pki.kek'), kek);
      for (let i = 1; i < cfg.hubs; i++) {
        hubs.push(await startHub({ args: [...common, '--database', url, '--kek-file', kek] }));
      }
      lb = await startLoadBalancer(hubs.map((h) => ({ port: h.port })));
    }
    const token = await readAdminToken(first.dataDir);
    for (const h of hubs) admins.push(new HubClient(h.url, { ca: h.caCertPem, token }));
    const admin = admins[0] as HubClient;
    const entry = lb ? `https://127.0.0.1:${lb.port}` : first.url;
    const entryAdmin = new HubClient(entry, { ca: first.caCertPem, token });
    clients.push(entryAdmin);

    // What the hubs cost with no agent: the base the per-agent figures are counted above.
    const basePids = hubs.map((h) => h.proc.pid as number);
    const baseCpu0 = basePids.map(cpuSeconds);
    const tb = performance.now();
    await sleep(10_000);
    const baseCpu =
      (100 * basePids.reduce((sum, pid, i) => sum + (cpuSeconds(pid) - (baseCpu0[i] as number)), 0)) /
      ((performance.now() - tb) / 1000);
    const baseRss = basePids.reduce((sum, pid) => sum + procStatusMiB(pid, 'VmRSS'), 0);
    m('hub_cpu_no_agents', baseCpu, '% of a core, all hub processes');
    m('hub_rss_no_agents', baseRss, 'MiB, all hub processes');

    // Registration, through the load balancer when there is one.
    const names = Array.from({ length: agents }, (_, i) => `fleet-${String(i).padStart(5, '0')}`);
    const joiners = await prepareJoiners(names);
    const fleetTok = await fleetToken(admin, agents, { fleet: 'sim' });
    const regDb0 = url ? await dbCounters(url) : undefined;
    const reg = await registerAll({ hubUrl: entry, caPem: first.caCertPem }, fleetTok, joiners, 8);
    m('registrations_per_second', reg.perSecond, 'registrations/s');
    if (url && regDb0) {
      const regDb1 = await dbCounters(url);
      // Transactions that lost a race and ran again (or failed) while the fleet registered.
      notes[`${cfg.key}_registration_rollbacks`] = regDb1.rollbacks - regDb0.rollbacks;
      notes[`${cfg.key}_registration_commits`] = regDb1.commits - regDb0.commits;
    }
    say(`registered ${reg.credentials.length} at ${reg.perSecond.toFixed(0)}/s`);

    fleet = new Fleet(reg.credentials, {
      hubUrl: entry,
      caPem: first.caCertPem,
      pollWaitSeconds: pollSeconds,
      heartbeatMs: 30_000,
      workers: agents >= 1000 ? 2 : 1,
    });
    const started = Date.now();
    await fleet.start();
    const f = fleet;
    await until(async () => ((await f.pollingSince(started)) === agents ? true : undefined), 180_000);
    say(`${await fleet.pollingSince(started)} polling; idling ${idleMs / 1000} s`);
    await sleep(10_000);

    // Idle: CPU and memory of every hub process, and what the database writes.
    const pids = hubs.map((h) => h.proc.pid as number);
    const cpu0 = pids.map(cpuSeconds);
    const db0 = url ? await dbCounters(url) : undefined;
    const t0 = performance.now();
    await sleep(idleMs);
    const secs = (performance.now() - t0) / 1000;
    const cpu = pids.reduce((sum, pid, i) => sum + (cpuSeconds(pid) - (cpu0[i] as number)), 0);
    const rss = pids.reduce((sum, pid) => sum + procStatusMiB(pid, 'VmRSS'), 0);
    m('hub_cpu_idle', (100 * cpu) / secs, '% of a core, all hub processes');
    m('hub_cpu_idle_per_1000_agents', ((100 * cpu) / secs - baseCpu) / (agents / 1000), '% of a core, above no agents');
    m('hub_rss_idle', rss, 'MiB, all hub processes');
    m('hub_rss_idle_per_1000_agents', (rss - baseRss) / (agents / 1000), 'MiB, above no agents');
    if (url && db0) {
      const db1 = await dbCounters(url);
      m('db_commits_per_second_idle', (db1.commits - db0.commits) / secs, 'transactions/s');
      m('db_rows_written_per_second_idle', (db1.rows - db0.rows) / secs, 'rows/s');
    }

    // Wake-up: a poll held on the first hub, a work written through the last one.
    const probeAdmin = admins.at(-1) as HubClient;
    const probe: JoinedCluster = await joinCluster(first, admin, 'wake-probe', {
      token: (await createToken(admin, { autoApprove: true, ttl: '10m' })).token,
    });
    const probeAgent = agentClient(first, probe);
    clients.push(probeAgent);
    const sync = (body: Record<string, unknown>) =>
      probeAgent.post<SyncResponse>(agentPaths.sync('wake-probe'), body, { timeoutMs: 60_000 });
    let state = (await sync({ revision: 0, inventory: {}, waitSeconds: 0 })).body;
    const latencies: number[] = [];
    for (let i = 0; i < wakes; i++) {
      const held = sync({ revision: state.revision, hubEpoch: state.hubEpoch, waitSeconds: 20 });
      await sleep(150); // the poll is held by now
      let answeredAt = 0;
      void held.then(() => {
        answeredAt = performance.now();
      });
      const put = await probeAdmin.call('PUT', '/api/v1/clusters/wake-probe/works/probe', {
        json: {
          apiVersion: 'work.open-cluster-management.io/v1',
          kind: 'ManifestWork',
          metadata: { name: 'probe' },
          spec: {
            workload: {
              manifests: [
                {
                  apiVersion: 'v1',
                  kind: 'ConfigMap',
                  metadata: { name: 'p', namespace: 'default' },
                  data: { i: `${i}` },
                },
              ],
            },
          },
        },
      });
      const written = performance.now();
      if (put.status !== 200 && put.status !== 201) throw new Error(`probe work: ${put.status} ${put.text}`);
      state = (await held).body;
      latencies.push(Math.max(0, answeredAt - written));
    }
    m('wake_p50', quantile(latencies, 0.5), 'ms from the write acknowledged to the held poll answered');
    m('wake_p99', quantile(latencies, 0.99), 'ms', cfg.hubs > 1 ? '< 100 (across replicas)' : undefined);

    // Fan-out: one workset to every simulated agent, until all Applied at the hub.
    await entryAdmin.call('PUT', '/api/v1/placements/fleet-all', {
      json: {
        metadata: { name: 'fleet-all' },
        spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: { fleet: 'sim' } } } }] },
      },
    });
    const t = Date.now();
    const res = await entryAdmin.call('PUT', '/api/v1/worksets/fleet-demo', { json: worksetBody('one') });
    if (res.status !== 200 && res.status !== 201) throw new Error(`workset: ${res.status} ${res.text}`);
    const applied = await until(
      async () => {
        const s = (
          await entryAdmin.get<{ status?: { summary?: { applied?: number; total?: number } } }>(
            '/api/v1/worksets/fleet-demo',
          )
        ).body.status?.summary;
        return s?.applied === agents && s.total === agents ? Date.now() : undefined;
      },
      120_000 + agents * 30,
      500,
    );
    m('fanout_all_applied_at_hub', applied ? (applied - t) / 1000 : Number.NaN, 's');
    say(`fan-out: ${applied ? `${((applied - t) / 1000).toFixed(1)} s` : 'not all Applied in time'}`);
    if (url) m('db_size', (await dbCounters(url)).bytes / 2 ** 20, 'MiB');
    notes[`${cfg.key}_errors`] = (await fleet.counters()).errors;
  } finally {
    await fleet?.stop();
    for (const c of [...clients, ...admins]) await c.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await lb?.stop();
    await rm(keyDir, { recursive: true, force: true });
  }
}

try {
  for (const cfg of configs) await run(cfg);
} finally {
  await server.stop();
}
report('replicas', metrics, notes);
clearTimeout(watchdog);
