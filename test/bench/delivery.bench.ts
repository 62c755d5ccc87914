// Work delivery on real processes: a hub, an agent joined with --kubeconfig, and a real
// kube-apiserver (+ etcd) as the spoke, all on this machine, in one run:
//  1. end-to-end latency of a change (PUT of a one-ConfigMap work at the hub → the hub
//     shows that generation Applied), p50/p99 over 100 changes, beside the physical floor
//     (one SSA of such a ConfigMap straight to the apiserver + two kept-alive HTTPS round
//     trips to the hub);
//  2. 1,000 ConfigMaps: the agent (PUT → Applied at the hub, and its own apply pass from
//     its log) against `kubectl apply --server-side` of the same objects, same cluster;
//  3. the agent's resident memory idle and holding the 1,000 objects;
//  1b. freshness of status: a status-only change of an applied Deployment on the spoke (its
//     status subresource written, as a controller would) → the hub shows the new feedback
//     value, p50/p99 over 50 changes spaced beyond the agent's per-work refresh interval;
//  4. bytes on the wire per unchanged long-poll and per heartbeat, through a counting TCP
//     proxy, for a second agent joined through that proxy; and per change, its hub traffic
//     and its apiserver traffic (through a second proxy named in a copy of its kubeconfig).
// Side figures for diagnosis go into the JSON notes: where a change's time goes (from the
// agent's debug log), and the apiserver requests per change (its /metrics).
// Bounded: fixed counts, a watchdog, and every process and temp dir removed on any exit.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentProcess, runAgent, startAgent } from '../e2e/agent-process.ts';
import { adminClient, anonymousClient, type HubClient, readAdminToken } from '../e2e/hub-client.ts';
import { type HubProcess, startHub } from '../e2e/hub-process.ts';
import { ensureKubeBinaries, type KubeCluster, startCluster } from '../kube/index.ts';
import {
  apiserverRequests,
  type CountingProxy,
  diffCounts,
  KubeRaw,
  logLines,
  requestCount,
  rssBreakdown,
  rssMiB,
  startCountingProxy,
} from './delivery-lib.ts';
import { type Metric, quantile, report } from './lib.ts';

const changes = Number(process.env.OUTPOST_BENCH_CHANGES ?? 100);
const warmupChanges = 5;
const bulkCount = Number(process.env.OUTPOST_BENCH_BULK ?? 1000);
const statusChanges = Number(process.env.OUTPOST_BENCH_STATUS_CHANGES ?? 50);
/** Beyond the agent's least time between two status refreshes of one work (500 ms). */
const statusSpacingMs = 700;
const settleMs = 10_000;
const idlePollWindowMs = 20_000;
const heartbeatWindowMs = 12_000;
const wireChanges = 10;
const watchdogMs = 6 * 60_000;
const cluster = 'spoke-bench';
const bytesCluster = 'spoke-bytes';
const syncRoute = '/agent/v1/clusters/:name/sync';
const heartbeatRoute = '/agent/v1/clusters/:name/heartbeat';

// --- cleanup on every exit ----------------------------------------------------------------
// hub-process.ts, agent-process.ts and test/kube kill their children on exit; the temp dirs
// of this file and the hub's data dir are removed here, also when the watchdog fires.
const scratch = mkdtempSync(join(tmpdir(), 'outpost-bench-delivery-'));
const dirsToRemove = new Set<string>([scratch]);
process.on('exit', () => {
  for (const d of dirsToRemove) rmSync(d, { recursive: true, force: true });
});
const watchdog = setTimeout(() => {
  process.stderr.write(`delivery bench: watchdog after ${watchdogMs / 1000} s; stopping\n`);
  process.exit(1);
}, watchdogMs);

const say = (s: string) => process.stdout.write(`${s}\n`);
const since = (t0: number) => performance.now() - t0;

const cm = (name: string, namespace: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});
const bulkData = (i: number) => ({ index: String(i), payload: `value-${i}-${'x'.repeat(64)}` });
const work = (clusterName: string, name: string, manifests: unknown[]) => ({
  apiVersion: 'work.open-cluster-management.io/v1',
  kind: 'ManifestWork',
  metadata: { name, namespace: clusterName },
  spec: { workload: { manifests } },
});

interface WorkView {
  metadata: { generation: number };
  status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}

interface StatusView {
  status?: {
    resourceStatus?: {
      manifests?: { statusFeedback?: { values: { name: string; fieldValue: { integer?: number } }[] } }[];
    };
  };
}

const appliedAt = (w: WorkView | undefined, generation: number) =>
  w?.status?.observedGeneration === generation &&
  w.status.conditions?.some((c) => c.type === 'Applied' && c.status === 'True') === true;

let kube: KubeCluster | undefined;
let hub: HubProcess | undefined;
let admin: HubClient | undefined;
let probe: HubClient | undefined;
let kraw: KubeRaw | undefined;
let agent: AgentProcess | undefined;
let bytesAgent: AgentProcess | undefined;
let proxy: CountingProxy | undefined;
let kubeProxy: CountingProxy | undefined;

async function putWork(clusterName: string, w: ReturnType<typeof work>): Promise<number> {
  const res = await (admin as HubClient).call<WorkView>(
    'PUT',
    `/api/v1/clusters/${clusterName}/works/${w.metadata.name}`,
    { json: w, timeoutMs: 60_000 },
  );
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT work: ${res.status} ${res.text.slice(0, 300)}`);
  return res.body.metadata.generation;
}

/** Polls the hub every `intervalMs` until the work shows `generation` Applied; bounded. */
async function waitApplied(
  clusterName: string,
  name: string,
  generation: number,
  intervalMs: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const res = await (admin as HubClient).get<WorkView>(`/api/v1/clusters/${clusterName}/works/${name}`);
    if (res.status === 200 && appliedAt(res.body, generation)) return;
    if (performance.now() > deadline) {
      throw new Error(
        `work ${name} not Applied at generation ${generation} in ${timeoutMs} ms: ${res.text.slice(0, 500)}`,
      );
    }
    await sleep(intervalMs);
  }
}

async function joinAgent(name: string, hubUrl: string, kubeconfig: string, extra: string[] = []): Promise<void> {
  const h = hub as HubProcess;
  const tok = await (admin as HubClient).post<{ status: { token: string } }>('/api/v1/bootstraptokens', {
    spec: { autoApprove: true },
  });
  if (tok.status !== 201) throw new Error(`token: ${tok.status} ${tok.text}`);
  const joined = await runAgent([
    'join',
    '--hub',
    hubUrl,
    '--token',
    tok.body.status.token,
    '--ca-cert-hash',
    h.caHash,
    '--cluster-name',
    name,
    '--kubeconfig',
    kubeconfig,
    ...extra,
  ]);
  if (joined.code !== 0) throw new Error(`join ${name} failed (${joined.code}):\n${joined.stdout}\n${joined.stderr}`);
}

async function kubectlApply(kubectl: string, cacheDir: string, file: string): Promise<number> {
  const args = [
    '--kubeconfig',
    (kube as KubeCluster).kubeconfigPath,
    '--cache-dir',
    cacheDir,
    'apply',
    '--server-side',
    '--field-manager',
    'kubectl-bench',
    '-f',
    file,
  ];
  const t0 = performance.now();
  const child = spawn(kubectl, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  const ms = since(t0);
  if (code !== 0) throw new Error(`kubectl apply -f ${file} exited ${code}: ${err.slice(0, 1000)}`);
  return ms;
}

async function kubeRequests(): Promise<Map<string, number>> {
  const res = await (kraw as KubeRaw).call('GET', '/metrics');
  if (res.status !== 200) throw new Error(`apiserver /metrics: ${res.status}`);
  return apiserverRequests(res.text);
}

async function metricsText(): Promise<string> {
  // /metrics needs an API token on the hub's port; the probe's own connection keeps it apart.
  const res = await (probe as HubClient).get('/metrics', { token: await readAdminToken((hub as HubProcess).dataDir) });
  return res.text;
}

const loadBefore = loadavg()[0];

async function main(): Promise<void> {
  const bins = await ensureKubeBinaries();
  say('starting kube-apiserver and hub…');
  kube = await startCluster({ name: cluster });
  kraw = new KubeRaw(kube, 1);
  hub = await startHub({ args: ['--log-level', 'warn'] });
  dirsToRemove.add(hub.dataDir);
  admin = await adminClient(hub, { connections: 1 });
  probe = anonymousClient(hub, { connections: 1 });

  // The work agent talks to the hub directly with the defaults that matter here
  // (--poll-wait 30s); re-apply pushed out of the run so no drift pass lands in a measurement.
  await joinAgent(cluster, hub.url, kube.kubeconfigPath);
  agent = startAgent([
    'run',
    '--kubeconfig',
    kube.kubeconfigPath,
    '--poll-wait',
    '30s',
    '--resync-interval',
    '1h',
    '--log-level',
    'debug',
  ]);
  await agent.waitForOutput(/serving cluster spoke-bench/);
  const agentPid = agent.proc.pid as number;

  // --- 3a. idle memory ------------------------------------------------------------------
  say(`agent pid ${agentPid} running; settling ${settleMs / 1000} s for idle RSS…`);
  await sleep(settleMs);
  const rssIdle = rssMiB(agentPid);
  const rssIdleParts = rssBreakdown(agentPid);

  // --- 1. latency of one change ---------------------------------------------------------
  await kraw.createNamespace('bench-lat');
  let value = 0;
  const latWork = () => work(cluster, 'lat', [cm('lat', 'bench-lat', { value: String(value) })]);
  say(`latency: ${warmupChanges} warm-up + ${changes} changes…`);
  const latencies: number[] = [];
  const latMark = agent.stdout().length;
  let latKubeBefore = new Map<string, number>();
  const marks: { gen: number; t0: number; put: number; seen: number }[] = [];
  for (let i = 0; i < warmupChanges + changes; i++) {
    value++;
    if (i === warmupChanges) latKubeBefore = await kubeRequests();
    const t0 = performance.now();
    const t0Wall = Date.now();
    const gen = await putWork(cluster, latWork());
    const putWall = Date.now();
    await waitApplied(cluster, 'lat', gen, 5, 30_000);
    if (i >= warmupChanges) {
      latencies.push(since(t0));
      marks.push({ gen, t0: t0Wall, put: putWall - t0Wall, seen: Date.now() - t0Wall });
    }
    await sleep(20);
  }
  const latKube = diffCounts(latKubeBefore, await kubeRequests(), changes);
  // Where a change's time goes, from the agent's debug log (wall clock, ms resolution).
  const latLines = logLines(agent.stdout().slice(latMark));
  const timelines: { total: number; put: number; stored: number; applyPass: number; outbox: number }[] = [];
  for (const m of marks) {
    const st = latLines.find(
      (l) => l.msg === 'desired state changed' && JSON.stringify(l.works).includes(`"lat@${m.gen}"`),
    );
    const ap = latLines.find((l) => l.msg === 'work applied' && l.work === 'lat' && l.generation === m.gen);
    const ob = latLines.find((l) => l.msg === 'work status changed' && l.work === 'lat' && l.generation === m.gen);
    if (!st || !ap || !ob) continue;
    timelines.push({
      total: m.seen,
      put: m.put,
      stored: st.time - m.t0,
      applyPass: typeof ap.ms === 'number' ? ap.ms : Number.NaN,
      outbox: ob.time - m.t0,
    });
  }
  const phaseP50 = (k: keyof (typeof timelines)[number]) =>
    quantile(
      timelines.map((t) => t[k]),
      0.5,
    );
  const slowest = [...timelines].sort((a, b) => b.total - a.total).slice(0, 3);

  // --- 1b. spoke status change → hub ---------------------------------------------------
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'st', namespace: 'bench-lat' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'st' } },
      template: {
        metadata: { labels: { app: 'st' } },
        spec: { containers: [{ name: 'st', image: 'registry.invalid/st:1' }] },
      },
    },
  };
  const stWork = {
    ...work(cluster, 'st', [deployment]),
    spec: {
      workload: { manifests: [deployment] },
      manifestConfigs: [
        {
          resourceIdentifier: { group: 'apps', resource: 'deployments', namespace: 'bench-lat', name: 'st' },
          feedbackScrapeType: 'Watch',
          feedbackRules: [{ type: 'WellKnownStatus' }],
        },
      ],
    },
  };
  await waitApplied(cluster, 'st', await putWork(cluster, stWork as ReturnType<typeof work>), 5, 30_000);
  const readyAtHub = async (n: number) => {
    const res = await (admin as HubClient).get<StatusView>(`/api/v1/clusters/${cluster}/works/st`);
    return res.body.status?.resourceStatus?.manifests?.[0]?.statusFeedback?.values.some(
      (v) => v.name === 'ReadyReplicas' && v.fieldValue.integer === n,
    );
  };
  say(`status: ${statusChanges} status-only changes of a Deployment on the spoke…`);
  const statusLatencies: number[] = [];
  for (let i = 1; i <= warmupChanges + statusChanges; i++) {
    const t0 = performance.now();
    const res = await kraw.call(
      'PATCH',
      '/apis/apps/v1/namespaces/bench-lat/deployments/st/status',
      { status: { readyReplicas: i, replicas: i, updatedReplicas: i, availableReplicas: i } },
      'application/merge-patch+json',
    );
    if (res.status !== 200) throw new Error(`status patch: ${res.status} ${res.text.slice(0, 300)}`);
    const deadline = performance.now() + 30_000;
    while (!(await readyAtHub(i))) {
      if (performance.now() > deadline) throw new Error(`ReadyReplicas ${i} not at the hub in 30 s`);
      await sleep(5);
    }
    if (i > warmupChanges) statusLatencies.push(since(t0));
    await sleep(Math.max(0, statusSpacingMs - since(t0)));
  }

  // The floor: one SSA of such a ConfigMap straight to the apiserver, plus two kept-alive
  // HTTPS round trips to the hub, each measured in the same loop.
  const floorSsa: number[] = [];
  const floorRtt: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < warmupChanges + changes; i++) {
    const t0 = performance.now();
    await kraw.apply(
      '/api/v1/namespaces/bench-lat/configmaps/floor',
      cm('floor', 'bench-lat', { value: String(i) }),
      'bench-floor',
    );
    const t1 = performance.now();
    for (let k = 0; k < 2; k++) {
      const res = await probe.get('/healthz');
      if (res.status !== 200) throw new Error(`/healthz: ${res.status}`);
    }
    const t2 = performance.now();
    if (i >= warmupChanges) {
      floorSsa.push(t1 - t0);
      floorRtt.push(t2 - t1);
      floor.push(t2 - t0);
    }
    await sleep(5);
  }

  // --- 2. 1,000 ConfigMaps: agent vs kubectl ----------------------------------------------
  await kraw.createNamespace('bench-agent');
  await kraw.createNamespace('bench-kubectl-file');
  await kraw.createNamespace('bench-kubectl-dir');
  const logMark = agent.stdout().length;
  say(`bulk: PUT of a ${bulkCount}-ConfigMap work…`);
  const bulk = work(
    cluster,
    'bulk',
    Array.from({ length: bulkCount }, (_, i) => cm(`cm-${String(i).padStart(4, '0')}`, 'bench-agent', bulkData(i))),
  );
  const bulkKubeBefore = await kubeRequests();
  const bulkT0 = performance.now();
  const bulkT0Wall = Date.now();
  const bulkGen = await putWork(cluster, bulk);
  const putMs = since(bulkT0);
  await waitApplied(cluster, 'bulk', bulkGen, 25, 180_000);
  const agentTotalMs = since(bulkT0);
  const bulkKube = diffCounts(bulkKubeBefore, await kubeRequests());
  const agentObjects = await kraw.count('/api/v1/namespaces/bench-agent/configmaps');
  if (agentObjects < bulkCount) throw new Error(`only ${agentObjects} ConfigMaps in bench-agent`);

  // The agent's own account (debug log): when it had stored the desired state, its apply
  // pass ("work applied", ms), and when the status was durable in its outbox.
  const lines = logLines(agent.stdout().slice(logMark));
  const stored = lines.find((l) => l.msg === 'desired state changed' && JSON.stringify(l.works).includes('bulk@'));
  const applied = lines.find((l) => l.msg === 'work applied' && l.work === 'bulk');
  const statusLine = lines.find((l) => l.msg === 'work status changed' && l.work === 'bulk');
  const agentApplyMs = typeof applied?.ms === 'number' ? applied.ms : Number.NaN;

  say(`bulk applied by the agent in ${agentTotalMs.toFixed(0)} ms; settling ${settleMs / 1000} s for RSS…`);
  await sleep(settleMs);
  const rssBulk = rssMiB(agentPid);
  const rssBulkParts = rssBreakdown(agentPid);
  const rssPeak = rssMiB(agentPid, 'VmHWM');

  // kubectl: the same objects into fresh namespaces, once as one multi-document file and
  // once as a directory of files. Discovery is cached first so kubectl is measured warm.
  const kcache = join(scratch, 'kubectl-cache');
  const fileDoc = join(scratch, 'bulk.yaml');
  const dirDoc = join(scratch, 'bulk-dir');
  mkdirSync(dirDoc);
  const objs = (ns: string) =>
    Array.from({ length: bulkCount }, (_, i) => cm(`cm-${String(i).padStart(4, '0')}`, ns, bulkData(i)));
  writeFileSync(
    fileDoc,
    objs('bench-kubectl-file')
      .map((o) => `---\n${JSON.stringify(o)}\n`)
      .join(''),
  );
  for (const [i, o] of objs('bench-kubectl-dir').entries()) {
    writeFileSync(join(dirDoc, `cm-${String(i).padStart(4, '0')}.json`), JSON.stringify(o));
  }
  const warm = spawn(bins.kubectl, ['--kubeconfig', kube.kubeconfigPath, '--cache-dir', kcache, 'get', 'ns'], {
    stdio: 'ignore',
  });
  await new Promise((r) => warm.once('close', r));
  say('bulk: kubectl apply --server-side (one file, then a directory)…');
  const kubectlFileMs = await kubectlApply(bins.kubectl, kcache, fileDoc);
  const kubectlDirMs = await kubectlApply(bins.kubectl, kcache, dirDoc);
  for (const ns of ['bench-kubectl-file', 'bench-kubectl-dir']) {
    const n = await kraw.count(`/api/v1/namespaces/${ns}/configmaps`);
    if (n < bulkCount) throw new Error(`only ${n} ConfigMaps in ${ns}`);
  }
  const kubectlBestMs = Math.min(kubectlFileMs, kubectlDirMs);

  // The work agent is done: stop it so only the bytes agent polls the hub from here on.
  const stopped = await agent.stop();
  if (stopped.code !== 0) say(`(work agent exited ${stopped.code ?? stopped.signal})`);
  const agentLogs = logLines(stopped.stdout);
  const warnings = agentLogs.filter((l) => l.level >= 40).map((l) => l.msg);

  // --- 4. bytes per idle poll and per heartbeat ------------------------------------------------
  // The bytes agent reaches the hub through `proxy` and its apiserver through `kubeProxy`
  // (a kubeconfig copy naming the proxy; the apiserver's certificate covers 127.0.0.1).
  proxy = await startCountingProxy(hub.port);
  kubeProxy = await startCountingProxy(Number(new URL(kube.server).port));
  const proxied = `https://127.0.0.1:${proxy.port}`;
  const proxiedKubeconfig = join(scratch, 'kubeconfig-proxied');
  writeFileSync(proxiedKubeconfig, kube.kubeconfigYaml.replace(kube.server, `https://127.0.0.1:${kubeProxy.port}`), {
    mode: 0o600,
  });
  await joinAgent(bytesCluster, proxied, proxiedKubeconfig, ['--namespace', 'outpost-bytes']);
  await kraw.createNamespace('bench-bytes');
  const bytesGen = await putWork(bytesCluster, work(bytesCluster, 'one', [cm('one', 'bench-bytes', { value: '1' })]));
  const bytesRun = (pollWait: string, heartbeat: string) =>
    startAgent([
      'run',
      '--kubeconfig',
      proxiedKubeconfig,
      '--namespace',
      'outpost-bytes',
      '--poll-wait',
      pollWait,
      '--heartbeat-interval',
      heartbeat,
      '--resync-interval',
      '1h',
      '--log-level',
      'warn',
    ]);
  say(`bytes: idle polls through the proxy (--poll-wait 1s) for ${idlePollWindowMs / 1000} s…`);
  bytesAgent = bytesRun('1s', '10m');
  await bytesAgent.waitForOutput(/serving cluster spoke-bytes/);
  await waitApplied(bytesCluster, 'one', bytesGen, 50, 30_000);
  await sleep(3_000); // first sync, status upload and the start-up heartbeat are behind us
  const pollA = { wire: proxy.totals(), m: await metricsText() };
  await sleep(idlePollWindowMs);
  const pollB = { wire: proxy.totals(), m: await metricsText() };
  const polls = requestCount(pollB.m, syncRoute) - requestCount(pollA.m, syncRoute);
  const pollHeartbeats = requestCount(pollB.m, heartbeatRoute) - requestCount(pollA.m, heartbeatRoute);
  const pollUp = pollB.wire.up - pollA.wire.up;
  const pollDown = pollB.wire.down - pollA.wire.down;
  const pollNewConns = pollB.wire.connections - pollA.wire.connections;

  // Per change, on the same agent: hub traffic (minus the idle polls among it) and what
  // the agent does to its apiserver (connections opened, bytes).
  say(`bytes: ${wireChanges} changes of a one-ConfigMap work through both proxies…`);
  const chA = { wire: proxy.totals(), kube: kubeProxy.totals(), m: await metricsText() };
  for (let i = 0; i < wireChanges; i++) {
    const gen = await putWork(
      bytesCluster,
      work(bytesCluster, 'one', [cm('one', 'bench-bytes', { value: String(i + 2) })]),
    );
    await waitApplied(bytesCluster, 'one', gen, 10, 30_000);
  }
  await sleep(1_000); // the last status acknowledgement
  const chB = { wire: proxy.totals(), kube: kubeProxy.totals(), m: await metricsText() };
  const chPolls = requestCount(chB.m, syncRoute) - requestCount(chA.m, syncRoute);
  const chHubBytes = chB.wire.up + chB.wire.down - chA.wire.up - chA.wire.down;
  const chKubeConns = (chB.kube.connections - chA.kube.connections) / wireChanges;
  const chKubeBytes = (chB.kube.up + chB.kube.down - chA.kube.up - chA.kube.down) / wireChanges;
  await bytesAgent.stop();
  bytesAgent = undefined;

  say(`bytes: heartbeats every 2 s (--poll-wait 30s) for ${heartbeatWindowMs / 1000} s…`);
  bytesAgent = bytesRun('30s', '2s');
  await bytesAgent.waitForOutput(/serving cluster spoke-bytes/);
  await sleep(3_000);
  const hbA = { wire: proxy.totals(), m: await metricsText() };
  await sleep(heartbeatWindowMs);
  const hbB = { wire: proxy.totals(), m: await metricsText() };
  const heartbeats = requestCount(hbB.m, heartbeatRoute) - requestCount(hbA.m, heartbeatRoute);
  const hbPolls = requestCount(hbB.m, syncRoute) - requestCount(hbA.m, syncRoute);
  const hbBytes = hbB.wire.up + hbB.wire.down - hbA.wire.up - hbA.wire.down;
  const hbNewConns = hbB.wire.connections - hbA.wire.connections;
  await bytesAgent.stop();
  bytesAgent = undefined;
  const pollBytes = (pollUp + pollDown) / polls;
  // The changes' own polls are the ones that carried them; the rest were idle.
  const chHubPerChange = (chHubBytes - Math.max(0, chPolls - wireChanges) * pollBytes) / wireChanges;
  // A poll completing in the heartbeat window (held 27-33 s, so rarely) is taken out at the idle-poll price.
  const heartbeatBytes = (hbBytes - hbPolls * pollBytes) / heartbeats;

  // --- report ---------------------------------------------------------------------------
  const p50 = quantile(latencies, 0.5);
  const floorP50 = quantile(floor, 0.5);
  const metrics: Record<string, Metric> = {
    change_latency_p50: { value: p50, unit: 'ms', target: 'hub write → Applied at the hub; compare floor' },
    change_latency_p99: { value: quantile(latencies, 0.99), unit: 'ms' },
    change_latency_max: { value: Math.max(...latencies), unit: 'ms' },
    status_change_to_hub_p50: {
      value: quantile(statusLatencies, 0.5),
      unit: 'ms',
      target: 'spoke status write → the hub shows it (feedback Watch)',
    },
    status_change_to_hub_p99: { value: quantile(statusLatencies, 0.99), unit: 'ms', target: '<= 2000' },
    status_changes: { value: statusLatencies.length, unit: 'count' },
    floor_p50: {
      value: floorP50,
      unit: 'ms',
      target: '1 SSA to the apiserver + 2 kept-alive HTTPS round trips to the hub',
    },
    floor_ssa_p50: { value: quantile(floorSsa, 0.5), unit: 'ms' },
    floor_two_hub_round_trips_p50: { value: quantile(floorRtt, 0.5), unit: 'ms' },
    change_latency_p50_over_floor: { value: p50 / floorP50, unit: 'ratio' },
    changes: { value: latencies.length, unit: 'count' },
    bulk_objects: { value: bulkCount, unit: 'ConfigMaps' },
    bulk_agent_total: { value: agentTotalMs, unit: 'ms', target: 'PUT at the hub → Applied at the hub' },
    bulk_agent_apply_pass: { value: agentApplyMs, unit: 'ms', target: "the agent's own apply pass (its log)" },
    bulk_hub_put: { value: putMs, unit: 'ms' },
    bulk_kubectl_one_file: { value: kubectlFileMs, unit: 'ms' },
    bulk_kubectl_directory: { value: kubectlDirMs, unit: 'ms' },
    bulk_agent_total_over_kubectl: { value: agentTotalMs / kubectlBestMs, unit: 'ratio', target: '<= 1.0' },
    bulk_agent_apply_over_kubectl: { value: agentApplyMs / kubectlBestMs, unit: 'ratio', target: '<= 1.0' },
    agent_rss_idle: { value: rssIdle, unit: 'MiB', target: '<= 100' },
    agent_rss_with_1000_objects: { value: rssBulk, unit: 'MiB', target: '<= 100' },
    agent_rss_peak: { value: rssPeak, unit: 'MiB', target: 'VmHWM over the whole run' },
    agent_rss_idle_anonymous: { value: rssIdleParts.anonymous ?? Number.NaN, unit: 'MiB', target: 'heaps and malloc' },
    agent_rss_idle_file_backed: {
      value: rssIdleParts.fileBacked ?? Number.NaN,
      unit: 'MiB',
      target: 'code pages of node',
    },
    agent_rss_with_1000_objects_anonymous: { value: rssBulkParts.anonymous ?? Number.NaN, unit: 'MiB' },
    idle_poll_bytes: { value: pollBytes, unit: 'bytes/poll', target: 'both directions, TLS included' },
    idle_poll_bytes_up: { value: pollUp / polls, unit: 'bytes/poll' },
    idle_poll_bytes_down: { value: pollDown / polls, unit: 'bytes/poll' },
    idle_polls_counted: { value: polls, unit: 'count' },
    heartbeat_bytes: { value: heartbeatBytes, unit: 'bytes/heartbeat', target: 'kept-alive connection' },
    heartbeats_counted: { value: heartbeats, unit: 'count' },
    change_hub_bytes: {
      value: chHubPerChange,
      unit: 'bytes/change',
      target: 'sync answer + status upload, TLS included',
    },
    change_apiserver_connections: { value: chKubeConns, unit: 'new connections/change', target: '0 (kept alive)' },
    change_apiserver_bytes: { value: chKubeBytes, unit: 'bytes/change' },
  };
  const wall = (l: { time: number } | undefined) => (l ? l.time - bulkT0Wall : Number.NaN);
  report('delivery', metrics, {
    method: {
      latency:
        'PUT of work "lat" (one ConfigMap, data.value changes) via the admin API, then GET of the work every 5 ms until status.observedGeneration == generation and Applied=True; nothing subtracted; 5 warm-up changes, 20 ms between changes; agent --poll-wait 30s (woken by the long-poll)',
      floor:
        'same loop: SSA PATCH of a ConfigMap (own field manager, fieldValidation=Strict) on one kept-alive connection to the spoke apiserver, then two GET /healthz to the hub on one kept-alive connection',
      bulk: `PUT of a ${bulkCount}-ConfigMap work → Applied at the hub (GET every 25 ms), objects cold in their own namespace; kubectl ${'apply --server-side'} of the same objects into fresh namespaces of the same cluster, discovery cache warm, as one multi-document file and as a directory of ${bulkCount} JSON files; ratio against the faster kubectl run`,
      rss: `VmRSS of the agent process (node packages/agent/main.mjs run, compile cache warm), ${settleMs / 1000} s after joining with no works, and ${settleMs / 1000} s after the bulk work was Applied`,
      bytes: `a second agent joined and run through a TCP proxy on 127.0.0.1 that counts both directions (TLS included); poll counts from the hub /metrics request counter for the sync route (the work agent stopped by then); idle: --poll-wait 1s, --heartbeat-interval 10m, first sync excluded; heartbeat: --heartbeat-interval 2s, --poll-wait 30s; per change: ${wireChanges} changes of a one-ConfigMap work with --poll-wait 1s, hub bytes less the idle polls in between, and the agent's apiserver traffic through a second counting proxy named in a copy of its kubeconfig`,
    },
    latency_timeline_p50_ms_from_put: {
      put_answered: phaseP50('put'),
      desired_state_stored_by_agent: phaseP50('stored'),
      agent_apply_pass_duration: phaseP50('applyPass'),
      status_in_outbox: phaseP50('outbox'),
      applied_seen_at_hub: phaseP50('total'),
      changes_matched_in_log: timelines.length,
    },
    latency_slowest_changes_ms_from_put: slowest,
    apiserver_requests_per_change: latKube,
    apiserver_requests_for_bulk_work: bulkKube,
    bulk_timeline_ms_from_put: {
      put_answered: Math.round(putMs),
      desired_state_stored_by_agent: wall(stored),
      apply_pass_done: wall(applied),
      status_in_outbox: wall(statusLine),
      applied_seen_at_hub: Math.round(agentTotalMs),
    },
    wire: {
      idle_window_new_connections: pollNewConns,
      idle_window_heartbeats: pollHeartbeats,
      heartbeat_window_new_connections: hbNewConns,
      heartbeat_window_polls: hbPolls,
    },
    work_agent_warnings: warnings.slice(0, 20),
    // Other work on this 2-core machine shows here; figures from a loaded run are high.
    load_average_1m: { before: loadBefore, after: loadavg()[0] },
  });
}

try {
  await main();
} finally {
  await bytesAgent?.stop().catch(() => {});
  await agent?.stop().catch(() => {});
  await proxy?.close().catch(() => {});
  await kubeProxy?.close().catch(() => {});
  await admin?.close().catch(() => {});
  await probe?.close().catch(() => {});
  await kraw?.close().catch(() => {});
  await hub?.stop().catch(() => {});
  await kube?.stop().catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
  clearTimeout(watchdog);
}
