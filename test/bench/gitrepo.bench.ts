// GitRepos on real processes: a hub, a real Git server on loopback (git http-backend behind
// the e2e Node bridge, which counts its requests), real kube-apiservers on one shared etcd
// with a real agent each, all on this machine, in one run:
//  1. commit pushed → Applied: a repository of one ConfigMap, followed with pollingInterval
//     5s (the minimum) by a GitRepo whose placement selects OUTPOST_BENCH_GIT_CLUSTERS
//     clusters (default 10, each its own kube-apiserver and agent); per push (the `git push`
//     returned) the time until the workset carries the commit (the polling wait, fetch,
//     render and write), until each cluster's work reports Applied at the hub for it, and
//     until the ConfigMap is on each cluster's kube-apiserver. Pushes are spread over the
//     polling phase (a fixed low-discrepancy delay before each), so the polling wait is
//     sampled, not synchronised with the hub's timer. Then a few pushes after which the
//     GitRepo is touched (the hub looks at once): the same path without the polling wait.
//     What one idle apiserver costs is measured first (its CPU and memory, agent running).
//  2. rendering a bundle of kube-prometheus's size (about 95 files, 2–3 MB of YAML: large
//     CRDs with deep schemas, dashboard ConfigMaps, Deployments, RBAC; generated
//     deterministically), placement matching no cluster: push, then a metadata change of the
//     GitRepo (which makes the hub look at once, so no polling wait is in the figure) →
//     the GitRepo's status names the commit for the path (ls-remote, fetch, render, workset
//     written); the hub's event-loop delay over the 10 s windows of the phase.
//  3. the hub's cost of polling OUTPOST_BENCH_GIT_REPOS (default 500) unchanged repositories
//     at the default 15 s, each its own bare repository on the Git server, placement matching
//     no cluster: once every one rendered, over OUTPOST_BENCH_GIT_IDLE_MS (default 60 s):
//     the hub process's CPU (/proc/PID/stat utime+stime), the CPU of the git commands it
//     ran (cutime+cstime of its command helper, which starts them, and of the hub: children
//     reaped in the window, git's own helpers included), the command helper's own CPU, the
//     hub's RSS, the Git server's requests per second, and its event-loop delay (/metrics).
// The clusters and agents are stopped before 2 and 3, so those figures are the hub's alone.
// Bounded: fixed counts, a watchdog, every process and temp dir removed on any exit.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { type AgentProcess, joinSpoke, spokeRunArgs, startAgent } from '../e2e/agent-process.ts';
import { type GitServer, makeRepo, startGitServer } from '../e2e/git-server.ts';
import { adminClient, type HubClient } from '../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../e2e/hub-process.ts';
import { type EtcdHandle, type KubeCluster, startCluster, startEtcd } from '../kube/index.ts';
import { crd } from './crd-works.ts';
import { KubeRaw, rssMiB } from './delivery-lib.ts';
import { cpuSeconds, cpuShares } from './fleet/fleet.ts';
import { until } from './fleet/phases.ts';
import { eventLoopWindow, type Metric, quantile, rate, report } from './lib.ts';

const clusterCount = Number(process.env.OUTPOST_BENCH_GIT_CLUSTERS ?? 10);
const repoCount = Number(process.env.OUTPOST_BENCH_GIT_REPOS ?? 500);
const pushes = Number(process.env.OUTPOST_BENCH_GIT_PUSHES ?? 12);
/** Pushes after which the GitRepo is touched, so the hub looks at once (the polling wait left out). */
const triggeredPushes = 5;
const renders = Number(process.env.OUTPOST_BENCH_GIT_RENDERS ?? 5);
const idleWindowMs = Number(process.env.OUTPOST_BENCH_GIT_IDLE_MS ?? 60_000);
/** The polling interval of the latency GitRepo (the minimum the hub takes) and its jitter. */
const latencyPollMs = 5_000;
const watchdogMs = 9.5 * 60_000;
const ns = 'default';

// --- cleanup on every exit ----------------------------------------------------------------
// hub-process.ts, agent-process.ts and test/kube kill their children on exit; the temp dir
// of this file is removed here, also when the watchdog fires.
const scratch = mkdtempSync(join(tmpdir(), 'outpost-bench-gitrepo-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
const watchdog = setTimeout(() => {
  process.stderr.write(`gitrepo bench: watchdog after ${watchdogMs / 1000} s; stopping\n`);
  process.exit(1);
}, watchdogMs);

const say = (s: string) => process.stdout.write(`${s}\n`);
const since = (t0: number) => performance.now() - t0;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** CPU seconds of the children `pid` has waited for (cutime + cstime of /proc/PID/stat). */
function reapedChildrenCpuSeconds(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime are fields 16 and 17 of stat, 14 and 15 after the command name.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The hub's command helper (packages/hub/src/commands/helper.ts): the child of `pid` that runs it. */
function commandHelperOf(pid: number): number | undefined {
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
      if (!child) continue;
      try {
        if (readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('commands/helper.ts')) return Number(child);
      } catch {}
    }
  }
  return undefined;
}

const cmYaml = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  value: "${value}"\n`;

const gitRepoBody = (name: string, repo: string, placement: string, pollingInterval: string, paths: string[]) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'GitRepo',
  metadata: { name },
  spec: { repo, branch: 'main', paths, pollingInterval, placementRef: { name: placement } },
});

interface GitRepoView {
  status?: {
    commit?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    paths?: { path: string; commit?: string; error?: string }[];
  };
}
interface WorkView {
  metadata: { generation: number; annotations?: Record<string, string> };
  status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}

let hub: HubProcess | undefined;
let admin: HubClient | undefined;
let git: GitServer | undefined;
let etcd: EtcdHandle | undefined;
const kubes: KubeCluster[] = [];
const agents: AgentProcess[] = [];
const kraws: KubeRaw[] = [];
const metrics: Record<string, Metric> = {};
const notes: Record<string, unknown> = {};

async function put(path: string, json: unknown): Promise<void> {
  const res = await (admin as HubClient).call('PUT', path, { json, timeoutMs: 60_000 });
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${path}: ${res.status} ${res.text.slice(0, 300)}`);
}

async function placement(name: string, labels: Record<string, string>): Promise<void> {
  await put(`/api/v1/namespaces/${ns}/placements/${name}`, {
    metadata: { name },
    spec: { predicates: [{ requiredClusterSelector: { labelSelector: { matchLabels: labels } } }] },
  });
}

/** A metadata change of GitRepo `name`: the hub looks at it at once (no polling wait). */
async function lookNow(name: string, i: number): Promise<void> {
  const res = await (admin as HubClient).patch(`/api/v1/namespaces/${ns}/gitrepos/${name}`, {
    metadata: { annotations: { 'bench.outpost.dev/push': String(i) } },
  });
  if (res.status !== 200) throw new Error(`patch gitrepo ${name}: ${res.status} ${res.text.slice(0, 300)}`);
}

const gitRepo = async (name: string) =>
  (await (admin as HubClient).get<GitRepoView>(`/api/v1/namespaces/${ns}/gitrepos/${name}`)).body;

/** The hub's event-loop windows (10 s each) that end while `fn` runs: the worst p99 and max. */
async function eventLoopDuring<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; p99: number; max: number; windows: number }> {
  const a = admin as HubClient;
  const read = async () => eventLoopWindow((await a.get('/metrics')).text);
  const first = (await read()).count;
  const seen = new Map<number, { p99: number; max: number }>();
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const w = await read();
      if (w.count > first) seen.set(w.count, w);
      await sleep(1_000);
    }
  })();
  let result: T;
  try {
    result = await fn();
    // The window holding the end of `fn` finishes within 10 s.
    const last = (await read()).count;
    await until(async () => ((await read()).count > last ? true : undefined), 12_000, 500);
    const w = await read();
    seen.set(w.count, w);
  } finally {
    done = true;
    await sampler;
  }
  const ws = [...seen.values()];
  return {
    result,
    p99: Math.max(...ws.map((w) => w.p99)),
    max: Math.max(...ws.map((w) => w.max)),
    windows: ws.length,
  };
}

// --- 1. commit pushed → Applied on real clusters -------------------------------------------

async function startClusters(): Promise<void> {
  const names = Array.from({ length: clusterCount }, (_, i) => `git-${String(i).padStart(2, '0')}`);
  const t0 = performance.now();
  etcd = await startEtcd();
  await rate(names.length, 3, async (i) => {
    kubes.push(await startCluster({ name: names[i] as string, etcd: etcd as EtcdHandle }));
  });
  kubes.sort((a, b) => a.name.localeCompare(b.name));
  say(`${kubes.length} kube-apiservers up in ${round(since(t0) / 1000)} s`);
  await rate(kubes.length, 3, async (i) => {
    const k = kubes[i] as KubeCluster;
    await joinSpoke(hub as HubProcess, admin as HubClient, k.name, k.kubeconfigPath);
  });
  for (const k of kubes) {
    agents.push(startAgent(spokeRunArgs(k.kubeconfigPath, '10m'), { env: { POD_NAME: `${k.name}-agent` } }));
    kraws.push(new KubeRaw(k));
  }
  await Promise.all(agents.map((a, i) => a.waitForOutput(new RegExp(`serving cluster ${kubes[i]?.name}`), 120_000)));
  for (const k of kubes) {
    const res = await (admin as HubClient).patch(`/api/v1/clusters/${k.name}`, {
      metadata: { labels: { gitbench: 'yes' } },
    });
    if (res.status !== 200) throw new Error(`label ${k.name}: ${res.status} ${res.text.slice(0, 300)}`);
  }
  say(`${kubes.length} clusters joined, agents serving, ${round(since(t0) / 1000)} s after the first start`);

  // What an idle apiserver (and its agent) costs here: 15 s with nothing to deliver.
  await sleep(5_000);
  const pids = kubes.map((k) => k.pid);
  const agentPids = agents.map((a) => a.proc.pid as number);
  const cpu0 = pids.map(cpuSeconds);
  const agentCpu0 = agentPids.map(cpuSeconds);
  const etcdCpu0 = cpuSeconds(etcd.pid);
  const w0 = performance.now();
  await sleep(15_000);
  const secs = since(w0) / 1000;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  metrics.apiserver_idle_cpu_pct = {
    value: round(mean(pids.map((p, i) => (100 * (cpuSeconds(p) - (cpu0[i] as number))) / secs)), 2),
    unit: '% of a core, mean per kube-apiserver',
  };
  metrics.apiserver_idle_rss_mib = {
    value: round(mean(pids.map((p) => rssMiB(p)))),
    unit: 'MiB, mean per kube-apiserver',
  };
  metrics.agent_idle_cpu_pct = {
    value: round(mean(agentPids.map((p, i) => (100 * (cpuSeconds(p) - (agentCpu0[i] as number))) / secs)), 2),
    unit: '% of a core, mean per agent',
  };
  metrics.agent_idle_rss_mib = { value: round(mean(agentPids.map((p) => rssMiB(p)))), unit: 'MiB, mean per agent' };
  metrics.etcd_idle_cpu_pct = {
    value: round((100 * (cpuSeconds(etcd.pid) - etcdCpu0)) / secs, 2),
    unit: `% of a core (one etcd shared by the ${kubes.length} apiservers)`,
  };
  metrics.etcd_rss_mib = { value: round(rssMiB(etcd.pid)), unit: 'MiB' };
}

async function commitToApplied(home: string, reposDir: string): Promise<void> {
  const a = admin as HubClient;
  await placement('gitbench', { gitbench: 'yes' });
  const repo = await makeRepo(reposDir, 'latency', home);
  const cmName = 'git-bench';
  const wsName = 'latency-apps';
  const wsCommit = async () =>
    (await a.get<WorkView>(`/api/v1/namespaces/${ns}/manifestworkreplicasets/${wsName}`)).body?.metadata?.annotations?.[
      'outpost.dev/git-commit'
    ];
  const applied = async (cluster: string, commit: string) => {
    const res = await a.get<WorkView>(`/api/v1/clusters/${cluster}/works/${wsName}`);
    const w = res.status === 200 ? res.body : undefined;
    return w?.metadata.annotations?.['outpost.dev/git-commit'] === commit &&
      w.status?.observedGeneration === w.metadata.generation &&
      w.status?.conditions?.some((c) => c.type === 'Applied' && c.status === 'True') === true
      ? true
      : undefined;
  };
  const onCluster = async (i: number, value: string) => {
    const res = await (kraws[i] as KubeRaw).call('GET', `/api/v1/namespaces/${ns}/configmaps/${cmName}`);
    return res.status === 200 && (JSON.parse(res.text) as { data?: { value?: string } }).data?.value === value
      ? true
      : undefined;
  };
  /** From now: the workset carrying `commit`, each cluster's work Applied at it, the ConfigMap holding `value`. */
  const follow = async (commit: string, value: string, t0: number, timeoutMs: number) => {
    const ws = await until(async () => ((await wsCommit()) === commit ? since(t0) : undefined), timeoutMs, 50);
    if (ws === undefined) throw new Error(`the workset did not carry ${commit} within ${timeoutMs} ms`);
    const per = await Promise.all(
      kubes.map(async (k, i) => {
        const ap = await until(async () => ((await applied(k.name, commit)) ? since(t0) : undefined), timeoutMs, 100);
        const ob = await until(async () => ((await onCluster(i, value)) ? since(t0) : undefined), timeoutMs, 100);
        if (ap === undefined || ob === undefined) throw new Error(`${k.name} did not apply ${commit} in time`);
        return { applied: ap, object: ob };
      }),
    );
    return { ws, per };
  };

  const c0 = await repo.commit('first', { 'apps/cm.yaml': cmYaml(cmName, 'v0') });
  await put(
    `/api/v1/namespaces/${ns}/gitrepos/latency`,
    gitRepoBody('latency', (git as GitServer).url('latency'), 'gitbench', '5s', ['apps']),
  );
  await follow(c0, 'v0', performance.now(), 120_000);
  say(`first commit applied on ${kubes.length} clusters; ${pushes} pushes follow`);

  const toWs: number[] = [];
  const toApplied: number[] = [];
  const toAllApplied: number[] = [];
  const toObject: number[] = [];
  const wsToApplied: number[] = [];
  for (let i = 1; i <= pushes; i++) {
    // Spread the pushes over the polling phase (golden-ratio steps through 0…6 s).
    await sleep(((i * 0.618034) % 1) * latencyPollMs * 1.2);
    const value = `v${i}`;
    const c = await repo.commit(`push ${i}`, { 'apps/cm.yaml': cmYaml(cmName, value) });
    const t0 = performance.now();
    const r = await follow(c, value, t0, 60_000);
    toWs.push(r.ws);
    for (const p of r.per) {
      toApplied.push(p.applied);
      toObject.push(p.object);
      wsToApplied.push(p.applied - r.ws);
    }
    toAllApplied.push(Math.max(...r.per.map((p) => p.applied)));
    say(
      `  push ${i}: workset ${Math.round(r.ws)} ms, all Applied ${Math.round(Math.max(...r.per.map((p) => p.applied)))} ms`,
    );
  }
  // The same change with the polling wait left out: what fetch, render, write and delivery take.
  const nowToWs: number[] = [];
  const nowToAllApplied: number[] = [];
  for (let i = 1; i <= triggeredPushes; i++) {
    const value = `t${i}`;
    const c = await repo.commit(`push now ${i}`, { 'apps/cm.yaml': cmYaml(cmName, value) });
    const t0 = performance.now();
    await lookNow('latency', i);
    const r = await follow(c, value, t0, 60_000);
    nowToWs.push(r.ws);
    nowToAllApplied.push(Math.max(...r.per.map((p) => p.applied)));
    await sleep(1_000);
  }
  const n = kubes.length;
  const q = (xs: number[], p: number) => Math.round(quantile([...xs], p));
  metrics.push_to_workset_p50_ms = { value: q(toWs, 0.5), unit: 'ms (polling wait + fetch + render + write)' };
  metrics.push_to_workset_max_ms = { value: q(toWs, 1), unit: 'ms' };
  metrics.push_to_applied_p50_ms = { value: q(toApplied, 0.5), unit: `ms (${pushes} pushes × ${n} clusters)` };
  metrics.push_to_applied_p99_ms = { value: q(toApplied, 0.99), unit: 'ms' };
  metrics.push_to_all_applied_p50_ms = { value: q(toAllApplied, 0.5), unit: `ms (the last of ${n} clusters)` };
  metrics.push_to_all_applied_max_ms = { value: q(toAllApplied, 1), unit: 'ms' };
  metrics.push_to_object_p50_ms = { value: q(toObject, 0.5), unit: 'ms (ConfigMap on the kube-apiserver)' };
  metrics.push_to_object_p99_ms = { value: q(toObject, 0.99), unit: 'ms' };
  metrics.push_looked_at_once_to_workset_p50_ms = {
    value: q(nowToWs, 0.5),
    unit: `ms (${triggeredPushes} pushes, the GitRepo touched after each: no polling wait)`,
  };
  metrics.push_looked_at_once_to_all_applied_p50_ms = { value: q(nowToAllApplied, 0.5), unit: 'ms' };
  metrics.workset_to_applied_p50_ms = { value: q(wsToApplied, 0.5), unit: 'ms (delivery part)' };
  metrics.workset_to_applied_p99_ms = { value: q(wsToApplied, 0.99), unit: 'ms' };
  notes.latency = {
    clusters: n,
    pushes,
    pollingInterval: '5s (checked every 5–6 s: 5 s plus up to 20 % jitter, on the controller’s 1 s tick)',
    clustersAre: `${n} kube-apiservers (one shared etcd, a key prefix each), one real agent each`,
    pushToWorksetMs: toWs.map(Math.round),
    pushToAllAppliedMs: toAllApplied.map(Math.round),
    lookedAtOnceToWorksetMs: nowToWs.map(Math.round),
    lookedAtOnceToAllAppliedMs: nowToAllApplied.map(Math.round),
    probes: 'the workset read every 50 ms; works and ConfigMaps every 100 ms once the workset carries the commit',
  };
  await repo.remove();
}

async function stopClusters(): Promise<void> {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await Promise.all(kraws.splice(0).map((k) => k.close()));
  await Promise.all(kubes.splice(0).map((k) => k.stop()));
  await etcd?.stop();
  etcd = undefined;
}

// --- 2. a kube-prometheus-sized bundle ----------------------------------------------------

/** About kube-prometheus's manifests: ~95 files, 2–3 MB of YAML, the CRDs most of it. */
function bundleFiles(stamp: string): Record<string, string> {
  const files: Record<string, string> = {};
  const y = (o: unknown) => stringify(o, { lineWidth: 0 });
  const crds: [string, string, number][] = [
    ['prometheuses', 'Prometheus', 420_000],
    ['prometheusagents', 'PrometheusAgent', 360_000],
    ['alertmanagers', 'Alertmanager', 300_000],
    ['thanosrulers', 'ThanosRuler', 280_000],
    ['alertmanagerconfigs', 'AlertmanagerConfig', 240_000],
    ['scrapeconfigs', 'ScrapeConfig', 200_000],
    ['servicemonitors', 'ServiceMonitor', 60_000],
    ['podmonitors', 'PodMonitor', 60_000],
    ['probes', 'Probe', 50_000],
    ['prometheusrules', 'PrometheusRule', 12_000],
  ];
  crds.forEach(([plural, kind, bytes], i) => {
    // crd() sizes its JSON; its YAML comes out about 1.4 times that.
    files[`setup/0${i}-${plural}-crd.yaml`] = y(
      crd({ group: 'monitoring.coreos.com', kind, plural, bytes: bytes * 0.7, namespaced: true }, 1000 + i),
    );
  });
  const app = (i: number) => `component-${String(i).padStart(2, '0')}`;
  const labels = (i: number) => ({ 'app.kubernetes.io/name': app(i), 'app.kubernetes.io/part-of': 'kube-prometheus' });
  for (let i = 0; i < 24; i++) {
    // Grafana dashboards: JSON documents of panels inside ConfigMaps.
    const panels = Array.from({ length: 40 }, (_, p) => ({
      id: p,
      title: `panel ${p} of dashboard ${i}`,
      type: 'timeseries',
      gridPos: { h: 8, w: 12, x: (p % 2) * 12, y: Math.floor(p / 2) * 8 },
      targets: [
        {
          expr: `sum(rate(container_cpu_usage_seconds_total{namespace="$namespace",pod=~"${app(i)}.*"}[5m])) by (pod)`,
        },
        { expr: `histogram_quantile(0.99, sum(rate(apiserver_request_duration_seconds_bucket[5m])) by (le, verb))` },
      ],
      fieldConfig: {
        defaults: { unit: 'short', thresholds: { steps: [{ color: 'green' }, { color: 'red', value: 80 }] } },
      },
    }));
    const dashboard = JSON.stringify(
      { title: `dashboard ${i}`, uid: `d${i}`, panels, stamp: i === 0 ? stamp : '' },
      null,
      2,
    );
    files[`grafana-dashboard-${String(i).padStart(2, '0')}.yaml`] = y({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `grafana-dashboard-${i}`, namespace: 'monitoring', labels: labels(i) },
      data: { [`dashboard-${i}.json`]: dashboard },
    });
  }
  for (let i = 0; i < 12; i++) {
    const meta = { name: app(i), namespace: 'monitoring', labels: labels(i) };
    files[`${app(i)}-serviceAccount.yaml`] = y({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta });
    files[`${app(i)}-service.yaml`] = y({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta,
      spec: { selector: labels(i), ports: [{ name: 'web', port: 8080, targetPort: 'web' }] },
    });
    files[`${app(i)}-networkPolicy.yaml`] = y({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta,
      spec: {
        podSelector: { matchLabels: labels(i) },
        policyTypes: ['Egress', 'Ingress'],
        egress: [{}],
        ingress: [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }] }],
      },
    });
    if (i < 7) {
      files[`${app(i)}-deployment.yaml`] = y({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta,
        spec: {
          replicas: 2,
          selector: { matchLabels: labels(i) },
          template: {
            metadata: { labels: labels(i) },
            spec: {
              serviceAccountName: app(i),
              containers: [
                {
                  name: app(i),
                  image: `quay.io/example/${app(i)}:v1.${i}.0`,
                  args: Array.from({ length: 12 }, (_, a) => `--flag-${a}=value-${a}`),
                  ports: [{ name: 'web', containerPort: 8080 }],
                  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
                  readinessProbe: { httpGet: { path: '/-/ready', port: 'web' } },
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
                },
              ],
            },
          },
        },
      });
    }
    if (i < 8) {
      const rules = Array.from({ length: 10 }, (_, r) => ({
        apiGroups: [r % 2 ? '' : 'apps'],
        resources: ['pods', 'services', 'endpoints', 'configmaps'].slice(0, 1 + (r % 4)),
        verbs: ['get', 'list', 'watch'],
      }));
      files[`${app(i)}-clusterRole.yaml`] = y({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: app(i), labels: labels(i) },
        rules,
      });
      files[`${app(i)}-clusterRoleBinding.yaml`] = y({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: app(i), labels: labels(i) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: app(i) },
        subjects: [{ kind: 'ServiceAccount', name: app(i), namespace: 'monitoring' }],
      });
    }
  }
  return files;
}

async function bundleRender(home: string, reposDir: string): Promise<void> {
  const a = admin as HubClient;
  await placement('nowhere', { gitbench: 'no-such-cluster' });
  const repo = await makeRepo(reposDir, 'bundle', home);
  const first = bundleFiles('0');
  const prefixed = (files: Record<string, string>) =>
    Object.fromEntries(Object.entries(files).map(([p, t]) => [`kube-prometheus/${p}`, t]));
  const bytes = Object.values(first).reduce((n, t) => n + Buffer.byteLength(t), 0);
  const largest = Math.max(...Object.values(first).map((t) => Buffer.byteLength(t)));
  metrics.bundle_files = { value: Object.keys(first).length, unit: 'files' };
  metrics.bundle_mib = { value: round(bytes / 2 ** 20, 2), unit: 'MiB of YAML' };
  notes.bundle = {
    files: Object.keys(first).length,
    bytes,
    largestFileBytes: largest,
    made: '10 CRDs with deep schemas (crd-works.ts), 24 dashboard ConfigMaps, 7 Deployments, 12 Services, ServiceAccounts and NetworkPolicies, 8 ClusterRoles and bindings',
  };
  const c0 = await repo.commit('bundle', prefixed(first));
  const commitFor = async (commit: string) =>
    (await gitRepo('bundle')).status?.paths?.find((p) => p.path === 'kube-prometheus')?.commit === commit
      ? true
      : undefined;
  const t0 = performance.now();
  await put(
    `/api/v1/namespaces/${ns}/gitrepos/bundle`,
    gitRepoBody('bundle', (git as GitServer).url('bundle'), 'nowhere', '0', ['kube-prometheus']),
  );
  if ((await until(() => commitFor(c0), 120_000, 50)) === undefined) {
    const g = await gitRepo('bundle');
    throw new Error(`the bundle was not rendered: ${JSON.stringify(g.status).slice(0, 1000)}`);
  }
  metrics.bundle_first_render_ms = { value: Math.round(since(t0)), unit: 'ms (created → status names the commit)' };

  const times: number[] = [];
  const loop = await eventLoopDuring(async () => {
    for (let i = 1; i <= renders; i++) {
      const c = await repo.commit(
        `bundle ${i}`,
        prefixed({ 'grafana-dashboard-00.yaml': bundleFiles(String(i))['grafana-dashboard-00.yaml'] as string }),
      );
      const t = performance.now();
      await lookNow('bundle', i);
      if ((await until(() => commitFor(c), 120_000, 25)) === undefined) throw new Error(`bundle ${i} not rendered`);
      times.push(since(t));
      say(`  bundle ${i}: ${Math.round(since(t))} ms`);
      await sleep(2_000);
    }
  });
  metrics.bundle_push_to_workset_p50_ms = {
    value: Math.round(quantile([...times], 0.5)),
    unit: `ms (${renders} commits; ls-remote + fetch + render + write)`,
  };
  metrics.bundle_push_to_workset_max_ms = { value: Math.round(quantile([...times], 1)), unit: 'ms' };
  metrics.bundle_event_loop_p99_ms = { value: round(loop.p99), unit: `ms (worst of ${loop.windows} 10 s windows)` };
  metrics.bundle_event_loop_max_ms = { value: round(loop.max), unit: 'ms' };
  const ws = await a.get(`/api/v1/namespaces/${ns}/manifestworkreplicasets/bundle-kube-prometheus`, {
    timeoutMs: 60_000,
  });
  notes.bundle = {
    ...(notes.bundle as object),
    worksetJsonBytes: Buffer.byteLength(ws.text),
    renderMs: times.map(Math.round),
  };
  await a.delete(`/api/v1/namespaces/${ns}/gitrepos/bundle`);
  await repo.remove();
}

// --- 3. polling many unchanged repositories -----------------------------------------------

async function idlePolling(home: string, reposDir: string): Promise<void> {
  const a = admin as HubClient;
  const h = hub as HubProcess;
  const g = git as GitServer;
  // One repository made with git, copied: every copy is a bare repository of its own.
  const template = await makeRepo(join(scratch, 'template'), 'idle', home);
  await template.commit('one configmap', { 'apps/cm.yaml': cmYaml('idle', 'v0') });
  await template.remove();
  const name = (i: number) => `idle-${String(i).padStart(4, '0')}`;
  for (let i = 0; i < repoCount; i++) {
    cpSync(join(scratch, 'template', 'idle.git'), join(reposDir, `${name(i)}.git`), { recursive: true });
  }
  const t0 = performance.now();
  await rate(repoCount, 8, (i) =>
    put(
      `/api/v1/namespaces/${ns}/gitrepos/${name(i)}`,
      gitRepoBody(name(i), g.url(name(i)), 'nowhere', '15s', ['apps']),
    ),
  );
  const renderedCount = async () => {
    let n = 0;
    let cont = '';
    for (;;) {
      const res = await a.get<{
        items: (GitRepoView & { metadata: { name: string } })[];
        metadata?: { continue?: string };
      }>(`/api/v1/namespaces/${ns}/gitrepos?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, {
        timeoutMs: 60_000,
      });
      for (const r of res.body.items) {
        if (
          r.metadata.name.startsWith('idle-') &&
          r.status?.commit &&
          r.status.conditions?.some((c) => c.type === 'Rendered' && c.status === 'True')
        )
          n++;
      }
      cont = res.body.metadata?.continue ?? '';
      if (!cont) return n;
    }
  };
  const all = await until(async () => ((await renderedCount()) >= repoCount ? true : undefined), 300_000, 2_000);
  if (!all) throw new Error(`only ${await renderedCount()} of ${repoCount} GitRepos rendered in 300 s`);
  metrics.idle_first_render_all_s = {
    value: round(since(t0) / 1000),
    unit: `s (${repoCount} GitRepos created → all rendered)`,
  };
  say(`${repoCount} GitRepos rendered in ${round(since(t0) / 1000)} s; measuring ${idleWindowMs / 1000} s of polling`);
  // One polling interval (and its jitter) for the first round of checks to spread out.
  await sleep(18_000);

  const pid = h.proc.pid as number;
  const shares = cpuShares(() => pid);
  const helper = commandHelperOf(pid);
  if (!helper) throw new Error('the hub runs no command helper');
  const children0 = reapedChildrenCpuSeconds(pid) + reapedChildrenCpuSeconds(helper);
  const helper0 = cpuSeconds(helper);
  const server0 = reapedChildrenCpuSeconds('self');
  const requests0 = g.requests();
  const rssSamples: number[] = [];
  const w0 = performance.now();
  const loop = await eventLoopDuring(async () => {
    while (since(w0) < idleWindowMs) {
      rssSamples.push(rssMiB(pid));
      await sleep(5_000);
    }
  });
  // CPU and requests are over the whole span, the wait for the last event-loop window included.
  const secs = since(w0) / 1000;
  const cpu = shares.stop();
  const children = reapedChildrenCpuSeconds(pid) + reapedChildrenCpuSeconds(helper) - children0;
  const helperCpu = cpuSeconds(helper) - helper0;
  const serverChildren = reapedChildrenCpuSeconds('self') - server0;
  const requests = g.requests() - requests0;
  metrics.idle_hub_cpu_pct = { value: cpu.hub, unit: `% of a core (hub process, ${repoCount} repos at 15s)` };
  metrics.idle_hub_git_cpu_pct = {
    value: round((100 * children) / secs),
    unit: '% of a core (git commands the hub ran, their helpers included)',
  };
  metrics.idle_command_helper_cpu_pct = {
    value: round((100 * helperCpu) / secs),
    unit: '% of a core (the hub command helper process itself, which starts the git commands)',
  };
  metrics.idle_hub_rss_mib = { value: round(Math.max(...rssSamples)), unit: 'MiB (max of samples every 5 s)' };
  metrics.idle_git_requests_per_s = { value: round(requests / secs), unit: 'requests/s at the Git server' };
  // A `git ls-remote` over smart HTTP is two requests (the ref advertisement, then ls-refs).
  metrics.idle_ls_remote_per_s = { value: round(requests / 2 / secs), unit: 'ls-remote/s (requests / 2)' };
  metrics.idle_mean_poll_interval_s = {
    value: round(repoCount / (requests / 2 / secs)),
    unit: 's per repository (pollingInterval 15s plus up to 20 % jitter asked)',
  };
  metrics.idle_polls_per_s_expected = {
    value: round(repoCount / (15 * (1 + 0.1))),
    unit: 'ls-remote/s (repos / mean interval 16.5 s)',
  };
  metrics.idle_event_loop_p99_ms = { value: round(loop.p99), unit: `ms (worst of ${loop.windows} 10 s windows)` };
  metrics.idle_event_loop_max_ms = { value: round(loop.max), unit: 'ms' };
  notes.idle = {
    repos: repoCount,
    windowSeconds: round(secs),
    gitServerRequests: requests,
    gitServerCpuPct: round((100 * serverChildren) / secs + cpu.simulator),
    machineBusyPct: cpu.machineBusy,
    stealPct: cpu.steal,
    cpuMeasured:
      'hub: utime+stime of its process; git: cutime+cstime of the hub and of its command helper (children reaped in the window: git ls-remote and its git-remote-http helper); command helper: utime+stime of its process; the Git server: this process and its git http-backend children',
  };
}

// --- the run --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const home = join(scratch, 'home');
  const reposDir = join(scratch, 'repos');
  mkdirSync(home);
  mkdirSync(reposDir);
  git = await startGitServer(reposDir, home);
  hub = await startHub({ args: ['--poll-timeout', '5s'] });
  admin = await adminClient(hub);
  const tStart = performance.now();
  notes.load = { before: loadavg().map((x) => round(x, 2)) };

  await startClusters();
  await commitToApplied(home, reposDir);
  await (admin as HubClient).delete(`/api/v1/namespaces/${ns}/gitrepos/latency`);
  await stopClusters();
  say(`latency done at ${round(since(tStart) / 1000)} s; bundle renders next`);

  await bundleRender(home, reposDir);
  say(`bundle done at ${round(since(tStart) / 1000)} s; ${repoCount} idle repositories next`);
  await idlePolling(home, reposDir);

  notes.load = { ...(notes.load as object), after: loadavg().map((x) => round(x, 2)) };
  notes.machine =
    'one 2-core machine shared with other work: the hub, the Git server, the kube-apiservers, etcd and the agents all on it';
  notes.runSeconds = round(since(tStart) / 1000);
  report('gitrepo', metrics, notes);
}

try {
  await main();
} finally {
  clearTimeout(watchdog);
  await stopClusters().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await hub?.stop().catch(() => undefined);
  await git?.stop().catch(() => undefined);
}
